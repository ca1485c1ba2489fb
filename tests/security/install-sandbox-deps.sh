#!/usr/bin/env bash
# Installs what the local sandbox needs: bubblewrap (the isolation), prlimit (util-linux, rlimits) and
# python3. Idempotent: runs `apt-get update` and `apt-get install` only for what is missing, so a
# warm CI machine pays nothing. Needs root (or sudo) and a Debian/Ubuntu base.
set -euo pipefail

missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v prlimit >/dev/null 2>&1 || missing+=(util-linux)
[ -x /usr/bin/python3 ] || [ -x /usr/local/bin/python3 ] || missing+=(python3)

if [ "${#missing[@]}" -eq 0 ]; then
  echo "sandbox deps present: $(bwrap --version), $(prlimit --version | head -n1), $(python3 --version 2>&1)"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "missing ${missing[*]} and no apt-get here: install them with your package manager" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "missing ${missing[*]}: run as root or install sudo" >&2
    exit 1
  fi
fi

echo "installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "sandbox deps installed: $(bwrap --version)"
