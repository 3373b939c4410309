//! Structured output: ask for JSON matching a type's schema, validate by parsing into the
//! type, retry once with the validation error, then fail with a clear reason. LLMs wrap JSON
//! in prose and code fences; the first complete JSON value in the answer is taken.

use std::future::Future;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StructuredError {
    #[error("the model's answer did not match the schema after one repair attempt: {0}")]
    Invalid(String),
    #[error("LLM call failed: {0}")]
    Call(String),
}

/// The first balanced JSON object or array in `text` (strings and escapes respected).
pub fn extract_json(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let start = bytes.iter().position(|b| *b == b'{' || *b == b'[')?;
    let (mut depth, mut in_str, mut esc) = (0i32, false, false);
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&text[start..=i]);
                }
            }
            _ => {}
        }
    }
    None
}

fn parse<T: DeserializeOwned>(answer: &str) -> Result<T, String> {
    let json = extract_json(answer).ok_or_else(|| "no JSON value in the answer".to_string())?;
    serde_json::from_str::<T>(json).map_err(|e| e.to_string())
}

/// Ask `ask(prompt)` for a `T`. The prompt carries `T`'s JSON schema; a wrong answer gets one
/// repair round with the error.
pub async fn complete_typed<T, F, Fut>(instruction: &str, mut ask: F) -> Result<T, StructuredError>
where
    T: DeserializeOwned + JsonSchema,
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<String, String>>,
{
    let schema = serde_json::to_string(&schemars::schema_for!(T)).unwrap_or_default();
    let prompt =
        format!("{instruction}\n\nAnswer with JSON only, matching this JSON schema:\n{schema}");
    let first = ask(prompt.clone()).await.map_err(StructuredError::Call)?;
    let err = match parse::<T>(&first) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let repair = format!(
        "{prompt}\n\nYour previous answer was:\n{first}\n\nIt is not valid: {err}\nAnswer again with the corrected JSON only."
    );
    let second = ask(repair).await.map_err(StructuredError::Call)?;
    parse::<T>(&second).map_err(StructuredError::Invalid)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, JsonSchema, PartialEq)]
    struct Field {
        name: String,
        #[serde(rename = "type")]
        type_: String,
    }

    #[test]
    fn json_is_found_inside_prose_and_fences() {
        let t = "Sure! Here it is:\n```json\n{\"name\": \"a}b\", \"type\": \"string\"}\n```\nAnything else?";
        assert_eq!(
            extract_json(t),
            Some("{\"name\": \"a}b\", \"type\": \"string\"}")
        );
        assert_eq!(extract_json("[1, [2, 3]] trailing"), Some("[1, [2, 3]]"));
        assert_eq!(extract_json("no json here"), None);
    }

    #[tokio::test]
    async fn one_repair_round_with_the_error_then_a_clear_failure() {
        let prompts = Mutex::new(Vec::new());
        let answers = Mutex::new(vec![
            "{\"name\": \"parent_id\"}".to_string(),
            "ok: {\"name\": \"parent_id\", \"type\": \"uint64\"}".to_string(),
        ]);
        let got: Field = complete_typed("Describe the field", |p| {
            prompts.lock().unwrap().push(p);
            let a = answers.lock().unwrap().remove(0);
            async move { Ok(a) }
        })
        .await
        .unwrap();
        assert_eq!(
            got,
            Field {
                name: "parent_id".into(),
                type_: "uint64".into()
            }
        );
        let p = prompts.lock().unwrap().clone();
        assert!(p[0].contains("\"required\"") && p[0].contains("JSON schema"));
        assert!(p[1].contains("missing field `type`"), "{}", p[1]);

        let failed = complete_typed::<Field, _, _>("Describe", |_| async {
            Ok("I cannot do that.".to_string())
        })
        .await;
        assert_eq!(
            failed,
            Err(StructuredError::Invalid(
                "no JSON value in the answer".into()
            ))
        );
    }
}
