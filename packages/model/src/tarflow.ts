/**
 * TarFlow (Zhai et al. 2024): a normalizing flow of causal-transformer blocks
 * over image patches, forward beside reverse in one file.
 *
 * The model holds parameters only. Sampling state — the key/value caches — is
 * an explicit value that solvers own and pass to each block's CausalAffineMap.
 */
import { tf, assertImageBatch, assertPatchSeq, type ImageBatch, type PatchSeq } from '@tarflow/tensor';
import {
  runAsync,
  runSync,
  readScalar,
  solveBlockSteps,
  type ReadSteps,
  summarizeReports,
  guessFromTable,
  guideParams,
  isJointStrategy,
  solveChainSteps,
  validateSamplingStrategy,
  type BlockReport,
  type CausalChain,
  type JointStrategy,
  type SamplingStrategy,
  type AffineParams,
  type CausalAffineMap,
  type SolveOptions,
  type SolveReport,
} from '@tarflow/solvers';
import { numTokens, patchDim, validateConfig, type TarFlowConfig } from './config.js';
import { gelu, initLinear, initNorm, layerNorm, type LinearParams, type NormParams } from './layers.js';

/** One pre-LayerNorm transformer layer: attention then MLP, each residual. */
export interface LayerParams {
  attnNorm: NormParams;
  qkv: LinearParams;
  proj: LinearParams;
  mlpNorm: NormParams;
  fc1: LinearParams;
  fc2: LinearParams;
}

/** One flow block (the reference's MetaBlock). */
export interface BlockParams {
  projIn: LinearParams;
  posEmbed: tf.Variable; // [T, C]
  classEmbed: tf.Variable | null; // [K, 1, C]
  attnMask: tf.Tensor2D; // [T, T] lower-triangular ones (a buffer, kept for checkpoints)
  layers: LayerParams[];
  projOut: LinearParams; // [2D or D, C]
  /** Odd blocks reverse the token order (the reference's PermutationFlip). */
  flip: boolean;
}

/** Keys and values of the positions [0, length) of one block, per layer: [B, heads, length, headDim]. */
export interface KVCache {
  length: number;
  layers: Array<{ k: tf.Tensor4D; v: tf.Tensor4D } | null>;
}

/** Conditioning of one network branch. */
export interface BranchOptions {
  /** Class labels [B] (int32); -1 (or no labels) means unconditional: the mean class embedding. */
  labels?: tf.Tensor1D;
  /** Attention temperature (softmax scale divided by it): one value, or one per sample [B]. */
  attnTemp?: number | tf.Tensor1D;
}

export interface GuidanceSettings {
  /** Guidance scale; 0 disables classifier-free guidance. */
  scale: number;
  /** Guide the log-scale α, the shift γ, or both (the reference's 'a', 'b', 'ab'). */
  on?: 'alpha' | 'gamma' | 'both';
  /** Anneal the scale linearly over positions. */
  annealed?: boolean;
  /** Attention temperature of the unconditional branch. */
  attnTemp?: number;
}

export interface SampleOptions extends SolveOptions {
  labels?: tf.Tensor1D;
  guidance?: GuidanceSettings;
  /**
   * One strategy per block in sampling order, or one joint solve of all blocks
   * (a JointStrategy); defaults to the exact sequential inverse everywhere.
   */
  strategy?: SamplingStrategy;
  /** Also return the image after each block (trace[0] is the unpatchified noise). */
  trace?: boolean;
  /** Called after each block with its index in sampling order and report. */
  onBlock?: (index: number, report: BlockReport) => void;
  /**
   * Joint strategies only: called after each joint iteration with its number,
   * each unfinished block's residual and a function giving the images the
   * current iterate makes — computed only if called, disposed after the hook
   * returns — so a progress display costs nothing and a study gets the quality
   * at every depth from one solve.
   */
  onJointIteration?: (iteration: number, residuals: number[], images: () => ImageBatch) => void;
  /**
   * Sampling temperature: the noise is scaled by it (on top of the prior's
   * √var) before the flow is inverted. 1 (the default) samples the model's
   * distribution; below 1 trades diversity for typical samples, as in Glow.
   */
  temperature?: number;
}

export interface SampleResult {
  images: ImageBatch;
  trace?: ImageBatch[];
  report: SolveReport;
}

export interface ForwardResult {
  /** The latent: output of the last block, [B, T, D]. */
  z: PatchSeq;
  /** Output of each block in forward order. */
  outputs: PatchSeq[];
  /** Sum over blocks of each block's log-determinant, [B]. */
  logdets: tf.Tensor1D;
}

const MASKED = -1e9;

/** Linear or norm parameters of S blocks: weight [S, out, in] (norm: [S, C]), bias [S, out]. */
interface StackedParams {
  weight: tf.Tensor;
  bias: tf.Tensor;
}

/** S blocks' parameters stacked on a leading axis (see TarFlow.stack). */
interface BlockStack {
  size: number;
  projIn: StackedParams;
  /** Position embeddings in each block's permuted order, [S, T, C]. */
  pos: tf.Tensor;
  classEmbed: tf.Tensor | null; // [S, K, C]
  layers: Array<Record<'attnNorm' | 'qkv' | 'proj' | 'mlpNorm' | 'fc1' | 'fc2', StackedParams>>;
  projOut: StackedParams;
  attnMask: tf.Tensor2D;
}

