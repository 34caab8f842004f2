/**
 * Line and scatter charts on a Raster: axes with numeric ticks, light grid, one colour per series, a dot at
 * every point and (optionally) lines between consecutive points. A log-scale x axis suits strength sweeps.
 */
import { Raster, type Rgb } from './raster.js';

export interface Series {
  color: Rgb;
  points: { x: number; y: number }[];
  /** connect consecutive points */
  line: boolean;
}

export interface ChartOptions {
  width?: number;
  height?: number;
  /** base-2 logarithmic x axis (values must be > 0) */
  xLog?: boolean;
  /** x tick values; nice round numbers by default */
  xTicks?: number[];
  /** y range, e.g. [0, 1] for a share; from the data by default */
  yRange?: [number, number];
}

const AXIS: Rgb = [40, 40, 40];
const GRID: Rgb = [225, 225, 225];
const MARGIN = { left: 64, right: 16, top: 14, bottom: 34 };

/** About `count` round tick values (1, 2 or 5 × 10^k apart) covering [min, max]. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const magnitude = 10 ** Math.floor(Math.log10((max - min) / count));
  // the round step whose tick count comes closest to `count`
  const step = [1, 2, 5, 10]
    .map((m) => m * magnitude)
    .reduce((best, s) => (Math.abs((max - min) / s - count) < Math.abs((max - min) / best - count) ? s : best));
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** Ticks for a log axis: 1, 2 and 5 × 10^k inside [min, max], or the two ends when fewer than two fall inside. */
export function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let k = Math.floor(Math.log10(min)); k <= Math.ceil(Math.log10(max)); k++) {
    for (const m of [1, 2, 5]) {
      const v = Number((m * 10 ** k).toPrecision(6));
      if (v >= min && v <= max) ticks.push(v);
    }
  }
  return ticks.length >= 2 ? ticks : [min, max];
}

export function formatTick(value: number): string {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1e5 || abs < 1e-3) return value.toExponential(1).replace('e+', 'e');
  return String(Number(value.toPrecision(3)));
}

function extent(values: number[]): [number, number] {
  let min = Math.min(...values);
  let max = Math.max(...values);
  if (min === max) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  return [min, max];
}

export function drawChart(series: readonly Series[], options: ChartOptions = {}): Raster {
  const width = options.width ?? 640;
  const height = options.height ?? 400;
  const raster = new Raster(width, height);
  const points = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  if (points.length === 0) return raster;
  const fx = options.xLog ? (x: number) => Math.log2(x) : (x: number) => x;

  const xTicks = options.xTicks ?? (options.xLog ? logTicks(...extent(points.map((p) => p.x))) : niceTicks(...extent(points.map((p) => p.x))));
  const [x0, x1] = extent([...points.map((p) => fx(p.x)), ...xTicks.map(fx)]);
  let [y0, y1] = options.yRange ?? extent(points.map((p) => p.y));
  if (!options.yRange) {
    const pad = (y1 - y0) * 0.08;
    y0 -= pad;
    y1 += pad;
  }
  const yTicks = niceTicks(y0, y1).filter((t) => t >= y0 && t <= y1);

  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const px = (x: number) => MARGIN.left + ((fx(x) - x0) / (x1 - x0)) * plotW;
  const py = (y: number) => MARGIN.top + (1 - (y - y0) / (y1 - y0)) * plotH;

  for (const t of yTicks) {
    raster.line(MARGIN.left, py(t), width - MARGIN.right, py(t), GRID);
    const label = formatTick(t);
    raster.text(label, MARGIN.left - 8 - Raster.textWidth(label), py(t) - 5, AXIS);
  }
  for (const t of xTicks) {
    raster.line(px(t), MARGIN.top, px(t), height - MARGIN.bottom, GRID);
    const label = formatTick(t);
    raster.text(label, px(t) - Raster.textWidth(label) / 2, height - MARGIN.bottom + 8, AXIS);
  }
  raster.line(MARGIN.left, MARGIN.top, MARGIN.left, height - MARGIN.bottom, AXIS, 2);
  raster.line(MARGIN.left, height - MARGIN.bottom, width - MARGIN.right, height - MARGIN.bottom, AXIS, 2);

  for (const s of series) {
    const visible = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
    if (s.line) {
      for (let i = 1; i < visible.length; i++) {
        raster.line(px(visible[i - 1]!.x), py(visible[i - 1]!.y), px(visible[i]!.x), py(visible[i]!.y), s.color, 2);
      }
    }
    for (const p of visible) raster.dot(px(p.x), py(p.y), 4, s.color);
  }
  return raster;
}
