//! AgentApprovals, as pure functions: their names, what they pin, who decides them, whether
//! one is what the operator issued, and the phase their decisions add up to. (Who may decide
//! is enforced at admission by the validating webhook; the evaluation here still ignores the
//! job's requester and anyone not among the deciders, as a second line.)

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::{Resource, ResourceExt};
use sha2::{Digest, Sha256};

use super::agent::{Agents, ApprovalNeed};
use super::pod::{LABEL_JOB_UID, MANAGED_BY, MANAGER, bounded_name, hex};
use crate::api::{
    AgentApproval, AgentApprovalSpec, AgentApprovalStatus, AgentJob, ApprovalMode, ApprovalPhase,
    Decision, DecisionKind, Pin,
};

/// The pin of a before-run approval: the job's spec (minus `cancel`, which must stay usable).
pub const SPEC_PIN: &str = "specHash";

pub fn pins_hash(pins: &[Pin]) -> String {
    let mut sorted: Vec<(&str, &str)> = pins
        .iter()
        .map(|p| (p.name.as_str(), p.value.as_str()))
        .collect();
    sorted.sort();
    let mut h = Sha256::new();
    for (k, v) in sorted {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    format!("sha256:{}", hex(&h.finalize()))
}

/// Hash of what a before-run approval approves.
pub fn spec_hash(job: &AgentJob) -> String {
    let mut spec = job.spec.clone();
    spec.cancel = false;
    let bytes = serde_json::to_vec(&spec).unwrap_or_default();
    format!("sha256:{}", hex(&Sha256::digest(&bytes)))
}

/// Name of an approval for `action` of `job` with these pins (new pins → a new approval).
pub fn approval_name(job: &str, action: &str, pins: &[Pin]) -> String {
    let h = pins_hash(pins);
    let short = &h["sha256:".len().."sha256:".len() + 8];
    // Actions may hold `_` (`git_push`); object names may not.
    let action = action.replace('_', "-");
    bounded_name(job, &format!("-{action}-{short}"), 253)
}

/// The before-run approval a job needs now (None when neither its policy nor its agent asks
/// for one): its name and pins — the job's spec, and what the agent pins beside it (a deploy's
/// exact images), so another spec or version needs another approval.
pub fn run_approval(job: &AgentJob, agents: &Agents) -> Option<(String, Vec<Pin>)> {
    let by_policy = job
        .spec
        .approval
        .as_ref()
        .is_some_and(|p| p.policy == ApprovalMode::BeforeRun);
    let need = agents.of(job.spec.agent).approval(job);
    if !by_policy && need.is_none() {
        return None;
    }
    let mut pins = vec![Pin {
        name: SPEC_PIN.into(),
        value: spec_hash(job),
    }];
    let action = run_action(need.as_ref());
    pins.extend(need.map(|n| n.pins).unwrap_or_default());
    Some((approval_name(&job.name_any(), action, &pins), pins))
}

/// The action of a before-run approval: the agent's (`deploy`), else `run`.
pub fn run_action(need: Option<&ApprovalNeed>) -> &'static str {
    need.map_or("run", |n| n.action)
}

/// Who decides an approval of `job` and how many must agree. When the agent names deciders
/// (a deploy to an environment that lists approvers), they decide: the job may raise the
/// quorum, never change who decides. Otherwise the job's own policy applies.
pub fn deciders(job: &AgentJob, agents: &Agents) -> (Vec<String>, i32) {
    let policy = job.spec.approval.as_ref();
    let job_required = policy.map(|p| p.required).unwrap_or(1).max(1);
    let job_approvers = policy.map(|p| p.approvers.clone()).unwrap_or_default();
    match agents.of(job.spec.agent).approval(job) {
        Some(n) => {
            let approvers = if n.approvers.is_empty() {
                // Anyone with the `approve` verb may decide; the job may narrow that down.
                job_approvers
            } else {
                n.approvers
            };
            (approvers, n.required.max(1).max(job_required))
        }
        None => (job_approvers, job_required),
    }
}

