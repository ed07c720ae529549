/**
 * scripts/gpu-train.sh (training on a lent GPU machine, docs/training.md) cannot
 * run here without a GPU; what can be checked here is that the scripts parse and
 * that its command line and missing pieces fail early, with exit 2 and a reason.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const stage = mkdtempSync(join(tmpdir(), 'tarflow-gpu-train-stage-'));
afterAll(() => rmSync(stage, { recursive: true, force: true }));

function run(file: string, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', [join(root, file), ...args], { cwd: stage, env: { ...process.env, TARFLOW_GPU_TRAIN_STAGE: stage, TARFLOW_GPU_TRAIN_PIECES: join(stage, 'no-pieces'), OUT: join(stage, 'out') } }, (error, _stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stderr }),
    );
  });
}

describe.concurrent('scripts/gpu-train.sh', () => {
  it.each(['scripts/gpu-train.sh', 'scripts/gpu-train-prepare.sh', 'scripts/gpu-node-env.sh', 'scripts/gpu-bench.sh'])('%s parses (bash -n)', async (file) => {
    const r = await new Promise<number>((resolve) => execFile('bash', ['-n', join(root, file)], (e) => resolve(e ? 1 : 0)));
    expect(r).toBe(0);
  });

  it.each([
    [[], /expected 'stage' or 'run', got ''/],
    [['train'], /expected 'stage' or 'run', got 'train'/],
    [['stage', '--seconds', '5'], /stage takes no options/],
    [['run', '--seconds', '0'], /--seconds needs a positive integer/],
    [['run', '--steps', 'many'], /--steps needs a positive integer/],
    [['run', '--fast'], /unknown option --fast/],
  ] as const)('refuses %j with exit 2', async (args, message) => {
    const r = await run('scripts/gpu-train.sh', [...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('run names the first piece that is not staged', async () => {
    const r = await run('scripts/gpu-train.sh', ['run', '--seconds', '60']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/runtime\/train\.mjs is not staged: carry \.gpu-train\/runtime/);
  });

  it('prepare needs a run folder with checkpoints', async () => {
    const none = await run('scripts/gpu-train-prepare.sh', []);
    expect(none.code).toBe(2);
    const missing = await run('scripts/gpu-train-prepare.sh', [join(stage, 'no-run')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no-run has no checkpoints\/ folder/);
  });
});