/** The tensors a stack owns (everything but the shared attention mask). */
function stackTensors(p: BlockStack): tf.Tensor[] {
  const parts = [p.projIn, p.projOut, ...p.layers.flatMap((l) => Object.values(l))].flatMap((q) => [q.weight, q.bias]);
  return [...parts, p.pos, ...(p.classEmbed ? [p.classEmbed] : [])];
}

/** A block's parameter tensors (its trainable variables), in a fixed order. */
function blockVariables(b: BlockParams): tf.Variable[] {
  const out: tf.Variable[] = [b.projIn.weight, b.projIn.bias, b.posEmbed];
  if (b.classEmbed) out.push(b.classEmbed);
  for (const l of b.layers) {
    for (const q of [l.attnNorm, l.qkv, l.proj, l.mlpNorm, l.fc1, l.fc2]) out.push(q.weight, q.bias);
  }
  out.push(b.projOut.weight, b.projOut.bias);
  return out;
}

/** y = x Wᵀ + b per block over the last axis of [S, ..., in]. */
function stackLinear(x: tf.Tensor, p: StackedParams): tf.Tensor {
  const shape = x.shape;
  const S = shape[0];
  const out = p.weight.shape[1]!;
  const y = tf.matMul(tf.reshape(x, [S, -1, shape[shape.length - 1]]), p.weight as tf.Tensor3D, false, true);
  return tf.reshape(tf.add(y, tf.expandDims(p.bias, 1)), [...shape.slice(0, -1), out]);
}

/** Largest MLP hidden activation (floats) evaluated at once; larger batches go through in slices. */
const MLP_SLICE_FLOATS = 1 << 22;

/**
 * The MLP of one layer over [S, B, n, C], position-wise, so it may run on
 * slices of the batch: each slice in its own tidy, so that a large stacked
 * pass holds one slice's hidden activations (and GELU's temporaries) at a
 * time rather than all of them.
 */
function mlp(x: tf.Tensor, layer: { mlpNorm: StackedParams; fc1: StackedParams; fc2: StackedParams }): tf.Tensor {
  const run = (t: tf.Tensor) => tf.tidy(() => stackLinear(gelu(stackLinear(stackNorm(t, layer.mlpNorm), layer.fc1)), layer.fc2));
  const B = x.shape[1]!;
  const hidden = x.size * (layer.fc1.weight.shape[1]! / x.shape[x.rank - 1]);
  const slices = Math.min(B, Math.ceil(hidden / MLP_SLICE_FLOATS));
  if (slices <= 1) return run(x);
  const per = Math.ceil(B / slices);
  const sizes = Array.from({ length: Math.ceil(B / per) }, (_, i) => Math.min(per, B - i * per));
  return tf.tidy(() => tf.concat(tf.split(x, sizes, 1).map(run), 1));
}

/** LayerNorm per block over the last axis of [S, ..., C]. */
function stackNorm(x: tf.Tensor, p: StackedParams): tf.Tensor {
  const S = x.shape[0];
  const C = x.shape[x.rank - 1];
  const bshape = [S, ...new Array(x.rank - 2).fill(1), C];
  return layerNorm(x, { weight: tf.reshape(p.weight, bshape), bias: tf.reshape(p.bias, bshape) } as unknown as NormParams);
}

export class TarFlow {
  readonly config: TarFlowConfig;
  readonly tokens: number;
  readonly patchDim: number;
  readonly heads: number;
  readonly blocks: BlockParams[];
  /** Prior variance of the latent, [T, D] (the reference's `var` buffer). */
  readonly priorVar: tf.Variable;

  /**
   * Each block as a stack of one (views of its weights, its position
   * embedding in sampling order) for the sampling maps, so that a sequential
   * step does not rebuild them; remade when training reassigns a weight.
   */
  private readonly singles: Array<{ stack: BlockStack; sources: object[] }>;

  constructor(config: TarFlowConfig, blocks: BlockParams[], priorVar: tf.Variable) {
    this.config = validateConfig(config);
    this.tokens = numTokens(this.config);
    this.patchDim = patchDim(this.config);
    this.heads = this.config.channels / this.config.head_dim;
    this.blocks = blocks;
    this.priorVar = priorVar;
    this.singles = blocks.map((_, i) => this.makeSingle(i));
  }

