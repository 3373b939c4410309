#!/usr/bin/env bash
# The dispatch benchmark (a script, not a timed test): on one fresh control plane, AgentJobs
# through agent-operator against batch/v1 Jobs through kube-controller-manager, plus the
# operator's RSS with many finished AgentJobs cached. Release builds.
#   e2e/bench-dispatch.sh [JOBS] [RSS_JOBS]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
JOBS="${1:-500}"
RSS_JOBS="${2:-10000}"

bench_modern_accounts
bench_cluster
BENCH="$REPO_ROOT/target/release/devagents-bench"
OP="$REPO_ROOT/target/release/agent-operator"
[ "$JOBS" = 0 ] || "$BENCH" dispatch --jobs "$JOBS" --operator "$OP"
[ "$RSS_JOBS" = 0 ] || "$BENCH" rss --jobs "$RSS_JOBS" --operator "$OP"
