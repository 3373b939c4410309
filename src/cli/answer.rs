//! `kubectl agent answer JOB`: answer the clarifying questions a job waits on
//! (`status.questions`, spec-writer's) — one by one on a terminal (an option's number or a
//! free answer), or from `--answers FILE` — written into `spec.specWriter.answers`, which the
//! agent reads through the operator. `kubectl agent run … --interactive` asks them in the same
//! terminal as soon as the job has them.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube::runtime::wait::await_condition;

use super::{CliError, Cluster, Result};
use crate::api::{AgentJob, SpecAnswer, SpecQuestion};

/// At most this much of an answers file is read.
pub const ANSWERS_FILE_MAX: u64 = 64 * 1024;

/// Ask `questions` on `out`, reading the answers from `input`: a number picks an option,
/// anything else is the answer itself; an empty line asks again.
pub fn prompt(
    questions: &[SpecQuestion],
    input: &mut impl BufRead,
    out: &mut impl Write,
) -> std::io::Result<Vec<SpecAnswer>> {
    let mut answers = Vec::new();
    for (i, q) in questions.iter().enumerate() {
        loop {
            writeln!(out, "({}/{}) {}", i + 1, questions.len(), q.question)?;
            for (n, o) in q.options.iter().enumerate() {
                writeln!(out, "  {}) {o}", n + 1)?;
            }
            write!(out, "> ")?;
            out.flush()?;
            let mut line = String::new();
            if input.read_line(&mut line)? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "no more input: questions left unanswered",
                ));
            }
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let answer = line
                .parse::<usize>()
                .ok()
                .and_then(|n| q.options.get(n.wrapping_sub(1)))
                .cloned()
                .unwrap_or_else(|| line.chars().take(10_000).collect());
            answers.push(SpecAnswer {
                question: q.question.clone(),
                answer,
            });
            break;
        }
    }
    Ok(answers)
}

/// An answers file: a list of `{question, answer}`, a map question → answer, or a list of
/// answers in the questions' order.
pub fn parse_file(
    text: &str,
    questions: &[SpecQuestion],
) -> std::result::Result<Vec<SpecAnswer>, String> {
    let v: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    let s = |v: &serde_yaml::Value| match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let out: Vec<SpecAnswer> = match &v {
        serde_yaml::Value::Mapping(m) => m
            .iter()
            .filter_map(|(k, v)| {
                Some(SpecAnswer {
                    question: s(k)?,
                    answer: s(v)?,
                })
            })
            .collect(),
        serde_yaml::Value::Sequence(items) if items.iter().all(|i| i.is_mapping()) => {
            serde_yaml::from_value(v.clone()).map_err(|e| e.to_string())?
        }
        serde_yaml::Value::Sequence(items) => items
            .iter()
            .zip(questions)
            .filter_map(|(a, q)| {
                Some(SpecAnswer {
                    question: q.question.clone(),
                    answer: s(a)?,
                })
            })
            .collect(),
        _ => return Err("a list of {question, answer}, a map, or a list of answers".into()),
    };
    for a in &out {
        if !questions.iter().any(|q| q.question == a.question) {
            return Err(format!(
                "{:?} is not one of the job's questions",
                a.question
            ));
        }
    }
    Ok(out)
}

/// The job's open questions (None: it asks none).
fn open_questions(job: &AgentJob) -> Option<Vec<SpecQuestion>> {
    let qs = job.status.as_ref()?.questions.clone();
    let given = job
        .spec
        .spec_writer
        .as_ref()
        .map(|p| p.answers.clone())
        .unwrap_or_default();
    let open: Vec<SpecQuestion> = qs
        .into_iter()
        .filter(|q| !given.iter().any(|a| a.question == q.question))
        .collect();
    (!open.is_empty()).then_some(open)
}

/// Write `answers` into the job's `spec.specWriter.answers` (an answer to the same question
/// again replaces it).
async fn write(c: &Cluster, job: &AgentJob, answers: Vec<SpecAnswer>) -> Result<()> {
    let mut all = job
        .spec
        .spec_writer
        .as_ref()
        .map(|p| p.answers.clone())
        .unwrap_or_default();
    all.retain(|a| !answers.iter().any(|n| n.question == a.question));
    all.extend(answers);
    let name = kube::ResourceExt::name_any(job);
    let patch = serde_json::json!({ "spec": { "specWriter": { "answers": all } } });
    c.jobs()
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| {
            CliError(format!(
                "agentjob {name:?}: the answers were not written: {e}"
            ))
        })?;
    Ok(())
}

