/**
 * Where a command's model comes from: a checkpoint file (TarFlow safetensors,
 * or a PyTorch .pth / PyTorch-exported safetensors converted in memory), or a
 * model of @tarflow/zoo (`--model mnist`, the default, or `--model
 * fashion-mnist`).
 */
import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importCheckpoint, parseSafetensors } from '@tarflow/checkpoint';
import { zlibInflate } from '@tarflow/checkpoint/node';
import { loadModel, tarflowConversion, type TarFlow, type TarFlowConfig } from '@tarflow/model';
import { fnv1a32 } from '@tarflow/tensor/hash';
import { DEFAULT_MODEL_NAME, defaultModelBytes, ZOO_MODELS, zooModelNames, type ZooModel } from '@tarflow/zoo';
import { CliError, messageOf, UsageError } from './errors.js';
import { readBytes } from './files.js';

export interface ModelSource {
  model: TarFlow;
  /** The checkpoint path, 'default' for the embedded default model, or the name of another zoo model. */
  name: string;
  /** The zoo model's name when the model is one of @tarflow/zoo's. */
  zoo?: string;
  /** FNV-1a hash of the checkpoint bytes (identifies the model in shard metadata). */
  hash: string;
  /** Training steps recorded in the checkpoint's metadata (`train_step`), when present. */
  trainStep?: number;
  /** The checkpoint's safetensors metadata (empty for a .pth): shipped plans live there. */
  metadata: Record<string, string>;
}

function metadataOf(bytes: Uint8Array): Record<string, string> {
  try {
    return parseSafetensors(bytes).metadata;
  } catch {
    return {}; // not safetensors (a .pth): no metadata
  }
}

function trainStepOf(metadata: Record<string, string>): number | undefined {
  const step = Number(metadata.train_step);
  return metadata.train_step !== undefined && Number.isInteger(step) ? step : undefined;
}

function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

/** Parses checkpoint bytes into a model; non-TarFlow files are converted first. */
export function modelFromBytes(bytes: Uint8Array, fileName: string, overrides: Partial<TarFlowConfig> = {}): TarFlow {
  let tarflowBytes = bytes;
  if (isZip(bytes)) {
    tarflowBytes = importCheckpoint(bytes, { fileName, inflate: zlibInflate, ...tarflowConversion(overrides) }).bytes;
  }
  try {
    return loadModel(tarflowBytes, overrides);
  } catch (e) {
    // A safetensors export from PyTorch without our config metadata: convert (infers the config from shapes).
    if (tarflowBytes === bytes && /metadata key 'config' is missing/.test(messageOf(e))) {
      let converted: Uint8Array;
      try {
        converted = importCheckpoint(bytes, { fileName, ...tarflowConversion(overrides) }).bytes;
      } catch (inner) {
        throw new CliError(`not a TarFlow checkpoint: its metadata has no model config, and none can be inferred from its tensors (${messageOf(inner)})`);
      }
      return loadModel(converted, overrides);
    }
    throw e;
  }
}

/** The zoo model whose file is at `path`, if any (Node: the zoo's assets are files). */
function zooModelAt(path: string): ZooModel | undefined {
  const target = resolve(path);
  return ZOO_MODELS.find((m) => m.modelUrl.protocol === 'file:' && resolve(fileURLToPath(m.modelUrl)) === target);
}

/**
 * The checkpoint a `--model` value names: a zoo model's name (its file; undefined for
 * the default model, which needs no path), else a file path. A value that is neither
 * a zoo name nor an existing file nor looks like a path is a usage error listing the names.
 */
export function checkpointOfModelFlag(value: string): string | undefined {
  const zoo = ZOO_MODELS.find((m) => m.name === value);
  if (zoo) return zoo.name === DEFAULT_MODEL_NAME ? undefined : fileURLToPath(zoo.modelUrl);
  if (existsSync(value) || /[\\/]|\.(safetensors|pth|pt|bin)$/i.test(value)) return value;
  throw new UsageError(`--model ${value}: not a model of the zoo (${zooModelNames().join(', ')}) nor a checkpoint file`);
}

/** Loads --checkpoint (a file, or a zoo model's file), or the embedded default model when no path is given. */
export async function loadModelSource(checkpoint: string | undefined): Promise<ModelSource> {
  if (checkpoint === undefined) {
    let bytes: Uint8Array;
    try {
      bytes = await defaultModelBytes();
    } catch (e) {
      throw new CliError(`the embedded default model is missing (${messageOf(e)}); pass --checkpoint <file>`);
    }
    const metadata = metadataOf(bytes);
    return { model: loadModel(bytes), name: 'default', zoo: DEFAULT_MODEL_NAME, hash: fnv1a32(bytes), trainStep: trainStepOf(metadata), metadata };
  }
  const zoo = zooModelAt(checkpoint);
  let bytes: Uint8Array;
  try {
    bytes = await readBytes(checkpoint, 'checkpoint');
  } catch (e) {
    if (zoo && !existsSync(checkpoint)) throw new CliError(`the zoo model ${zoo.name} is missing (${checkpoint}); pass --checkpoint <file>`);
    throw e;
  }
  try {
    const metadata = metadataOf(bytes);
    return { model: modelFromBytes(bytes, basename(checkpoint)), name: zoo ? zoo.name : checkpoint, ...(zoo ? { zoo: zoo.name } : {}), hash: fnv1a32(bytes), trainStep: trainStepOf(metadata), metadata };
  } catch (e) {
    throw new CliError(`checkpoint ${checkpoint}: ${messageOf(e)}`);
  }
}

/** One line describing a model: its source and shape. */
export function describeModel(source: ModelSource): string {
  const c = source.model.config;
  const what = source.name === 'default' ? 'default model (@tarflow/zoo)' : source.zoo ? `${source.zoo} model (@tarflow/zoo)` : source.name;
  const cond = c.num_classes > 0 ? `${c.num_classes} classes` : 'unconditional';
  const trained = source.trainStep !== undefined ? ` (trained ${source.trainStep} steps)` : '';
  return `${what}${trained}: ${c.num_blocks} blocks × ${c.layers_per_block} layers, ${c.channels} channels, ${source.model.tokens} tokens of ${source.model.patchDim} values, ${c.in_channels}×${c.img_size}×${c.img_size} images, ${cond}`;
}
