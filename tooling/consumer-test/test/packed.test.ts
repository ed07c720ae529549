/**
 * The packages as a user gets them: every public package is packed with
 * `pnpm pack` and the tarballs are installed with plain `npm install` into
 * projects outside the workspace (turbo builds the packages first: they are
 * this package's dependencies).
 *
 * - "library": what the root README's "Using the library" example imports,
 *   plus @tarflow/backends — the wasm-only consumer, whose install size is
 *   measured (target ≤ 150 MB; Dawn, the `webgpu` package, stays out);
 * - "everything": all tarballs; CommonJS require(), and a strict TypeScript
 *   check without skipLibCheck of a user's own CausalAffineMap.
 *
 * The README examples are run as printed: the root README's "Using the
 * library" block, and in each package README the first ```ts/```js block under
 * a heading containing "Example".
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const fixtures = join(here, '..', 'fixtures');

interface PublicPackage {
  name: string;
  dir: string;
}

/** Every workspace package that is not private (packages/*, apps/*). */
function publicPackages(): PublicPackage[] {
  const found: PublicPackage[] = [];
  for (const group of ['packages', 'apps']) {
    for (const entry of readdirSync(join(root, group)).sort()) {
      const file = join(root, group, entry, 'package.json');
      if (!existsSync(file)) continue;
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name: string; private?: boolean };
      if (!pkg.private) found.push({ name: pkg.name, dir: join(root, group, entry) });
    }
  }
  return found;
}

