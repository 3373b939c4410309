//! The parameter block of every agent. Exactly one of them is set on an `AgentJob`,
//! the one named by `spec.agent`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::patterns;

fn default_true() -> bool {
    true
}

// ---------------------------------------------------------------------------------------------
// generator
// ---------------------------------------------------------------------------------------------

/// `generator`: a complete Simple Admin Core CRUD module for one entity.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("anyOf" = [{"required": ["fields"]}, {"required": ["description"]}]))]
pub struct GeneratorParams {
    /// Entity name in CamelCase, e.g. `Department`.
    #[schemars(regex(pattern = patterns::ENTITY))]
    pub entity: String,
    /// Free-text description the LLM turns into fields and edges (when `fields` is empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 4000))]
    pub description: Option<String>,
    /// Explicit fields; when given, no LLM is needed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1, max = 100))]
    pub fields: Vec<EntityField>,
    /// Relations to other entities (a tree is an edge to itself).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub edges: Vec<EntityEdge>,
    /// Mixins from simple-admin-common; defaults to `[id, status]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub mixins: Vec<Mixin>,
    /// Database table name; defaults to `sys_<snake plural>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::SNAKE))]
    pub table_name: Option<String>,
    /// Logic/handler group folder; defaults to the lower-case entity name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::GROUP))]
    pub group: Option<String>,
    /// Display names for the i18n entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub i18n: Option<I18nNames>,
    /// Which files to produce; defaults to all of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<GeneratedFileKind>,
    /// The list request's filters, by field name (the entity's own fields and the mixins'
    /// `status`, `state`, `sort`, `remark` …): strings filter by `Contains`, numbers, bools and
    /// UUIDs by equality; time fields cannot be filters. Default: the required string fields,
    /// then `status` and `state` when their mixins are there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 20), inner(regex(pattern = patterns::SNAKE)))]
    pub list_filters: Option<Vec<String>>,
    /// The entity's names are i18n keys the API translates (like Simple Admin Core's menus
    /// and dictionaries): its `.api` Info type gets `Trans string \`json:"trans,optional"\``.
    #[serde(default)]
    pub translated: bool,
    /// Replace an existing module of the same entity.
    #[serde(default)]
    pub overwrite: bool,
    /// Commands run in the workspace after generation; defaults to
    /// `make gen-ent`, `make gen-rpc`, `make gen-api`, `make test`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 20), inner(length(min = 1, max = 512)))]
    pub commands: Option<Vec<String>>,
}

/// One Ent field.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntityField {
    /// snake_case field name.
    #[schemars(regex(pattern = patterns::SNAKE))]
    pub name: String,
    #[serde(rename = "type")]
    pub type_: FieldType,
    #[serde(default)]
    pub optional: bool,
    #[serde(default)]
    pub unique: bool,
    /// Default value as Go literal text (`0`, `"x"`, `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub default: Option<String>,
    /// Comment, `English | 中文` by convention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub comment: Option<String>,
    /// go-playground validate tag for the API type, e.g. `omitempty,min=1,max=50`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub validation: Option<String>,
}

/// Ent field types the templates know.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    String,
    Text,
    Bool,
    Int,
    Int32,
    Int64,
    Uint8,
    Uint32,
    Uint64,
    Float,
    Time,
    Uuid,
}

/// One Ent edge.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntityEdge {
    /// Edge name, e.g. `children`.
    #[schemars(regex(pattern = patterns::SNAKE))]
    pub name: String,
    /// `to` declares the edge; `from` is its inverse.
    #[serde(rename = "type")]
    pub type_: EdgeType,
    /// Target entity (CamelCase); the entity itself for trees.
    #[schemars(regex(pattern = patterns::ENTITY))]
    pub target: String,
    /// Inverse edge name (`parent` for a tree's `children`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::SNAKE))]
    pub inverse: Option<String>,
    /// Foreign-key field the edge is bound to, e.g. `parent_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::SNAKE))]
    pub field: Option<String>,
    #[serde(default)]
    pub unique: bool,
    #[serde(default)]
    pub required: bool,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EdgeType {
    To,
    From,
}

