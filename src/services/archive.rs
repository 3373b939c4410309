//! The job archive in PostgreSQL, the way Argo Workflows archives finished workflows: one row
//! per finished AgentJob (by UID, so writing it again changes nothing), kept for a retention
//! period after the object itself is gone. The schema is created and upgraded here from the
//! versioned migrations of `migrations/archive/` (under an advisory lock, so two replicas do
//! not race). The operator writes; `kubectl agent history` and `report` read (a read-only
//! database user is enough for them).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::api::AgentJob;
use crate::services::redact::redact;

/// The migrations, in order: (version, SQL).
pub const MIGRATIONS: &[(i32, &str)] =
    &[(1, include_str!("../../migrations/archive/0001_jobs.sql"))];

/// The advisory lock the migrations run under.
const MIGRATION_LOCK: i64 = 0x6465_7661_6765_6e74;

/// At most this many rows a history query returns.
pub const MAX_ROWS: i64 = 10_000;

/// A `summary` or any text field is cut at this size; `data` over [`MAX_DATA_BYTES`] is
/// replaced by a note (the result itself says where its artifacts are).
pub const MAX_TEXT: usize = 4096;
pub const MAX_DATA_BYTES: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive database: {0}")]
    Db(String),
}

impl From<tokio_postgres::Error> for ArchiveError {
    fn from(e: tokio_postgres::Error) -> Self {
        // The URL (with its password) is never part of the message.
        ArchiveError::Db(redact(&e.to_string()).into_owned())
    }
}

/// A period: `30d`, `12h`, `90m`, `45s`.
pub fn parse_period(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?}: a number and d, h, m or s"))?;
    let secs = match unit {
        "d" => 86_400,
        "h" => 3600,
        "m" => 60,
        "s" | "" => 1,
        _ => return Err(format!("{s:?}: the unit is d, h, m or s")),
    };
    n.checked_mul(secs)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is too long"))
}

/// One archived job.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobRow {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub agent: String,
    pub requester: Option<String>,
    pub priority: i32,
    pub phase: String,
    pub reason: Option<String>,
    pub attempts: i32,
    /// Unix seconds.
    pub created_at: f64,
    pub started_at: Option<f64>,
    pub completed_at: f64,
    pub duration_seconds: Option<f64>,
    pub llm_requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: f64,
    pub summary: Option<String>,
    pub data: Option<Value>,
    pub actions: Value,
    /// Pull requests, reviews, deploys the job made: `pullRequestUrl`, `reviewUrl`, `environment`,
    /// `version` … as its result names them.
    pub refs: Value,
}

fn cut(s: &str) -> String {
    let r = redact(s);
    r.chars().take(MAX_TEXT).collect()
}

