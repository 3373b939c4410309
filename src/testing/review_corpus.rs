//! The reviewer's seeded corpus (issue 21): a Go module in the Simple Admin Core style whose
//! pull request adds 33 known defects across lint, errors, security, secrets, i18n, tests and
//! SQL, on top of a base that already has defects on lines the pull request does not touch
//! (they must not be reported). [`evaluate`] reviews the pull request with the reviewer's
//! deterministic checks (real go vet and staticcheck) and scores what it reports: recall and
//! precision per category, and anything reported on an unchanged line.
//!
//! Used by `just bench-review-quality` (which prints the table) and by `tests/review_corpus.rs`
//! (which holds the goal: recall ≥ 90 %, nothing on unchanged lines).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::agents::reviewer::run;
use crate::api::{ReviewCheck, ReviewerParams};

/// A line of a corpus file, with the defect seeded on it (category, what), if any.
type Marked = (&'static str, &'static [(&'static str, &'static str)]);

const NONE: &[(&str, &str)] = &[];

/// A defect the pull request adds.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seeded {
    pub file: String,
    pub line: u32,
    pub category: String,
    pub what: String,
}

pub struct Corpus {
    pub base: Vec<(String, String)>,
    pub head: Vec<(String, String)>,
    pub seeded: Vec<Seeded>,
    /// Defects already in the base, on lines the pull request leaves alone.
    pub preexisting: Vec<Seeded>,
}

/// The text of marked lines, and the defects with their line numbers.
fn build(path: &str, lines: &[Marked], out: &mut Vec<Seeded>) -> String {
    let mut text = String::new();
    for (i, (l, defects)) in lines.iter().enumerate() {
        text.push_str(l);
        text.push('\n');
        for (category, what) in *defects {
            out.push(Seeded {
                file: path.into(),
                line: i as u32 + 1,
                category: (*category).into(),
                what: (*what).into(),
            });
        }
    }
    text
}

const STORE_BASE: &[Marked] = &[
    ("package store", NONE),
    ("", NONE),
    ("import (", NONE),
    ("\t\"database/sql\"", NONE),
    ("\t\"fmt\"", NONE),
    ("\t\"os\"", NONE),
    (")", NONE),
    ("", NONE),
    (
        "var adminPassword = \"Sup3rSecretAdmin\"",
        &[("secrets", "a password in the source")],
    ),
    ("", NONE),
    ("// Count returns n.", NONE),
    ("func Count(n int) int {", NONE),
    ("\treturn n", NONE),
    ("}", NONE),
    ("", NONE),
    ("// Legacy deletes an item the old way.", NONE),
    ("func Legacy(db *sql.DB, id string) error {", NONE),
    (
        "\t_, err := db.Exec(\"DELETE FROM items WHERE id = \" + id)",
        &[("sql", "concatenated SQL")],
    ),
    ("\treturn err", NONE),
    ("}", NONE),
    ("", NONE),
    ("// Dump writes data to path.", NONE),
    ("func Dump(path string, data []byte) {", NONE),
    ("\tf, _ := os.Create(path)", NONE),
    ("\tf.Write(data)", &[("errors", "ignored Write error")]),
    ("\tf.Close()", &[("errors", "ignored Close error")]),
    (
        "\tfmt.Printf(\"%d items\\n\", \"many\")",
        &[("lint", "printf verb of the wrong type")],
    ),
    ("\t_ = adminPassword", NONE),
    ("}", NONE),
];

const STORE_TEST: &str = "package store\n\nimport \"testing\"\n\nfunc TestCount(t *testing.T) {\n\tif Count(2) != 2 {\n\t\tt.Fatal(\"count\")\n\t}\n}\n";

