#!/usr/bin/env bash
# Start a real control plane on free loopback ports, all state in one temporary directory:
# etcd, kube-apiserver 1.20.2, kube-controller-manager, and the devagents node stand-in
# (the kubelet's part: binding Pods and running agent Pods as local processes).
#
#   e2e/cluster-up.sh [DIR]     (DIR defaults to a new mktemp directory)
#
# Prints DIR on stdout. DIR/kubeconfig is the admin kubeconfig, DIR/env can be sourced,
# DIR/pids lists every process started. target/devagents-cluster points at DIR.
# Stop everything with e2e/cluster-down.sh [DIR].
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$(dirname "$0")/build-k8s.sh" >&2

D="${1:-}"
if [ -z "$D" ]; then D="$(mktemp -d "${TMPDIR:-/tmp}/devagents-cluster.XXXXXX")"; fi
mkdir -p "$D"
D="$(cd "$D" && pwd)"
[ -s "$D/pids" ] && die "$D already has a running cluster (pids file present); run cluster-down first"
: >"$D/pids"
CLUSTER_ID="$(openssl rand -hex 8)"
echo "$CLUSTER_ID" >"$D/cluster-id"
mkdir -p "$REPO_ROOT/target"
# A private cluster (a test that restarts its apiserver) leaves the shared link alone.
[ -n "${DEVAGENTS_CLUSTER_NO_LINK:-}" ] || ln -sfn "$D" "$REPO_ROOT/target/devagents-cluster"

NODE_BIN="${DEVAGENTS_NODE_BIN:-$REPO_ROOT/target/debug/devagents-node}"
AGENT_BIN_DIR="${DEVAGENTS_AGENT_BIN_DIR:-$(dirname "$NODE_BIN")}"
[ -x "$NODE_BIN" ] || die "node stand-in not built: $NODE_BIN (run: cargo build)"

on_error() { log "start-up failed; logs are in $D; stopping what was started"; "$(dirname "$0")/cluster-down.sh" "$D" --keep >&2 || true; }
trap on_error EXIT

start() { # start NAME CMD... : run in the background, logs to DIR/NAME.log, pid recorded
  local name="$1"; shift
  DEVAGENTS_CLUSTER_ID="$CLUSTER_ID" "$@" >"$D/$name.log" 2>&1 &
  echo "$! $name" >>"$D/pids"
}

wait_for() { # wait_for WHAT SECONDS CMD...
  local what="$1" secs="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || { tail -30 "$D"/*.log >&2 || true; die "$what not ready after ${secs}s"; }
    sleep 0.2
  done
}

ETCD_PORT=$(free_port); PEER_PORT=$(free_port); API_PORT=$(free_port); KCM_PORT=$(free_port)
T0=$SECONDS

openssl genrsa -out "$D/sa.key" 2048 2>/dev/null
openssl rsa -in "$D/sa.key" -pubout -out "$D/sa.pub" 2>/dev/null
# Test-only static tokens: the admin, and users for RBAC tests (tokens are random per cluster).
ADMIN_TOKEN="admin-$(openssl rand -hex 16)"
{
  echo "$ADMIN_TOKEN,admin,admin,system:masters"
  for u in alice bob carol dave; do echo "$u-$(openssl rand -hex 8),$u,$u,\"devagents:users\""; done
} >"$D/tokens.csv"
chmod 600 "$D/tokens.csv" "$D/sa.key"

start etcd etcd --name devagents-test --data-dir "$D/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$PEER_PORT" \
  --initial-cluster "devagents-test=http://127.0.0.1:$PEER_PORT" --log-level warn
wait_for etcd 30 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"
echo "http://127.0.0.1:$ETCD_PORT" >"$D/etcd-url"

