/**
 * Training checkpoints on disk.
 *
 * A checkpoint at step s is a pair of safetensors files in `<outDir>/checkpoints/`:
 *
 * - `step-<s>.safetensors`: the model exactly as `@tarflow/model`'s `saveModel`
 *   writes it (tensor names of the reference's state_dict, config in the
 *   metadata), so the file loads with `loadModel` like any other model. Its
 *   metadata also carries `train_step`.
 * - `step-<s>.train.safetensors`: the optimizer state, tensors `optim.m.<name>`
 *   and `optim.v.<name>` for every trainable tensor `<name>` of the model, and
 *   the metadata `train_state` (JSON, {@link TrainState}): step, epoch, position
 *   in the epoch, the options the run was started with, and the FNV-1a hash of
 *   the model file.
 *
 * Both are written atomically (temporary file, fsync, rename), model first.
 * A sidecar therefore only exists once its model file is complete; resuming
 * takes the newest pair whose recorded hash matches the model file.
 */
import { readdir, readFile, unlink } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError, f32Tensor, parseSafetensors, serializeSafetensors, toFloat32, type RawTensor } from '@tarflow/checkpoint';
import { writeFileAtomic } from '@tarflow/checkpoint/node';
import { fnv1a32 } from '@tarflow/tensor/hash';
import { loadModel, saveModel, stateDict, type TarFlow } from '@tarflow/model';
import type { AdamW, AdamWState } from './adamw.js';

/** What a training run records about itself in each checkpoint (metadata `train_state`). */
export interface TrainState {
  /** Format version of this record. */
  version: 1;
  /** Optimizer steps completed; training resumes at this step. */
  step: number;
  /** Epoch of the next step, and that step's batch index within the epoch. */
  epoch: number;
  batchInEpoch: number;
  stepsPerEpoch: number;
  /**
   * Randomness: every random draw of step s (batch order, noise, label drop)
   * is derived from (seed, s), so the position in all random streams is `step`.
   */
  rng: { seed: number; position: number };
  /** The training options that must not change across a resume. */
  options: Record<string, unknown>;
  /** Name of the model file of this checkpoint and its FNV-1a hash. */
  modelFile: string;
  modelHash: string;
  /** Wall-clock milliseconds spent training up to this checkpoint (all sessions). */
  elapsedMs: number;
  /** Mean loss over the steps since the previous checkpoint. */
  recentLoss: number | null;
}

/** A checkpoint read back from disk. */
export interface LoadedCheckpoint {
  model: TarFlow;
  state: TrainState;
  optimizer: AdamWState;
  modelPath: string;
  statePath: string;
}

const STEP_FILE = /^step-(\d+)\.train\.safetensors$/;
const MODEL_FILE = /^step-(\d+)\.safetensors$/;

export function checkpointDir(outDir: string): string {
  return join(outDir, 'checkpoints');
}

export function checkpointPaths(outDir: string, step: number): { model: string; state: string; modelFile: string } {
  const base = `step-${String(step).padStart(7, '0')}`;
  return {
    model: join(checkpointDir(outDir), `${base}.safetensors`),
    state: join(checkpointDir(outDir), `${base}.train.safetensors`),
    modelFile: `${base}.safetensors`,
  };
}

/** The state_dict name of every trainable variable of the model, in `trainableVariables()` order. */
export function trainableNames(model: TarFlow): string[] {
  const byTensor = new Map<object, string>();
  for (const [name, t] of stateDict(model)) byTensor.set(t, name);
  return model.trainableVariables().map((v, i) => {
    const name = byTensor.get(v);
    if (!name) throw new Error(`trainable variable ${i} (${v.name}) has no state_dict name`);
    return name;
  });
}

/**
 * Writes the checkpoint of `state.step` (model, then sidecar, each atomic)
 * and returns the model file's path. Also writes `<outDir>/model.safetensors`,
 * the latest weights, for convenience.
 */
export async function writeCheckpoint(
  outDir: string,
  model: TarFlow,
  optimizer: AdamW,
  state: Omit<TrainState, 'modelFile' | 'modelHash'>,
): Promise<string> {
  const paths = checkpointPaths(outDir, state.step);
  const modelBytes = saveModel(model, { train_step: String(state.step) });
  await writeFileAtomic(paths.model, modelBytes);
  const full: TrainState = { ...state, modelFile: paths.modelFile, modelHash: fnv1a32(modelBytes) };
  const names = trainableNames(model);
  const opt = optimizer.getState();
  if (opt.step !== state.step) throw new Error(`checkpoint: optimizer has taken ${opt.step} steps but the run is at step ${state.step}`);
  const tensors = new Map<string, RawTensor>();
  const vars = model.trainableVariables();
  names.forEach((name, i) => {
    tensors.set(`optim.m.${name}`, f32Tensor(vars[i].shape, opt.m[i]));
    tensors.set(`optim.v.${name}`, f32Tensor(vars[i].shape, opt.v[i]));
  });
  const meta = { format: 'tarflow-train-state', train_state: JSON.stringify(full) };
  await writeFileAtomic(paths.state, serializeSafetensors(tensors, meta));
  await writeFileAtomic(join(outDir, 'model.safetensors'), modelBytes);
  return paths.model;
}

