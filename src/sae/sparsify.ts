/**
 * EleutherAI sparsify layout: one folder per hookpoint, named after it (`layers.N` = the output of block N, i.e.
 * SAELens blocks.N.hook_resid_post), holding cfg.json (k, num_latents or expansion_factor, usually d_in) and
 * sae.safetensors with encoder.weight [num_latents, d_in], encoder.bias [num_latents], W_dec [num_latents, d_in]
 * and b_dec [d_in].
 *
 * sparsify encodes topk(relu(encoder(x - b_dec))) and decodes W_decᵀ·acts + b_dec. Sae does ReLU after the top-k
 * selection instead; both keep the same positive values (the only non-zero ones), so the results are equal.
 */
import { basename, join } from 'node:path';
import { loadFeatureLabels } from './labels.js';
import { Sae } from './sae.js';
import { SaeLoadError } from './sae-load-error.js';
import { CfgFields, checkLayer, checkWidth, readJsonObject, readTensor, withSafetensors, type ModelShape } from './sae-files.js';

export const SPARSIFY_CFG_FILE = 'cfg.json';
export const SPARSIFY_WEIGHTS_FILE = 'sae.safetensors';
/** sparsify's folder name for the residual stream after block N (it writes `layers.N`; SAELens also accepts `layers_N`) */
export const SPARSIFY_LAYER_FOLDER = /^layers[._](\d+)$/;

/** Loads the sparsify SAE in `folder` (a `layers.N` folder). */
export async function loadSparsify(folder: string, model: ModelShape): Promise<Sae> {
  const name = basename(folder);
  const match = SPARSIFY_LAYER_FOLDER.exec(name);
  if (!match) {
    throw new SaeLoadError(
      folder,
      'folder name',
      `"${name}" does not say which layer this sparsify SAE reads: sparsify names each SAE's folder after its hookpoint, and only residual-stream folders layers.N can be steered`,
    );
  }
  const hookLayer = Number(match[1]);
  const cfgFile = join(folder, SPARSIFY_CFG_FILE);
  const cfg = new CfgFields(cfgFile, await readJsonObject(cfgFile, 'a sparsify SAE folder holds cfg.json and sae.safetensors'));
  checkLayer(folder, 'folder name', hookLayer, `"${name}"`, model);

  // Options under which the SAE is not x ↦ topk(relu(W·(x - b_dec) + b)) over the residual stream.
  cfg.refuseIf('activation', (v) => v !== 'topk', 'only "topk" is supported');
  cfg.refuseIf('transcode', (v) => v !== false, 'a transcoder predicts another activation and cannot be steered as an SAE');
  cfg.refuseIf('skip_connection', (v) => v !== false, 'the skip connection adds a term outside the SAE that this server cannot apply');
  const k = cfg.positiveInt('k');
  const cfgDIn = cfg.optionalPositiveInt('d_in');

  const weightsFile = join(folder, SPARSIFY_WEIGHTS_FILE);
  return withSafetensors(weightsFile, async (weights) => {
    // d_in may be missing from cfg.json; b_dec's length is the input width then.
    let dIn = cfgDIn;
    if (dIn === undefined) {
      const bDecInfo = weights.tensors.get('b_dec');
      if (!bDecInfo) throw new SaeLoadError(weightsFile, 'b_dec', 'is missing');
      if (bDecInfo.shape.length !== 1 || bDecInfo.shape[0]! <= 0) {
        throw new SaeLoadError(weightsFile, 'b_dec', `has shape [${bDecInfo.shape.join(', ')}]; expected [d_in]`);
      }
      dIn = bDecInfo.shape[0]!;
      if (dIn !== model.nEmbd) throw new SaeLoadError(weightsFile, 'b_dec', `has ${dIn} values (d_in) but the model's residual width (n_embd) is ${model.nEmbd}`);
    } else {
      checkWidth(cfgFile, 'd_in', dIn, model);
    }
    const numLatents = cfg.optionalPositiveInt('num_latents');
    const dSae = numLatents ?? dIn * cfg.positiveInt('expansion_factor');
    if (k > dSae) cfg.fail('k', `is ${k}; expected at most the number of latents (${dSae})`);

    const wEnc = await readTensor(weights, 'encoder.weight', [dSae, dIn], '[num_latents, d_in]');
    const bEnc = await readTensor(weights, 'encoder.bias', [dSae], '[num_latents]');
    const wDec = await readTensor(weights, 'W_dec', [dSae, dIn], '[num_latents, d_in]');
    const bDec = await readTensor(weights, 'b_dec', [dIn], '[d_in]');
    const { labels } = await loadFeatureLabels(folder, dSae);
    // encoder.weight is nn.Linear's [out, in], which is already Sae's [dSae, dIn] layout.
    return new Sae({ architecture: 'topk', dIn, dSae, k, wEnc, wDec, bEnc, bDec, hookLayer, applyBDecToInput: true, labels });
  });
}
