//! The deploy's notifications (Slack, Notion).

use super::*;

impl<H: Host + ?Sized> Deploy<'_, H> {
    pub(super) async fn notify(&mut self) {
        let summary = self.report.summary();
        let details: Vec<String> = self
            .report
            .services
            .iter()
            .map(|s| {
                format!(
                    "{}: {} → {} ({})",
                    s.name, s.from_image, s.to_image, s.state
                )
            })
            .collect();
        if let Some(slack) = &self.setup.slack {
            let msg = crate::services::slack::Message {
                summary: format!(
                    "{} {summary}",
                    match self.report.outcome {
                        Verdict::Succeeded => ":white_check_mark:",
                        Verdict::RolledBack => ":leftwards_arrow_with_hook:",
                        Verdict::Failed => ":x:",
                    }
                ),
                details: details.clone(),
                link: None,
            };
            self.report
                .notifications
                .push(match slack.post(&msg).await {
                    Ok(()) => "slack: sent".into(),
                    Err(e) => format!("slack: {e}"),
                });
        }
        if let Some((notion, db)) = &self.setup.notion {
            use crate::services::notion::{bullet, title_property};
            let blocks: Vec<serde_json::Value> = details.iter().map(|d| bullet(d)).collect();
            let props = serde_json::json!({
                "Name": title_property(&summary),
                "Environment": { "rich_text": crate::services::notion::property_text(&self.report.environment) },
                "Version": { "rich_text": crate::services::notion::property_text(&self.report.version) },
                "Outcome": { "select": { "name": format!("{:?}", self.report.outcome) } },
            });
            self.report
                .notifications
                .push(match notion.create_row(db, props, &blocks).await {
                    Ok(p) => format!("notion: row {}", p.id),
                    Err(e) => format!("notion: {e}"),
                });
        }
    }
}
