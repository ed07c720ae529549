/**
 * Values the flag definitions need, kept free of heavy imports so that
 * `--help` and flag errors answer without loading tfjs.
 */
/** What --backend accepts in Node (WebGL exists in browsers only). */
export const BACKENDS = ['auto', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKENDS)[number];

export const SOLVERS = ['sequential', 'jacobi', 'gs-jacobi', 'joint', 'auto'] as const;
export type SolverName = (typeof SOLVERS)[number];

/** Default number of samples when neither --batch nor --noise says. */
export const DEFAULT_BATCH = 16;

/** Config override flags (camelCase as commander gives them) and their config keys. */
export const CONFIG_FLAGS = {
  inChannels: 'in_channels',
  imgSize: 'img_size',
  patchSize: 'patch_size',
  channels: 'channels',
  numBlocks: 'num_blocks',
  layersPerBlock: 'layers_per_block',
  numClasses: 'num_classes',
  noiseStd: 'noise_std',
  headDim: 'head_dim',
  expansion: 'expansion',
} as const;
