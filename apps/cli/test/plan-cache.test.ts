/**
 * Plans that outlive a process: the plan cache folder (--plan-cache,
 * --no-plan-cache) and plans shipped in a model file (plan --save-into).
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSafetensors } from '@tarflow/checkpoint';
import { fixturesDir } from '@tarflow/test-fixtures';
import { tarflow, tempDir } from './helpers.js';

const UNCOND = join(fixturesDir(), 'tiny-uncond.safetensors');
const COND = join(fixturesDir(), 'tiny-cond.safetensors');

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  tmp = tempDir();
});
afterAll(() => tmp.cleanup());

const depth = ['--objective', 'depth', '--batch', '2', '--backend', 'wasm'];
// Quick plans keep these runs short; what is kept and looked up does not depend on the effort.
const plan = (model: string, dir: string, extra: string[] = []) => tarflow(['plan', '--checkpoint', model, ...depth, '--effort', 'quick', '--plan-cache', dir, '--json', ...extra]);
const sample = (model: string, extra: string[]) => tarflow(['sample', '--checkpoint', model, ...depth, '--json', ...extra]);
const planFiles = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('plans-'));

describe('plan cache folder', () => {
  it('a plan made by one process is used by the next; not for another model or backend', async () => {
    const dir = join(tmp.dir, 'reuse');
    const made = await plan(UNCOND, dir);
    expect(made.code, made.stderr).toBe(0);
    const p = JSON.parse(made.stdout);
    expect(planFiles(dir)).toHaveLength(1);

    const again = await sample(UNCOND, ['--plan-cache', dir]);
    expect(again.code, again.stderr).toBe(0);
    const s = JSON.parse(again.stdout);
    expect(s.plan.source).toBe('kept');
    expect(s.strategy).toBe(p.text);
    expect(s.plan.planningMs).toBe(0);

    const cpu = await sample(UNCOND, ['--plan-cache', dir, '--backend', 'cpu']);
    expect(cpu.code, cpu.stderr).toBe(0);
    expect(JSON.parse(cpu.stdout).plan.source).toBe('planned');
    const other = await sample(COND, ['--plan-cache', dir]);
    expect(other.code, other.stderr).toBe(0);
    expect(JSON.parse(other.stdout).plan.source).toBe('planned');
  }, 600_000); // four processes, three of them planning

  it('corrupt entries: a note, a plan made afresh, and the entry rewritten whole', async () => {
    const dir = join(tmp.dir, 'corrupt');
    expect((await plan(UNCOND, dir)).code).toBe(0);
    const [file] = planFiles(dir);
    const good = readFileSync(join(dir, file), 'utf8');

    writeFileSync(join(dir, file), good.slice(0, good.length >> 1));
    const r = await sample(UNCOND, ['--plan-cache', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/plan cache: .*plans-.*\.json is corrupt .*ignored/);
    expect(JSON.parse(r.stdout).plan.source).toBe('planned');
    expect(() => JSON.parse(readFileSync(join(dir, file), 'utf8'))).not.toThrow();

    // Valid JSON, but a strategy for another number of blocks: never used.
    const records = JSON.parse(good);
    records[0].plan.strategy = [{ kind: 'sequential' }];
    writeFileSync(join(dir, file), JSON.stringify(records));
    const w = await sample(UNCOND, ['--plan-cache', dir]);
    expect(w.code, w.stderr).toBe(0);
    expect(w.stderr).toMatch(/plan cache: plan 0 is unreadable/);
    expect(JSON.parse(w.stdout).plan.source).toBe('planned');
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  }, 600_000);

  it('two processes planning at once leave one valid entry', async () => {
    const dir = join(tmp.dir, 'race');
    const [a, b] = await Promise.all([plan(UNCOND, dir), plan(UNCOND, dir)]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const files = planFiles(dir);
    expect(files).toHaveLength(1);
    const records = JSON.parse(readFileSync(join(dir, files[0]), 'utf8'));
    expect(records).toHaveLength(1);
    const s = await sample(UNCOND, ['--plan-cache', dir]);
    expect(JSON.parse(s.stdout).plan.source).toBe('kept');
  });

  it('--no-plan-cache neither reads nor writes', async () => {
    const cache = join(tmp.dir, 'xdg');
    mkdirSync(cache);
    const r = await tarflow(['sample', '--checkpoint', UNCOND, ...depth, '--no-plan-cache', '--json'], { env: { XDG_CACHE_HOME: cache } });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).plan.source).toBe('planned');
    expect(readdirSync(cache)).toEqual([]);
    // Without the flag the platform folder is used.
    const kept = await tarflow(['sample', '--checkpoint', UNCOND, ...depth, '--json'], { env: { XDG_CACHE_HOME: cache } });
    expect(kept.code, kept.stderr).toBe(0);
    expect(readdirSync(join(cache, 'tarflow', 'plans')).some((f) => f.startsWith('plans-'))).toBe(true);
  });
});

describe('plans shipped in the model file', () => {
  it('plan --save-into writes them; sample uses them where backend and settings match, and says why not elsewhere', async () => {
    const file = join(tmp.dir, 'with-plans.safetensors');
    const made = await plan(UNCOND, join(tmp.dir, 'ship-cache'), ['--save-into', file]);
    expect(made.code, made.stderr).toBe(0);
    const meta = parseSafetensors(new Uint8Array(readFileSync(file))).metadata;
    const shipped = JSON.parse(meta.plans);
    expect(shipped.plans).toHaveLength(1);
    expect(shipped.plans[0]).toMatchObject({ backend: 'wasm', engine: 'fused', objective: 'depth', plan: { batch: { min: 2 } } });

    const used = await sample(file, ['--no-plan-cache']);
    expect(used.code, used.stderr).toBe(0);
    const u = JSON.parse(used.stdout);
    expect(u.plan.source).toBe('shipped');
    expect(u.strategy).toBe(JSON.parse(made.stdout).text);

    const cpu = await sample(file, ['--no-plan-cache', '--backend', 'cpu']);
    expect(cpu.code, cpu.stderr).toBe(0);
    const c = JSON.parse(cpu.stdout);
    expect(c.plan.source).toBe('planned');
    expect(c.plan.notes.join('\n')).toMatch(/made for backend wasm, this is cpu: not used/);

    const plain = await sample(file, ['--no-plan-cache', '--engine', 'plain']);
    expect(plain.code, plain.stderr).toBe(0);
    const p = JSON.parse(plain.stdout);
    expect(p.plan.source).toBe('planned');
    expect(p.plan.notes.join('\n')).toMatch(/made for the fused engine, this run uses the plain engine: not used/);

    const small = await sample(file, ['--no-plan-cache', '--batch', '1']);
    expect(JSON.parse(small.stdout).plan.notes.join('\n')).toMatch(/valid for batches of 2 or more, not 1/);
  });
});
