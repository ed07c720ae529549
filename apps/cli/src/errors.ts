/**
 * Errors the CLI reports as one line on stderr: every message names the input
 * that is wrong. Usage errors (bad flags or flag values) exit with code 2,
 * everything else with code 1.
 */
export class CliError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** A flag, argument or combination of them that cannot work. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'UsageError';
  }
}

/** The message of anything thrown. */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
