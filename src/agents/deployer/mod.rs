//! `deployer`: native rollouts with smoke tests and automatic rollback, optional image builds,
//! and a GitOps mode.

pub mod build;
pub mod cluster;
pub mod gitops;
pub mod ops;
pub mod rollout;
pub mod run;
pub mod smoke;
