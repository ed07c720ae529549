/**
 * The four fused TarFlow kernels for tfjs' WebGPU backend: the inputs, attrs
 * and outputs of ../kernels.ts, computed by the WGSL programs of programs.ts.
 * A sequential block-step is 2 + 5 · layers kernels and 3 + 6 · layers
 * dispatches (attention writes the KV cache, then attends):
 *
 *   TarflowEmbed      1 dispatch    embed
 *   TarflowLinear     1 dispatch    linear (LayerNorm, GELU, residual baked in)
 *   TarflowAttention  2 dispatches  kvWrite into the cache buffer (in place), attention
 *   TarflowAffine     2 dispatches  affine α, affine γ (both guidance branches read in each)
 */
import { tf } from '@tarflow/tensor';
import { AFFINE, ATTENTION, EMBED, LINEAR } from '../kernels.js';
import { runProgram, type WebGPUBackendLike } from './program.js';
import { affineProgram, attentionProgram, embedProgram, kvWriteProgram, linearProgram } from './programs.js';

type Info = tf.TensorInfo;
const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const int = (...data: number[]) => ({ type: 'int32' as const, data });

function embedKernel(backend: WebGPUBackendLike, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): Info {
  const { x, weight, bias, pos, labels, classEmbed } = inputs as Record<string, Info | undefined> as Record<string, Info>;
  const { start, copies } = attrs as { start: number; copies: number };
  const [B, n, D] = x.shape;
  const C = weight.shape[0];
  const classes = classEmbed ? classEmbed.shape[0] : 0;
  const hasLabels = classes > 0 && !!labels;
  const program = embedProgram({ B, n, D, C, copies, classes, labels: hasLabels });
  const ins = [x, weight, bias, pos, ...(hasLabels ? [labels] : []), ...(classes > 0 ? [classEmbed] : [])];
  return runProgram(backend, program, ins, [int(start), int(copies * B), int(n), int(B)], [copies * B, n, C]);
}

function linearKernel(backend: WebGPUBackendLike, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): Info {
  const { x, weight, bias, normWeight, normBias, residual } = inputs as Record<string, Info>;
  const { gelu } = attrs as { gelu: boolean };
  const K = x.shape[x.shape.length - 1];
  const M = size(x.shape) / K;
  const N = weight.shape[0];
  const norm = !!(normWeight && normBias);
  const program = linearProgram({ M, K, N, norm, gelu: !!gelu, residual: !!residual });
  const ins = [x, weight, bias, ...(norm ? [normWeight, normBias] : []), ...(residual ? [residual] : [])];
  return runProgram(backend, program, ins, [int(M)], [...x.shape.slice(0, -1), N]);
}

function attentionKernel(backend: WebGPUBackendLike, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): Info {
  const { qkv, cache } = inputs as Record<string, Info>;
  const { layer, start, scales } = attrs as { layer: number; start: number; scales: number[] };
  const [R, n, C3] = qkv.shape;
  const [L, , , H, T, hd] = cache.shape;
  const uniforms = [int(start), int(n), int(layer)];
  runProgram(backend, kvWriteProgram({ L, R, H, T, hd, n }), [qkv], uniforms, cache.shape, cache);
  const s = backend.makeTensorInfo([R], 'float32', Float32Array.from(scales));
  try {
    return runProgram(backend, attentionProgram({ R, H, T, hd, n }), [qkv, cache, s], uniforms, [R, n, C3 / 3]);
  } finally {
    backend.disposeData(s.dataId);
  }
}

function affineKernel(backend: WebGPUBackendLike, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): Info[] {
  const { x, weight, bias } = inputs as Record<string, Info>;
  const { batch, dim, nvp, tokens, start, guided, scale, on, annealed } = attrs as {
    batch: number; dim: number; nvp: boolean; tokens: number; start: number; guided: boolean;
    scale: number; on: 'alpha' | 'gamma' | 'both'; annealed: boolean;
  };
  const [, n, C] = x.shape;
  const uniforms = [int(start), int(n), int(batch), int(tokens), { type: 'float32' as const, data: [scale] }];
  const half = (part: 'alpha' | 'gamma') => {
    // Shift only (no nvp): the log-scale is 0, a CPU-side zero tensor the next op uploads.
    if (part === 'alpha' && !nvp) return backend.makeTensorInfo([batch, n, dim], 'float32', new Float32Array(batch * n * dim));
    const guidedPart = guided && (part === 'alpha' ? nvp && on !== 'gamma' : on !== 'alpha');
    const program = affineProgram({ B: batch, n, D: dim, C, nvp, part, guided: guidedPart, annealed });
    return runProgram(backend, program, [x, weight, bias], uniforms, [batch, n, dim]);
  };
  return [half('alpha'), half('gamma')];
}

/** Registers the fused kernels for the 'webgpu' backend (no-op where already registered). */
export function registerWebGPUKernels(): void {
  const configs: Array<[string, tf.KernelFunc]> = [
    [EMBED, ({ inputs, backend, attrs }) => embedKernel(backend as unknown as WebGPUBackendLike, inputs, attrs ?? {})],
    [LINEAR, ({ inputs, backend, attrs }) => linearKernel(backend as unknown as WebGPUBackendLike, inputs, attrs ?? {})],
    [ATTENTION, ({ inputs, backend, attrs }) => attentionKernel(backend as unknown as WebGPUBackendLike, inputs, attrs ?? {})],
    [AFFINE, ({ inputs, backend, attrs }) => affineKernel(backend as unknown as WebGPUBackendLike, inputs, attrs ?? {})],
  ];
  for (const [kernelName, kernelFunc] of configs) {
    if (!tf.getKernel(kernelName, 'webgpu')) tf.registerKernel({ kernelName, backendName: 'webgpu', kernelFunc });
  }
}
