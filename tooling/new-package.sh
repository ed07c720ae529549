#!/usr/bin/env bash
# Scaffolds a package: tooling/new-package.sh <dir> <name> <description> <deps-json> [devdeps-json]
# usage: mkpkg dir name "description" deps-json
dir=$1; name=$2; desc=$3; deps=$4; devdeps=${5:-"{}"}
# every package builds and tests with the shared configs
devdeps=$(node -e 'console.log(JSON.stringify({"@tarflow/tsup-config":"workspace:*","@tarflow/vitest-config":"workspace:*",...JSON.parse(process.argv[1])}))' "$devdeps")
mkdir -p $dir/src $dir/test
cat > $dir/package.json <<JSON
{
  "name": "$name",
  "version": "0.1.0",
  "description": "$desc",
  "keywords": ["tarflow"],
  "type": "module",
  "license": "MIT",
  "repository": { "type": "git", "url": "git+https://github.com/tarflow-fast/tarflow-fast.git", "directory": "$dir" },
  "homepage": "https://github.com/tarflow-fast/tarflow-fast/tree/main/$dir#readme",
  "engines": { "node": ">=20.19" },
  "main": "./dist/index.js",
  "types": "./dist/index.d.ts",
  "exports": {
    ".": { "types": "./dist/index.d.ts", "default": "./dist/index.js" }
  },
  "files": ["dist", "LICENSE"],
  "sideEffects": false,
  "scripts": {
    "build": "tsup",
    "test": "vitest run",
    "typecheck": "tsc -p tsconfig.json",
    "lint": "tsc -p tsconfig.json --noUnusedLocals --noUnusedParameters"
  },
  "dependencies": $deps,
  "devDependencies": $devdeps
}
JSON
# published packages ship the project's LICENSE (tooling/consumer-test checks every tarball)
cp "$(dirname "$0")/../LICENSE" $dir/LICENSE
cat > $dir/tsconfig.json <<JSON
{
  "extends": "../../tooling/tsconfig/base.json",
  "include": ["src", "test", "*.config.ts"]
}
JSON
cat > $dir/tsup.config.ts <<'TS'
import { tarflowTsup } from '@tarflow/tsup-config';

export default tarflowTsup();
TS
cat > $dir/vitest.config.ts <<'TS'
import { tarflowVitest } from '@tarflow/vitest-config';

export default tarflowVitest();
TS
