#!/usr/bin/env bash
# Builds, lints, tests and packages the VS Code extension; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

step() {
  echo "== vscode: $*"
  "$@"
}

start=$SECONDS
step npm ci --no-audit --no-fund
step npm run compile
step npm run lint
step npm test
step npm run package
test -s layercfg.vsix
echo "== vscode: ok in $((SECONDS - start))s ($(du -h layercfg.vsix | cut -f1) layercfg.vsix)"
