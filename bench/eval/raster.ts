/**
 * An RGB pixel canvas with the few primitives the plots need: rectangles, thick lines, filled dots, and a
 * 3×5 pixel font for numbers (axis ticks). Words (titles, legends) go in the report's markdown instead.
 */
import { encodePng } from './png.js';

export type Rgb = readonly [number, number, number];

/** 3×5 glyphs, one string of 15 pixels per character, row by row */
const GLYPHS: Record<string, string> = {
  '0': '111101101101111',
  '1': '010110010010111',
  '2': '111001111100111',
  '3': '111001111001111',
  '4': '101101111001001',
  '5': '111100111001111',
  '6': '111100111101111',
  '7': '111001001001001',
  '8': '111101111101111',
  '9': '111101111001111',
  '.': '000000000000010',
  '-': '000000111000000',
  '+': '000010111010000',
  e: '000111101110011',
  ' ': '000000000000000',
};

export class Raster {
  readonly pixels: Uint8Array;

  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgb = [255, 255, 255],
  ) {
    this.pixels = new Uint8Array(width * height * 3);
    this.fillRect(0, 0, width, height, background);
  }

  setPixel(x: number, y: number, color: Rgb): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const at = (y * this.width + x) * 3;
    this.pixels[at] = color[0];
    this.pixels[at + 1] = color[1];
    this.pixels[at + 2] = color[2];
  }

  fillRect(x: number, y: number, w: number, h: number, color: Rgb): void {
    for (let j = Math.round(y); j < Math.round(y + h); j++) for (let i = Math.round(x); i < Math.round(x + w); i++) this.setPixel(i, j, color);
  }

  /** A line `thickness` pixels wide, stepping along the longer axis. */
  line(x0: number, y0: number, x1: number, y1: number, color: Rgb, thickness = 1): void {
    const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    const half = (thickness - 1) / 2;
    for (let s = 0; s <= steps; s++) {
      const x = x0 + ((x1 - x0) * s) / steps;
      const y = y0 + ((y1 - y0) * s) / steps;
      this.fillRect(x - half, y - half, thickness, thickness, color);
    }
  }

  dot(cx: number, cy: number, radius: number, color: Rgb): void {
    for (let dy = -radius; dy <= radius; dy++) {
      for (let dx = -radius; dx <= radius; dx++) if (dx * dx + dy * dy <= radius * radius + radius) this.setPixel(cx + dx, cy + dy, color);
    }
  }

  /** Draws `text` (digits, . - + e and spaces) with its top-left at (x, y), each font pixel `scale` wide. */
  text(text: string, x: number, y: number, color: Rgb, scale = 2): void {
    [...text].forEach((ch, k) => {
      const glyph = GLYPHS[ch] ?? GLYPHS[' ']!;
      for (let i = 0; i < 15; i++) {
        if (glyph[i] === '1') this.fillRect(x + (k * 4 + (i % 3)) * scale, y + Math.floor(i / 3) * scale, scale, scale, color);
      }
    });
  }

  static textWidth(text: string, scale = 2): number {
    return text.length === 0 ? 0 : (text.length * 4 - 1) * scale;
  }

  toPng(): Buffer {
    return encodePng(this.width, this.height, this.pixels);
  }
}
