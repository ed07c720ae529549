export {
  registerFusedKernels,
  fusedLinear,
  fusedEmbed,
  cachedAttention,
  fusedAffine,
  FUSED_KERNELS,
  FUSED_BACKENDS,
  WASM_GEMM_MIN_MACS,
  WASM_XNNPACK_MIN_ROWS,
  type LinearWeights,
  type NormWeights,
  type AffineGuidance,
} from './kernels.js';
export { fusedLayer, hasLayerKernel, LAYER, type LayerWeights } from './layer.js';
export { fusedBlockMap, type FusedBlockWeights, type FusedLayerWeights, type FusedBlockOptions, type FusedCache } from './block-map.js';
export { fusedSupport, FUSED_SUPPORTED_BACKENDS, type FusedSupport } from './support.js';
export { WEBGPU_REQUIREMENTS } from './webgpu/support.js';