  /** A freshly initialised model (PyTorch-style initialisation, proj_out zero). */
  static init(config: TarFlowConfig, seed = 0): TarFlow {
    const c = validateConfig(config);
    const T = numTokens(c);
    const D = patchDim(c);
    const C = c.channels;
    let s = seed * 1000;
    const next = () => (s += 7);
    const blocks: BlockParams[] = [];
    for (let i = 0; i < c.num_blocks; i++) {
      const layers: LayerParams[] = [];
      for (let j = 0; j < c.layers_per_block; j++) {
        layers.push({
          attnNorm: initNorm(C),
          qkv: initLinear(C, 3 * C, next()),
          proj: initLinear(C, C, next()),
          mlpNorm: initNorm(C),
          fc1: initLinear(C, C * c.expansion, next()),
          fc2: initLinear(C * c.expansion, C, next()),
        });
      }
      blocks.push({
        projIn: initLinear(D, C, next()),
        posEmbed: tf.variable(tf.mul(tf.randomNormal([T, C], 0, 1, 'float32', next()), 1e-2)),
        classEmbed: c.num_classes > 0 ? tf.variable(tf.mul(tf.randomNormal([c.num_classes, 1, C], 0, 1, 'float32', next()), 1e-2)) : null,
        attnMask: tf.keep(tf.linalg.bandPart(tf.ones([T, T]), -1, 0)) as tf.Tensor2D,
        layers,
        projOut: { ...initLinear(C, c.nvp ? 2 * D : D, next()), weight: tf.variable(tf.zeros([c.nvp ? 2 * D : D, C])) },
        flip: i % 2 === 1,
      });
    }
    return new TarFlow(c, blocks, tf.variable(tf.ones([T, D]), false));
  }

  // ---------------------------------------------------------------- patches

  /** [B, C, H, W] images → [B, T, D] patch sequences (torch's unfold order). */
  patchify(x: ImageBatch): PatchSeq {
    const { in_channels: C, img_size: S, patch_size: p } = this.config;
    assertImageBatch(x, 'patchify input', null, C, S, S);
    const h = S / p;
    return tf.tidy(() => {
      const B = x.shape[0];
      // [B, C, h, p, w, p] → [B, h, w, C, p, p], in two lower-rank steps.
      const a = tf.reshape(x, [B * C, h, p, h * p]);
      const b = tf.reshape(tf.transpose(tf.reshape(a, [B * C * h, p, h, p]), [0, 2, 1, 3]), [B, C, h * h, p * p]);
      return tf.reshape(tf.transpose(b, [0, 2, 1, 3]), [B, h * h, C * p * p]) as PatchSeq;
    });
  }

  /** [B, T, D] patch sequences → [B, C, H, W] images (torch's fold). */
  unpatchify(x: PatchSeq): ImageBatch {
    const { in_channels: C, img_size: S, patch_size: p } = this.config;
    assertPatchSeq(x, 'unpatchify input', null, this.tokens, this.patchDim);
    const h = S / p;
    return tf.tidy(() => {
      const B = x.shape[0];
      const b = tf.transpose(tf.reshape(x, [B, h * h, C, p * p]), [0, 2, 1, 3]); // [B, C, h*w, p*p]
      const a = tf.transpose(tf.reshape(b, [B * C * h, h, p, p]), [0, 2, 1, 3]); // [B*C*h, p, w, p]
      return tf.reshape(a, [B, C, S, S]) as ImageBatch;
    });
  }

  // ---------------------------------------------------------------- network

  private permute(x: tf.Tensor, block: BlockParams, axis = 1): tf.Tensor {
    return block.flip ? tf.reverse(x, axis) : x;
  }

  /**
   * Mixing weights over the class table for each sample, [B, K]: one-hot for a
   * label, uniform (the mean embedding) for −1 or no labels. Null for an
   * unconditional model.
   */
  private classWeights(batch: number, labels?: tf.Tensor1D): tf.Tensor2D | null {
    const K = this.config.num_classes;
    if (K === 0) return null;
    if (!labels) return tf.fill([batch, K], 1 / K) as tf.Tensor2D;
    const valid = tf.expandDims(tf.greaterEqual(labels, 0), 1);
    const oneHot = tf.oneHot(tf.maximum(labels, tf.scalar(0, 'int32')), K).toFloat();
    return tf.where(tf.tile(valid, [1, K]), oneHot, tf.fill([batch, K], 1 / K)) as tf.Tensor2D;
  }

  /**
   * Parameters of S blocks stacked on a leading axis, so that one evaluation
   * runs all of them (batched matrix products). A single block is a stack of
   * one (reshapes only, no copies).
   */
  private stack(indices: number[]): BlockStack {
    const one = indices.length === 1;
    const st = (ts: tf.Tensor[]) => (one ? tf.expandDims(ts[0], 0) : tf.stack(ts));
    const blocks = indices.map((i) => this.blocks[i]);
    const lin = (f: (b: BlockParams) => LinearParams) => ({ weight: st(blocks.map((b) => f(b).weight)), bias: st(blocks.map((b) => f(b).bias)) });
    const layerLin = (j: number, f: (l: LayerParams) => LinearParams | NormParams) => lin((b) => f(b.layers[j]) as LinearParams);
    const K = this.config.num_classes;
    return {
      size: indices.length,
      projIn: lin((b) => b.projIn),
      pos: st(blocks.map((b) => this.permute(b.posEmbed, b, 0))),
      classEmbed: blocks[0].classEmbed ? st(blocks.map((b) => tf.reshape(b.classEmbed!, [K, this.config.channels]))) : null,
      layers: blocks[0].layers.map((_, j) => ({
        attnNorm: layerLin(j, (l) => l.attnNorm),
        qkv: layerLin(j, (l) => l.qkv),
        proj: layerLin(j, (l) => l.proj),
        mlpNorm: layerLin(j, (l) => l.mlpNorm),
        fc1: layerLin(j, (l) => l.fc1),
        fc2: layerLin(j, (l) => l.fc2),
      })),
      projOut: lin((b) => b.projOut),
      attnMask: blocks[0].attnMask,
    };
  }

