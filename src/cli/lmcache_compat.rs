//! `inferguard lmcache-compat`: LMCache and vLLM families expected for the LMCache
//! mode, compared with the evidence; mode, architecture and connector detection;
//! the MP observability section; `--fail-on` gates.

use super::output::{self, Format};
use super::{load_registry, resolve_engine, Outcome};
use crate::eval::compat::{compat_report, evidence_name, CompatContext};
use crate::eval::EvalOptions;
use crate::evidence::Input;
use crate::pack::model::{EvidenceKind, FailOn};
use crate::report::{render, to_sorted_json, EvidenceFileReport};
use anyhow::{bail, Context as _};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ExpectMode {
    #[default]
    Auto,
    Mp,
    Embedded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompatFailOn {
    Never,
    ModeMismatch,
    MissingRequired,
}

/// Operator context shared by `lmcache-compat` and `collect-lmcache`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ContextArgs {
    /// The LMCache mode the deployment is meant to run.
    #[arg(long, value_enum, default_value = "auto")]
    pub expect_mode: ExpectMode,
    /// An MP L2 adapter is configured: L2 families become applicable.
    #[arg(long)]
    pub l2_configured: bool,
    /// The MP server's Prometheus port.
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub mp_prometheus_port: Option<u16>,
    /// `--event-bus-queue-size` of the MP server (default 10000).
    #[arg(long, value_name = "N")]
    pub mp_event_bus_queue_size: Option<u64>,
    /// `--metrics-sample-rate` of the MP server, in (0, 1] (default 0.01).
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub mp_metrics_sample_rate: Option<f64>,
    /// `--instance-id` of the MP server.
    #[arg(long, value_name = "ID")]
    pub mp_service_instance_id: Option<String>,
    #[arg(long)]
    pub mp_tracing_enabled: bool,
    #[arg(long)]
    pub mp_trace_recording_enabled: bool,
    #[arg(long)]
    pub mp_observability_disabled: bool,
    #[arg(long)]
    pub mp_metrics_disabled: bool,
    #[arg(long)]
    pub mp_logging_disabled: bool,
}

fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if rate > 0.0 && rate <= 1.0 {
        Ok(rate)
    } else {
        Err(format!("{rate} is outside (0, 1]"))
    }
}

impl ContextArgs {
    /// These flags over the context a packet was collected with (its manifest's
    /// `context`): a flag given here wins; one left at its default takes the
    /// recorded value, so `--packet DIR` alone answers as the collection did.
    pub fn over_recorded(&self, recorded: &serde_json::Value) -> ContextArgs {
        let mut c = self.clone();
        let flag = |key: &str| recorded.get(key).and_then(serde_json::Value::as_bool) == Some(true);
        if c.expect_mode == ExpectMode::Auto {
            c.expect_mode = match recorded.get("expect_mode").and_then(|v| v.as_str()) {
                Some("mp") => ExpectMode::Mp,
                Some("embedded") => ExpectMode::Embedded,
                _ => ExpectMode::Auto,
            };
        }
        c.l2_configured |= flag("l2_configured");
        c.mp_tracing_enabled |= flag("mp_tracing_enabled");
        c.mp_trace_recording_enabled |= flag("mp_trace_recording_enabled");
        c.mp_observability_disabled |= flag("mp_observability_disabled");
        c.mp_metrics_disabled |= flag("mp_metrics_disabled");
        c.mp_logging_disabled |= flag("mp_logging_disabled");
        let number = |key: &str| recorded.get(key).and_then(serde_json::Value::as_f64);
        c.mp_prometheus_port = c.mp_prometheus_port.or_else(|| {
            recorded
                .get("mp_prometheus_port")?
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
        });
        c.mp_event_bus_queue_size = c
            .mp_event_bus_queue_size
            .or_else(|| recorded.get("mp_event_bus_queue_size")?.as_u64());
        c.mp_metrics_sample_rate = c
            .mp_metrics_sample_rate
            .or_else(|| number("mp_metrics_sample_rate").filter(|r| *r > 0.0 && *r <= 1.0));
        c.mp_service_instance_id = c.mp_service_instance_id.clone().or_else(|| {
            recorded
                .get("mp_service_instance_id")?
                .as_str()
                .map(str::to_owned)
        });
        c
    }