const ORDERS: &[Marked] = &[
    ("package store", NONE),
    ("", NONE),
    ("import (", NONE),
    ("\t\"crypto/tls\"", NONE),
    ("\t\"database/sql\"", NONE),
    ("\t\"encoding/json\"", NONE),
    ("\t\"fmt\"", NONE),
    ("\t\"strings\"", NONE),
    ("\t\"sync\"", NONE),
    (")", NONE),
    ("", NONE),
    ("// Order is an order.", NONE),
    ("type Order struct {", NONE),
    ("\tID   string", NONE),
    ("\tName string", NONE),
    ("}", NONE),
    ("", NONE),
    ("// FindOrder finds orders by name.", NONE),
    (
        "func FindOrder(db *sql.DB, name string) (*sql.Rows, error) {",
        NONE,
    ),
    (
        "\treturn db.Query(fmt.Sprintf(\"SELECT * FROM orders WHERE name = '%s'\", name))",
        &[("sql", "SQL built with Sprintf")],
    ),
    ("}", NONE),
    ("", NONE),
    ("// CountOrders counts the orders of a customer.", NONE),
    (
        "func CountOrders(db *sql.DB, customer string) (int, error) {",
        NONE,
    ),
    ("\tvar n int", NONE),
    (
        "\terr := db.QueryRow(\"SELECT count(*) FROM orders WHERE customer = '\" + customer + \"'\").Scan(&n)",
        &[("sql", "concatenated SQL")],
    ),
    ("\treturn n, err", NONE),
    ("}", NONE),
    ("", NONE),
    ("// PurgeOrders deletes old orders.", NONE),
    ("func PurgeOrders(db *sql.DB, days string) {", NONE),
    (
        "\tdb.Exec(\"DELETE FROM orders WHERE age > \" + days)",
        &[
            ("sql", "concatenated SQL"),
            ("errors", "ignored Exec error"),
        ],
    ),
    ("}", NONE),
    ("", NONE),
    ("// Archive marks an order archived.", NONE),
    ("func Archive(db *sql.DB, id string) {", NONE),
    (
        "\tdb.Exec(\"UPDATE orders SET archived = true WHERE id = $1\", id)",
        &[("errors", "ignored Exec error")],
    ),
    ("}", NONE),
    ("", NONE),
    ("// Decode reads an order.", NONE),
    ("func Decode(body []byte) Order {", NONE),
    ("\tvar o Order", NONE),
    (
        "\tjson.Unmarshal(body, &o)",
        &[("errors", "ignored json.Unmarshal error")],
    ),
    ("\treturn o", NONE),
    ("}", NONE),
    ("", NONE),
    ("// Normalize normalizes a name.", NONE),
    ("func Normalize(name string) string {", NONE),
    (
        "\tstrings.ToLower(name)",
        &[("lint", "discarded ToLower result (SA4017)")],
    ),
    ("\treturn name", NONE),
    ("}", NONE),
    ("", NONE),
    ("// Label formats an order label.", NONE),
    ("func Label(o Order) string {", NONE),
    (
        "\tfmt.Sprintf(\"order %s\", o.ID)",
        &[("lint", "unused Sprintf result")],
    ),
    (
        "\treturn fmt.Sprintf(\"%d\", o.Name)",
        &[("lint", "printf verb of the wrong type")],
    ),
    ("}", NONE),
    ("", NONE),
    ("// Cache guards orders.", NONE),
    ("type Cache struct {", NONE),
    (
        "\tmu     sync.Mutex",
        &[("lint", "a field nobody uses (U1000)")],
    ),
    ("\torders map[string]Order", NONE),
    ("}", NONE),
    ("", NONE),
    ("// Snapshot counts the cached orders.", NONE),
    (
        "func Snapshot(c Cache) int {",
        &[("lint", "a lock passed by value (copylocks)")],
    ),
    ("\treturn len(c.orders)", NONE),
    ("}", NONE),
    ("", NONE),
    ("// Client is the orders service's TLS configuration.", NONE),
    ("func Client() *tls.Config {", NONE),
    (
        "\treturn &tls.Config{InsecureSkipVerify: true}",
        &[("security", "TLS verification off")],
    ),
    ("}", NONE),
    ("", NONE),
    ("// Finish commits or rolls back.", NONE),
    ("func Finish(tx *sql.Tx, ok bool) {", NONE),
    ("\tif !ok {", NONE),
    ("\t\ttx.Rollback()", &[("errors", "ignored Rollback error")]),
    ("\t\treturn", NONE),
    ("\t}", NONE),
    ("\ttx.Commit()", &[("errors", "ignored Commit error")]),
    ("}", NONE),
];

