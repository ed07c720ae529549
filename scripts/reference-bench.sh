#!/usr/bin/env bash
# Times our samplers beside the PyTorch references on one CPU thread and
# writes the section "Against the PyTorch references" into docs/benchmarks.md
# (and docs/benchmarks.json), leaving the rest of the report as it was.
#
#   scripts/reference-bench.sh [refs-dir] [extra `tarflow bench` flags]
#
# refs-dir (default: $TARFLOW_REFERENCE, else ../tarflow-refs beside the
# repository) gets ml-tarflow/ and GS-Jacobi_for_TarFlow/: existing checkouts
# are used as they are, missing ones are cloned at the commits below. The
# reference code stays there; scripts/reference-bench/reference_bench.py
# imports it at run time.
# Needs Debian's PyTorch (python3-torch) and an optimised BLAS for it
# (libopenblas0-pthread; Debian's default reference BLAS is several times
# slower): as root the script installs both with apt-get when torch is missing.
# Environment: TARFLOW_PYTHON (a python with torch; default: python3 if it has
# torch, else /usr/bin/python3).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
refs=${1:-${TARFLOW_REFERENCE:-$here/../tarflow-refs}}
[ $# -gt 0 ] && shift
say() { echo "reference-bench: $*" >&2; }

TARFLOW_COMMIT=313120e9dfaec546b3f464d0fa87866eb0c309fa   # apple/ml-tarflow, 2024-12-16
GSJ_COMMIT=4593d3f35a71f47eb71fb11433a0b4b962ce5006       # Minokori/GS-Jacobi_for_TarFlow, 2025-06-10

checkout() { # name url commit
  local dir=$refs/$1
  if [ -d "$dir" ]; then return; fi
  say "cloning $2 into $dir"
  git clone --quiet "$2" "$dir"
  git -C "$dir" checkout --quiet "$3"
}
mkdir -p "$refs"
checkout ml-tarflow https://github.com/apple/ml-tarflow "$TARFLOW_COMMIT"
checkout GS-Jacobi_for_TarFlow https://github.com/Minokori/GS-Jacobi_for_TarFlow "$GSJ_COMMIT"

has_torch() { "$1" -c 'import torch' 2>/dev/null; }
python=${TARFLOW_PYTHON:-}
if [ -z "$python" ]; then
  for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && has_torch "$p"; then python=$p; break; fi
  done
fi
if [ -z "$python" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing python3-torch and libopenblas0-pthread"
    apt-get update -qq && apt-get install -y -qq python3-torch libopenblas0-pthread >/dev/null
    python=/usr/bin/python3
  else
    say "no python with torch: install python3-torch and libopenblas0-pthread (apt-get), or set TARFLOW_PYTHON"
    exit 2
  fi
fi

cd "$here"
[ -f apps/cli/dist/index.js ] || { say "build first: pnpm build"; exit 2; }
TARFLOW_PYTHON=$python exec node apps/cli/bin/tarflow.js bench --reference "$refs" --reference-only --out docs/benchmarks.md "$@"
