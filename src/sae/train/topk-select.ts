/**
 * Top-k selection over one row of pre-activations, into caller-owned typed arrays: a size-k min-heap, so a row of
 * d_sae values costs ~d_sae comparisons once the heap is full (almost every value loses to the heap's minimum)
 * and nothing is allocated per row. Semantics match `largestIndices` in sae.ts, which the exported SAE uses:
 * a value replaces the heap minimum only when strictly larger (ties keep the lower index), and NaN counts as
 * -Infinity (the trainer rejects non-finite inputs before it starts). The selected entries come out in heap order, not sorted; callers only sum over them.
 */
export class TopKSelector {
  private readonly heapValue: Float64Array;
  private readonly heapIndex: Int32Array;
  private size = 0;

  constructor(maxK: number) {
    this.heapValue = new Float64Array(Math.max(1, maxK));
    this.heapIndex = new Int32Array(Math.max(1, maxK));
  }

  /**
   * The k largest of values[offset + f], f ∈ [0, count): indices f into outIndex and ReLU'd values into outValue,
   * both from outOffset. Returns how many were selected (min(k, count)).
   */
  selectRange(values: Float32Array, offset: number, count: number, k: number, outIndex: Int32Array, outValue: Float32Array, outOffset: number): number {
    this.size = 0;
    const limit = Math.min(k, count);
    for (let f = 0; f < count; f++) this.offer(values[offset + f]!, f, limit);
    return this.drain(outIndex, outValue, outOffset);
  }

  /** As selectRange, among the latents candidates[0..candidateCount) only (the dead latents, for AuxK). */
  selectAmong(
    values: Float32Array,
    offset: number,
    candidates: Int32Array,
    candidateCount: number,
    k: number,
    outIndex: Int32Array,
    outValue: Float32Array,
    outOffset: number,
  ): number {
    this.size = 0;
    const limit = Math.min(k, candidateCount);
    for (let c = 0; c < candidateCount; c++) {
      const f = candidates[c]!;
      this.offer(values[offset + f]!, f, limit);
    }
    return this.drain(outIndex, outValue, outOffset);
  }

  private offer(raw: number, index: number, limit: number): void {
    // NaN sorts below every number; -Infinity ties with it and keeps the earlier index, as largestIndices does
    const value = raw === raw ? raw : -Infinity;
    const heapValue = this.heapValue;
    const heapIndex = this.heapIndex;
    if (this.size < limit) {
      let pos = this.size++;
      while (pos > 0) {
        const parent = (pos - 1) >> 1;
        if (!lessThan(value, index, heapValue[parent]!, heapIndex[parent]!)) break;
        heapValue[pos] = heapValue[parent]!;
        heapIndex[pos] = heapIndex[parent]!;
        pos = parent;
      }
      heapValue[pos] = value;
      heapIndex[pos] = index;
      return;
    }
    if (!(value > heapValue[0]!)) return;
    // replace the minimum and sift it down
    const size = this.size;
    let pos = 0;
    for (;;) {
      const left = 2 * pos + 1;
      if (left >= size) break;
      const right = left + 1;
      const child = right < size && lessThan(heapValue[right]!, heapIndex[right]!, heapValue[left]!, heapIndex[left]!) ? right : left;
      if (!lessThan(heapValue[child]!, heapIndex[child]!, value, index)) break;
      heapValue[pos] = heapValue[child]!;
      heapIndex[pos] = heapIndex[child]!;
      pos = child;
    }
    heapValue[pos] = value;
    heapIndex[pos] = index;
  }

  private drain(outIndex: Int32Array, outValue: Float32Array, outOffset: number): number {
    for (let j = 0; j < this.size; j++) {
      outIndex[outOffset + j] = this.heapIndex[j]!;
      const v = this.heapValue[j]!;
      outValue[outOffset + j] = v > 0 ? v : 0;
    }
    return this.size;
  }
}

/**
 * Heap order: the smaller value is "less"; among equal values the later index is "less", so it is the one
 * evicted first and ties keep the lower index.
 */
function lessThan(value: number, index: number, otherValue: number, otherIndex: number): boolean {
  return value < otherValue || (value === otherValue && index > otherIndex);
}
