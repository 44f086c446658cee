//! The typed form of a rule pack: `pack.yaml` and one struct per file `kind`.
//!
//! These structs are the source of truth for `schemas/rule-pack.schema.json`
//! (generated with schemars; `rules schemas --check` fails when the file is stale).
//! Unknown fields are rejected everywhere so that a misspelt key is a located error,
//! never a silently ignored rule.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Signal types and aggregations are the normalizer's vocabulary; packs name them.
pub use crate::normalize::{Aggregate, SignalType};

/// `pack.yaml`: what the pack is and which inferguard versions can load it.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackManifest {
    /// Pack id, lowercase (`vllm`, `lmcache`). A pack given with `--rules` replaces
    /// the embedded pack with the same id.
    pub id: String,
    /// Semantic version of the pack; bump it when a rule changes behaviour.
    pub version: String,
    pub requires: Requires,
    /// One or two sentences for `rules list`.
    pub description: String,
    /// Upstream releases the pack was written against, e.g. `vllm: "0.33.0"`.
    #[serde(default)]
    pub upstream: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Requires {
    /// A semver requirement on the inferguard version, e.g. `">=0.1, <0.2"`.
    pub inferguard: String,
}

/// The file kinds a pack may hold, one kind per file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Engine,
    Findings,
    Families,
    Modes,
    Logs,
    HttpRoutes,
    Catalogue,
    Launch,
    Context,
    Conditions,
    Otel,
}

impl FileKind {
    pub const ALL: [FileKind; 11] = [
        FileKind::Engine,
        FileKind::Findings,
        FileKind::Families,
        FileKind::Modes,
        FileKind::Logs,
        FileKind::HttpRoutes,
        FileKind::Catalogue,
        FileKind::Launch,
        FileKind::Context,
        FileKind::Conditions,
        FileKind::Otel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Engine => "engine",
            FileKind::Findings => "findings",
            FileKind::Families => "families",
            FileKind::Modes => "modes",
            FileKind::Logs => "logs",
            FileKind::HttpRoutes => "http_routes",
            FileKind::Catalogue => "catalogue",
            FileKind::Launch => "launch",
            FileKind::Context => "context",
            FileKind::Conditions => "conditions",
            FileKind::Otel => "otel",
        }
    }
}

