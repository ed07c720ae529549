/**
 * FNV-1a, 32-bit (Fowler–Noll–Vo): for each byte b,
 *
 *   h ← (h XOR b) · 16777619   (mod 2³²),   starting from h = 2166136261
 *
 * A fast, portable fingerprint of bytes (not cryptographic): it ties a training
 * checkpoint's optimizer state to its model file, names models and draws in
 * sample shards, and keys cached plans. No tfjs here (the `@tarflow/tensor/hash`
 * entry).
 */

/** FNV-1a's initial value (offset basis). */
export const FNV1A_OFFSET = 0x811c9dc5;
const FNV1A_PRIME = 0x01000193;

/** FNV-1a of `bytes` as an unsigned 32-bit integer, continuing from `h` (to hash several arrays as one). */
export function fnv1a(bytes: Uint8Array, h: number = FNV1A_OFFSET): number {
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, FNV1A_PRIME);
  }
  return h >>> 0;
}

/** FNV-1a of `bytes` as 8 hex digits. */
export function fnv1a32(bytes: Uint8Array): string {
  return fnv1a(bytes).toString(16).padStart(8, '0');
}
