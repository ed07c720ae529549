/**
 * A small MNIST classifier on tfjs, used to judge samples: sample accuracy
 * (is a digit sampled for class k classified as k?) and the Fréchet distance
 * of its penultimate-layer features.
 *
 * Architecture (`mnist-cnn-v1`), on images [B, 1, 28, 28] in [-1, 1]:
 *
 *   conv 3×3 (1 → c1, 'same') → ReLU → max-pool 2×2   → [B, 14, 14, c1]
 *   conv 3×3 (c1 → c2, 'same') → ReLU → max-pool 2×2  → [B, 7, 7, c2]
 *   flatten (height, width, channel order) → dense (49·c2 → F) → ReLU   ← features [B, F]
 *   dense (F → 10)                                                      ← logits [B, 10]
 *
 * Convolutions are written as im2col + matMul (9 shifted slices concatenated
 * on the channel axis), because tfjs-backend-wasm has no
 * Conv2DBackpropFilter kernel; the filters use tf.conv2d's [kh, kw, in, out]
 * layout and give the same result as tf.conv2d.
 *
 * File format: safetensors with float32 tensors `conv1.weight` [3, 3, 1, c1],
 * `conv1.bias` [c1], `conv2.weight` [3, 3, c1, c2], `conv2.bias` [c2],
 * `fc1.weight` [49·c2, F], `fc1.bias` [F], `fc2.weight` [F, 10], `fc2.bias`
 * [10] (dense weights [in, out]), metadata `format` =
 * `tarflow-mnist-classifier` and `config` (JSON {@link ClassifierConfig}),
 * plus whatever the trainer records (e.g. `test_accuracy`).
 */
import { tf, assertImageBatch } from '@tarflow/tensor';
import { CheckpointError, f32Tensor, parseSafetensors, serializeSafetensors, toFloat32, type RawTensor } from '@tarflow/checkpoint';

export const CLASSIFIER_FORMAT = 'tarflow-mnist-classifier';

export interface ClassifierConfig {
  arch: 'mnist-cnn-v1';
  /** Channels of the two convolutions. */
  conv1: number;
  conv2: number;
  /** Width F of the penultimate (feature) layer. */
  hidden: number;
  /** Number of classes (10). */
  classes: number;
}

export const DEFAULT_CLASSIFIER_CONFIG: ClassifierConfig = { arch: 'mnist-cnn-v1', conv1: 16, conv2: 32, hidden: 128, classes: 10 };

/** Image side the classifier takes (MNIST). */
export const CLASSIFIER_IMAGE_SIZE = 28;

interface Dense {
  weight: tf.Variable; // [in, out]
  bias: tf.Variable; // [out]
}

/** The tensors of the classifier, under their file names. */
const PARAM_NAMES = ['conv1.weight', 'conv1.bias', 'conv2.weight', 'conv2.bias', 'fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias'] as const;

function paramShapes(c: ClassifierConfig): Record<(typeof PARAM_NAMES)[number], number[]> {
  const flat = 7 * 7 * c.conv2;
  return {
    'conv1.weight': [3, 3, 1, c.conv1],
    'conv1.bias': [c.conv1],
    'conv2.weight': [3, 3, c.conv1, c.conv2],
    'conv2.bias': [c.conv2],
    'fc1.weight': [flat, c.hidden],
    'fc1.bias': [c.hidden],
    'fc2.weight': [c.hidden, c.classes],
    'fc2.bias': [c.classes],
  };
}