/// `kind: catalogue` — every upstream series the pack reads, each spelled once:
/// the current name, the spellings upstream used before, type, unit and labels.
/// Everything else in the packs refers to an entry as `${id}` (own pack) or
/// `${pack.id}` (another pack's catalogue), never by its spelling.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogueFile {
    pub kind: FileKind,
    pub metrics: Vec<CatalogueEntry>,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogueEntry {
    /// Stable id, lowercase snake_case, unique in the pack; never an upstream spelling.
    pub id: String,
    /// The current upstream name, exactly as exposed (counters as the rules matched
    /// them before: with or without `_total`, both spellings match).
    pub name: String,
    /// Older spellings of the same series, newest first; a reference in `metrics:`
    /// also matches them, reported as legacy.
    #[serde(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<CatalogueAlias>,
    /// The series type, when known; a signal that refers to the entry must agree.
    #[serde(rename = "type")]
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<SignalType>,
    /// Unit of the value (`seconds`, `tokens`, `ratio`, `bytes`).
    #[serde(default)]
    pub unit: String,
    /// Label keys of interest on this series.
    #[serde(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// The upstream release that removed the series without a successor; such an
    /// entry is only referred to from `legacy:` lists.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_in: Option<String>,
    #[serde(default)]
    pub description: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogueAlias {
    pub name: String,
    /// The upstream release that renamed it (`vLLM 0.10.0`, `LMCache 0.3.9`), or
    /// `unknown` when the history is not known.
    pub renamed_in: String,
}

/// `kind: conditions` — boolean expressions a pack names once and reads in several
/// places by id, as a variable: findings' `when`, families' `applies_when` and
/// `required_when`, mode, candidate and architecture rules, derived facts. Each is
/// expanded where it is read, at load time.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionsFile {
    pub kind: FileKind,
    pub conditions: Vec<ConditionDef>,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionDef {
    /// The variable name, snake_case, unique in the pack and not the name of a
    /// signal, fact or other variable.
    pub id: String,
    /// One Rhai expression (no `let` or `;`) over any variable the packs offer and
    /// the conditions declared before it in the pack. It may be read only where
    /// every variable it reads is available.
    pub when: String,
    pub description: String,
}

/// `kind: engine` — one serving system: how to recognise it and where its signals live.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EngineFile {
    pub kind: FileKind,
    pub engine: EngineDef,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EngineDef {
    /// Engine id as used by `--engine` and by findings' `engines:` (`vllm`, `sglang`).
    pub id: String,
    /// Display name (`vLLM`).
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// What the system is in a serving stack; shown beside each detection.
    pub role: SystemRole,
    pub detection: Detection,
    /// Labels that identify a model or engine instance (`model_name`, `engine`).
    #[serde(default)]
    pub identity_labels: Vec<String>,
    /// The label that names a data-parallel rank (each engine pack says which): gauge and
    /// counter signals are also computed per rank (each rank by the signal's own
    /// aggregation), offering `X_ranks`, `X_rank_max`, `X_by_rank`, … to findings.
    #[serde(default)]
    pub rank_label: Option<String>,
    /// Labels that identify one request or session on latency families; their
    /// presence makes the endpoint `per_session` rather than `aggregate_only`.
    #[serde(default)]
    pub session_labels: Vec<String>,
    /// Label keys that carry the KV-transfer connector name.
    #[serde(default)]
    pub connector_labels: Vec<String>,
    /// Canonical signal name (`ttft`, `queue_waiting`, ...) to where it is exported.
    pub signals: BTreeMap<String, SignalDef>,
    /// What `summarize` reports for this engine beyond each family's statistics.
    #[serde(default)]
    pub summary: EngineSummaryDef,
    /// How the engine is scraped, where that differs from a plain `/metrics`.
    #[serde(default)]
    pub scrape: EngineScrapeDef,
}

/// Where a live collector finds the engine's exposition when the URL it was given
/// answers something else.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EngineScrapeDef {
    /// Paths (`/prometheus/metrics`) tried in order, with GET on the same scheme,
    /// host and port, when a metrics URL answers JSON instead of exposition text
    /// (some engines serve JSON statistics at `/metrics` and Prometheus text
    /// elsewhere). Absolute paths without a query or fragment.
    #[serde(default)]
    pub alternative_paths: Vec<String>,
}

/// The engine's latency breakdown and its cross-backend equivalents, read from the
/// window forms of its signals.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EngineSummaryDef {
    /// Histogram signals that decompose a request's latency, in the order a request
    /// passes them (queue, prefill, decode, ...).
    #[serde(default)]
    pub breakdown: Vec<String>,
    /// Equivalent id (`ttft`, `itl`, `e2e`, `queue_depth`, `kv_usage`,
    /// `prefix_hit_ratio`) to how this engine measures it. The same id across
    /// engines means the same quantity.
    #[serde(default)]
    pub equivalents: BTreeMap<String, EquivalentDef>,
}

/// One cross-backend quantity: a signal's window forms, or one number computed
/// from window variables (`prefix_cache_hits_delta / prefix_cache_queries_delta`).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EquivalentDef {
    #[serde(default)]
    pub signal: Option<String>,
    #[serde(default)]
    pub expr: Option<String>,
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub description: String,
}

