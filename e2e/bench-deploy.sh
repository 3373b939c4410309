#!/usr/bin/env bash
# The deployer benchmark (a script, not a timed test): on one fresh control plane, the time
# from AgentJob creation to rollout confirmed (the deployer's `confirmedAt`) against the same
# image change patched directly and followed until the rollout is done. Release builds.
#   e2e/bench-deploy.sh [JOBS]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
JOBS="${1:-20}"

"$REPO_ROOT/e2e/install-deps.sh"
"$REPO_ROOT/e2e/build-k8s.sh"
cargo build --release --all-features --bins --quiet
D="$(DEVAGENTS_NODE_BIN="$REPO_ROOT/target/release/devagents-node" "$REPO_ROOT/e2e/cluster-up.sh")"
trap '"$REPO_ROOT/e2e/cluster-down.sh" "$D"' EXIT
export KUBECONFIG="$D/kubeconfig"
"$K8S_BIN/kubectl" apply -f crds/ >/dev/null
"$K8S_BIN/kubectl" wait --for condition=established --timeout=60s crd/agentjobs.devagents.io crd/agentapprovals.devagents.io >/dev/null
"$REPO_ROOT/target/release/devagents-bench" deploy --jobs "$JOBS" --operator "$REPO_ROOT/target/release/agent-operator"
