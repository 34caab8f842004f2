/**
 * Turns a sequence's token bytes into text that is safe to show: whole UTF-8 characters only, and never a
 * prefix of a stop string (held back until it is known not to become one).
 */
export class TextStream {
  private readonly decoder = new TextDecoder('utf-8');
  private text = '';
  private emitted = 0;
  private readonly longestStop: number;

  constructor(private readonly stops: readonly string[]) {
    this.longestStop = Math.max(0, ...stops.map((s) => s.length));
  }

  /** Adds a token's bytes; returns the newly safe text and whether a stop string was completed. */
  push(bytes: Uint8Array): { text: string; stopped: boolean } {
    this.text += this.decoder.decode(bytes, { stream: true });
    if (this.stops.length) {
      const from = Math.max(0, this.emitted - this.longestStop + 1);
      let cut = -1;
      for (const stop of this.stops) {
        const at = this.text.indexOf(stop, from);
        if (at >= 0 && (cut < 0 || at < cut)) cut = at;
      }
      if (cut >= 0) {
        this.text = this.text.slice(0, cut);
        return { text: this.take(this.text.length), stopped: true };
      }
    }
    return { text: this.take(this.text.length - this.heldBack()), stopped: false };
  }

  /** Everything still held back, at the end of the generation. */
  flush(): string {
    this.text += this.decoder.decode();
    return this.take(this.text.length);
  }

  get fullText(): string {
    return this.text;
  }

  /** length of the longest tail of the text that is a proper prefix of some stop string */
  private heldBack(): number {
    const max = Math.min(this.longestStop - 1, this.text.length - this.emitted);
    for (let n = max; n > 0; n--) {
      const tail = this.text.slice(this.text.length - n);
      if (this.stops.some((s) => s.startsWith(tail))) return n;
    }
    return 0;
  }

  private take(end: number): string {
    if (end <= this.emitted) return '';
    const out = this.text.slice(this.emitted, end);
    this.emitted = end;
    return out;
  }
}
