#!/usr/bin/env bash
# Installs this checkout as the `localroute` command, the way pipx would: into a virtual
# environment of its own, with the command linked onto PATH.
#
#   scripts/install.sh                 ~/.local/share/localroute/venv, ~/.local/bin/localroute
#   EXTRAS=local scripts/install.sh    also the embedded model (llama-cpp-python, compiles)
#   PREFIX=/opt/localroute BIN_DIR=/usr/local/bin scripts/install.sh
#
# Running it again upgrades the installation in place.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
DATA_HOME="${XDG_DATA_HOME:-$HOME/.local/share}"
PREFIX="${PREFIX:-$DATA_HOME/localroute}"
BIN_DIR="${BIN_DIR:-$HOME/.local/bin}"
VENV="$PREFIX/venv"
SPEC="."
if [[ -n "${EXTRAS:-}" ]]; then SPEC=".[${EXTRAS}]"; fi

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "install: Python 3.11 or newer is needed ($PYTHON is $("$PYTHON" --version 2>&1))" >&2
  exit 1
}
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet --upgrade "$SPEC"
mkdir -p "$BIN_DIR"
ln -sf "$VENV/bin/localroute" "$BIN_DIR/localroute"
echo "installed: $BIN_DIR/localroute -> $VENV/bin/localroute ($("$BIN_DIR/localroute" --version))"
case ":$PATH:" in
  *":$BIN_DIR:"*) ;;
  *) echo "note: $BIN_DIR is not on PATH; add it (e.g. export PATH=\"$BIN_DIR:\$PATH\") or use the full path above" >&2 ;;
esac
