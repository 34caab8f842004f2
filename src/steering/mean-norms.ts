/**
 * The typical size of the residual stream at each layer. Residual norms grow by orders of magnitude from the
 * first layer to the last and differ between models, so a steering strength is expressed as a multiple of
 * this: strength 0.5 means "half a typical residual" on any model and at any layer.
 */
import { firstContentRow, l2Norm, tokenizeForCapture, type ResidualSource } from './residual-source.js';

/**
 * Unremarkable prose with no dominant topic, sentiment or style, so its statistics describe the model's
 * ordinary residual stream. Also the baseline that phrase vectors are measured against.
 */
export const NEUTRAL_TEXT =
  'The report describes how the town council spent the year. In spring it repaired two bridges and repainted ' +
  'the library. Over the summer, attendance at the public pool rose slightly, and the market moved to a larger ' +
  'square on Saturdays. In the autumn the council reviewed the bus timetable, added an evening service, and ' +
  'planted trees along the main road. Several residents asked for better lighting near the station, which is ' +
  'planned for next year. The budget was balanced, although heating costs were higher than expected. The next ' +
  'meeting will discuss parking, recycling collections and the opening hours of the community centre.';

/** Caps the floats held at once (tokens × nEmbd × layers per capture) while measuring. */
const CAPTURE_BUDGET_FLOATS = 64 * 1024 * 1024;

/** Mean L2 norm of the residual rows (BOS excluded) after each block, one entry per layer. */
export async function measureMeanNorms(
  source: ResidualSource,
  calibrationText: string = NEUTRAL_TEXT,
  signal?: AbortSignal,
): Promise<Float32Array> {
  const { nLayer, nEmbd, bos } = source.info;
  const tokens = tokenizeForCapture(source, calibrationText);
  const from = firstContentRow(tokens, bos);
  if (tokens.length - from < 1) throw new Error('the calibration text has no tokens besides BOS');

  const norms = new Float32Array(nLayer);
  const layersPerCapture = Math.max(1, Math.floor(CAPTURE_BUDGET_FLOATS / (tokens.length * nEmbd)));
  for (let first = 0; first < nLayer; first += layersPerCapture) {
    const layers = Array.from({ length: Math.min(layersPerCapture, nLayer - first) }, (_, i) => first + i);
    const captured = await source.captureResiduals(tokens, layers, signal);
    layers.forEach((layer, i) => {
      const rows = captured[i];
      if (!rows || rows.length !== tokens.length * nEmbd) {
        throw new Error(`captureResiduals returned ${rows?.length ?? 'nothing'} floats for layer ${layer}; expected ${tokens.length * nEmbd}`);
      }
      let sum = 0;
      for (let r = from; r < tokens.length; r++) sum += l2Norm(rows, r * nEmbd, nEmbd);
      norms[layer] = sum / (tokens.length - from);
    });
  }
  return norms;
}
