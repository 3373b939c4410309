#!/usr/bin/env bash
# Install the Helm chart (real Helm v4 code via helm-python-sdk) into the cluster of
# $KUBECONFIG as release `devagents` in `devagents-system` — RBAC, CRDs, ConfigMap, Service; no
# webhooks and no operator replicas (there is no container runtime here) — and write a
# kubeconfig with the token of the chart's operator ServiceAccount. The e2e tests start their
# operators with it (DEVAGENTS_OPERATOR_KUBECONFIG), so the whole job suite runs with exactly
# the chart's RBAC.
#   e2e/helm-install.sh OUT_KUBECONFIG
set -euo pipefail
. "$(dirname "$0")/lib.sh"
OUT="$1"
PY="$DEVAGENTS_CACHE/venv/bin/python"
K="$K8S_BIN/kubectl"
VALUES="$(mktemp)"
echo '{"replicaCount": 0, "webhooks": {"enabled": false}}' >"$VALUES"
"$PY" "$REPO_ROOT/e2e/helm.py" install devagents devagents-system "$VALUES" >/dev/null
rm -f "$VALUES"
SECRET=""
for _ in $(seq 1 100); do
  SECRET="$("$K" -n devagents-system get serviceaccount devagents-operator -o jsonpath='{.secrets[0].name}' 2>/dev/null || true)"
  [ -n "$SECRET" ] && break
  sleep 0.1
done
[ -n "$SECRET" ] || die "the chart's ServiceAccount got no token"
TOKEN="$("$K" -n devagents-system get secret "$SECRET" -o jsonpath='{.data.token}' | base64 -d)"
SERVER="$("$K" config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
cat >"$OUT" <<KC
apiVersion: v1
kind: Config
clusters:
- name: devagents-test
  cluster: {server: "$SERVER", insecure-skip-tls-verify: true}
users:
- name: devagents-operator
  user: {token: "$TOKEN"}
contexts:
- name: operator
  context: {cluster: devagents-test, user: devagents-operator, namespace: devagents-system}
current-context: operator
KC
chmod 600 "$OUT"
log "chart installed; the operator's ServiceAccount kubeconfig: $OUT"
