/**
 * Sample accuracy of a class-conditional model: draw samples for each class
 * with the exact sequential sampler (optionally guided, optionally followed
 * by one score-based denoising step) and count how often the classifier
 * recognises the requested class.
 */
import { tf, tfSeed, type ImageBatch } from '@tarflow/tensor';
import { cycleLabels, type GuidanceSettings, type TarFlow } from '@tarflow/model';
import type { MnistClassifier } from '@tarflow/classifier';
import { gridPng } from '@tarflow/data';

export interface SampleAccuracyOptions {
  /** Samples per class (default 10). */
  perClass?: number;
  /** Classifier-free guidance (default none). */
  guidance?: GuidanceSettings;
  /** Apply `model.denoise` (one score step, step size noise_std²) to the samples (default true). */
  denoise?: boolean;
  /** Standard deviation of the sampling noise, before the prior's √var (default 1; below 1 trades diversity for fidelity). */
  temperature?: number;
  /** Seed of the noise (default 0). */
  seed?: number;
  /** Samples drawn at once (default 50). */
  batchSize?: number;
}

export interface SampleAccuracy {
  /** Fraction of samples classified as their requested class. */
  accuracy: number;
  /** The same per class. */
  perClass: number[];
  /** Requested and predicted classes, in sample order (class i % K for sample i). */
  labels: Int32Array;
  predicted: Int32Array;
  /** The samples, [n, C, H, W] in [-1, 1] (not clamped). */
  images: Float32Array;
  shape: [number, number, number, number];
  /** Wall-clock milliseconds of sampling (and denoising). */
  sampleMs: number;
}

/** Draws `perClass` samples of every class and scores them with the classifier. */
export function sampleAccuracy(model: TarFlow, classifier: MnistClassifier, options: SampleAccuracyOptions = {}): SampleAccuracy {
  const K = model.config.num_classes;
  if (K === 0) throw new Error('sampleAccuracy: the model is unconditional (num_classes 0)');
  const perClass = options.perClass ?? 10;
  const batchSize = options.batchSize ?? 50;
  const denoise = options.denoise ?? true;
  const { in_channels: C, img_size: S } = model.config;
  const n = perClass * K;
  const labels = cycleLabels(n, K);
  const images = new Float32Array(n * C * S * S);
  const seed = options.seed ?? 0;
  const t0 = performance.now();
  for (let s = 0; s < n; s += batchSize) {
    const m = Math.min(batchSize, n - s);
    const noise = tf.randomNormal([m, model.tokens, model.patchDim], 0, options.temperature ?? 1, 'float32', tfSeed(seed * 1_000_003 + s)) as tf.Tensor3D;
    const lab = tf.tensor1d(labels.subarray(s, s + m), 'int32');
    try {
      let x: ImageBatch = model.sample(noise, { labels: lab, guidance: options.guidance }).images;
      if (denoise) {
        const d = model.denoise(x, lab);
        x.dispose();
        x = d;
      }
      images.set(x.dataSync() as Float32Array, s * C * S * S);
      x.dispose();
    } finally {
      noise.dispose();
      lab.dispose();
    }
  }
  const sampleMs = performance.now() - t0;
  const predicted = classifier.predict(C === 1 && S === 28 ? images : resizeError(C, S));
  const hits = new Array<number>(K).fill(0);
  let ok = 0;
  for (let i = 0; i < n; i++) {
    if (predicted[i] === labels[i]) {
      ok++;
      hits[labels[i]]++;
    }
  }
  return { accuracy: ok / n, perClass: hits.map((h) => h / perClass), labels, predicted, images, shape: [n, C, S, S], sampleMs };
}

function resizeError(c: number, s: number): never {
  throw new Error(`sampleAccuracy: the classifier takes 1×28×28 images, the model makes ${c}×${s}×${s}`);
}

/** A PNG grid of the samples with one column per class (row r holds sample r of every class). */
export function sampleAccuracyGrid(r: SampleAccuracy, numClasses: number): Uint8Array {
  return gridPng(r.images, r.shape, { nrow: numClasses });
}
