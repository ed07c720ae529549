/**
 * @tarflow/classifier — the small MNIST classifier that judges samples: its
 * architecture, safetensors load/save, predictions and accuracy, and the
 * penultimate-layer features the Fréchet distance is computed on (the
 * distance itself is `@tarflow/metrics`' `featureStats` / `frechetFromStats`).
 * Training it is `@tarflow/train`'s `trainClassifier`; the trained weights
 * ship in `@tarflow/zoo`.
 */
export * from './classifier.js';