  private makeSingle(index: number): { stack: BlockStack; sources: object[] } {
    const stack = tf.tidy(() => this.stack([index]) as unknown as tf.TensorContainer) as unknown as BlockStack;
    for (const t of stackTensors(stack)) tf.keep(t);
    return { stack, sources: blockVariables(this.blocks[index]).map((v) => v.dataId) };
  }

  /**
   * Block `index` as a stack of one, from the cache unless a weight was
   * reassigned since it was made. Not for gradients: its views were recorded
   * outside any gradient tape.
   */
  private single(index: number): BlockStack {
    const hit = this.singles[index];
    const now = blockVariables(this.blocks[index]);
    if (now.length === hit.sources.length && now.every((v, i) => v.dataId === hit.sources[i])) return hit.stack;
    tf.dispose(stackTensors(hit.stack));
    this.singles[index] = this.makeSingle(index);
    return this.singles[index].stack;
  }

  /**
   * The network of a stack of S blocks on positions [start, start + n) (each in
   * its block's permuted order): x is [S, B, n, D], `cache` the keys/values of
   * positions [0, start) (single blocks only). Returns the raw projection
   * [S, B, n, 2D] (row t produces position t + 1) and the keys/values of the
   * new positions per layer ([S·B, heads, n, headDim]).
   *
   * `classWeights` [B, K] mixes the class table per sample; `attnTemp` divides
   * the softmax scale (one value, or one per sample [B]).
   */
  private network(
    p: BlockStack,
    x: tf.Tensor,
    start: number,
    cache: KVCache | null,
    classWeights: tf.Tensor2D | null,
    attnTemp: number | tf.Tensor1D = 1,
  ): { out: tf.Tensor; kv: Array<{ k: tf.Tensor4D; v: tf.Tensor4D }> } {
    const [S, B, n] = x.shape;
    const { channels: C, head_dim: hd } = this.config;
    const H = this.heads;
    const pos = tf.expandDims(tf.slice(p.pos, [0, start, 0], [S, n, C]), 1); // [S, 1, n, C]
    let h = tf.add(stackLinear(x, p.projIn), pos);
    if (p.classEmbed && classWeights) {
      const cls = tf.matMul(tf.tile(tf.expandDims(classWeights, 0), [S, 1, 1]), p.classEmbed); // [S, B, C]
      h = tf.add(h, tf.expandDims(cls, 2));
    }
    const total = start + n;
    // A single query may see every cached key; a span needs the causal mask.
    const mask = n > 1 ? tf.mul(tf.sub(1, tf.slice(p.attnMask, [start, 0], [n, total])), MASKED) : null;
    const base = hd ** -0.5;
    const scale = typeof attnTemp === 'number' ? base / attnTemp : tf.reshape(tf.tile(tf.div(base, attnTemp), [S]), [S * B, 1, 1, 1]);
    const kv: Array<{ k: tf.Tensor4D; v: tf.Tensor4D }> = [];
    // One tidy per layer (and per MLP): a layer's intermediates are freed before the next layer runs, so the
    // peak is one layer's working set, not the whole pass's (a stacked pass over every block at batch 64 with
    // guidance otherwise held ~1.9 GB). Tensors the gradient tape needs are kept by tfjs itself.
    p.layers.forEach((layer, li) => {
      const r = tf.tidy(() => {
        const a = stackLinear(stackNorm(h, layer.attnNorm), layer.qkv); // [S, B, n, 3C]
        const heads = tf.transpose(tf.reshape(a, [S * B, n, 3 * H, hd]), [0, 2, 1, 3]); // [S·B, 3H, n, hd]
        const [q, k, v] = tf.split(heads, 3, 1) as tf.Tensor4D[];
        const past = cache?.layers[li];
        const kAll = past ? tf.concat([past.k, k], 2) : k;
        const vAll = past ? tf.concat([past.v, v], 2) : v;
        let scores = tf.mul(tf.matMul(q, kAll, false, true), scale); // [S·B, H, n, total]
        if (mask) scores = tf.add(scores, mask);
        const attn = tf.matMul(tf.softmax(scores), vAll); // [S·B, H, n, hd]
        const merged = tf.reshape(tf.transpose(attn, [0, 2, 1, 3]), [S, B, n, C]);
        const mid = tf.add(h, stackLinear(merged, layer.proj));
        return { h: tf.add(mid, mlp(mid, layer)), k, v };
      });
      kv.push({ k: r.k, v: r.v });
      h = r.h;
    });
    return { out: stackLinear(h, p.projOut), kv };
  }

