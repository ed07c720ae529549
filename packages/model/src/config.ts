/**
 * The TarFlow config: the reference's hyper-parameters under its field names,
 * stored as JSON in a checkpoint's `config` metadata (canonical key order, as
 * the reference fixtures write it), its defaults and its validation.
 */

/** TarFlow hyper-parameters, with the reference's field names. */
export interface TarFlowConfig {
  in_channels: number;
  img_size: number;
  patch_size: number;
  channels: number;
  num_blocks: number;
  layers_per_block: number;
  num_classes: number;
  noise_std: number;
  head_dim: number;
  expansion: number;
  nvp: boolean;
}

/** Config keys in their canonical order. */
export const CONFIG_KEYS = [
  'in_channels',
  'img_size',
  'patch_size',
  'channels',
  'num_blocks',
  'layers_per_block',
  'num_classes',
  'noise_std',
  'head_dim',
  'expansion',
  'nvp',
] as const satisfies ReadonlyArray<keyof TarFlowConfig>;

export type ConfigKey = (typeof CONFIG_KEYS)[number];

/** The reference's defaults for the fields a config may leave out (and the weights do not record all of). */
export const CONFIG_DEFAULTS: Readonly<Pick<TarFlowConfig, 'num_classes' | 'noise_std' | 'head_dim' | 'expansion' | 'nvp'>> = {
  num_classes: 0,
  noise_std: 0.05,
  head_dim: 64,
  expansion: 4,
  nvp: true,
};

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Upper bounds of the sizes a config may name, checked before anything is
 * allocated: far above any TarFlow that runs in tfjs, far below what a
 * damaged or hostile file could ask for.
 */
export const CONFIG_LIMITS: Readonly<Record<Exclude<ConfigKey, 'noise_std' | 'nvp'>, { max: number; what: string }>> = {
  in_channels: { max: 64, what: 'image channels' },
  img_size: { max: 1024, what: 'pixels of image side' },
  patch_size: { max: 1024, what: 'pixels of patch side' },
  channels: { max: 8192, what: 'transformer channels' },
  num_blocks: { max: 64, what: 'flow blocks' },
  layers_per_block: { max: 64, what: 'transformer layers per block' },
  num_classes: { max: 100_000, what: 'classes' },
  head_dim: { max: 8192, what: 'channels per attention head' },
  expansion: { max: 16, what: '× MLP expansion' },
};

/** Most patches (tokens) per image, and most parameters (float32 values) a config may make. */
export const MAX_TOKENS = 16_384;
export const MAX_PARAMETERS = 2 ** 30;

/**
 * Checks the values present in a (partial) config: known keys only, whole
 * numbers ≥ 1 (num_classes ≥ 0) up to CONFIG_LIMITS, a finite noise_std > 0,
 * a boolean nvp. `what` names the config in messages.
 */
export function checkConfigValues(config: Partial<TarFlowConfig>, what = 'model config'): void {
  for (const [k, v] of Object.entries(config)) {
    if (v === undefined) continue;
    if (!(CONFIG_KEYS as readonly string[]).includes(k)) throw new ConfigError(`${what}: unknown key ${JSON.stringify(k)}`);
    const key = k as ConfigKey;
    if (key === 'nvp') {
      if (typeof v !== 'boolean') throw new ConfigError(`${what}: 'nvp' must be true or false, got ${JSON.stringify(v)}`);
    } else if (key === 'noise_std') {
      if (!(typeof v === 'number' && Number.isFinite(v) && v > 0)) throw new ConfigError(`${what}: 'noise_std' must be a finite number > 0, got ${JSON.stringify(v)}`);
    } else {
      const min = key === 'num_classes' ? 0 : 1;
      if (!(typeof v === 'number' && Number.isSafeInteger(v) && v >= min)) {
        throw new ConfigError(`${what}: '${key}' must be an integer >= ${min}, got ${JSON.stringify(v)}`);
      }
      const limit = CONFIG_LIMITS[key];
      if (v > limit.max) throw new ConfigError(`${what}: '${key}' is ${v}, more than the ${limit.max} ${limit.what} supported (is the file damaged?)`);
    }
  }
}

/** Checks and completes a config: missing optional fields get CONFIG_DEFAULTS; unknown keys are dropped. */
export function validateConfig(raw: unknown): TarFlowConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(`model config must be an object, got ${JSON.stringify(raw)}`);
  const given = { ...CONFIG_DEFAULTS, ...(raw as Record<string, unknown>) } as Record<string, unknown>;
  const missing = CONFIG_KEYS.filter((k) => given[k] === undefined);
  if (missing.length) throw new ConfigError(`model config: '${missing[0]}' is missing`);
  const cfg = Object.fromEntries(CONFIG_KEYS.map((k) => [k, given[k]])) as unknown as TarFlowConfig;
  checkConfigValues(cfg);
  if (cfg.img_size % cfg.patch_size !== 0) {
    throw new ConfigError(`model config: img_size ${cfg.img_size} is not divisible by patch_size ${cfg.patch_size}`);
  }
  if (cfg.channels % cfg.head_dim !== 0) {
    throw new ConfigError(`model config: channels ${cfg.channels} is not divisible by head_dim ${cfg.head_dim}`);
  }
  const tokens = (cfg.img_size / cfg.patch_size) ** 2;
  if (tokens > MAX_TOKENS) throw new ConfigError(`model config: ${tokens} patches per image (img_size ${cfg.img_size} / patch_size ${cfg.patch_size}, squared), but at most ${MAX_TOKENS} are supported`);
  const params = parameterCount(cfg);
  if (params > MAX_PARAMETERS) throw new ConfigError(`model config: ${params.toExponential(2)} parameters, but at most ${MAX_PARAMETERS.toExponential(2)} (4 GiB of float32) are supported`);
  return cfg;
}

/** How many float32 values a config's weights and buffers hold. */
export function parameterCount(c: TarFlowConfig): number {
  const T = (c.img_size / c.patch_size) ** 2;
  const D = c.in_channels * c.patch_size ** 2;
  const C = c.channels;
  const E = C * c.expansion;
  const layer = 2 * C + (3 * C * C + 3 * C) + (C * C + C) + 2 * C + (E * C + E) + (C * E + C);
  const block = D * C + C + T * C + c.num_classes * C + T * T + c.layers_per_block * layer + (c.nvp ? 2 : 1) * D * (C + 1);
  return c.num_blocks * block + T * D;
}

/** The config as the reference writes it (Python's `json.dumps` layout, canonical key order). */
export function configJson(config: TarFlowConfig): string {
  return `{${CONFIG_KEYS.map((k) => `${JSON.stringify(k)}: ${JSON.stringify(config[k])}`).join(', ')}}`;
}

/** Parses a config stored as JSON, keeping the known keys (checked, not completed). */
export function parseConfigJson(text: string, what = 'config metadata'): Partial<TarFlowConfig> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${what} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(`${what} is not a JSON object`);
  const picked: Partial<TarFlowConfig> = {};
  for (const k of CONFIG_KEYS) {
    if (k in value) (picked as Record<string, unknown>)[k] = (value as Record<string, unknown>)[k];
  }
  checkConfigValues(picked, what);
  return picked;
}

/** Number of patches (tokens) T. */
export function numTokens(c: TarFlowConfig): number {
  return (c.img_size / c.patch_size) ** 2;
}

/** Dimension of one patch D = in_channels · patch_size². */
export function patchDim(c: TarFlowConfig): number {
  return c.in_channels * c.patch_size * c.patch_size;
}
