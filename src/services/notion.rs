//! The Notion API (version 2025-09-03): pages under a page, rows in a database's data source,
//! blocks appended to a page, row updates and data-source queries. The base URL is
//! configurable for tests. Notion's limits are kept here: at most 2,000 characters per
//! rich-text object, 100 rich-text objects per array (a longer text becomes several blocks),
//! 100 blocks per request.
//!
//! Since 2025-09-03 a database holds one or more data sources; rows belong to a data source
//! and are queried through it. A configured id may name a database (its only data source is
//! used; with several, the error lists them so one can be configured) or a data source.

use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{Effect, HttpError, client, saas_retry, send};
use crate::llm::retry::RetryPolicy;

pub const DEFAULT_API_URL: &str = "https://api.notion.com";
pub const NOTION_VERSION: &str = "2025-09-03";
pub const RICH_TEXT_MAX: usize = 2000;
/// Rich-text objects per array.
pub const RICH_TEXT_ITEMS: usize = 100;
pub const BLOCKS_PER_REQUEST: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum NotionError {
    #[error("Notion: {0}")]
    Http(#[from] HttpError),
    #[error("Notion answered something unexpected: {0}")]
    Decode(String),
    #[error("Notion: {0}")]
    Config(String),
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
    /// Configured id → its data source id, resolved once.
    sources: std::sync::Mutex<std::collections::HashMap<String, String>>,
    /// When the last request was answered: requests are paced to [`REQUESTS_PER_SECOND`].
    last: tokio::sync::Mutex<Option<tokio::time::Instant>>,
}

/// Notion's documented average rate limit for an integration.
pub const REQUESTS_PER_SECOND: u64 = 3;
/// The most blocks read from one page (100 pages of children).
pub const MAX_CHILDREN: usize = 10_000;

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

/// A property's rich text: at most [`RICH_TEXT_ITEMS`] objects (a property cannot be split
/// like blocks; the rest is cut, and the cut says so).
pub fn property_text(text: &str) -> Value {
    let mut items = match rich_text(text) {
        Value::Array(a) => a,
        _ => Vec::new(),
    };
    if items.len() > RICH_TEXT_ITEMS {
        items.truncate(RICH_TEXT_ITEMS);
        if let Some(last) = items.last_mut() {
            let c: String = last["text"]["content"]
                .as_str()
                .unwrap_or_default()
                .chars()
                .take(RICH_TEXT_MAX - 20)
                .collect();
            last["text"]["content"] = json!(format!("{c} … (cut by Notion)"));
        }
    }
    Value::Array(items)
}

/// A database title property value.
pub fn title_property(text: &str) -> Value {
    json!({ "title": property_text(text) })
}

/// What a block says, for comparing a page with what it should say: its type, its plain
/// text, and a code block's language.
pub fn block_text(b: &Value) -> (String, String, String) {
    let kind = b["type"].as_str().unwrap_or_default().to_string();
    let text: String = b[&kind]["rich_text"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            t["plain_text"]
                .as_str()
                .or_else(|| t["text"]["content"].as_str())
                .unwrap_or_default()
        })
        .collect();
    let lang = b[&kind]["language"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (kind, text, lang)
}

/// Blocks as Notion takes them: a block whose rich text has more than [`RICH_TEXT_ITEMS`]
/// objects becomes several blocks of its type, in order.
pub fn within_limits(blocks: &[Value]) -> Vec<Value> {
    let mut out = Vec::with_capacity(blocks.len());
    for b in blocks {
        let kind = b["type"].as_str().unwrap_or_default().to_string();
        match b[&kind]["rich_text"].as_array() {
            Some(items) if items.len() > RICH_TEXT_ITEMS => {
                for part in items.chunks(RICH_TEXT_ITEMS) {
                    let mut piece = b.clone();
                    piece[&kind]["rich_text"] = Value::Array(part.to_vec());
                    out.push(piece);
                }
            }
            _ => out.push(b.clone()),
        }
    }
    out
}

impl Notion {
    pub fn new(base_url: &str, token: &str) -> Notion {
        Notion {
            http: client(),
            base: base_url.trim_end_matches('/').to_string(),
            token: token.trim().to_string(),
            retry: saas_retry(),
            sources: Default::default(),
            last: Default::default(),
        }
    }

    /// One request. Reads, property updates and queries may be sent again after a 5xx; a
    /// page creation or a block append only after a rate limit (see [`send`]).
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        effect: Effect,
    ) -> Result<Value, NotionError> {
        let url = format!("{}{path}", self.base);
        // Notion's pace: a request (with its retries) leaves a third of a second after the
        // previous one was answered, so no second sees more than [`REQUESTS_PER_SECOND`].
        let gap = std::time::Duration::from_millis(1000 / REQUESTS_PER_SECOND + 1);
        let mut last = self.last.lock().await;
        if let Some(t) = *last {
            tokio::time::sleep_until(t + gap).await;
        }
        let text = send("Notion", &self.retry, effect, || {
            let r = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(&self.token)
                .header("Notion-Version", NOTION_VERSION);
            match body {
                Some(b) => r.json(b),
                None => r,
            }
        })
        .await;
        *last = Some(tokio::time::Instant::now());
        drop(last);
        let text = text?;
        serde_json::from_str(&text).map_err(|e| NotionError::Decode(e.to_string()))
    }

    /// The data source a configured id stands for: a database's only data source, or the id
    /// itself when it names a data source.
    pub async fn data_source(&self, id: &str) -> Result<String, NotionError> {
        if let Some(ds) = self
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
        {
            return Ok(ds.clone());
        }
        let ds = match self
            .call(
                reqwest::Method::GET,
                &format!("/v1/databases/{id}"),
                None,
                Effect::Idempotent,
            )
            .await
        {
            Ok(db) => {
                let sources = db["data_sources"].as_array().cloned().unwrap_or_default();
                match &sources[..] {
                    [one] => one["id"]
                        .as_str()
                        .ok_or_else(|| NotionError::Decode("a data source without an id".into()))?
                        .to_string(),
                    [] => {
                        return Err(NotionError::Config(format!(
                            "database {id} has no data source"
                        )));
                    }
                    many => {
                        let names: Vec<String> = many
                            .iter()
                            .map(|d| {
                                format!(
                                    "{} ({})",
                                    d["name"].as_str().unwrap_or("unnamed"),
                                    d["id"].as_str().unwrap_or("?")
                                )
                            })
                            .collect();
                        return Err(NotionError::Config(format!(
                            "database {id} has {} data sources: {}; configure the id of the one to use",
                            many.len(),
                            names.join(", ")
                        )));
                    }
                }
            }
            // Not a database: a data source id, if Notion knows it as one.
            Err(NotionError::Http(e)) if e.status() == Some(404) => {
                self.call(
                    reqwest::Method::GET,
                    &format!("/v1/data_sources/{id}"),
                    None,
                    Effect::Idempotent,
                )
                .await?;
                id.to_string()
            }
            Err(e) => return Err(e),
        };
        self.sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), ds.clone());
        Ok(ds)
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
        let blocks = within_limits(blocks);
        let first = &blocks[..blocks.len().min(BLOCKS_PER_REQUEST)];
        let v = self
            .call(
                reqwest::Method::POST,
                "/v1/pages",
                Some(&json!({ "parent": parent, "properties": properties, "children": first })),
                Effect::Adds,
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
            json!({ "type": "page_id", "page_id": parent_page_id }),
            json!({ "title": title_property(title) }),
            blocks,
        )
        .await
    }

    /// A row in the data source of `database` (a database id or a data source id);
    /// `properties` in Notion's property-value shape.
    pub async fn create_row(
        &self,
        database: &str,
        properties: Value,
        blocks: &[Value],
    ) -> Result<Page, NotionError> {
        let ds = self.data_source(database).await?;
        self.create(
            json!({ "type": "data_source_id", "data_source_id": ds }),
            properties,
            blocks,
        )
        .await
    }

    /// Change a page's (or row's) properties.
    pub async fn update_page(&self, page_id: &str, properties: Value) -> Result<Page, NotionError> {
        let v = self
            .call(
                reqwest::Method::PATCH,
                &format!("/v1/pages/{page_id}"),
                Some(&json!({ "properties": properties })),
                Effect::Idempotent,
            )
            .await?;
        Self::page_of(v)
    }

    /// Append blocks to a page, 100 per request.
    pub async fn append_blocks(&self, block_id: &str, blocks: &[Value]) -> Result<(), NotionError> {
        for chunk in within_limits(blocks).chunks(BLOCKS_PER_REQUEST) {
            self.call(
                reqwest::Method::PATCH,
                &format!("/v1/blocks/{block_id}/children"),
                Some(&json!({ "children": chunk })),
                Effect::Adds,
            )
            .await?;
        }
        Ok(())
    }

    /// The child blocks of a page or block, every page of the answer (at most
    /// [`MAX_CHILDREN`]).
    pub async fn children(&self, block_id: &str) -> Result<Vec<Value>, NotionError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/v1/blocks/{block_id}/children?page_size=100");
            if let Some(c) = &cursor {
                path.push_str(&format!("&start_cursor={c}"));
            }
            let v = self
                .call(reqwest::Method::GET, &path, None, Effect::Idempotent)
                .await?;
            out.extend(v["results"].as_array().cloned().unwrap_or_default());
            if out.len() > MAX_CHILDREN {
                return Err(NotionError::Config(format!(
                    "{block_id} has more than {MAX_CHILDREN} blocks"
                )));
            }
            match (v["has_more"].as_bool(), v["next_cursor"].as_str()) {
                (Some(true), Some(c)) => cursor = Some(c.to_string()),
                _ => return Ok(out),
            }
        }
    }

    /// Delete (archive) a block.
    pub async fn delete_block(&self, id: &str) -> Result<(), NotionError> {
        self.call(
            reqwest::Method::DELETE,
            &format!("/v1/blocks/{id}"),
            None,
            Effect::Idempotent,
        )
        .await
        .map(|_| ())
    }

    /// The sub-page of `parent_page_id` titled `title`, if there is one.
    pub async fn child_page(
        &self,
        parent_page_id: &str,
        title: &str,
    ) -> Result<Option<Page>, NotionError> {
        Ok(self
            .children(parent_page_id)
            .await?
            .into_iter()
            .find(|b| b["type"] == "child_page" && b["child_page"]["title"] == title)
            .and_then(|b| {
                Some(Page {
                    id: b["id"].as_str()?.to_string(),
                    url: String::new(),
                })
            }))
    }

    /// Make the page's content `blocks`, in place: the blocks that already read the same are
    /// kept, the rest of the page after the first difference is deleted and the remainder
    /// appended (sub-pages and databases on the page are left alone). Returns the number of
    /// blocks deleted and appended; `(0, 0)` when the page already read so.
    pub async fn replace_blocks(
        &self,
        page_id: &str,
        blocks: &[Value],
    ) -> Result<(usize, usize), NotionError> {
        let want = within_limits(blocks);
        let have: Vec<Value> = self
            .children(page_id)
            .await?
            .into_iter()
            .filter(|b| !matches!(b["type"].as_str(), Some("child_page" | "child_database")))
            .collect();
        let same = have
            .iter()
            .zip(&want)
            .take_while(|(h, w)| block_text(h) == block_text(w))
            .count();
        if same == have.len() && same == want.len() {
            return Ok((0, 0));
        }
        for b in &have[same..] {
            if let Some(id) = b["id"].as_str() {
                self.delete_block(id).await?;
            }
        }
        self.append_blocks(page_id, &want[same..]).await?;
        Ok((have.len() - same, want.len() - same))
    }

    /// The rows of `database` (a database id or a data source id) matching `filter` (all
    /// pages of the answer).
    pub async fn query_database(
        &self,
        database: &str,
        filter: Option<Value>,
    ) -> Result<Vec<Page>, NotionError> {
        let ds = self.data_source(database).await?;
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
                    &format!("/v1/data_sources/{ds}/query"),
                    Some(&body),
                    Effect::Idempotent,
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
