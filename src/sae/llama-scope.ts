/**
 * Llama Scope (OpenMOSS lm_saes) layout: a folder with hyperparams.json and checkpoints/final.safetensors holding
 * encoder.weight [d_sae, d_model], encoder.bias [d_sae], decoder.weight [d_model, d_sae], decoder.bias [d_model]
 * (nn.Linear layouts), and a JumpReLU with one scalar `jump_relu_threshold` (or, in later exports, a per-latent
 * `log_jumprelu_threshold` tensor).
 *
 * The reference maths, on the trained scale (x̃ = s_in·x with s_in = sqrt(d_model) / dataset_average_activation_norm.in
 * when norm_activation is "dataset-wise"):
 *   pre = encoder.weight·x̃ + encoder.bias;  act_f = pre_f if pre_f·‖dec_f‖ > θ else 0  (‖dec_f‖ only when
 *   sparsity_include_decoder_norm; it is 1 in the released, post-processed checkpoints);
 *   x̂ = (decoder.weight·act + decoder.bias) / s_out,  s_out = sqrt(d_model) / dataset_average_activation_norm.out.
 * Both scalings are folded into the weights at load time so the Sae works on raw residuals, and its activations
 * stay on the scale the features were trained and labelled on:
 *   W_enc = s_in·encoder.weight, b_enc = encoder.bias, threshold_f = θ / ‖dec_f‖,
 *   W_dec = decoder.weightᵀ / s_out, b_dec = decoder.bias / s_out.
 */
import { join } from 'node:path';
import { loadFeatureLabels } from './labels.js';
import { Sae, transpose } from './sae.js';
import { hookNameToLayer } from './saelens.js';
import { CfgFields, checkLayer, checkWidth, readJsonObject, readTensor, withSafetensors, type ModelShape } from './sae-files.js';

export const LLAMA_SCOPE_CFG_FILE = 'hyperparams.json';
export const LLAMA_SCOPE_WEIGHTS_FILE = join('checkpoints', 'final.safetensors');
/** The largest float32: the threshold of a latent whose decoder is zero, which therefore never fires. */
const NEVER = 3.4028234663852886e38;

export async function loadLlamaScope(folder: string, model: ModelShape): Promise<Sae> {
  const cfgFile = join(folder, LLAMA_SCOPE_CFG_FILE);
  const cfg = new CfgFields(cfgFile, await readJsonObject(cfgFile, 'a Llama Scope SAE folder holds hyperparams.json and checkpoints/final.safetensors'));
  const dIn = cfg.positiveInt('d_model');
  const dSae = cfg.positiveInt('d_sae');
  checkWidth(cfgFile, 'd_model', dIn, model);

  const hookIn = cfg.cfg.hook_point_in;
  if (typeof hookIn !== 'string') return cfg.fail('hook_point_in', 'is missing (expected e.g. "blocks.12.hook_resid_post")');
  const hookOut = cfg.cfg.hook_point_out ?? hookIn;
  if (hookOut !== hookIn) cfg.fail('hook_point_out', `is ${JSON.stringify(hookOut)}, not hook_point_in: this is a transcoder, which cannot be steered as an SAE`);
  let hookLayer: number;
  try {
    hookLayer = hookNameToLayer(hookIn);
  } catch (err) {
    return cfg.fail('hook_point_in', (err as Error).message);
  }
  checkLayer(cfgFile, 'hook_point_in', hookLayer, `"${hookIn}"`, model);

  // lm_saes runs a topk SAE with a positive jump_relu_threshold as this JumpReLU at inference time.
  const actFn = cfg.cfg.act_fn ?? 'jumprelu';
  if (actFn !== 'jumprelu' && actFn !== 'topk') cfg.fail('act_fn', `is ${JSON.stringify(actFn)}; supported: "jumprelu" (or "topk" with a jump_relu_threshold)`);
  cfg.refuseIf('apply_decoder_bias_to_pre_encoder', (v) => v !== false, 'subtracting the decoder bias before encoding is not supported for Llama Scope SAEs');
  const useDecoderBias = cfg.boolean('use_decoder_bias', true);
  const includeDecoderNorm = cfg.boolean('sparsity_include_decoder_norm', false);
  const { sIn, sOut } = normScales(cfg, dIn);

  const weightsFile = join(folder, LLAMA_SCOPE_WEIGHTS_FILE);
  return withSafetensors(weightsFile, async (weights) => {
    let theta: (f: number) => number;
    if (weights.has('log_jumprelu_threshold')) {
      const logThreshold = await readTensor(weights, 'log_jumprelu_threshold', [dSae], '[d_sae]');
      theta = (f) => Math.exp(logThreshold[f]!);
    } else {
      const scalar = cfg.finiteNumber('jump_relu_threshold');
      if (actFn === 'topk' && !(scalar > 0)) cfg.fail('jump_relu_threshold', `is ${scalar}; a topk Llama Scope SAE needs a positive threshold to run as a JumpReLU`);
      theta = () => scalar;
    }
    const wEnc = await readTensor(weights, 'encoder.weight', [dSae, dIn], '[d_sae, d_model]');
    const bEnc = await readTensor(weights, 'encoder.bias', [dSae], '[d_sae]');
    const wDec = transpose(await readTensor(weights, 'decoder.weight', [dIn, dSae], '[d_model, d_sae]'), dIn, dSae);
    const bDec = useDecoderBias ? await readTensor(weights, 'decoder.bias', [dIn], '[d_model]') : new Float32Array(dIn);

    const threshold = new Float32Array(dSae);
    for (let f = 0; f < dSae; f++) {
      let norm = 1;
      if (includeDecoderNorm) {
        let squares = 0;
        for (let i = 0; i < dIn; i++) squares += wDec[f * dIn + i]! ** 2;
        norm = Math.sqrt(squares);
      }
      threshold[f] = norm > 0 ? theta(f) / norm : NEVER;
    }
    for (let i = 0; i < wEnc.length; i++) wEnc[i]! *= sIn;
    for (let i = 0; i < wDec.length; i++) wDec[i]! /= sOut;
    for (let i = 0; i < dIn; i++) bDec[i]! /= sOut;

    const { labels } = await loadFeatureLabels(folder, dSae);
    return new Sae({ architecture: 'jumprelu', dIn, dSae, wEnc, wDec, bEnc, bDec, threshold, hookLayer, hookName: hookIn, applyBDecToInput: false, labels });
  });
}

/** The input and output scale factors of dataset-wise normalisation; 1 when the SAE was trained on raw activations. */
function normScales(cfg: CfgFields, dIn: number): { sIn: number; sOut: number } {
  const mode = cfg.cfg.norm_activation ?? 'none';
  // "inference" is what lm_saes writes once it has folded the norms itself.
  if (mode === 'none' || mode === 'inference') return { sIn: 1, sOut: 1 };
  if (mode !== 'dataset-wise') {
    return cfg.fail('norm_activation', `is ${JSON.stringify(mode)}; only "dataset-wise" can be folded into the weights (per-token normalisation needs each input's norm)`);
  }
  const norms = cfg.cfg.dataset_average_activation_norm;
  if (typeof norms !== 'object' || norms === null) return cfg.fail('dataset_average_activation_norm', 'is missing (norm_activation "dataset-wise" needs { "in": ..., "out": ... })');
  const scale = (key: 'in' | 'out'): number => {
    const v = (norms as Record<string, unknown>)[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) return cfg.fail(`dataset_average_activation_norm.${key}`, `is ${JSON.stringify(v)}; expected a positive number`);
    return Math.sqrt(dIn) / v;
  };
  return { sIn: scale('in'), sOut: scale('out') };
}
