/**
 * A TarFlow config inferred from a state dict's tensor shapes and from the
 * reference code's checkpoint file names (for checkpoints that do not carry
 * one in their metadata).
 *
 * What the weights determine (from ml-tarflow's TarFlow / MetaBlock):
 *   blocks.{i}.*                          → num_blocks
 *   blocks.0.proj_in.weight [C, D]        → channels C, patch dim D = in_channels * patch_size²
 *   blocks.0.pos_embed [T, C] (or var [T, D], attn_mask [T, T])
 *                                         → num_patches T = (img_size / patch_size)²
 *   blocks.0.attn_blocks.{j}.*            → layers_per_block
 *   blocks.0.class_embed [K, 1, C]        → num_classes K (absent: 0)
 *   blocks.0.proj_out.weight [2D or D, C] → nvp (true when 2D rows)
 *   blocks.0.attn_blocks.0.mlp.main.0.weight [E·C, C] → expansion E
 * Not in the weights: head_dim (default 64), noise_std (file name, else 0.05,
 * the reference training default), and how D splits into in_channels and
 * patch_size (file name or overrides, else in_channels 3 when D/3 is a
 * square, else 1).
 *
 * Precedence: explicit overrides, then a config already in the file's
 * metadata, then the file name, then defaults. A value the weights determine
 * must agree with them: a conflicting override is an error; a conflicting
 * file name is noted and ignored (files get renamed).
 */
import { CONFIG_DEFAULTS, CONFIG_KEYS, ConfigError, checkConfigValues, type ConfigKey, type TarFlowConfig } from './config.js';

/** Where each inferred value came from. */
export type ConfigSource = 'override' | 'metadata' | 'filename' | 'shapes' | 'default';

export interface InferredConfig {
  config: TarFlowConfig;
  sources: Record<ConfigKey, ConfigSource>;
  /** Human-readable remarks: assumptions made, file-name values ignored. */
  notes: string[];
}

export interface InferConfigOptions {
  /** Explicit values; they take precedence over everything else. */
  overrides?: Partial<TarFlowConfig>;
  /** The checkpoint's file name (or path), parsed with parseConfigFileName. */
  fileName?: string;
  /** A config already stored with the weights (safetensors `config` metadata). */
  metadataConfig?: Partial<TarFlowConfig>;
}

/** Values read from a checkpoint file name, and the noise type it names. */
export interface FileNameConfig {
  patch_size: number;
  channels: number;
  num_blocks: number;
  layers_per_block: number;
  /** Absent for `_uniform` (uniform dequantization) checkpoints. */
  noise_std?: number;
  noise_type: 'gaussian' | 'uniform';
  dataset: string;
}

/**
 * Parses ml-tarflow's checkpoint name `{dataset}_model_{patch}_{channels}_{blocks}_{layers}_{noise_std:.2f}.pth`
 * (or `..._uniform.pth`), e.g. `afhq_model_8_768_8_8_0.07.pth`. Returns
 * undefined for other names.
 */
export function parseConfigFileName(fileName: string): FileNameConfig | undefined {
  const base = fileName.split(/[\\/]/).pop() ?? '';
  const stem = base.replace(/\.(pth|pt|bin|ckpt|safetensors)$/i, '');
  const m = /^(.*?)_?model_(\d+)_(\d+)_(\d+)_(\d+)_(uniform|\d+(?:\.\d+)?(?:e-?\d+)?)$/.exec(stem);
  if (!m) return undefined;
  const [, dataset, p, c, b, l, noise] = m;
  const parsed: FileNameConfig = {
    patch_size: Number(p),
    channels: Number(c),
    num_blocks: Number(b),
    layers_per_block: Number(l),
    noise_type: noise === 'uniform' ? 'uniform' : 'gaussian',
    dataset,
  };
  if (noise !== 'uniform') parsed.noise_std = Number(noise);
  return parsed;
}

type Shapes = Map<string, { shape: readonly number[] }> | Record<string, { shape: readonly number[] }>;

function isqrt(n: number): number | undefined {
  const r = Math.round(Math.sqrt(n));
  return r * r === n ? r : undefined;
}