  /**
   * One block's network on [B, n, D] for one branch; the projection is
   * [B, n, 2D]. `cached`: use the block's cached stack of one (sampling; no
   * gradients to the weights).
   */
  private blockNetwork(
    index: number,
    x: tf.Tensor,
    start: number,
    cache: KVCache | null,
    branch: BranchOptions,
    cached = false,
  ): { out: tf.Tensor; kv: Array<{ k: tf.Tensor4D; v: tf.Tensor4D }> } {
    const p = cached ? this.single(index) : this.stack([index]);
    const r = this.network(p, tf.expandDims(x, 0), start, cache, this.classWeights(x.shape[0], branch.labels), branch.attnTemp ?? 1);
    return { out: tf.squeeze(r.out, [0]), kv: r.kv };
  }

  /** Splits the projection into (log-scale α, shift γ). */
  private affineParams(out: tf.Tensor): { logScale: tf.Tensor; shift: tf.Tensor } {
    const D = this.patchDim;
    if (!this.config.nvp) return { logScale: tf.zerosLike(out), shift: out };
    const [logScale, shift] = tf.split(out, [D, D], out.rank - 1);
    return { logScale, shift };
  }

  // ---------------------------------------------------------------- forward

  /** x in block `index`'s position order (its permutation is its own inverse). */
  permuteForBlock(index: number, x: PatchSeq): PatchSeq {
    return tf.tidy(() => tf.clone(this.permute(x, this.blocks[index]))) as PatchSeq;
  }

  /**
   * Block `index`'s affine parameters for an input already in the block's
   * position order, shifted so that row t holds what produces position t (row 0
   * is zero): the forward pass computes z = exp(−α)·(x − γ) from these.
   */
  shiftedParams(index: number, xp: PatchSeq, labels?: tf.Tensor1D): { logScale: PatchSeq; shift: PatchSeq } {
    return tf.tidy(() => {
      const { out } = this.blockNetwork(index, xp, 0, null, { labels });
      const { logScale, shift } = this.affineParams(out);
      const [B, T, D] = xp.shape;
      const zeros = tf.zeros([B, 1, D]);
      return {
        logScale: tf.concat([zeros, tf.slice(logScale, [0, 0, 0], [B, T - 1, D])], 1) as PatchSeq,
        shift: tf.concat([zeros, tf.slice(shift, [0, 0, 0], [B, T - 1, D])], 1) as PatchSeq,
      };
    });
  }

  /** One block forward: x (natural order) → (block output, log-determinant [B]). */
  blockForward(index: number, x: PatchSeq, labels?: tf.Tensor1D): { z: PatchSeq; logdet: tf.Tensor1D } {
    const block = this.blocks[index];
    return tf.tidy(() => {
      const xp = this.permute(x, block) as PatchSeq;
      const { logScale: a, shift: b } = this.shiftedParams(index, xp, labels);
      const z = tf.mul(tf.sub(xp, b), tf.exp(tf.neg(a)));
      return { z: this.permute(z, block) as PatchSeq, logdet: tf.neg(tf.mean(a, [1, 2])) as tf.Tensor1D };
    });
  }

  /** Images → latent, per-block outputs and summed log-determinants. */
  forward(images: ImageBatch, labels?: tf.Tensor1D): ForwardResult {
    this.checkLabels(labels, images.shape[0]);
    return tf.tidy(() => {
      let x = this.patchify(images);
      const outputs: PatchSeq[] = [];
      let logdets = tf.zeros([images.shape[0]]) as tf.Tensor1D;
      for (let i = 0; i < this.blocks.length; i++) {
        const r = this.blockForward(i, x, labels);
        x = r.z;
        outputs.push(x);
        logdets = tf.add(logdets, r.logdet);
      }
      return { z: x, outputs, logdets };
    });
  }

  /** The training loss 0.5·mean(z²) − mean(logdets) (a scalar). */
  loss(z: PatchSeq, logdets: tf.Tensor1D): tf.Scalar {
    return tf.tidy(() => tf.sub(tf.mul(tf.mean(tf.square(z)), 0.5), tf.mean(logdets)) as tf.Scalar);
  }

  /** Loss of a batch of images, computed without keeping per-block outputs (for gradients). */
  imageLoss(images: ImageBatch, labels?: tf.Tensor1D): tf.Scalar {
    return tf.tidy(() => {
      let x = this.patchify(images);
      let logdets: tf.Tensor = tf.scalar(0);
      for (let i = 0; i < this.blocks.length; i++) {
        const r = this.blockForward(i, x, labels);
        x = r.z;
        logdets = tf.add(logdets, r.logdet);
      }
      return this.loss(x, logdets as tf.Tensor1D);
    });
  }

  /** Moves the prior variance toward mean_batch(z²) (the reference's update_prior, rate 0.1). */
  updatePrior(z: PatchSeq, rate = 0.1): void {
    tf.tidy(() => {
      const z2 = tf.mean(tf.square(z), 0);
      this.priorVar.assign(tf.add(this.priorVar, tf.mul(tf.sub(z2, this.priorVar), rate)));
    });
  }

  /**
   * One score-based denoising step: x − lr·∇ₓ loss(x), with lr = noise_std² · numel(x)
   * unless given (the reference's step).
   */
  denoise(images: ImageBatch, labels?: tf.Tensor1D, lr?: number): ImageBatch {
    this.checkLabels(labels, images.shape[0]);
    const step = lr ?? this.config.noise_std ** 2 * images.size;
    return tf.tidy(() => {
      const grad = tf.grad((x: tf.Tensor) => this.imageLoss(x as ImageBatch, labels))(images);
      return tf.sub(images, tf.mul(grad, step)) as ImageBatch;
    });
  }

