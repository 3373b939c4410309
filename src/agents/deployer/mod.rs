//! `deployer`: native rollouts with smoke tests and automatic rollback. So far: judging a
//! rollout as `kubectl rollout status` does. The rollout itself, smoke tests, rollback, image
//! builds, GitOps mode and the job-scoped RBAC are the next steps.

pub mod rollout;
