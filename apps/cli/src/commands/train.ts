/**
 * `tarflow train`: trains a TarFlow with @tarflow/train's trainTarFlow. The
 * defaults are the default model's recipe (DEFAULT_MNIST_RECIPE); flags
 * override the dataset, any config field and the optimisation settings.
 * Re-running the same command resumes from the newest checkpoint; Ctrl-C
 * writes a checkpoint and stops.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { validateConfig, type TarFlowConfig } from '@tarflow/model';
import { DEFAULT_MNIST_RECIPE, formatProgress, trainTarFlow, type TrainTarFlowOptions } from '@tarflow/train';
import { useBackend, type BackendChoice } from '../backend.js';
import { CliError, UsageError, messageOf } from '../errors.js';
import { emit, note, type CommonFlags } from '../output.js';
import { createProgress, progressEnabled } from '../progress.js';
import { configOverrides, type ConfigFlags } from './convert.js';
import { guidanceFrom, type GuidanceFlags } from './sample.js';

export interface TrainFlags extends CommonFlags, ConfigFlags, GuidanceFlags {
  outDir: string;
  dataset: string;
  split: 'train' | 'test' | 'all';
  limit?: number;
  steps?: number;
  batch?: number;
  lr?: number;
  minLr?: number;
  warmup?: number;
  weightDecay?: number;
  gradClip?: number;
  labelDrop?: number;
  seed?: number;
  checkpointEvery?: number;
  keep?: number;
  sampleEvery?: number;
  samplesPerClass?: number;
  resume: string;
  backend: BackendChoice;
}

function resumeOption(value: string): TrainTarFlowOptions['resume'] {
  if (value === 'auto') return 'auto';
  if (value === 'yes' || value === 'true') return true;
  if (value === 'no' || value === 'false') return false;
  return value; // a .train.safetensors sidecar
}

export async function trainCommand(flags: TrainFlags): Promise<void> {
  const R = DEFAULT_MNIST_RECIPE;
  let config: TarFlowConfig;
  try {
    config = validateConfig({ ...R.config, ...configOverrides(flags) });
  } catch (e) {
    throw new UsageError(messageOf(e));
  }
  const sampleGuidance = guidanceFrom(flags);
  const outDir = await stat(flags.outDir).catch(() => null);
  if (outDir && !outDir.isDirectory()) throw new UsageError(`--out-dir ${flags.outDir}: exists and is not a folder; name a folder to write into`);
  const { name: backend, detail: backendDetail } = await useBackend(flags.backend === 'auto' ? 'wasm' : flags.backend);
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const progress = createProgress(progressEnabled(flags.progress));
  const steps = flags.steps ?? R.steps;
  let started = false;
  try {
    const result = await trainTarFlow({
      config,
      dataset: flags.dataset,
      datasetOptions: {
        split: flags.split,
        size: config.img_size,
        ...(config.in_channels === 1 || config.in_channels === 3 ? { channels: config.in_channels } : {}),
        ...(flags.limit !== undefined ? { limit: flags.limit } : {}),
      },
      outDir: flags.outDir,
      steps,
      batchSize: flags.batch ?? R.batchSize,
      lr: flags.lr ?? R.lr,
      minLr: flags.minLr ?? R.minLr,
      warmupSteps: flags.warmup ?? Math.min(R.warmupSteps, Math.floor(steps / 10)),
      weightDecay: flags.weightDecay ?? R.weightDecay,
      gradClip: flags.gradClip ?? R.gradClip,
      labelDrop: flags.labelDrop ?? R.labelDrop,
      seed: flags.seed ?? R.seed,
      checkpointEvery: flags.checkpointEvery ?? R.checkpointEvery,
      checkpointEverySeconds: R.checkpointEverySeconds,
      keepCheckpoints: flags.keep ?? R.keepCheckpoints,
      sampleEvery: flags.sampleEvery ?? R.sampleEvery,
      samplesPerClass: flags.samplesPerClass ?? R.samplesPerClass,
      sampleGuidance,
      resume: resumeOption(flags.resume),
      signal: controller.signal,
      checkpointOnAbort: true,
      onLog: (m) => {
        if (!flags.json) note(m);
      },
      onProgress: (p) => {
        if (!started) {
          progress.start('train', p.totalSteps);
          progress.increment(p.step - 1);
          started = true;
        }
        progress.increment(1, `loss ${p.loss.toFixed(4)} bpd ${p.bpd.toFixed(3)}`);
        if (!progressEnabled(flags.progress) && !flags.json && (p.step % 50 === 0 || p.step === p.totalSteps)) note(formatProgress(p));
      },
    });
    progress.stop();
    const last = result.losses.length ? result.losses[result.losses.length - 1] : null;
    result.model.dispose();
    emit(
      flags,
      {
        command: 'train',
        backend,
        backendDetail,
        outDir: resolve(flags.outDir),
        model: resolve(flags.outDir, 'model.safetensors'),
        step: result.step,
        finished: result.finished,
        resumedFrom: result.resumedFrom,
        lastCheckpoint: result.lastCheckpoint,
        lastLoss: last,
        config,
      },
      () =>
        [
          `${result.finished ? 'finished' : 'stopped'} at step ${result.step}/${steps}` +
            (result.resumedFrom > 0 ? ` (resumed from step ${result.resumedFrom})` : '') +
            (last !== null ? `, last loss ${last.toFixed(4)}` : ''),
          `model: ${resolve(flags.outDir, 'model.safetensors')}`,
          `last checkpoint: ${result.lastCheckpoint ?? 'none'}`,
          `sample from it: tarflow sample --checkpoint ${resolve(flags.outDir, 'model.safetensors')} --out samples.png`,
        ].join('\n'),
    );
  } catch (e) {
    progress.stop();
    throw e instanceof CliError ? e : new CliError(`train: ${messageOf(e)}`);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
