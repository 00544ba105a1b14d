#!/usr/bin/env bash
# Installs what tests/vscode/test_vscode.py drives: code-server 4.100.3 (VS Code 1.100.3, the
# last release that runs on Node 20) from npm into a cache folder, and Debian's Chromium.
#
# Only npm and apt are used: code-server's own install scripts would download ripgrep from
# GitHub, so every install runs with --ignore-scripts, the native modules are rebuilt
# against the local Node's headers, Debian's rg stands in for @vscode/ripgrep's, and the
# symbolic links that code-server's postinstall.sh makes are made here.
#
# Idempotent: a finished install is recognised by its marker file and left alone.
# Exits non-zero, saying why, when anything is missing or fails.
#
#   LAYERCFG_CODE_SERVER_DIR  cache folder (default ~/.cache/layercfg-code-server);
#                             code-server ends up in $LAYERCFG_CODE_SERVER_DIR/4.100.3
set -euo pipefail

VERSION=4.100.3
CACHE=${LAYERCFG_CODE_SERVER_DIR:-$HOME/.cache/layercfg-code-server}
TARGET=$CACHE/$VERSION
MARKER=$TARGET/.layercfg-installed
APT_PACKAGES=(build-essential pkg-config libkrb5-dev libsecret-1-dev libx11-dev libxkbfile-dev
  chromium ripgrep)
# code-server's lib/vscode native modules, and its own (argon2, for password auth).
VSCODE_NATIVE=(@parcel/watcher @vscode/deviceid @vscode/spdlog kerberos native-watchdog node-pty)

say() { echo "install_code_server: $*"; }
die() {
  echo "install_code_server: FAILED: $*" >&2
  exit 1
}
start=$SECONDS

# --- Debian packages -----------------------------------------------------------------------
missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 || die "Debian packages missing (${missing[*]}) and no apt-get"
  [ "$(id -u)" = 0 ] || die "Debian packages missing (${missing[*]}); run as root to install them"
  say "apt-get install ${missing[*]}"
  apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
fi
[ -x /usr/bin/chromium ] || die "/usr/bin/chromium is missing after installing chromium"
command -v rg >/dev/null 2>&1 || die "rg is missing after installing ripgrep"

# --- code-server -----------------------------------------------------------------------------
if [ -f "$MARKER" ] && [ -x "$TARGET/out/node/entry.js" ]; then
  say "code-server $VERSION already installed in $TARGET"
  exit 0
fi

command -v node >/dev/null 2>&1 || die "node is not installed (code-server $VERSION needs Node 20)"
command -v npm >/dev/null 2>&1 || die "npm is not installed"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" = 20 ] || die "code-server $VERSION needs Node 20, found Node $(node --version)"

mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
log=$work/npm.log

run() {
  # Quiet on success; on failure the end of the log says why.
  if ! "$@" >>"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die "'$*' failed in $(pwd)"
  fi
}

say "npm pack code-server@$VERSION"
run npm pack --silent "code-server@$VERSION"
run tar xzf "code-server-$VERSION.tgz"
cd package

if ! command -v node-gyp >/dev/null 2>&1; then
  say "npm install -g node-gyp"
  run npm install -g --no-audit --no-fund node-gyp
fi

NPM_INSTALL=(npm install --omit=dev --ignore-scripts --no-audit --no-fund --unsafe-perm)
say "npm install (code-server)"
run "${NPM_INSTALL[@]}"
say "npm install (lib/vscode)"
(cd lib/vscode && run "${NPM_INSTALL[@]}")
say "npm install (lib/vscode/extensions)"
(cd lib/vscode/extensions && run "${NPM_INSTALL[@]}")

say "npm rebuild of the native modules"
(cd lib/vscode && run npm rebuild --unsafe-perm "${VSCODE_NATIVE[@]}")
run npm rebuild --unsafe-perm argon2

# What @vscode/ripgrep's postinstall would have downloaded.
mkdir -p lib/vscode/node_modules/@vscode/ripgrep/bin
cp "$(command -v rg)" lib/vscode/node_modules/@vscode/ripgrep/bin/rg

# What code-server's postinstall.sh does after its npm installs (Linux).
ln -sfn node_modules lib/vscode/node_modules.asar
ln -sfn code-linux.sh lib/vscode/bin/remote-cli/code-server
ln -sfn browser-linux.sh lib/vscode/bin/helpers/browser.sh

# The native modules load.
(cd lib/vscode && run node -e '
  for (const m of ["@parcel/watcher", "@vscode/spdlog", "node-pty", "native-watchdog", "kerberos", "@vscode/deviceid"]) require(m);
')
run node -e 'require("argon2")'
run node out/node/entry.js --version

cd "$work"
rm -rf "$TARGET"
mv package "$TARGET"
touch "$MARKER"
say "code-server $VERSION installed in $TARGET in $((SECONDS - start))s"
