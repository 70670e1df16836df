#!/usr/bin/env bash
# Makes sure the pinned Helm exists in the tool cache, building it from its Go module once (the Go module
# proxy is the only place to get it from here, as for the Temporal CLI in tools/ensure-toolchain.sh).
# Idempotent: a second run finds the cached binary and builds nothing. Prints the binary's path last.
# Run it (`bash tools/ensure-helm.sh`) or source it (then HELM points at the binary).
# The chart test (test/unit/helm-chart.test.ts) runs it when the binary is missing.
HELM_VERSION=v3.22.0
cache="${XDG_CACHE_HOME:-$HOME/.cache}/selfheal"
tools="${SELFHEAL_TOOLS_DIR:-$cache/tools}"
dir="$tools/helm-$HELM_VERSION"
if [ ! -x "$dir/helm" ]; then
  if ! command -v go >/dev/null 2>&1; then
    echo "no Helm in $dir and no Go to build it: install Go, then run bash tools/ensure-helm.sh" >&2
    return 1 2>/dev/null || exit 1
  fi
  echo "» building Helm $HELM_VERSION into $dir (once; about a minute)" >&2
  if ! GOBIN="$dir" CGO_ENABLED=0 GOFLAGS=-buildvcs=false go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2; then
    echo "building Helm $HELM_VERSION with go install failed (see above)" >&2
    return 1 2>/dev/null || exit 1
  fi
fi
export HELM="$dir/helm"
echo "$HELM"
