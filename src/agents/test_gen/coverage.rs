//! Coverage as Go's own tools measure it: `go test -coverprofile` on the target packages, then
//! `go tool cover -func` for the per-function percentages and the total.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

/// Statement coverage: per function and in total.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Coverage {
    /// `file.go:line` of the declaration (Go names methods without their receiver, so the
    /// line tells them apart) → (the name Go prints, percent).
    pub functions: BTreeMap<String, (String, f64)>,
    pub total: f64,
}

impl Coverage {
    /// The coverage of the function declared at `file:line`.
    pub fn of(&self, file: &str, line: u32) -> Option<f64> {
        self.functions
            .get(&format!("{file}:{line}"))
            .map(|(_, p)| *p)
    }
}

/// `go tool cover -func` output → coverage. Lines look like
/// `example.com/m/pkg/a.go:12:\tDiscount\t\t80.0%`, the last `total:\t(statements)\t42.1%`.
/// Paths become relative to the module (`module` is its import path).
pub fn parse_func(output: &str, module: &str) -> Coverage {
    let mut c = Coverage::default();
    for line in output.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let Some(pct) = parts
            .last()
            .and_then(|p| p.strip_suffix('%'))
            .and_then(|p| p.parse::<f64>().ok())
        else {
            continue;
        };
        if parts.first() == Some(&"total:") {
            c.total = pct;
            continue;
        }
        let (Some(loc), Some(name)) = (parts.first(), parts.get(1)) else {
            continue;
        };
        let mut l = loc.split(':');
        let file = l.next().unwrap_or_default();
        let line = l.next().unwrap_or_default();
        let file = file
            .strip_prefix(module)
            .map(|f| f.trim_start_matches('/'))
            .unwrap_or(file);
        c.functions
            .insert(format!("{file}:{line}"), (name.to_string(), pct));
    }
    c
}

/// The module path of `go.mod` in `root`.
pub fn module_path(root: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(root.join("go.mod"))
        .map_err(|e| format!("go.mod: {e} (is this a Go module?)"))?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("module "))
        .map(|m| m.trim().trim_matches('"').to_string())
        .ok_or_else(|| "go.mod has no module line".into())
}

/// One `go` command in `root`: its exit status and combined output.
pub async fn go(root: &Path, args: &[&str]) -> Result<(bool, String), String> {
    let out = tokio::process::Command::new("go")
        .args(args)
        .current_dir(root)
        .env("GOFLAGS", "-mod=mod")
        .env("CGO_ENABLED", "0")
        .output()
        .await
        .map_err(|e| format!("go {}: {e} (is Go installed?)", args.join(" ")))?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok((out.status.success(), text))
}

/// Measure the coverage of `packages` (`./pkg/a` …) with the tests as they are in `root`.
/// `run` limits the tests run (`-run` pattern). Err: the tests do not build or fail.
pub async fn measure(
    root: &Path,
    packages: &[String],
    run: Option<&str>,
) -> Result<Coverage, String> {
    let profile = root.join(".devagents-cover.out");
    let profile_s = profile.to_string_lossy().into_owned();
    let mut args = vec!["test", "-count=1", "-coverprofile", &profile_s];
    if let Some(r) = run {
        args.push("-run");
        args.push(r);
    }
    args.extend(packages.iter().map(String::as_str));
    let (ok, out) = go(root, &args).await?;
    if !ok {
        return Err(out);
    }
    let (ok, funcs) = go(root, &["tool", "cover", "-func", &profile_s]).await?;
    let _ = std::fs::remove_file(&profile);
    if !ok {
        return Err(funcs);
    }
    Ok(parse_func(&funcs, &module_path(root)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cover_func_output() {
        let out = "example.com/shop/pkg/pricing/pricing.go:12:\tDiscount\t\t80.0%\nexample.com/shop/pkg/pricing/pricing.go:30:\tGetItemLogic.GetItem\t0.0%\ntotal:\t\t\t\t\t(statements)\t\t42.1%\n";
        let c = parse_func(out, "example.com/shop");
        assert_eq!(c.total, 42.1);
        assert_eq!(c.of("pkg/pricing/pricing.go", 12), Some(80.0));
        assert_eq!(
            c.functions["pkg/pricing/pricing.go:30"].0,
            "GetItemLogic.GetItem"
        );
        assert_eq!(c.of("pkg/pricing/pricing.go", 31), None);
    }
}
