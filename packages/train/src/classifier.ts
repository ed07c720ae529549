/**
 * Training of the MNIST classifier of `@tarflow/classifier` (the judge of
 * sample accuracy and the feature extractor of the Fréchet distance): cross
 * entropy, AdamW, cosine schedule, random-shift augmentation, deterministic
 * by seed.
 */
import { tf } from '@tarflow/tensor';
import { batches, deriveSeed, loadDataset, mulberry32, numBatches, type DatasetSpec, type ImageDataset } from '@tarflow/data';
import { DEFAULT_CLASSIFIER_CONFIG, MnistClassifier, type ClassifierConfig } from '@tarflow/classifier';
import { AdamW } from './adamw.js';
import { cosineLr } from './schedule.js';
import { TrainingError } from './tarflow.js';

export interface TrainClassifierOptions {
  /** Training images (default MNIST `train`: 9,000 digits). */
  dataset?: DatasetSpec | ImageDataset;
  /** Held-out images scored after each epoch (default MNIST `test`: 1,000 digits). */
  testDataset?: DatasetSpec | ImageDataset;
  config?: ClassifierConfig;
  /** Epochs (default 8). */
  epochs?: number;
  /** Batch size (default 128). */
  batchSize?: number;
  /** Peak learning rate (default 2e-3), warm-up over the first 5% of steps, cosine to 1e-5. */
  lr?: number;
  /** AdamW weight decay (default 1e-4). */
  weightDecay?: number;
  /** Largest random shift, in pixels, applied to training images (default 2; 0 disables). */
  shift?: number;
  /** Seed of initialisation, batch order and augmentation (default 0). */
  seed?: number;
  /** Called every `logEvery` steps (default 20). */
  onProgress?: (p: { step: number; totalSteps: number; epoch: number; loss: number; lr: number }) => void;
  logEvery?: number;
  /** Called after each epoch with the held-out accuracy. */
  onEpoch?: (e: { epoch: number; meanLoss: number; testAccuracy: number }) => void;
  signal?: AbortSignal;
}

export interface TrainClassifierResult {
  classifier: MnistClassifier;
  /** Held-out accuracy after the last epoch. */
  testAccuracy: number;
  /** Per epoch: mean training loss and held-out accuracy. */
  history: Array<{ epoch: number; meanLoss: number; testAccuracy: number }>;
}

function load(spec: DatasetSpec | ImageDataset, split: 'train' | 'test'): ImageDataset {
  const ds = typeof spec === 'string' ? loadDataset(spec, { split }) : spec;
  if (ds.channels !== 1 || ds.height !== 28 || ds.width !== 28) {
    throw new TrainingError(`classifier dataset '${ds.name}' has images ${ds.channels}×${ds.height}×${ds.width}; the MNIST classifier needs 1×28×28`);
  }
  if (ds.count === 0) throw new TrainingError(`classifier dataset '${ds.name}' is empty`);
  return ds;
}

/** Shifts each 28×28 image by a random (dy, dx) in [-s, s]², filling with background (-1). */
export function randomShift(images: Float32Array, n: number, s: number, seed: number): Float32Array {
  if (s <= 0) return images;
  const rng = mulberry32(seed);
  const out = new Float32Array(images.length).fill(-1);
  for (let k = 0; k < n; k++) {
    const dy = Math.floor(rng() * (2 * s + 1)) - s;
    const dx = Math.floor(rng() * (2 * s + 1)) - s;
    const base = k * 784;
    for (let y = 0; y < 28; y++) {
      const sy = y - dy;
      if (sy < 0 || sy >= 28) continue;
      for (let x = 0; x < 28; x++) {
        const sx = x - dx;
        if (sx >= 0 && sx < 28) out[base + y * 28 + x] = images[base + sy * 28 + sx];
      }
    }
  }
  return out;
}

/** Trains the MNIST classifier and scores it on the held-out split after each epoch. */
export async function trainClassifier(options: TrainClassifierOptions = {}): Promise<TrainClassifierResult> {
  const train = load(options.dataset ?? 'mnist', 'train');
  const test = load(options.testDataset ?? 'mnist', 'test');
  const epochs = options.epochs ?? 8;
  const batchSize = options.batchSize ?? 128;
  const seed = options.seed ?? 0;
  const shift = options.shift ?? 2;
  const logEvery = options.logEvery ?? 20;
  if (!Number.isInteger(epochs) || epochs < 1) throw new TrainingError(`epochs must be an integer >= 1, got ${epochs}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new TrainingError(`batchSize must be an integer >= 1, got ${batchSize}`);
  const config = options.config ?? DEFAULT_CLASSIFIER_CONFIG;
  if (train.numClasses > config.classes) throw new TrainingError(`dataset '${train.name}' has ${train.numClasses} classes but the classifier has ${config.classes}`);
  const stepsPerEpoch = numBatches(train.count, batchSize, true);
  if (stepsPerEpoch === 0) throw new TrainingError(`batchSize ${batchSize} is larger than the dataset '${train.name}' (${train.count} images)`);
  const totalSteps = epochs * stepsPerEpoch;
  const schedule = { maxLr: options.lr ?? 2e-3, minLr: 1e-5, warmupSteps: Math.ceil(totalSteps * 0.05), totalSteps };
  const classifier = MnistClassifier.init(config, seed);
  const params = classifier.variables();
  const optimizer = new AdamW(params, { weightDecay: options.weightDecay ?? 1e-4 });
  const history: TrainClassifierResult['history'] = [];
  let step = 0;
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      let lossSum = 0;
      let count = 0;
      for (const batch of batches(train, batchSize, { seed, epoch, dropLast: true })) {
        if (options.signal?.aborted) throw new TrainingError(`classifier training aborted at step ${step}`);
        const n = batch.labels.length;
        const images = randomShift(batch.images, n, shift, deriveSeed(seed, step, 3));
        const lr = cosineLr(schedule, step);
        const loss = tf.tidy(() => {
          const x = tf.tensor4d(images, [n, 1, 28, 28]);
          const onehot = tf.oneHot(tf.tensor1d(batch.labels, 'int32'), config.classes);
          const { value, grads } = tf.variableGrads(
            () => tf.neg(tf.mean(tf.sum(tf.mul(onehot, tf.logSoftmax(classifier.classify(x))), 1))) as tf.Scalar,
            params,
          );
          optimizer.apply(params.map((p) => grads[p.name]), lr);
          return value.dataSync()[0];
        });
        step += 1;
        lossSum += loss;
        count += 1;
        if (step % logEvery === 0 || step === totalSteps) options.onProgress?.({ step, totalSteps, epoch, loss, lr });
      }
      const testAccuracy = classifier.accuracy(test.images, test.labels);
      const e = { epoch, meanLoss: lossSum / count, testAccuracy };
      history.push(e);
      options.onEpoch?.(e);
      await new Promise((r) => setImmediate(r));
    }
  } catch (e) {
    optimizer.dispose();
    classifier.dispose();
    throw e;
  }
  optimizer.dispose();
  return { classifier, testAccuracy: history[history.length - 1].testAccuracy, history };
}
