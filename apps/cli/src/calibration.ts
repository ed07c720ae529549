/**
 * A calibration batch of images for `metrics`, `plan` and `bench`: a
 * safetensors file with tensor `x` [B, C, H, W], or a dataset (mnist,
 * fashion-mnist, or a folder of PNGs), brought to the model's image size.
 */
import { tf, type ImageBatch } from '@tarflow/tensor';
import { loadDataset } from '@tarflow/data';
import type { TarFlow } from '@tarflow/model';
import { CliError, UsageError, messageOf } from './errors.js';
import { checkImages, floatTensor, readSafetensors } from './files.js';

export interface CalibrationFlags {
  images?: string;
  dataset?: string;
  count: number;
  split?: 'train' | 'test';
}

/** Loads the calibration images as a tensor (the caller disposes it), or null when no source is given. */
export async function loadCalibration(model: TarFlow, flags: CalibrationFlags): Promise<{ images: ImageBatch; what: string } | null> {
  const { in_channels: C, img_size: S } = model.config;
  if (flags.images !== undefined && flags.dataset !== undefined) throw new UsageError('give either --images or --dataset, not both');
  if (flags.images !== undefined) {
    const file = await readSafetensors(flags.images, '--images file');
    const t = floatTensor(file, 'x', flags.images, '--images file', [null, C, S, S]);
    if (t.shape[0] < 1) throw new CliError(`--images file ${flags.images}: tensor 'x' holds no images`);
    checkImages(t.data, t.shape, `--images file ${flags.images}: tensor 'x'`, { range: true });
    return { images: tf.tensor4d(t.data, t.shape as [number, number, number, number]), what: `${flags.images} (${t.shape[0]} images)` };
  }
  if (flags.dataset !== undefined) {
    let ds;
    try {
      ds = loadDataset(flags.dataset, {
        split: flags.split ?? 'test',
        limit: flags.count,
        size: S,
        ...(C === 1 || C === 3 ? { channels: C } : {}),
      });
    } catch (e) {
      throw new CliError(`--dataset ${flags.dataset}: ${messageOf(e)}`);
    }
    if (ds.channels !== C || ds.height !== S || ds.width !== S) {
      throw new CliError(`--dataset ${flags.dataset}: images are ${ds.channels}×${ds.height}×${ds.width} but the model needs ${C}×${S}×${S}`);
    }
    if (ds.count === 0) throw new CliError(`--dataset ${flags.dataset} holds no images`);
    return { images: tf.tensor4d(ds.images, [ds.count, C, S, S]), what: `${ds.name} (${ds.count} images)` };
  }
  return null;
}
