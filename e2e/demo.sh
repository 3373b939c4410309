#!/usr/bin/env bash
# The demo: a real control plane, the devagents CRDs, and a sample AgentJob of every agent.
# The cluster stays up afterwards; `just cluster-down` stops it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

"$REPO_ROOT/e2e/install-deps.sh"
"$REPO_ROOT/e2e/build-k8s.sh"
cargo build --all-features --bins --quiet
if [ -f target/devagents-cluster/pids ] && [ -s target/devagents-cluster/pids ]; then
  log "stopping the previous demo cluster"
  "$REPO_ROOT/e2e/cluster-down.sh"
fi
D="$("$REPO_ROOT/e2e/cluster-up.sh")"
export KUBECONFIG="$D/kubeconfig"
K="$K8S_BIN/kubectl"

log "installing the CRDs"
"$K" apply -f crds/
"$K" wait --for condition=established --timeout=60s crd/agentjobs.devagents.io crd/agentapprovals.devagents.io

log "applying a sample AgentJob of every agent"
"$K" apply -f examples/agentjobs/
"$K" get agentjobs -o wide

log "the node stand-in runs the agent image: agent-runner probe in a Pod"
"$K" apply -f - <<'POD'
apiVersion: v1
kind: Pod
metadata: {name: probe-pod}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  containers:
  - {name: agent, image: devagents-agent:dev, command: [agent-runner, probe, --sleep-ms, "300", --message, "devagents is healthy"]}
POD
for _ in $(seq 1 300); do
  phase="$("$K" get pod probe-pod -o jsonpath='{.status.phase}')"
  case "$phase" in Succeeded|Failed) break ;; esac
  sleep 0.2
done
"$K" get pod probe-pod -o jsonpath='{.status.phase}: {.status.containerStatuses[0].state.terminated.message}{"\n"}'

cat <<MSG

The control plane is still running. Try:
  export KUBECONFIG=$D/kubeconfig
  $K get aj
Stop it with: just cluster-down
MSG
