#!/usr/bin/env bash
# The demo: a real control plane, the devagents CRDs, the operator, a probe AgentJob that
# runs to Succeeded, and a generator AgentJob that writes a Department module into a fixture
# repository on a local git server and opens a pull request (GitHub test double), a
# migrator AgentJob whose destructive migration is validated on a real PostgreSQL, approved
# and proposed as a pull request, and a deployer AgentJob. Every sample AgentJob is validated by the apiserver (server-side dry run).
# Every finished job is written to the job archive (the same local PostgreSQL), and the demo
# ends with `kubectl agent history` and `kubectl agent report` read from it.
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

log "every sample AgentJob passes the apiserver's validation (server-side dry run)"
"$K" apply --dry-run=server -f examples/agentjobs/

log "starting the fixture repository (a real git server on loopback) and the GitHub test double"
TOKEN="demo-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
DEVAGENTS_CLUSTER_ID="$(cat "$D/cluster-id")" \
  "$REPO_ROOT/target/debug/devagents-fixtures" --dir "$D/repos" --token "$TOKEN" --postgres \
  >"$D/fixtures.out" 2>"$D/fixtures.log" &
echo "$! devagents-fixtures" >>"$D/pids"
for _ in $(seq 1 100); do grep -q '^GITHUB_URL=' "$D/fixtures.out" 2>/dev/null && break; sleep 0.1; done
GIT_URL="$(sed -n 's/^GIT_URL=//p' "$D/fixtures.out")"
GITHUB_URL="$(sed -n 's/^GITHUB_URL=//p' "$D/fixtures.out")"
MIGRATOR_GIT_URL="$(sed -n 's/^MIGRATOR_GIT_URL=//p' "$D/fixtures.out")"
DATABASE_URL="$(sed -n 's/^DATABASE_URL=//p' "$D/fixtures.out")"
[ -n "$GIT_URL" ] && [ -n "$GITHUB_URL" ] && [ -n "$DATABASE_URL" ] || die "the fixtures did not start ($D/fixtures.log)"

log "starting the operator (agent-operator run), archiving finished jobs in PostgreSQL"
printf '%s' "$DATABASE_URL" >"$D/archive-url"
"$K" create namespace devagents-system --dry-run=client -o yaml | "$K" apply -f - >/dev/null
METRICS_PORT=$(free_port)
API_PORT=$(free_port)
DEVAGENTS_CLUSTER_ID="$(cat "$D/cluster-id")" RUST_LOG=info \
  "$REPO_ROOT/target/debug/agent-operator" run --namespace devagents-system \
  --agent-image devagents-agent:demo --metrics-addr "127.0.0.1:$METRICS_PORT" \
  --agent-api-addr "127.0.0.1:$API_PORT" --agent-api-url "https://127.0.0.1:$API_PORT" \
  --github-api-url "$GITHUB_URL" --environments examples/deployer/environments.yaml \
  --archive-database-url-file "$D/archive-url" \
  >"$D/agent-operator.log" 2>&1 &
echo "$! agent-operator" >>"$D/pids"
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$METRICS_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

log "running the probe agent: examples/agentjobs/probe.yaml"
"$K" apply -f examples/agentjobs/probe.yaml
phase=""
for _ in $(seq 1 300); do
  phase="$("$K" get agentjob probe -o jsonpath='{.status.phase}')"
  case "$phase" in Succeeded|Failed|Cancelled) break ;; esac
  sleep 0.2
done
"$K" get agentjobs -o wide
"$K" get agentjob probe -o jsonpath='{.status.phase}: {.status.result.summary}{"\n"}'
[ "$phase" = Succeeded ] || die "the probe job ended $phase (operator log: $D/agent-operator.log)"

wait_job() {
  local phase=""
  for _ in $(seq 1 900); do
    phase="$("$K" get agentjob "$1" -o jsonpath='{.status.phase}')"
    case "$phase" in Succeeded|Failed|Cancelled) break ;; esac
    sleep 0.2
  done
  "$K" get agentjob "$1" -o jsonpath='{.status.phase}: {.status.result.summary}{"\n"}'
  [ "$phase" = Succeeded ] || die "$1 ended ${phase:-unfinished}: $("$K" get agentjob "$1" -o jsonpath='{.status.message}') (operator log: $D/agent-operator.log)"
}

log "running the generator: examples/agentjobs/generator.yaml against the fixture repository"
"$K" create secret generic github-token --from-literal=token="$TOKEN" --dry-run=client -o yaml | "$K" apply -f - >/dev/null
sed "s#url: https://github.com/acme/simple-admin-core.git#url: $GIT_URL#" examples/agentjobs/generator.yaml |
  "$K" apply -f -