/**
 * Infers a TarFlow config from a state dict's tensor shapes, the file name
 * and overrides (see the module comment for the rules and precedence).
 * Throws ConfigError when a value cannot be determined or contradicts
 * the weights.
 */
export function inferConfig(tensors: Shapes, options: InferConfigOptions = {}): InferredConfig {
  const shapes = tensors instanceof Map ? tensors : new Map(Object.entries(tensors));
  const overrides = { ...(options.overrides ?? {}) };
  const meta = { ...(options.metadataConfig ?? {}) };
  checkConfigValues(overrides, 'overrides');
  checkConfigValues(meta, 'config metadata');
  const file = options.fileName ? parseConfigFileName(options.fileName) : undefined;
  const notes: string[] = [];
  const config: Partial<TarFlowConfig> = {};
  const sources = {} as Record<ConfigKey, ConfigSource>;
  const shapeOf = (name: string): readonly number[] | undefined => shapes.get(name)?.shape;

  // What the weights say.
  const fromShapes: Partial<TarFlowConfig> = {};
  const blockIds = new Set<number>();
  const layerIds = new Set<number>();
  for (const name of shapes.keys()) {
    const b = /^blocks\.(\d+)\./.exec(name);
    if (b) blockIds.add(Number(b[1]));
    const l = /^blocks\.0\.attn_blocks\.(\d+)\./.exec(name);
    if (l) layerIds.add(Number(l[1]));
  }
  const count = (ids: Set<number>, what: string): number | undefined => {
    if (!ids.size) return undefined;
    let n = 0;
    for (const id of ids) n = Math.max(n, id + 1);
    if (n !== ids.size) throw new ConfigError(`config: ${what} are not numbered 0..${n - 1} (found ${[...ids].sort((a, b) => a - b).join(', ')})`);
    return n;
  };
  const numBlocks = count(blockIds, 'flow blocks (blocks.N)');
  if (numBlocks !== undefined) fromShapes.num_blocks = numBlocks;
  const layers = count(layerIds, 'attention layers (blocks.0.attn_blocks.N)');
  if (layers !== undefined) fromShapes.layers_per_block = layers;

  const dims = (name: string, rank: number): readonly number[] | undefined => {
    const s = shapeOf(name);
    if (s && s.length !== rank) throw new ConfigError(`config: tensor ${JSON.stringify(name)} has shape ${JSON.stringify(s)}, expected rank ${rank}`);
    return s;
  };
  let patchDim: number | undefined;
  let numPatches: number | undefined;
  const projIn = dims('blocks.0.proj_in.weight', 2);
  if (projIn) {
    fromShapes.channels = projIn[0];
    patchDim = projIn[1];
  }
  const pos = dims('blocks.0.pos_embed', 2);
  const variance = dims('var', 2);
  const mask = dims('blocks.0.attn_mask', 2);
  numPatches = pos?.[0] ?? variance?.[0] ?? mask?.[0];
  patchDim ??= variance?.[1];
  if (numBlocks !== undefined) {
    const classEmbed = dims('blocks.0.class_embed', 3);
    fromShapes.num_classes = classEmbed ? classEmbed[0] : 0;
    for (let i = 1; i < numBlocks; i++) {
      const other = shapeOf(`blocks.${i}.proj_in.weight`);
      if (projIn && other && (other[0] !== projIn[0] || other[1] !== projIn[1])) {
        throw new ConfigError(`config: blocks.${i}.proj_in.weight ${JSON.stringify(other)} differs from blocks.0's ${JSON.stringify(projIn)}`);
      }
    }
  }
  const projOut = dims('blocks.0.proj_out.weight', 2);
  if (projOut && patchDim !== undefined) {
    if (projOut[0] === 2 * patchDim) fromShapes.nvp = true;
    else if (projOut[0] === patchDim) fromShapes.nvp = false;
    else {
      throw new ConfigError(`config: blocks.0.proj_out.weight has ${projOut[0]} rows; expected ${2 * patchDim} (nvp) or ${patchDim}`);
    }
  }
  const mlp = dims('blocks.0.attn_blocks.0.mlp.main.0.weight', 2);
  if (mlp && fromShapes.channels) {
    if (mlp[0] % fromShapes.channels !== 0) {
      throw new ConfigError(`config: MLP width ${mlp[0]} is not a multiple of channels ${fromShapes.channels}`);
    }
    fromShapes.expansion = mlp[0] / fromShapes.channels;
  }

  // Resolve each field: override > metadata > weights > file name > default, with weights checked against the rest.
  const fileValue = (k: ConfigKey): number | boolean | undefined =>
    file && k in file ? ((file as unknown as Record<string, number>)[k] as number | undefined) : undefined;
  const set = <K extends ConfigKey>(k: K, v: TarFlowConfig[K], source: ConfigSource): void => {
    config[k] = v;
    sources[k] = source;
  };
  const resolve = (k: ConfigKey): void => {
    const shaped = fromShapes[k];
    for (const [value, source] of [
      [overrides[k], 'override'],
      [meta[k], 'metadata'],
    ] as const) {
      if (value === undefined) continue;
      if (shaped !== undefined && shaped !== value) {
        throw new ConfigError(`config: ${source === 'override' ? 'override' : 'stored config'} ${k} = ${JSON.stringify(value)} contradicts the weights (${k} = ${JSON.stringify(shaped)})`);
      }
      set(k, value as never, source);
      return;
    }
    const named = fileValue(k);
    if (shaped !== undefined) {
      if (named !== undefined && named !== shaped) {
        notes.push(`file name says ${k} = ${named} but the weights say ${shaped}; using ${shaped}`);
      }
      set(k, shaped as never, 'shapes');
      return;
    }
    if (named !== undefined) set(k, named as never, 'filename');
  };
  for (const k of ['channels', 'num_blocks', 'layers_per_block', 'num_classes', 'nvp', 'expansion', 'head_dim', 'noise_std'] as const) {
    resolve(k);
  }
  if (config.noise_std === undefined) {
    if (file?.noise_type === 'uniform') {
      set('noise_std', 0, 'filename');
      notes.push('file name says uniform dequantization noise; noise_std set to 0');
    } else {
      set('noise_std', CONFIG_DEFAULTS.noise_std, 'default');
      notes.push(`noise_std is not recorded in the weights or the file name; assumed ${CONFIG_DEFAULTS.noise_std} (the reference default)`);
    }
  }
  if (config.head_dim === undefined) set('head_dim', CONFIG_DEFAULTS.head_dim, 'default');
  if (config.channels !== undefined && config.channels % config.head_dim! !== 0) {
    throw new ConfigError(`config: channels ${config.channels} is not a multiple of head_dim ${config.head_dim}`);
  }

  resolveGeometry(config, sources, notes, { patchDim, numPatches, overrides, meta, file });

  const missing = CONFIG_KEYS.filter((k) => config[k] === undefined);
  if (missing.length) {
    throw new ConfigError(`config: cannot determine ${missing.join(', ')} from the weights; pass them as overrides`);
  }
  const ordered = Object.fromEntries(CONFIG_KEYS.map((k) => [k, config[k]])) as unknown as TarFlowConfig;
  return { config: ordered, sources, notes };
}