const TOKEN: &[Marked] = &[
    ("package auth", &[("tests", "a new package without tests")]),
    ("", NONE),
    ("import (", NONE),
    ("\t\"math/rand\"", NONE),
    ("\t\"strconv\"", NONE),
    ("", NONE),
    ("\t\"example.com/corpus/pkg/errorx\"", NONE),
    (")", NONE),
    ("", NONE),
    (
        "const anthropicKey = \"sk-ant-api03-Qm9xV2hL8kZt4RwB7nYc1PdE6sJfUa3GvTq0XiMoKl5\"",
        &[("secrets", "an Anthropic key")],
    ),
    ("", NONE),
    (
        "var signingKey = []byte(\"Zx81kQp2Lm9vRt5sWy3uNb7c\")",
        &[("secrets", "a random signing key")],
    ),
    ("", NONE),
    ("// NewSession makes a session id.", NONE),
    ("func NewSession() string {", NONE),
    (
        "\treturn strconv.FormatInt(rand.Int63(), 36)",
        &[("security", "math/rand session id")],
    ),
    ("}", NONE),
    ("", NONE),
    ("// ResetCode makes a password reset code.", NONE),
    ("func ResetCode() string {", NONE),
    (
        "\treturn strconv.Itoa(100000 + rand.Intn(900000))",
        &[("security", "math/rand reset code")],
    ),
    ("}", NONE),
    ("", NONE),
    ("// Check validates a token.", NONE),
    ("func Check(s string) error {", NONE),
    ("\tif s == \"\" {", NONE),
    (
        "\t\treturn errorx.NewInvalidArgumentError(\"auth.tokenMissing\")",
        &[("i18n", "a key no locale has")],
    ),
    ("\t}", NONE),
    ("\tif len(s) < 8 {", NONE),
    (
        "\t\treturn errorx.NewInvalidArgumentError(\"auth.tokenTooShort\")",
        &[("i18n", "a key no locale has")],
    ),
    ("\t}", NONE),
    ("\treturn nil", NONE),
    ("}", NONE),
    ("", NONE),
    ("// Keys returns what signs and calls.", NONE),
    (
        "func Keys() (string, []byte) { return anthropicKey, signingKey }",
        NONE,
    ),
];

const NOTIFY: &[Marked] = &[
    (
        "package notify",
        &[("tests", "a new package without tests")],
    ),
    ("", NONE),
    ("import (", NONE),
    ("\t\"encoding/json\"", NONE),
    ("\t\"io\"", NONE),
    ("\t\"net/http\"", NONE),
    ("\t\"os\"", NONE),
    (")", NONE),
    ("", NONE),
    ("// Post writes a notification.", NONE),
    ("func Post(w io.Writer, v interface{}) {", NONE),
    ("\tenc := json.NewEncoder(w)", NONE),
    ("\tenc.Encode(v)", &[("errors", "ignored Encode error")]),
    ("}", NONE),
    ("", NONE),
    ("// Clean removes a spool file.", NONE),
    ("func Clean(path string) {", NONE),
    ("\tos.Remove(path)", &[("errors", "ignored Remove error")]),
    ("}", NONE),
    ("", NONE),
    ("// Serve serves notifications.", NONE),
    ("func Serve(addr string) {", NONE),
    ("\tn := 1", NONE),
    ("\tn = n", &[("lint", "self-assignment")]),
    ("\t_ = n", NONE),
    (
        "\thttp.ListenAndServe(addr, nil)",
        &[("errors", "ignored ListenAndServe error")],
    ),
    ("}", NONE),
];

const CORE_YAML: &[Marked] = &[
    ("Name: core.rpc", NONE),
    ("ListenOn: 0.0.0.0:9101", NONE),
    ("DatabaseConf:", NONE),
    ("  Host: 127.0.0.1", NONE),
    (
        "  Password: \"Pr0dDbPassw0rd!\"",
        &[("secrets", "a database password")],
    ),
    ("Aws:", NONE),
    (
        "  AccessKeyId: AKIA2E0A8F3B244C9986",
        &[("secrets", "an AWS access key id")],
    ),
    (
        "  SecretAccessKey: \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYzk3x9QwErT\"",
        &[("secrets", "an AWS secret access key")],
    ),
];

const ENV: &[Marked] = &[
    (
        "GITHUB_TOKEN=ghp_R7tYk2Lm9QwEr4TyU8iOp1AsDf6GhJk3Lz0X",
        &[("secrets", "a GitHub token")],
    ),
    (
        "STRIPE_SECRET_KEY=sk_live_51HqLyjWDarjtT1zdp7dcXaBc",
        &[("secrets", "a Stripe key")],
    ),
    ("LOG_LEVEL=info", NONE),
];

const PEM: &[Marked] = &[
    (
        "-----BEGIN RSA PRIVATE KEY-----",
        &[("secrets", "a private key")],
    ),
    (
        "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
        NONE,
    ),
    ("-----END RSA PRIVATE KEY-----", NONE),
];

