#!/usr/bin/env bash
# Puts Node 22 first on PATH (installing it from the npm registry into the tool cache when the
# machine's node is older) and, unless SELFHEAL_NEED_TEMPORAL=0, makes sure the Temporal CLI is on
# PATH, named by TEMPORAL_CLI_PATH, or in the tool cache (built once with Go). Source it:
#   . tools/ensure-toolchain.sh
# Returns non-zero with one line saying what to do when it cannot. Idempotent: once provisioned it
# only checks. Used by tools/test.sh (npm test), tools/node22.sh (npm start) and developers.
# SELFHEAL_TOOLCHAIN_QUIET=1 keeps it silent unless it installs something or fails.
#
# The cache (XDG_CACHE_HOME, else ~/.cache, then selfheal/) is the one src/temporal/dev-server.ts
# looks in, so `npm start` and the tests find the CLI built here.

selfheal_toolchain() {
  local cache="${XDG_CACHE_HOME:-$HOME/.cache}/selfheal"
  local say=echo
  [ "${SELFHEAL_TOOLCHAIN_QUIET:-0}" = 1 ] && say=:

  local major
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$major" -lt 22 ]; then
    local arch
    case "$(uname -m)" in
      x86_64) arch=x64 ;;
      aarch64 | arm64) arch=arm64 ;;
      *) echo "Node 22 is needed (machine has $(node -v 2>/dev/null || echo 'no node')) and there is no npm build of it for $(uname -m): install Node 22 from https://nodejs.org" >&2; return 1 ;;
    esac
    local node22="$cache/node22/node_modules/node-linux-$arch/bin"
    if [ ! -x "$node22/node" ]; then
      if ! command -v npm >/dev/null 2>&1; then
        echo "Node 22 is needed and there is no npm to fetch it with: install Node 22 from https://nodejs.org" >&2
        return 1
      fi
      echo "» installing Node 22 into $cache/node22 (machine has $(node -v 2>/dev/null || echo 'no node'))"
      if ! npm install --silent --no-audit --no-fund --prefix "$cache/node22" "node-linux-$arch@22" >/dev/null || [ ! -x "$node22/node" ]; then
        echo "could not install Node 22 from the npm registry (npm install node-linux-$arch@22): install Node 22 from https://nodejs.org" >&2
        return 1
      fi
    fi
    export PATH="$node22:$PATH"
  fi
  $say "» node $(node -v), npm $(npm -v 2>/dev/null)"

  [ "${SELFHEAL_NEED_TEMPORAL:-1}" = 0 ] && return 0
  local version=v1.5.1 # keep in step with TEMPORAL_CLI_VERSION in src/temporal/dev-server.ts
  local tools="${SELFHEAL_TOOLS_DIR:-$cache/tools}"
  if [ -n "${TEMPORAL_CLI_PATH:-}" ]; then
    [ -x "$TEMPORAL_CLI_PATH" ] && return 0
    echo "TEMPORAL_CLI_PATH=$TEMPORAL_CLI_PATH is not an executable file: unset it or point it at the temporal binary" >&2
    return 1
  fi
  if command -v temporal >/dev/null 2>&1 || [ -x "$tools/bin/temporal" ]; then return 0; fi
  if ! command -v go >/dev/null 2>&1; then
    echo "no Temporal CLI and no Go to build it: install Go (https://go.dev/dl/) or the Temporal CLI (https://docs.temporal.io/cli#install), or set TEMPORAL_CLI_PATH" >&2
    return 1
  fi
  echo "» building the Temporal CLI $version with $(go version | cut -d' ' -f3) into $tools/bin (once; a few minutes)"
  if ! GOBIN="$tools/bin" CGO_ENABLED=0 go install "github.com/temporalio/cli/cmd/temporal@$version" || [ ! -x "$tools/bin/temporal" ]; then
    echo "building the Temporal CLI failed (go install github.com/temporalio/cli/cmd/temporal@$version): install it from https://docs.temporal.io/cli#install and set TEMPORAL_CLI_PATH" >&2
    return 1
  fi
}

selfheal_toolchain