function checkConfig(raw: unknown): ClassifierConfig {
  const c = raw as Partial<ClassifierConfig> | null;
  if (typeof c !== 'object' || c === null || c.arch !== 'mnist-cnn-v1') {
    throw new CheckpointError(`classifier config: expected arch 'mnist-cnn-v1', got ${JSON.stringify(c && c.arch)}`);
  }
  for (const k of ['conv1', 'conv2', 'hidden', 'classes'] as const) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new CheckpointError(`classifier config: '${k}' must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return { arch: 'mnist-cnn-v1', conv1: c.conv1!, conv2: c.conv2!, hidden: c.hidden!, classes: c.classes! };
}

/** 3×3 'same' convolution of NHWC `x` by [3, 3, in, out] filters, as im2col + matMul. */
export function conv3x3(x: tf.Tensor4D, weight: tf.Tensor, bias: tf.Tensor): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, H, W, C] = x.shape;
    const out = weight.shape[3] as number;
    const padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]);
    const cols: tf.Tensor[] = [];
    for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) cols.push(tf.slice(padded, [0, dy, dx, 0], [B, H, W, C]));
    const patches = tf.reshape(tf.concat(cols, 3), [B * H * W, 9 * C]);
    const y = tf.add(tf.matMul(patches, tf.reshape(weight, [9 * C, out])), bias);
    return tf.reshape(y, [B, H, W, out]) as tf.Tensor4D;
  });
}

/** The MNIST classifier: parameters plus `classify` / `features`. */
export class MnistClassifier {
  readonly config: ClassifierConfig;
  private readonly conv1: Dense;
  private readonly conv2: Dense;
  private readonly fc1: Dense;
  private readonly fc2: Dense;

  /** Builds a classifier from tensors named as in the file format (the tensors are copied into variables). */
  constructor(config: ClassifierConfig, tensors: Record<string, tf.Tensor>) {
    this.config = checkConfig(config);
    const shapes = paramShapes(this.config);
    const v = (name: (typeof PARAM_NAMES)[number]) => {
      const t = tensors[name];
      if (!t) throw new CheckpointError(`classifier: missing tensor '${name}'`);
      const want = shapes[name];
      if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
        throw new CheckpointError(`classifier: tensor '${name}' has shape [${t.shape.join(', ')}] but the config needs [${want.join(', ')}]`);
      }
      return tf.tidy(() => tf.variable(tf.cast(t, 'float32')));
    };
    this.conv1 = { weight: v('conv1.weight'), bias: v('conv1.bias') };
    this.conv2 = { weight: v('conv2.weight'), bias: v('conv2.bias') };
    this.fc1 = { weight: v('fc1.weight'), bias: v('fc1.bias') };
    this.fc2 = { weight: v('fc2.weight'), bias: v('fc2.bias') };
  }

  /** A freshly initialised classifier (PyTorch-style uniform ±1/√fan_in), deterministic by seed. */
  static init(config: ClassifierConfig = DEFAULT_CLASSIFIER_CONFIG, seed = 0): MnistClassifier {
    const c = checkConfig(config);
    const shapes = paramShapes(c);
    const fanIn: Record<string, number> = { conv1: 9, conv2: 9 * c.conv1, fc1: 49 * c.conv2, fc2: c.hidden };
    const tensors: Record<string, tf.Tensor> = {};
    PARAM_NAMES.forEach((name, i) => {
      const bound = 1 / Math.sqrt(fanIn[name.split('.')[0]]);
      tensors[name] = tf.randomUniform(shapes[name], -bound, bound, 'float32', seed * 100 + i);
    });
    try {
      return new MnistClassifier(c, tensors);
    } finally {
      tf.dispose(Object.values(tensors));
    }
  }

  /** Trainable variables, in file order. */
  variables(): tf.Variable[] {
    return [this.conv1, this.conv2, this.fc1, this.fc2].flatMap((d) => [d.weight, d.bias]);
  }

  /** Penultimate-layer features [B, F] (after the ReLU) of images [B, 1, 28, 28] in [-1, 1]. */
  features(images: tf.Tensor4D): tf.Tensor2D {
    assertImageBatch(images, 'classifier input', null, 1, CLASSIFIER_IMAGE_SIZE, CLASSIFIER_IMAGE_SIZE);
    return tf.tidy(() => {
      const B = images.shape[0];
      const x = tf.transpose(images, [0, 2, 3, 1]) as tf.Tensor4D; // NHWC
      const h1 = tf.maxPool(tf.relu(conv3x3(x, this.conv1.weight, this.conv1.bias)), 2, 2, 'valid');
      const h2 = tf.maxPool(tf.relu(conv3x3(h1, this.conv2.weight, this.conv2.bias)), 2, 2, 'valid');
      const flat = tf.reshape(h2, [B, -1]);
      return tf.relu(tf.add(tf.matMul(flat, this.fc1.weight), this.fc1.bias)) as tf.Tensor2D;
    });
  }

  /** Class logits [B, 10] of images [B, 1, 28, 28] in [-1, 1]. */
  classify(images: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => this.logitsFromFeatures(this.features(images)));
  }

  /** The last layer alone: logits [B, 10] from features [B, F]. */
  logitsFromFeatures(features: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.add(tf.matMul(features, this.fc2.weight), this.fc2.bias) as tf.Tensor2D);
  }

  /** Predicted classes of images given as a flat Float32Array [n, 1, 28, 28], in batches. */
  predict(images: Float32Array, batchSize = 256): Int32Array {
    const per = CLASSIFIER_IMAGE_SIZE * CLASSIFIER_IMAGE_SIZE;
    if (images.length % per !== 0) throw new RangeError(`predict: ${images.length} values are not a whole number of 1×28×28 images`);
    const n = images.length / per;
    const out = new Int32Array(n);
    for (let s = 0; s < n; s += batchSize) {
      const m = Math.min(batchSize, n - s);
      const pred = tf.tidy(() => {
        const x = tf.tensor4d(images.subarray(s * per, (s + m) * per), [m, 1, CLASSIFIER_IMAGE_SIZE, CLASSIFIER_IMAGE_SIZE]);
        return tf.argMax(this.classify(x), 1);
      });
      out.set(pred.dataSync() as Int32Array, s);
      pred.dispose();
    }
    return out;
  }

  /** Fraction of `images` whose predicted class equals `labels`. */
  accuracy(images: Float32Array, labels: Int32Array, batchSize = 256): number {
    const pred = this.predict(images, batchSize);
    if (pred.length !== labels.length) throw new RangeError(`accuracy: ${pred.length} images but ${labels.length} labels`);
    let ok = 0;
    for (let i = 0; i < pred.length; i++) if (pred[i] === labels[i]) ok++;
    return pred.length === 0 ? NaN : ok / pred.length;
  }

  /** Frees the parameters. */
  dispose(): void {
    for (const v of this.variables()) v.dispose();
  }
}

/** Serializes the classifier to safetensors bytes (extra metadata, e.g. test accuracy, is stored as given). */
export function saveClassifier(classifier: MnistClassifier, metadata: Record<string, string> = {}): Uint8Array {
  const tensors = new Map<string, RawTensor>();
  const vars = classifier.variables();
  PARAM_NAMES.forEach((name, i) => tensors.set(name, f32Tensor(vars[i].shape, vars[i].dataSync() as Float32Array)));
  return serializeSafetensors(tensors, { ...metadata, format: CLASSIFIER_FORMAT, config: JSON.stringify(classifier.config) });
}

/** Loads a classifier from safetensors bytes, checking the format, config and every tensor (errors name the problem). */
export function loadClassifier(bytes: Uint8Array): MnistClassifier {
  const file = parseSafetensors(bytes);
  if (file.metadata.format !== CLASSIFIER_FORMAT) {
    throw new CheckpointError(`not an MNIST classifier: metadata 'format' is ${JSON.stringify(file.metadata.format)}, expected '${CLASSIFIER_FORMAT}'`);
  }
  let config: unknown;
  try {
    config = JSON.parse(file.metadata.config ?? '');
  } catch {
    throw new CheckpointError(`classifier: metadata 'config' is missing or not JSON`);
  }
  const c = checkConfig(config);
  for (const name of file.tensors.keys()) {
    if (!(PARAM_NAMES as readonly string[]).includes(name)) throw new CheckpointError(`classifier: unexpected tensor '${name}'`);
  }
  const tensors: Record<string, tf.Tensor> = {};
  try {
    for (const name of PARAM_NAMES) {
      const raw = file.tensors.get(name);
      if (!raw) throw new CheckpointError(`classifier: missing tensor '${name}'`);
      tensors[name] = tf.tensor(toFloat32(raw, name), raw.shape, 'float32');
    }
    return new MnistClassifier(c, tensors);
  } finally {
    tf.dispose(Object.values(tensors));
  }
}

/** The metadata of a classifier file (format, config, test accuracy, …) without loading tensors. */
export function classifierMetadata(bytes: Uint8Array): Record<string, string> {
  return parseSafetensors(bytes).metadata;
}
