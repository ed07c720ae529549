/**
 * @tarflow/zoo — the models TarFlow embeds, each with the classifier that
 * judges its samples:
 *
 * - `mnist` (the default): `mnist-cond.safetensors`, a class-conditional
 *   MNIST TarFlow trained by `@tarflow/train`, judged by
 *   `mnist-classifier.safetensors`;
 * - `fashion-mnist`: `fashion-cond.safetensors`, the same recipe on
 *   Fashion-MNIST, judged by `fashion-classifier.safetensors`.
 *
 * Load a model with `@tarflow/model`'s `loadModel` (its config and
 * recommended sampling settings are in the file's metadata) and a classifier
 * with `@tarflow/classifier`'s `loadClassifier`. The files ship in the
 * package's `assets/` folder. Browsers (and bundlers, which understand
 * `new URL('…', import.meta.url)`) use the URLs; Node reads the bytes with
 * {@link modelBytes} / {@link defaultModelBytes} / {@link classifierBytes}.
 * {@link ZOO_MODELS} lists the models ({@link zooModel} finds one by name).
 */

/** URL of the default model file, next to this module (`../assets/`). */
export const defaultModelUrl: URL = new URL('../assets/mnist-cond.safetensors', import.meta.url);

/** URL of the MNIST classifier file. */
export const classifierUrl: URL = new URL('../assets/mnist-classifier.safetensors', import.meta.url);

/** URL of the Fashion-MNIST model file. */
export const fashionModelUrl: URL = new URL('../assets/fashion-cond.safetensors', import.meta.url);

/** URL of the Fashion-MNIST classifier file. */
export const fashionClassifierUrl: URL = new URL('../assets/fashion-classifier.safetensors', import.meta.url);

/** File names of the assets inside `assets/`. */
export const ASSET_FILES = {
  defaultModel: 'mnist-cond.safetensors',
  classifier: 'mnist-classifier.safetensors',
  fashionModel: 'fashion-cond.safetensors',
  fashionClassifier: 'fashion-classifier.safetensors',
} as const;

/** How a zoo model is meant to be sampled (the same shape as `@tarflow/model`'s `RecommendedSampling`). */
export interface ZooSampling {
  readonly guidance: { readonly scale: number; readonly on: 'both'; readonly annealed: boolean };
  readonly temperature: number;
  readonly denoise: boolean;
}

/**
 * How the shipped default model is meant to be sampled (see docs/training.md
 * for the evaluation behind these values): the exact sequential sampler at
 * this temperature with this classifier-free guidance, then one score-based
 * denoising step. The model file records the same settings in its `sampling`
 * metadata, which `@tarflow/model`'s `loadModel` reads into
 * `model.recommended` — prefer that; this constant remains for callers that
 * want the settings without loading the model.
 */
export const DEFAULT_MODEL_SAMPLING: ZooSampling = {
  guidance: { scale: 1, on: 'both', annealed: false },
  temperature: 0.5,
  denoise: true,
};

/**
 * How the Fashion-MNIST model is meant to be sampled, chosen on its own
 * selection set by accuracy and Fréchet distance (docs/training.md: unlike the
 * default model it needs strong guidance); its file records the same settings.
 */
export const FASHION_MODEL_SAMPLING: ZooSampling = {
  guidance: { scale: 3, on: 'both', annealed: false },
  temperature: 0.5,
  denoise: true,
};

/** One model of the zoo: its files, what its classes are, and how it is meant to be sampled. */
export interface ZooModel {
  /** The name commands and callers use (`tarflow sample --model <name>`). */
  readonly name: string;
  /** Its name for people: 'MNIST', 'Fashion-MNIST'. */
  readonly title: string;
  /** One line: what the model draws. */
  readonly description: string;
  /** The dataset it was trained on (`@tarflow/data`'s `loadDataset` name). */
  readonly dataset: 'mnist' | 'fashion-mnist';
  /** The model file (TarFlow safetensors). */
  readonly modelUrl: URL;
  /** The classifier that judges its samples (`loadClassifier`). */
  readonly classifierUrl: URL;
  /** Class names, indexed by label. */
  readonly classNames: readonly string[];
  /** Recommended sampling; the model file's `sampling` metadata records the same. */
  readonly sampling: ZooSampling;
}

/** The models of the zoo; the first is the default. */
export const ZOO_MODELS: readonly ZooModel[] = [
  {
    name: 'mnist',
    title: 'MNIST',
    description: 'class-conditional MNIST digits (the default model)',
    dataset: 'mnist',
    modelUrl: defaultModelUrl,
    classifierUrl,
    classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    sampling: DEFAULT_MODEL_SAMPLING,
  },
  {
    name: 'fashion-mnist',
    title: 'Fashion-MNIST',
    description: 'class-conditional Fashion-MNIST clothing',
    dataset: 'fashion-mnist',
    modelUrl: fashionModelUrl,
    classifierUrl: fashionClassifierUrl,
    classNames: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
    sampling: FASHION_MODEL_SAMPLING,
  },
];

/** Name of the default model. */
export const DEFAULT_MODEL_NAME = 'mnist';

/** The zoo's model names, default first. */
export function zooModelNames(): string[] {
  return ZOO_MODELS.map((m) => m.name);
}

/** The zoo model called `name`; an unknown name throws a one-line error listing the names. */
export function zooModel(name: string): ZooModel {
  const model = ZOO_MODELS.find((m) => m.name === name);
  if (!model) throw new RangeError(`unknown zoo model '${name}': expected one of ${zooModelNames().join(', ')}`);
  return model;
}

/**
 * Reads an asset's bytes: from the file system for `file:` URLs (Node),
 * with `fetch` otherwise (browsers). Errors name the asset and its location.
 */
export async function readAsset(url: URL): Promise<Uint8Array> {
  try {
    if (url.protocol === 'file:') {
      const { readFile } = await import('node:fs/promises');
      return new Uint8Array(await readFile(url));
    }
    const res = await fetch(url);
    if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
    return new Uint8Array(await res.arrayBuffer());
  } catch (e) {
    throw new Error(`@tarflow/zoo: cannot read asset ${url.href}: ${(e as Error).message}`, { cause: e });
  }
}

/** The safetensors bytes of the zoo model called `name` (default: the default model). */
export function modelBytes(name: string = DEFAULT_MODEL_NAME): Promise<Uint8Array> {
  return readAsset(zooModel(name).modelUrl);
}

/** The safetensors bytes of the classifier of the zoo model called `name` (default: the MNIST classifier). */
export function classifierBytes(name: string = DEFAULT_MODEL_NAME): Promise<Uint8Array> {
  return readAsset(zooModel(name).classifierUrl);
}

/** The default model's safetensors bytes (class-conditional MNIST TarFlow). */
export function defaultModelBytes(): Promise<Uint8Array> {
  return readAsset(defaultModelUrl);
}
