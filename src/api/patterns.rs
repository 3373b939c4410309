//! String patterns used in the CRD schemas.
//!
//! They are evaluated by the apiserver (Go RE2 syntax), so no look-around; the unit tests
//! compile every one with the `regex` crate (same syntax family) and check examples.

/// DNS-1123 subdomain (object names: Secrets, ConfigMaps, AgentJobs).
pub const DNS_SUBDOMAIN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// DNS-1123 label (namespaces, environment names).
pub const DNS_LABEL: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// A git branch name: slash-separated components that do not start with `.` or `-`,
/// hold no `..`, no spaces, `~^:?*[\` or control characters, and do not end with `.`.
pub const BRANCH: &str =
    r"^[A-Za-z0-9_]+(\.?[A-Za-z0-9_-]+)*(/[A-Za-z0-9_]+(\.?[A-Za-z0-9_-]+)*)*$";
/// A relative path inside a repository, optionally with glob characters (`*`, `?`).
/// No leading `/`, no `..` component, no backslashes.
pub const REL_PATH_GLOB: &str = r"^[A-Za-z0-9_*?{}\[\],+@=-][A-Za-z0-9_.*?{}\[\],+@=-]*(/[A-Za-z0-9_*?{}\[\],+@=-][A-Za-z0-9_.*?{}\[\],+@=-]*)*/?$";
/// A relative path inside a repository without globs.
pub const REL_PATH: &str =
    r"^[A-Za-z0-9_+@=-][A-Za-z0-9_.+@=-]*(/[A-Za-z0-9_+@=-][A-Za-z0-9_.+@=-]*)*$";
/// A repository URL: https, ssh (`git@host:owner/name`), or file (local fixtures and tests).
pub const REPO_URL: &str =
    r"^(https?://[^\s]+|ssh://[^\s]+|git@[A-Za-z0-9.-]+:[^\s]+|file:///[^\s]+)$";
/// `owner/name` on GitHub.
pub const GITHUB_REPO: &str = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$";
/// An Ent entity / Go type name in CamelCase.
pub const ENTITY: &str = r"^[A-Z][A-Za-z0-9]{0,62}$";
/// A snake_case identifier (Ent field names, migration names).
pub const SNAKE: &str = r"^[a-z][a-z0-9_]{0,62}$";
/// A lower-case Go package / logic group folder name.
pub const GROUP: &str = r"^[a-z][a-z0-9]{0,62}$";
/// A container image tag (Docker's rules).
pub const IMAGE_TAG: &str = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$";
/// A lock name: lower-case segments separated by `/`.
pub const LOCK: &str = r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?(/[a-z0-9]([-a-z0-9_.]*[a-z0-9])?)*$";
/// An approver: a user name or `group:<name>`.
pub const APPROVER: &str = r"^(group:)?[A-Za-z0-9@._:-]+$";
/// A Go package directory relative to the module root, or Go's pattern of every package under
/// one (`...`, `rpc/...`).
pub const GO_PACKAGE: &str = r"^(\.\.\.|[A-Za-z0-9_+@=-][A-Za-z0-9_.+@=-]*(/[A-Za-z0-9_+@=-][A-Za-z0-9_.+@=-]*)*(/\.\.\.)?)$";
/// A Go function name, optionally with its receiver type (`Type.Method`).
pub const GO_FUNC: &str = r"^([A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*$";
/// A git object id (SHA-1 or SHA-256 hex).
pub const GIT_SHA: &str = r"^([0-9a-f]{40}|[0-9a-f]{64})$";
/// A content digest: `<algorithm>:<hex>`.
pub const DIGEST: &str = r"^[a-z0-9]+:[0-9a-f]{32,128}$";

#[cfg(test)]
mod tests {
    use super::*;

    fn re(p: &str) -> regex::Regex {
        regex::Regex::new(p).unwrap()
    }

    #[test]
    fn branch_names() {
        let r = re(BRANCH);
        for ok in [
            "main",
            "feature/x",
            "agents/generator/department-1a2b",
            "release-1.2",
            "v1.7.2",
            "a_b",
        ] {
            assert!(r.is_match(ok), "{ok} should be accepted");
        }
        for bad in [
            "", "-x", ".x", "a..b", "a b", "a/", "/a", "a//b", "a.", "a~1", "a^", "a:b", "a?",
            "a*", "a[", "a\\b",
        ] {
            assert!(!r.is_match(bad), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn paths() {
        let g = re(REL_PATH_GLOB);
        for ok in [
            "rpc/**",
            "api/**",
            "rpc/ent/schema/*.go",
            "README.md",
            "docs/",
        ] {
            assert!(g.is_match(ok), "{ok}");
        }
        for bad in ["/etc/passwd", "../x", "a/../b", "a\\b", "", ".git/config"] {
            assert!(!g.is_match(bad), "{bad:?}");
        }
        let p = re(REL_PATH);
        assert!(p.is_match("rpc/migrations"));
        assert!(!p.is_match("rpc/*"));
        assert!(!p.is_match("../x"));
    }

    #[test]
    fn names_and_ids() {
        assert!(re(DNS_SUBDOMAIN).is_match("github-token"));
        assert!(!re(DNS_SUBDOMAIN).is_match("GitHub_Token"));
        assert!(re(DNS_LABEL).is_match("staging"));
        assert!(!re(DNS_LABEL).is_match("stag.ing"));
        assert!(re(ENTITY).is_match("Department"));
        assert!(!re(ENTITY).is_match("department"));
        assert!(re(SNAKE).is_match("parent_id"));
        assert!(!re(SNAKE).is_match("ParentId"));
        assert!(re(IMAGE_TAG).is_match("v1.7.2"));
        assert!(!re(IMAGE_TAG).is_match("-bad"));
        assert!(re(LOCK).is_match("deploy/prod/staging"));
        assert!(!re(LOCK).is_match("Deploy"));
        assert!(re(APPROVER).is_match("group:leads"));
        assert!(re(APPROVER).is_match("alice@example.com"));
        assert!(!re(APPROVER).is_match("bob smith"));
        assert!(re(REPO_URL).is_match("https://github.com/acme/core.git"));
        assert!(re(REPO_URL).is_match("git@github.com:acme/core.git"));
        assert!(re(REPO_URL).is_match("file:///srv/git/core.git"));
        assert!(!re(REPO_URL).is_match("ftp://x"));
        assert!(re(GITHUB_REPO).is_match("suyuan32/simple-admin-core"));
        assert!(re(GO_FUNC).is_match("UserLogic.Create"));
        for ok in ["...", "pkg/pricing", "rpc/...", "internal/logic/v1.2"] {
            assert!(re(GO_PACKAGE).is_match(ok), "{ok}");
        }
        for bad in ["../x", "/abs", "pkg/../x", ".hidden/...", "a/.../b"] {
            assert!(!re(GO_PACKAGE).is_match(bad), "{bad}");
        }
        assert!(re(GIT_SHA).is_match(&"a".repeat(40)));
        assert!(re(DIGEST).is_match(&format!("sha256:{}", "0".repeat(64))));
    }
}
