#!/usr/bin/env bash
# Install code-server (VS Code 1.99.3 for the browser) from the npm registry, without any GitHub
# download, for `npm start` and the e2e tests.
#
# Usage: bash scripts/install-code-server.sh [PREFIX]     (default: <repo>/.cache/code-server)
# Result: PREFIX/node_modules/.bin/code-server. Idempotent: PREFIX/.install-stamp records the installed
# version and is written only after the final check passed, so an interrupted install is redone.
#
# Why the detours: code-server's postinstall runs `npm install` inside lib/vscode, whose
# @vscode/ripgrep postinstall downloads rg from GitHub (unreachable offline) -> we install with
# --ignore-scripts, drop Debian's rg in its place, and rebuild only the native addons (node-gyp builds
# against Node's headers: `nodedir=/usr` in ~/.npmrc, or headers it can download).
set -euo pipefail
# Under `npm test` / `npm start`, npm exports the repo's own config to us as npm_config_* variables,
# among them ignore-scripts=true from our .npmrc, which would turn every `npm rebuild` below into a
# silent no-op. code-server's install follows only the user's config (~/.npmrc), never ours.
while read -r inherited; do unset "$inherited"; done < <(env | grep -o '^npm_config_[A-Za-z_]*' || true)
export JOBS="${JOBS:-max}"   # node-gyp: compile with all cores

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${1:-$REPO/.cache/code-server}"
mkdir -p "$PREFIX"
PREFIX="$(cd "$PREFIX" && pwd)"
CS_VERSION="${CS_VERSION:-4.99.4}"
STAMP="$PREFIX/.install-stamp"
CS_BIN="$PREFIX/node_modules/.bin/code-server"
APT_PACKAGES=(libkrb5-dev ripgrep)  # kerberos addon headers; rg replaces the @vscode/ripgrep download

if [ -x "$CS_BIN" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "code-server@$CS_VERSION" ]; then
  echo "code-server $CS_VERSION already installed in $PREFIX"
  exit 0
fi

T0=$(date +%s)
step() { echo "=== [$(( $(date +%s) - T0 ))s] $*"; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "code-server needs these Debian packages first; run:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  step "apt: ${missing[*]}"
  ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y "${missing[@]}"
fi

step "npm install --ignore-scripts code-server@$CS_VERSION in $PREFIX"
rm -f "$STAMP"
cd "$PREFIX"
[ -f package.json ] || echo '{ "private": true }' > package.json
npm install --ignore-scripts --no-audit --no-fund "code-server@$CS_VERSION"

VS="$PREFIX/node_modules/code-server/lib/vscode"
cd "$VS"
step "lib/vscode: npm install --omit=dev --ignore-scripts"
npm install --omit=dev --ignore-scripts --no-audit --no-fund

step "lib/vscode: ripgrep from Debian"
mkdir -p node_modules/@vscode/ripgrep/bin
cp "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg

# node-pty's post-install runs `npx node-gyp configure`; an ~/.npmrc with yes=false makes npx refuse
# to fetch it ("npx canceled due to missing packages and no YES option"): as root, install the wanted
# node-gyp globally; everyone gets npm_config_yes=true so npx may fetch it otherwise.
if [ "$(id -u)" -eq 0 ] && [ "$(node-gyp --version 2>/dev/null)" != "v12.4.0" ]; then
  step "node-gyp@12.4.0 globally"
  npm install -g --no-audit --no-fund node-gyp@12.4.0
fi

step "lib/vscode: rebuild native addons"
npm_config_yes=true npm rebuild @parcel/watcher @vscode/deviceid @vscode/spdlog kerberos native-watchdog node-pty

step "lib/vscode: symlinks normally made by code-server's postinstall.sh"
ln -sfn node_modules node_modules.asar
( cd bin/remote-cli && ln -sfn code-linux.sh code-server )
( cd bin/helpers && ln -sfn browser-linux.sh browser.sh )

step "lib/vscode/extensions: npm install --omit=dev (typescript for the built-in TS extension)"
( cd extensions && npm install --omit=dev --no-audit --no-fund )

step "npm rebuild argon2 (code-server's password hashing addon)"
cd "$PREFIX"
npm rebuild argon2

step "check"
"$CS_BIN" --config /dev/null --version  # keeps it from writing ~/.config/code-server
node -e '
  const vs = process.argv[1];
  for (const m of ["@parcel/watcher","@vscode/spdlog","node-pty","native-watchdog","@vscode/deviceid","kerberos"])
    { require(require.resolve(m, { paths: [vs] })); }
  require(require.resolve("argon2", { paths: [process.argv[2]] }));
  console.log("native addons load OK");' "$VS" "$PREFIX/node_modules/code-server"
echo "code-server@$CS_VERSION" > "$STAMP"
step "done in $(( $(date +%s) - T0 ))s"
