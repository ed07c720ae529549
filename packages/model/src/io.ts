/**
 * TarFlow checkpoints as safetensors: tensor names as the reference's
 * state_dict, Linear weights in PyTorch's [out, in] layout, the config as JSON
 * in the metadata key `config`, the recommended sampling settings (when
 * known) as JSON in the key `sampling`. Also the TarFlow side of converting a
 * PyTorch checkpoint: the metadata a converted file gets.
 */
import { tf } from '@tarflow/tensor';
import {
  CheckpointError,
  f32Tensor,
  parseSafetensors,
  serializeSafetensors,
  toFloat32,
  type ConversionInput,
  type RawTensor,
  type SafetensorsFile,
} from '@tarflow/checkpoint';
import { configJson, numTokens, parseConfigJson, patchDim, validateConfig, ConfigError, type TarFlowConfig } from './config.js';
import { inferConfig, type InferredConfig } from './infer-config.js';
import { parseRecommendedSampling, type RecommendedSampling } from './sampling.js';
import type { LinearParams, NormParams } from './layers.js';
import { TarFlow, type BlockParams, type LayerParams } from './tarflow.js';

/** The tensor names and shapes a config implies, in state_dict order. */
export function expectedTensors(config: TarFlowConfig): Array<[string, number[]]> {
  const T = numTokens(config);
  const D = patchDim(config);
  const C = config.channels;
  const E = C * config.expansion;
  const out: Array<[string, number[]]> = [['var', [T, D]]];
  for (let i = 0; i < config.num_blocks; i++) {
    const b = `blocks.${i}`;
    out.push([`${b}.pos_embed`, [T, C]]);
    if (config.num_classes > 0) out.push([`${b}.class_embed`, [config.num_classes, 1, C]]);
    out.push([`${b}.attn_mask`, [T, T]], [`${b}.proj_in.weight`, [C, D]], [`${b}.proj_in.bias`, [C]]);
    for (let j = 0; j < config.layers_per_block; j++) {
      const l = `${b}.attn_blocks.${j}`;
      out.push(
        [`${l}.attention.norm.weight`, [C]],
        [`${l}.attention.norm.bias`, [C]],
        [`${l}.attention.qkv.weight`, [3 * C, C]],
        [`${l}.attention.qkv.bias`, [3 * C]],
        [`${l}.attention.proj.weight`, [C, C]],
        [`${l}.attention.proj.bias`, [C]],
        [`${l}.mlp.norm.weight`, [C]],
        [`${l}.mlp.norm.bias`, [C]],
        [`${l}.mlp.main.0.weight`, [E, C]],
        [`${l}.mlp.main.0.bias`, [E]],
        [`${l}.mlp.main.2.weight`, [C, E]],
        [`${l}.mlp.main.2.bias`, [C]],
      );
    }
    const O = config.nvp ? 2 * D : D;
    out.push([`${b}.proj_out.weight`, [O, C]], [`${b}.proj_out.bias`, [O]]);
  }
  return out;
}

/** The model's tensors under their state_dict names. */
export function stateDict(model: TarFlow): Map<string, tf.Tensor> {
  const m = new Map<string, tf.Tensor>();
  m.set('var', model.priorVar);
  const lin = (name: string, l: LinearParams) => {
    m.set(`${name}.weight`, l.weight);
    m.set(`${name}.bias`, l.bias);
  };
  const norm = (name: string, n: NormParams) => {
    m.set(`${name}.weight`, n.weight);
    m.set(`${name}.bias`, n.bias);
  };
  model.blocks.forEach((b, i) => {
    const p = `blocks.${i}`;
    m.set(`${p}.pos_embed`, b.posEmbed);
    if (b.classEmbed) m.set(`${p}.class_embed`, b.classEmbed);
    m.set(`${p}.attn_mask`, b.attnMask);
    lin(`${p}.proj_in`, b.projIn);
    b.layers.forEach((l, j) => {
      const q = `${p}.attn_blocks.${j}`;
      norm(`${q}.attention.norm`, l.attnNorm);
      lin(`${q}.attention.qkv`, l.qkv);
      lin(`${q}.attention.proj`, l.proj);
      norm(`${q}.mlp.norm`, l.mlpNorm);
      lin(`${q}.mlp.main.0`, l.fc1);
      lin(`${q}.mlp.main.2`, l.fc2);
    });
    lin(`${p}.proj_out`, b.projOut);
  });
  return m;
}

