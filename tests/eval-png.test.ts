/** The evaluation report's PNG encoder, plots and summaries, without a model. */
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { conceptMatcher } from '../bench/eval/concept-score.js';
import { drawChart, formatTick, logTicks, niceTicks } from '../bench/eval/plot.js';
import { crc32, encodePng } from '../bench/eval/png.js';
import { Raster } from '../bench/eval/raster.js';
import type { EvalRecord } from '../bench/eval/run-eval.js';
import { summarize } from '../bench/eval/summarize.js';

/** Splits a PNG into its chunks, checking the signature and every CRC. */
function readPng(png: Buffer): { width: number; height: number; colorType: number; rgb: Buffer } {
  expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const chunks: { type: string; data: Buffer }[] = [];
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    const type = png.toString('ascii', at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + length);
    expect(png.readUInt32BE(at + 8 + length), `CRC of ${type}`).toBe(crc32(png.subarray(at + 4, at + 8 + length)));
    chunks.push({ type, data });
    at += 12 + length;
  }
  expect(chunks.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
  const header = chunks[0]!.data;
  const width = header.readUInt32BE(0);
  const height = header.readUInt32BE(4);
  const raw = inflateSync(chunks[1]!.data);
  expect(raw.length).toBe((width * 3 + 1) * height);
  const rgb = Buffer.concat(Array.from({ length: height }, (_, y) => {
    expect(raw[y * (width * 3 + 1)]).toBe(0);
    return raw.subarray(y * (width * 3 + 1) + 1, (y + 1) * (width * 3 + 1));
  }));
  return { width, height, colorType: header[9]!, rgb };
}

describe('png', () => {
  it('has the standard CRC-32', () => {
    expect(crc32(Buffer.from('IEND'))).toBe(0xae426082);
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });

  it('round-trips pixels through zlib', () => {
    const rgb = Uint8Array.from({ length: 5 * 3 * 3 }, (_, i) => (i * 37) % 256);
    const decoded = readPng(encodePng(5, 3, rgb));
    expect(decoded).toMatchObject({ width: 5, height: 3, colorType: 2 });
    expect([...decoded.rgb]).toEqual([...rgb]);
  });

  it('rejects a wrong size', () => {
    expect(() => encodePng(2, 2, new Uint8Array(11))).toThrow(RangeError);
    expect(() => encodePng(0, 2, new Uint8Array(0))).toThrow(RangeError);
  });
});

describe('plots', () => {
  it('draws each series in its colour, inside the image', () => {
    const orange = [230, 110, 10] as const;
    const raster = drawChart([{ color: orange, points: [{ x: 0.5, y: 0.1 }, { x: 1, y: 0.4 }, { x: 4, y: 0.9 }], line: true }], {
      width: 200,
      height: 120,
      xLog: true,
      xTicks: [0.5, 1, 4],
      yRange: [0, 1],
    });
    const count = (color: readonly number[]) => {
      let n = 0;
      for (let i = 0; i < raster.pixels.length; i += 3) if (raster.pixels[i] === color[0] && raster.pixels[i + 1] === color[1] && raster.pixels[i + 2] === color[2]) n++;
      return n;
    };
    expect(count(orange)).toBeGreaterThan(100);
    expect(count([40, 40, 40])).toBeGreaterThan(100); // axes and tick labels
    const empty = drawChart([], { width: 50, height: 40 });
    expect(empty.pixels.every((v) => v === 255)).toBe(true);
    expect(readPng(raster.toPng())).toMatchObject({ width: 200, height: 120 });
  });

  it('picks round ticks and prints them with the digit font', () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(3.2, 48)).toEqual([10, 20, 30, 40]);
    expect(logTicks(3, 700)).toEqual([5, 10, 20, 50, 100, 200, 500]);
    expect(logTicks(3, 4)).toEqual([3, 4]);
    expect(formatTick(0.25)).toBe('0.25');
    expect(formatTick(123456)).toBe('1.2e5');
    expect(Raster.textWidth('10', 2)).toBe(14);
  });
});

describe('summaries', () => {
  const record = (arm: EvalRecord['arm'], strength: number | null, text: string, fluency: number | null, kl: number | null): EvalRecord => ({
    concept: 'ocean', prompt: 0, arm, strength, sample: 0, text, usesConcept: conceptMatcher(['sea', 'wave'])(text),
    completionTokens: 3, fluency, klToBaseline: kl, tokensPerSecond: 10,
  });

  it('matches whole words, any case, with a plural s', () => {
    const uses = conceptMatcher(['sea', 'wave']);
    expect([uses('The SEA.'), uses('big waves'), uses('seagull'), uses('overseas'), uses('a wave-like')]).toEqual([true, true, false, false, true]);
  });

  it('gives concept score, perplexity as exp(−mean fluency) and mean KL per arm and strength', () => {
    const rows = summarize([
      record('steered', 1, 'the sea', -1, 0.2),
      record('steered', 1, 'a cat', -3, 0.4),
      record('baseline', null, 'a cat', -2, 0),
      record('steered', 0.5, 'waves', null, null),
    ]);
    expect(rows.map((r) => [r.arm, r.strength])).toEqual([['baseline', null], ['steered', 0.5], ['steered', 1]]);
    expect(rows[2]).toMatchObject({ answers: 2, conceptScore: 0.5 });
    expect(rows[2]!.perplexity).toBeCloseTo(Math.exp(2), 9);
    expect(rows[2]!.klToBaseline).toBeCloseTo(0.3, 9);
    expect(rows[1]).toMatchObject({ conceptScore: 1, perplexity: null, klToBaseline: null });
  });
});
