#!/usr/bin/env node
/**
 * Acceleration study: can the toughest block of a model converge in fewer
 * dependent evaluations than plain Jacobi? Runs, on the first-sampled block
 * (or --block k), plain Jacobi against
 *  - Anderson acceleration with memory m (per-sample least squares over the
 *    last m residual differences; positions the Jacobi wavefront has fixed
 *    keep their Jacobi value, so the exactness after T iterations is kept);
 *  - Newton-type steps x ← x + (I − J)⁻¹ (F(x) − x) with a fixed strictly
 *    lower-triangular J: the Jacobian at the exact solution averaged over
 *    other samples, and (an oracle) each sample's own Jacobian at its own
 *    solution, in full and banded to w previous tokens.
 * Each costs one network pass per iteration (depth 1); J is computed by
 * central differences. Prints mean/max |x − x*| in the block's output after
 * each iteration. Results are in docs/planner.md.
 *
 *   node packages/metrics/scripts/acceleration-study.mjs --checkpoint model.safetensors \
 *     [--count 32] [--iterations 16] [--jacobians 2] [--guidance 2] [--temperature 1] [--block 0]
 *
 * Needs `pnpm build` first. The Jacobians are slow on a CPU (about a minute each here).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { tf } from '@tarflow/tensor';
import '@tensorflow/tfjs-backend-wasm';
import { loadModel } from '@tarflow/model';
import { solveBlock } from '@tarflow/solvers';

const { values: args } = parseArgs({
  options: {
    checkpoint: { type: 'string' },
    count: { type: 'string', default: '32' },
    iterations: { type: 'string', default: '16' },
    jacobians: { type: 'string', default: '2' },
    guidance: { type: 'string', default: '2' },
    temperature: { type: 'string', default: '1' },
    block: { type: 'string', default: '0' },
    memories: { type: 'string', default: '1,2,4' },
  },
});
if (!args.checkpoint) {
  console.error('acceleration-study: --checkpoint is required');
  process.exit(2);
}
await tf.setBackend('wasm');
const model = loadModel(new Uint8Array(readFileSync(args.checkpoint)));
const N = Number(args.count), K = Number(args.iterations), C = Number(args.jacobians);
const T = model.tokens, L = model.blocks.length, D = model.patchDim, U = (T - 1) * D;
const scale = Number(args.guidance);
const guidance = scale > 0 ? { scale } : undefined;
const k0 = Number(args.block);

/** Noise through the blocks before k0 exactly; returns block k0's input, map and exact output. */
function setup(n, seed) {
  const labels = tf.tensor1d(Array.from({ length: n }, (_, i) => (i + seed) % 10), 'int32');
  let x = tf.mul(tf.mul(tf.randomNormal([n, T, D], 0, 1, 'float32', seed), tf.sqrt(model.priorVar)), Number(args.temperature));
  for (let k = 0; ; k++) {
    const index = L - 1 - k;
    const map = model.samplingMap(index, labels, guidance);
    const z = model.permute(x, model.blocks[index]);
    const exact = solveBlock(map, z, { kind: 'sequential' }).x;
    if (k === k0) return { n, labels, index, map, z, exact };
    x = model.permute(exact, model.blocks[index]);
  }
}
/** One Jacobi map application F(x) on the whole block. */
const F = (s, x, map = s.map, z = s.z, n = s.n) =>
  tf.tidy(() => {
    const r = map.evaluate(tf.slice(x, [0, 0, 0], [-1, T - 1, -1]), 0, map.emptyCache(n));
    const v = tf.add(tf.mul(tf.exp(r.params.logScale), tf.slice(z, [0, 1, 0], [-1, T - 1, -1])), r.params.shift);
    return tf.concat([tf.slice(z, [0, 0, 0], [-1, 1, -1]), v], 1);
  });
