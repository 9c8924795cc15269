/** Reproducible randomness for generated tests: a failing case is rerun from its seed. */

/** mulberry32: small, seeded, reproducible; numbers in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded generator with the draws a model-based test needs. */
export class SeededRandom {
  private readonly next: () => number;

  constructor(readonly seed: number) {
    this.next = rng(seed);
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** A bigint in [0, 2^bits). */
  bits(bits: number): bigint {
    let value = 0n;
    for (let left = bits; left > 0; left -= 24) {
      const take = Math.min(24, left);
      value = (value << BigInt(take)) | BigInt(this.int(2 ** take));
    }
    return value;
  }
}
