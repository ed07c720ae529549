/**
 * @tarflow/cli — the `tarflow` command line. `run(argv)` runs it in-process
 * and returns the exit code; the bin (bin/tarflow.js) calls it.
 */
export { run, buildProgram, VERSION } from './cli.js';
export { CliError, UsageError } from './errors.js';