const err = (s, x) => tf.tidy(() => {
  const d = tf.abs(tf.sub(x, s.exact));
  return `${tf.mean(d).dataSync()[0].toExponential(1)}/${tf.max(d).dataSync()[0].toFixed(2)}`;
});
function solveSmall(A, b) {
  const m = b.length, M = A.map((r) => r.slice()), v = b.slice();
  for (let i = 0; i < m; i++) M[i][i] += 1e-10 * (1 + M[i][i]);
  for (let i = 0; i < m; i++) {
    let p = i;
    for (let r = i + 1; r < m; r++) if (Math.abs(M[r][i]) > Math.abs(M[p][i])) p = r;
    [M[i], M[p]] = [M[p], M[i]];
    [v[i], v[p]] = [v[p], v[i]];
    for (let r = 0; r < m; r++) if (r !== i) { const f = M[r][i] / M[i][i]; for (let c = i; c < m; c++) M[r][c] -= f * M[i][c]; v[r] -= f * v[i]; }
  }
  return v.map((vi, i) => vi / M[i][i]);
}
/** Runs K iterations of `step` from the 'noise' guess and prints the error after each. */
function run(label, s, step) {
  let x = tf.clone(s.z);
  const out = [];
  for (let it = 1; it <= K; it++) {
    const next = step(x, it);
    x.dispose();
    x = next;
    out.push(`${it}:${err(s, x)}`);
  }
  x.dispose();
  console.log(`${label.padEnd(22)} ${out.join(' ')}`);
}
const jacobi = (s) => (x) => F(s, x);
function anderson(s, m) {
  const hx = [], hg = [];
  return (x, it) => {
    const g = F(s, x);
    hx.push(tf.clone(x)); hg.push(tf.clone(g));
    if (hx.length > m + 1) { hx.shift().dispose(); hg.shift().dispose(); }
    const mk = hx.length - 1;
    if (mk === 0) return g;
    const next = tf.tidy(() => {
      const f = hx.map((xi, i) => tf.sub(hg[i], xi).reshape([s.n, -1]));
      const dF = f.slice(1).map((fi, i) => tf.sub(fi, f[i]));
      const dG = hg.slice(1).map((gi, i) => tf.sub(gi, hg[i]).reshape([s.n, -1]));
      const gram = dF.map((a) => dF.map((b) => tf.sum(tf.mul(a, b), 1).dataSync()));
      const rhs = dF.map((a) => tf.sum(tf.mul(a, f[mk]), 1).dataSync());
      const gam = Array.from({ length: mk }, () => new Float32Array(s.n));
      for (let b = 0; b < s.n; b++) {
        const sol = solveSmall(gram.map((r) => r.map((c) => c[b])), rhs.map((r) => r[b]));
        for (let i = 0; i < mk; i++) gam[i][b] = sol[i];
      }
      let acc = g.reshape([s.n, -1]);
      for (let i = 0; i < mk; i++) acc = tf.sub(acc, tf.mul(tf.tensor2d(gam[i], [s.n, 1]), dG[i]));
      const keep = Math.min(T, it + 1); // the Jacobi wavefront: positions < it + 1 are exact already
      return tf.concat([tf.slice(g, [0, 0, 0], [-1, keep, -1]), tf.slice(acc.reshape([s.n, T, D]), [0, keep, 0], [-1, T - keep, -1])], 1);
    });
    g.dispose();
    return next;
  };
}
/** dF/dx at sample b's exact solution, [U out × U in], by central differences. */
function jacobian(s, b, eps = 1e-2) {
  return tf.tidy(() => {
    const labels = tf.fill([U], s.labels.arraySync()[b], 'int32');
    const map = model.samplingMap(s.index, labels, guidance);
    const x0 = tf.tile(tf.slice(s.exact, [b, 0, 0], [1, -1, -1]), [U, 1, 1]);
    const z0 = tf.tile(tf.slice(s.z, [b, 0, 0], [1, -1, -1]), [U, 1, 1]);
    const e = tf.concat([tf.zeros([U, 1, D]), tf.mul(tf.eye(U), eps).reshape([U, T - 1, D])], 1);
    const fp = F(s, tf.add(x0, e), map, z0, U), fm = F(s, tf.sub(x0, e), map, z0, U);
    return tf.div(tf.sub(fp, fm), 2 * eps).slice([0, 1, 0], [-1, -1, -1]).reshape([U, U]).transpose().dataSync().slice();
  });
}
const banded = (J, w) => J.map((v, i) => { const t = Math.floor(Math.floor(i / U) / D), c = Math.floor((i % U) / D); return c >= t - w ? v : 0; });
/** Newton-type step with a fixed lower-triangular J per sample: solve (I − J) d = F(x) − x by substitution. */
function newton(s, Jof) {
  return (x) => {
    const g = F(s, x);
    const r = tf.tidy(() => tf.sub(g, x).slice([0, 1, 0], [-1, -1, -1]).reshape([s.n, U]).dataSync());
    g.dispose();
    const upd = new Float32Array(s.n * U);
    for (let b = 0; b < s.n; b++) {
      const J = Jof(b);
      for (let i = 0; i < U; i++) {
        let v = r[b * U + i];
        for (let k = 0; k < Math.floor(i / D) * D; k++) v += J[i * U + k] * upd[b * U + k];
        upd[b * U + i] = v;
      }
    }
    return tf.tidy(() => tf.add(x, tf.concat([tf.zeros([s.n, 1, D]), tf.tensor3d(upd, [s.n, T - 1, D])], 1)));
  };
}

console.log(`model ${args.checkpoint}: block ${k0} in sampling order (forward ${L - 1 - k0}), T=${T}, guidance ${scale}, temperature ${args.temperature}; mean/max |x − x*| after each iteration`);
const test = setup(N, 7);
console.log(`-- ${N} samples`);
run('jacobi', test, jacobi(test));
for (const m of args.memories.split(',').map(Number)) run(`anderson m=${m}`, test, anderson(test, m));
if (C > 0) {
  const calib = setup(C, 1234);
  const Js = Array.from({ length: C }, (_, b) => jacobian(calib, b));
  const avg = new Float32Array(U * U);
  for (const J of Js) for (let i = 0; i < U * U; i++) avg[i] += J[i] / C;
  run(`newton, J averaged over ${C} others`, test, newton(test, () => avg));
  console.log(`-- the ${C} Jacobian samples themselves (oracle: each its own J at its own solution)`);
  run('jacobi', calib, jacobi(calib));
  run('newton, own J', calib, newton(calib, (b) => Js[b]));
  for (const w of [1, 3]) {
    const Bs = Js.map((J) => banded(J, w));
    run(`newton, own J band ${w}`, calib, newton(calib, (b) => Bs[b]));
  }
}
