/**
 * The one error type this package throws for bad input: malformed safetensors
 * files, malformed or disallowed PyTorch checkpoints, tensors of the wrong
 * size. The message names the problem and, where one is involved, the tensor.
 */
export class CheckpointError extends Error {
  /** The tensor the problem concerns, when there is one. */
  readonly tensor: string | undefined;

  constructor(message: string, options?: { tensor?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CheckpointError';
    this.tensor = options?.tensor;
  }
}

/** `'name'` quoted for messages, with control characters escaped. */
export function quote(name: string): string {
  return JSON.stringify(name).replace(/^"|"$/g, "'");
}
