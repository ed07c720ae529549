#!/usr/bin/env bash
# Prepares a TarFlow training run for a GPU machine (scripts/gpu-train.sh):
# resumes a run folder of studies/train-default.ts on Node WebGPU through Dawn.
# Run it here, on an x86-64 Linux with the workspace installed (pnpm install):
#
#   scripts/gpu-train-prepare.sh RUN_DIR      # e.g. studies/.runs/fashion-cond
#
# It writes three git-ignored folders under .gpu-train/, carried to the GPU
# machine in separate calls (together they exceed the device tool's 64 MiB):
#   runtime/   node.xz, node_modules/webgpu (dawn.node.xz), debs/ — taken from the
#              GPU bench bundle ($TARFLOW_GPU_BUNDLE or .gpu-bundle/, built by
#              gpu-bench-prepare.sh when missing) — and train.mjs (studies/train-default.ts bundled by esbuild)
#   data/      the run's dataset: Fashion-MNIST's four IDX files (xz), or the
#              `mnist` package's digits (tar.xz)
#   resume/    the run's newest complete checkpoint pair and run.env (dataset, steps)
# and prints the sizes and the calls to make.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/.gpu-train
die() { echo "gpu-train-prepare: $*" >&2; exit 2; }

[ $# -eq 1 ] && [ "$1" != --help ] || { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; [ "${1:-}" = --help ] && exit 0; exit 2; }
run_dir=$1
[ -d "$run_dir/checkpoints" ] || die "$run_dir has no checkpoints/ folder (a run folder of studies/train-default.ts)"
command -v xz >/dev/null || die "xz is needed (apt-get install xz-utils)"

# The newest complete pair: the sidecar is written after its model file.
sidecar=$(ls "$run_dir"/checkpoints/step-*.train.safetensors 2>/dev/null | sort | tail -n 1)
[ -n "$sidecar" ] || die "$run_dir/checkpoints has no complete checkpoint (step-N.train.safetensors)"
model=${sidecar%.train.safetensors}.safetensors
[ -f "$model" ] || die "$model is missing beside $sidecar"
read -r dataset steps step < <(node -e "
  const b = require('fs').readFileSync(process.argv[1]);
  const n = Number(b.readBigUInt64LE(0));
  const s = JSON.parse(JSON.parse(b.subarray(8, 8 + n).toString()).__metadata__.train_state);
  console.log(s.options.dataset.split('/')[0], s.options.steps, s.step);" "$sidecar")
case "$dataset" in mnist|fashion-mnist) ;; *) die "$sidecar: dataset '$dataset' is neither mnist nor fashion-mnist" ;; esac

rm -rf "$out"
mkdir -p "$out"/{runtime/node_modules,data,resume}

echo "gpu-train-prepare: Node, Dawn and the Vulkan loader from the GPU bench bundle"
bundle=${TARFLOW_GPU_BUNDLE:-$root/.gpu-bundle}
[ -f "$bundle/node.xz" ] || scripts/gpu-bench-prepare.sh "$bundle" >&2
cp "$bundle/node.xz" "$out/runtime/"
cp -r "$bundle/node_modules/webgpu" "$out/runtime/node_modules/"
cp -r "$bundle/debs" "$out/runtime/"

echo "gpu-train-prepare: bundling studies/train-default.ts"
pnpm --filter '@tarflow/studies^...' build >/dev/null
node scripts/gpu-bench/build.mjs "$out/runtime/train.mjs" studies/train-default.ts 2>/dev/null

echo "gpu-train-prepare: the $dataset data"
if [ "$dataset" = fashion-mnist ]; then
  src=${TARFLOW_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist} # as @tarflow/data's fashionMnistDir()
  for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    if [ -f "$src/$f.gz" ]; then gzip -dc "$src/$f.gz"; elif [ -f "$src/$f" ]; then cat "$src/$f"; else die "$src/$f[.gz] not found"; fi | xz -T0 -9 > "$out/data/$f.xz"
  done
else
  mnist=$(cd packages/data && node -p "require('path').dirname(require.resolve('mnist/package.json'))")
  tar -C "$mnist/.." -cf - "$(basename "$mnist")/package.json" "$(basename "$mnist")/src/digits" | xz -T0 -9 > "$out/data/mnist.tar.xz"
fi

cp "$model" "$sidecar" "$out/resume/"
printf 'dataset=%s\nsteps=%s\nstep=%s\n' "$dataset" "$steps" "$step" > "$out/resume/run.env"

mib() { echo $(( ($(du -sb "$1" | cut -f1) + 1048575) / 1048576 )); }
tree=$(( ($(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -n 1 | cut -f1) + $(git ls-files -z --others --exclude-standard | xargs -0 -r du -cb 2>/dev/null | tail -n 1 | cut -f1)) / 1048576 + 1 ))
echo "gpu-train-prepare: ready — resume at step $step of $steps ($dataset). Sizes (MiB): working tree ~$tree," \
  "runtime $(mib "$out/runtime"), data $(mib "$out/data"), resume $(mib "$out/resume"); each device call carries the tree" \
  "and its folders (at most 64 MiB). Calls, back to back (the machine stays warm 30 s between calls):"
echo "  1. carry [\".gpu-train/runtime\"]:  scripts/gpu-train.sh stage"
echo "  2. carry [\".gpu-train/data\"]:     scripts/gpu-train.sh stage"
echo "  3. carry [\".gpu-train/resume\"]:   scripts/gpu-train.sh run [--seconds 480]   (timeout_s 600)"
echo "  (2 and 3 may be one call, carrying both, where the tree, data and resume fit in 64 MiB together)"