/// The part a detected system plays; one scrape may hold several (a Dynamo vLLM
/// worker serves `dynamo_component_*`, `vllm:*` and `lmcache:*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SystemRole {
    /// An inference engine (vLLM, SGLang, TensorRT-LLM).
    Engine,
    /// A KV cache layer (LMCache embedded or MP server, KVBM).
    KvCache,
    /// A cache or cluster coordinator (LMCache coordinator).
    Coordinator,
    /// An HTTP frontend in front of workers (Dynamo frontend).
    Frontend,
    /// A request router (Dynamo router).
    Router,
    /// A worker runtime wrapping an engine (Dynamo component).
    WorkerRuntime,
    /// A gateway / endpoint picker (llm-d EPP, Gateway API inference extension).
    Gateway,
    /// A KV-cache indexer (llm-d).
    KvIndexer,
    /// A general inference server (Triton).
    InferenceServer,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Detection {
    /// Evidence items; the engine's confidence is the noisy-or of the weights of the
    /// items that matched: `1 - Π(1 - weight)`.
    pub evidence: Vec<DetectionEvidence>,
    /// Report the engine when its confidence reaches this value.
    #[serde(default = "default_min_confidence")]
    pub min_confidence: f64,
}

fn default_min_confidence() -> f64 {
    0.5
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DetectionEvidence {
    /// A name pattern: an exact name, a glob (`vllm:*`) or an anchored regex (`re:^vllm:.*$`).
    #[serde(rename = "match")]
    pub pattern: String,
    /// How much one match of this item proves, in (0, 1].
    pub weight: f64,
    /// A spelling upstream no longer exports (weak evidence, reported as legacy).
    #[serde(default)]
    pub legacy: bool,
    /// Why this item is evidence, shown with the detection.
    #[serde(default)]
    pub note: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalDef {
    pub description: String,
    #[serde(rename = "type")]
    pub kind: SignalType,
    /// Unit of the value (`seconds`, `tokens`, `ratio`).
    #[serde(default)]
    pub unit: String,
    /// Family names or patterns, newest upstream spelling first. Counters are named
    /// without `_total`; histograms without `_bucket`/`_sum`/`_count`.
    pub metrics: Vec<String>,
    /// Spellings upstream removed or renamed; matched only when no current one is
    /// present, and reported as `legacy`.
    #[serde(default)]
    pub legacy: Vec<String>,
    /// Combination over series; defaults to `sum` for counters and histograms and
    /// `max` for gauges.
    #[serde(default)]
    pub aggregate: Option<Aggregate>,
    /// Only series whose labels have these exact values.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Also report the value per distinct combination of these labels (e.g.
    /// `[model_name]`); rules still read the aggregate over all series, and
    /// `<signal>_by` as a map from the labels' values to the value.
    #[serde(default)]
    pub group_by: Vec<String>,
    /// Counters only: sibling signals of the same engine whose movement proves the
    /// exporter is live. When this counter has no series but one of them is present
    /// with a non-zero value, the counter reads as 0 (marked `absent_as_zero`), as
    /// for an exporter that creates a series on its first increment; when the
    /// siblings are absent or zero too, the signal stays missing.
    #[serde(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub absent_is_zero_when: Vec<String>,
    /// Info signals only: the value is this label's value read as a number (the
    /// highest when several series carry it), e.g. `block_size` of a cache-config
    /// info series; without it an info signal reads 1.
    #[serde(default)]
    pub value_label: Option<String>,
}

/// `kind: findings` — diagnostics, each with its docs and its own test cases.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingsFile {
    pub kind: FileKind,
    pub findings: Vec<FindingDef>,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// How strongly the evidence supports a finding (the seeds' wording).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceLevel {
    Supported,
    Partial,
    MissingSignal,
    InferredWithoutEngineMetrics,
}

impl EvidenceLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceLevel::Supported => "supported",
            EvidenceLevel::Partial => "partial",
            EvidenceLevel::MissingSignal => "missing_signal",
            EvidenceLevel::InferredWithoutEngineMetrics => "inferred_without_engine_metrics",
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingDef {
    /// Unique, lowercase snake_case, stable: CI gates and dashboards key on it.
    pub code: String,
    /// A short title for tables.
    pub title: String,
    pub severity: Severity,
    pub evidence_level: EvidenceLevel,
    /// Engines this finding reads signals of; it is evaluated once per detected
    /// engine in the list. Empty: evaluated once per endpoint over facts and the
    /// signals of every detected engine.
    #[serde(default)]
    pub engines: Vec<String>,
    /// Signals that must be present; every signal the `when` expression reads is
    /// required as well.
    #[serde(default)]
    pub requires: Vec<String>,
    /// When it fires, the finding is a failure reason for these `--fail-on` modes
    /// (`missing_required`, `mode_mismatch`).
    #[serde(default)]
    pub fail_on: Vec<String>,
    /// Thresholds, visible to `when` and `message` as variables; overridable with
    /// `--rule-config`.
    #[serde(default)]
    pub params: BTreeMap<String, f64>,
    /// Named lists of name patterns (`${id}`, globs, `re:` regexes), visible to
    /// `when` and `message` as variables: how many families of the scrape match
    /// one pattern of the list (the latest scrape of each endpoint).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub patterns: BTreeMap<String, Vec<String>>,
    /// `endpoint`: evaluated on every scrape on its own (check, path-trace).
    /// `deployment`: evaluated once over all scrapes and evidence of one deployment
    /// (lmcache-compat, check on a packet), for rules that compare several
    /// endpoints (an MP connector on the engine, the MP server elsewhere).
    #[serde(default)]
    pub scope: Scope,
    /// Rhai expression over signals, facts and params: when it is false, the
    /// surface the finding judges does not exist here and the finding is
    /// `not_applicable`. Evaluated only when every variable it reads is present;
    /// otherwise the finding is evaluated as if it held.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applies_when: Option<String>,
    /// Rhai expression over signals, facts and params; `true` means the finding fires.
    pub when: String,
    /// Message template: `{expr}`, `{expr:.2}` (decimals), `{expr:pct}` (percent),
    /// `{expr:count}` (thousands separators) or `{expr:duration}` (seconds in µs, ms,
    /// s, min or h).
    pub message: String,
    pub remediation: String,
    /// A question for the upstream project that this finding raises when it fires
    /// (listed under `upstream_questions` in the lmcache-compat report).
    #[serde(default)]
    pub upstream_question: Option<String>,
    /// What it means, why it matters, how it is computed (Markdown).
    pub docs: String,
    /// Codes of findings this one is the cause of: when both fire, reports list this
    /// one first and mark the others `explained_by` it (a full KV cache explains the
    /// queue it causes).
    #[serde(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub explains: Vec<String>,
    /// The rule's own cases: at least one `fires` and one `quiet`.
    #[serde(default)]
    pub tests: Vec<RuleTest>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    Fires,
    Quiet,
    NotEvaluable,
    NotApplicable,
}

impl Expect {
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Fires => "fires",
            Expect::Quiet => "quiet",
            Expect::NotEvaluable => "not_evaluable",
            Expect::NotApplicable => "not_applicable",
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleTest {
    pub name: String,
    /// Inline Prometheus exposition text.
    #[serde(default)]
    pub prom: Option<String>,
    /// A fixture file, relative to the pack's project root (`<pack>/../..`), without
    /// `..`; a regular file of at most 16 MiB. Read only by `rules validate` and
    /// `rules test`.
    #[serde(default)]
    pub fixture: Option<String>,
    /// Force the engine as `--engine` would.
    #[serde(default)]
    pub engine: Option<String>,
    /// Operator flags and evidence files, as `lmcache-compat` takes them.
    #[serde(default)]
    pub context: Option<CaseContext>,
    /// Several scrapes of one endpoint, for rules that read window forms
    /// (`_delta`, `_rate`, `_avg`, `_window_p90`, …), or of several endpoints (each
    /// scrape naming its `endpoint`); instead of `prom`/`fixture`.
    #[serde(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scrapes: Vec<TestScrape>,
    pub expect: Expect,
    /// With `expect: fires` on an endpoint-scope finding: exactly the endpoints
    /// (the scrapes' `endpoint` names) it fires on.
    #[serde(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<String>,
}

/// One scrape of a multi-scrape rule test case.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestScrape {
    /// The endpoint the scrape is of, when the case has several; give it on every
    /// scrape of the case or on none (then all are one endpoint).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Seconds since the case's first scrape.
    pub at: f64,
    /// Inline Prometheus exposition text.
    #[serde(default)]
    pub prom: Option<String>,
    /// A fixture file, as for a case's `fixture`.
    #[serde(default)]
    pub fixture: Option<String>,
}

/// The operator context of a rule test case: values by context flag id (checked
/// against the declared flags at load), and evidence files.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
pub struct CaseContext {
    /// Evidence files by kind, paths as for `fixture`.
    #[serde(default)]
    pub evidence: BTreeMap<EvidenceKind, String>,
    /// Context flag values by id (`expect_mode: embedded`, `l2_configured: true`).
    #[serde(flatten)]
    pub values: BTreeMap<String, serde_json::Value>,
}

/// `kind: families` — observable surfaces and the metric families that make them up,
/// for coverage and compatibility.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FamiliesFile {
    pub kind: FileKind,
    pub surfaces: Vec<SurfaceDef>,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SurfaceDef {
    /// Surface id, unique across packs (`lmcache_mp`, `vllm_prefix_cache`).
    pub id: String,
    pub title: String,
    /// Rhai over the context: when false, every family is `not_applicable`.
    #[serde(default = "default_true")]
    pub applies_when: String,
    pub families: Vec<FamilyDef>,
}

fn default_true() -> String {
    "true".to_owned()
}

fn default_false() -> String {
    "false".to_owned()
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FamilyDef {
    /// Family id, unique within its surface.
    pub id: String,
    pub description: String,
    /// Name patterns of the current upstream spelling. Counters without `_total`
    /// also match their `_total` samples; histograms match `_bucket`/`_sum`/`_count`.
    /// Empty for a family upstream removed (then `legacy` names it).
    pub metrics: Vec<String>,
    /// Older spellings; a match sets the family's spelling to `legacy`.
    #[serde(default)]
    pub legacy: Vec<String>,
    /// Rhai over the context: the family counts only when this holds (L2 families
    /// only with `l2_configured`); otherwise it is `not_applicable`.
    #[serde(default = "default_true")]
    pub applies_when: String,
    /// Rhai over the context: when true (and applicable) a `missing` family is a
    /// failure under `--fail-on missing-required`. Default: optional.
    #[serde(default = "default_false")]
    pub required_when: String,
    /// Thinned by a sample rate (lifecycle histograms): never required, sparsity is
    /// explained with the rate.
    #[serde(default)]
    pub sampled: bool,
    /// Appears only with a kind of traffic (throughput, failures): never required.
    #[serde(default)]
    pub traffic_dependent: bool,
    /// Exported from process start, before any traffic (EventBus self-metrics, boot
    /// gauges). A surface where only boot families are present and required
    /// non-boot ones are missing has seen no traffic yet, rather than broken metrics.
    #[serde(default)]
    pub boot: bool,
    /// The upstream release that introduced or renamed it (`LMCache 0.5.6`).
    #[serde(default)]
    pub since: String,
}

/// `kind: modes` — what is observed (indicators), which LMCache mode and
/// architecture that proves, and how connector names classify.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModesFile {
    pub kind: FileKind,
    #[serde(default)]
    pub indicators: Vec<IndicatorDef>,
    #[serde(default)]
    pub connectors: Option<ConnectorsDef>,
    /// First rule that holds gives the detected mode; none: `unknown`.
    #[serde(default)]
    pub modes: Vec<ModeRule>,
    /// Every rule that holds adds a candidate (`p2p`, `disaggregated_prefill`, …).
    #[serde(default)]
    pub candidates: Vec<CandidateRule>,
    /// First rule that holds gives the architecture label; none: `unknown`.
    #[serde(default)]
    pub architectures: Vec<ArchitectureRule>,
    /// What the analysis reads beyond families, its derived facts and report section.
    /// An object when given (not `anyOf` object or null), so a mistake inside it
    /// is reported at its own field rather than at `/observability`.
    #[serde(default)]
    #[schemars(with = "ObservabilityDef")]
    pub observability: Option<ObservabilityDef>,
}

/// What the compatibility analysis reads beyond families and indicators, the facts
/// it derives and the report section it writes: names of the outside world, so
/// they live in the modes pack, not in the core.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObservabilityDef {
    /// The key of the report section `fields` make up, inside the analysis.
    pub section: String,
    /// The family carrying the OTel resource (`target_info`) and the label keys of
    /// the service instance id on it: their values are `instance_ids`.
    pub service_instance_family: String,
    pub service_instance_labels: Vec<String>,
    /// Label keys whose distinct values expressions read (`label_values`,
    /// `label_value_lists`).
    #[serde(default)]
    pub labels: Vec<String>,
    /// Series whose names start with one of these and that no family matches are
    /// listed as unmapped.
    pub unmapped_prefixes: Vec<String>,
    /// Signal-name prefixes of the report's L2 and CacheBlend summaries.
    pub l2_signal_prefix: String,
    pub cacheblend_signal_prefix: String,
    /// Facts derived from the analysis, in order: each is a variable of findings,
    /// of the facts after it and of `fields`.
    #[serde(default)]
    pub derived: Vec<DerivedFactDef>,
    /// Surfaces that have seen no traffic yet, from a derived fact.
    #[serde(default)]
    pub no_traffic: Option<NoTrafficDef>,
    /// The fields of the report section, in order.
    #[serde(default)]
    pub fields: Vec<ReportFieldDef>,
}

