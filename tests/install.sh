#!/usr/bin/env bash
# Installs everything the test suite uses, from PyPI, Debian's packages and npm only:
#   - layercfg itself (editable) with its test extra (Keras 3, tensorflow-cpu, pytest, ...);
#   - the hub extra (tf_keras, tensorflow_hub) and KerasHub without their dependencies:
#     tf-keras and tensorflow-text require the full `tensorflow` distribution, which must not
#     be installed over tensorflow-cpu, so their light dependencies are named here instead;
#   - Neovim and Emacs with Eglot (real editor clients), when apt-get can be run as root;
#   - code-server and Debian's Chromium for the real VS Code tests (tests/vscode).
# Idempotent; exits non-zero, saying why, when a required step fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { echo "tests/install.sh: $*"; }

if ! command -v nvim >/dev/null 2>&1 || ! command -v emacs >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    say "apt-get install neovim emacs-nox elpa-eglot"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq neovim emacs-nox elpa-eglot >/dev/null) \
      || say "could not install neovim/emacs; their tests will say why"
  else
    say "no apt-get as root: Neovim and Emacs are not installed; their tests will say why"
  fi
fi

say "pip install -e .[test]"
python3 -m pip install -q -e ".[test]"
say "pip install --no-deps tf-keras tensorflow-hub keras-hub tensorflow-text"
python3 -m pip install -q --no-deps "tf-keras==2.21.*" "tensorflow-hub==0.16.1" \
  "keras-hub==0.32.0" "tensorflow-text==2.21.*"
say "pip install KerasHub's light dependencies"
python3 -m pip install -q regex rich "kagglehub!=1.0.1" tokenizers sentencepiece

bash tests/vscode/install_code_server.sh
