#!/bin/sh
# The `distest` command (package.json "bin"): node on cli.js beside this file, found through the
# symlinks npm installs. With NODE_EXTRA_CA_CERTS set, node reads and parses every CA certificate
# before it runs any JavaScript (20-40 ms of each command); the command line opens no TLS connection,
# so node starts without it and cli.js puts it back for the programs the command starts.
if [ -n "${NODE_EXTRA_CA_CERTS+set}" ]; then
  DISTEST_NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS
  export DISTEST_NODE_EXTRA_CA_CERTS
  unset NODE_EXTRA_CA_CERTS
fi
# Without readlink -f (macOS before 12.3), this file must be called by its own path.
self=$(readlink -f -- "$0" 2>/dev/null) || self=$0
exec node "${self%/*}/cli.js" "$@"
