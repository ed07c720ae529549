/**
 * TarFlow (Zhai et al. 2024): a normalizing flow of causal-transformer blocks
 * over image patches. Block i reads its input x [B, T, D] in its own position
 * order (odd blocks reverse the tokens) and maps it to
 *
 *     z_0 = x_0,   z_t = (x_t − γ_t) · exp(−α_t),   (α_t, γ_t) = f_i(x_<t),
 *
 * where f_i is a causal transformer; log |det ∂z/∂x| = −Σ_t α_t. The latent
 * of the last block has the prior N(0, var). Sampling inverts each block:
 *
 *     x_t = z_t · exp(α_t) + γ_t,
 *
 * a triangular system in x that @tarflow/solvers solves sequentially or by
 * (GS-)Jacobi iterations (Liu & Qin 2025) over a CausalAffineMap.
 *
 * The model holds parameters only. Sampling state — the key/value caches — is
 * an explicit value that solvers own and pass to each block's map; the
 * sampling pipeline is in sampling.ts, the stacked evaluation of all blocks
 * for the joint solve in stack.ts.
 */
import { tf, ensureBackend, assertImageBatch, assertPatchSeq, type ImageBatch, type PatchSeq } from '@tarflow/tensor';
import { runAsync, runSync, type CausalAffineMap, type CausalChain, type ReadSteps } from '@tarflow/solvers';
import { numTokens, patchDim, validateConfig, type TarFlowConfig } from './config.js';
import { guidedPass, isGuided, type GuidanceSettings } from './guidance.js';
import { attention, causalMask, gelu, initLinear, initNorm, layerNorm, linear, type LinearParams, type NormParams } from './layers.js';
import { checkLabels, sampleSteps, type RecommendedSampling, type SampleOptions, type SampleResult } from './sampling.js';
import { samplingChain } from './stack.js';
import { chooseEngine, type SamplingEngine } from './engine.js';
import { fusedBlockMap, type FusedCache } from '@tarflow/kernels';

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

export interface ForwardResult {
  /** The latent: output of the last block, [B, T, D]. */
  z: PatchSeq;
  /** Output of each block in forward order. */
  outputs: PatchSeq[];
  /** Sum over blocks of each block's log-determinant, [B]. */
  logdets: tf.Tensor1D;
}

/** The raw projection of a network pass and the keys/values of its positions, per layer. */
export interface NetworkOutput {
  out: tf.Tensor;
  kv: Array<{ k: tf.Tensor4D; v: tf.Tensor4D }>;
}

