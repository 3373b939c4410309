//! The Notion API (version 2022-06-28): pages under a page, rows in a database, blocks
//! appended to a page, row updates and database queries. The base URL is configurable for
//! tests. Notion's limits are kept here: at most 2,000 characters per rich-text object and
//! 100 blocks per request.

use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{HttpError, client, send};
use crate::llm::retry::RetryPolicy;

pub const DEFAULT_API_URL: &str = "https://api.notion.com";
pub const NOTION_VERSION: &str = "2022-06-28";
pub const RICH_TEXT_MAX: usize = 2000;
pub const BLOCKS_PER_REQUEST: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum NotionError {
    #[error("Notion: {0}")]
    Http(#[from] HttpError),
    #[error("Notion answered something unexpected: {0}")]
    Decode(String),
}

/// A created or found page: its id and URL.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Page {
    pub id: String,
    #[serde(default)]
    pub url: String,
}

pub struct Notion {
    http: reqwest::Client,
    base: String,
    token: String,
    pub retry: RetryPolicy,
}

/// Rich text, split into objects of at most [`RICH_TEXT_MAX`] characters.
pub fn rich_text(text: &str) -> Value {
    let text = crate::services::redact::redact(text);
    let chars: Vec<char> = text.chars().collect();
    let parts: Vec<Value> = chars
        .chunks(RICH_TEXT_MAX)
        .map(|c| json!({ "type": "text", "text": { "content": c.iter().collect::<String>() } }))
        .collect();
    Value::Array(parts)
}

pub fn heading(level: u8, text: &str) -> Value {
    let kind = format!("heading_{}", level.clamp(1, 3));
    json!({ "object": "block", "type": kind, kind.clone(): { "rich_text": rich_text(text) } })
}

pub fn paragraph(text: &str) -> Value {
    json!({ "object": "block", "type": "paragraph", "paragraph": { "rich_text": rich_text(text) } })
}

pub fn bullet(text: &str) -> Value {
    json!({ "object": "block", "type": "bulleted_list_item", "bulleted_list_item": { "rich_text": rich_text(text) } })
}

pub fn to_do(text: &str, checked: bool) -> Value {
    json!({ "object": "block", "type": "to_do", "to_do": { "rich_text": rich_text(text), "checked": checked } })
}

pub fn code(text: &str, language: &str) -> Value {
    json!({ "object": "block", "type": "code", "code": { "rich_text": rich_text(text), "language": language } })
}

/// A database title property value.
pub fn title_property(text: &str) -> Value {
    json!({ "title": rich_text(text) })
}

impl Notion {
    pub fn new(base_url: &str, token: &str) -> Notion {
        Notion {
            http: client(),
            base: base_url.trim_end_matches('/').to_string(),
            token: token.trim().to_string(),
            retry: RetryPolicy::default(),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> Result<Value, NotionError> {
        let url = format!("{}{path}", self.base);
        let text = send("Notion", &self.retry, || {
            self.http
                .request(method.clone(), &url)
                .bearer_auth(&self.token)
                .header("Notion-Version", NOTION_VERSION)
                .json(body)
        })
        .await?;
        serde_json::from_str(&text).map_err(|e| NotionError::Decode(e.to_string()))
    }

    fn page_of(v: Value) -> Result<Page, NotionError> {
        serde_json::from_value(v).map_err(|e| NotionError::Decode(e.to_string()))
    }

    /// A page under `parent` with `properties` and `blocks` (more than 100 are appended in
    /// further requests).
    async fn create(
        &self,
        parent: Value,
        properties: Value,
        blocks: &[Value],
    ) -> Result<Page, NotionError> {
        let first = &blocks[..blocks.len().min(BLOCKS_PER_REQUEST)];
        let v = self
            .call(
                reqwest::Method::POST,
                "/v1/pages",
                &json!({ "parent": parent, "properties": properties, "children": first }),
            )
            .await?;
        let page = Self::page_of(v)?;
        if blocks.len() > first.len() {
            self.append_blocks(&page.id, &blocks[first.len()..]).await?;
        }
        Ok(page)
    }

    /// A page under `parent_page_id` with `title` and `blocks`.
    pub async fn create_page(
        &self,
        parent_page_id: &str,
        title: &str,
        blocks: &[Value],
    ) -> Result<Page, NotionError> {
        self.create(
            json!({ "page_id": parent_page_id }),
            json!({ "title": title_property(title) }),
            blocks,
        )
        .await
    }

    /// A row in `database_id`; `properties` in Notion's property-value shape.
    pub async fn create_row(
        &self,
        database_id: &str,
        properties: Value,
        blocks: &[Value],
    ) -> Result<Page, NotionError> {
        self.create(json!({ "database_id": database_id }), properties, blocks)
            .await
    }

    /// Change a page's (or row's) properties.
    pub async fn update_page(&self, page_id: &str, properties: Value) -> Result<Page, NotionError> {
        let v = self
            .call(
                reqwest::Method::PATCH,
                &format!("/v1/pages/{page_id}"),
                &json!({ "properties": properties }),
            )
            .await?;
        Self::page_of(v)
    }

    /// Append blocks to a page, 100 per request.
    pub async fn append_blocks(&self, block_id: &str, blocks: &[Value]) -> Result<(), NotionError> {
        for chunk in blocks.chunks(BLOCKS_PER_REQUEST) {
            self.call(
                reqwest::Method::PATCH,
                &format!("/v1/blocks/{block_id}/children"),
                &json!({ "children": chunk }),
            )
            .await?;
        }
        Ok(())
    }

    /// The rows of `database_id` matching `filter` (all pages of the answer).
    pub async fn query_database(
        &self,
        database_id: &str,
        filter: Option<Value>,
    ) -> Result<Vec<Page>, NotionError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut body = json!({ "page_size": 100 });
            if let Some(f) = &filter {
                body["filter"] = f.clone();
            }
            if let Some(c) = &cursor {
                body["start_cursor"] = json!(c);
            }
            let v = self
                .call(
                    reqwest::Method::POST,
                    &format!("/v1/databases/{database_id}/query"),
                    &body,
                )
                .await?;
            for r in v["results"].as_array().into_iter().flatten() {
                out.push(Self::page_of(r.clone())?);
            }
            match (v["has_more"].as_bool(), v["next_cursor"].as_str()) {
                (Some(true), Some(c)) => cursor = Some(c.to_string()),
                _ => return Ok(out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rich_text_is_split_at_notions_limit() {
        let t = rich_text(&"x".repeat(4500));
        let parts = t.as_array().unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0]["text"]["content"].as_str().unwrap().len(), 2000);
        assert_eq!(parts[2]["text"]["content"].as_str().unwrap().len(), 500);
        assert_eq!(
            heading(2, "Plan")["heading_2"]["rich_text"][0]["text"]["content"],
            "Plan"
        );
    }
}