/// `kubectl agent answer JOB [--answers FILE]`.
pub async fn answer(c: &Cluster, name: &str, file: Option<&Path>) -> Result<i32> {
    let job = super::job_or_explain(c, name).await?;
    let Some(questions) = open_questions(&job) else {
        return Err(CliError(format!("agentjob {name:?} waits on no question")));
    };
    let answers = match file {
        Some(p) => {
            let len = std::fs::metadata(p)
                .map_err(|e| CliError(format!("{}: {e}", p.display())))?
                .len();
            if len > ANSWERS_FILE_MAX {
                return Err(CliError(format!(
                    "{}: more than {ANSWERS_FILE_MAX} bytes",
                    p.display()
                )));
            }
            let text = std::fs::read_to_string(p)
                .map_err(|e| CliError(format!("{}: {e}", p.display())))?;
            parse_file(&text, &questions).map_err(|e| CliError(format!("{}: {e}", p.display())))?
        }
        None if std::io::stdin().is_terminal() => prompt(
            &questions,
            &mut std::io::stdin().lock(),
            &mut std::io::stdout(),
        )
        .map_err(|e| CliError(e.to_string()))?,
        None => {
            return Err(CliError(
                "not a terminal: pass the answers with --answers FILE".into(),
            ));
        }
    };
    let n = answers.len();
    write(c, &job, answers).await?;
    println!("agentjob/{name}: {n} answers written");
    Ok(0)
}

/// `run … --interactive`: wait until the job asks (or ends), ask in this terminal, write the
/// answers.
pub async fn interactive(c: &Cluster, name: &str) -> Result<()> {
    let asks = |j: Option<&AgentJob>| {
        j.is_some_and(|j| {
            open_questions(j).is_some()
                || j.status
                    .as_ref()
                    .and_then(|s| s.phase)
                    .is_some_and(|p| p.is_terminal())
        })
    };
    let job = tokio::time::timeout(
        Duration::from_secs(3600),
        await_condition(c.jobs(), name, asks),
    )
    .await
    .map_err(|_| CliError(format!("agentjob {name:?} asked nothing within an hour")))?
    .map_err(|e| CliError(format!("agentjob {name:?}: {e}")))?
    .ok_or_else(|| CliError(format!("agentjob {name:?} was deleted")))?;
    let Some(questions) = open_questions(&job) else {
        return Ok(());
    };
    let answers = prompt(
        &questions,
        &mut std::io::stdin().lock(),
        &mut std::io::stdout(),
    )
    .map_err(|e| CliError(e.to_string()))?;
    write(c, &job, answers).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qs() -> Vec<SpecQuestion> {
        vec![
            SpecQuestion {
                question: "How deep?".into(),
                options: vec!["2 levels".into(), "unlimited".into()],
            },
            SpecQuestion {
                question: "Who may move?".into(),
                options: vec![],
            },
        ]
    }

    #[test]
    fn a_number_picks_an_option_and_text_is_a_free_answer() {
        let mut input = std::io::Cursor::new("\n2\nadmins only\n");
        let mut out = Vec::new();
        let a = prompt(&qs(), &mut input, &mut out).unwrap();
        assert_eq!(a[0].answer, "unlimited");
        assert_eq!(a[1].answer, "admins only");
        let shown = String::from_utf8(out).unwrap();
        assert!(
            shown.contains("(1/2) How deep?\n  1) 2 levels\n  2) unlimited\n> "),
            "{shown}"
        );
        assert!(prompt(&qs(), &mut std::io::Cursor::new("1\n"), &mut Vec::new()).is_err());
    }

    #[test]
    fn answers_files_in_three_shapes() {
        let by_list = parse_file("- {question: How deep?, answer: unlimited}\n", &qs()).unwrap();
        let by_map = parse_file("How deep?: unlimited\nWho may move?: admins\n", &qs()).unwrap();
        let in_order = parse_file("- unlimited\n- admins\n", &qs()).unwrap();
        assert_eq!(by_list[0].answer, "unlimited");
        assert_eq!(
            (by_map.len(), in_order[1].question.as_str()),
            (2, "Who may move?")
        );
        assert!(
            parse_file("Other?: x\n", &qs())
                .unwrap_err()
                .contains("not one of")
        );
    }
}
