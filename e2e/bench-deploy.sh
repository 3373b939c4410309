#!/usr/bin/env bash
# The deployer benchmark (a script, not a timed test): on one fresh control plane, the time
# from AgentJob creation to rollout confirmed (the deployer's `confirmedAt`) against the same
# image change patched directly and followed until the rollout is done. Release builds.
#   e2e/bench-deploy.sh [JOBS]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
JOBS="${1:-20}"

bench_cluster
"$REPO_ROOT/target/release/devagents-bench" deploy --jobs "$JOBS" --operator "$REPO_ROOT/target/release/agent-operator"