/** A block's trainable variables, in a fixed order. */
function blockVariables(b: BlockParams): tf.Variable[] {
  const out: tf.Variable[] = [b.projIn.weight, b.projIn.bias, b.posEmbed];
  if (b.classEmbed) out.push(b.classEmbed);
  for (const l of b.layers) {
    for (const q of [l.attnNorm, l.qkv, l.proj, l.mlpNorm, l.fc1, l.fc2]) out.push(q.weight, q.bias);
  }
  out.push(b.projOut.weight, b.projOut.bias);
  return out;
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
   * How the model is meant to be sampled (guidance, temperature, denoising),
   * as its file's `sampling` metadata records; undefined when unknown.
   * saveModel writes it back.
   */
  recommended: RecommendedSampling | undefined;

  constructor(config: TarFlowConfig, blocks: BlockParams[], priorVar: tf.Variable) {
    this.config = validateConfig(config);
    this.tokens = numTokens(this.config);
    this.patchDim = patchDim(this.config);
    this.heads = this.config.channels / this.config.head_dim;
    this.blocks = blocks;
    this.priorVar = priorVar;
  }

  /** A freshly initialised model (PyTorch-style initialisation, proj_out weight zero). */
  static init(config: TarFlowConfig, seed = 0): TarFlow {
    const c = validateConfig(config);
    const T = numTokens(c);
    const D = patchDim(c);
    const C = c.channels;
    let s = seed * 1000;
    const next = () => (s += 7);
    const small = (shape: number[]) => tf.tidy(() => tf.variable(tf.mul(tf.randomNormal(shape, 0, 1, 'float32', next()), 1e-2)));
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
        posEmbed: small([T, C]),
        classEmbed: c.num_classes > 0 ? small([c.num_classes, 1, C]) : null,
        attnMask: tf.keep(tf.tidy(() => tf.linalg.bandPart(tf.ones([T, T]), -1, 0))) as tf.Tensor2D,
        layers,
        projOut: initLinear(C, c.nvp ? 2 * D : D, next(), true),
        flip: i % 2 === 1,
      });
    }
    return new TarFlow(c, blocks, tf.tidy(() => tf.variable(tf.ones([T, D]), false)));
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

  /** x in block `index`'s position order (its permutation is its own inverse). */
  permuteForBlock(index: number, x: PatchSeq): PatchSeq {
    return tf.tidy(() => tf.clone(this.permute(x, this.blocks[index]))) as PatchSeq;
  }

  private permute(x: tf.Tensor, block: BlockParams): tf.Tensor {
    return block.flip ? tf.reverse(x, 1) : x;
  }

  /**
   * Mixing weights over the class table for each sample, [B, K]: one-hot for a
   * label, uniform (the mean embedding) for −1 or no labels. Null for an
   * unconditional model.
   */
  classWeights(batch: number, labels?: tf.Tensor1D): tf.Tensor2D | null {
    const K = this.config.num_classes;
    if (K === 0) return null;
    if (!labels) return tf.fill([batch, K], 1 / K) as tf.Tensor2D;
    const valid = tf.expandDims(tf.greaterEqual(labels, 0), 1);
    const oneHot = tf.cast(tf.oneHot(tf.maximum(labels, tf.scalar(0, 'int32')), K), 'float32');
    return tf.where(tf.tile(valid, [1, K]), oneHot, tf.fill([batch, K], 1 / K)) as tf.Tensor2D;
  }

  /**
   * Block `index`'s network (the reference's MetaBlock without its
   * permutation) on positions [start, start + n) of x [B, n, D], in the
   * block's position order, given the keys/values of positions [0, start).
   * Returns the raw projection [B, n, 2D] (row t produces position t + 1)
   * and the new positions' keys/values per layer.
   */
  private blockNetwork(index: number, x: tf.Tensor, start: number, cache: KVCache | null, branch: BranchOptions): NetworkOutput {
    const b = this.blocks[index];
    const [B, n] = x.shape;
    const { channels: C, head_dim: hd, num_classes: K } = this.config;
    const T = this.tokens;
    const H = this.heads;
    // Position embeddings of [start, start + n) in the block's order.
    const pos = b.flip ? tf.reverse(tf.slice(b.posEmbed, [T - start - n, 0], [n, C]), 0) : tf.slice(b.posEmbed, [start, 0], [n, C]);
    let h = tf.add(linear(x, b.projIn), pos);
    const cls = this.classWeights(B, branch.labels);
    if (b.classEmbed && cls) h = tf.add(h, tf.expandDims(tf.matMul(cls, tf.reshape(b.classEmbed, [K, C])), 1));
    const mask = causalMask(b.attnMask, start, n);
    const temp = branch.attnTemp ?? 1;
    const scale = typeof temp === 'number' ? hd ** -0.5 / temp : tf.reshape(tf.div(hd ** -0.5, temp), [B, 1, 1, 1]);
    const kv: NetworkOutput['kv'] = [];
    b.layers.forEach((l, li) => {
      const qkv = tf.transpose(tf.reshape(linear(layerNorm(h, l.attnNorm), l.qkv), [B, n, 3 * H, hd]), [0, 2, 1, 3]);
      const [q, k, v] = tf.split(qkv, 3, 1) as tf.Tensor4D[];
      const past = cache?.layers[li];
      const a = attention(q, past ? tf.concat([past.k, k], 2) : k, past ? tf.concat([past.v, v], 2) : v, scale, mask);
      h = tf.add(h, linear(tf.reshape(tf.transpose(a, [0, 2, 1, 3]), [B, n, C]), l.proj));
      h = tf.add(h, linear(gelu(linear(layerNorm(h, l.mlpNorm), l.fc1)), l.fc2));
      kv.push({ k, v });
    });
    return { out: linear(h, b.projOut), kv };
  }

  /** Splits a network's projection into (log-scale α, shift γ); without nvp α is 0. */
  affineParams(out: tf.Tensor): { logScale: tf.Tensor; shift: tf.Tensor } {
    const D = this.patchDim;
    if (!this.config.nvp) return { logScale: tf.zerosLike(out), shift: out };
    const [logScale, shift] = tf.split(out, [D, D], out.rank - 1);
    return { logScale, shift };
  }

  // ---------------------------------------------------------------- forward

  /**
   * Block `index`'s affine parameters for an input already in the block's
   * position order, shifted so that row t holds what produces position t (row 0
   * is zero): the forward pass computes z = exp(−α)·(x − γ) from these.
   */
  shiftedParams(index: number, xp: PatchSeq, labels?: tf.Tensor1D): { logScale: PatchSeq; shift: PatchSeq } {
    return tf.tidy(() => {
      const { logScale, shift } = this.affineParams(this.blockNetwork(index, xp, 0, null, { labels }).out);
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
    checkLabels(this, labels, images.shape[0]);
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
   * unless given (the reference's step). For large batches see sampling.ts' denoiseInParts.
   */
  denoise(images: ImageBatch, labels?: tf.Tensor1D, lr?: number): ImageBatch {
    checkLabels(this, labels, images.shape[0]);
    const step = lr ?? this.config.noise_std ** 2 * images.size;
    return tf.tidy(() => {
      const grad = tf.grad((x: tf.Tensor) => this.imageLoss(x as ImageBatch, labels))(images);
      return tf.sub(images, tf.mul(grad, step)) as ImageBatch;
    });
  }

  // ---------------------------------------------------------------- reverse

  /**
   * Block `index` as a causal affine map over its permuted positions, for one
   * branch (labels, attention temperature): what a solver inverts, x_t = z_t · exp(α_t) + γ_t.
   */
  blockMap(index: number, branch: BranchOptions = {}): CausalAffineMap<KVCache> {
    return this.cachedMap(index, (x, start, past) => {
      const { out, kv } = this.blockNetwork(index, x, start, past, branch);
      return { ...this.affineParams(out), kv };
    });
  }

  /**
   * The map a solver inverts for block `index`: guided when a guidance scale
   * is set. A guided map evaluates both branches in one network pass (see
   * guidance.ts), so a sequential step is one kernel sequence, not two; its
   * KVCache then holds 2B rows.
   */
  samplingMap(index: number, labels?: tf.Tensor1D, guidance?: GuidanceSettings, engine: SamplingEngine = 'auto'): CausalAffineMap<unknown> {
    if (chooseEngine(engine).name === 'fused') return this.fusedMap(index, labels, guidance);
    if (!isGuided(guidance)) return this.blockMap(index, { labels }) as CausalAffineMap<unknown>;
    return this.cachedMap(index, (x, start, past) =>
      guidedPass(x, 0, labels, guidance, this.tokens, start, (out) => this.affineParams(out), (both, branch) =>
        this.blockNetwork(index, both, start, past, branch),
      ),
    ) as CausalAffineMap<unknown>;
  }

  /**
   * samplingMap on @tarflow/kernels' fused kernels (see engine.ts). The
   * kernels read position embeddings in sampling order: a flipped block's are
   * reversed into a tensor that lives while any of the map's caches does (made
   * by emptyCache, freed with the last cache), so the map holds no tensor
   * between solves and follows the model's current weights.
   */
  private fusedMap(index: number, labels?: tf.Tensor1D, guidance?: GuidanceSettings): CausalAffineMap<unknown> {
    const b = this.blocks[index];
    const options = { heads: this.heads, labels, guidance: isGuided(guidance) ? guidance : undefined };
    let inner: { map: CausalAffineMap<FusedCache>; pos: tf.Tensor | null } | null = null;
    let live = 0;
    const open = () => {
      if (!inner) {
        const pos = b.flip ? tf.reverse(b.posEmbed, 0) : null;
        const weights = { projIn: b.projIn, posEmbed: pos ?? b.posEmbed, classEmbed: b.classEmbed, layers: b.layers, projOut: b.projOut };
        inner = { map: fusedBlockMap(weights, options), pos };
      }
      return inner.map;
    };
    const made = <T>(cache: T): T => {
      live += 1;
      return cache;
    };
    return {
      tokens: this.tokens,
      dim: this.patchDim,
      emptyCache: (batch) => made(open().emptyCache(batch)),
      evaluate: (x, start, cache) => {
        const r = open().evaluate(x, start, cache as FusedCache);
        return { params: r.params, cache: made(r.cache) };
      },
      truncateCache: (cache, length) => made(open().truncateCache(cache as FusedCache, length)),
      disposeCache: (cache) => {
        if (!inner) return;
        inner.map.disposeCache(cache as FusedCache);
        if (--live === 0) {
          inner.pos?.dispose();
          inner = null;
        }
      },
    };
  }

  /**
   * A causal map over block `index`'s KV cache: `run` evaluates positions
   * [start, start + n) given the cached keys/values of [0, start) and returns
   * the affine parameters and the new positions' keys/values (inside a tidy).
   */
  private cachedMap(
    index: number,
    run: (x: PatchSeq, start: number, past: KVCache | null) => { logScale: tf.Tensor; shift: tf.Tensor; kv: NetworkOutput['kv'] },
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

  /** All blocks as one chain in sampling order, for a joint solve (see stack.ts). Call dispose() when done. */
  samplingChain(labels?: tf.Tensor1D, guidance?: GuidanceSettings, engine: SamplingEngine = 'auto'): CausalChain & { dispose(): void } {
    return samplingChain(this, labels, guidance, engine);
  }

  // ---------------------------------------------------------------- sampling (sampling.ts)

  /**
   * Samples images from noise [B, T, D] (standard normal; scaled by the
   * prior's √var and the temperature). Each block is inverted by the solver
   * its strategy names; the default is the exact sequential inverse.
   */
  sample(noise: PatchSeq, options: SampleOptions = {}): SampleResult {
    return runSync(sampleSteps(this, noise, options));
  }

  /**
   * `sample` with asynchronous device reads: the way to sample on WebGPU in
   * browsers (which cannot read synchronously), and a way to keep a page
   * responsive — the event loop runs at every read.
   */
  async sampleAsync(noise: PatchSeq, options: SampleOptions = {}): Promise<SampleResult> {
    await ensureBackend();
    return runAsync(sampleSteps(this, noise, options));
  }

  /** The steps of `sample`, yielding each scalar it reads (see @tarflow/solvers' runSync / runAsync). */
  sampleSteps(noise: PatchSeq, options: SampleOptions = {}): ReadSteps<SampleResult> {
    return sampleSteps(this, noise, options);
  }

  // ---------------------------------------------------------------- misc

  /** All trainable variables. */
  trainableVariables(): tf.Variable[] {
    return this.blocks.flatMap(blockVariables);
  }

  /** Frees every tensor of the model. */
  dispose(): void {
    for (const v of this.trainableVariables()) v.dispose();
    for (const b of this.blocks) b.attnMask.dispose();
    this.priorVar.dispose();
  }
}
