/**
 * Argument parsers for commander options: each returns the parsed value or
 * throws InvalidArgumentError, which commander reports as
 * "option '--batch <n>' argument 'x' is invalid. <reason>" with exit code 2.
 */
import { InvalidArgumentError } from 'commander';
import { UsageError } from './errors.js';
import { LIMITS, parseIntIn, parseNumberIn } from './validate.js';

/** An integer option parser accepting values in [min, max] (max: LIMITS.count unless given). */
export function intArg(min: number, max: number = LIMITS.count): (value: string) => number {
  return (value) => {
    const r = parseIntIn(value, { min, max });
    if ('error' in r) throw new InvalidArgumentError(`${r.error}.`);
    return r.value;
  };
}

/** A finite-number option parser; `min` is inclusive unless `exclusive`; `max` inclusive. */
export function numberArg(min?: number, exclusive = false, max?: number): (value: string) => number {
  return (value) => {
    const r = parseNumberIn(value, { min, max, exclusive });
    if ('error' in r) throw new InvalidArgumentError(`${r.error}.`);
    return r.value;
  };
}

/** `i/n` with 1 <= i <= n. */
export interface Shard {
  index: number;
  count: number;
}

export function shardArg(value: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(value);
  if (!m) throw new InvalidArgumentError("expected i/n, e.g. '2/4' for the second of four shards.");
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count > LIMITS.samples) throw new InvalidArgumentError(`at most ${LIMITS.samples} shards.`);
  if (count < 1 || index < 1 || index > count) throw new InvalidArgumentError(`shard index must be between 1 and ${Math.max(count, 1)} (shards are numbered from 1).`);
  return { index, count };
}

/** How the labels of a run are chosen: a cycled list, or seeded random classes. */
export type LabelsSpec = { kind: 'list'; values: number[] } | { kind: 'random' };

export function labelsArg(value: string): LabelsSpec {
  const t = value.trim();
  if (t === 'random') return { kind: 'random' };
  const parts = t.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.some((p) => !/^-?\d+$/.test(p))) {
    throw new InvalidArgumentError("expected a comma-separated list of class indices (e.g. '0,1,2'; -1 = unconditional) or 'random'.");
  }
  if (parts.length > LIMITS.samples) throw new InvalidArgumentError(`at most ${LIMITS.samples} labels.`);
  if (parts.some((p) => !Number.isSafeInteger(Number(p)))) throw new InvalidArgumentError('class indices must be small integers (-1 = unconditional).');
  return { kind: 'list', values: parts.map(Number) };
}

/** Checks labels against a model's classes (K = 0: unconditional, only -1 allowed). */
export function checkLabelValues(values: ArrayLike<number>, numClasses: number, where: string): void {
  for (let i = 0; i < values.length; i++) {
    const l = values[i];
    if (numClasses === 0 && l !== -1) {
      throw new UsageError(`${where}: the model is unconditional (num_classes 0), so labels are not allowed (got ${l} at position ${i})`);
    }
    if (l < -1 || l >= numClasses) {
      throw new UsageError(`${where}: unknown label ${l} at position ${i} (this model has classes 0…${numClasses - 1}; -1 means unconditional)`);
    }
  }
}

/** The output kind an --out path names, from its extension. */
export function outputKind(path: string, flag = '--out', allowed: Array<'png' | 'safetensors'> = ['png', 'safetensors']): 'png' | 'safetensors' {
  const lower = path.toLowerCase();
  const kind = lower.endsWith('.png') ? 'png' : lower.endsWith('.safetensors') ? 'safetensors' : null;
  if (!kind || !allowed.includes(kind)) {
    throw new UsageError(`${flag} ${path}: the file name must end in ${allowed.map((k) => `.${k}`).join(' or ')}`);
  }
  return kind;
}
