/**
 * @tarflow/train — training for TarFlow and the MNIST classifier on tfjs
 * (Node; set the backend up first, e.g. `selectBackend('wasm')` of
 * `@tarflow/backends`): AdamW, cosine learning-rate schedule with warm-up,
 * label drop for classifier-free guidance, gradient clipping, the prior
 * variance update, PNG sample grids, and atomic resumable checkpoints.
 */
export { AdamW, clipByGlobalNorm, type AdamWOptions, type AdamWState } from './adamw.js';
export { cosineLr, type CosineSchedule } from './schedule.js';
export { bitsPerDim, formatProgress, LN_128, HALF_LN_2PI, type TrainProgress } from './progress.js';
export {
  checkpointDir,
  checkpointPaths,
  listCheckpoints,
  readCheckpoint,
  latestCheckpoint,
  writeCheckpoint,
  pruneCheckpoints,
  trainableNames,
  type TrainState,
  type LoadedCheckpoint,
} from './checkpoints.js';
export {
  trainTarFlow,
  trainStep,
  prepareDataset,
  sampleGridPng,
  TrainingError,
  type TrainTarFlowOptions,
  type TrainTarFlowResult,
} from './tarflow.js';
export { DEFAULT_MNIST_CONFIG, DEFAULT_MNIST_RECIPE } from './recipes.js';
export { trainClassifier, randomShift, type TrainClassifierOptions, type TrainClassifierResult } from './classifier.js';
export { sampleAccuracy, sampleAccuracyGrid, type SampleAccuracy, type SampleAccuracyOptions } from './evaluate.js';
