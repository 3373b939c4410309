//! Following a job: its progress log (the `<job>-progress` ConfigMap the agent API writes)
//! and its phase, live — a spinner on a terminal, plain lines otherwise.

use std::io::IsTerminal;
use std::time::Duration;

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};

use super::{CliError, Cluster, Result};
use crate::api::{AgentJob, Phase};

/// Lines of `now` that were not in `seen` (the log is a tail that may have dropped its start).
pub fn new_lines(seen: &str, now: &str) -> String {
    if let Some(rest) = now.strip_prefix(seen) {
        return rest.to_string();
    }
    // The kept tail moved on: continue after the last line already shown.
    if let Some(last) = seen.lines().last().filter(|l| !l.is_empty())
        && let Some(i) = now.rfind(&format!("{last}\n"))
    {
        return now[i + last.len() + 1..].to_string();
    }
    now.to_string()
}

pub async fn progress_log(c: &Cluster, job: &str) -> Result<String> {
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.namespace);
    match cms.get_opt(&crate::agentapi::progress_configmap(job)).await {
        Ok(cm) => Ok(cm
            .and_then(|cm| cm.data)
            .and_then(|mut d| d.remove("log"))
            .unwrap_or_default()),
        Err(e) => Err(c
            .explain(e, &format!("the progress of agentjob {job:?}"))
            .await),
    }
}

enum Seen {
    Job(Box<AgentJob>),
    Log(String),
}

/// What the job is doing, in a few words.
pub fn state_line(j: &AgentJob) -> String {
    let st = j.status.clone().unwrap_or_default();
    let phase = st.phase.unwrap_or_default();
    match (&phase, &st.waiting_for) {
        (Phase::Running, _) => format!("Running (attempt {})", st.attempts.len().max(1)),
        (_, Some(w)) => format!("{phase:?}, waiting for {w}"),
        _ => format!("{phase:?}"),
    }
}

/// The last line for a finished job, and its exit code.
pub fn final_line(j: &AgentJob) -> (String, i32) {
    let st = j.status.clone().unwrap_or_default();
    let name = kube::ResourceExt::name_any(j);
    let phase = st.phase.unwrap_or_default();
    if phase == Phase::Succeeded {
        let summary = st.result.map(|r| r.summary).unwrap_or_default();
        return (format!("agentjob/{name} Succeeded: {summary}"), 0);
    }
    (
        format!(
            "agentjob/{name} {phase:?} ({}): {}",
            st.reason.unwrap_or_default(),
            st.message.unwrap_or_default()
        ),
        1,
    )
}

/// Follow `job` until it ends; progress lines as they come. Exit code 0 when it succeeded.
pub async fn wait(c: &Cluster, job: &str) -> Result<i32> {
    follow(c, job, true).await
}

/// `logs -f`: the progress log until the job ends.
pub async fn logs_follow(c: &Cluster, job: &str) -> Result<i32> {
    follow(c, job, false).await
}

async fn follow(c: &Cluster, job: &str, show_state: bool) -> Result<i32> {
    let tty = show_state && std::io::stdout().is_terminal();
    let bar = if tty {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        b.enable_steady_tick(Duration::from_millis(120));
        Some(b)
    } else {
        None
    };
    let say = |line: &str| match &bar {
        Some(b) => b.println(line),
        None => println!("{line}"),
    };
    let jobs_cfg = watcher::Config::default().fields(&format!("metadata.name={job}"));
    let cm_name = crate::agentapi::progress_configmap(job);
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.namespace);
    let job_events = watcher(c.jobs(), jobs_cfg)
        .default_backoff()
        .applied_objects()
        .map(|r| r.map(|j| Seen::Job(Box::new(j))));
    let log_events = watcher(
        cms,
        watcher::Config::default().fields(&format!("metadata.name={cm_name}")),
    )
    .default_backoff()
    .applied_objects()
    .map(|r| {
        r.map(|cm| {
            Seen::Log(
                cm.data
                    .and_then(|mut d| d.remove("log"))
                    .unwrap_or_default(),
            )
        })
    });
    let mut events = stream::select(job_events.boxed(), log_events.boxed());
    let mut seen = String::new();
    let mut last_state = String::new();
    while let Some(ev) = events.next().await {
        match ev {
            Ok(Seen::Log(log)) => {
                for line in new_lines(&seen, &log).lines() {
                    say(line);
                }
                seen = log;
            }
            Ok(Seen::Job(j)) => {
                let state = state_line(&j);
                if state != last_state {
                    match &bar {
                        Some(b) => b.set_message(state.clone()),
                        None if show_state => println!("[{state}]"),
                        None => {}
                    }
                    last_state = state;
                }
                if j.status
                    .as_ref()
                    .and_then(|s| s.phase)
                    .is_some_and(|p| p.is_terminal())
                {
                    // The last lines may have been written just before the end.
                    if let Ok(log) = progress_log(c, job).await {
                        for line in new_lines(&seen, &log).lines() {
                            say(line);
                        }
                    }
                    if let Some(b) = &bar {
                        b.finish_and_clear();
                    }
                    let (line, code) = final_line(&j);
                    if show_state {
                        println!("{line}");
                    }
                    return Ok(code);
                }
            }
            Err(e) => {
                if let Some(b) = &bar {
                    b.finish_and_clear();
                }
                return Err(CliError(format!("lost the watch of agentjob {job:?}: {e}")));
            }
        }
    }
    Err(CliError(format!("the watch of agentjob {job:?} ended")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_new_lines_are_printed() {
        assert_eq!(new_lines("", "a\nb\n"), "a\nb\n");
        assert_eq!(new_lines("a\n", "a\nb\n"), "b\n");
        // The tail dropped "a": continue after "b".
        assert_eq!(new_lines("a\nb\n", "b\nc\n"), "c\n");
        assert_eq!(new_lines("x\n", "y\n"), "y\n");
    }
}
