# Sourced by the build-*-image.sh scripts: builds a minimal image from binaries of this machine,
# with no registry involved (for offline machines): the binaries, the shared libraries `ldd` lists
# for them, and `docker import`.

# add_binary <rootfs> <source path> <path in image>: copies a binary and every library it links.
add_binary() {
  local root=$1 src=$2 dest=$3 lib
  mkdir -p "$root$(dirname "$dest")"
  cp -L "$src" "$root$dest"
  for lib in $(ldd "$src" 2>/dev/null | grep -o '/[^ ]*' | sort -u); do
    [ -e "$root$lib" ] && continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}

# import_rootfs <rootfs> <image> [--change ...]: a tarball of the rootfs, imported as <image>.
import_rootfs() {
  local root=$1 image=$2
  shift 2
  mkdir -p "$root/tmp" "$root/etc"
  chmod 1777 "$root/tmp"
  [ -e "$root/etc/passwd" ] || echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
  [ -e "$root/etc/group" ] || echo 'root:x:0:' >"$root/etc/group"
  tar -C "$root" -c . | docker import "$@" - "$image" >/dev/null
}

require_docker() {
  if ! docker info >/dev/null 2>&1; then
    echo "$(basename "$0"): no Docker daemon answers (start it: dockerd, or systemctl start docker)." >&2
    exit 1
  fi
}
