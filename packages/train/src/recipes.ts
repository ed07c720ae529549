/**
 * The recipe of the shipped default model (`@tarflow/zoo`'s
 * `mnist-cond.safetensors`): a class-conditional MNIST TarFlow sized to train
 * in about 90 minutes on one CPU core with the wasm backend.
 */
import type { TarFlowConfig } from '@tarflow/model';
import type { TrainTarFlowOptions } from './tarflow.js';

/** 28×28 digits, patch 4 → 49 tokens of dimension 16; 4 blocks of 2 layers, 128 channels (1.64 M parameters, 6.3 MB). */
export const DEFAULT_MNIST_CONFIG: TarFlowConfig = {
  in_channels: 1,
  img_size: 28,
  patch_size: 4,
  channels: 128,
  num_blocks: 4,
  layers_per_block: 2,
  num_classes: 10,
  noise_std: 0.1,
  head_dim: 64,
  expansion: 4,
  nvp: true,
};

/** Training options of the default model, apart from `outDir` and callbacks. */
export const DEFAULT_MNIST_RECIPE = {
  config: DEFAULT_MNIST_CONFIG,
  dataset: 'mnist',
  datasetOptions: { split: 'train' },
  steps: 1600,
  batchSize: 64,
  lr: 1e-3,
  minLr: 1e-6,
  warmupSteps: 100,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  weightDecay: 1e-4,
  gradClip: 1,
  labelDrop: 0.1,
  updatePrior: true,
  seed: 0,
  checkpointEvery: 100,
  checkpointEverySeconds: 300,
  keepCheckpoints: 3,
  sampleEvery: 200,
  samplesPerClass: 2,
} as const satisfies Omit<TrainTarFlowOptions, 'outDir'>;
