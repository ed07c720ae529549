#!/usr/bin/env bash
# Builds the self-contained GPU benchmark bundle (default: .gpu-bundle/ at the
# repository root, git-ignored) for scripts/gpu-bench.sh, which runs it on a
# Linux x86-64 machine with an NVIDIA GPU and a Vulkan driver but no Node and
# no network. Run it here, on a machine with the workspace installed
# (pnpm install) and Debian's apt:
#
#   scripts/gpu-bench-prepare.sh [BUNDLE_DIR]
#
# The bundle holds:
#   node.xz                  this machine's Node binary (process.execPath), stripped, xz-compressed
#   bench.mjs                scripts/gpu-bench/main.ts and everything it imports, bundled by esbuild
#   node_modules/webgpu/     the `webgpu` package's loader and its linux-x64 dawn.node (xz-compressed)
#   debs/libvulkan1_*.deb    the Vulkan loader, unpacked by gpu-bench.sh if the machine has none
#   debs/libglvnd0_*.deb …   GLVND (libglvnd0, libglx0, libegl1, libgl1, libopengl0, libgles2): NVIDIA's Vulkan
#                            driver (libGLX_nvidia.so.0) needs libGLdispatch.so.0, which bare GPU
#                            containers lack; unpacked the same way
#   wasm/                    tfjs-backend-wasm's .wasm files (for --backend wasm on the same machine)
#   fixtures/                the reference fixtures: tiny-cond is timed, and all run the conformance cases
#   models/                  more checkpoints to time, from TARFLOW_BENCH_MODELS="a.safetensors b.safetensors"
#                            (the zoo's models travel with the repository; gpu-bench.sh passes them itself)
#   manifest.json            what went in, from which commit
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bundle=${1:-$root/.gpu-bundle}
limit_mib=52

die() { echo "gpu-bench-prepare: $*" >&2; exit 1; }

[ "$(uname -m)" = x86_64 ] || die "run this on x86-64 Linux: the bundle carries this machine's Node binary for an x86-64 target"
command -v xz >/dev/null || die "xz is needed (apt-get install xz-utils)"
node_bin=$(node -p 'process.execPath')
node_version=$(node --version)
case "$node_version" in v20.*|v22.*) ;; *) die "Node $node_version: the bundle targets Node 20 or 22" ;; esac
ldd "$node_bin" | grep -qE 'libnode|libuv|libicu|libssl' && die "$node_bin links shared libnode/libuv/ICU/OpenSSL; a self-contained Node build is needed"

fixtures=$(node -e "
  const fs = require('fs'), path = require('path');
  let d = process.cwd();
  for (let i = 0; i < 8; i++) { const c = path.join(d, 'shared', 'fixtures', 'reference'); if (fs.existsSync(c)) { console.log(c); process.exit(0); } d = path.dirname(d); }
  process.exit(1);") || die "shared/fixtures/reference not found beside the repository"

echo "gpu-bench-prepare: building the workspace packages the bench imports"
pnpm --filter '@tarflow/webgpu-tests^...' build >/dev/null

rm -rf "$bundle"
mkdir -p "$bundle"/{models,fixtures,wasm,debs,node_modules/webgpu/dist/linux-x64}

echo "gpu-bench-prepare: bundling the bench entry"
node scripts/gpu-bench/build.mjs "$bundle/bench.mjs"

echo "gpu-bench-prepare: the webgpu package and dawn.node"
webgpu_dir=$(cd packages/backend-webgpu/node_modules/webgpu && pwd -P)
cp "$webgpu_dir/index.js" "$webgpu_dir/package.json" "$webgpu_dir/LICENSE.md" "$bundle/node_modules/webgpu/"
xz -T0 -6 -c "$webgpu_dir/dist/linux-x64/dawn.node" > "$bundle/node_modules/webgpu/dist/linux-x64/dawn.node.xz"
webgpu_version=$(node -p "require('$webgpu_dir/package.json').version")

echo "gpu-bench-prepare: Node $node_version from $node_bin (stripping and compressing takes a minute or two)"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cp "$node_bin" "$tmp/node"
strip "$tmp/node" 2>/dev/null || true
xz -T0 -6 -c "$tmp/node" > "$bundle/node.xz"

debs="libvulkan1:amd64 libglvnd0:amd64 libglx0:amd64 libegl1:amd64 libgl1:amd64 libopengl0:amd64 libgles2:amd64"
echo "gpu-bench-prepare: the Vulkan loader and GLVND ($debs)"
(
  cd "$bundle/debs"
  # apt's _apt user may not write here: download as root without the sandbox warning.
  apt-get -o APT::Sandbox::User=root download $debs >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get -o APT::Sandbox::User=root download $debs >/dev/null; }
) || die "apt-get download $debs failed (Debian/Ubuntu apt with network access is needed)"
for p in libvulkan1 libglvnd0 libglx0 libegl1 libgl1 libopengl0 libgles2; do ls "$bundle"/debs/${p}_*.deb >/dev/null || die "no $p .deb downloaded"; done

wasm_dir=$(cd packages/backend-node/node_modules/@tensorflow/tfjs-backend-wasm/dist && pwd -P)
cp "$wasm_dir"/tfjs-backend-wasm.wasm "$wasm_dir"/tfjs-backend-wasm-simd.wasm "$bundle/wasm/"

echo "gpu-bench-prepare: models and fixtures"
for n in tiny-cond tiny-uncond; do
  cp "$fixtures/$n.json" "$fixtures/$n.safetensors" "$fixtures/$n.expected.safetensors" "$bundle/fixtures/"
done
for f in ${TARFLOW_BENCH_MODELS:-}; do
  [ -f "$f" ] || die "model $f not found"
  cp "$f" "$bundle/models/"
done

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain 2>/dev/null | grep -qv '^??' && echo true || echo false)
node -e "
  const fs = require('fs'), path = require('path');
  const b = process.argv[1];
  const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]);
  const files = Object.fromEntries(walk(b).map((f) => [path.relative(b, f), fs.statSync(f).size]));
  fs.writeFileSync(path.join(b, 'manifest.json'), JSON.stringify({
    created: new Date().toISOString(), commit: '$commit', uncommittedChanges: $dirty,
    node: '$node_version', webgpu: '$webgpu_version', target: 'linux-x64', files,
  }, null, 2) + '\n');
" "$bundle"

size=$(du -sb "$bundle" | cut -f1)
mib=$(( (size + 1048575) / 1048576 ))
[ "$mib" -le "$limit_mib" ] || die "the bundle is $mib MiB, over the $limit_mib MiB it may take (the device tool carries 64 MiB, the repository included)"
echo "gpu-bench-prepare: $bundle ready ($mib MiB). On the GPU machine: scripts/gpu-bench.sh (see docs/backends.md)"