  // ---------------------------------------------------------------- reverse

  /**
   * Block `index` as a causal affine map over its permuted positions, for one
   * branch (labels, attention temperature). Caches are KVCache values.
   */
  blockMap(index: number, branch: BranchOptions = {}): CausalAffineMap<KVCache> {
    return this.cachedMap(index, (x, start, past) => {
      const { out, kv } = this.blockNetwork(index, x, start, past, branch, true);
      return { ...this.affineParams(out), kv };
    });
  }

  /**
   * The map a solver inverts for block `index`: guided when a guidance scale
   * is set. A guided map evaluates both branches in one network pass — the
   * conditional rows, then the unconditional ones (labels −1, the guidance's
   * attention temperature) — and combines them with guideParams, so a
   * sequential step is one kernel sequence, not two. Its KVCache holds 2B rows.
   */
  samplingMap(index: number, labels?: tf.Tensor1D, guidance?: GuidanceSettings): CausalAffineMap<unknown> {
    if (!guidance || !(guidance.scale > 0)) return this.blockMap(index, { labels }) as CausalAffineMap<unknown>;
    const T = this.tokens;
    const g = guidance;
    return this.cachedMap(index, (x, start, past) => {
      const B = x.shape[0];
      const both = tf.concat([x, x], 0);
      const branch = {
        labels: labels ? (tf.concat([labels, tf.fill([B], -1, 'int32')]) as tf.Tensor1D) : undefined,
        attnTemp: g.attnTemp === undefined || g.attnTemp === 1 ? 1 : (tf.concat([tf.ones([B]), tf.fill([B], g.attnTemp)]) as tf.Tensor1D),
      };
      const { out, kv } = this.blockNetwork(index, both, start, past, branch, true);
      const [c, u] = tf.split(out, 2, 0);
      const params = guideParams(this.affineParams(c) as AffineParams, this.affineParams(u) as AffineParams, g, T, start);
      return { ...params, kv };
    }) as CausalAffineMap<unknown>;
  }

  /**
   * A causal map over block `index`'s KV cache: `run` evaluates positions
   * [start, start + n) given the cached keys/values of [0, start) and returns
   * the affine parameters and the new positions' keys/values (inside a tidy).
   */
  private cachedMap(
    index: number,
    run: (x: PatchSeq, start: number, past: KVCache | null) => { logScale: tf.Tensor; shift: tf.Tensor; kv: Array<{ k: tf.Tensor4D; v: tf.Tensor4D }> },
  ): CausalAffineMap<KVCache> {
    const L = this.blocks[index].layers.length;
    return {
      tokens: this.tokens,
      dim: this.patchDim,
      emptyCache: () => ({ length: 0, layers: new Array(L).fill(null) }),
      evaluate: (x, start, cache) => {
        if (cache.length !== start) {
          throw new Error(`block ${index}: cache holds ${cache.length} positions but evaluation starts at ${start}`);
        }
        const r = tf.tidy(() => {
          const { logScale, shift, kv } = run(x, start, cache.length > 0 ? cache : null);
          const layers = kv.map((e, li) => {
            const past = cache.layers[li];
            return past ? { k: tf.concat([past.k, e.k], 2), v: tf.concat([past.v, e.v], 2) } : { k: e.k, v: e.v };
          });
          return { logScale, shift, layers };
        });
        return {
          params: { logScale: r.logScale as PatchSeq, shift: r.shift as PatchSeq },
          cache: { length: start + x.shape[1], layers: r.layers as KVCache['layers'] },
        };
      },
      truncateCache: (cache, length) => {
        if (length > cache.length) throw new Error(`block ${index}: cannot truncate a cache of ${cache.length} positions to ${length}`);
        if (length === 0) return { length: 0, layers: new Array(L).fill(null) };
        return {
          length,
          layers: cache.layers.map((e) =>
            e ? { k: tf.slice(e.k, [0, 0, 0, 0], [-1, -1, length, -1]), v: tf.slice(e.v, [0, 0, 0, 0], [-1, -1, length, -1]) } : null,
          ),
        };
      },
      disposeCache: (cache) => {
        for (const e of cache.layers) {
          if (e) {
            e.k.dispose();
            e.v.dispose();
          }
        }
      },
    };
  }