    pub fn context(&self, evidence: BTreeMap<EvidenceKind, serde_json::Value>) -> CompatContext {
        let d = CompatContext::default();
        CompatContext {
            expect_mode: match self.expect_mode {
                ExpectMode::Auto => "auto",
                ExpectMode::Mp => "mp",
                ExpectMode::Embedded => "embedded",
            }
            .to_owned(),
            l2_configured: self.l2_configured,
            observability_disabled: self.mp_observability_disabled,
            metrics_disabled: self.mp_metrics_disabled,
            logging_disabled: self.mp_logging_disabled,
            tracing_enabled: self.mp_tracing_enabled,
            trace_recording_enabled: self.mp_trace_recording_enabled,
            sample_rate: self.mp_metrics_sample_rate.unwrap_or(d.sample_rate),
            event_bus_queue_size: self
                .mp_event_bus_queue_size
                .map_or(d.event_bus_queue_size, |n| n as f64),
            prometheus_port: self.mp_prometheus_port,
            service_instance_id: self.mp_service_instance_id.clone(),
            evidence,
        }
    }
}

/// Metrics and evidence inputs shared by `lmcache-compat` and `collect-lmcache`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EvidenceArgs {
    /// A saved engine (vLLM, SGLang, Dynamo) /metrics scrape.
    #[arg(long, value_name = "FILE")]
    pub engine_metrics_file: Vec<PathBuf>,
    /// A live engine /metrics URL (http://).
    #[arg(long, value_name = "URL")]
    pub engine_metrics_url: Vec<String>,
    /// A saved LMCache /metrics scrape (MP server or embedded).
    #[arg(long, value_name = "FILE")]
    pub lmcache_metrics_file: Vec<PathBuf>,
    /// A live LMCache /metrics URL (http://).
    #[arg(long, value_name = "URL")]
    pub lmcache_metrics_url: Vec<String>,
    #[arg(long, value_name = "FILE")]
    pub lmcache_http_evidence_file: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub lmcache_log_evidence_file: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub lmcache_trace_evidence_file: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub lmcache_otel_evidence_file: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub lmcache_trace_replay_evidence_file: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub lmcache_lookup_hash_evidence_file: Option<PathBuf>,
    /// Launch command / config evidence (connectors, flags, roles).
    #[arg(long, value_name = "FILE")]
    pub launch_evidence_file: Option<PathBuf>,
}

impl EvidenceArgs {
    fn evidence_paths(&self) -> Vec<(EvidenceKind, &Path)> {
        [
            (EvidenceKind::Http, &self.lmcache_http_evidence_file),
            (EvidenceKind::Logs, &self.lmcache_log_evidence_file),
            (EvidenceKind::Trace, &self.lmcache_trace_evidence_file),
            (EvidenceKind::Otel, &self.lmcache_otel_evidence_file),
            (
                EvidenceKind::TraceReplay,
                &self.lmcache_trace_replay_evidence_file,
            ),
            (
                EvidenceKind::LookupHash,
                &self.lmcache_lookup_hash_evidence_file,
            ),
            (EvidenceKind::Launch, &self.launch_evidence_file),
        ]
        .into_iter()
        .filter_map(|(k, p)| p.as_deref().map(|p| (k, p)))
        .collect()
    }

    fn is_empty(&self) -> bool {
        self.engine_metrics_file.is_empty()
            && self.engine_metrics_url.is_empty()
            && self.lmcache_metrics_file.is_empty()
            && self.lmcache_metrics_url.is_empty()
            && self.evidence_paths().is_empty()
    }
}

