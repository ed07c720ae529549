# Sourced by scripts/gpu-bench.sh and scripts/gpu-train.sh: runs Node with the
# `webgpu` package's Dawn on a GPU machine that has neither Node nor, perhaps,
# the Vulkan loader, from what a bundle carries (node.xz, debs/*.deb).
#
#   gpu_node_env BUNDLE WORK   # sets $node (the bundled Node unpacked into WORK,
#                              # or $TARFLOW_NODE), the Vulkan loader and GLVND
#                              # (the system's, else BUNDLE/debs unpacked into
#                              # WORK/libs) on LD_LIBRARY_PATH, and NVIDIA's
#                              # Vulkan driver manifest where the loader would
#                              # not look for it
#   unxz_to FILE.xz OUT        # xz -d, or Python's lzma where xz is missing
#   unpack_deb FILE.deb DIR    # a .deb's data, with dpkg-deb or Python
#
# Messages go to stderr through `say`, which the sourcing script defines.

unxz_to() {
  if command -v xz >/dev/null 2>&1; then xz -dc "$1" > "$2"
  else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"
  fi
}

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

gpu_node_env() {
  local bundle=$1 work=$2
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
      deb=$(ls "$bundle"/debs/"$1"_*.deb 2>/dev/null | head -n 1 || true)
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
    local icd
    for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/vulkan/icd.d/nvidia_icd.json; do
      if [ -f "$icd" ]; then
        export VK_DRIVER_FILES=$icd VK_ICD_FILENAMES=$icd
        say "Vulkan driver manifest: $icd"
        break
      fi
    done
  fi
  local libdir
  for libdir in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
    [ -d "$libdir" ] && export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$libdir"
  done
  if command -v nvidia-smi >/dev/null 2>&1; then
    say "GPU: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -n 1)"
  fi
  return 0
}