APISERVER_ARGS=(--etcd-servers="http://127.0.0.1:$ETCD_PORT"
  --bind-address=127.0.0.1 --secure-port="$API_PORT" --advertise-address=127.0.0.1
  --cert-dir="$D/certs" --token-auth-file="$D/tokens.csv" --authorization-mode=RBAC
  --service-account-issuer=https://kubernetes.default.svc --api-audiences=https://kubernetes.default.svc
  --service-account-key-file="$D/sa.pub" --service-account-signing-key-file="$D/sa.key"
  --service-cluster-ip-range=10.0.0.0/24 --allow-privileged=true --v=1)
# Extra flags for a look inside (e.g. an audit log while a benchmark runs).
# shellcheck disable=SC2206
[ -z "${DEVAGENTS_APISERVER_EXTRA_ARGS:-}" ] || APISERVER_ARGS+=($DEVAGENTS_APISERVER_EXTRA_ARGS)
# Kept for e2e/restart-apiserver.sh (the fault tests restart it on the same etcd).
printf '%s\n' "${APISERVER_ARGS[@]}" >"$D/apiserver.args"
start kube-apiserver "$K8S_BIN/kube-apiserver" "${APISERVER_ARGS[@]}"
wait_for kube-apiserver 60 curl -fsSk -H "Authorization: Bearer $ADMIN_TOKEN" "https://127.0.0.1:$API_PORT/readyz"

cat >"$D/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: devagents-test
  cluster:
    server: https://127.0.0.1:$API_PORT
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: $ADMIN_TOKEN
contexts:
- name: devagents-test
  context: {cluster: devagents-test, user: admin, namespace: default}
current-context: devagents-test
KC
chmod 600 "$D/kubeconfig"

start kube-controller-manager "$K8S_BIN/kube-controller-manager" --kubeconfig="$D/kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --port=0 \
  --service-account-private-key-file="$D/sa.key" --root-ca-file="$D/certs/apiserver.crt" \
  --leader-elect=false --controllers="${DEVAGENTS_KCM_CONTROLLERS:-*,-nodelifecycle,-csrsigning}" --v=1 \
  --kube-api-qps="${DEVAGENTS_KCM_QPS:-20}" --kube-api-burst="$(( ${DEVAGENTS_KCM_QPS:-20} * 3 / 2 ))"

start devagents-node env KUBECONFIG="$D/kubeconfig" RUST_LOG="${RUST_LOG:-info}" "$NODE_BIN" \
  --node-name devagents-node --work-dir "$D/node" --agent-bin-dir "$AGENT_BIN_DIR" \
  --agent-image "${DEVAGENTS_AGENT_IMAGE_PATTERN:-^(.*/)?devagents-agent(:.*)?$}" \
  --broken-image "${DEVAGENTS_BROKEN_IMAGE_PATTERN:-:broken(-.*)?$}"

# Ready = the default namespace has its ServiceAccount token (Pods can be admitted) and the
# node has registered.
kc() { curl -fsSk -H "Authorization: Bearer $ADMIN_TOKEN" "https://127.0.0.1:$API_PORT$1"; }
sa_ready() { kc /api/v1/namespaces/default/serviceaccounts/default | grep -q '"secrets"'; }
case "${DEVAGENTS_KCM_CONTROLLERS:-}" in
  # Without the legacy token controller (as Kubernetes >= 1.24 makes no token Secret per
  # account), the account itself is what Pods need.
  *-serviceaccount-token*) sa_ready() { kc /api/v1/namespaces/default/serviceaccounts/default >/dev/null; } ;;
esac
wait_for "default ServiceAccount token" 60 sa_ready
wait_for "node registration" 30 kc /api/v1/nodes/devagents-node

cat >"$D/env" <<ENV
export KUBECONFIG="$D/kubeconfig"
export DEVAGENTS_CLUSTER_DIR="$D"
export DEVAGENTS_API_PORT=$API_PORT
ENV
trap - EXIT
log "control plane up in $((SECONDS - T0))s: https://127.0.0.1:$API_PORT (state in $D)"
echo "$D"
