#!/usr/bin/env bash
# Builds client-vscode/localroute-<version>.vsix with the language server inside it:
#   1. the server's wheel into client-vscode/bundled/ (pip wheel --no-deps of the checkout),
#   2. the build tools (npm ci, when package-lock.json changed),
#   3. type-check, unit tests, esbuild bundle, vsce package.
#
#   client-vscode/build-vsix.sh [PYTHON]     PYTHON builds the wheel (default: python3)
#
# @vscode/vsce needs Node 22 or later. When the machine's `node` is older, the Node 24 that
# scripts/vscode-e2e-setup.sh caches (~/.cache/localroute-e2e, from the npm registry, no root)
# is used; without npm at all, this stops with a one-line message.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
python=${1:-python3}
# A relative path (make passes .venv/bin/python) must survive the `cd` below.
if [[ "$python" == */* ]]; then python=$(cd "$(dirname "$python")" && pwd)/$(basename "$python"); fi
say() { printf 'build-vsix: %s\n' "$*" >&2; }

command -v npm >/dev/null || { say "needs Node.js 22+ and npm (neither npm nor node is on PATH)"; exit 2; }
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if (( major < 22 )); then
  say "node $(node --version 2>/dev/null || echo missing) is older than 22 (@vscode/vsce needs 22+): using the cached Node 24"
  bin=$(bash "$root/scripts/vscode-e2e-setup.sh" --node) || { say "could not install Node 24; install Node.js 22+ and run again"; exit 2; }
  export PATH="$bin:$PATH"
fi

cd "$here"
if [[ ! node_modules/.package-lock.json -nt package-lock.json ]]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

# The wheel is built from a copy of the project's files (those git tracks or would track),
# so that no build/ or *.egg-info left in the checkout can put stale modules into it.
rm -rf bundled
mkdir bundled
source_copy=$(mktemp -d)
trap 'rm -rf "$source_copy"' EXIT
(cd "$root" && git ls-files -z --cached --others --exclude-standard -- pyproject.toml README.md LICENSE server \
  | xargs -0 -I{} sh -c 'test -f "{}" && mkdir -p "$0/$(dirname "{}")" && cp "{}" "$0/{}"' "$source_copy")
"$python" -m pip wheel --quiet --disable-pip-version-check --no-deps "$source_copy" -w bundled
wheel=$(ls bundled/localroute-*.whl)
say "server wheel: $wheel"

npm run -s typecheck
npm test
npm run -s package