/// A new AgentApproval for `job`, owned by it, decided by [`deciders`].
pub fn build(
    job: &AgentJob,
    agents: &Agents,
    name: &str,
    action: &str,
    description: &str,
    pins: Vec<Pin>,
    now: Timestamp,
) -> AgentApproval {
    let timeout = job
        .spec
        .approval
        .as_ref()
        .map(|p| p.timeout_seconds)
        .unwrap_or(86400);
    let (approvers, required) = deciders(job, agents);
    let mut a = AgentApproval::new(
        name,
        AgentApprovalSpec {
            job_name: job.name_any(),
            job_uid: job.uid(),
            action: action.into(),
            description: Some(description.into()),
            pins,
            approvers,
            required,
            expires_at: now
                .checked_add(SignedDuration::from_secs(timeout))
                .ok()
                .map(Time),
            decisions: Vec::new(),
        },
    );
    a.metadata.namespace = job.namespace();
    a.metadata.owner_references = job.controller_owner_ref(&()).map(|o| vec![o]);
    a.metadata.labels = Some(
        [
            (MANAGED_BY.to_string(), MANAGER.to_string()),
            (LABEL_JOB_UID.to_string(), job.uid().unwrap_or_default()),
        ]
        .into(),
    );
    a
}

/// Is `a` exactly what the operator issues for `job`: the job's UID, its name, the deciders
/// and quorum [`deciders`] gives, and a name derived from the action and pins? An approval
/// anyone else made or edited (the webhook refuses both; this is the second line) is never
/// honoured. `Err` says what differs.
pub fn verify(a: &AgentApproval, job: &AgentJob, agents: &Agents) -> Result<(), String> {
    if a.spec.job_uid.is_none() || a.spec.job_uid != job.uid() || a.spec.job_name != job.name_any()
    {
        return Err(format!(
            "it was not issued for job {} (uid {})",
            job.name_any(),
            job.uid().unwrap_or_default()
        ));
    }
    if a.name_any() != approval_name(&job.name_any(), &a.spec.action, &a.spec.pins) {
        return Err("its name does not match its action and pins".into());
    }
    let (approvers, required) = deciders(job, agents);
    if a.spec.approvers != approvers || a.spec.required != required {
        return Err(format!(
            "its approvers ({}) or quorum ({}) are not the ones the operator set ({}; {required})",
            a.spec.approvers.join(", "),
            a.spec.required,
            approvers.join(", ")
        ));
    }
    Ok(())
}

/// May `d` count under `approvers`: a listed user, or a member of a listed group (the groups
/// the admission webhook recorded from the decider's identity). An empty list means anyone
/// who passed the webhook's `approve` check.
pub fn listed(approvers: &[String], d: &Decision) -> bool {
    approvers.is_empty()
        || approvers.iter().any(|a| match a.strip_prefix("group:") {
            Some(g) => d.groups.iter().any(|x| x == g),
            None => *a == d.user,
        })
}

