import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '@tarflow/backends';
import { DatasetError, encodePng, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC } from '@tarflow/data';
import { trainTarFlow, type TrainTarFlowOptions } from '../src/index.js';
import { tempDir } from './helpers.js';

const tmp = tempDir('tarflow-train-data-');
beforeAll(async () => {
  await selectBackend('wasm');
});
afterAll(() => tmp.remove());

/** An unsigned-byte IDX file: magic, big-endian dimensions, data. */
function idx(magic: number, dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, magic, false);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** A Fashion-MNIST folder with the given training files (and a valid one-image test split). */
function fashionDir(name: string, images: Uint8Array, labels: Uint8Array): string {
  const dir = join(tmp.dir, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'train-images-idx3-ubyte'), images);
  writeFileSync(join(dir, 'train-labels-idx1-ubyte'), labels);
  writeFileSync(join(dir, 't10k-images-idx3-ubyte'), idx(IDX_IMAGES_MAGIC, [1, 28, 28], new Uint8Array(784)));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idx(IDX_LABELS_MAGIC, [1], new Uint8Array([0])));
  return dir;
}

const options = (dataset: string, datasetOptions: TrainTarFlowOptions['datasetOptions'], size = 28): TrainTarFlowOptions => ({
  config: { in_channels: 1, img_size: size, patch_size: 4, channels: 16, num_blocks: 1, layers_per_block: 1, num_classes: 10, head_dim: 8 },
  dataset,
  datasetOptions,
  outDir: join(tmp.dir, 'out'),
  steps: 1,
  batchSize: 1,
});

async function failure(o: TrainTarFlowOptions): Promise<DatasetError> {
  const e = await trainTarFlow(o).then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(DatasetError);
  return e as DatasetError;
}

describe('corrupt dataset inputs through trainTarFlow', () => {
  const goodLabels = idx(IDX_LABELS_MAGIC, [2], new Uint8Array([3, 7]));

  it('a truncated IDX file', async () => {
    const images = idx(IDX_IMAGES_MAGIC, [2, 28, 28], new Uint8Array(2 * 784)).subarray(0, 1000);
    const dir = fashionDir('truncated', images, goodLabels);
    const e = await failure(options('fashion-mnist', { dir }));
    expect(e.file).toBe(join(dir, 'train-images-idx3-ubyte'));
    expect(e.message).toMatch(/train-images-idx3-ubyte: truncated IDX file: dimensions 2x28x28 need 1568 data bytes, found 984/);
  });

  it('a wrong magic number', async () => {
    const images = idx(IDX_LABELS_MAGIC, [2, 28, 28], new Uint8Array(2 * 784));
    const dir = fashionDir('magic', images, goodLabels);
    const e = await failure(options('fashion-mnist', { dir }));
    expect(e.message).toMatch(/train-images-idx3-ubyte: wrong magic number 0x00000801.*expected 0x00000803/);
  });

  it('a non-PNG file in an image folder', async () => {
    const dir = join(tmp.dir, 'pngs');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'a.png'), encodePng(new Uint8Array(16 * 16).fill(128), 16, 16, 1));
    writeFileSync(join(dir, 'notes.txt'), 'not an image');
    const e = await failure(options(dir, { channels: 1, size: 16 }, 16));
    expect(e.message).toBe(`${join(dir, 'notes.txt')}: not a PNG file (every file in an image folder must be a .png image)`);
  });

  it('a corrupt .png file in an image folder', async () => {
    const dir = join(tmp.dir, 'badpng');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'b.png'), new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]));
    const e = await failure(options(dir, { channels: 1, size: 16 }, 16));
    expect(e.file).toBe(join(dir, 'b.png'));
  });

  it('a dataset that does not exist', async () => {
    const e = await failure(options(join(tmp.dir, 'nowhere'), {}));
    expect(e.message).toMatch(/nowhere: unknown dataset: expected 'mnist', 'fashion-mnist' or the path of a folder of PNG images/);
  });
});
