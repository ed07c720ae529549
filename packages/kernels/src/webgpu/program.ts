/**
 * Running a WGSL program through tfjs' WebGPU backend (tfjs-backend-webgpu
 * 4.22) without importing it: the backend instance handed to a kernel has
 * runWebGPUProgram(program, inputs, dtype, uniforms, output?), which wraps
 * the program's main() in tfjs' shader prelude (one storage binding per input
 * named after variableNames, the output `result`, a `uniforms` struct) and
 * records one dispatch. Given `output`, it writes into that tensor's buffer
 * instead of a new one — how the KV cache is updated in place.
 *
 * Every tensor is bound flat ([size]), so the shaders index buffers directly
 * and one compiled pipeline serves every shape with the same baked constants.
 */
import { tf } from '@tarflow/tensor';

/** Threads per workgroup of every program here. */
export const WORKGROUP = 64;
/** Most workgroups per dispatch dimension WebGPU guarantees (maxComputeWorkgroupsPerDimension). */
export const MAX_GROUPS = 65535;

export interface ProgramUniform {
  type: 'int32' | 'float32';
  data: number[];
}

/** The members of the backend's WebGPUProgram that runWebGPUProgram reads. */
export class FusedProgram {
  readonly outputShape: number[];
  readonly dispatchLayout: { x: number[]; y?: number[] };
  readonly workgroupSize: [number, number, number] = [WORKGROUP, 1, 1];
  dispatch: [number, number, number];
  /** Per input, 1 (array<f32>) or 4 (array<vec4<f32>>); all 1 when absent. */
  variableComponents?: number[];
  /** 4 to bind the output as array<vec4<f32>>. */
  outputComponent?: number;
  /**
   * @param shaderKey names the program and every constant baked into its code (tfjs extends it with the
   *   bindings' ranks and types on each run, so a program object serves one run)
   * @param variableNames the input bindings, in the order the inputs are passed
   * @param uniforms WGSL struct members ("start : i32, scale : f32,"), passed as ProgramUniform values in the same order
   * @param body WGSL: `fn main(index : i32)` for a flat program (one thread per output element, `groups` a number),
   *   or `fn main()` reading localIndex and workgroupId for a program laid out in workgroups ([x, y, z])
   * @param components per input, 4 to bind it as array<vec4<f32>> (its size a multiple of 4); the shader key must say so
   */
  constructor(
    public shaderKey: string,
    readonly variableNames: string[],
    outputSize: number,
    groups: number | [number, number, number],
    readonly uniforms: string,
    private readonly body: string,
    components?: number[],
  ) {
    this.outputShape = [outputSize];
    if (components) this.variableComponents = components;
    if (typeof groups === 'number') {
      this.dispatchLayout = { x: [0] };
      this.dispatch = [Math.ceil(groups / WORKGROUP), 1, 1];
    } else {
      // A second (empty) layout axis tells tfjs that main() takes no index.
      this.dispatchLayout = { x: [0], y: [1] };
      this.dispatch = groups;
    }
  }

  getUserCode(): string {
    return this.body;
  }
}

export interface WebGPUBackendLike {
  runWebGPUProgram(program: FusedProgram, inputs: tf.TensorInfo[], dtype: 'float32', uniforms?: ProgramUniform[], output?: tf.TensorInfo): tf.TensorInfo;
  makeTensorInfo(shape: number[], dtype: 'float32' | 'int32', values?: Float32Array | Int32Array): tf.TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
  device: GPUDeviceLike;
}

export interface GPUDeviceLike {
  limits: Record<string, number>;
}

const flat = (t: tf.TensorInfo): tf.TensorInfo => ({ dataId: t.dataId, shape: [t.shape.reduce((a, b) => a * b, 1)], dtype: t.dtype });

/**
 * One dispatch of `program` over flat views of `inputs`: a new float32 tensor
 * of shape `shape`, or `into`'s buffer overwritten (in place) where given.
 */
export function runProgram(
  backend: WebGPUBackendLike,
  program: FusedProgram,
  inputs: tf.TensorInfo[],
  uniforms: ProgramUniform[],
  shape: number[],
  into?: tf.TensorInfo,
): tf.TensorInfo {
  const out = backend.runWebGPUProgram(program, inputs.map(flat), 'float32', uniforms, into ? flat(into) : undefined);
  return { dataId: out.dataId, shape, dtype: 'float32' };
}

/** Splits a count of workgroups over y and z so neither exceeds the per-dimension limit. */
export function rowGroups(x: number, rows: number): [number, number, number] {
  return [x, Math.min(rows, MAX_GROUPS), Math.ceil(rows / MAX_GROUPS)];
}

/** WGSL: the row of a program dispatched with rowGroups (may be past the last row in the last z slice). */
export const ROW_FROM_GROUPS = `i32(workgroupId.y) + i32(workgroupId.z) * ${MAX_GROUPS}`;

/** WGSL: exact GELU with tfjs' erf (Abramowitz & Stegun 7.1.26, as math.ts). */
export const GELU_WGSL = `
fn tarflowErf(x : f32) -> f32 {
  let v = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * v);
  let poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t;
  return sign(x) * (1.0 - poly * exp(-v * v));
}
fn tarflowGelu(x : f32) -> f32 {
  return x * 0.5 * (1.0 + tarflowErf(x * 0.7071067811865476));
}
`;