/// Redact every string of a JSON value.
fn redact_value(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(redact(s).into_owned()),
        Value::Array(a) => Value::Array(a.iter().map(redact_value).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), redact_value(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The references of a result worth keeping beside the row (what a report counts).
fn refs_of(data: Option<&Value>) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(Value::Object(d)) = data {
        for k in [
            "pullRequest",
            "pullRequestUrl",
            "reviewUrl",
            "reviewId",
            "environment",
            "version",
            "rolledBack",
            "notionPage",
            "branch",
            "commit",
        ] {
            if let Some(v) = d.get(k).filter(|v| !v.is_null()) {
                out.insert(k.to_string(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// The row of a job (None: it has not finished, or lacks what a row needs).
pub fn row_of(job: &AgentJob) -> Option<JobRow> {
    let st = job.status.as_ref()?;
    let phase = st.phase?;
    let secs = |t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time| {
        t.0.as_millisecond() as f64 / 1000.0
    };
    let completed = st.completed_at.as_ref().map(secs)?;
    let created = job
        .metadata
        .creation_timestamp
        .as_ref()
        .map(secs)
        .unwrap_or(completed);
    let started = st.started_at.as_ref().map(secs);
    let data = st.result.as_ref().and_then(|r| r.data.as_ref()).map(|d| {
        let d = redact_value(d);
        if serde_json::to_vec(&d).map_or(0, |b| b.len()) > MAX_DATA_BYTES {
            serde_json::json!({ "note": format!("result data over {MAX_DATA_BYTES} bytes, not archived") })
        } else {
            d
        }
    });
    let llm = st.llm.as_deref();
    Some(JobRow {
        uid: job.metadata.uid.clone()?,
        namespace: job.metadata.namespace.clone()?,
        name: job.metadata.name.clone()?,
        agent: job.spec.agent.to_string(),
        requester: job.spec.requested_by.as_ref().map(|r| cut(&r.username)),
        priority: job.spec.priority,
        phase: format!("{phase:?}"),
        reason: st.reason.as_deref().map(cut),
        attempts: st.attempts.len() as i32,
        created_at: created,
        started_at: started,
        completed_at: completed,
        duration_seconds: started.map(|s| (completed - s).max(0.0)),
        llm_requests: llm.map_or(0, |l| l.requests),
        input_tokens: llm.map_or(0, |l| l.input_tokens),
        output_tokens: llm.map_or(0, |l| l.output_tokens),
        cost_usd: llm.map_or(0.0, |l| l.cost_usd),
        summary: st.result.as_ref().map(|r| cut(&r.summary)),
        refs: refs_of(data.as_ref()),
        data,
        actions: redact_value(&serde_json::to_value(&st.actions).unwrap_or(Value::Null)),
    })
}

/// What `history` selects.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub agent: Option<String>,
    pub namespace: Option<String>,
    pub phase: Option<String>,
    /// Unix seconds: jobs completed since.
    pub since: Option<f64>,
}

/// A connection to the archive, made again after the database went away.
pub struct Archive {
    // (Debug shows no URL: it holds the password.)
    url: String,
    client: Mutex<Option<tokio_postgres::Client>>,
}

const COLUMNS: &str = "uid, namespace, name, agent, requester, priority, phase, reason, attempts, extract(epoch from created_at)::float8, extract(epoch from started_at)::float8, extract(epoch from completed_at)::float8, duration_seconds, llm_requests, input_tokens, output_tokens, cost_usd, summary, data::text, actions::text, refs::text";

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Archive")
    }
}

impl Archive {
    /// An archive at `url` (`postgres://user:password@host:port/db`); nothing is connected
    /// until it is used.
    pub fn new(url: &str) -> Archive {
        Archive {
            url: url.trim().to_string(),
            client: Mutex::new(None),
        }
    }

    /// The connection, made (and the schema migrated) if there is none or it closed.
    async fn client(
        &self,
    ) -> Result<tokio::sync::MutexGuard<'_, Option<tokio_postgres::Client>>, ArchiveError> {
        let mut guard = self.client.lock().await;
        if guard.as_ref().is_none_or(|c| c.is_closed()) {
            let (client, conn) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls).await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            migrate(&client).await?;
            *guard = Some(client);
        }
        Ok(guard)
    }

    /// Run `f` on the connection; a failed connection is dropped (made again next time).
    async fn with<T>(
        &self,
        f: impl AsyncFnOnce(&tokio_postgres::Client) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, ArchiveError> {
        let mut guard = self.client().await?;
        let Some(c) = guard.as_ref() else {
            return Err(ArchiveError::Db("not connected".into()));
        };
        match f(c).await {
            Ok(v) => Ok(v),
            Err(e) => {
                if c.is_closed() {
                    *guard = None;
                }
                Err(e.into())
            }
        }
    }

    /// Write the row of a finished job; `true` when it was new (a job already archived is
    /// left as it is).
    pub async fn insert(&self, r: &JobRow) -> Result<bool, ArchiveError> {
        let data = r.data.as_ref().map(|d| d.to_string());
        let (actions, refs) = (r.actions.to_string(), r.refs.to_string());
        self.with(async |c| {
            c.execute(
                "INSERT INTO devagents_jobs (uid, namespace, name, agent, requester, priority, phase, reason, attempts, created_at, started_at, completed_at, duration_seconds, llm_requests, input_tokens, output_tokens, cost_usd, summary, data, actions, refs)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, to_timestamp($10), to_timestamp($11), to_timestamp($12), $13, $14, $15, $16, $17, $18, $19::text::jsonb, $20::text::jsonb, $21::text::jsonb)
                 ON CONFLICT (uid) DO NOTHING",
                &[
                    &r.uid, &r.namespace, &r.name, &r.agent, &r.requester, &r.priority, &r.phase,
                    &r.reason, &r.attempts, &r.created_at, &r.started_at, &r.completed_at,
                    &r.duration_seconds, &r.llm_requests, &r.input_tokens, &r.output_tokens,
                    &r.cost_usd, &r.summary, &data, &actions, &refs,
                ],
            )
            .await
            .map(|n| n == 1)
        })
        .await
    }

    /// Remove the rows of jobs completed more than `retention` ago; how many.
    pub async fn prune(&self, retention: std::time::Duration) -> Result<u64, ArchiveError> {
        let secs = retention.as_secs_f64();
        self.with(async |c| {
            c.execute(
                "DELETE FROM devagents_jobs WHERE completed_at < now() - make_interval(secs => $1)",
                &[&secs],
            )
            .await
        })
        .await
    }

    /// The archived jobs matching `f`, newest first (at most [`MAX_ROWS`]).
    pub async fn history(&self, f: &Filter) -> Result<Vec<JobRow>, ArchiveError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM devagents_jobs
             WHERE ($1::text IS NULL OR agent = $1) AND ($2::text IS NULL OR namespace = $2)
               AND ($3::text IS NULL OR phase = $3) AND ($4::float8 IS NULL OR completed_at >= to_timestamp($4))
             ORDER BY completed_at DESC, uid LIMIT {MAX_ROWS}"
        );
        let rows = self
            .with(async |c| {
                c.query(&sql, &[&f.agent, &f.namespace, &f.phase, &f.since])
                    .await
            })
            .await?;
        rows.iter().map(row_from).collect()
    }

    /// How many rows there are.
    pub async fn count(&self) -> Result<i64, ArchiveError> {
        self.with(async |c| {
            c.query_one("SELECT count(*) FROM devagents_jobs", &[])
                .await
                .map(|r| r.get::<_, i64>(0))
        })
        .await
    }
}

fn row_from(r: &tokio_postgres::Row) -> Result<JobRow, ArchiveError> {
    let json = |i: usize| -> Result<Option<Value>, ArchiveError> {
        r.try_get::<_, Option<String>>(i)?
            .map(|t| serde_json::from_str(&t).map_err(|e| ArchiveError::Db(e.to_string())))
            .transpose()
    };
    Ok(JobRow {
        uid: r.try_get(0)?,
        namespace: r.try_get(1)?,
        name: r.try_get(2)?,
        agent: r.try_get(3)?,
        requester: r.try_get(4)?,
        priority: r.try_get(5)?,
        phase: r.try_get(6)?,
        reason: r.try_get(7)?,
        attempts: r.try_get(8)?,
        created_at: r.try_get(9)?,
        started_at: r.try_get(10)?,
        completed_at: r.try_get(11)?,
        duration_seconds: r.try_get(12)?,
        llm_requests: r.try_get(13)?,
        input_tokens: r.try_get(14)?,
        output_tokens: r.try_get(15)?,
        cost_usd: r.try_get(16)?,
        summary: r.try_get(17)?,
        data: json(18)?,
        actions: json(19)?.unwrap_or(Value::Null),
        refs: json(20)?.unwrap_or(Value::Null),
    })
}

/// Apply the migrations not applied yet, in order, each in a transaction, under an advisory
/// lock.
async fn migrate(c: &tokio_postgres::Client) -> Result<(), tokio_postgres::Error> {
    c.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let r = async {
        c.batch_execute(
            "CREATE TABLE IF NOT EXISTS devagents_schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await?;
        let done: Vec<i32> = c
            .query("SELECT version FROM devagents_schema_migrations", &[])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for (v, sql) in MIGRATIONS {
            if done.contains(v) {
                continue;
            }
            c.batch_execute(&format!(
                "BEGIN;\n{sql}\nINSERT INTO devagents_schema_migrations (version) VALUES ({v});\nCOMMIT;"
            ))
            .await?;
        }
        Ok(())
    }
    .await;
    let _ = c
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    r
}

/// One line of `kubectl agent report`: an agent in a namespace over the period.
#[derive(Clone, Debug, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ReportLine {
    pub agent: String,
    pub namespace: String,
    pub jobs: usize,
    pub succeeded: usize,
    pub success_rate: f64,
    pub median_seconds: Option<f64>,
    pub p95_seconds: Option<f64>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: f64,
    /// The deployer: rollouts that succeeded per day of the period.
    pub deploys_per_day: Option<f64>,
    /// The deployer: jobs that ended rolled back, of all its jobs.
    pub rollback_rate: Option<f64>,
    /// The reviewer: reviews posted.
    pub reviews_posted: Option<usize>,
}

/// The `q` quantile (nearest rank) of sorted values.
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// The report of `rows` over a period of `days`: per agent and namespace.
pub fn report(rows: &[JobRow], days: f64) -> Vec<ReportLine> {
    let mut groups: std::collections::BTreeMap<(String, String), Vec<&JobRow>> =
        std::collections::BTreeMap::new();
    for r in rows {
        groups
            .entry((r.agent.clone(), r.namespace.clone()))
            .or_default()
            .push(r);
    }
    groups
        .into_iter()
        .map(|((agent, namespace), rs)| {
            let succeeded = rs.iter().filter(|r| r.phase == "Succeeded").count();
            let mut d: Vec<f64> = rs.iter().filter_map(|r| r.duration_seconds).collect();
            d.sort_by(f64::total_cmp);
            let deployer = agent == "deployer";
            let reviewer = agent == "reviewer";
            ReportLine {
                jobs: rs.len(),
                succeeded,
                success_rate: succeeded as f64 / rs.len().max(1) as f64,
                median_seconds: quantile(&d, 0.5),
                p95_seconds: quantile(&d, 0.95),
                input_tokens: rs.iter().map(|r| r.input_tokens).sum(),
                output_tokens: rs.iter().map(|r| r.output_tokens).sum(),
                cost_usd: rs.iter().map(|r| r.cost_usd).sum(),
                deploys_per_day: deployer.then(|| succeeded as f64 / days.max(1.0 / 24.0)),
                rollback_rate: deployer.then(|| {
                    rs.iter().filter(|r| r.phase == "RolledBack").count() as f64
                        / rs.len().max(1) as f64
                }),
                reviews_posted: reviewer.then(|| {
                    rs.iter()
                        .filter(|r| {
                            r.phase == "Succeeded"
                                && r.actions
                                    .as_array()
                                    .is_some_and(|a| a.iter().any(|x| x["type"] == "pr_review"))
                        })
                        .count()
                }),
                agent,
                namespace,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(agent: &str, ns: &str, phase: &str, secs: f64) -> JobRow {
        JobRow {
            uid: format!("{agent}-{ns}-{secs}"),
            namespace: ns.into(),
            name: "j".into(),
            agent: agent.into(),
            requester: None,
            priority: 50,
            phase: phase.into(),
            reason: None,
            attempts: 1,
            created_at: 0.0,
            started_at: Some(0.0),
            completed_at: secs,
            duration_seconds: Some(secs),
            llm_requests: 1,
            input_tokens: 10,
            output_tokens: 5,
            cost_usd: 0.5,
            summary: None,
            data: None,
            actions: serde_json::json!([{"type": "pr_review"}]),
            refs: serde_json::json!({}),
        }
    }

    #[test]
    fn the_report_counts_rates_and_quantiles_per_agent_and_namespace() {
        let mut rows: Vec<JobRow> = (1..=20)
            .map(|i| {
                row(
                    "probe",
                    "a",
                    if i % 4 == 0 { "Failed" } else { "Succeeded" },
                    i as f64,
                )
            })
            .collect();
        rows.push(row("deployer", "a", "Succeeded", 1.0));
        rows.push(row("deployer", "a", "RolledBack", 2.0));
        rows.push(row("reviewer", "b", "Succeeded", 3.0));
        let r = report(&rows, 2.0);
        assert_eq!(r.len(), 3);
        let d = &r[0];
        assert_eq!((d.agent.as_str(), d.jobs, d.succeeded), ("deployer", 2, 1));
        assert_eq!((d.deploys_per_day, d.rollback_rate), (Some(0.5), Some(0.5)));
        let p = &r[1];
        assert_eq!((p.jobs, p.succeeded, p.success_rate), (20, 15, 0.75));
        assert_eq!((p.median_seconds, p.p95_seconds), (Some(10.0), Some(19.0)));
        assert_eq!(
            (p.input_tokens, p.output_tokens, p.cost_usd),
            (200, 100, 10.0)
        );
        assert_eq!(p.deploys_per_day, None);
        assert_eq!(r[2].reviews_posted, Some(1));
    }
}
