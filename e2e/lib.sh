# Shared settings for the e2e scripts. Source it; do not run it.
# shellcheck shell=bash

K8S_VERSION=1.20.2
export DEVAGENTS_CACHE="${DEVAGENTS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/devagents}"
export K8S_BIN="$DEVAGENTS_CACHE/k8s-$K8S_VERSION/bin"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '[e2e %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# as_root CMD...: run as root (sudo when we are not root and sudo exists).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root to run: $*"
  fi
}

# free_port: print a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# bench_modern_accounts: ServiceAccounts as every supported Kubernetes (>= 1.24) has them:
# no legacy token controller, which on 1.20 writes a token Secret for every account (each
# AgentJob's included) and which no longer runs anywhere. Called before bench_cluster by the
# benchmarks whose Pods all mount projected tokens; DEVAGENTS_KCM_CONTROLLERS set beforehand
# (e.g. '*,-nodelifecycle,-csrsigning') measures the 1.20 way.
bench_modern_accounts() {
  export DEVAGENTS_KCM_CONTROLLERS="${DEVAGENTS_KCM_CONTROLLERS:-*,-nodelifecycle,-csrsigning,-serviceaccount-token}"
}

# bench_cluster: for the benchmark scripts — release builds, a fresh control plane whose
# kube-controller-manager is not throttled (its client allows 20 requests/s by default; the
# comparison is between the two controllers, not two rate limiters), the CRDs. Sets D and
# KUBECONFIG; the cluster stops when the script exits.
bench_cluster() {
  "$REPO_ROOT/e2e/install-deps.sh"
  "$REPO_ROOT/e2e/build-k8s.sh"
  cargo build --release --all-features --bins --quiet
  D="$(DEVAGENTS_NODE_BIN="$REPO_ROOT/target/release/devagents-node" DEVAGENTS_KCM_QPS=1000 "$REPO_ROOT/e2e/cluster-up.sh")"
  trap '"$REPO_ROOT/e2e/cluster-down.sh" "$D"' EXIT
  export KUBECONFIG="$D/kubeconfig"
  "$K8S_BIN/kubectl" apply -f "$REPO_ROOT/crds/" >/dev/null
  "$K8S_BIN/kubectl" wait --for condition=established --timeout=60s crd/agentjobs.devagents.io crd/agentapprovals.devagents.io >/dev/null
}
