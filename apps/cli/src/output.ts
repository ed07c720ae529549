/**
 * Where command results go: text or JSON on stdout, notes on stderr.
 */
export interface CommonFlags {
  json?: boolean;
  progress?: boolean;
}

/** Prints a result: JSON (one document) with --json, else the text. */
export function emit(flags: CommonFlags, json: unknown, text: () => string): void {
  if (flags.json) process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  else process.stdout.write(`${text()}\n`);
}

/** A note for the user on stderr (never mixed into --json output). */
export function note(message: string): void {
  process.stderr.write(`${message}\n`);
}
