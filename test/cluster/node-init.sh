#!/usr/bin/env bash
# node-init.sh NAME - pid 1 of a test cluster node's private pid namespace (started by up.sh via
#   nsenter --net=/run/netns/NAME unshare --uts --pid --mount --fork --mount-proc --kill-child).
# Gives the node its hostname and a node-local /tmp and /dev/shm (like a real compute node); the
# repository (with the state dir) stays shared (think NFS home), everything else on / is shared too.
# Then it idles as a zombie-reaping init until SIGTERM/SIGKILL (which takes the whole node down).
set -e
n=$1
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hostname "$n"
mkdir -p "$ST/nodes/$n/tmp"
chmod 1777 "$ST/nodes/$n/tmp"
NT="$ST/nodes/$n/tmp"                          # node-local /tmp (visible from the host as state/nodes/NAME/tmp)
for shared in "$REPO" "$ST"; do
  case "$shared" in
    /tmp/*)  # lives in /tmp: re-expose it (shared) inside the node-local /tmp
      mkdir -p "$NT/${shared#/tmp/}"
      mount --bind "$shared" "$NT/${shared#/tmp/}" ;;     # non-recursive: no mount loop
  esac
done
mount --rbind "$NT" /tmp
mount -t tmpfs -o mode=1777,size=256m "shm-$n" /dev/shm   # node-local /dev/shm
if [ "${CLUSTER_NODE_BASHRC:-clean}" = clean ] && [ -f "$HOME"/.bashrc ]; then
  mount --bind "$ST/node.bashrc" "$HOME"/.bashrc            # plain, fast shell env on the nodes (see up.sh)
fi
set +e
trap 'exit 0' TERM
while :; do sleep 3600 & wait $!; done
