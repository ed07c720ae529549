/**
 * The WGSL programs of the fused kernels on WebGPU, one function per program,
 * each following its loop in ../math.ts (the exact semantics) in float32:
 *
 *   embed      h[r, i, c] = x[r mod B, i] · W_in[c] + b[c] + pos[start + i, c] + class_r[c]
 *   linear     y[m, n]    = act(LN(x[m]) · W[n] + b[n]) + residual[m, n]
 *   kvWrite    cache[layer, k|v, r, h, start + i, :] = qkv[r, i, k|v, h, :]        (in place)
 *   attention  o[r, i, h]  = Σ_j softmax_j(s_r · q[r, i, h] · K[r, h, j]) V[r, h, j],  j ≤ start + i
 *   affine     p[b, i, d]  = p_c + w (p_c − p_u),  p = x[row, i] · W_out[col] + b[col]
 *
 * Flat programs (embed, kvWrite, affine) run one thread per output value.
 * linear runs a workgroup per tile of rows × columns, its rows staged in
 * workgroup memory; attention a workgroup per (head, position, row), its
 * scores in workgroup memory. Widths are baked into the code; the span's
 * start and length n are uniforms, so a block compiles each program once per
 * row count.
 */
import { FusedProgram, GELU_WGSL, ROW_FROM_GROUPS, WORKGROUP, rowGroups } from './program.js';
import { LAYER_NORM_EPS } from '../math.js';

/** Input embedding of [copies · B, n, C]: x [B, n, D], weight [C, D], bias [C], pos [T, C], labels [B] (int32), classEmbed [K, C]. */
export function embedProgram(o: { B: number; n: number; D: number; C: number; copies: number; classes: number; labels: boolean }): FusedProgram {
  const { B, n, D, C, copies, classes, labels } = o;
  const names = ['x', 'weight', 'bias', 'pos', ...(labels ? ['labels'] : []), ...(classes > 0 ? ['classEmbed'] : [])];
  const classTerm =
    classes === 0
      ? '0.0'
      : `classValue(${labels ? 'select(-1, labels[src], r < B)' : '-1'}, c)`;
  return new FusedProgram(
    `tarflowEmbed_${D}_${C}_${classes}_${labels}`,
    names,
    copies * B * n * C,
    copies * B * n * C,
    'start : i32, rows : i32, n : i32, B : i32,',
    `
const D = ${D};
const C = ${C};
const CLASSES = ${classes};
${
  classes > 0
    ? `fn classValue(label : i32, c : i32) -> f32 {
  if (label >= 0 && label < CLASSES) { return classEmbed[label * C + c]; }
  var mean = 0.0;
  for (var k = 0; k < CLASSES; k++) { mean += classEmbed[k * C + c]; }
  return mean / f32(CLASSES);
}`
    : ''
}
fn main(index : i32) {
  let n = uniforms.n;
  let B = uniforms.B;
  if (index >= uniforms.rows * n * C) { return; }
  let c = index % C;
  let i = (index / C) % n;
  let r = index / (n * C);
  let src = r % B;
  let xo = (src * n + i) * D;
  var acc = 0.0;
  for (var d = 0; d < D; d++) { acc += x[xo + d] * weight[c * D + d]; }
  result[index] = acc + bias[c] + pos[(uniforms.start + i) * C + c] + ${classTerm};
}
`,
  );
}

/** `count` lines of WGSL from a line per index. */
const each = (count: number, line: (i: number) => string): string => Array.from({ length: count }, (_, i) => line(i)).join('\n  ');

/** Output rows and columns each thread of a linear workgroup computes at most (it reuses every load that many times). */
export const LINEAR_TILE = 4;
/** Input values (over all its rows) a linear workgroup stages in workgroup memory at a time. */
export const LINEAR_STAGE = 2048;

/**
 * y [M, N] = act(LN(x) Wᵀ + b) + residual: x [M, K], weight [N, K], bias [N],
 * normWeight/normBias [K], residual [M, N]. A workgroup's 64 threads are RT
 * row-threads × CT column-threads; each computes up to 4 rows × 4 columns, so
 * every load feeds four products. The workgroup stages its rows (normalised,
 * each row's mean and 1/σ from one thread) in workgroup memory a chunk at a
 * time; x and W are read four values per load when K is a multiple of 4.
 */