/**
 * Splits patch dim D = in_channels * patch² and num_patches T = (img / patch)²
 * into in_channels, patch_size and img_size.
 */
function resolveGeometry(
  config: Partial<TarFlowConfig>,
  sources: Record<ConfigKey, ConfigSource>,
  notes: string[],
  ctx: {
    patchDim: number | undefined;
    numPatches: number | undefined;
    overrides: Partial<TarFlowConfig>;
    meta: Partial<TarFlowConfig>;
    file: FileNameConfig | undefined;
  },
): void {
  const { patchDim: D, numPatches: T, overrides, meta, file } = ctx;
  const given = (k: 'in_channels' | 'patch_size' | 'img_size'): [number, ConfigSource] | undefined => {
    if (overrides[k] !== undefined) return [overrides[k]!, 'override'];
    if (meta[k] !== undefined) return [meta[k]!, 'metadata'];
    return undefined;
  };
  const explicit = { in_channels: given('in_channels'), patch_size: given('patch_size'), img_size: given('img_size') };
  if (D === undefined || T === undefined) {
    // Nothing to check against: explicit values (or the file name's patch size) are all there is.
    for (const k of ['in_channels', 'patch_size', 'img_size'] as const) {
      const v = explicit[k];
      if (v) {
        config[k] = v[0];
        sources[k] = v[1];
      }
    }
    if (config.patch_size === undefined && file) {
      config.patch_size = file.patch_size;
      sources.patch_size = 'filename';
    }
    return;
  }
  const grid = isqrt(T);
  if (grid === undefined) throw new ConfigError(`config: num_patches ${T} (pos_embed rows) is not a square`);

  const fromPatch = (p: number): { C: number; img: number } | undefined =>
    D % (p * p) === 0 ? { C: D / (p * p), img: grid * p } : undefined;
  let p: number | undefined;
  let pSource: ConfigSource = 'shapes';
  let cSource: ConfigSource = 'shapes';
  if (explicit.patch_size) {
    [p, pSource] = explicit.patch_size;
    if (!fromPatch(p)) throw new ConfigError(`config: patch_size ${p} does not divide the patch dim ${D} into whole channels`);
  } else if (explicit.in_channels) {
    const [C, source] = explicit.in_channels;
    p = D % C === 0 ? isqrt(D / C) : undefined;
    if (p === undefined) throw new ConfigError(`config: in_channels ${C} does not fit the patch dim ${D} (= in_channels * patch_size²)`);
    cSource = source;
  } else if (explicit.img_size) {
    const [img, source] = explicit.img_size;
    if (img % grid !== 0 || !fromPatch(img / grid)) {
      throw new ConfigError(`config: img_size ${img} does not fit ${T} patches of dim ${D}`);
    }
    p = img / grid;
    sources.img_size = source;
  } else if (file) {
    if (fromPatch(file.patch_size)) {
      p = file.patch_size;
      pSource = 'filename';
    } else {
      notes.push(`file name says patch_size ${file.patch_size}, which does not divide the patch dim ${D}; ignored`);
    }
  }
  if (p === undefined) {
    // Every way to write D = in_channels · patch_size²: one is taken as it is; of several, RGB or grey is
    // assumed (with a note), and anything else needs a flag.
    const splits: Array<{ C: number; p: number }> = [];
    for (let q = 1; q * q <= D; q++) if (D % (q * q) === 0) splits.push({ C: D / (q * q), p: q });
    const listed = splits.map((x) => `in_channels ${x.C} with patch_size ${x.p}`).join(', ');
    if (splits.length === 1) {
      p = splits[0].p;
      notes.push(`in_channels and patch_size are not recorded; in_channels ${splits[0].C}, patch_size ${p} is the only split of the patch dim ${D}`);
    } else {
      const C = splits.find((x) => x.C === 3)?.C ?? splits.find((x) => x.C === 1)?.C;
      if (C === undefined) {
        throw new ConfigError(`config: the patch dim ${D} splits into in_channels * patch_size² in several ways (${listed}); pass in_channels or patch_size`);
      }
      p = isqrt(D / C)!;
      cSource = 'default';
      pSource = 'default';
      notes.push(`in_channels and patch_size are not recorded; assumed in_channels ${C}, patch_size ${p} (patch dim ${D}; other splits: ${listed}); override if wrong`);
    }
  }
  const { C, img } = fromPatch(p)!;
  for (const [k, v] of [
    ['in_channels', C],
    ['img_size', img],
  ] as const) {
    const e = explicit[k];
    if (e && e[0] !== v) {
      throw new ConfigError(`config: ${k} ${e[0]} contradicts the weights (patch dim ${D}, ${T} patches, patch_size ${p} give ${k} ${v})`);
    }
  }
  config.patch_size = p;
  sources.patch_size = pSource;
  config.in_channels = C;
  sources.in_channels = explicit.in_channels ? explicit.in_channels[1] : cSource === 'default' ? 'default' : pSource;
  config.img_size = img;
  sources.img_size = explicit.img_size ? explicit.img_size[1] : cSource === 'default' ? 'default' : pSource;
  if (explicit.patch_size) sources.patch_size = explicit.patch_size[1];
}
