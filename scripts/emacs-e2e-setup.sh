#!/usr/bin/env bash
# Installs what the Eglot end-to-end test (tests/e2e/test_eglot.py) needs: a terminal
# Emacs that can load Eglot. On Debian 12 that is `emacs-nox` (Emacs 28) and `elpa-eglot`
# (Eglot 1.9), from apt; an Emacs 29+ has Eglot built in and needs no `elpa-eglot`.
# Nothing is done when Emacs already loads Eglot, so a warm run takes about a second.
#
#   scripts/emacs-e2e-setup.sh            install what is missing
#   scripts/emacs-e2e-setup.sh --check    exit 0 only if Emacs loads Eglot; print versions
#
# Emacs is looked up as $EMACS (default: `emacs` on PATH).
set -euo pipefail

EMACS="${EMACS:-emacs}"
APT_PACKAGES=(emacs-nox elpa-eglot)

say() { printf 'emacs-e2e-setup: %s\n' "$*" >&2; }

# Prints "Emacs X, Eglot Y" and succeeds when Emacs starts in batch mode and loads Eglot.
versions() {
  command -v "$EMACS" >/dev/null 2>&1 || return 1
  "$EMACS" --batch --eval "(progn
     (require 'eglot)
     (require 'lisp-mnt)
     (princ (format \"Emacs %s, Eglot %s\" emacs-version
                    (with-temp-buffer
                      (insert-file-contents (locate-library \"eglot.el\"))
                      (lm-header \"Version\")))))" 2>/dev/null
}

if [[ "${1:-}" == "--check" ]]; then
  if found=$(versions); then
    say "present: $found"
    exit 0
  fi
  say "missing: an Emacs that loads Eglot ($EMACS)"
  exit 1
fi

start=$(date +%s)
if found=$(versions); then
  say "present: $found"
  exit 0
fi

command -v apt-get >/dev/null || { say "no apt-get here: install Emacs 28+ with Eglot by hand"; exit 1; }
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { say "need root (or sudo) for: apt-get install ${APT_PACKAGES[*]}"; exit 1; }
  SUDO="sudo -n"
fi

say "apt-get update"
$SUDO apt-get update -qq
packages=(emacs-nox)
# Emacs 29+ ships Eglot, and newer Debian releases may not package it apart.
if [[ -n "$(apt-cache policy elpa-eglot 2>/dev/null | awk '/Candidate:/ && $2 != "(none)" {print $2}')" ]]; then
  packages+=(elpa-eglot)
fi
say "apt-get install ${packages[*]}"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null

if ! found=$(versions); then
  say "installed ${packages[*]}, but $EMACS still does not load Eglot"
  exit 1
fi
say "ready in $(( $(date +%s) - start )) s: $found"
