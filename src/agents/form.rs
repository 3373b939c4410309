//! An agent's `kubectl agent run NAME …` form (pure): a clap `Args` type in the agent's folder
//! that turns into the agent's parameter block. The CRD schema and the webhook still judge
//! the job made from it.

use serde_json::Value;

/// The parameter block a form gives, and the prefix of the job's generated name.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub params: Value,
    pub name_prefix: String,
}

/// What a form may read of the options every agent shares.
#[derive(Clone, Copy, Debug, Default)]
pub struct Shared<'a> {
    /// `--repo` as the user typed it (`owner/name` or a URL).
    pub repo: Option<&'a str>,
}

/// A form: clap arguments that make a parameter block.
pub trait RunForm: clap::Args + clap::FromArgMatches {
    fn block(self, shared: Shared<'_>) -> Result<Block, String>;
}

/// The subcommand `name` with the arguments of `T`.
pub fn command<T: clap::Args>(name: &'static str, about: &'static str) -> clap::Command {
    T::augment_args(clap::Command::new(name).about(about))
}

/// The block of the form `T` parsed into `m`.
pub fn parse<T: RunForm>(m: &clap::ArgMatches, shared: Shared<'_>) -> Result<Block, String> {
    T::from_arg_matches(m)
        .map_err(|e| e.to_string())?
        .block(shared)
}

/// A DNS-safe lower-case slug.
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 && !out.ends_with('-') {
            out.push('-');
        }
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').chars().take(40).collect()
}

/// `Some(v)` into `obj[key]` (JSON), nothing for `None`.
pub fn set_opt<T: serde::Serialize>(obj: &mut Value, key: &str, v: Option<T>) {
    if let Some(v) = v {
        obj[key] = serde_json::json!(v);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs() {
        assert_eq!(super::slug("DictionaryDetail"), "dictionary-detail");
        assert_eq!(super::slug("v1.7.2"), "v1-7-2");
    }
}