/// Which surfaces have seen no traffic yet: the report's `no_traffic_yet` holds
/// when the list is not empty, and their missing families that are not boot-time
/// say `reason` instead of looking broken.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoTrafficDef {
    /// A derived fact whose value is the list of those surfaces' ids.
    pub surfaces: String,
    pub reason: String,
}

/// One field of the report section: a key, a Rhai value and the JSON type it is
/// written as.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportFieldDef {
    /// The JSON key (snake_case, unique in the section).
    pub key: String,
    /// Rhai over everything a derived fact reads, and the derived facts.
    pub value: String,
    #[serde(rename = "type")]
    pub ty: ReportFieldType,
    /// Left out of the section when the value is unset (`()`), instead of `null`.
    #[serde(default)]
    pub optional: bool,
    /// A `string_list` keeps at most this many items.
    #[serde(default)]
    pub limit: Option<usize>,
}

/// How a report field is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportFieldType {
    /// A whole number (`3`), from any number.
    Integer,
    /// A floating-point number (`10000.0`, `0.01`).
    Number,
    Bool,
    String,
    /// A list of strings.
    StringList,
}

/// A fact computed from the analysis by a pack expression.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DerivedFactDef {
    /// The variable name (snake_case, unique among variables).
    pub id: String,
    pub description: String,
    /// Rhai over context, mode variables, compatibility facts, the analysis maps
    /// (`family_series`, `surface_series`, `label_values`, …) and earlier derived
    /// facts; a boolean, a number, a string or a list.
    pub value: String,
}

