#!/usr/bin/env bash
# The queue benchmark (a script, not a timed test): on one fresh control plane, N probe
# AgentJobs of 200 ms behind the operator's default 4 slots, against the same work as one
# batch/v1 Job (completions N, parallelism 4) on the same apiserver and node stand-in. The
# operator runs with its admission webhooks registered, as the chart installs it by default.
# Each side runs twice per N, alternating which goes first (AgentJob, Job, Job, AgentJob), so
# that a control plane drifting faster or slower weighs on both sides alike.
# Prints makespans and their ratio, overhead per job, API writes per job, kube-apiserver CPU
# per job and the operator's peak RSS; then its RSS with 10,000 finished and 2,000 queued
# AgentJobs cached. Release builds.
#   e2e/bench-queue.sh [SIZES]     (comma-separated, default 500,2000)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
SIZES="${1:-500,2000}"

bench_modern_accounts
bench_cluster
APISERVER_PID="$(awk '$2 == "kube-apiserver" {print $1}' "$D/pids")"
"$REPO_ROOT/target/release/devagents-bench" queue --jobs "$SIZES" \
  --operator "$REPO_ROOT/target/release/agent-operator" --apiserver-pid "$APISERVER_PID" --pids-file "$D/pids"
# Memory: 10,000 finished and 2,000 queued AgentJobs in the operator's caches.
"$REPO_ROOT/target/release/devagents-bench" rss --jobs 10000 --queued 2000 \
  --operator "$REPO_ROOT/target/release/agent-operator"