/** Steps of the checkpoints in `outDir`, newest first (by sidecar file name). */
export async function listCheckpoints(outDir: string): Promise<number[]> {
  const dir = checkpointDir(outDir);
  if (!existsSync(dir)) return [];
  const steps: number[] = [];
  for (const f of await readdir(dir)) {
    const m = STEP_FILE.exec(f);
    if (m) steps.push(Number(m[1]));
  }
  return steps.sort((a, b) => b - a);
}

/** Reads the sidecar at `statePath` and its model file, checking that they belong together. */
export async function readCheckpoint(statePath: string): Promise<LoadedCheckpoint> {
  const file = parseSafetensors(new Uint8Array(await readFile(statePath)));
  const text = file.metadata.train_state;
  if (text === undefined) throw new CheckpointError(`${statePath}: not a training checkpoint (metadata 'train_state' is missing)`);
  let state: TrainState;
  try {
    state = JSON.parse(text) as TrainState;
  } catch (e) {
    throw new CheckpointError(`${statePath}: metadata 'train_state' is not valid JSON: ${(e as Error).message}`);
  }
  if (state.version !== 1) throw new CheckpointError(`${statePath}: unsupported train_state version ${String(state.version)}`);
  const modelPath = join(statePath, '..', state.modelFile);
  if (!existsSync(modelPath)) throw new CheckpointError(`${statePath}: its model file ${modelPath} is missing`);
  const modelBytes = new Uint8Array(await readFile(modelPath));
  const hash = fnv1a32(modelBytes);
  if (hash !== state.modelHash) {
    throw new CheckpointError(`${modelPath}: hash ${hash} does not match ${state.modelHash} recorded in ${statePath} (the files are from different saves)`);
  }
  const model = loadModel(modelBytes);
  try {
    const names = trainableNames(model);
    const vars = model.trainableVariables();
    const get = (key: string, i: number): Float32Array => {
      const raw = file.tensors.get(key);
      if (!raw) throw new CheckpointError(`${statePath}: missing optimizer tensor '${key}'`);
      if (raw.shape.length !== vars[i].shape.length || raw.shape.some((d, k) => d !== vars[i].shape[k])) {
        throw new CheckpointError(`${statePath}: optimizer tensor '${key}' has shape [${raw.shape}] but the parameter has [${vars[i].shape}]`);
      }
      return toFloat32(raw, key);
    };
    const optimizer: AdamWState = {
      step: state.step,
      m: names.map((n, i) => get(`optim.m.${n}`, i)),
      v: names.map((n, i) => get(`optim.v.${n}`, i)),
    };
    return { model, state, optimizer, modelPath, statePath };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/**
 * The newest readable checkpoint in `outDir`, or null when there is none.
 * Unreadable or mismatched pairs are skipped; `onSkip` hears why.
 */
export async function latestCheckpoint(outDir: string, onSkip?: (path: string, why: string) => void): Promise<LoadedCheckpoint | null> {
  for (const step of await listCheckpoints(outDir)) {
    const { state } = checkpointPaths(outDir, step);
    try {
      return await readCheckpoint(state);
    } catch (e) {
      onSkip?.(state, (e as Error).message);
    }
  }
  return null;
}

/**
 * Deletes all but the newest `keep` checkpoints (sidecar first, then model),
 * and model files older than the newest checkpoint that have no sidecar (left
 * by a kill between the two writes of a checkpoint).
 */
export async function pruneCheckpoints(outDir: string, keep: number): Promise<void> {
  const steps = await listCheckpoints(outDir);
  for (const step of steps.slice(Math.max(1, keep))) {
    const p = checkpointPaths(outDir, step);
    await unlink(p.state).catch(() => undefined);
    await unlink(p.model).catch(() => undefined);
  }
  if (steps.length === 0) return;
  const kept = new Set(steps.slice(0, Math.max(1, keep)));
  for (const f of await readdir(checkpointDir(outDir))) {
    const m = MODEL_FILE.exec(f);
    if (m && !kept.has(Number(m[1])) && Number(m[1]) < steps[0]) await unlink(join(checkpointDir(outDir), f)).catch(() => undefined);
  }
}
