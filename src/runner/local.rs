//! `agent-runner local`: any agent, in-process, without a cluster — on a job manifest and
//! the repository it names (a local path or URL works as well as a remote one). Progress goes
//! to stderr, the result as JSON to stdout, artifacts into a directory; LLM calls go through
//! the same gateway code the operator runs, configured by flags or the environment.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{EXIT_AGENT_FAILURE, EXIT_SUCCESS, EXIT_USAGE};
use crate::agents::{Host, HostError, LlmText, RunJob};
use crate::api::{AgentJob, ArtifactRef};
use crate::llm::gateway::{CompletionRequest, Gateway, Provider, ProviderKind};
use crate::services::redact::redact;

/// A job manifest is small; anything bigger is not one.
const JOB_FILE_MAX: u64 = 1024 * 1024;

/// What `agent-runner local` was asked to do.
#[derive(clap::Args, Clone, Debug)]
pub struct LocalArgs {
    /// The AgentJob manifest (YAML or JSON), e.g. one of examples/agentjobs/.
    #[arg(long)]
    pub job: PathBuf,
    /// Where the agent works (default: a new temporary directory, removed afterwards).
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Where artifacts are written (default: `<workdir>/artifacts`).
    #[arg(long)]
    pub artifacts: Option<PathBuf>,
    /// Keep branches local, open no pull request, post no review (print it instead).
    #[arg(long)]
    pub no_push: bool,
    /// The reviewer: review this ref of the repository (with --base) instead of a pull request.
    #[arg(long, requires = "base")]
    pub head: Option<String>,
    /// The reviewer: the ref the head is compared with.
    #[arg(long, requires = "head")]
    pub base: Option<String>,
    /// A file holding the repository token (else $GITHUB_TOKEN, else none).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    #[arg(long, env = "DEVAGENTS_GITHUB_API_URL", default_value = crate::services::github::DEFAULT_API_URL)]
    pub github_api_url: String,
    /// `anthropic` or `openai` (any OpenAI-compatible endpoint); none: LLM steps are skipped.
    #[arg(long, env = "DEVAGENTS_LLM_PROVIDER")]
    pub llm_provider: Option<String>,
    #[arg(long, env = "DEVAGENTS_LLM_BASE_URL")]
    pub llm_base_url: Option<String>,
    #[arg(long, env = "DEVAGENTS_LLM_MODEL", default_value = "claude-sonnet-4-5")]
    pub llm_model: String,
    /// OpenAI-compatible providers: the field of the output limit (`max_completion_tokens`,
    /// OpenAI's; `max_tokens` for servers that know only the old one).
    #[arg(
        long,
        env = "DEVAGENTS_LLM_MAX_TOKENS_FIELD",
        default_value = "max_completion_tokens"
    )]
    pub llm_max_tokens_field: crate::llm::gateway::MaxTokensField,
    /// A file holding the provider's key (else $ANTHROPIC_API_KEY or $OPENAI_API_KEY).
    #[arg(long)]
    pub llm_api_key_file: Option<PathBuf>,
}

/// The host of a local run.
pub struct LocalHost {
    pub artifacts: PathBuf,
    pub gateway: Option<Gateway>,
    /// `namespace/name` of the job, for the gateway's accounting.
    pub job: String,
    pub agent: String,
}

impl Host for LocalHost {
    async fn progress(&self, line: &str) -> Result<(), String> {
        eprintln!("{}", redact(line));
        Ok(())
    }
    async fn action(&self, kind: &str, target: &str, digest: Option<&str>) -> Result<(), String> {
        eprintln!(
            "action: {kind} {}{}",
            redact(target),
            digest.map(|d| format!(" ({d})")).unwrap_or_default()
        );
        Ok(())
    }
    async fn llm(&self, req: &CompletionRequest) -> Result<LlmText, HostError> {
        match &self.gateway {
            None => Ok(Err("no LLM provider is configured (--llm-provider)".into())),
            Some(g) => g
                .complete(&self.job, &self.agent, req)
                .await
                .map(|c| Ok(c.text))
                .map_err(|e| HostError::refused(e.to_string())),
        }
    }
    async fn artifact(&self, name: &str, bytes: &[u8]) -> Result<ArtifactRef, HostError> {
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(HostError::refused(format!(
                "{name:?} is not an artifact name"
            )));
        }
        let path = self.artifacts.join(name);
        std::fs::create_dir_all(&self.artifacts)
            .and_then(|_| std::fs::write(&path, bytes))
            .map_err(|e| HostError::refused(format!("{}: {e}", path.display())))?;
        eprintln!("artifact: {} ({} bytes)", path.display(), bytes.len());
        Ok(ArtifactRef {
            name: name.into(),
            size: bytes.len() as i64,
            digest: format!("sha256:{}", crate::contract::hex(&Sha256::digest(bytes))),
            ..ArtifactRef::default()
        })
    }
    async fn result(
        &self,
        summary: &str,
        data: Option<serde_json::Value>,
        artifacts: &[ArtifactRef],
    ) -> Result<(), HostError> {
        let doc = serde_json::json!({ "summary": summary, "data": data, "artifacts": artifacts });
        println!(
            "{}",
            redact(&serde_json::to_string_pretty(&doc).unwrap_or_default())
        );
        Ok(())
    }
}