/// One observation, true or false per endpoint, with the evidence that made it true.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IndicatorDef {
    /// A variable name in mode, candidate, architecture and finding expressions.
    pub id: String,
    pub description: String,
    /// True when any series name matches one of these patterns…
    #[serde(default)]
    pub series: Vec<String>,
    /// …and is not matched by one of these.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// True when a label with one of these keys has a value matching one of `values`.
    #[serde(default)]
    pub labels: Option<LabelMatch>,
    /// True when an evidence file (HTTP, logs, OTel, trace, launch…) has a value at a
    /// JSON pointer.
    #[serde(default)]
    pub evidence: Vec<EvidenceMatch>,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelMatch {
    pub keys: Vec<String>,
    /// Patterns over label values; empty: any value.
    #[serde(default)]
    pub values: Vec<String>,
}

/// The kinds of evidence file `lmcache-compat` reads beside Prometheus scrapes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    Http,
    Logs,
    Trace,
    Otel,
    TraceReplay,
    LookupHash,
    Launch,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceMatch {
    pub file: EvidenceKind,
    /// JSON pointer into the evidence document.
    pub pointer: String,
    /// Holds when the value equals this string…
    #[serde(default)]
    pub equals: Option<String>,
    /// …or, for arrays and strings, contains it…
    #[serde(default)]
    pub contains: Option<String>,
    /// …or is a number greater than zero. With none of the three: the value exists
    /// and is not null, false, 0 or empty.
    #[serde(default)]
    pub positive: bool,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectorsDef {
    /// Label keys whose values name a KV connector.
    pub label_keys: Vec<String>,
    /// Connector name patterns and their class, first match wins; each class `c`
    /// becomes a boolean variable `connector_c`.
    pub classes: Vec<ConnectorClass>,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectorClass {
    #[serde(rename = "match")]
    pub pattern: String,
    pub class: String,
    #[serde(default)]
    pub note: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModeRule {
    /// `mp`, `embedded`, `mixed`.
    pub mode: String,
    /// Rhai over indicators, connector classes and `engine_<id>` booleans.
    pub when: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CandidateRule {
    /// `p2p`, `disaggregated_prefill`, `cacheblend`, `controller_only`.
    pub candidate: String,
    pub when: String,
    #[serde(default)]
    pub note: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchitectureRule {
    pub label: String,
    pub when: String,
    /// When it also holds the claim is `measured`, otherwise `inferred`.
    #[serde(default = "default_false")]
    pub measured_when: String,
}

/// Where a finding is evaluated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    #[default]
    Endpoint,
    Deployment,
}

/// `kind: logs` — log-line categories, matched on ANSI-stripped lines.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogsFile {
    pub kind: FileKind,
    pub categories: Vec<LogCategoryDef>,
    /// Regexes with one capture group each, for values to collect (e.g.
    /// `python_hash_seed: 'PYTHONHASHSEED=(\\S+)'`).
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    /// The value (a name under `values`) whose distinct values decide the log
    /// evidence's `hash_seed_risk`: more than one, or none while several logs were
    /// read. Declared once across packs; without it the risk is never raised.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_seed_value: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogCategoryDef {
    /// Category id, unique; the log evidence counts lines per id.
    pub id: String,
    pub description: String,
    /// A line belongs to the category when any of these regexes matches it
    /// (case-insensitive).
    pub patterns: Vec<String>,
    /// …and none of these does.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Mode candidates a matching line is evidence for (`mp`, `embedded`, `p2p`,
    /// `disaggregated_prefill`).
    #[serde(default)]
    pub proves: Vec<String>,
}

/// `kind: launch` — which programs start which system, and what launch flags,
/// config keys and environment variables mean (see `docs/rules.md`).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LaunchFile {
    pub kind: FileKind,
    #[serde(default)]
    pub programs: Vec<crate::evidence::launch::knowledge::ProgramDef>,
    /// Fields always present in `launch_evidence.json`, with their initial values.
    #[serde(default)]
    pub document: serde_json::Map<String, serde_json::Value>,
    /// Top-level objects of the document that stay `null` until a setting writes
    /// into them, with their fields' initial values.
    #[serde(default)]
    pub sections: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub settings: Vec<crate::evidence::launch::knowledge::SettingDef>,
    /// Setting names whose values are secrets, on top of the built-in secret words.
    #[serde(default)]
    pub secret_names: Vec<String>,
}

/// `kind: otel` — how the OTel evidence groups spans by name.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OtelFile {
    pub kind: FileKind,
    /// Groups in order; a span joins the first that takes its name. A group with
    /// neither `names` nor `prefixes` takes every span no group before it took
    /// (at most one, last). Every group is present in `span_groups`, so a pack can
    /// read `/span_groups/<id>/count` whether or not such spans came.
    pub span_groups: Vec<crate::evidence::otel::SpanGroupDef>,
}

/// `kind: http_routes` — the LMCache HTTP API as the collector may use it.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpRoutesFile {
    pub kind: FileKind,
    pub routes: Vec<HttpRouteDef>,
    /// Which fields and words of a JSON answer say the server is healthy or not;
    /// declared once across packs.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::evidence::http::HealthWords>,
}

