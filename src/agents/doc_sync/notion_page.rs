//! The Notion page of a service's API: a heading, then per group its endpoints — method and
//! path, the description, handler, request and response types with their fields, and whether
//! it needs a token. Built from the parsed `.api` files as Notion blocks (the client splits
//! them into requests of 100 and long texts into objects of 2,000 characters).

use serde_json::Value;

use super::api_file::ApiFile;
use crate::services::notion::{bullet, code, heading, paragraph};

/// The page's title for `service`.
pub fn title(service: &str) -> String {
    format!("{service} API")
}

/// The blocks of the page.
pub fn blocks(service: &str, files: &[ApiFile]) -> Vec<Value> {
    let types: std::collections::BTreeMap<&str, &super::api_file::TypeDef> = files
        .iter()
        .flat_map(|f| &f.types)
        .map(|t| (t.name.as_str(), t))
        .collect();
    let mut routes: Vec<&super::api_file::Route> = files.iter().flat_map(|f| &f.routes).collect();
    routes.sort_by(|a, b| (&a.group, &a.path, &a.method).cmp(&(&b.group, &b.path, &b.method)));
    let mut out = vec![paragraph(&format!(
        "The HTTP API of {service}, from its .api files ({} endpoints). Written by devagents doc-sync; edits here are replaced on the next run.",
        routes.len()
    ))];
    let mut group: Option<&Option<String>> = None;
    for r in routes {
        if group != Some(&r.group) {
            out.push(heading(2, r.group.as_deref().unwrap_or("ungrouped")));
            group = Some(&r.group);
        }
        out.push(heading(
            3,
            &format!("{} {}", r.method.to_ascii_uppercase(), r.path),
        ));
        if !r.doc.is_empty() {
            out.push(paragraph(&r.doc));
        }
        out.push(bullet(&format!("handler: {}", r.handler)));
        out.push(bullet(if r.jwt {
            "authentication: JWT"
        } else {
            "authentication: none"
        }));
        for (side, ty) in [("request", &r.request), ("response", &r.response)] {
            let Some(ty) = ty else {
                continue;
            };
            out.push(bullet(&format!("{side}: {ty}")));
            if let Some(t) = types.get(ty.as_str()) {
                let body: Vec<String> = t
                    .fields
                    .iter()
                    .map(|f| {
                        if f.embedded() {
                            format!("{} (embedded)", f.ty)
                        } else {
                            format!(
                                "{}: {}{}{}",
                                if f.json.is_empty() { &f.name } else { &f.json },
                                f.ty.trim_start_matches('*'),
                                if f.optional { ", optional" } else { "" },
                                if f.comment.is_empty() {
                                    String::new()
                                } else {
                                    format!(" — {}", f.comment)
                                }
                            )
                        }
                    })
                    .collect();
                out.push(code(&body.join("\n"), "plain text"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::api_file::parse;
    use super::*;

    #[test]
    fn a_page_per_service_with_every_endpoint() {
        let a = parse(
            "x.api",
            "type Info {\n    BaseIDInfo\n    // Name | 名称\n    Name *string `json:\"name,optional\"`\n}\n@server(\n    jwt: Auth\n    group: department\n)\nservice Core {\n    // Create | 创建\n    @handler create\n    post /department/create (Info) returns (BaseMsgResp)\n}\n@server(\n    group: base\n)\nservice Core {\n    @handler ping\n    get /ping\n}\n",
        )
        .unwrap();
        let b = blocks("Core", &[a]);
        let texts: Vec<String> = b
            .iter()
            .map(|x| {
                let kind = x["type"].as_str().unwrap().to_string();
                let t: String = x[&kind]["rich_text"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["text"]["content"].as_str().unwrap().to_string())
                    .collect();
                format!("{kind}: {t}")
            })
            .collect();
        assert_eq!(
            texts[1..].to_vec(),
            vec![
                "heading_2: base",
                "heading_3: GET /ping",
                "bulleted_list_item: handler: ping",
                "bulleted_list_item: authentication: none",
                "heading_2: department",
                "heading_3: POST /department/create",
                "paragraph: Create | 创建",
                "bulleted_list_item: handler: create",
                "bulleted_list_item: authentication: JWT",
                "bulleted_list_item: request: Info",
                "code: BaseIDInfo (embedded)\nname: string, optional — Name | 名称",
                "bulleted_list_item: response: BaseMsgResp",
            ]
        );
        assert_eq!(title("Core"), "Core API");
    }
}
