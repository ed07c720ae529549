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

# xz -d, or Python's lzma where xz is missing.
unxz_to() {
  if command -v xz >/dev/null 2>&1; then xz -dc "$1" > "$2"
  else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"
  fi
}

# The data members of a .deb, with dpkg-deb or, where it is missing, Python.
unpack_deb() {
  if command -v dpkg-deb >/dev/null 2>&1; then dpkg-deb -x "$1" "$2"
  else python3 - "$1" "$2" <<'PY'
import io, sys, tarfile
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'!<arch>\n', 'not a .deb (ar archive)'
pos = 8
while pos < len(data):
    name = data[pos:pos + 16].decode().strip().rstrip('/')
    size = int(data[pos + 48:pos + 58].decode().strip())
    body = data[pos + 60:pos + 60 + size]
    if name.startswith('data.tar'):
        tarfile.open(fileobj=io.BytesIO(body)).extractall(sys.argv[2])
        break
    pos += 60 + size + (size % 2)
else:
    sys.exit('no data.tar member in ' + sys.argv[1])
PY
  fi
}

# The run folder: bench.mjs beside a webgpu package with its dawn.node unpacked.
run=$work/run
mkdir -p "$run/node_modules/webgpu/dist/linux-x64"
cp "$bundle/bench.mjs" "$run/"
cp "$bundle/node_modules/webgpu/index.js" "$bundle/node_modules/webgpu/package.json" "$run/node_modules/webgpu/"
unxz_to "$bundle/node_modules/webgpu/dist/linux-x64/dawn.node.xz" "$run/node_modules/webgpu/dist/linux-x64/dawn.node"
for d in models fixtures wasm; do [ -d "$bundle/$d" ] && ln -s "$bundle/$d" "$run/$d"; done

if [ -n "${TARFLOW_NODE:-}" ]; then
  node=$TARFLOW_NODE
else
  unxz_to "$bundle/node.xz" "$work/node"
  chmod +x "$work/node"
  node=$work/node
fi
say "Node $("$node" --version)"

# The Vulkan loader and GLVND's dispatch library (which NVIDIA's Vulkan
# driver, libGLX_nvidia.so.0, links against): the machine's, else the bundled
# packages, unpacked into the work folder and put on LD_LIBRARY_PATH.
bundled_lib() { # package, library it provides
  if ldconfig -p 2>/dev/null | grep -q "$2 "; then
    say "$2: the system's"
  else
    local deb
    deb=$(ls "$bundle"/debs/"$1"_*.deb 2>/dev/null | head -n 1)
    if [ -z "$deb" ]; then say "$2: missing, and the bundle has no $1 package"; return; fi
    unpack_deb "$deb" "$work/libs"
    say "$2: $(basename "$deb") (bundled)"
  fi
}
bundled_lib libvulkan1 libvulkan.so.1
bundled_lib libglvnd0 libGLdispatch.so.0
bundled_lib libglx0 libGLX.so.0
bundled_lib libegl1 libEGL.so.1
bundled_lib libgl1 libGL.so.1
bundled_lib libopengl0 libOpenGL.so.0
bundled_lib libgles2 libGLESv2.so.2
[ -d "$work/libs/usr/lib/x86_64-linux-gnu" ] && export LD_LIBRARY_PATH="$work/libs/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# The NVIDIA driver's Vulkan manifest, where the loader would not look for it
# (some GPU containers mount the driver under /usr/local/nvidia).
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && ! ls /usr/share/vulkan/icd.d/*nvidia*.json /etc/vulkan/icd.d/*nvidia*.json /usr/local/share/vulkan/icd.d/*nvidia*.json >/dev/null 2>&1; then
  for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$icd" ]; then
      export VK_DRIVER_FILES=$icd VK_ICD_FILENAMES=$icd
      say "Vulkan driver manifest: $icd"
      break
    fi
  done
fi
for libdir in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
  [ -d "$libdir" ] && export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$libdir"
done
if command -v nvidia-smi >/dev/null 2>&1; then
  say "GPU: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -n 1)"
fi

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
