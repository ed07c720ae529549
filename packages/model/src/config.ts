import type { TarFlowConfigJson } from '@tarflow/checkpoint';

/** TarFlow hyper-parameters, with the reference's field names (stored as JSON in checkpoints). */
export type TarFlowConfig = TarFlowConfigJson;

export const DEFAULT_CONFIG: Omit<TarFlowConfig, 'in_channels' | 'img_size' | 'patch_size' | 'channels' | 'num_blocks' | 'layers_per_block'> = {
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

/** Checks and completes a config (missing optional fields get their defaults). */
export function validateConfig(raw: unknown): TarFlowConfig {
  if (typeof raw !== 'object' || raw === null) throw new ConfigError(`model config must be an object, got ${JSON.stringify(raw)}`);
  const c = { ...DEFAULT_CONFIG, ...(raw as Record<string, unknown>) } as Record<string, unknown>;
  const int = (k: string, min: number) => {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      throw new ConfigError(`model config: '${k}' must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const cfg: TarFlowConfig = {
    in_channels: int('in_channels', 1),
    img_size: int('img_size', 1),
    patch_size: int('patch_size', 1),
    channels: int('channels', 1),
    num_blocks: int('num_blocks', 1),
    layers_per_block: int('layers_per_block', 1),
    num_classes: int('num_classes', 0),
    noise_std: c.noise_std as number,
    head_dim: int('head_dim', 1),
    expansion: int('expansion', 1),
    nvp: c.nvp as boolean,
  };
  if (typeof cfg.noise_std !== 'number' || !(cfg.noise_std >= 0)) throw new ConfigError(`model config: 'noise_std' must be a number >= 0`);
  if (typeof cfg.nvp !== 'boolean') throw new ConfigError(`model config: 'nvp' must be true or false`);
  if (cfg.img_size % cfg.patch_size !== 0) {
    throw new ConfigError(`model config: img_size ${cfg.img_size} is not divisible by patch_size ${cfg.patch_size}`);
  }
  if (cfg.channels % cfg.head_dim !== 0) {
    throw new ConfigError(`model config: channels ${cfg.channels} is not divisible by head_dim ${cfg.head_dim}`);
  }
  return cfg;
}

/** Number of patches (tokens) T. */
export function numTokens(c: TarFlowConfig): number {
  return (c.img_size / c.patch_size) ** 2;
}

/** Dimension of one patch D = in_channels · patch_size². */
export function patchDim(c: TarFlowConfig): number {
  return c.in_channels * c.patch_size * c.patch_size;
}