fn gateway(a: &LocalArgs) -> Result<Option<Gateway>, String> {
    let Some(kind) = a.llm_provider.as_deref() else {
        return Ok(None);
    };
    let kind = match kind {
        "anthropic" => ProviderKind::Anthropic,
        "openai" => ProviderKind::OpenAi,
        other => return Err(format!("--llm-provider {other:?}: anthropic or openai")),
    };
    let base_url = match (&a.llm_base_url, kind) {
        (Some(u), _) => u.clone(),
        (None, ProviderKind::Anthropic) => "https://api.anthropic.com".into(),
        (None, ProviderKind::OpenAi) => {
            return Err("--llm-base-url is required for an OpenAI-compatible provider".into());
        }
    };
    let api_key = match &a.llm_api_key_file {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| format!("{}: {e}", p.display()))?
            .trim()
            .to_string(),
        None => std::env::var("ANTHROPIC_API_KEY")
            .or_else(|_| std::env::var("OPENAI_API_KEY"))
            .unwrap_or_default(),
    };
    Ok(Some(Gateway::new(
        Provider {
            kind,
            base_url,
            api_key,
            model: a.llm_model.clone(),
            max_tokens_field: a.llm_max_tokens_field,
        },
        crate::llm::limiter::Limiter::new(
            Duration::from_secs(60),
            50,
            400_000,
            Duration::from_secs(300),
        ),
        crate::llm::cache::ResponseCache::new(Duration::from_secs(3600), 1000),
        crate::llm::retry::RetryPolicy::default(),
        Default::default(),
    )))
}

fn read_job(path: &Path) -> Result<AgentJob, String> {
    let size = std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    if size > JOB_FILE_MAX {
        return Err(format!(
            "{}: {size} bytes is too big for a job manifest (at most {JOB_FILE_MAX})",
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_yaml::from_str(&text).map_err(|e| format!("{}: not an AgentJob: {e}", path.display()))
}

/// Run the job of `a` here; the runner's exit-code contract.
pub async fn run(a: LocalArgs) -> i32 {
    let fail = |code: i32, msg: String| {
        eprintln!("agent-runner: {}", redact(&msg));
        code
    };
    let job = match read_job(&a.job) {
        Ok(j) => j,
        Err(e) => return fail(EXIT_USAGE, e),
    };
    // The webhook's rules: the agent's block, its repository, its approval quorum.
    let hooks = crate::agents::operator_side(Default::default());
    if let Err(e) = crate::agentapi::webhook::check_job_spec(&job.spec, &hooks) {
        return fail(EXIT_USAGE, e);
    }
    let Some(agent) = crate::agents::agent(job.spec.agent) else {
        return fail(
            EXIT_AGENT_FAILURE,
            format!("the {} agent is not in this build", job.spec.agent),
        );
    };
    let gateway = match gateway(&a) {
        Ok(g) => g,
        Err(e) => return fail(EXIT_USAGE, e),
    };
    let token = match &a.token_file {
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => Some(t.trim().to_string()),
            Err(e) => return fail(EXIT_USAGE, format!("{}: {e}", p.display())),
        },
        None => std::env::var("GITHUB_TOKEN").ok().filter(|t| !t.is_empty()),
    };
    let temp = match &a.workdir {
        Some(_) => None,
        None => match tempdir() {
            Ok(t) => Some(t),
            Err(e) => return fail(EXIT_USAGE, e),
        },
    };
    let workdir = a
        .workdir
        .clone()
        .or_else(|| temp.as_ref().map(|t| t.0.clone()))
        .unwrap_or_default();
    let name = job.metadata.name.clone().unwrap_or_else(|| "local".into());
    let ns = job
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "local".into());
    let host = LocalHost {
        artifacts: a
            .artifacts
            .clone()
            .unwrap_or_else(|| workdir.join("artifacts")),
        gateway,
        job: format!("{ns}/{name}"),
        agent: job.spec.agent.to_string(),
    };
    let uid = job.metadata.uid.clone().unwrap_or_else(|| {
        crate::contract::hex(&Sha256::digest(format!(
            "{ns}/{name}/{:?}",
            std::time::SystemTime::now()
        )))[..32]
            .to_string()
    });
    let run = RunJob {
        spec: job.spec,
        name,
        uid,
        attempt: 1,
        workdir,
        credentials: token.map(|token| crate::services::git::Credentials {
            username: "x-access-token".into(),
            token,
        }),
        github_api: a.github_api_url.clone(),
        publish: !a.no_push,
        refs: a
            .head
            .clone()
            .zip(a.base.clone())
            .map(|(head, base)| crate::agents::Refs { base, head }),
    };
    let outcome = agent.run(&host, &run).await;
    drop(temp);
    match outcome {
        Ok(summary) => {
            eprintln!("{}", redact(&summary));
            EXIT_SUCCESS
        }
        Err(f) => fail(f.exit_code, f.message),
    }
}

/// A temporary directory removed when dropped.
struct TempDir(PathBuf);

fn tempdir() -> Result<TempDir, String> {
    let base = std::env::temp_dir().join(format!(
        "devagents-local-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    ));
    std::fs::create_dir_all(&base).map_err(|e| format!("{}: {e}", base.display()))?;
    Ok(TempDir(base))
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn artifacts_stay_in_their_directory() {
        let d = tempfile::tempdir().unwrap();
        let host = LocalHost {
            artifacts: d.path().join("arts"),
            gateway: None,
            job: "local/x".into(),
            agent: "probe".into(),
        };
        for bad in ["../escape", "a/b", "", ".hidden", "..\\x"] {
            assert!(host.artifact(bad, b"x").await.is_err(), "{bad:?}");
        }
        assert!(!d.path().join("escape").exists());
        let r = host.artifact("findings", b"abc").await.unwrap();
        assert_eq!(r.size, 3);
        assert_eq!(
            r.digest,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            std::fs::read(d.path().join("arts/findings")).unwrap(),
            b"abc"
        );
    }
}
