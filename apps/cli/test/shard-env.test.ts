/** `--shard auto[/n]`: the shard index from a Kubernetes Indexed Job's or a SLURM array's environment. */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from 'commander';
import { shardArgWithEnv } from '../src/shard-env.js';
import { shardRange } from '../src/commands/sample.js';

describe('--shard from the job runner', () => {
  it('explicit i/n ignores the environment', () => {
    expect(shardArgWithEnv('2/4', { JOB_COMPLETION_INDEX: '0' })).toEqual({ index: 2, count: 4 });
    expect(() => shardArgWithEnv('5/4', {})).toThrow(InvalidArgumentError);
  });

  it('Kubernetes Indexed Job: index k (from 0) is shard k + 1; the count comes from auto/n', () => {
    expect(shardArgWithEnv('auto/4', { JOB_COMPLETION_INDEX: '0' })).toEqual({ index: 1, count: 4 });
    expect(shardArgWithEnv('auto/4', { JOB_COMPLETION_INDEX: '3' })).toEqual({ index: 4, count: 4 });
    expect(shardArgWithEnv(' AUTO / 4 ', { JOB_COMPLETION_INDEX: '2' })).toEqual({ index: 3, count: 4 });
    expect(() => shardArgWithEnv('auto', { JOB_COMPLETION_INDEX: '0' })).toThrow(/use --shard auto\/n/);
    expect(() => shardArgWithEnv('auto/4', { JOB_COMPLETION_INDEX: '4' })).toThrow(/beyond 4 shards/);
    expect(() => shardArgWithEnv('auto/4', { JOB_COMPLETION_INDEX: '-1' })).toThrow(/not a non-negative integer/);
  });

  it('SLURM array: index and count from the array range, with any first id and step', () => {
    const array = (id: number, min: number, max: number, step?: number) => ({
      SLURM_ARRAY_TASK_ID: String(id),
      SLURM_ARRAY_TASK_MIN: String(min),
      SLURM_ARRAY_TASK_MAX: String(max),
      SLURM_ARRAY_TASK_COUNT: String(Math.floor((max - min) / (step ?? 1)) + 1),
      ...(step === undefined ? {} : { SLURM_ARRAY_TASK_STEP: String(step) }),
    });
    expect(shardArgWithEnv('auto', array(0, 0, 7))).toEqual({ index: 1, count: 8 });
    expect(shardArgWithEnv('auto', array(7, 0, 7))).toEqual({ index: 8, count: 8 });
    expect(shardArgWithEnv('auto', array(5, 1, 8))).toEqual({ index: 5, count: 8 });
    expect(shardArgWithEnv('auto', array(6, 0, 6, 2))).toEqual({ index: 4, count: 4 });
    expect(shardArgWithEnv('auto/8', array(3, 0, 7))).toEqual({ index: 4, count: 8 });
    expect(() => shardArgWithEnv('auto/4', array(3, 0, 7))).toThrow(/does not match the SLURM array's 8 tasks/);
    expect(() => shardArgWithEnv('auto', array(3, 0, 6, 2))).toThrow(/not in the array/);
    // --array=1,3,7: three tasks that are not one range
    expect(() => shardArgWithEnv('auto', { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_MAX: '7', SLURM_ARRAY_TASK_COUNT: '3' })).toThrow(
      /not one range/,
    );
  });

  it('every task of an array gets its own shard, and together they cover the run once', () => {
    const total = 10;
    const covered: number[] = [];
    for (let id = 0; id < 4; id++) {
      const shard = shardArgWithEnv('auto', { SLURM_ARRAY_TASK_ID: String(id), SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '3', SLURM_ARRAY_TASK_COUNT: '4' });
      const { start, end } = shardRange(total, shard);
      for (let i = start; i < end; i++) covered.push(i);
    }
    expect(covered).toEqual([...Array(total).keys()]);
  });

  it('says which variables it reads when neither runner set them', () => {
    expect(() => shardArgWithEnv('auto/4', {})).toThrow(/JOB_COMPLETION_INDEX .* SLURM_ARRAY_TASK_ID .* neither is set/);
  });
});
