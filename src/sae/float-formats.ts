/**
 * Conversions from the 16-bit float formats SAE checkpoints are commonly shipped in (F16, BF16) to F32.
 * Node 20 has no Float16Array, so we decode by hand.
 */

/** All 65536 half-precision values, built on first use: a table lookup beats bit twiddling per element. */
let halfTable: Float32Array | null = null;

function buildHalfTable(): Float32Array {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0) {
      // zero and subnormals: mantissa × 2^-24
      table[h] = sign * mantissa * 2 ** -24;
    } else if (exponent === 0x1f) {
      table[h] = mantissa === 0 ? sign * Infinity : NaN;
    } else {
      table[h] = sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
    }
  }
  return table;
}

/** IEEE 754 binary16 → binary32; exact (every half is representable as a float). */
export function f16ToF32(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  const table = (halfTable ??= buildHalfTable());
  for (let i = 0; i < src.length; i++) dst[i] = table[src[i]!]!;
  return dst;
}

/** bfloat16 is the top half of a float32, so widening is a shift; exact. */
export function bf16ToF32(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  const bits = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i]! << 16;
  return dst;
}
