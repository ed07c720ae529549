/**
 * Fashion-MNIST (Zalando): 60,000 training and 10,000 test 28×28 grayscale
 * images of 10 clothing classes, read from the original IDX files.
 *
 * On Debian/Ubuntu, `apt-get install dataset-fashion-mnist` installs them,
 * gzipped, in `/usr/share/datasets/fashion-mnist/`. Another folder can be
 * given with `dir` or the `TARFLOW_FASHION_MNIST_DIR` environment variable.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { concatDatasets, type ImageDataset } from './dataset.js';
import { DatasetError } from './errors.js';
import { loadIdx } from './idx.js';

/** Where Debian's `dataset-fashion-mnist` package installs the IDX files. */
export const DEBIAN_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
/** Environment variable that overrides the Fashion-MNIST folder. */
export const FASHION_MNIST_DIR_ENV = 'TARFLOW_FASHION_MNIST_DIR';

/** Fashion-MNIST class names, indexed by label. */
export const FASHION_MNIST_CLASSES: readonly string[] = Object.freeze([
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
]);

const FILES = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
} as const;

/** Options of {@link loadFashionMnist}. */
export interface FashionMnistOptions {
  /** Folder with the IDX files. Default: `$TARFLOW_FASHION_MNIST_DIR`, else {@link DEBIAN_FASHION_MNIST_DIR}. */
  dir?: string;
  /** `train` (60,000, the official training set), `test` (10,000, the official test set) or `all` (train then test). Default `train`. */
  split?: 'train' | 'test' | 'all';
  /** Keep only the first `limit` images of each official split that is loaded. */
  limit?: number;
}

/** The folder Fashion-MNIST is read from when no `dir` is given. */
export function fashionMnistDir(dir?: string): string {
  return dir ?? (process.env[FASHION_MNIST_DIR_ENV] || DEBIAN_FASHION_MNIST_DIR);
}

/** Whether the four Fashion-MNIST IDX files (plain or `.gz`) are in the folder, and which are missing. */
export function fashionMnistStatus(dir?: string): { dir: string; available: boolean; missing: string[] } {
  const folder = fashionMnistDir(dir);
  const missing: string[] = [];
  for (const split of Object.values(FILES)) {
    for (const name of [split.images, split.labels]) {
      const p = join(folder, name);
      if (!existsSync(p) && !existsSync(`${p}.gz`)) missing.push(`${name}[.gz]`);
    }
  }
  return { dir: folder, available: missing.length === 0, missing };
}

/**
 * Loads Fashion-MNIST from its IDX files (1×28×28, labels 0–9 with
 * {@link FASHION_MNIST_CLASSES} as class names). Throws DatasetError when the
 * files are missing (saying how to install them) or malformed.
 */
export function loadFashionMnist(options: FashionMnistOptions = {}): ImageDataset {
  const { split = 'train', limit } = options;
  const dir = fashionMnistDir(options.dir);
  const status = fashionMnistStatus(dir);
  if (!status.available) {
    throw new DatasetError(
      dir,
      `Fashion-MNIST not found (missing ${status.missing.join(', ')}); install the Debian package ` +
        `'dataset-fashion-mnist' (files go to ${DEBIAN_FASHION_MNIST_DIR}) or set ${FASHION_MNIST_DIR_ENV} to a folder with the IDX files`,
    );
  }
  const load = (which: 'train' | 'test'): ImageDataset =>
    loadIdx(join(dir, FILES[which].images), join(dir, FILES[which].labels), {
      name: `fashion-mnist/${which}`,
      classNames: [...FASHION_MNIST_CLASSES],
      ...(limit !== undefined ? { limit } : {}),
    });
  if (split === 'train' || split === 'test') return load(split);
  if (split === 'all') return concatDatasets([load('train'), load('test')], 'fashion-mnist/all');
  throw new RangeError(`loadFashionMnist: split must be 'train', 'test' or 'all', got ${String(split)}`);
}