  /**
   * All blocks as one chain in sampling order, for a joint solve
   * (solveChainSteps): stage k is block B − 1 − k. Its evaluation runs every
   * active block in one stacked pass — batched matrix products over the
   * blocks, the two guidance branches stacked on the batch — so one joint
   * iteration is one dependent network evaluation. Holds a stacked copy of the
   * weights: call dispose() when done.
   */
  samplingChain(labels?: tf.Tensor1D, guidance?: GuidanceSettings): CausalChain & { dispose(): void } {
    const L = this.blocks.length;
    const T = this.tokens;
    const guided = !!guidance && guidance.scale > 0;
    const order = this.blocks.map((_, k) => L - 1 - k);
    const stacked = tf.tidy(() => this.stack(order) as unknown as tf.TensorContainer) as unknown as BlockStack;
    const owned = stackTensors(stacked);
    const from = (k: number): BlockStack => {
      if (k === 0) return stacked;
      const cut = (t: tf.Tensor) => tf.slice(t, k);
      const q = (x: StackedParams) => ({ weight: cut(x.weight), bias: cut(x.bias) });
      return {
        size: L - k,
        projIn: q(stacked.projIn),
        pos: cut(stacked.pos),
        classEmbed: stacked.classEmbed ? cut(stacked.classEmbed) : null,
        layers: stacked.layers.map((l) => ({ attnNorm: q(l.attnNorm), qkv: q(l.qkv), proj: q(l.proj), mlpNorm: q(l.mlpNorm), fc1: q(l.fc1), fc2: q(l.fc2) })),
        projOut: q(stacked.projOut),
        attnMask: stacked.attnMask,
      };
    };
    return {
      tokens: T,
      dim: this.patchDim,
      stages: L,
      evaluateFrom: (k, xs) =>
        tf.tidy(() => {
          const B = xs[0].shape[0];
          const x = tf.stack(xs.map((t) => tf.slice(t, [0, 0, 0], [-1, T - 1, -1]))); // [S, B, T − 1, D]
          const split = (out: tf.Tensor) => this.affineParams(out);
          let params: { logScale: tf.Tensor; shift: tf.Tensor };
          if (!guided) {
            params = split(this.network(from(k), x, 0, null, this.classWeights(B, labels)).out);
          } else {
            const weights = this.classWeights(2 * B, labels ? tf.concat([labels, tf.fill([B], -1, 'int32')]) as tf.Tensor1D : undefined);
            const temps = tf.concat([tf.ones([B]), tf.fill([B], guidance!.attnTemp ?? 1)]) as tf.Tensor1D;
            const out = this.network(from(k), tf.concat([x, x], 1), 0, null, weights, temps).out; // [S, 2B, T − 1, 2D]
            const [c, u] = tf.split(out, 2, 1);
            const pc = split(c);
            const pu = split(u);
            // guideParams works on [B', n, D]: fold the stages into the batch.
            const fold = (t: tf.Tensor) => tf.reshape(t, [-1, T - 1, this.patchDim]) as PatchSeq;
            const g = guideParams({ logScale: fold(pc.logScale), shift: fold(pc.shift) }, { logScale: fold(pu.logScale), shift: fold(pu.shift) }, guidance!, T, 0);
            const unfold = (t: tf.Tensor) => tf.reshape(t, [L - k, B, T - 1, this.patchDim]);
            params = { logScale: unfold(g.logScale), shift: unfold(g.shift) };
          }
          const ls = tf.unstack(params.logScale);
          const sh = tf.unstack(params.shift);
          return ls.map((l, i) => ({ logScale: l as PatchSeq, shift: sh[i] as PatchSeq }));
        }),
      link: (k, x) =>
        tf.tidy(() => tf.clone(this.permute(this.permute(x, this.blocks[L - 1 - k]), this.blocks[L - 2 - k]))) as PatchSeq,
      map: (k) => this.samplingMap(L - 1 - k, labels, guidance),
      dispose: () => tf.dispose(owned),
    };
  }

  /**
   * Samples images from noise [B, T, D] (standard normal; scaled here by the
   * prior's √var). Each block is inverted by the solver its strategy names;
   * the default is the exact sequential inverse.
   */
  sample(noise: PatchSeq, options: SampleOptions = {}): SampleResult {
    return runSync(this.sampleSteps(noise, options));
  }

  /**
   * `sample` with asynchronous device reads: the way to sample on WebGPU in
   * browsers (which cannot read synchronously), and a way to keep a page
   * responsive — the event loop runs at every read.
   */
  sampleAsync(noise: PatchSeq, options: SampleOptions = {}): Promise<SampleResult> {
    return runAsync(this.sampleSteps(noise, options));
  }

  /** The steps of `sample`, yielding each scalar it reads (see @tarflow/solvers' runSync / runAsync). */
  *sampleSteps(noise: PatchSeq, options: SampleOptions = {}): ReadSteps<SampleResult> {
    assertPatchSeq(noise, 'noise', null, this.tokens, this.patchDim);
    const temperature = options.temperature ?? 1;
    if (!(Number.isFinite(temperature) && temperature > 0)) throw new Error(`temperature must be a positive number, got ${temperature}`);
    yield* this.labelSteps(options.labels, noise.shape[0]);
    const chosen = validateSamplingStrategy(
      options.strategy ?? this.blocks.map(() => ({ kind: 'sequential' })),
      this.blocks.length,
    );
    if (isJointStrategy(chosen)) return yield* this.jointSampleSteps(noise, chosen, options);
    const strategy = chosen;
    const t0 = performance.now();
    const trace: ImageBatch[] = [];
    if (options.trace) trace.push(this.unpatchify(noise));
    let x = tf.tidy(() => tf.mul(tf.mul(noise, tf.sqrt(this.priorVar)), temperature)) as PatchSeq;
    const reports: BlockReport[] = [];
    try {
      for (let k = 0; k < this.blocks.length; k++) {
        const index = this.blocks.length - 1 - k;
        const block = this.blocks[index];
        const map = this.samplingMap(index, options.labels, options.guidance);
        const zp = tf.tidy(() => tf.clone(this.permute(x, block))) as PatchSeq;
        let solved: { x: PatchSeq; report: BlockReport };
        try {
          solved = yield* solveBlockSteps(map, zp, strategy[k], options);
        } finally {
          zp.dispose();
        }
        const next = tf.tidy(() => tf.clone(this.permute(solved.x, block))) as PatchSeq;
        solved.x.dispose();
        x.dispose();
        x = next;
        reports.push(solved.report);
        options.onBlock?.(k, solved.report);
        if (options.trace) trace.push(this.unpatchify(x));
      }
    } catch (e) {
      x.dispose();
      for (const t of trace) t.dispose();
      throw e;
    }
    const images = this.unpatchify(x);
    x.dispose();
    const report = summarizeReports(reports, this.tokens, strategy, performance.now() - t0);
    return options.trace ? { images, trace, report } : { images, report };
  }

