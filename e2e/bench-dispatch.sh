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

"$REPO_ROOT/e2e/install-deps.sh"
"$REPO_ROOT/e2e/build-k8s.sh"
cargo build --release --all-features --bins --quiet
# kube-controller-manager's client is throttled to 20 requests/s by default; lift it so the
# comparison is between the two controllers, not between two rate limiters.
D="$(DEVAGENTS_NODE_BIN="$REPO_ROOT/target/release/devagents-node" DEVAGENTS_KCM_QPS=1000 "$REPO_ROOT/e2e/cluster-up.sh")"
trap '"$REPO_ROOT/e2e/cluster-down.sh" "$D"' EXIT
export KUBECONFIG="$D/kubeconfig"
"$K8S_BIN/kubectl" apply -f crds/ >/dev/null
"$K8S_BIN/kubectl" wait --for condition=established --timeout=60s crd/agentjobs.devagents.io crd/agentapprovals.devagents.io >/dev/null
BENCH="$REPO_ROOT/target/release/devagents-bench"
OP="$REPO_ROOT/target/release/agent-operator"
[ "$JOBS" = 0 ] || "$BENCH" dispatch --jobs "$JOBS" --operator "$OP"
[ "$RSS_JOBS" = 0 ] || "$BENCH" rss --jobs "$RSS_JOBS" --operator "$OP"
