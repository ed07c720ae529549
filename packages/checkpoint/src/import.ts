/**
 * Checkpoint import in memory (browser-safe): a PyTorch `.pth` or a
 * safetensors file exported from PyTorch in, a TarFlow safetensors file (the
 * state dict's tensors plus `format` and `config` metadata) out. The Node
 * entry's convertCheckpoint does the same streaming from and to files.
 */
import { configToJson, inferConfig, parseConfigJson, type ConfigKey, type ConfigSource, type TarFlowConfigJson } from './config.js';
import { CheckpointError } from './errors.js';
import { readPth, stripPrefixes, type PthReadOptions } from './pth.js';
import { parseSafetensors, serializeSafetensors } from './safetensors.js';
import type { RawTensor } from './dtype.js';

export interface ImportOptions extends PthReadOptions {
  /** Config values that take precedence over anything inferred. */
  overrides?: Partial<TarFlowConfigJson>;
  /** The input's file name, for the reference naming convention (`afhq_model_8_768_8_8_0.07.pth`). */
  fileName?: string;
}

export interface ImportReport {
  format: 'pth' | 'safetensors';
  config: TarFlowConfigJson;
  sources: Record<ConfigKey, ConfigSource>;
  notes: string[];
  /** Number of tensors written. */
  tensors: number;
  /** Keys followed from the checkpoint's root to the state dict ([] = the root). */
  source: string[];
  strippedPrefixes: string[];
  /** Non-tensor entries of the state dict, ignored. */
  skipped: string[];
}

/** The metadata a converted TarFlow safetensors file carries. */
export function tarflowMetadata(config: TarFlowConfigJson): Record<string, string> {
  return { format: 'tarflow', config: configToJson(config) };
}

/** What kind of checkpoint the first bytes of a file announce. */
export function sniffFormat(head: Uint8Array): 'pth' | 'safetensors' {
  if (head.byteLength >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return 'pth';
  // safetensors: 8-byte length, then the JSON header's opening brace.
  if (head.byteLength >= 9 && head[8] === 0x7b && head[6] === 0 && head[7] === 0) return 'safetensors';
  return 'pth';
}

/** The stored `config` metadata of a safetensors file, if any. */
export function storedConfig(metadata: Record<string, string>): Partial<TarFlowConfigJson> | undefined {
  return metadata.config === undefined ? undefined : parseConfigJson(metadata.config);
}

/**
 * Converts a checkpoint held in memory to TarFlow safetensors bytes. Throws
 * CheckpointError for malformed or disallowed input, or when the config
 * cannot be determined.
 */
export function importCheckpoint(bytes: Uint8Array, options: ImportOptions = {}): { bytes: Uint8Array; report: ImportReport } {
  const format = sniffFormat(bytes);
  let tensors: Map<string, RawTensor>;
  let report: Omit<ImportReport, 'config' | 'sources' | 'notes' | 'tensors'>;
  let metadataConfig: Partial<TarFlowConfigJson> | undefined;
  if (format === 'pth') {
    const pth = readPth(bytes, options);
    tensors = pth.tensors;
    report = { format, source: pth.source, strippedPrefixes: pth.strippedPrefixes, skipped: pth.skipped };
  } else {
    const file = parseSafetensors(bytes);
    metadataConfig = storedConfig(file.metadata);
    const names = [...file.tensors.keys()];
    const renamed = options.stripPrefixes === false ? { names, prefixes: [] } : stripPrefixes(names);
    tensors = new Map(names.map((n, i) => [renamed.names[i], file.tensors.get(n)!]));
    report = { format, source: [], strippedPrefixes: renamed.prefixes, skipped: [] };
  }
  if (tensors.size === 0) throw new CheckpointError(`${format}: the checkpoint holds no tensors`);
  const inferred = inferConfig(tensors, { overrides: options.overrides, fileName: options.fileName, metadataConfig });
  return {
    bytes: serializeSafetensors(tensors, tarflowMetadata(inferred.config)),
    report: { ...report, ...inferred, tensors: tensors.size },
  };
}