/** Reads the config from a safetensors file's metadata (or throws naming the problem). */
export function configFromMetadata(meta: Record<string, string>, overrides: Partial<TarFlowConfig> = {}): TarFlowConfig {
  const text = meta.config;
  if (text === undefined && Object.keys(overrides).length === 0) {
    throw new CheckpointError("checkpoint has no model config: metadata key 'config' is missing");
  }
  let parsed: unknown = {};
  if (text !== undefined) {
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new CheckpointError(`checkpoint metadata 'config' is not valid JSON: ${(e as Error).message}`);
    }
  }
  try {
    return validateConfig({ ...(parsed as object), ...overrides });
  } catch (e) {
    if (e instanceof ConfigError) throw new CheckpointError(`checkpoint config is invalid: ${e.message}`);
    throw e;
  }
}

/** Builds a model from a parsed safetensors file, checking every tensor against the config. */
export function modelFromSafetensors(file: SafetensorsFile, overrides: Partial<TarFlowConfig> = {}): TarFlow {
  const config = configFromMetadata(file.metadata, overrides);
  const recommended = recommendedFromMetadata(file.metadata);
  const expected = expectedTensors(config);
  const names = new Set(expected.map(([n]) => n));
  for (const name of file.tensors.keys()) {
    if (!names.has(name)) {
      throw new CheckpointError(`unexpected tensor '${name}' in checkpoint: the config (${configJson(config)}) has no such parameter`);
    }
  }
  const loaded = new Map<string, tf.Tensor>();
  try {
    for (const [name, shape] of expected) {
      const raw = file.tensors.get(name);
      if (!raw) throw new CheckpointError(`missing tensor '${name}' (expected shape [${shape.join(', ')}] for this config)`);
      if (raw.shape.length !== shape.length || raw.shape.some((d, i) => d !== shape[i])) {
        throw new CheckpointError(
          `tensor '${name}' has shape [${raw.shape.join(', ')}] but the config needs [${shape.join(', ')}]`,
        );
      }
      const values = toFloat32(raw, name);
      const bad = countNonFinite(values);
      if (bad > 0) throw new CheckpointError(`tensor '${name}' holds ${bad} non-finite value${bad === 1 ? '' : 's'} (NaN or Infinity) of ${values.length}: the model file is damaged or its training diverged`);
      loaded.set(name, tf.tensor(values, shape, 'float32'));
    }
  } catch (e) {
    for (const t of loaded.values()) t.dispose();
    throw e;
  }
  const take = (name: string, trainable = true) => {
    const t = loaded.get(name)!;
    const v = tf.variable(t, trainable);
    t.dispose();
    return v;
  };
  const lin = (name: string): LinearParams => ({ weight: take(`${name}.weight`), bias: take(`${name}.bias`) });
  const norm = (name: string): NormParams => ({ weight: take(`${name}.weight`), bias: take(`${name}.bias`) });
  const blocks: BlockParams[] = [];
  for (let i = 0; i < config.num_blocks; i++) {
    const p = `blocks.${i}`;
    const layers: LayerParams[] = [];
    for (let j = 0; j < config.layers_per_block; j++) {
      const q = `${p}.attn_blocks.${j}`;
      layers.push({
        attnNorm: norm(`${q}.attention.norm`),
        qkv: lin(`${q}.attention.qkv`),
        proj: lin(`${q}.attention.proj`),
        mlpNorm: norm(`${q}.mlp.norm`),
        fc1: lin(`${q}.mlp.main.0`),
        fc2: lin(`${q}.mlp.main.2`),
      });
    }
    blocks.push({
      projIn: lin(`${p}.proj_in`),
      posEmbed: take(`${p}.pos_embed`),
      classEmbed: config.num_classes > 0 ? take(`${p}.class_embed`) : null,
      attnMask: loaded.get(`${p}.attn_mask`) as tf.Tensor2D,
      layers,
      projOut: lin(`${p}.proj_out`),
      flip: i % 2 === 1,
    });
  }
  const model = new TarFlow(config, blocks, take('var', false));
  model.recommended = recommended;
  return model;
}

