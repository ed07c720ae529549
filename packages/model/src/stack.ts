/**
 * The stacked evaluation of TarFlow blocks, for the joint solve of the whole
 * flow (solveChainSteps): the parameters of S blocks stacked on a leading
 * axis, so that one network pass — batched matrix products over the blocks —
 * evaluates every block on its own input, and one joint iteration is one
 * dependent network evaluation.
 *
 * The network is TarFlow's block network (tarflow.ts) over [S, B, n, ·]
 * instead of [B, n, ·], from position 0 (no cache). For memory, each layer
 * runs in its own tidy and the MLP in slices of the batch: a stacked pass
 * over every block at batch 64 with guidance otherwise holds ~1.9 GB.
 */
import { tf, type PatchSeq } from '@tarflow/tensor';
import { chainFromMaps, type CausalChain } from '@tarflow/solvers';
import { chooseEngine, type SamplingEngine } from './engine.js';
import { guidedPass, isGuided, type GuidanceSettings } from './guidance.js';
import { attention, causalMask, gelu, layerNorm, type NormParams } from './layers.js';
import type { BlockParams, LayerParams, TarFlow } from './tarflow.js';

/** Linear or norm parameters of S blocks: weight [S, out, in] (norm: [S, C]), bias [S, out]. */
interface StackedParams {
  weight: tf.Tensor;
  bias: tf.Tensor;
}

type StackedLayer = Record<keyof LayerParams, StackedParams>;

/** S blocks' parameters stacked on a leading axis. */
interface BlockStack {
  size: number;
  projIn: StackedParams;
  /** Position embeddings in each block's permuted order, [S, T, C]. */
  pos: tf.Tensor;
  classEmbed: tf.Tensor | null; // [S, K, C]
  layers: StackedLayer[];
  projOut: StackedParams;
  attnMask: tf.Tensor2D;
}

const LAYER_KEYS = ['attnNorm', 'qkv', 'proj', 'mlpNorm', 'fc1', 'fc2'] as const satisfies ReadonlyArray<keyof LayerParams>;

/** The blocks `indices` of a model, stacked in that order (new tensors, but the shared attention mask). */
function stackBlocks(model: TarFlow, indices: number[]): BlockStack {
  const blocks = indices.map((i) => model.blocks[i]);
  const { num_classes: K, channels: C } = model.config;
  const lin = (f: (b: BlockParams) => StackedParams) => ({ weight: tf.stack(blocks.map((b) => f(b).weight)), bias: tf.stack(blocks.map((b) => f(b).bias)) });
  return {
    size: indices.length,
    projIn: lin((b) => b.projIn),
    pos: tf.stack(blocks.map((b) => (b.flip ? tf.reverse(b.posEmbed, 0) : b.posEmbed))),
    classEmbed: blocks[0].classEmbed ? tf.stack(blocks.map((b) => tf.reshape(b.classEmbed!, [K, C]))) : null,
    layers: blocks[0].layers.map((_, j) => Object.fromEntries(LAYER_KEYS.map((key) => [key, lin((b) => b.layers[j][key])])) as StackedLayer),
    projOut: lin((b) => b.projOut),
    attnMask: blocks[0].attnMask,
  };
}

/** The tensors a stack owns (everything but the shared attention mask). */
function stackTensors(p: BlockStack): tf.Tensor[] {
  const parts = [p.projIn, p.projOut, ...p.layers.flatMap((l) => Object.values(l))].flatMap((q) => [q.weight, q.bias]);
  return [...parts, p.pos, ...(p.classEmbed ? [p.classEmbed] : [])];
}

/** The stack without its first k blocks (views). */
function dropBlocks(p: BlockStack, k: number): BlockStack {
  if (k === 0) return p;
  const cut = (t: tf.Tensor) => tf.slice(t, k);
  const q = (x: StackedParams) => ({ weight: cut(x.weight), bias: cut(x.bias) });
  return {
    size: p.size - k,
    projIn: q(p.projIn),
    pos: cut(p.pos),
    classEmbed: p.classEmbed ? cut(p.classEmbed) : null,
    layers: p.layers.map((l) => Object.fromEntries(LAYER_KEYS.map((key) => [key, q(l[key])])) as StackedLayer),
    projOut: q(p.projOut),
    attnMask: p.attnMask,
  };
}

/** y = x Wᵀ + b per block over the last axis of [S, ..., in]. */
function stackLinear(x: tf.Tensor, p: StackedParams): tf.Tensor {
  const shape = x.shape;
  const S = shape[0];
  const out = p.weight.shape[1]!;
  const y = tf.matMul(tf.reshape(x, [S, -1, shape[shape.length - 1]]), p.weight as tf.Tensor3D, false, true);
  return tf.reshape(tf.add(y, tf.expandDims(p.bias, 1)), [...shape.slice(0, -1), out]);
}

/** LayerNorm per block over the last axis of [S, ..., C]. */
function stackNorm(x: tf.Tensor, p: StackedParams): tf.Tensor {
  const S = x.shape[0];
  const C = x.shape[x.rank - 1];
  const bshape = [S, ...new Array(x.rank - 2).fill(1), C];
  return layerNorm(x, { weight: tf.reshape(p.weight, bshape), bias: tf.reshape(p.bias, bshape) } as unknown as NormParams);
}

/** Largest MLP hidden activation (floats) evaluated at once; larger batches go through in slices. */
const MLP_SLICE_FLOATS = 1 << 22;

