#!/usr/bin/env bash
# Installs the real agent CLIs that tests/e2e/test_agent_clis.py runs offline against loopback
# fakes of their model providers, into a cache that later runs reuse:
#   opencode (npm opencode-ai), the Gemini CLI (@google/gemini-cli), the GitHub Copilot CLI
#   (@github/copilot). Each is pinned, installed on its own and skipped when already there,
#   so a warm run takes about a second; one that cannot be installed does not stop the others.
#
#   scripts/agent-clis-setup.sh            install what is missing
#   scripts/agent-clis-setup.sh --check    exit 0 only if every CLI is present
#
# Cache: $LOCALROUTE_AGENT_CLIS_CACHE (default ~/.cache/localroute-agent-clis). The result is
# written to $CACHE/env.sh for the tests to read: OPENCODE, GEMINI, COPILOT (the executables),
# their *_VERSION, and *_ERROR for a CLI that could not be installed (the last lines npm said).
set -uo pipefail

OPENCODE_VERSION=1.18.33
GEMINI_VERSION=0.61.0
COPILOT_VERSION=1.0.102

CACHE="${LOCALROUTE_AGENT_CLIS_CACHE:-$HOME/.cache/localroute-agent-clis}"

# name  npm package  version  executable (under node_modules/.bin)
CLIS=(
  "OPENCODE opencode-ai $OPENCODE_VERSION opencode"
  "GEMINI @google/gemini-cli $GEMINI_VERSION gemini"
  "COPILOT @github/copilot $COPILOT_VERSION copilot"
)

say() { printf 'agent-clis-setup: %s\n' "$*" >&2; }

dir_of() { echo "$CACHE/${2//[@\/]/_}-$3"; }          # dir_of NAME PACKAGE VERSION
bin_of() { echo "$(dir_of "$@")/node_modules/.bin/$4"; }
have() { [[ -f "$(dir_of "$@")/.complete" && -x "$(bin_of "$@")" ]]; }

if [[ "${1:-}" == "--check" ]]; then
  for cli in "${CLIS[@]}"; do
    # shellcheck disable=SC2086
    have $cli || exit 1
  done
  exit 0
fi

mkdir -p "$CACHE"
start=$(date +%s)
env_lines=()
failed=0

for cli in "${CLIS[@]}"; do
  # shellcheck disable=SC2086
  set -- $cli
  name=$1 pkg=$2 version=$3
  dir=$(dir_of "$@")
  if have "$@"; then
    say "$pkg $version present"
  else
    say "installing $pkg $version"
    t0=$(date +%s)
    rm -rf "$dir"
    mkdir -p "$dir"
    echo '{"name": "localroute-agent-clis", "private": true}' >"$dir/package.json"
    # No lockfile, no audit; postinstall scripts stay on: opencode and copilot pick their
    # platform binary in them.
    if log=$(cd "$dir" && npm install --no-audit --no-fund --no-save --loglevel=error \
      "$pkg@$version" 2>&1) && [[ -x "$(bin_of "$@")" ]]; then
      touch "$dir/.complete"
      say "$pkg $version installed in $(($(date +%s) - t0)) s, $(du -sh "$dir" | cut -f1)"
    else
      failed=1
      error=$(printf '%s' "$log" | tail -n 5 | tr '\n' ' ' | tr -d "'")
      say "$pkg $version could not be installed: $error"
      env_lines+=("${name}_ERROR='npm install $pkg@$version failed: $error'")
      continue
    fi
  fi
  env_lines+=("$name=$(bin_of "$@")" "${name}_VERSION=$version")
done

printf '%s\n' "${env_lines[@]}" >"$CACHE/env.sh"
say "done in $(($(date +%s) - start)) s: $CACHE/env.sh"
exit $failed
