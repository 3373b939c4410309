# devagents — run `just` to list the recipes.

set shell := ["bash", "-euo", "pipefail", "-c"]

default:
    @just --list

# Install system packages (Debian) and build/cache the Kubernetes 1.20.2 control plane.
setup:
    e2e/install-deps.sh
    e2e/build-k8s.sh

# Build the operator, the runner, the kubectl plugin and the node stand-in.
build:
    cargo build --all-features --bins

# Regenerate crds/ from the Rust types.
crds:
    cargo run --quiet --bin agent-operator -- crds --out-dir crds
    cargo run --quiet --bin agent-operator -- crds --out-dir charts/devagents/crds

# Lint, unit tests and e2e tests on a real control plane (what CI runs).
test:
    e2e/run-tests.sh

# Unit tests only (no cluster).
unit:
    cargo nextest run || cargo test

# E2E tests against the cluster started by `just cluster-up`.
e2e:
    KUBECONFIG="$(readlink -f target/devagents-cluster)/kubeconfig" cargo nextest run --all-features --test 'e2e_*'

# Dispatch benchmark against the Kubernetes Job controller, and operator RSS (release build).
bench-dispatch jobs="500" rss_jobs="10000":
    e2e/bench-dispatch.sh {{jobs}} {{rss_jobs}}

# Queue at scale: N probe jobs of 200 ms behind 4 slots against one batch/v1 Job (release build).
bench-queue sizes="500,2000":
    e2e/bench-queue.sh {{sizes}}

# Deployer: AgentJob creation → rollout confirmed (median, p90) against a direct patch (release build).
bench-deploy jobs="20":
    e2e/bench-deploy.sh {{jobs}}

# LLM gateway overhead and cache-hit latency against a local provider test double.
bench-llm requests="2000":
    cargo run --release --all-features --quiet --bin devagents-bench -- llm --requests {{requests}}

# Reviewer quality on its seeded corpus: recall and precision per category (real go vet and
# staticcheck), and anything reported on lines the pull request does not add.
bench-review-quality:
    cargo run --release --all-features --quiet --bin devagents-bench -- review-quality

# Generator rendering benchmark (criterion): one module, no LLM, no I/O.
bench-generator:
    cargo bench --bench generator

# Reviewer benchmark (criterion): the deterministic checks on a 20,000-line diff.
bench-reviewer:
    cargo bench --bench reviewer

# Scheduler benchmark (criterion): the planner's pass over 500 and 2,000 waiting jobs.
bench-scheduler:
    cargo bench --bench scheduler

# Migrator benchmark (criterion): parse + diff + render for 11 schemas the size of Simple Admin
# Core's, and one round trip on a throwaway PostgreSQL.
bench-migrator:
    cargo bench --features testing --bench migrator

# Control plane + CRDs + operator + a probe AgentJob to Succeeded (the cluster stays up).
demo:
    e2e/demo.sh

# Start etcd, kube-apiserver, kube-controller-manager and the node stand-in.
cluster-up: build
    e2e/cluster-up.sh

# Stop the cluster started by cluster-up / demo and check nothing is left running.
cluster-down:
    e2e/cluster-down.sh
