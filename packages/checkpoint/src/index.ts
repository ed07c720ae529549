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
  parseSafetensorsHeader,
  readHeaderLength,
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
  type SafetensorsHeader,
  type SafetensorsHeaderEntry,
} from './safetensors.js';
export { DTYPE_SIZE } from './dtype.js';
export {
  readPth,
  readPthIndex,
  extractStateDict,
  stripPrefixes,
  unpickleCheckpoint,
  TensorRef,
  ALLOWED_GLOBALS,
  WRAPPER_KEYS,
  WRAPPER_PREFIXES,
  type PthCheckpoint,
  type PthReadOptions,
  type PthIndex,
  type StorageRef,
  type Inflate,
  type ExtractedStateDict,
} from './pth.js';
export {
  importCheckpoint,
  sniffFormat,
  type ConversionInput,
  type ConversionMetadata,
  type ImportOptions,
  type ImportReport,
} from './import.js';
export { unpickle, PyTuple, PyGlobal, type UnpickleOptions } from './pickle.js';
export { crc32 } from './crc32.js';