export function linearProgram(o: { M: number; K: number; N: number; norm: boolean; gelu: boolean; residual: boolean }): FusedProgram {
  const { M, K, N, norm, gelu, residual } = o;
  const RPT = Math.min(LINEAR_TILE, M);
  const RT = M <= RPT ? 1 : M <= 2 * RPT ? 2 : 4; // divides the workgroup
  const CT = WORKGROUP / RT;
  const CPT = LINEAR_TILE;
  const rows = RT * RPT;
  const cols = CT * CPT;
  const W = K % 4 === 0 ? 4 : 1;
  const KW = K / W;
  const chunk = Math.min(KW, Math.floor(LINEAR_STAGE / rows / W));
  const V = W === 4 ? 'vec4<f32>' : 'f32';
  const names = ['x', 'weight', 'bias', ...(norm ? ['normWeight', 'normBias'] : []), ...(residual ? ['residual'] : [])];
  const components = [W, W, 1, ...(norm ? [W, W] : []), ...(residual ? [1] : [])];
  return new FusedProgram(
    `tarflowLinear_${K}_${N}_${RPT}_${RT}_${norm}_${gelu}_${residual}`,
    names,
    M * N,
    rowGroups(Math.ceil(N / cols), Math.ceil(M / rows)),
    'rows : i32,',
    `
const K = ${K};
const KW = ${KW};
const N = ${N};
const RPT = ${RPT};
const CT = ${CT};
const CPT = ${CPT};
const ROWS = ${rows};
const CHUNK = ${chunk};
var<workgroup> xs : array<${V}, ${rows * chunk}>;
var<workgroup> stats : array<vec2<f32>, ${rows}>;
fn total(v : ${V}) -> f32 { return ${W === 4 ? 'v.x + v.y + v.z + v.w' : 'v'}; }
fn dotV(a : ${V}, b : ${V}) -> f32 { return ${W === 4 ? 'dot(a, b)' : 'a * b'}; }
${gelu ? GELU_WGSL : ''}
fn store(row : i32, col : i32, acc : f32) {
  if (row < uniforms.rows && col < N) {
    var y = acc + bias[col];
    ${gelu ? 'y = tarflowGelu(y);' : ''}
    ${residual ? 'y += residual[row * N + col];' : ''}
    result[row * N + col] = y;
  }
}
fn main() {
  let tid = i32(localIndex);
  let tc = tid % CT;
  let tr = tid / CT;
  let row0 = (${ROW_FROM_GROUPS}) * ROWS;
  let last = uniforms.rows - 1;
  let col0 = i32(workgroupId.x) * ${cols} + tc;
  ${
    norm
      ? `if (tid < ROWS) {
    let xo = min(row0 + tid, last) * KW;
    var s = 0.0;
    for (var k = 0; k < KW; k++) { s += total(x[xo + k]); }
    let mean = s / f32(K);
    var q = 0.0;
    for (var k = 0; k < KW; k++) { let d = x[xo + k] - mean; q += dotV(d, d); }
    stats[tid] = vec2<f32>(mean, 1.0 / sqrt(q / f32(K) + ${LAYER_NORM_EPS}));
  }
  workgroupBarrier();`
      : ''
  }
  ${each(CPT, (c) => `let wo${c} = min(col0 + ${c * CT}, N - 1) * KW;`)}
  ${each(RPT, (r) => each(CPT, (c) => `var acc${r}_${c} = 0.0;`))}
  for (var c0 = 0; c0 < KW; c0 += CHUNK) {
    for (var e = tid; e < ROWS * CHUNK; e += ${WORKGROUP}) {
      let r = e / CHUNK;
      let k = c0 + e % CHUNK;
      var v = ${V}(0.0);
      if (k < KW) {
        v = x[min(row0 + r, last) * KW + k];
        ${norm ? 'v = (v - stats[r].x) * stats[r].y * normWeight[k] + normBias[k];' : ''}
      }
      xs[e] = v;
    }
    workgroupBarrier();
    let count = min(CHUNK, KW - c0);
    for (var k = 0; k < count; k++) {
      ${each(CPT, (c) => `let w${c} = weight[wo${c} + c0 + k];`)}
      ${each(RPT, (r) => `let x${r} = xs[(tr * RPT + ${r}) * CHUNK + k];`)}
      ${each(RPT, (r) => each(CPT, (c) => `acc${r}_${c} += dotV(x${r}, w${c});`))}
    }
    workgroupBarrier();
  }
  ${each(RPT, (r) => each(CPT, (c) => `store(row0 + tr * RPT + ${r}, col0 + ${c * CT}, acc${r}_${c});`))}
}
`,
    components,
  );
}

