#!/usr/bin/env bash
# Installs the real agent CLIs that tests/e2e/test_agent_clis.py runs offline against loopback
# fakes of their model services, into a cache that later runs reuse:
#   opencode (npm opencode-ai), the Gemini CLI (@google/gemini-cli) and the GitHub Copilot CLI
#   (@github/copilot), each pinned. Each is installed on its own and skipped when already there,
#   so a warm run takes about a second; one that cannot be installed does not stop the others.
#   All three run on the machine's Node (>= 20).
#
#   scripts/agent-clis-setup.sh            install what is missing
#   scripts/agent-clis-setup.sh --check    exit 0 only if every CLI is present
#
# Cache: $LOCALROUTE_AGENT_CLIS_CACHE (default ~/.cache/localroute-agent-clis). The result is
# written to $CACHE/env.sh for the tests to read: OPENCODE, GEMINI, COPILOT (the executables)
# and their *_VERSION; *_ERROR for a CLI that could not be installed (the last lines npm said).
# The Copilot CLI unpacks itself (~235 MB) on first use; that happens here, into
# $CACHE/copilot-pkg (the tests set COPILOT_PKG_CACHE_HOME to it).
set -uo pipefail

OPENCODE_VERSION=1.18.33
GEMINI_VERSION=0.61.0
COPILOT_VERSION=1.0.102

CACHE="${LOCALROUTE_AGENT_CLIS_CACHE:-$HOME/.cache/localroute-agent-clis}"

# name  npm package  version  executable (in node_modules/.bin)
CLIS=(
  "OPENCODE opencode-ai $OPENCODE_VERSION opencode"
  "GEMINI @google/gemini-cli $GEMINI_VERSION gemini"
  "COPILOT @github/copilot $COPILOT_VERSION copilot"
)

say() { printf 'agent-clis-setup: %s\n' "$*" >&2; }

dir_of() { echo "$CACHE/${2//[@\/]/_}-$3"; }  # dir_of NAME PACKAGE VERSION EXE
bin_of() { echo "$(dir_of "$@")/node_modules/.bin/$4"; }
have() { [[ -f "$(dir_of "$@")/.complete" && -x "$(bin_of "$@")" ]]; }

declare -A ERRORS=()

write_env() {
  local cli lines=()
  for cli in "${CLIS[@]}"; do
    # shellcheck disable=SC2086
    set -- $cli
    if have "$@"; then
      lines+=("$1=$(bin_of "$@")" "$1_VERSION=$3")
    elif [[ -n "${ERRORS[$1]:-}" ]]; then
      lines+=("$1_ERROR='${ERRORS[$1]}'")
    fi
  done
  printf '%s\n' "${lines[@]}" >"$CACHE/env.sh"
}

if [[ "${1:-}" == "--check" ]]; then
  for cli in "${CLIS[@]}"; do
    # shellcheck disable=SC2086
    have $cli || exit 1
  done
  [[ -f "$CACHE/copilot-pkg/.complete" ]] || exit 1
  write_env
  exit 0
fi

if ! command -v npm >/dev/null; then
  say "npm is not installed"
  exit 1
fi
mkdir -p "$CACHE"
start=$(date +%s)
failed=0

for cli in "${CLIS[@]}"; do
  # shellcheck disable=SC2086
  set -- $cli
  pkg=$2 version=$3 dir=$(dir_of "$@")
  if have "$@"; then
    say "$pkg $version present"
    continue
  fi
  say "installing $pkg $version"
  t0=$(date +%s)
  rm -rf "$dir"
  mkdir -p "$dir"
  echo '{"name": "localroute-agent-clis", "private": true}' >"$dir/package.json"
  # No lockfile, no audit. Install scripts stay on: opencode's picks its platform binary.
  if log=$(cd "$dir" && npm install --no-audit --no-fund --no-save --loglevel=error \
    "$pkg@$version" 2>&1) && [[ -x "$(bin_of "$@")" ]]; then
    touch "$dir/.complete"
    say "$pkg $version installed in $(($(date +%s) - t0)) s, $(du -sh "$dir" | cut -f1)"
  else
    failed=1
    # npm names the cause first (code, then the message); the rest is a stack trace
    why=$(printf '%s\n' "$log" | grep -v '^npm error  *at ' | head -n 4 | tr '\n' ' ' | tr -d "'")
    ERRORS[$1]="npm install $pkg@$version failed: $why"
    say "${ERRORS[$1]}"
  fi
done

# shellcheck disable=SC2086
set -- ${CLIS[2]}
if have "$@" && [[ ! -f "$CACHE/copilot-pkg/.complete" ]]; then
  say "unpacking the Copilot CLI into $CACHE/copilot-pkg"
  scratch=$(mktemp -d)
  if HOME="$scratch" COPILOT_PKG_CACHE_HOME="$CACHE/copilot-pkg" "$(bin_of "$@")" --version >/dev/null; then
    touch "$CACHE/copilot-pkg/.complete"
  else
    say "the Copilot CLI could not unpack itself (the tests will let it try again)"
  fi
  rm -rf "$scratch"
fi

write_env
say "done in $(($(date +%s) - start)) s: $CACHE/env.sh"
exit $failed
