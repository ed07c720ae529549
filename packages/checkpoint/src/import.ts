/**
 * Checkpoint conversion in memory (browser-safe): a PyTorch `.pth` or a
 * safetensors file exported from PyTorch in, a safetensors file out — the
 * state dict's tensors, and the metadata the caller's `metadata` callback
 * gives them (where a model package validates the tensors and records its
 * config). The Node entry's convertCheckpoint does the same streaming from
 * and to files.
 */
import { CheckpointError } from './errors.js';
import { readPth, stripPrefixes, type PthReadOptions } from './pth.js';
import { parseSafetensors, serializeSafetensors } from './safetensors.js';
import type { DType, RawTensor } from './dtype.js';

/** What a conversion knows of its input when it decides the output's metadata. */
export interface ConversionInput {
  format: 'pth' | 'safetensors';
  /** The tensors' names (prefixes removed), dtypes and shapes. */
  tensors: Map<string, { dtype: DType; shape: readonly number[] }>;
  /** The input's own metadata (a safetensors input's `__metadata__`; empty for a .pth). */
  metadata: Record<string, string>;
  /** The input's file name, when known. */
  fileName?: string;
}

/** The output metadata for an input; throw (any error) to refuse the input. */
export type ConversionMetadata = (input: ConversionInput) => Record<string, string>;

export interface ImportOptions extends PthReadOptions {
  /** The input's file name, passed on to `metadata`. */
  fileName?: string;
  /** The output file's metadata; by default the input's own. */
  metadata?: ConversionMetadata;
}

export interface ImportReport {
  format: 'pth' | 'safetensors';
  /** The metadata written. */
  metadata: Record<string, string>;
  /** Number of tensors written. */
  tensors: number;
  /** Keys followed from the checkpoint's root to the state dict ([] = the root). */
  source: string[];
  strippedPrefixes: string[];
  /** Non-tensor entries of the state dict, ignored. */
  skipped: string[];
}

/** What kind of checkpoint the first bytes of a file announce. */
export function sniffFormat(head: Uint8Array): 'pth' | 'safetensors' {
  if (head.byteLength >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return 'pth';
  // safetensors: 8-byte length, then the JSON header's opening brace.
  if (head.byteLength >= 9 && head[8] === 0x7b && head[6] === 0 && head[7] === 0) return 'safetensors';
  return 'pth';
}

/** The output metadata of a conversion: the callback's, or the input's own. */
export function conversionMetadata(input: ConversionInput, metadata: ConversionMetadata | undefined): Record<string, string> {
  return metadata ? metadata(input) : { ...input.metadata };
}

/**
 * Converts a checkpoint held in memory to safetensors bytes. Throws
 * CheckpointError for malformed or disallowed input (and whatever the
 * `metadata` callback throws).
 */
export function importCheckpoint(bytes: Uint8Array, options: ImportOptions = {}): { bytes: Uint8Array; report: ImportReport } {
  const format = sniffFormat(bytes);
  let tensors: Map<string, RawTensor>;
  let report: Omit<ImportReport, 'metadata' | 'tensors'>;
  let inputMetadata: Record<string, string> = {};
  if (format === 'pth') {
    const pth = readPth(bytes, options);
    tensors = pth.tensors;
    report = { format, source: pth.source, strippedPrefixes: pth.strippedPrefixes, skipped: pth.skipped };
  } else {
    const file = parseSafetensors(bytes);
    inputMetadata = file.metadata;
    const names = [...file.tensors.keys()];
    const renamed = options.stripPrefixes === false ? { names, prefixes: [] } : stripPrefixes(names, options.modelRoots);
    tensors = new Map(names.map((n, i) => [renamed.names[i], file.tensors.get(n)!]));
    report = { format, source: [], strippedPrefixes: renamed.prefixes, skipped: [] };
  }
  if (tensors.size === 0) throw new CheckpointError(`${format}: the checkpoint holds no tensors`);
  const metadata = conversionMetadata({ format, tensors, metadata: inputMetadata, fileName: options.fileName }, options.metadata);
  return { bytes: serializeSafetensors(tensors, metadata), report: { ...report, metadata, tensors: tensors.size } };
}