const EN_BASE: &str = "{\n  \"common\": {\n    \"ok\": \"OK\"\n  }\n}\n";

const EN_HEAD: &[Marked] = &[
    ("{", NONE),
    ("  \"common\": {", NONE),
    ("    \"ok\": \"OK\"", NONE),
    ("  },", NONE),
    (
        "  \"extra\": \"only in en\"",
        &[("i18n", "a key only one locale has")],
    ),
    ("}", NONE),
];

const ERRORX: &str = "package errorx\n\nimport \"errors\"\n\n// NewInvalidArgumentError is an error with an i18n key.\nfunc NewInvalidArgumentError(key string) error {\n\treturn errors.New(key)\n}\n";

/// The corpus: base files, head files, the defects the head adds and those the base has.
pub fn corpus() -> Corpus {
    let mut pre = Vec::new();
    let store = build("pkg/store/store.go", STORE_BASE, &mut pre);
    let base: Vec<(String, String)> = vec![
        (
            "go.mod".into(),
            "module example.com/corpus\n\ngo 1.19\n".into(),
        ),
        ("pkg/store/store.go".into(), store),
        ("pkg/store/store_test.go".into(), STORE_TEST.into()),
        ("pkg/errorx/errorx.go".into(), ERRORX.into()),
        ("api/internal/i18n/locale/en.json".into(), EN_BASE.into()),
        (
            "api/internal/i18n/locale/zh.json".into(),
            "{\n  \"common\": {\n    \"ok\": \"好\"\n  }\n}\n".into(),
        ),
    ];
    let mut seeded = Vec::new();
    let mut head = Vec::new();
    for (path, lines) in [
        ("pkg/store/orders.go", ORDERS),
        ("pkg/auth/token.go", TOKEN),
        ("pkg/notify/notify.go", NOTIFY),
        ("etc/core.yaml", CORE_YAML),
        ("deploy/.env.production", ENV),
        ("certs/dev-key.pem", PEM),
        ("api/internal/i18n/locale/en.json", EN_HEAD),
    ] {
        head.push((path.to_string(), build(path, lines, &mut seeded)));
    }
    Corpus {
        base,
        head,
        seeded,
        preexisting: pre,
    }
}

/// One category's score.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Score {
    pub seeded: usize,
    pub found: usize,
    pub reported: usize,
    pub true_positives: usize,
}

impl Score {
    pub fn recall(&self) -> f64 {
        if self.seeded == 0 {
            1.0
        } else {
            self.found as f64 / self.seeded as f64
        }
    }
    pub fn precision(&self) -> f64 {
        if self.reported == 0 {
            1.0
        } else {
            self.true_positives as f64 / self.reported as f64
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Report {
    pub by_category: BTreeMap<String, Score>,
    pub total: Score,
    /// Seeded defects not found.
    pub missed: Vec<Seeded>,
    /// Findings on added lines that match no seeded defect: (file, line, category, rule).
    pub false_positives: Vec<(String, u32, String, String)>,
    /// Review comments on lines the pull request does not add, and pre-existing defects
    /// reported.
    pub on_unchanged: Vec<(String, u32, String)>,
    pub notes: Vec<String>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{:<10} {:>7} {:>6} {:>9} {:>8} {:>10}",
            "category", "seeded", "found", "reported", "recall", "precision"
        )?;
        for (c, s) in self
            .by_category
            .iter()
            .chain([(&"all".to_string(), &self.total)])
        {
            writeln!(
                f,
                "{:<10} {:>7} {:>6} {:>9} {:>7.0}% {:>9.0}%",
                c,
                s.seeded,
                s.found,
                s.reported,
                s.recall() * 100.0,
                s.precision() * 100.0
            )?;
        }
        writeln!(
            f,
            "reported on unchanged lines: {} (pre-existing defects in the base: {})",
            self.on_unchanged.len(),
            corpus().preexisting.len()
        )?;
        for m in &self.missed {
            writeln!(
                f,
                "  missed: {}:{} {} ({})",
                m.file, m.line, m.category, m.what
            )?;
        }
        for (file, line, c, rule) in &self.false_positives {
            writeln!(f, "  not seeded: {file}:{line} {c} {rule}")?;
        }
        for (file, line, what) in &self.on_unchanged {
            writeln!(f, "  on an unchanged line: {file}:{line} {what}")?;
        }
        Ok(())
    }
}

/// A host for a review run with no agent API: no LLM, progress dropped.
struct Quiet;

impl crate::agents::Host for Quiet {
    async fn progress(&self, _line: &str) -> Result<(), String> {
        Ok(())
    }
    async fn action(&self, _k: &str, _t: &str, _d: Option<&str>) -> Result<(), String> {
        Ok(())
    }
    async fn llm(
        &self,
        _r: &crate::llm::gateway::CompletionRequest,
    ) -> Result<Result<String, String>, crate::agents::HostError> {
        Ok(Err("the corpus is reviewed without an LLM".into()))
    }
}

/// Review the corpus' pull request (base `main`, head `feature`) in `dir` and score it.
pub async fn evaluate(dir: &Path) -> anyhow::Result<Report> {
    let c = corpus();
    let files: Vec<(&str, &str)> = c
        .base
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let bare = super::git_server::bare_repo_with(dir, "acme/corpus", "main", &files)?;
    let seed = dir.join("seed");
    super::git_server::git(
        dir,
        &["clone", "-q", bare.to_str().unwrap_or_default(), "seed"],
    )?;
    super::git_server::git(&seed, &["checkout", "-q", "-b", "feature"])?;
    for (p, t) in &c.head {
        let path = seed.join(p);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, t)?;
    }
    super::git_server::git(&seed, &["add", "-A"])?;
    super::git_server::git(&seed, &["commit", "-q", "-m", "feature"])?;
    super::git_server::git(&seed, &["push", "-q", "origin", "feature"])?;

