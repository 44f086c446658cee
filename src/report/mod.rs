//! The outcome data model and its renderers. Report JSON is a contract: every report
//! carries a `schema_version`, its schema in `schemas/` is generated from these
//! structs, and keys are written sorted.
//!
//! Renderers only read outcomes; nothing here decides anything.

pub mod compat;
pub mod render;

use crate::normalize::SignalValue;
use crate::pack::model::{EvidenceLevel, Severity};
use const_format::concatcp;
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;

/// `schema_version` of the `check` report.
pub const CHECK_SCHEMA_VERSION: &str = "inferguard.check/v1";

/// The report `inferguard check` writes.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct CheckReport {
    /// Always `inferguard.check/v1` for this layout.
    pub schema_version: String,
    pub tool: ToolInfo,
    /// The packs the evaluation used and where each came from.
    pub packs: Vec<PackInfo>,
    /// Each input read, with what could not be read in it.
    pub inputs: Vec<InputReport>,
    /// One entry per endpoint (scrape).
    pub endpoints: Vec<EndpointReport>,
    /// The inputs together, as one deployment: LMCache mode and architecture, and
    /// the findings that compare endpoints (`scope: deployment`).
    pub deployment: DeploymentReport,
    pub summary: Summary,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct DeploymentReport {
    /// LMCache mode: `mp`, `embedded`, `mixed` or `unknown`.
    pub detected_mode: String,
    pub architecture: compat::ArchitectureOutcome,
    /// Every system detected on any endpoint.
    pub engines: Vec<String>,
    /// Signals over every endpoint, per engine id: counters added up, gauges by
    /// their declared aggregation, histograms merged (never the first endpoint's).
    pub signals: BTreeMap<String, BTreeMap<String, SignalValue>>,
    /// Scrapes left out by `--start`/`--end`.
    #[serde(default)]
    #[serde(skip_serializing_if = "is_zero")]
    pub scrapes_outside_window: usize,
    pub findings: Vec<FindingOutcome>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

impl ToolInfo {
    pub fn current() -> Self {
        ToolInfo {
            name: env!("CARGO_PKG_NAME").to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PackInfo {
    pub id: String,
    pub version: String,
    /// `embedded`, or the directory given with `--rules`.
    pub origin: String,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct InputReport {
    /// File path, `-` for standard input.
    pub source: String,
    /// `prometheus` (text 0.0.4) or `openmetrics`.
    pub format: String,
    pub lines: u32,
    pub samples: usize,
    pub families: usize,
    /// Number of lines the scanner skipped.
    pub dropped_lines: usize,
    /// The first skipped lines (at most 20), with their reasons.
    pub dropped: Vec<DroppedLineReport>,
    /// Why the input was not used at all (e.g. it is not an exposition).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct DroppedLineReport {
    pub line: u32,
    pub reason: String,
    pub excerpt: String,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct EndpointReport {
    /// The endpoint's identity: `service_instance_id`, `k=v,…` target labels, URL,
    /// the source a packet manifest records, or the file.
    pub endpoint: String,
    /// How the identity was found.
    pub identity: crate::deployment::IdentitySource,
    /// Target labels of a fleet dump (identity, not series labels).
    #[serde(default)]
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub target: BTreeMap<String, String>,
    /// The input of the latest scrape (the instant).
    pub source: String,
    /// Every scrape of the endpoint in time order; two or more make a window.
    pub scrapes: Vec<ScrapeReport>,
    /// Seconds from the first scrape to the last, when there are two with known times.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_seconds: Option<f64>,
    /// Serving systems detected, highest confidence first.
    pub engines: Vec<EngineDetection>,
    /// True when no serving system could be identified from the evidence.
    pub engine_unidentified: bool,
    /// Signals computed per engine id.
    pub signals: BTreeMap<String, BTreeMap<String, SignalValue>>,
    /// Every applicable finding with its outcome.
    pub findings: Vec<FindingOutcome>,
}

/// One scrape of an endpoint.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ScrapeReport {
    pub source: String,
    /// Unix seconds, when known.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<f64>,
    /// Where the time came from.
    pub time_source: crate::deployment::TimeSource,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct EngineDetection {
    pub id: String,
    pub name: String,
    /// The part the system plays in the stack.
    pub role: crate::pack::model::SystemRole,
    /// Noisy-or of the weights of the evidence that matched, 0..1.
    pub confidence: f64,
    /// True when chosen with `--engine` rather than detected.
    pub forced: bool,
    /// Evidence items that matched.
    pub evidence: Vec<DetectionHit>,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct DetectionHit {
    /// The pack's pattern.
    pub pattern: String,
    pub weight: f64,
    /// A legacy spelling (weak evidence).
    pub legacy: bool,
    /// Distinct names that matched.
    pub matched: usize,
    /// One matching name.
    pub example: String,
    #[serde(default)]
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// Three-valued outcome plus run-time failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Fired,
    Passed,
    /// A required signal is missing; never counted as a pass.
    NotEvaluable,
    /// The surface the finding judges does not exist here (its `applies_when` is
    /// false), e.g. L2 findings on a server without an L2 adapter.
    NotApplicable,
    /// The expression failed at run time (limit hit, bad arithmetic).
    Errored,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Fired => "fired",
            Status::Passed => "passed",
            Status::NotEvaluable => "not_evaluable",
            Status::NotApplicable => "not_applicable",
            Status::Errored => "errored",
        }
    }
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct FindingOutcome {
    pub code: String,
    pub title: String,
    pub severity: Severity,
    pub evidence_level: EvidenceLevel,
    pub status: Status,
    /// The engine whose signals the rule read, when it is engine-specific.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// The rendered message, when fired.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What to do, when fired.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
    /// Signals that were missing, when not evaluable.
    #[serde(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// Why it is not evaluable beyond a missing signal, e.g. "needs two scrapes of
    /// this endpoint" for a window form on one scrape.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The run-time error, when errored.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Every value the rule read and where it came from.
    pub evidence: Vec<EvidenceItem>,
    /// `--fail-on` conditions this finding meets when it fires.
    #[serde(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fail_on: Vec<String>,
    /// The pack that holds the rule.
    pub pack: String,
    /// Fired findings of the same evaluation that declare they explain this one
    /// (`explains:`); reports list those first.
    #[serde(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub explained_by: Vec<String>,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct EvidenceItem {
    pub variable: String,
    /// `signal`, `fact`, `context` or `param`.
    pub kind: &'static str,
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The value when it is not a number (a mode, a list of families).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Metric family, for signals.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// Source line of the first sample, for signals.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// `current` or `legacy` spelling, for signals.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spelling: Option<crate::normalize::Spelling>,
    /// The signal has no series yet and reads as 0 (its pack's
    /// `absent_is_zero_when`): no such event was recorded.
    #[serde(default)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub absent_as_zero: bool,
}

#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
pub struct Summary {
    pub endpoints: usize,
    /// Endpoints where no engine was identified.
    pub unidentified: usize,
    /// Fired findings per severity.
    pub fired: BTreeMap<String, usize>,
    pub not_evaluable: usize,
    pub errored: usize,
    /// The highest severity that fired, if any.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worst: Option<Severity>,
}

impl Summary {
    pub fn from_reports(endpoints: &[EndpointReport], deployment: &[FindingOutcome]) -> Summary {
        let mut s = Summary {
            endpoints: endpoints.len(),
            ..Summary::default()
        };
        for sev in [Severity::Info, Severity::Warning, Severity::Critical] {
            s.fired.insert(sev.as_str().to_owned(), 0);
        }
        for ep in endpoints {
            s.unidentified += usize::from(ep.engine_unidentified);
        }
        let all = endpoints
            .iter()
            .flat_map(|ep| ep.findings.iter())
            .chain(deployment);
        {
            for f in all {
                match f.status {
                    Status::Fired => {
                        *s.fired.entry(f.severity.as_str().to_owned()).or_default() += 1;
                        s.worst = s.worst.max(Some(f.severity));
                    }
                    Status::NotEvaluable => s.not_evaluable += 1,
                    Status::Errored => s.errored += 1,
                    Status::Passed | Status::NotApplicable => {}
                }
            }
        }
        s
    }
}

/// Serializes any report with sorted keys and a trailing newline.
///
/// Takes the report by value when the caller gives it up (`to_sorted_json(report)`),
/// so a large report is freed before its text is built.
pub fn to_sorted_json<T: Serialize>(value: T) -> String {
    let mut v = serde_json::to_value(&value).expect("report structs always serialize");
    drop(value);
    // Every JSON document inferguard writes or prints passes here: secrets out.
    crate::redact::json(&mut v);
    let mut s = serde_json::to_string_pretty(&v).expect("a JSON value always serializes");
    s.push('\n');
    s
}

/// The JSON Schema of the check report, generated from the structs above.
pub fn check_report_schema() -> serde_json::Value {
    root_schema::<CheckReport>("check-report")
}

/// `schema_version` of the `path-trace` report.
pub const PATH_TRACE_SCHEMA_VERSION: &str = "inferguard.path-trace/v1";

/// The report `inferguard path-trace` writes.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PathTraceReport {
    /// Always `inferguard.path-trace/v1` for this layout.
    pub schema_version: String,
    pub tool: ToolInfo,
    pub packs: Vec<PackInfo>,
    pub inputs: Vec<InputReport>,
    pub endpoints: Vec<PathTraceEndpoint>,
    pub summary: PathTraceSummary,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PathTraceEndpoint {
    pub endpoint: String,
    pub source: String,
    /// The best support level of any system on the endpoint.
    pub support_level: SupportLevel,
    /// True when no serving system could be identified; the finding
    /// `engine_unidentified` fires with it.
    pub engine_unidentified: bool,
    /// Every system detected, highest confidence first, with its evidence.
    pub systems: Vec<SystemTrace>,
    /// Detection evidence per system id.
    pub detection: Vec<EngineDetection>,
    /// Findings that fired on the endpoint (detection and mismatch findings among them).
    pub findings: Vec<FindingOutcome>,
}

/// How far request latency can be followed on an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SupportLevel {
    /// A system that does not serve requests itself (KV cache, coordinator, KV
    /// indexer, worker runtime, router): latency is not its to report. Never an
    /// endpoint's level.
    NotApplicable,
    /// No TTFT or TPOT source at all.
    Unsupported,
    /// TTFT/TPOT families exist without request or session identity labels.
    AggregateOnly,
    /// Latency families carry the request/session identity labels the pack declares.
    PerSession,
}

impl SupportLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            SupportLevel::NotApplicable => "not_applicable",
            SupportLevel::Unsupported => "unsupported",
            SupportLevel::AggregateOnly => "aggregate_only",
            SupportLevel::PerSession => "per_session",
        }
    }
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SystemTrace {
    pub id: String,
    pub name: String,
    pub role: crate::pack::model::SystemRole,
    pub confidence: f64,
    pub forced: bool,
    pub support_level: SupportLevel,
    /// Families present that the pack maps to TTFT.
    pub ttft_sources: Vec<String>,
    /// Families present that the pack maps to TPOT (or inter-token latency).
    pub tpot_sources: Vec<String>,
    /// Identity labels (model, engine index, …) found on the system's families.
    pub identity_labels: Vec<String>,
    /// Per-request/session labels found on latency families.
    pub session_labels: Vec<String>,
    /// KV-transfer connector names read from labels.
    pub connectors: Vec<ConnectorLabel>,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ConnectorLabel {
    pub label: String,
    pub value: String,
    pub family: String,
}

#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
pub struct PathTraceSummary {
    pub endpoints: usize,
    pub unidentified: usize,
    /// Endpoints per support level.
    pub support_levels: BTreeMap<String, usize>,
    /// Endpoints on which each system was detected.
    pub systems: BTreeMap<String, usize>,
}

impl PathTraceSummary {
    pub fn from_endpoints(endpoints: &[PathTraceEndpoint]) -> Self {
        let mut s = PathTraceSummary {
            endpoints: endpoints.len(),
            ..Self::default()
        };
        for level in [
            SupportLevel::Unsupported,
            SupportLevel::AggregateOnly,
            SupportLevel::PerSession,
        ] {
            s.support_levels.insert(level.as_str().to_owned(), 0);
        }
        for ep in endpoints {
            s.unidentified += usize::from(ep.engine_unidentified);
            *s.support_levels
                .entry(ep.support_level.as_str().to_owned())
                .or_default() += 1;
            for sys in &ep.systems {
                *s.systems.entry(sys.id.clone()).or_default() += 1;
            }
        }
        s
    }
}

/// The JSON Schema of the path-trace report.
pub fn path_trace_report_schema() -> serde_json::Value {
    root_schema::<PathTraceReport>("path-trace-report")
}

pub(crate) fn root_schema<T: JsonSchema>(name: &str) -> serde_json::Value {
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>();
    let mut v = serde_json::to_value(schema).expect("schemas serialize");
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            "$id".to_owned(),
            serde_json::Value::String(format!(
                "https://github.com/inferguard/inferguard/schemas/{name}.schema.json"
            )),
        );
    }
    v
}

/// `schema_version` of the `lmcache-compat` report.
pub const COMPAT_SCHEMA_VERSION: &str =
    concatcp!("inferguard.", crate::pack::names::CACHE, "-compat/v1");

/// The report `inferguard lmcache-compat` writes (`lmcache_compat_report.json`).
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct CompatReport {
    /// Always `inferguard.lmcache-compat/v1` for this layout.
    pub schema_version: String,
    pub tool: ToolInfo,
    pub packs: Vec<PackInfo>,
    /// Metrics inputs (engine and LMCache scrapes) and what could not be read.
    pub inputs: Vec<InputReport>,
    /// Evidence files given, by kind, and whether they could be read.
    pub evidence_files: Vec<EvidenceFileReport>,
    /// Serving systems detected across the scrapes.
    pub engines: Vec<EngineDetection>,
    #[serde(flatten)]
    pub analysis: compat::CompatAnalysis,
    /// Fired findings that are failure conditions, and for which `--fail-on`.
    pub failure_reasons: Vec<FailureReason>,
    /// Every finding evaluated, with its outcome and evidence level.
    pub findings: Vec<FindingOutcome>,
    /// Questions for upstream raised by findings that fired.
    pub upstream_questions: Vec<UpstreamQuestion>,
    /// LMCache MP L2 signals (`l2_*`), absent when not exported.
    pub l2_summary: BTreeMap<String, f64>,
    /// CacheBlend signals (`blend_*`), absent when not exported.
    pub cacheblend_summary: BTreeMap<String, f64>,
    pub summary: CompatSummary,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct EvidenceFileReport {
    pub kind: String,
    pub source: String,
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct UpstreamQuestion {
    pub code: String,
    pub question: String,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct FailureReason {
    pub code: String,
    pub message: String,
    pub fail_on: Vec<String>,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct CompatSummary {
    pub detected_mode: String,
    pub expected_mode: String,
    pub architecture: String,
    /// Surfaces per status.
    pub surfaces: BTreeMap<String, usize>,
    pub failure_reasons: usize,
    pub findings_fired: usize,
    pub unmapped_series: usize,
}

/// The JSON Schema of the lmcache-compat report.
pub fn compat_report_schema() -> serde_json::Value {
    root_schema::<CompatReport>(concatcp!(crate::pack::names::CACHE, "-compat-report"))
}
