import { describe, expect, it } from 'vitest';
import { fnv1a, fnv1a32, FNV1A_OFFSET } from '../src/hash.js';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('FNV-1a (32-bit)', () => {
  it('gives the published test vectors', () => {
    // From the FNV reference test suite (Fowler, Noll, Vo).
    expect(fnv1a32(bytes(''))).toBe('811c9dc5');
    expect(fnv1a32(bytes('a'))).toBe('e40c292c');
    expect(fnv1a32(bytes('foobar'))).toBe('bf9cf968');
  });

  it('hashes several arrays as one when continued from the previous value', () => {
    expect(fnv1a(bytes('bar'), fnv1a(bytes('foo')))).toBe(fnv1a(bytes('foobar')));
    expect(fnv1a(new Uint8Array(0))).toBe(FNV1A_OFFSET);
  });

  it('returns an unsigned 32-bit integer and 8 hex digits', () => {
    const h = fnv1a(bytes('tarflow'));
    expect(Number.isInteger(h) && h >= 0 && h < 2 ** 32).toBe(true);
    expect(fnv1a32(bytes('tarflow'))).toBe(h.toString(16).padStart(8, '0'));
  });
});