/// The status an approval's decisions add up to.
/// `requester`: who created the job (their decisions never count);
/// `current_pins`: for a before-run approval, the pins the job has now (a changed spec voids it).
pub fn evaluate(
    a: &AgentApproval,
    requester: Option<&str>,
    current_pins: Option<&[Pin]>,
    now: Timestamp,
) -> AgentApprovalStatus {
    let mut st = a.status.clone().unwrap_or_default();
    let phase = st.phase.unwrap_or_default();
    if phase.is_final() {
        return st;
    }
    let hash = pins_hash(&a.spec.pins);
    let void = |st: &mut AgentApprovalStatus, why: &str| {
        st.phase = Some(ApprovalPhase::Voided);
        st.message = Some(why.into());
        st.decided_at = Some(Time(now));
    };
    if phase == ApprovalPhase::Approved {
        if st.approved_pins_hash.as_deref() != Some(hash.as_str()) {
            void(
                &mut st,
                "the pinned content changed after approval; a new approval is needed",
            );
        } else if current_pins.is_some_and(|p| pins_hash(p) != hash) {
            void(
                &mut st,
                "the job changed after approval; a new approval is needed",
            );
        }
        return st;
    }
    if current_pins.is_some_and(|p| pins_hash(p) != hash) {
        void(&mut st, "the job changed; this approval no longer applies");
        return st;
    }
    // Only the deciders the operator set count, and never the job's requester.
    let counted = a
        .spec
        .decisions
        .iter()
        .filter(|d| Some(d.user.as_str()) != requester && listed(&a.spec.approvers, d));
    let mut approved_by = Vec::new();
    for d in counted {
        match d.decision {
            DecisionKind::Reject => {
                st.phase = Some(ApprovalPhase::Rejected);
                st.rejected_by = Some(d.user.clone());
                st.message = Some(match &d.comment {
                    Some(c) if !c.is_empty() => format!("rejected by {}: {c}", d.user),
                    _ => format!("rejected by {}", d.user),
                });
                st.decided_at = Some(Time(now));
                return st;
            }
            DecisionKind::Approve => approved_by.push(d.user.clone()),
        }
    }
    approved_by.sort();
    approved_by.dedup();
    st.approved_by = approved_by.clone();
    if approved_by.len() as i32 >= a.spec.required.max(1) {
        st.phase = Some(ApprovalPhase::Approved);
        st.approved_pins_hash = Some(hash);
        st.message = Some(format!("approved by {}", approved_by.join(", ")));
        st.decided_at = Some(Time(now));
        return st;
    }
    if a.spec.expires_at.as_ref().is_some_and(|e| e.0 <= now) {
        st.phase = Some(ApprovalPhase::Expired);
        st.message = Some("no decision before the approval timed out (expired = rejected)".into());
        st.decided_at = Some(Time(now));
        return st;
    }
    st.phase = Some(ApprovalPhase::Pending);
    st.message = Some(format!(
        "{} of {} approvals",
        approved_by.len(),
        a.spec.required.max(1)
    ));
    st
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{AgentJobSpec, AgentKind, ApprovalPolicy};

    /// The agents' hooks with the deployer's environments (test modules may reach up).
    fn deploy_hooks(yaml: &str) -> Agents {
        let envs = crate::api::environment::Environments::parse(yaml).unwrap();
        crate::agents::operator_side(std::sync::Arc::new(envs))
    }

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn job() -> AgentJob {
        let mut spec = AgentJobSpec::new(AgentKind::Probe);
        spec.probe = Some(Box::default());
        spec.approval = Some(ApprovalPolicy {
            policy: ApprovalMode::BeforeRun,
            approvers: vec!["alice".into(), "group:leads".into()],
            required: 2,
            timeout_seconds: 600,
        });
        let mut j = AgentJob::new("deploy", spec);
        j.metadata.namespace = Some("team".into());
        j.metadata.uid = Some("uid-1".into());
        j
    }

    fn decide(a: &mut AgentApproval, user: &str, kind: DecisionKind, comment: Option<&str>) {
        a.spec.decisions.push(Decision {
            user: user.into(),
            groups: vec!["leads".into()],
            decision: kind,
            comment: comment.map(Into::into),
            decided_at: None,
        });
    }

    fn approval() -> AgentApproval {
        let j = job();
        let (name, pins) = run_approval(&j, &Agents::default()).unwrap();
        build(
            &j,
            &Agents::default(),
            &name,
            "run",
            "run the job",
            pins,
            t(0),
        )
    }

    #[test]
    fn quorum_approves_and_pins_the_hash() {
        let mut a = approval();
        assert_eq!(a.spec.required, 2);
        decide(&mut a, "alice", DecisionKind::Approve, None);
        let st = evaluate(&a, Some("dave"), None, t(1));
        assert_eq!(st.phase, Some(ApprovalPhase::Pending));
        decide(&mut a, "bob", DecisionKind::Approve, None);
        let st = evaluate(&a, Some("dave"), None, t(2));
        assert_eq!(st.phase, Some(ApprovalPhase::Approved));
        assert_eq!(st.approved_by, vec!["alice".to_string(), "bob".to_string()]);
        assert_eq!(st.approved_pins_hash, Some(pins_hash(&a.spec.pins)));
    }

    #[test]
    fn the_requesters_own_decision_never_counts() {
        let mut a = approval();
        decide(&mut a, "dave", DecisionKind::Approve, None);
        decide(&mut a, "alice", DecisionKind::Approve, None);
        assert_eq!(
            evaluate(&a, Some("dave"), None, t(1)).phase,
            Some(ApprovalPhase::Pending)
        );
    }

    #[test]
    fn one_rejection_rejects_with_user_and_comment() {
        let mut a = approval();
        decide(&mut a, "alice", DecisionKind::Approve, None);
        decide(&mut a, "bob", DecisionKind::Reject, Some("not on a Friday"));
        let st = evaluate(&a, None, None, t(1));
        assert_eq!(st.phase, Some(ApprovalPhase::Rejected));
        assert_eq!(st.rejected_by.as_deref(), Some("bob"));
        assert_eq!(
            st.message.as_deref(),
            Some("rejected by bob: not on a Friday")
        );
    }

    #[test]
    fn undecided_approvals_expire() {
        let a = approval();
        assert_eq!(
            evaluate(&a, None, None, t(599)).phase,
            Some(ApprovalPhase::Pending)
        );
        assert_eq!(
            evaluate(&a, None, None, t(600)).phase,
            Some(ApprovalPhase::Expired)
        );
    }

    #[test]
    fn changing_the_pins_voids_an_approval() {
        let mut a = approval();
        a.spec.required = 1;
        decide(&mut a, "alice", DecisionKind::Approve, None);
        a.status = Some(evaluate(&a, None, None, t(1)));
        assert_eq!(
            a.status.as_ref().unwrap().phase,
            Some(ApprovalPhase::Approved)
        );
        a.spec.pins[0].value = "sha256:something-else".into();
        let st = evaluate(&a, None, None, t(2));
        assert_eq!(st.phase, Some(ApprovalPhase::Voided));
        // Final phases stay final.
        a.status = Some(st);
        assert_eq!(
            evaluate(&a, None, None, t(3)).phase,
            Some(ApprovalPhase::Voided)
        );
    }

    #[test]
    fn a_deploy_to_an_environment_that_requires_approval_pins_its_images() {
        use crate::api::DeployerParams;
        let envs = deploy_hooks(
            "environments:\n- {name: production, namespace: shop, approvers: [group:sre], requiredApprovals: 2, services: [{name: api, image: r/api}, {name: rpc, image: r/rpc}]}\n- {name: staging, namespace: shop-st, services: [{name: api, image: r/api}]}",
        );
        let mut spec = AgentJobSpec::new(AgentKind::Deployer);
        spec.deployer = Some(Box::new(DeployerParams {
            environment: "production".into(),
            version: "v2".into(),
            ..Default::default()
        }));
        let mut j = AgentJob::new("ship", spec);
        j.metadata.namespace = Some("team".into());
        let (name, pins) = run_approval(&j, &envs).unwrap();
        assert!(name.starts_with("ship-deploy-"), "{name}");
        let images: Vec<(&str, &str)> = pins
            .iter()
            .filter(|p| p.name.starts_with("image"))
            .map(|p| (p.name.as_str(), p.value.as_str()))
            .collect();
        assert_eq!(
            images,
            vec![("imageApi", "r/api:v2"), ("imageRpc", "r/rpc:v2")]
        );
        let a = build(&j, &envs, &name, "deploy", "d", pins, t(0));
        assert_eq!(a.spec.approvers, vec!["group:sre".to_string()]);
        assert_eq!(a.spec.required, 2);
        // Another version: other pins, another approval.
        j.spec.deployer.as_mut().unwrap().version = "v3".into();
        let (name3, pins3) = run_approval(&j, &envs).unwrap();
        assert_ne!(name3, name);
        assert!(pins3.iter().any(|p| p.value == "r/api:v3"));
        assert_eq!(
            crate::agents::deployer::operator::image_pin("user-rpc"),
            "imageUserRpc"
        );
        // An action with `_` still makes a valid object name.
        assert!(approval_name("ship", "git_push", &pins3).starts_with("ship-git-push-"));
        // Staging needs none.
        j.spec.deployer.as_mut().unwrap().environment = "staging".into();
        assert!(run_approval(&j, &envs).is_none());
    }

    #[test]
    fn a_changed_job_spec_voids_its_run_approval_and_needs_a_new_one() {
        let mut j = job();
        let (name1, _) = run_approval(&j, &Agents::default()).unwrap();
        j.spec.priority = 900;
        let (name2, pins2) = run_approval(&j, &Agents::default()).unwrap();
        assert_ne!(name1, name2);
        let a = approval();
        assert_eq!(
            evaluate(&a, None, Some(&pins2), t(1)).phase,
            Some(ApprovalPhase::Voided)
        );
        // Cancelling does not change what was approved.
        let mut c = job();
        c.spec.cancel = true;
        assert_eq!(run_approval(&c, &Agents::default()).unwrap().0, name1);
    }
    fn prod_deploy(approvers: &[&str], required: i32) -> (AgentJob, Agents) {
        use crate::api::DeployerParams;
        let envs = deploy_hooks(
            "environments:\n- {name: production, namespace: shop, approvers: [carol], requiredApprovals: 1, services: [{name: api, image: r/api}]}",
        );
        let mut spec = AgentJobSpec::new(AgentKind::Deployer);
        spec.deployer = Some(Box::new(DeployerParams {
            environment: "production".into(),
            version: "v2".into(),
            ..Default::default()
        }));
        spec.approval = Some(ApprovalPolicy {
            policy: ApprovalMode::BeforeRun,
            approvers: approvers.iter().map(|a| a.to_string()).collect(),
            required,
            timeout_seconds: 600,
        });
        let mut j = AgentJob::new("ship", spec);
        j.metadata.namespace = Some("team".into());
        j.metadata.uid = Some("uid-ship".into());
        (j, envs)
    }

    #[test]
    fn a_deploy_job_cannot_replace_the_environments_approvers_only_raise_the_quorum() {
        let (j, envs) = prod_deploy(&["mallorys-friend"], 1);
        assert_eq!(deciders(&j, &envs), (vec!["carol".to_string()], 1));
        let (j, envs) = prod_deploy(&["mallorys-friend"], 3);
        assert_eq!(deciders(&j, &envs), (vec!["carol".to_string()], 3));
        let (name, pins) = run_approval(&j, &envs).unwrap();
        let mut a = build(&j, &envs, &name, "deploy", "d", pins, t(0));
        assert_eq!(a.spec.approvers, vec!["carol".to_string()]);
        assert_eq!(verify(&a, &j, &envs), Ok(()));
        // The friend's approval does not count, even if it were admitted.
        a.spec.required = 1;
        decide(&mut a, "mallorys-friend", DecisionKind::Approve, None);
        assert_eq!(
            evaluate(&a, Some("mallory"), None, t(1)).phase,
            Some(ApprovalPhase::Pending)
        );
    }

    #[test]
    fn verify_refuses_approvals_the_operator_did_not_issue() {
        let (j, envs) = prod_deploy(&[], 1);
        let (name, pins) = run_approval(&j, &envs).unwrap();
        let good = build(&j, &envs, &name, "deploy", "d", pins.clone(), t(0));
        assert_eq!(verify(&good, &j, &envs), Ok(()));

        let mut other_approvers = good.clone();
        other_approvers.spec.approvers = vec!["mallorys-friend".into()];
        assert!(
            verify(&other_approvers, &j, &envs)
                .unwrap_err()
                .contains("approvers")
        );

        let mut no_quorum = good.clone();
        no_quorum.spec.required = 1;
        no_quorum.spec.approvers = vec![];
        assert!(verify(&no_quorum, &j, &envs).is_err());

        let mut decoy = good.clone();
        decoy.spec.job_name = "decoy".into();
        assert!(
            verify(&decoy, &j, &envs)
                .unwrap_err()
                .contains("not issued for job ship")
        );

        let mut no_uid = good.clone();
        no_uid.spec.job_uid = None;
        assert!(verify(&no_uid, &j, &envs).is_err());

        let mut other_pins = good.clone();
        other_pins.spec.pins[0].value = "sha256:else".into();
        assert!(verify(&other_pins, &j, &envs).unwrap_err().contains("name"));
    }

    #[test]
    fn only_listed_deciders_count() {
        let mut a = approval();
        a.spec.required = 1;
        a.spec.decisions.push(Decision {
            user: "eve".into(),
            groups: vec!["devagents:users".into()],
            decision: DecisionKind::Approve,
            comment: None,
            decided_at: None,
        });
        assert_eq!(
            evaluate(&a, None, None, t(1)).phase,
            Some(ApprovalPhase::Pending)
        );
        // A listed user counts without groups; a group member counts through the group.
        a.spec.decisions[0].groups = vec!["leads".into()];
        assert_eq!(
            evaluate(&a, None, None, t(1)).phase,
            Some(ApprovalPhase::Approved)
        );
    }
}
