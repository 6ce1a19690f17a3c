#!/usr/bin/env bash
# Builds an etcd image from this machine's etcd binaries, for machines that cannot pull one:
#
#   bash docker/build-etcd-image.sh                 # builds etcd-concurrency/etcd:local
#   ETCD_IMAGE=my/etcd:3.4 bash docker/build-etcd-image.sh
#
# Then `ETCD_IMAGE=etcd-concurrency/etcd:local ETCD_TESTCONTAINERS=1 npm test`, or
# `ETCD_IMAGE=etcd-concurrency/etcd:local docker compose up`.
# The binaries: ETCD_BIN / ETCDCTL_BIN, else `etcd` / `etcdctl` on PATH (Debian: apt-get install
# etcd-server etcd-client). The image holds them in /usr/local/bin (as etcd's own image does), the
# libraries they link, an empty /tmp, and ENTRYPOINT etcd: flags come from the command or ETCD_*
# variables. It prints the image's name.
set -euo pipefail
cd "$(dirname "$0")"
. ./rootfs.sh

image=${ETCD_IMAGE:-etcd-concurrency/etcd:local}
etcd=$(command -v "${ETCD_BIN:-etcd}" || true)
etcdctl=$(command -v "${ETCDCTL_BIN:-etcdctl}" || true)
if [ -z "$etcd" ] || [ -z "$etcdctl" ]; then
  echo "build-etcd-image.sh: needs the etcd and etcdctl binaries (Debian: apt-get install etcd-server etcd-client, or set ETCD_BIN and ETCDCTL_BIN)." >&2
  exit 1
fi
require_docker

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
add_binary "$root" "$etcd" /usr/local/bin/etcd
add_binary "$root" "$etcdctl" /usr/local/bin/etcdctl
import_rootfs "$root" "$image" \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  --change 'ENTRYPOINT ["/usr/local/bin/etcd"]' \
  --change 'EXPOSE 2379 2380' \
  --change "LABEL org.opencontainers.image.description=\"etcd $("$etcd" --version | head -1 | awk '{print $3}') from $etcd\""
echo "$image"