    let params = ReviewerParams {
        checks: vec![
            ReviewCheck::Lint,
            ReviewCheck::I18n,
            ReviewCheck::Tests,
            ReviewCheck::Security,
        ],
        max_inline_comments: Some(500),
        ..Default::default()
    };
    let setup = run::Setup {
        workdir: dir.join("work"),
        github_api: String::new(),
        credentials: None,
    };
    let out = run::run_local(
        &Quiet,
        bare.to_str().unwrap_or_default(),
        "main",
        "feature",
        &params,
        &setup,
    )
    .await
    .map_err(|e| anyhow::anyhow!(e.message))?;
    Ok(score(&c, &out))
}

/// Score a review of the corpus.
pub fn score(c: &Corpus, out: &run::Outcome) -> Report {
    let mut r = Report {
        notes: out.notes.clone(),
        ..Report::default()
    };
    // The lines the pull request adds: every line of a head file that is new or changed.
    let mut added: BTreeSet<(String, u32)> = BTreeSet::new();
    for (path, text) in &c.head {
        let before: Vec<&str> = c
            .base
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, t)| t.lines().collect())
            .unwrap_or_default();
        for (i, l) in text.lines().enumerate() {
            if before.get(i) != Some(&l) {
                added.insert((path.clone(), i as u32 + 1));
            }
        }
    }
    let reported: Vec<&crate::agents::reviewer::finding::Finding> = out
        .findings
        .iter()
        .filter(|f| added.contains(&(f.file.clone(), f.line)))
        .collect();
    for s in &c.seeded {
        let e = r.by_category.entry(s.category.clone()).or_default();
        e.seeded += 1;
        if reported
            .iter()
            .any(|f| f.file == s.file && f.line == s.line && f.category == s.category)
        {
            e.found += 1;
        } else {
            r.missed.push(s.clone());
        }
    }
    for f in &reported {
        let e = r.by_category.entry(f.category.clone()).or_default();
        e.reported += 1;
        if c.seeded
            .iter()
            .any(|s| s.file == f.file && s.line == f.line && s.category == f.category)
        {
            e.true_positives += 1;
        } else {
            r.false_positives
                .push((f.file.clone(), f.line, f.category.clone(), f.rule.clone()));
        }
    }
    if let Some(review) = &out.review {
        for cm in &review.comments {
            if !added.contains(&(cm.path.clone(), cm.line as u32)) {
                r.on_unchanged
                    .push((cm.path.clone(), cm.line as u32, "a review comment".into()));
            }
        }
        for p in &c.preexisting {
            if review
                .comments
                .iter()
                .any(|cm| cm.path == p.file && cm.line as u32 == p.line)
            {
                r.on_unchanged
                    .push((p.file.clone(), p.line, format!("pre-existing: {}", p.what)));
            }
        }
    }
    for s in r.by_category.values() {
        r.total.seeded += s.seeded;
        r.total.found += s.found;
        r.total.reported += s.reported;
        r.total.true_positives += s.true_positives;
    }
    r
}
