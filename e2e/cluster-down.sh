#!/usr/bin/env bash
# Stop every process cluster-up.sh started for DIR (default: target/devagents-cluster), then
# assert that none is left: no process whose command line or working directory is inside DIR.
#   e2e/cluster-down.sh [DIR] [--keep]    (--keep leaves DIR on disk for the logs)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

D="${1:-$REPO_ROOT/target/devagents-cluster}"
KEEP="${2:-}"
[ -d "$D" ] || { log "no cluster at $D"; exit 0; }
D="$(cd "$D" && pwd -P)"

# Newest first: the node stand-in stops its agent processes on SIGTERM.
if [ -f "$D/pids" ]; then
  tac "$D/pids" | while read -r pid name; do
    kill -TERM "$pid" 2>/dev/null && log "stopping $name ($pid)" || true
  done
  for _ in $(seq 1 100); do
    alive=0
    while read -r pid _; do kill -0 "$pid" 2>/dev/null && alive=1; done <"$D/pids"
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  while read -r pid name; do
    kill -0 "$pid" 2>/dev/null && { log "killing $name ($pid)"; kill -KILL "$pid" 2>/dev/null || true; }
  done <"$D/pids"
fi

# The assertion: nothing started for this cluster survives. Every process cluster-up started
# carries DEVAGENTS_CLUSTER_ID in its environment (the node stand-in passes it to the agent
# processes it runs), and agent processes work inside DIR.
ID="$(cat "$D/cluster-id" 2>/dev/null || echo none)"
leftover() {
  local p cwd found=""
  for p in /proc/[0-9]*; do
    cwd="$(readlink "$p/cwd" 2>/dev/null || true)"
    case "$cwd" in "$D"|"$D"/*) found="$found ${p#/proc/}"; continue ;; esac
    if { tr '\0' '\n' <"$p/environ"; } 2>/dev/null | grep -qx "DEVAGENTS_CLUSTER_ID=$ID"; then
      found="$found ${p#/proc/}"
    fi
  done
  echo "$found"
}
for _ in $(seq 1 50); do
  left="$(leftover)"
  [ -z "${left// /}" ] && break
  sleep 0.1
done
if [ -n "${left// /}" ]; then
  for pid in $left; do log "left running: $pid $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"; kill -KILL "$pid" 2>/dev/null || true; done
  die "processes of the cluster at $D were still running after shutdown"
fi
: >"$D/pids"
if [ "$KEEP" != "--keep" ]; then rm -rf "$D"; fi
[ "$(readlink "$REPO_ROOT/target/devagents-cluster" 2>/dev/null)" = "$D" ] && rm -f "$REPO_ROOT/target/devagents-cluster"
log "cluster at $D stopped; no process left"
