/**
 * steerd — one command for everything: serving (the default) and the offline tools.
 *
 *   steerd [server flags]                 serve (npm start); steerd --help lists the flags
 *   steerd sae capture|train|stats ...    capture activations, train an SAE, feature statistics
 *   steerd forge ...                      rebuild the storyworld model, SAE and labels
 *
 * Each tool is its own module that reads its flags from process.argv, so this only picks the module and hands
 * it the remaining arguments.
 */
const TOOLS: Record<string, () => Promise<unknown>> = {
  'sae capture': () => import('./sae-capture.js'),
  'sae train': () => import('./sae-train.js'),
  'sae stats': () => import('./sae-stats.js'),
  forge: () => import('./forge.js'),
};

const USAGE = `usage: steerd [server flags]                 serve (steerd --help for the flags)
       steerd sae capture --corpus FILE --out FILE.safetensors [options]
       steerd sae train --activations FILE --out DIR --d-sae N --k N [options]
       steerd sae stats --sae SAE --corpus FILE [options]
       steerd forge [--out DIR] [--mini] [options]
(each tool prints its options with --help)`;

const args = process.argv.slice(2);
const two = args.slice(0, 2).join(' ');
const name = TOOLS[two] ? two : TOOLS[args[0] ?? ''] ? args[0]! : args[0] === 'sae' ? null : 'serve';
if (name === null) {
  console.error(`steerd: unknown sae command "${args[1] ?? ''}"\n\n${USAGE}`);
  process.exit(2);
}
if (name === 'serve') {
  await import('../server.js');
} else {
  // the tool sees only its own flags, as under npm run
  process.argv.splice(2, name.split(' ').length);
  await TOOLS[name]!();
}
