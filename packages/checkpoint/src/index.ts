/**
 * @tarflow/checkpoint — safetensors read/write and PyTorch checkpoint import
 * that never executes pickle code. Browser-safe: pure TypedArrays, no Node
 * APIs; file I/O lives in `@tarflow/checkpoint/node`.
 */
export {
  CheckpointError,
  parseSafetensors,
  serializeSafetensors,
  layoutSafetensors,
  toFloat32,
  toInt32,
  f32Tensor,
  i64Tensor,
  MAX_HEADER_BYTES,
  type DType,
  type RawTensor,
  type SafetensorsFile,
  type SafetensorsLayout,
  type TensorSpec,
} from './safetensors.js';
export { DTYPE_SIZE } from './dtype.js';
