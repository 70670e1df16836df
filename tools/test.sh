#!/usr/bin/env bash
# `npm test`: provisions what the suite needs, then runs the type check, lint and every test under
# Node 22. `npm run test:unit` (`tools/test.sh unit`): Node 22 only, then test/unit (no Temporal,
# Postgres, sshd or Chromium). Extra arguments go to mocha, e.g. `npm test -- --grep webhook`.
#
# Provisioning is idempotent and quick once done; when something cannot be provisioned it stops
# before any test with one line saying how:
#   - Debian packages openssh-server and chromium (tools/ensure-system-packages.sh: apt-get as root
#     or with passwordless sudo; otherwise it prints the apt-get line);
#   - Node 22 from the npm registry when the machine's node is older, the Temporal CLI built with
#     Go into the tool cache (tools/ensure-toolchain.sh), and Helm likewise (tools/ensure-helm.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

suite=all
if [ "${1:-}" = unit ]; then
  suite=unit
  shift
fi

if [ "$suite" = unit ]; then
  SELFHEAL_NEED_TEMPORAL=0 SELFHEAL_TOOLCHAIN_QUIET=1 . tools/ensure-toolchain.sh || exit 1
  exec node_modules/.bin/mocha 'test/unit/**/*.test.ts' "$@"
fi

bash tools/ensure-system-packages.sh
. tools/ensure-toolchain.sh || exit 1
# Helm for the chart tests, built once from its Go module (a minute; a test hook has less time).
bash tools/ensure-helm.sh >/dev/null || exit 1
echo "» type check and lint"
npm run --silent typecheck
npm run --silent lint
echo "» tests (DATABASE_URL=${DATABASE_URL:-<unset: embedded PGlite>})"
exec node_modules/.bin/mocha 'test/**/*.test.ts' "$@"
