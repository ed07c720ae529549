/**
 * Error raised for every dataset problem this package detects: a missing,
 * truncated or malformed file, a wrong IDX magic number, an images/labels
 * count mismatch, a non-PNG file in an image folder, an empty folder.
 *
 * The message always names the offending file or folder first, so a CLI can
 * print it as-is: `/data/x/train-images-idx3-ubyte.gz: truncated IDX file ...`.
 */
export class DatasetError extends Error {
  /** The file or folder the problem is about, when there is one. */
  readonly file: string | undefined;
  /** The problem without the file name, e.g. `wrong magic number 0x00000801`. */
  readonly problem: string;

  constructor(file: string | undefined, problem: string, options?: { cause?: unknown }) {
    super(file === undefined ? problem : `${file}: ${problem}`, options);
    this.name = 'DatasetError';
    this.file = file;
    this.problem = problem;
  }
}