/// What calling a route does to the server. The classes are ordered from least to
/// most strict (`read_only` < `sensitive` < `destructive`); a `--rules` pack may move
/// a shipped route up this order, never down.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Safety {
    /// A GET that changes nothing: the collector may call it.
    ReadOnly,
    /// Reveals secrets (the environment): never called, listed as `sensitive_skipped`.
    Sensitive,
    /// Changes state: never called, listed as `destructive_skipped`.
    Destructive,
}

impl Safety {
    /// The class as a pack spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Safety::ReadOnly => "read_only",
            Safety::Sensitive => "sensitive",
            Safety::Destructive => "destructive",
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpRouteDef {
    /// Route id, used in evidence (`/endpoints/<id>`) and `--lmcache-http-file ID=…`.
    pub id: String,
    pub method: String,
    /// Current path; `{name}` is filled from `--lmcache-http-thread-name`. No query,
    /// fragment, `%` escape, `\`, whitespace, empty, `.` or `..` segment.
    pub path: String,
    /// Older paths tried, in order, when the current one answers 404.
    #[serde(default)]
    pub legacy: Vec<String>,
    pub safety: Safety,
    /// The answer is a Prometheus exposition: judged by its HTTP status alone, and
    /// used as the scrape of the server when none is given.
    #[serde(default)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub exposition: bool,
    #[serde(default)]
    pub description: String,
}

/// `kind: context` — what only the operator knows, declared once: the flags that
/// carry it (on every command that takes operator context), the variables rules
/// read derived from them, and the `--fail-on` gates findings can trigger.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextFile {
    pub kind: FileKind,
    #[serde(default)]
    pub flags: Vec<ContextFlagDef>,
    /// Rule variables computed from the flags (and earlier variables), in order.
    #[serde(default)]
    pub variables: Vec<DerivedFactDef>,
    #[serde(default)]
    pub gates: Vec<GateDef>,
}