/// Mixins from `simple-admin-common/orm/ent/mixins`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Mixin {
    Id,
    Uuid,
    Status,
    State,
    Sort,
    Remark,
    Tenant,
    CreatedBy,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct I18nNames {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub en: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub zh: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GeneratedFileKind {
    Ent,
    Proto,
    Api,
    Logic,
    I18n,
}

// ---------------------------------------------------------------------------------------------
// reviewer
// ---------------------------------------------------------------------------------------------

/// `reviewer`: one review per pull request.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewerParams {
    /// Pull request number.
    #[schemars(range(min = 1))]
    pub pull_request: i64,
    /// `owner/name`; defaults to the repository of `spec.repository`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::GITHUB_REPO))]
    pub repo: Option<String>,
    /// Head commit to review; pins the review (and any approval) to exactly this commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::GIT_SHA))]
    pub head_sha: Option<String>,
    /// Sources of findings; defaults to all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<ReviewCheck>,
    /// Post the review on the pull request (otherwise only the job result holds it).
    #[serde(default = "default_true")]
    pub auto_comment: bool,
    /// Which findings become inline comments, like reviewdog's filter modes.
    #[serde(default)]
    pub filter_mode: FilterMode,
    /// Cap on inline comments per review, highest severity first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 200))]
    pub max_inline_comments: Option<i32>,
    /// Post REQUEST_CHANGES when a finding has at least this severity (otherwise COMMENT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_changes_at: Option<Severity>,
    /// Run the pull request's tests (`go test`) when it comes from a fork. Off by default:
    /// they are the fork author's code. (Pull-request tests always run in an isolated sandbox
    /// Pod: no token, no Secret, no network.)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub run_fork_code: bool,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReviewCheck {
    Lint,
    I18n,
    Tests,
    Security,
    Llm,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FilterMode {
    #[default]
    Added,
    DiffContext,
    File,
    Nofilter,
}

#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

// ---------------------------------------------------------------------------------------------
// deployer
// ---------------------------------------------------------------------------------------------

/// `deployer`: roll a version out to an environment, smoke-test it, roll back on failure.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeployerParams {
    /// Environment name from the operator's environment configuration.
    #[schemars(regex(pattern = patterns::DNS_LABEL), length(max = 63))]
    pub environment: String,
    /// Image tag to roll out, e.g. `v1.7.2`.
    #[schemars(regex(pattern = patterns::IMAGE_TAG))]
    pub version: String,
    /// Services to update (default: every service of the environment, in its order).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20), inner(regex(pattern = patterns::DNS_LABEL)))]
    pub services: Vec<String>,
    /// `native` patches Deployments; `gitops` commits the tag for Argo CD / Flux.
    #[serde(default)]
    pub mode: DeployMode,
    /// Build the images before rolling out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<ImageBuild>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeployMode {
    #[default]
    Native,
    Gitops,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageBuild {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Builder image (Kaniko's executor by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub builder_image: Option<String>,
    /// Git ref to build; defaults to the version tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub git_ref: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// doc-sync
// ---------------------------------------------------------------------------------------------

/// `doc-sync`: keep swagger, marked doc sections, the changelog and Notion in step with the API.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocSyncParams {
    /// Compare from this ref (defaults to the repository's base branch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::BRANCH))]
    pub base_ref: Option<String>,
    /// Compare to this ref (defaults to the base branch's head).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::BRANCH))]
    pub head_ref: Option<String>,
    /// Or take the change from a pull request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub pull_request: Option<i64>,
    /// What to update; defaults to all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<DocTarget>,
    /// Files with marked sections to refresh (default `CLAUDE.md`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50), inner(regex(pattern = patterns::REL_PATH)))]
    pub doc_files: Vec<String>,
    /// Changelog file (default `CHANGELOG.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::REL_PATH))]
    pub changelog_file: Option<String>,
    /// The Makefile target that regenerates the Swagger file (default: `gen-swagger` when
    /// the Makefile has it, else `gen-api`, which runs goctls' `api swagger` in Simple Admin
    /// Core).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"))]
    pub swagger_target: Option<String>,
    /// The Swagger 2.0 file that target writes (default: the one JSON file of the repository
    /// that declares `"swagger": "2.0"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::REL_PATH))]
    pub swagger_file: Option<String>,
    /// The service's API page in Notion, created under a parent page and updated in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notion: Option<DocNotion>,
}

/// Where doc-sync keeps a service's API page in Notion.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocNotion {
    /// Secret in the job's namespace whose key `token` is the Notion integration's token
    /// (mounted into the agent's Pod only).
    #[schemars(regex(pattern = patterns::DNS_SUBDOMAIN), length(max = 253))]
    pub secret: String,
    /// The page the service's API page lives under (found there by its title, `<Service>
    /// API`, or created).
    #[schemars(regex(pattern = r"^[0-9a-fA-F-]{32,36}$"))]
    pub parent_page_id: String,
    /// Notion API base URL (default `https://api.notion.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://[^\s]+$"), length(max = 512))]
    pub api_url: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DocTarget {
    Swagger,
    Docs,
    Changelog,
    Notion,
}

// ---------------------------------------------------------------------------------------------
// test-gen
// ---------------------------------------------------------------------------------------------

/// `test-gen`: table-driven Go tests until the coverage target is met.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestGenParams {
    /// Go package directories, relative to the repository root; `...` and `dir/...` are every
    /// package under the root or under `dir`, as for `go test`.
    #[schemars(length(min = 1, max = 50), inner(regex(pattern = patterns::GO_PACKAGE)))]
    pub packages: Vec<String>,
    /// Only these functions (`Func` or `Type.Method`); default: every exported one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 200), inner(regex(pattern = patterns::GO_FUNC)))]
    pub functions: Vec<String>,
    /// Coverage to reach, in percent (plan: 70).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub coverage_target: Option<i32>,
    /// Generate mocks for interface dependencies.
    #[serde(default = "default_true")]
    pub mocks: bool,
    /// Rounds of asking for tests of the functions still below full coverage (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10))]
    pub max_rounds: Option<i32>,
}

// ---------------------------------------------------------------------------------------------
// migrator
// ---------------------------------------------------------------------------------------------

/// `migrator`: versioned forward + rollback SQL from an Ent schema change.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MigratorParams {
    /// Migration name, snake_case (`add_department`).
    #[schemars(regex(pattern = patterns::SNAKE))]
    pub name: String,
    /// Schema before the change (branch, tag or commit; default: the base branch, or its
    /// previous commit when toRef is the base branch too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::BRANCH))]
    pub from_ref: Option<String>,
    /// Schema after the change (branch, tag or commit; default: the base branch). The
    /// migration's branch starts here, and its pull request goes into it when it is a branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::BRANCH))]
    pub to_ref: Option<String>,
    #[serde(default)]
    pub dialect: SqlDialect,
    #[serde(default)]
    pub format: MigrationFormat,
    /// Directory of migration files (default `rpc/migrations`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::REL_PATH))]
    pub directory: Option<String>,
    /// Validate forward, rollback and forward again on a real database.
    #[serde(default = "default_true")]
    pub validate: bool,
    /// Foreign-key constraints for the edges (`ON DELETE SET NULL`, added `NOT VALID`, then
    /// validated in a step of their own). Off by default: Simple Admin Core migrates without
    /// them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub foreign_keys: bool,
    /// Secret holding `DATABASE_URL` of the validation database (mounted read-only; without
    /// it, a throwaway local PostgreSQL where the agent runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::DNS_SUBDOMAIN), length(max = 253))]
    pub database_secret: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SqlDialect {
    #[default]
    Postgres,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MigrationFormat {
    /// `<version>_<name>.up.sql` / `.down.sql` pairs.
    #[default]
    GolangMigrate,
    /// `<version>_<name>.sql` files and `atlas.sum`.
    Atlas,
}

// ---------------------------------------------------------------------------------------------
// spec-writer
// ---------------------------------------------------------------------------------------------

/// `spec-writer`: spec.md / plan.md / tasks.md in spec-kit format.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpecWriterParams {
    /// Feature slug, e.g. `department-management`.
    #[schemars(regex(pattern = patterns::DNS_LABEL), length(max = 63))]
    pub feature: String,
    /// The requirements as the user wrote them.
    #[schemars(length(min = 10, max = 20000))]
    pub requirements: String,
    /// Answers to the CLI's prompts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub answers: Vec<SpecAnswer>,
    /// Where the files go (default `specs/<feature>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::REL_PATH))]
    pub output_dir: Option<String>,
    /// The tasks as rows of a Notion database (with their dependencies as relations), linked
    /// to a page of the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notion: Option<SpecNotion>,
}

/// Where spec-writer puts the spec page and the task rows in Notion. The database needs a
/// title property `Name`, a relation to itself `Depends on`, and a URL property `Spec`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpecNotion {
    /// Secret in the job's namespace whose key `token` is the Notion integration's token.
    #[schemars(regex(pattern = patterns::DNS_SUBDOMAIN), length(max = 253))]
    pub secret: String,
    /// The tasks' database (or one of its data sources).
    #[schemars(regex(pattern = r"^[0-9a-fA-F-]{32,36}$"))]
    pub database_id: String,
    /// The page the spec's page is created under.
    #[schemars(regex(pattern = r"^[0-9a-fA-F-]{32,36}$"))]
    pub parent_page_id: String,
    /// Notion API base URL (default `https://api.notion.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://[^\s]+$"), length(max = 512))]
    pub api_url: Option<String>,
}