/** How many values of an array are NaN or ±Infinity. */
function countNonFinite(values: Float32Array): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) n++;
  return n;
}

/** Parses safetensors bytes (a Uint8Array or an ArrayBuffer) into a model. */
export function loadModel(bytes: Uint8Array | ArrayBuffer, overrides: Partial<TarFlowConfig> = {}): TarFlow {
  if (bytes instanceof ArrayBuffer) bytes = new Uint8Array(bytes);
  if (!(bytes instanceof Uint8Array)) {
    const got = bytes == null ? String(bytes) : Array.isArray(bytes) ? 'an array' : typeof bytes === 'object' ? `a ${(bytes as object).constructor?.name ?? 'object'}` : `a ${typeof bytes}`;
    throw new TypeError(`loadModel: expected the bytes of a .safetensors file (Uint8Array or ArrayBuffer), got ${got}`);
  }
  return modelFromSafetensors(parseSafetensors(bytes), overrides);
}

/**
 * The model's tensors as raw float32 safetensors entries, with the config
 * metadata, and the recommended sampling settings when the model has them.
 */
export function modelToSafetensors(model: TarFlow, extraMetadata: Record<string, string> = {}): SafetensorsFile {
  const tensors = new Map<string, RawTensor>();
  for (const [name, t] of stateDict(model)) tensors.set(name, f32Tensor(t.shape, t.dataSync() as Float32Array));
  const metadata: Record<string, string> = { format: 'tarflow', ...extraMetadata };
  if (model.recommended) metadata[SAMPLING_KEY] = JSON.stringify(parseRecommendedSampling(model.recommended));
  metadata.config = configJson(model.config);
  return { tensors, metadata };
}

/** Serializes the model to safetensors bytes. */
export function saveModel(model: TarFlow, extraMetadata: Record<string, string> = {}): Uint8Array {
  const f = modelToSafetensors(model, extraMetadata);
  return serializeSafetensors(f.tensors, f.metadata);
}

/** The metadata key of the recommended sampling settings (JSON, see RecommendedSampling). */
export const SAMPLING_KEY = 'sampling';

/** The recommended sampling settings a file's metadata records (validated), or undefined. */
export function recommendedFromMetadata(meta: Record<string, string>): RecommendedSampling | undefined {
  const text = meta[SAMPLING_KEY];
  if (text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`checkpoint metadata '${SAMPLING_KEY}' is not valid JSON: ${(e as Error).message}`);
  }
  try {
    return parseRecommendedSampling(parsed);
  } catch (e) {
    throw new CheckpointError(`checkpoint metadata '${SAMPLING_KEY}' is invalid: ${(e as Error).message}`);
  }
}

/** First name segments of a TarFlow state dict's tensors (for @tarflow/checkpoint's `modelRoots`). */
export const STATE_DICT_ROOTS: readonly string[] = ['blocks', 'var'];

/** The metadata a TarFlow safetensors file carries for a config. */
export function tarflowMetadata(config: TarFlowConfig): Record<string, string> {
  return { format: 'tarflow', config: configJson(config) };
}

/**
 * The TarFlow side of a checkpoint conversion (@tarflow/checkpoint's
 * importCheckpoint / convertCheckpoint): `metadata` infers the config from the
 * input's tensor shapes, stored config, file name and `overrides`, and gives
 * the converted file's metadata; `inferred()` is that inference afterwards.
 */
export function tarflowConversion(overrides: Partial<TarFlowConfig> = {}): {
  modelRoots: readonly string[];
  metadata: (input: ConversionInput) => Record<string, string>;
  inferred: () => InferredConfig;
} {
  let result: InferredConfig | undefined;
  return {
    modelRoots: STATE_DICT_ROOTS,
    metadata: (input) => {
      const stored = input.metadata.config === undefined ? undefined : parseConfigJson(input.metadata.config);
      result = inferConfig(input.tensors, { overrides, fileName: input.fileName, metadataConfig: stored });
      const sampling = input.metadata[SAMPLING_KEY];
      const out = tarflowMetadata(result.config);
      if (sampling !== undefined) out[SAMPLING_KEY] = sampling;
      return out;
    },
    inferred: () => {
      if (!result) throw new Error('tarflowConversion: no conversion has run yet');
      return result;
    },
  };
}