/** The cache's geometry: [L, 2, R, H, T, hd]. */
export interface CacheShape {
  R: number;
  H: number;
  T: number;
  hd: number;
}

/** Writes the keys and values of qkv [R, n, 3C] into positions [start, start + n) of layer `layer` of the cache (the output, in place). */
export function kvWriteProgram(o: CacheShape & { L: number; n: number }): FusedProgram {
  const { L, R, H, T, hd, n } = o;
  return new FusedProgram(
    `tarflowKVWrite_${R}_${H}_${T}_${hd}`,
    ['qkv'],
    L * 2 * R * H * T * hd, // the cache itself, passed to runProgram as the output
    R * n * H * hd,
    'start : i32, n : i32, layer : i32,',
    `
const R = ${R};
const H = ${H};
const T = ${T};
const HD = ${hd};
const C = ${H * hd};
fn main(index : i32) {
  let n = uniforms.n;
  if (index >= R * n * C) { return; }
  let d = index % HD;
  let h = (index / HD) % H;
  let i = (index / C) % n;
  let r = index / (n * C);
  let src = (r * n + i) * 3 * C + h * HD + d;
  let dst = ((r * H + h) * T + uniforms.start + i) * HD + d;
  let kBase = uniforms.layer * 2 * R * H * T * HD;
  result[kBase + dst] = qkv[src + C];
  result[kBase + R * H * T * HD + dst] = qkv[src + 2 * C];
}
`,
  );
}

/** Keys whose scores an attention workgroup holds in workgroup memory at a time. */
export const ATTENTION_TILE = 256;

/**
 * Causal attention of qkv's queries [R, n, 3C] over layer `layer` of the
 * cache: a workgroup per (head, position, row) — both guidance branches are
 * rows of the one dispatch. Its threads compute a tile of scores into
 * workgroup memory; the threads owning output channels then take the tile's
 * softmax weights themselves, with a running maximum and sum across tiles
 * (one tile when T ≤ ATTENTION_TILE: the two-pass softmax of math.ts), and
 * accumulate V. Output [R, n, C].
 */