/// A clarifying question: 2–5 options to choose from, or none for a short free answer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct SpecQuestion {
    #[schemars(length(min = 1, max = 1000))]
    pub question: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5), inner(length(max = 200)))]
    pub options: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct SpecAnswer {
    #[schemars(length(min = 1, max = 1000))]
    pub question: String,
    #[schemars(length(max = 10000))]
    pub answer: String,
}

// ---------------------------------------------------------------------------------------------
// probe
// ---------------------------------------------------------------------------------------------

/// `probe`: the built-in diagnostic agent (health checks, benchmarks, tests).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProbeParams {
    /// Sleep this long before finishing.
    #[serde(default)]
    #[schemars(range(min = 0, max = 86_400_000))]
    pub sleep_ms: i64,
    /// Exit with this code (0 success; see the runner's exit-code contract).
    #[serde(default)]
    #[schemars(range(min = 0, max = 255))]
    pub exit_code: i32,
    /// Produce a result of this many bytes.
    #[serde(default)]
    #[schemars(range(min = 0, max = 104_857_600))]
    pub result_bytes: i64,
    /// Exit with the runner's transient code (75) on the first this-many attempts, then
    /// behave as configured (exercises retries).
    #[serde(default)]
    #[schemars(range(min = 0, max = 10))]
    pub fail_attempts: i32,
    /// Ask the LLM gateway this (exercises the gateway end to end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4000))]
    pub llm_prompt: Option<String>,
    /// Ask `llmPrompt` through the streaming endpoint (the provider's stream passed through).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub llm_stream: bool,
    /// Ask for an approval of this pinned action mid-run and wait for the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ProbeApproval>,
    /// Message to report (summary or failure reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub message: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProbeApproval {
    /// The action to approve (`deploy`, `git_push` …).
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_-]{0,30}$"))]
    pub action: String,
    /// The content digest the approval pins.
    #[schemars(regex(pattern = patterns::DIGEST))]
    pub digest: String,
}