#[derive(Debug, clap::Args)]
pub struct LmcacheCompatArgs {
    #[command(flatten)]
    pub inputs: EvidenceArgs,
    /// A packet directory written by `collect-lmcache` (flags given here win).
    #[arg(long, value_name = "DIR")]
    pub packet: Option<PathBuf>,
    #[command(flatten)]
    pub context: ContextArgs,
    #[command(flatten)]
    pub deployment: super::DeploymentArgs,
    /// Skip engine detection and check the scrapes look like this engine or pack.
    #[arg(long, value_name = "ENGINE")]
    pub engine: Option<String>,
    /// Exit 1 on a mode mismatch, or on any missing required family, disabled MP
    /// metrics, unhealthy HTTP endpoint or missing trace/spans.
    #[arg(long, value_enum, default_value = "never")]
    pub fail_on: CompatFailOn,
    #[command(flatten)]
    pub out: output::OutputArgs,
}

/// Metrics inputs and evidence documents, read from flags and a packet.
pub struct Gathered {
    pub metrics: Vec<Input>,
    pub evidence: BTreeMap<EvidenceKind, serde_json::Value>,
    pub evidence_files: Vec<EvidenceFileReport>,
    /// Sources that could not be read (partial-first: the rest is used).
    pub errors: Vec<String>,
    /// The context the packet's manifest records, if a packet was read.
    pub recorded: Option<serde_json::Value>,
}

