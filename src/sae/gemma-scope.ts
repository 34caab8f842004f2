/**
 * Gemma Scope layout: params.npz with W_enc [d_in, d_sae], W_dec [d_sae, d_in], b_enc [d_sae], b_dec [d_in] and
 * threshold [d_sae]. The maths is SAELens's JumpReLU without subtracting b_dec from the input:
 * acts = relu(pre)·[pre > threshold] with pre = W_encᵀ·x + b_enc, x̂ = W_decᵀ·acts + b_dec.
 *
 * The archive records neither the layer nor the hook; the releases keep them in the path
 * (google/gemma-scope-2b-pt-res/layer_12/width_16k/average_l0_71/params.npz), so the layer comes from a `layer_N`
 * folder, and paths naming an attention, MLP or transcoder release are refused rather than steered as residuals.
 */
import { dirname, resolve, sep } from 'node:path';
import { loadFeatureLabels } from './labels.js';
import { readNpz } from './npy.js';
import { Sae, transpose } from './sae.js';
import { SaeLoadError } from './sae-load-error.js';
import { checkLayer, checkTensor, type ModelShape } from './sae-files.js';

export const GEMMA_SCOPE_FILE = 'params.npz';
const LAYER_FOLDER = /^layer_(\d+)$/;
/** Gemma Scope releases (and Hugging Face cache folders of them) whose SAEs do not read the residual stream */
const NOT_RESIDUAL = /gemma-scope-.*-(att|mlp|transcoders?)(-|$)/i;

export async function loadGemmaScope(file: string, model: ModelShape): Promise<Sae> {
  const parts = resolve(file).split(sep);
  const other = parts.find((p) => NOT_RESIDUAL.test(p));
  if (other) throw new SaeLoadError(file, 'path', `names the release "${other}", whose SAEs do not read the residual stream; only residual SAEs (-res) can be steered`);
  const layerPart = parts.findLast((p) => LAYER_FOLDER.test(p));
  if (layerPart === undefined) {
    throw new SaeLoadError(
      file,
      'path',
      'does not say which layer the SAE reads: params.npz records no layer, so keep it under its Gemma Scope folder layer_N/ (e.g. layer_12/width_16k/average_l0_71/params.npz)',
    );
  }
  const hookLayer = Number(LAYER_FOLDER.exec(layerPart)![1]);
  checkLayer(file, 'path', hookLayer, `folder "${layerPart}"`, model);

  const names = ['W_enc', 'W_dec', 'b_enc', 'b_dec', 'threshold'] as const;
  const arrays = await readNpz(file, names);
  for (const name of names) if (!arrays.has(name)) throw new SaeLoadError(file, name, 'is missing');
  const wEncShape = arrays.get('W_enc')!.shape;
  if (wEncShape.length !== 2 || wEncShape.some((d) => d <= 0)) {
    throw new SaeLoadError(file, 'W_enc', `has shape [${wEncShape.join(', ')}]; expected [d_in, d_sae]`);
  }
  const [dIn, dSae] = wEncShape as [number, number];
  if (dIn !== model.nEmbd) {
    throw new SaeLoadError(file, 'W_enc', `has shape [${dIn}, ${dSae}]: d_in ${dIn}, but the model's residual width (n_embd) is ${model.nEmbd}`);
  }
  const check = (name: (typeof names)[number], shape: number[], shapeText: string): Float32Array =>
    checkTensor(file, name, arrays.get(name)!, shape, shapeText);
  const wEnc = transpose(check('W_enc', [dIn, dSae], '[d_in, d_sae]'), dIn, dSae);
  const wDec = check('W_dec', [dSae, dIn], '[d_sae, d_in]');
  const bEnc = check('b_enc', [dSae], '[d_sae]');
  const bDec = check('b_dec', [dIn], '[d_in]');
  const threshold = check('threshold', [dSae], '[d_sae]');
  const { labels } = await loadFeatureLabels(dirname(file), dSae);
  return new Sae({ architecture: 'jumprelu', dIn, dSae, wEnc, wDec, bEnc, bDec, threshold, hookLayer, applyBDecToInput: false, labels });
}
