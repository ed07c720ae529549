#!/usr/bin/env bash
# Runs the TarFlow sampling benchmark on Node WebGPU from the bundle that
# scripts/gpu-bench-prepare.sh built (.gpu-bundle/ by default). Needs no Node
# and no network on this machine: the bundle carries Node, the Dawn addon and
# the Vulkan loader. Needs an x86-64 Linux with a GPU and its Vulkan driver
# (for NVIDIA: the driver's ICD manifest, nvidia_icd.json).
#
#   scripts/gpu-bench.sh [--dry] [bench options, see scripts/gpu-bench/main.ts]
#
# Results: results.json and results.md in $OUT (the device tool's output
# folder) or ./gpu-bench-results, or in the folder given with --out.
# --dry: report whether there is a WebGPU adapter and exit 0 either way (with
# one, also time two strategies once) — for trying the bundle on a machine
# without a GPU.
# Environment: TARFLOW_GPU_BUNDLE (bundle folder), TARFLOW_NODE (use this Node
# instead of the bundled one), TARFLOW_BENCH_TIMEOUT_S (hard stop, default 470).
# Exit codes: 0 done, 2 no bundle, 3 no adapter (without --dry), 124 hard stop,
# else the bench's own (1: an error, written to results.json as well).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bundle=${TARFLOW_GPU_BUNDLE:-$here/.gpu-bundle}
out=${OUT:-$PWD/gpu-bench-results}
hard_stop=${TARFLOW_BENCH_TIMEOUT_S:-470}
# An --out among the arguments names the results folder (the bench takes the last one given).
prev=
for a in "$@"; do
  [ "$prev" = --out ] && out=$a
  prev=$a
done

say() { echo "gpu-bench: $*" >&2; }

[ -f "$bundle/bench.mjs" ] || { say "no bundle at $bundle: run scripts/gpu-bench-prepare.sh first (and carry .gpu-bundle)"; exit 2; }
[ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] || { say "the bundle is for Linux x86-64, this is $(uname -s)-$(uname -m)"; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tarflow-gpu-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# unxz_to, unpack_deb and gpu_node_env (Node, the Vulkan loader, the driver manifest).
. "$here/scripts/gpu-node-env.sh"

# The run folder: bench.mjs beside a webgpu package with its dawn.node unpacked.
run=$work/run
mkdir -p "$run/node_modules/webgpu/dist/linux-x64"
cp "$bundle/bench.mjs" "$run/"
cp "$bundle/node_modules/webgpu/index.js" "$bundle/node_modules/webgpu/package.json" "$run/node_modules/webgpu/"
unxz_to "$bundle/node_modules/webgpu/dist/linux-x64/dawn.node.xz" "$run/node_modules/webgpu/dist/linux-x64/dawn.node"
for d in models fixtures wasm; do [ -d "$bundle/$d" ] && ln -s "$bundle/$d" "$run/$d"; done

gpu_node_env "$bundle" "$work"

# The zoo's models travel with the repository rather than in the bundle.
zoo=()
if [ -d "$here/packages/zoo" ]; then
  while IFS= read -r f; do zoo+=(--model "$f"); done < <(find "$here/packages/zoo" -name node_modules -prune -o -name '*.safetensors' -type f -print | sort)
fi

mkdir -p "$out"
set +e
timeout --kill-after=10 "$hard_stop" "$node" "$run/bench.mjs" --out "$out" "${zoo[@]}" "$@"
rc=$?
set -e
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then say "stopped after ${hard_stop} s; partial results are in $out"; fi
[ -f "$out/results.md" ] && cat "$out/results.md"
exit "$rc"
