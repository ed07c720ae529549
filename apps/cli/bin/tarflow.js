#!/usr/bin/env node
// The `tarflow` command. Run from the repository root as `pnpm tarflow …`:
// pnpm runs root scripts in the root folder, so relative paths are taken
// from the folder pnpm was called in (INIT_CWD), as a user expects.
if (process.env.npm_lifecycle_event === 'tarflow' && process.env.INIT_CWD) process.chdir(process.env.INIT_CWD);
const { run } = await import('../dist/index.js');
process.exitCode = await run(process.argv.slice(2));