export function attentionProgram(o: CacheShape & { n: number }): FusedProgram {
  const { R, H, T, hd, n } = o;
  const tile = Math.min(ATTENTION_TILE, Math.ceil(T / WORKGROUP) * WORKGROUP);
  const W = hd % 4 === 0 ? 4 : 1;
  const HW = hd / W;
  const perThread = Math.ceil(HW / WORKGROUP);
  const V = W === 4 ? 'vec4<f32>' : 'f32';
  const program = new FusedProgram(
    `tarflowAttention_${R}_${H}_${T}_${hd}`,
    ['qkv', 'cache', 'scales'],
    R * n * H * hd,
    [H, n, R],
    'start : i32, n : i32, layer : i32,',
    `
const R = ${R};
const H = ${H};
const T = ${T};
const HW = ${HW};
const CW = ${H * HW};
const TILE = ${tile};
const LOWEST = -3.4028234e38;
var<workgroup> scores : array<f32, TILE>;
fn dotV(a : ${V}, b : ${V}) -> f32 { return ${W === 4 ? 'dot(a, b)' : 'a * b'}; }
fn main() {
  let tid = i32(localIndex);
  let h = i32(workgroupId.x);
  let i = i32(workgroupId.y);
  let r = i32(workgroupId.z);
  let n = uniforms.n;
  let total = uniforms.start + i + 1;
  let s = scales[r];
  let q = (r * n + i) * 3 * CW + h * HW;
  let kv = (r * H + h) * T * HW;
  let kBase = uniforms.layer * 2 * R * H * T * HW + kv;
  let vBase = kBase + R * H * T * HW;
  var m = LOWEST;
  var l = 0.0;
  var acc : array<${V}, ${perThread}>;
  for (var c0 = 0; c0 < T; c0 += TILE) {
    for (var j = tid; j < TILE; j += ${WORKGROUP}) {
      if (c0 + j < total) {
        let k = kBase + (c0 + j) * HW;
        var dot = 0.0;
        for (var d = 0; d < HW; d++) { dot += dotV(qkv[q + d], cache[k + d]); }
        scores[j] = dot * s;
      }
    }
    workgroupBarrier();
    // Each thread that owns output channels reads the tile's scores itself: no reductions, no more barriers.
    if (tid < HW) {
      let count = clamp(total - c0, 0, TILE);
      var mNew = m;
      for (var j = 0; j < count; j++) { mNew = max(mNew, scores[j]); }
      let f = exp(m - mNew);
      l = l * f;
      for (var u = 0; u < ${perThread}; u++) { acc[u] = acc[u] * f; }
      for (var j = 0; j < count; j++) {
        let e = exp(scores[j] - mNew);
        l += e;
        for (var u = 0; u < ${perThread}; u++) {
          let d = tid + u * ${WORKGROUP};
          if (d < HW) { acc[u] += e * cache[vBase + (c0 + j) * HW + d]; }
        }
      }
      m = mNew;
    }
    workgroupBarrier();
  }
  for (var u = 0; u < ${perThread}; u++) {
    let d = tid + u * ${WORKGROUP};
    if (d < HW) { result[(r * n + i) * CW + h * HW + d] = acc[u] / l; }
  }
}
`,
    [W, W, 1],
  );
  program.outputComponent = W;
  return program;
}

/**
 * One half of the affine output, [B, n, D]: the log-scale (part 'alpha') or
 * the shift ('gamma') from x [R, n, C], weight [P, C], bias [P], guided by the
 * unconditional rows [B, 2B) when `guided`. Without nvp the log-scale is 0
 * and there is no program for it.
 */
export function affineProgram(o: {
  B: number; n: number; D: number; C: number; nvp: boolean; part: 'alpha' | 'gamma'; guided: boolean; annealed: boolean;
}): FusedProgram {
  const { B, n, D, C, nvp, part, guided, annealed } = o;
  if (part === 'alpha' && !nvp) throw new Error('affineProgram: without nvp the log-scale is 0 (no program)');
  const offset = part === 'gamma' && nvp ? D : 0;
  const weightOf = annealed ? 'f32(uniforms.start + i + 1) / f32(uniforms.tokens - 1) * uniforms.scale' : 'uniforms.scale';
  return new FusedProgram(
    `tarflowAffine_${D}_${C}_${offset}_${guided}_${annealed}`,
    ['x', 'weight', 'bias'],
    B * n * D,
    B * n * D,
    'start : i32, n : i32, B : i32, tokens : i32, scale : f32,',
    `
const D = ${D};
const C = ${C};
const OFFSET = ${offset};
fn project(row : i32, i : i32, col : i32) -> f32 {
  let xo = (row * uniforms.n + i) * C;
  var acc = 0.0;
  for (var k = 0; k < C; k++) { acc += x[xo + k] * weight[col * C + k]; }
  return acc + bias[col];
}
fn main(index : i32) {
  let n = uniforms.n;
  let B = uniforms.B;
  if (index >= B * n * D) { return; }
  let d = index % D;
  let i = (index / D) % n;
  let b = index / (n * D);
  var p = project(b, i, OFFSET + d);
  ${guided ? `let w = ${weightOf};\n  p = p + w * (p - project(b + B, i, OFFSET + d));` : ''}
  result[index] = p;
}
`,
  );
}
