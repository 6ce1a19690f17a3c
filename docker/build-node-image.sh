#!/usr/bin/env bash
# Builds a Node image from this machine's node and npm, for machines that cannot pull node:20:
#
#   bash docker/build-node-image.sh                 # builds etcd-concurrency/node:local
#   NODE_IMAGE=my/node:20 bash docker/build-node-image.sh
#
# Then `NODE_IMAGE=etcd-concurrency/node:local ETCD_IMAGE=etcd-concurrency/etcd:local docker compose up`.
# The image holds node and npm in /usr/local (as the node images do), /bin/sh and /usr/bin/env
# (npm needs them), the libraries they link, and the machine's CA certificates. It prints its name.
set -euo pipefail
cd "$(dirname "$0")"
. ./rootfs.sh

image=${NODE_IMAGE:-etcd-concurrency/node:local}
node=$(command -v node)
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
require_docker

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
add_binary "$root" "$node" /usr/local/bin/node
add_binary "$root" "$(command -v env)" /usr/bin/env
add_binary "$root" "$(readlink -f /bin/sh)" /bin/sh
mkdir -p "$root/usr/local/lib/node_modules"
cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
if [ -d /etc/ssl/certs ]; then mkdir -p "$root/etc/ssl" && cp -aL /etc/ssl/certs "$root/etc/ssl/certs"; fi
import_rootfs "$root" "$image" \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  --change 'CMD ["node"]' \
  --change "LABEL org.opencontainers.image.description=\"Node $("$node" --version) from $node\""
echo "$image"
