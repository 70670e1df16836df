#!/usr/bin/env bash
# Runs a command with Node 22 first on PATH (installed into the tool cache from the npm registry
# when the machine's node is older), e.g. `bash tools/node22.sh tsx src/dev.ts` for `npm start`.
# Temporal is left to the command: `npm start` finds, builds or downloads it itself.
set -euo pipefail
SELFHEAL_NEED_TEMPORAL=0 SELFHEAL_TOOLCHAIN_QUIET=1 . "$(dirname "$0")/ensure-toolchain.sh" || exit 1
exec "$@"
