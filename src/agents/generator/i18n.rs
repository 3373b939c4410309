//! The module's entries in the API's locale files (`api/internal/i18n/locale/*.json`):
//! nested objects whose dotted paths are the keys. Existing keys keep their order and their
//! values; new keys are appended to their object; the file keeps its indentation and its
//! final newline. Every locale gets every new key (English text where no translation is known).

use serde_json::{Map, Value};

use super::model::Module;

/// The keys a new module adds, with their English and Chinese texts.
pub fn entries(m: &Module) -> Vec<(String, String, String)> {
    let en = m.en.to_lowercase();
    let zh = &m.zh;
    let mut out = Vec::new();
    for (verb_en, verb_zh, key) in [
        ("Create", "创建", format!("create{}", m.name)),
        ("Update", "更新", format!("update{}", m.name)),
        ("Delete", "删除", format!("delete{}", m.name)),
        ("Get list of", "获取列表", format!("get{}List", m.name)),
        ("Get by ID of", "通过ID获取", format!("get{}ById", m.name)),
    ] {
        let zh_text = if verb_zh == "获取列表" {
            format!("获取{zh}列表")
        } else {
            format!("{verb_zh}{zh}")
        };
        out.push((format!("apiDesc.{key}"), format!("{verb_en} {en}"), zh_text));
    }
    out.push((format!("apiGroup.{}", m.group), m.en.clone(), zh.clone()));
    out.push((
        format!("route.{}Management", m.camel),
        format!("{} management", m.en),
        format!("{zh}管理"),
    ));
    out
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum I18nError {
    #[error("{file}: not valid JSON: {why}")]
    Invalid { file: String, why: String },
    #[error("{file}: {key} is a text, so {key}.… cannot be added under it")]
    NotAnObject { file: String, key: String },
}

/// The indentation of the first indented line (default two spaces).
fn indent_of(text: &str) -> String {
    text.lines()
        .skip(1)
        .find_map(|l| {
            let ws: String = l.chars().take_while(|c| *c == ' ' || *c == '\t').collect();
            (!ws.is_empty()).then_some(ws)
        })
        .unwrap_or_else(|| "  ".into())
}

/// Add `(dotted key, text)` pairs to a locale file's text; returns the new text and how many
/// keys were new.
pub fn add_keys(
    file: &str,
    text: &str,
    keys: &[(String, String)],
) -> Result<(String, usize), I18nError> {
    let mut root: Value = serde_json::from_str(text).map_err(|e| I18nError::Invalid {
        file: file.into(),
        why: e.to_string(),
    })?;
    let mut added = 0;
    for (key, value) in keys {
        let parts: Vec<&str> = key.split('.').collect();
        let mut cur = &mut root;
        for (i, p) in parts.iter().enumerate() {
            let obj: &mut Map<String, Value> =
                cur.as_object_mut().ok_or_else(|| I18nError::NotAnObject {
                    file: file.into(),
                    key: parts[..i].join("."),
                })?;
            if i + 1 == parts.len() {
                if !obj.contains_key(*p) {
                    obj.insert(p.to_string(), Value::String(value.clone()));
                    added += 1;
                }
                break;
            }
            cur = obj
                .entry(p.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
        }
    }
    let indent = indent_of(text);
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(&root, &mut ser).map_err(|e| I18nError::Invalid {
        file: file.into(),
        why: e.to_string(),
    })?;
    let mut s = String::from_utf8_lossy(&out).into_owned();
    if text.ends_with('\n') {
        s.push('\n');
    }
    Ok((s, added))
}

/// The dotted keys of a locale file (for "identical key sets" checks).
pub fn key_set(text: &str) -> Result<std::collections::BTreeSet<String>, String> {
    fn walk(prefix: &str, v: &Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            Value::Object(o) => {
                for (k, v) in o {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&p, v, out);
                }
            }
            _ => {
                out.insert(prefix.to_string());
            }
        }
    }
    let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut out = std::collections::BTreeSet::new();
    walk("", &v, &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_added_in_place_keeping_order_format_and_values() {
        let text = "{\n    \"common\": {\n        \"success\": \"成功\",\n        \"createSuccess\": \"创建成功\"\n    },\n    \"apiDesc\": {\n        \"zeta\": \"Z\",\n        \"alpha\": \"A\"\n    }\n}\n";
        let (out, added) = add_keys(
            "zh.json",
            text,
            &[
                ("apiDesc.createDepartment".into(), "创建部门".into()),
                ("apiDesc.alpha".into(), "changed?".into()),
                ("route.departmentManagement".into(), "部门管理".into()),
            ],
        )
        .unwrap();
        assert_eq!(added, 2);
        assert_eq!(
            out,
            "{\n    \"common\": {\n        \"success\": \"成功\",\n        \"createSuccess\": \"创建成功\"\n    },\n    \"apiDesc\": {\n        \"zeta\": \"Z\",\n        \"alpha\": \"A\",\n        \"createDepartment\": \"创建部门\"\n    },\n    \"route\": {\n        \"departmentManagement\": \"部门管理\"\n    }\n}\n"
        );
        let e = add_keys("en.json", "{\"a\": \"x\"}", &[("a.b".into(), "y".into())]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "en.json: a is a text, so a.… cannot be added under it"
        );
        assert!(add_keys("en.json", "{", &[]).is_err());
        assert_eq!(
            key_set(&out).unwrap().into_iter().collect::<Vec<_>>(),
            vec![
                "apiDesc.alpha",
                "apiDesc.createDepartment",
                "apiDesc.zeta",
                "common.createSuccess",
                "common.success",
                "route.departmentManagement"
            ]
        );
    }
}