wait_job generate-department
BRANCH="$("$K" get agentjob generate-department -o jsonpath='{.status.result.data.branch}')"
log "branch $BRANCH on the git server, against main:"
git --git-dir "$D/repos/acme/core.git" diff --stat main "$BRANCH"
log "the pull request (GitHub test double):"
curl -fsS -H "Authorization: Bearer $TOKEN" "$GITHUB_URL/repos/acme/core/pulls" |
  python3 -c 'import json,sys; [print("  #%d %s  %s -> %s" % (p["number"], p["title"], p["head"]["ref"], p["base"]["ref"])) for p in json.load(sys.stdin)]'

log "running the migrator: examples/agentjobs/migrator.yaml (acme/hr main -> feature/department, validated on PostgreSQL)"
"$K" create secret generic migrator-db --from-literal=DATABASE_URL="$DATABASE_URL" --dry-run=client -o yaml | "$K" apply -f - >/dev/null
sed "s#url: https://github.com/acme/hr.git#url: $MIGRATOR_GIT_URL#" examples/agentjobs/migrator.yaml |
  "$K" apply -f -
APPROVAL=""
for _ in $(seq 1 600); do
  APPROVAL="$("$K" get agentapprovals -o jsonpath='{range .items[?(@.spec.jobName=="migrate-add-department")]}{.metadata.name}{end}')"
  [ -n "$APPROVAL" ] && break
  case "$("$K" get agentjob migrate-add-department -o jsonpath='{.status.phase}')" in Succeeded|Failed|Cancelled) break ;; esac
  sleep 0.2
done
[ -n "$APPROVAL" ] || die "the migrator asked for no approval: $("$K" get agentjob migrate-add-department -o jsonpath='{.status.message}')"
log "the migration drops a column, so the agent waits for agentapproval/$APPROVAL:"
"$K" get agentapproval "$APPROVAL" -o jsonpath='  {.spec.description}{"\n"}  pinned to {.spec.pins[0].name}={.spec.pins[0].value}{"\n"}'
# The demo's operator runs without its admission webhooks (the chart installs them; there the
# webhook writes in who decides). Here a member of group dba is written in directly.
log "approving it as a member of group dba"
"$K" patch agentapproval "$APPROVAL" --type merge \
  -p '{"spec":{"decisions":[{"user":"dba-lead","groups":["dba"],"decision":"Approve","comment":"demo"}]}}' >/dev/null
wait_job migrate-add-department
MBRANCH="$("$K" get agentjob migrate-add-department -o jsonpath='{.status.result.data.branch}')"
log "branch $MBRANCH on the git server, against feature/department:"
git --git-dir "$D/repos/acme/hr.git" diff --stat feature/department "$MBRANCH"
"$K" get agentjob migrate-add-department -o jsonpath='{range .status.result.data.validation.phases[*]}  {.ok} {.name}{"\n"}{end}'

log "running the deployer: examples/agentjobs/deployer.yaml (staging: api and rpc v1.7.1 -> v1.7.2)"
"$K" apply -f examples/deployer/shop-staging.yaml >/dev/null
"$K" -n shop-staging rollout status deployment/api --timeout=60s >/dev/null
"$K" -n shop-staging rollout status deployment/shop-rpc --timeout=60s >/dev/null
"$K" apply -f examples/agentjobs/deployer.yaml
wait_job deploy-staging-v1-7-2
"$K" -n shop-staging get deployments -o wide
"$K" -n shop-staging rollout history deployment/api

log "the job archive: kubectl agent history and report (from PostgreSQL)"
export DEVAGENTS_ARCHIVE_URL="$DATABASE_URL"
archived=0
for _ in $(seq 1 300); do
  archived="$("$REPO_ROOT/target/debug/kubectl-agent" history -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
  [ "$archived" -ge 4 ] && break
  sleep 0.2
done
[ "$archived" -ge 4 ] || die "only $archived of the 4 finished jobs are in the archive (operator log: $D/agent-operator.log)"
"$REPO_ROOT/target/debug/kubectl-agent" history
"$REPO_ROOT/target/debug/kubectl-agent" report --since 1d

cat <<MSG

The control plane and the operator are still running. Try:
  export KUBECONFIG=$D/kubeconfig
  $K get aj
  curl -s http://127.0.0.1:$METRICS_PORT/metrics | grep devagents_
  DEVAGENTS_ARCHIVE_URL='$DATABASE_URL' target/debug/kubectl-agent history
Stop everything with: just cluster-down
MSG