/** The first ```ts/```js block after the heading matching `heading` (up to the next heading of that level or above). */
function exampleBlock(markdown: string, heading: RegExp): string | null {
  const lines = markdown.split('\n');
  const at = lines.findIndex((l) => /^#{1,6}\s/.test(l) && heading.test(l.replace(/^#+\s*/, '')));
  if (at < 0) return null;
  const level = /^#+/.exec(lines[at])![0].length;
  for (let i = at + 1; i < lines.length; i++) {
    const h = /^(#{1,6})\s/.exec(lines[i]);
    if (h && h[1].length <= level) return null;
    if (/^```(ts|typescript|js|javascript|mjs)\s*$/.test(lines[i])) {
      const end = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l));
      return end < 0 ? null : lines.slice(i + 1, end).join('\n');
    }
  }
  return null;
}

const packages = publicPackages();
const byName = new Map(packages.map((p) => [p.name, p]));
const LIBRARY = ['@tarflow/tensor', '@tarflow/checkpoint', '@tarflow/solvers', '@tarflow/model', '@tarflow/metrics', '@tarflow/zoo', '@tarflow/backends'];
const readmeExample = exampleBlock(readFileSync(join(root, 'README.md'), 'utf8'), /^Using the library$/);
const packageExamples = packages.flatMap((p) => {
  const file = join(p.dir, 'README.md');
  const code = existsSync(file) ? exampleBlock(readFileSync(file, 'utf8'), /example/i) : null;
  return code ? [{ name: p.name, code }] : [];
});

let work = '';
const tarballs = new Map<string, string>();

/**
 * The environment of a user's shell: without NODE_PATH, which pnpm's bin
 * shims point into the workspace's store (CommonJS resolution would find
 * workspace packages there).
 */
const userEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_PATH'));

function run(cmd: string, args: string[], cwd: string, timeoutMs = 600_000): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'], env: { ...userEnv, npm_config_loglevel: 'error' } });
}

/** A fresh npm project outside the workspace with the tarballs of `names` (and the packages they need) installed. */
function project(dir: string, names: string[], extra: Record<string, string> = {}): string {
  const path = join(work, dir);
  mkdirSync(path, { recursive: true });
  const spec = (n: string) => `file:${relative(path, tarballs.get(n)!)}`;
  const all = [...tarballs.keys()];
  const pkg = {
    name: `tarflow-consumer-${dir}`,
    private: true,
    type: 'module',
    dependencies: { ...Object.fromEntries(names.map((n) => [n, spec(n)])), ...extra },
    // the tarballs name each other by version (0.1.0), which only they provide
    overrides: Object.fromEntries(all.filter((n) => !names.includes(n)).map((n) => [n, spec(n)])),
  };
  writeFileSync(join(path, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], path);
  return path;
}

function duBytes(path: string): number {
  let total = 0;
  for (const e of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, e.name);
    if (e.isDirectory()) total += duBytes(p);
    else if (e.isFile()) total += statSync(p).size;
  }
  return total;
}

/** Runs a README code block as an ES module in `cwd` (TypeScript syntax stripped, nothing else changed). */
function runExample(code: string, cwd: string, file: string): { status: number | null; stdout: string; stderr: string } {
  const js = transformSync(code, { loader: 'ts', format: 'esm', target: 'es2022' }).code;
  writeFileSync(join(cwd, file), js);
  const r = spawnSync('node', [file], { cwd, encoding: 'utf8', timeout: 900_000, env: userEnv });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

let library = '';
let everything = '';

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'tarflow-consumer-'));
  const packs = join(work, 'tarballs');
  mkdirSync(packs);
  for (const p of packages) {
    const before = new Set(readdirSync(packs));
    run('pnpm', ['pack', '--pack-destination', packs], p.dir);
    const made = readdirSync(packs).filter((f) => !before.has(f));
    expect(made, `pnpm pack in ${p.dir}`).toHaveLength(1);
    tarballs.set(p.name, join(packs, made[0]));
  }
  library = project('library', LIBRARY);
  everything = project('everything', packages.map((p) => p.name), { typescript: '5.9.3', '@types/node': '^20.19.0' });
  for (const f of ['causal-map.mts', 'imports.mts', 'require.cts', 'require.cjs']) copyFileSync(join(fixtures, f), join(everything, f));
});

afterAll(() => {
  if (work && process.env.TARFLOW_CONSUMER_KEEP !== '1') rmSync(work, { recursive: true, force: true });
});

describe('packed packages installed with npm outside the workspace', () => {
  it('this package depends on every public package, so turbo builds them before the test', () => {
    const own = JSON.parse(readFileSync(join(here, '..', 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    expect(packages.map((p) => p.name).filter((n) => !(n in own.devDependencies))).toEqual([]);
    expect(LIBRARY.filter((n) => !byName.has(n))).toEqual([]);
  });

  it('every tarball carries its LICENSE and publishing metadata, and no workspace: protocol', () => {
    for (const p of packages) {
      const listing = run('tar', ['-tzf', tarballs.get(p.name)!], work).split('\n');
      expect(listing, p.name).toContain('package/LICENSE');
      const manifest = JSON.parse(run('tar', ['-xzOf', tarballs.get(p.name)!, 'package/package.json'], work)) as Record<string, unknown>;
      expect(manifest.license, p.name).toBe('MIT');
      expect(manifest.engines, p.name).toEqual({ node: '>=20.19' });
      expect((manifest.repository as { directory?: string }).directory, p.name).toBe(relative(root, p.dir));
      expect(JSON.stringify(manifest), p.name).not.toContain('workspace:');
    }
  });

  it('the wasm-only consumer installs without Dawn, in at most 150 MB', () => {
    expect(existsSync(join(library, 'node_modules', 'webgpu'))).toBe(false);
    expect(existsSync(join(library, 'node_modules', '@tensorflow', 'tfjs'))).toBe(false); // tfjs-core only, not the umbrella
    const mb = duBytes(join(library, 'node_modules')) / 2 ** 20;
    const all = duBytes(join(everything, 'node_modules')) / 2 ** 20;
    console.log(`node_modules: library (wasm-only) ${mb.toFixed(1)} MB; every package ${all.toFixed(1)} MB (with typescript and @types/node)`);
    expect(mb).toBeLessThanOrEqual(150);
  });

  it('Node WebGPU without the webgpu package fails in one line naming it', () => {
    const code = "import { selectBackend } from '@tarflow/backends'; selectBackend('webgpu').then(() => console.log('started'), (e) => console.log(e.message));";
    writeFileSync(join(library, 'webgpu-missing.mjs'), code);
    const out = run('node', ['webgpu-missing.mjs'], library).trim();
    expect(out).toBe("backend 'webgpu' is unavailable: WebGPU in Node needs Dawn, the npm package 'webgpu', which is not installed: npm install webgpu");
  });

  it('CommonJS: require() of @tarflow/solvers and @tarflow/model', () => {
    const out = JSON.parse(run('node', ['require.cjs'], everything)) as { solvers: number; model: string; tf: string; sameTfjs: boolean };
    expect(out.solvers).toBeGreaterThan(0);
    expect(out).toMatchObject({ model: 'function', tf: 'function', sameTfjs: true });
  });

  it('strict TypeScript without skipLibCheck: a CausalAffineMap of ones own, the library and backend declarations (ESM), and require() from CommonJS TypeScript', () => {
    const tsconfig = {
      compilerOptions: { strict: true, skipLibCheck: false, noEmit: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', lib: ['es2022', 'dom'] },
      files: ['causal-map.mts', 'imports.mts', 'require.cts'],
    };
    writeFileSync(join(everything, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
    const r = spawnSync('node', [join('node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: everything, encoding: 'utf8', env: userEnv });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it("the root README's 'Using the library' example runs as printed, on wasm, with the plan shipped in the model file", () => {
    expect(readmeExample).not.toBeNull();
    const r = runExample(readmeExample!, library, 'readme-example.mjs');
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    // `shipped`: the strategy came from the model file, so the example does no planning of its own.
    expect(r.stdout).toMatch(/^shipped \d+ of \d+ dependent evaluations$/m);
  });

  it("the root README's 'Using the library' block is found", () => {
    expect(readmeExample).toMatch(/from '@tarflow\/model'/);
  });

  for (const { name, code } of packageExamples) {
    it(`the README example of ${name} runs as printed`, () => {
      const r = runExample(code, everything, `${name.replace(/\W/g, '_')}-example.mjs`);
      expect(r.stderr).not.toMatch(/Error/);
      expect(r.status).toBe(0);
    });
  }
});
