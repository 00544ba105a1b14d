#!/usr/bin/env bash
# Builds, lints, tests and packages the VS Code extension (with the bundled server and its
# JavaScript bundled by esbuild); exits non-zero on any failure.
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
# vsce runs vscode:prepublish: the Python bundle (scripts/bundle_python.py) and esbuild.
step npm run package
test -s layercfg.vsix
python3 - layercfg.vsix <<'PY'
import sys
import zipfile

names = set(zipfile.ZipFile(sys.argv[1]).namelist())
required = ["extension/dist/extension.js", "extension/bundled/launch.py",
            "extension/bundled/tool/layercfg/server/server.py",
            "extension/bundled/libs/pygls/__init__.py", "extension/schemas/layercfg.schema.json"]
missing = [name for name in required if name not in names]
if missing:
    sys.exit(f"== vscode: not in the .vsix: {missing}")
if any(name.startswith("extension/node_modules/") for name in names):
    sys.exit("== vscode: node_modules went into the .vsix (esbuild bundles what is needed)")
PY
echo "== vscode: ok in $((SECONDS - start))s ($(du -h layercfg.vsix | cut -f1) layercfg.vsix)"