/// Reads every metrics file and URL and every evidence file; what fails is kept in
/// `errors` and the rest is used. Documents given by flag win over the packet's.
pub fn gather(
    registry: &crate::pack::Registry,
    args: &EvidenceArgs,
    packet: Option<&Path>,
) -> Gathered {
    let mut errors = Vec::new();
    let mut read = crate::packet::Read::default();
    if let Some(dir) = packet {
        match crate::packet::read_dir(dir) {
            Ok(r) => read = r,
            Err(e) => errors.push(e.to_string()),
        }
    }
    let mut documents: Vec<(EvidenceKind, PathBuf)> = args
        .evidence_paths()
        .into_iter()
        .map(|(k, p)| (k, p.to_path_buf()))
        .collect();
    for (kind, path) in std::mem::take(&mut read.documents) {
        if !documents.iter().any(|(k, _)| *k == kind) {
            documents.push((kind, path));
        }
    }
    for (role, files) in [
        ("engine", &args.engine_metrics_file),
        ("lmcache", &args.lmcache_metrics_file),
    ] {
        let mut files: Vec<&PathBuf> = files.iter().collect();
        files.sort();
        for path in files {
            // Read once, however often and however spelled it is given; which
            // spelling is kept never depends on the order of the flags.
            match read.add_file(&path.display().to_string()) {
                Ok(added) => {
                    let start = read.scrapes.len() - added;
                    for i in &mut read.scrapes[start..] {
                        i.origin.role = Some(role.to_owned());
                    }
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
    }
    let mut metrics = std::mem::take(&mut read.scrapes);
    errors.append(&mut read.warnings);
    fetch_metrics(registry, args, &mut metrics, &mut errors);
    let (evidence, evidence_files) = load_documents(documents, &mut errors);
    Gathered {
        metrics,
        evidence,
        evidence_files,
        errors,
        recorded: read.contexts.into_iter().next().map(|(_, c)| c),
    }
}

/// Live `/metrics` URLs, each checked against the route table before it is fetched.
fn fetch_metrics(
    registry: &crate::pack::Registry,
    args: &EvidenceArgs,
    metrics: &mut Vec<Input>,
    errors: &mut Vec<String>,
) {
    let limits = crate::packet::fetch::FetchLimits::default();
    for (role, urls) in [
        ("engine", &args.engine_metrics_url),
        ("lmcache", &args.lmcache_metrics_url),
    ] {
        for url in urls {
            let deadline = crate::packet::fetch::Deadline::NONE;
            let (routes, floor) = (&registry.http_routes, &registry.http_route_floor);
            if let Some(why) = crate::packet::http::refused_url(routes, floor, url) {
                errors.push(why);
                continue;
            }
            match crate::packet::fetch::get_exposition(url, &limits, deadline) {
                Ok(r) => metrics.push(Input {
                    source: url.clone(),
                    endpoint: role.to_owned(),
                    bytes: r.body,
                    origin: crate::evidence::Origin {
                        role: Some(role.to_owned()),
                        url: Some(url.clone()),
                        fetched_at: Some(super::now_unix()),
                        ..Default::default()
                    },
                }),
                Err(e) => errors.push(e.to_string()),
            }
        }
    }
}

/// Evidence documents by kind: each must be a JSON object; what is not is an error
/// beside the rest.
pub fn load_documents(
    documents: Vec<(EvidenceKind, PathBuf)>,
    errors: &mut Vec<String>,
) -> (
    BTreeMap<EvidenceKind, serde_json::Value>,
    Vec<EvidenceFileReport>,
) {
    let mut evidence = BTreeMap::new();
    let mut files = Vec::new();
    for (kind, path) in documents {
        let error = match crate::evidence::read_regular(&path) {
            Err(e) => Some(format!("cannot read: {e}")),
            Ok(bytes) => match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(doc) if doc.is_object() => {
                    evidence.insert(kind, doc);
                    None
                }
                Ok(_) => Some("not a JSON object".to_owned()),
                Err(e) => Some(format!(
                    "invalid JSON at line {} column {}: {e}",
                    e.line(),
                    e.column()
                )),
            },
        };
        if let Some(err) = &error {
            errors.push(format!("{}: {err}", path.display()));
        }
        files.push(EvidenceFileReport {
            kind: evidence_name(kind).to_owned(),
            source: path.display().to_string(),
            error,
        });
    }
    (evidence, files)
}

pub fn run(rules: &[PathBuf], args: LmcacheCompatArgs) -> anyhow::Result<Outcome> {
    let registry = load_registry(rules)?;
    if args.inputs.is_empty() && args.packet.is_none() {
        bail!("no evidence given: pass --engine-metrics-file/-url, --lmcache-metrics-file/-url, an evidence file or --packet DIR");
    }
    if let Some(dir) = &args.packet {
        if !dir.is_dir() {
            bail!("{}: not a packet directory", dir.display());
        }
    }
    let g = gather(&registry, &args.inputs, args.packet.as_deref());
    for e in &g.errors {
        output::warn(e);
    }
    if g.metrics.is_empty() && g.evidence.is_empty() {
        bail!(
            "{}",
            g.errors
                .first()
                .cloned()
                .unwrap_or_else(|| "nothing could be read".to_owned())
        );
    }
    let context = match &g.recorded {
        Some(recorded) => args.context.over_recorded(recorded),
        None => args.context.clone(),
    };
    let options = EvalOptions {
        forced_engine: resolve_engine(&registry, args.engine.as_deref())?,
        compat: context.context(g.evidence.clone()),
        as_deployment: true,
    };
    let evaluation = super::evaluate(&registry, g.metrics, &args.deployment, &options)?;
    let report = compat_report(&registry, evaluation, g.evidence_files);
    // As in `check` and `path-trace`: an input that is not an exposition is a warning
    // beside usable evidence, and the job fails when nothing usable is left.
    let bad: Vec<String> = report
        .inputs
        .iter()
        .filter_map(|i| i.error.as_ref().map(|e| format!("{}: {e}", i.source)))
        .collect();
    bad.iter().for_each(|b| output::warn(b));
    if !bad.is_empty() && bad.len() == report.inputs.len() && g.evidence.is_empty() {
        bail!("{}", bad[0]);
    }
    let text = match args.out.format() {
        Format::Json => to_sorted_json(&report),
        Format::Markdown => render::compat_markdown(&report),
        Format::Human => render::compat_human(&report),
    };
    args.out.emit(&text).with_context(|| "writing the report")?;
    let failed = match args.fail_on {
        CompatFailOn::Never => false,
        CompatFailOn::ModeMismatch => report
            .failure_reasons
            .iter()
            .any(|f| f.fail_on.contains(&FailOn::ModeMismatch)),
        CompatFailOn::MissingRequired => !report.failure_reasons.is_empty(),
    };
    Ok(if failed { Outcome::Failed } else { Outcome::Ok })
}
