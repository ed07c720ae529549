import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDataset, type ImageDataset } from '@tarflow/data';
import type { TarFlowConfig } from '@tarflow/model';

/** 8×8 images, patch 2 → 16 tokens of dimension 4; two one-layer blocks of 16 channels; 3 classes. */
export const TINY_CONFIG: TarFlowConfig = {
  in_channels: 1,
  img_size: 8,
  patch_size: 2,
  channels: 16,
  num_blocks: 2,
  layers_per_block: 1,
  num_classes: 3,
  noise_std: 0.05,
  head_dim: 8,
  expansion: 2,
  nvp: true,
};

/**
 * 48 synthetic 8×8 images in 3 classes (a bright row, column or diagonal on
 * black, with a little seeded jitter), as an ImageDataset.
 */
export function tinyDataset(count = 48): ImageDataset {
  const images = new Float32Array(count * 64).fill(-1);
  const labels = new Int32Array(count);
  let s = 12345;
  const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (let i = 0; i < count; i++) {
    const k = i % 3;
    labels[i] = k;
    const at = 2 + Math.floor(rand() * 4);
    for (let j = 0; j < 8; j++) {
      const [y, x] = k === 0 ? [at, j] : k === 1 ? [j, at] : [j, j];
      images[i * 64 + y * 8 + x] = 0.8 + 0.2 * rand();
    }
  }
  return createDataset({ name: 'tiny', images, labels, channels: 1, height: 8, width: 8, numClasses: 3 });
}

/** A fresh temporary folder and its remover. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