  /** sampleSteps for a joint strategy: every block solved at once (solveChainSteps). */
  private *jointSampleSteps(noise: PatchSeq, strategy: JointStrategy, options: SampleOptions): ReadSteps<SampleResult> {
    if (options.trace) throw new Error('trace: a joint strategy finishes all blocks together, so there is no per-block trace');
    const t0 = performance.now();
    const L = this.blocks.length;
    if (strategy.table && (strategy.table.tokens !== this.tokens || strategy.table.dim !== this.patchDim)) {
      throw new Error(
        `strategy: the guess table is for [${strategy.table.tokens}, ${strategy.table.dim}] sequences but this model's are [${this.tokens}, ${this.patchDim}]`,
      );
    }
    if (strategy.guess === 'table' && !strategy.table) {
      throw new Error("strategy: guess 'table' needs the strategy's table (make one with @tarflow/metrics' classMeanGuess)");
    }
    const chain = this.samplingChain(options.labels, options.guidance);
    const z = tf.tidy(() => this.permute(tf.mul(tf.mul(noise, tf.sqrt(this.priorVar)), options.temperature ?? 1), this.blocks[L - 1])) as PatchSeq;
    const guess = strategy.guess === 'table' && strategy.table ? guessFromTable(strategy.table, z, options.labels) : undefined;
    let solved: { x: PatchSeq; report: SolveReport };
    try {
      const hook = options.onJointIteration;
      const onIteration = hook
        ? (n: number, residuals: number[], last: PatchSeq) => {
            const made: { images?: ImageBatch } = {};
            const get = () => (made.images ??= tf.tidy(() => this.unpatchify(this.permute(last, this.blocks[0]) as PatchSeq)));
            try {
              hook(n, residuals, get);
            } finally {
              made.images?.dispose();
            }
          }
        : undefined;
      solved = yield* solveChainSteps(chain, z, strategy, { guess, onIteration });
    } finally {
      chain.dispose();
      z.dispose();
      guess?.dispose();
    }
    const images = tf.tidy(() => this.unpatchify(this.permute(solved.x, this.blocks[0]) as PatchSeq));
    solved.x.dispose();
    solved.report.blocks.forEach((b, k) => options.onBlock?.(k, b));
    return { images, report: { ...solved.report, wallMs: performance.now() - t0 } };
  }

  // ---------------------------------------------------------------- misc

  private checkLabels(labels: tf.Tensor1D | undefined, batch: number): void {
    runSync(this.labelSteps(labels, batch));
  }

  /** Checks labels: shape [batch], int32, every value −1 or a class of the model (reads min and max). */
  private *labelSteps(labels: tf.Tensor1D | undefined, batch: number): ReadSteps<void> {
    if (!labels) return;
    if (labels.rank !== 1 || labels.shape[0] !== batch) {
      throw new Error(`labels: expected shape [${batch}], got [${labels.shape.join(', ')}]`);
    }
    if (labels.dtype !== 'int32') throw new Error(`labels: expected int32, got ${labels.dtype}`);
    const K = this.config.num_classes;
    const lo = yield* readScalar(tf.min(labels));
    const hi = yield* readScalar(tf.max(labels));
    const bad = lo < -1 ? lo : K === 0 && hi !== -1 ? hi : hi >= K && K > 0 ? hi : null;
    if (bad !== null) {
      throw new Error(
        K === 0
          ? `labels: this model is unconditional (num_classes 0); only -1 is allowed, got ${bad}`
          : `labels: unknown label ${bad} (this model has classes 0…${K - 1}; -1 means unconditional)`,
      );
    }
  }

  /** All trainable variables. */
  trainableVariables(): tf.Variable[] {
    return this.blocks.flatMap(blockVariables);
  }

  /** Frees every tensor of the model. */
  dispose(): void {
    for (const s of this.singles) tf.dispose(stackTensors(s.stack));
    for (const v of this.trainableVariables()) v.dispose();
    for (const b of this.blocks) b.attnMask.dispose();
    this.priorVar.dispose();
  }
}
