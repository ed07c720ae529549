export {
  registerFusedKernels,
  fusedLinear,
  fusedEmbed,
  cachedAttention,
  fusedAffine,
  FUSED_KERNELS,
  FUSED_BACKENDS,
  WASM_GEMM_MIN_MACS,
  type LinearWeights,
  type NormWeights,
  type AffineGuidance,
} from './kernels.js';
export { fusedBlockMap, type FusedBlockWeights, type FusedLayerWeights, type FusedBlockOptions, type FusedCache } from './block-map.js';
export { fusedSupport, type FusedSupport } from './support.js';