/**
 * The MLP of one layer over [S, B, n, C], position-wise, so it may run on
 * slices of the batch: each slice in its own tidy, so that a large stacked
 * pass holds one slice's hidden activations (and GELU's temporaries) at a
 * time rather than all of them.
 */
function mlp(x: tf.Tensor, layer: StackedLayer): tf.Tensor {
  const run = (t: tf.Tensor) => tf.tidy(() => stackLinear(gelu(stackLinear(stackNorm(t, layer.mlpNorm), layer.fc1)), layer.fc2));
  const B = x.shape[1]!;
  const hidden = x.size * (layer.fc1.weight.shape[1]! / x.shape[x.rank - 1]);
  const slices = Math.min(B, Math.ceil(hidden / MLP_SLICE_FLOATS));
  if (slices <= 1) return run(x);
  const per = Math.ceil(B / slices);
  const sizes = Array.from({ length: Math.ceil(B / per) }, (_, i) => Math.min(per, B - i * per));
  return tf.tidy(() => tf.concat(tf.split(x, sizes, 1).map(run), 1));
}

/**
 * The network of a stack of S blocks on positions [0, n) of x [S, B, n, D]
 * (each in its block's order): the raw projection [S, B, n, 2D]. Conditioning
 * as in TarFlow's block network: `labels` [B] (−1 or none: the mean class
 * embedding), `attnTemp` one value or one per sample [B].
 */
function stackedNetwork(model: TarFlow, p: BlockStack, x: tf.Tensor, branch: { labels?: tf.Tensor1D; attnTemp?: number | tf.Tensor1D }): { out: tf.Tensor } {
  const [S, B, n] = x.shape;
  const { channels: C, head_dim: hd } = model.config;
  const H = model.heads;
  let h = tf.add(stackLinear(x, p.projIn), tf.expandDims(tf.slice(p.pos, [0, 0, 0], [S, n, C]), 1));
  const cls = model.classWeights(B, branch.labels);
  if (p.classEmbed && cls) h = tf.add(h, tf.expandDims(tf.matMul(tf.tile(tf.expandDims(cls, 0), [S, 1, 1]), p.classEmbed), 2));
  const mask = causalMask(p.attnMask, 0, n);
  const temp = branch.attnTemp ?? 1;
  const scale = typeof temp === 'number' ? hd ** -0.5 / temp : tf.reshape(tf.tile(tf.div(hd ** -0.5, temp), [S]), [S * B, 1, 1, 1]);
  for (const layer of p.layers) {
    const prev = h;
    h = tf.tidy(() => {
      const qkv = tf.transpose(tf.reshape(stackLinear(stackNorm(prev, layer.attnNorm), layer.qkv), [S * B, n, 3 * H, hd]), [0, 2, 1, 3]);
      const [q, k, v] = tf.split(qkv, 3, 1) as tf.Tensor4D[];
      const a = attention(q, k, v, scale, mask);
      const mid = tf.add(prev, stackLinear(tf.reshape(tf.transpose(a, [0, 2, 1, 3]), [S, B, n, C]), layer.proj));
      return tf.add(mid, mlp(mid, layer));
    });
  }
  return { out: stackLinear(h, p.projOut) };
}

/**
 * All blocks of a model as one chain in sampling order, for a joint solve
 * (solveChainSteps): stage k is block L − 1 − k. Its evaluation runs every
 * active block in one stacked pass (the two guidance branches stacked on the
 * batch, see guidance.ts). Holds a stacked copy of the weights: call
 * dispose() when done.
 */
export function samplingChain(model: TarFlow, labels?: tf.Tensor1D, guidance?: GuidanceSettings, engine: SamplingEngine = 'auto'): CausalChain & { dispose(): void } {
  const L = model.blocks.length;
  const T = model.tokens;
  const link = (k: number, x: PatchSeq) => tf.tidy(() => model.permuteForBlock(L - 2 - k, model.permuteForBlock(L - 1 - k, x)));
  if (chooseEngine(engine).name === 'fused') {
    // The fused kernels evaluate one block at a time: the chain's stages run one after another.
    const maps = model.blocks.map((_, k) => model.samplingMap(L - 1 - k, labels, guidance, 'fused'));
    return { ...chainFromMaps(maps, link), dispose: () => {} };
  }
  const stacked = tf.tidy(() => stackBlocks(model, model.blocks.map((_, k) => L - 1 - k)) as unknown as tf.TensorContainer) as unknown as BlockStack;
  const owned = stackTensors(stacked);
  return {
    tokens: T,
    dim: model.patchDim,
    stages: L,
    evaluateFrom: (k, xs) =>
      tf.tidy(() => {
        const p = dropBlocks(stacked, k);
        const x = tf.stack(xs.map((t) => tf.slice(t, [0, 0, 0], [-1, T - 1, -1]))); // [S, B, T − 1, D]
        const affine = (out: tf.Tensor) => model.affineParams(out);
        const params = isGuided(guidance)
          ? guidedPass(x, 1, labels, guidance, T, 0, affine, (both, branch) => stackedNetwork(model, p, both, branch))
          : affine(stackedNetwork(model, p, x, { labels }).out);
        const ls = tf.unstack(params.logScale);
        const sh = tf.unstack(params.shift);
        return ls.map((l, i) => ({ logScale: l as PatchSeq, shift: sh[i] as PatchSeq }));
      }),
    link,
    map: (k) => model.samplingMap(L - 1 - k, labels, guidance, 'plain'),
    dispose: () => tf.dispose(owned),
  };
}
