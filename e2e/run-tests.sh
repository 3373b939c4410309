#!/usr/bin/env bash
# The whole test suite: lint, unit tests, and the e2e tests on a real control plane that this
# script starts and stops. Fails if any process it started is left running afterwards.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

"$REPO_ROOT/e2e/install-deps.sh"
T0=$SECONDS
"$REPO_ROOT/e2e/build-k8s.sh"
T_BUILD=$((SECONDS - T0))

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --all-targets --all-features --quiet -- -D warnings
log "cargo build"
cargo build --all-features --bins --tests --quiet
if command -v cargo-nextest >/dev/null; then
  cargo nextest run --all-features --no-run --quiet >/dev/null 2>&1 || true
fi

T1=$SECONDS
D="$("$REPO_ROOT/e2e/cluster-up.sh")"
T_UP=$((SECONDS - T1))
stop() { "$REPO_ROOT/e2e/cluster-down.sh" "$D"; }
trap 'stop || true' EXIT
export KUBECONFIG="$D/kubeconfig"
log "the Helm chart: lint with default and full values, install (helm-python-sdk)"
"$DEVAGENTS_CACHE/venv/bin/python" "$REPO_ROOT/e2e/helm.py" lint
"$REPO_ROOT/e2e/helm-install.sh" "$D/kubeconfig-operator"
# Every e2e operator runs with the chart's ServiceAccount (see tests/common): its RBAC is enough.
export DEVAGENTS_OPERATOR_KUBECONFIG="$D/kubeconfig-operator"
export DEVAGENTS_OPERATOR_NAMESPACE_ROLE="devagents-devagents-system-devagents-own-namespace"

rc=0
if command -v cargo-nextest >/dev/null; then
  cargo nextest run --all-features --no-fail-fast || rc=$?
else
  cargo test --all-features --no-fail-fast || rc=$?
fi
trap - EXIT
# Asserts that no etcd / kube-apiserver / kube-controller-manager / node stand-in / agent
# process of this run survives.
stop || { log "FAIL: processes were left running"; rc=1; }
log "control-plane build/cache check: ${T_BUILD}s; control-plane start-up: ${T_UP}s"
[ "$rc" = 0 ] && log "all tests passed" || log "tests FAILED"
exit "$rc"
