#!/usr/bin/env bash
# The Debian packages the full test suite needs: OpenSSH server (a real sshd on loopback for the
# SSH executor and the e2e tests) and Chromium (the dashboard's headless browser test). Installs
# the missing ones with apt-get when it can (root, or sudo without a password); otherwise prints
# one line with the exact command and exits 1. Idempotent: once installed it only checks.
set -euo pipefail

missing=()
[ -x /usr/sbin/sshd ] && command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-server)
[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "the tests need ${missing[*]} (/usr/sbin/sshd, and Chromium at /usr/bin/chromium or CHROMIUM_PATH): install them with your package manager" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo)
else
  echo "the tests need ${missing[*]}: run  sudo apt-get install -y ${missing[*]}  and try again" >&2
  exit 1
fi
echo "» installing ${missing[*]} with apt-get"
if ! { "${sudo[@]}" apt-get update -qq && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
  echo "apt-get install ${missing[*]} failed: run  sudo apt-get install -y ${missing[*]}  and try again" >&2
  exit 1
fi
