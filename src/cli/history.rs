//! `kubectl agent history` and `report`: finished jobs from the job archive, which outlives
//! the AgentJob objects (their TTL deletes them). They read the archive's PostgreSQL directly
//! with a read-only user (`--archive-url`, `$DEVAGENTS_ARCHIVE_URL`, or a file holding it):
//! the archive spans every namespace, and `-n` narrows it.

use std::path::PathBuf;

use clap::Args;

use super::table::{Output, document};
use super::{CliError, Result};
use crate::services::archive::{Archive, Filter, JobRow, parse_period, report};

#[derive(Args, Clone, Debug)]
pub struct ArchiveArgs {
    /// The archive's PostgreSQL URL (a read-only user is enough).
    #[arg(long, env = "DEVAGENTS_ARCHIVE_URL", hide_env_values = true)]
    pub archive_url: Option<String>,
    /// A file holding that URL.
    #[arg(long, conflicts_with = "archive_url")]
    pub archive_url_file: Option<PathBuf>,
}

impl ArchiveArgs {
    fn open(&self) -> Result<Archive> {
        let url = match (&self.archive_url, &self.archive_url_file) {
            (Some(u), _) => u.clone(),
            (None, Some(p)) => {
                std::fs::read_to_string(p).map_err(|e| CliError(format!("{}: {e}", p.display())))?
            }
            (None, None) => {
                return Err(CliError(
                    "no archive: pass --archive-url (or set DEVAGENTS_ARCHIVE_URL) to the job archive's PostgreSQL".into(),
                ));
            }
        };
        Ok(Archive::new(&url))
    }
}

/// Unix seconds `period` ago.
fn since(period: &str) -> Result<f64> {
    let d = parse_period(period).map_err(|e| CliError(format!("--since {e}")))?;
    Ok(k8s_openapi::jiff::Timestamp::now().as_millisecond() as f64 / 1000.0 - d.as_secs_f64())
}

fn ago(t: f64) -> String {
    let now = k8s_openapi::jiff::Timestamp::now().as_millisecond() as f64 / 1000.0;
    let s = (now - t).max(0.0) as u64;
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

fn secs(d: Option<f64>) -> String {
    d.map_or("-".into(), |d| format!("{d:.1}s"))
}

pub async fn history(
    a: &ArchiveArgs,
    namespace: Option<String>,
    agent: Option<String>,
    phase: Option<String>,
    period: Option<String>,
    output: Option<Output>,
) -> Result<i32> {
    let archive = a.open()?;
    let f = Filter {
        agent,
        namespace,
        phase,
        since: period.as_deref().map(since).transpose()?,
    };
    let rows: Vec<JobRow> = archive
        .history(&f)
        .await
        .map_err(|e| CliError(e.to_string()))?;
    if let Some(doc) = document(&rows, output) {
        print!("{}", doc.map_err(CliError)?);
        return Ok(0);
    }
    let mut out = String::from(
        "NAMESPACE\tNAME\tAGENT\tPHASE\tATTEMPTS\tDURATION\tCOST\tFINISHED\tSUMMARY\n",
    );
    for r in &rows {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t${:.4}\t{}\t{}\n",
            r.namespace,
            r.name,
            r.agent,
            r.phase,
            r.attempts,
            secs(r.duration_seconds),
            r.cost_usd,
            ago(r.completed_at),
            r.summary
                .as_deref()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(60)
                .collect::<String>()
        ));
    }
    print!("{}", align(&out));
    Ok(0)
}

pub async fn report_cmd(
    a: &ArchiveArgs,
    namespace: Option<String>,
    period: &str,
    output: Option<Output>,
) -> Result<i32> {
    let archive = a.open()?;
    let days = parse_period(period)
        .map_err(|e| CliError(format!("--since {e}")))?
        .as_secs_f64()
        / 86_400.0;
    let f = Filter {
        namespace,
        since: Some(since(period)?),
        ..Filter::default()
    };
    let rows = archive
        .history(&f)
        .await
        .map_err(|e| CliError(e.to_string()))?;
    let lines = report(&rows, days);
    if let Some(doc) = document(&lines, output) {
        print!("{}", doc.map_err(CliError)?);
        return Ok(0);
    }
    let mut out = String::from(
        "AGENT\tNAMESPACE\tJOBS\tSUCCESS\tP50\tP95\tTOKENS IN/OUT\tCOST\tDEPLOYS/DAY\tROLLBACKS\tREVIEWS\n",
    );
    for l in &lines {
        out.push_str(&format!(
            "{}\t{}\t{}\t{:.0}%\t{}\t{}\t{}/{}\t${:.2}\t{}\t{}\t{}\n",
            l.agent,
            l.namespace,
            l.jobs,
            l.success_rate * 100.0,
            secs(l.median_seconds),
            secs(l.p95_seconds),
            l.input_tokens,
            l.output_tokens,
            l.cost_usd,
            l.deploys_per_day.map_or("-".into(), |d| format!("{d:.2}")),
            l.rollback_rate
                .map_or("-".into(), |r| format!("{:.0}%", r * 100.0)),
            l.reviews_posted.map_or("-".into(), |r| r.to_string()),
        ));
    }
    println!("jobs finished in the last {period}:");
    print!("{}", align(&out));
    Ok(0)
}

/// Tab-separated rows as aligned columns.
fn align(text: &str) -> String {
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<usize> = Vec::new();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            let w = c.chars().count();
            if widths.len() <= i {
                widths.push(w);
            } else {
                widths[i] = widths[i].max(w);
            }
        }
    }
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i + 1 == r.len() {
                    c.to_string()
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    out
}