/// One operator flag: `--` + the id with `_` as `-`. The id is also the key of a
/// rule test case's `context`, of a packet manifest's recorded context, and a
/// variable of every compatibility expression.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextFlagDef {
    /// snake_case, unique across packs.
    pub id: String,
    /// The flag's help line.
    pub help: String,
    #[serde(rename = "type")]
    pub ty: ContextType,
    /// `choice`: the accepted values (the first is the default unless `default` says).
    #[serde(default)]
    pub values: Vec<String>,
    /// The value when the flag is not given (bool: false; choice: its first value;
    /// otherwise unset, which expressions read as `()`).
    #[serde(default)]
    pub default: Option<serde_json::Value>,
    /// `integer` and `number`: inclusive lower bound…
    #[serde(default)]
    pub min: Option<f64>,
    /// …or exclusive lower bound…
    #[serde(default)]
    pub above: Option<f64>,
    /// …and inclusive upper bound.
    #[serde(default)]
    pub max: Option<f64>,
    /// Shown in help (`N`, `RATE`, `PORT`).
    #[serde(default)]
    pub value_name: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContextType {
    Bool,
    String,
    Choice,
    Integer,
    Number,
}

/// A `--fail-on` gate: the command exits 1 when a fired finding lists the gate in
/// its `fail_on`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateDef {
    /// snake_case; the flag value spells it with `-` (`mode_mismatch`: `--fail-on
    /// mode-mismatch`).
    pub id: String,
    pub description: String,
}
