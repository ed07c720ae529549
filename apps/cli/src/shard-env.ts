/**
 * `--shard auto` and `--shard auto/n`: the shard index from the job runner's
 * environment, so that one command line serves every task of an array job.
 *
 *   Kubernetes Indexed Job   JOB_COMPLETION_INDEX = k ∈ [0, completions)   →  shard k + 1 of n (n from auto/n)
 *   SLURM job array          SLURM_ARRAY_TASK_ID = id ∈ {min, min + step, …, max}
 *                            →  shard (id − min) / step + 1 of (max − min) / step + 1
 *                               (min, max, step: SLURM_ARRAY_TASK_MIN/MAX/STEP; the count
 *                                is checked against SLURM_ARRAY_TASK_COUNT and auto/n)
 *
 * Shards are numbered from 1, as in `--shard i/n`; anything else than `auto`
 * forms goes to `shardArg` unchanged.
 */
import { InvalidArgumentError } from 'commander';
import { shardArg, type Shard } from './args.js';

type Env = Readonly<Record<string, string | undefined>>;

function envInt(env: Env, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  if (!/^\s*\d+\s*$/.test(raw)) throw new InvalidArgumentError(`${name}=${JSON.stringify(raw)} is not a non-negative integer.`);
  return Number(raw);
}

/** Index (from 1) and, where the runner says, count of this task's shard. */
function shardFromEnv(env: Env): { index: number; count?: number; source: string } {
  const k = envInt(env, 'JOB_COMPLETION_INDEX');
  if (k !== undefined) return { index: k + 1, source: 'JOB_COMPLETION_INDEX' };
  const id = envInt(env, 'SLURM_ARRAY_TASK_ID');
  if (id === undefined) {
    throw new InvalidArgumentError(
      "'auto' takes the shard index from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID (a SLURM job array); neither is set. Give i/n instead.",
    );
  }
  const min = envInt(env, 'SLURM_ARRAY_TASK_MIN') ?? 0;
  const step = envInt(env, 'SLURM_ARRAY_TASK_STEP') ?? 1;
  const max = envInt(env, 'SLURM_ARRAY_TASK_MAX');
  const listed = envInt(env, 'SLURM_ARRAY_TASK_COUNT');
  if (step < 1 || id < min || (id - min) % step !== 0) {
    throw new InvalidArgumentError(`SLURM_ARRAY_TASK_ID=${id} is not in the array ${min}-${max ?? '?'}:${step}.`);
  }
  const count = max === undefined ? listed : Math.floor((max - min) / step) + 1;
  if (max !== undefined && listed !== undefined && listed !== count) {
    throw new InvalidArgumentError(
      `the SLURM array is not one range (SLURM_ARRAY_TASK_COUNT=${listed}, but ${min}-${max}:${step} has ${count} tasks); submit it as --array=0-${listed - 1}.`,
    );
  }
  return { index: (id - min) / step + 1, count, source: 'SLURM_ARRAY_TASK_ID' };
}

/**
 * Parses `--shard`: `i/n` as shardArg does; `auto/n` takes i from the
 * environment; `auto` takes i and n from it (SLURM; a Kubernetes Indexed Job
 * does not tell its completions, so it needs auto/n).
 */
export function shardArgWithEnv(value: string, env: Env = process.env): Shard {
  const m = /^\s*auto\s*(?:\/\s*(\d+)\s*)?$/i.exec(value);
  if (!m) return shardArg(value);
  const given = m[1] === undefined ? undefined : Number(m[1]);
  const found = shardFromEnv(env);
  if (given === undefined && found.count === undefined) {
    throw new InvalidArgumentError(`${found.source} gives the shard index but not the number of shards: use --shard auto/n (n = the job's completions).`);
  }
  if (given !== undefined && found.count !== undefined && given !== found.count) {
    throw new InvalidArgumentError(`--shard auto/${given} does not match the SLURM array's ${found.count} tasks.`);
  }
  const count = given ?? found.count!;
  if (found.index > count) throw new InvalidArgumentError(`${found.source} puts this task at shard ${found.index}, beyond ${count} shards.`);
  return shardArg(`${found.index}/${count}`);
}
