#!/usr/bin/env bash
# kill -9 the kube-apiserver of the cluster in DIR and start it again with the same flags on
# the same etcd (a fault test's apiserver crash). Returns once /readyz answers again.
#   e2e/restart-apiserver.sh DIR [DOWN_SECONDS]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
D="$(cd "$1" && pwd -P)"
DOWN="${2:-0}"
PID="$(awk '$2 == "kube-apiserver" {print $1}' "$D/pids" | tail -1)"
[ -n "$PID" ] || die "no kube-apiserver in $D/pids"
kill -KILL "$PID"
while kill -0 "$PID" 2>/dev/null; do sleep 0.05; done
sleep "$DOWN"
mapfile -t ARGS <"$D/apiserver.args"
DEVAGENTS_CLUSTER_ID="$(cat "$D/cluster-id")" "$K8S_BIN/kube-apiserver" "${ARGS[@]}" >>"$D/kube-apiserver.log" 2>&1 &
echo "$! kube-apiserver" >>"$D/pids"
PORT="$(grep -o 'secure-port=[0-9]*' "$D/apiserver.args" | cut -d= -f2)"
TOKEN="$(head -1 "$D/tokens.csv" | cut -d, -f1)"
for _ in $(seq 1 300); do
  curl -fsSk -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && exit 0
  sleep 0.2
done
die "kube-apiserver did not come back"
