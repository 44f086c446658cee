//! The cache compatibility command: the cache system's and the engine's families
//! expected for the detected mode, compared with the evidence; mode, architecture
//! and connector detection; the observability section; `--fail-on` gates (all
//! pack data).

use super::output::{self, Format};
use super::{load_registry, resolve_engine, Outcome};
use crate::eval::compat::{compat_report, evidence_name};
use crate::eval::EvalOptions;
use crate::evidence::Input;
use crate::pack::model::EvidenceKind;
use crate::pack::names::CACHE;
use crate::report::{render, to_sorted_json, EvidenceFileReport};
use anyhow::{bail, Context as _};
use const_format::concatcp;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use super::context::ContextArgs;

/// Metrics and evidence inputs shared by the compat and collect commands.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EvidenceArgs {
    /// A saved engine /metrics scrape.
    #[arg(long, value_name = "FILE")]
    pub engine_metrics_file: Vec<PathBuf>,
    /// A live engine /metrics URL (http://).
    #[arg(long, value_name = "URL")]
    pub engine_metrics_url: Vec<String>,
    /// A saved /metrics scrape of the cache system (its server or embedded).
    #[arg(long = concatcp!(CACHE, "-metrics-file"), value_name = "FILE")]
    pub cache_metrics_file: Vec<PathBuf>,
    /// A live /metrics URL of the cache system (http://).
    #[arg(long = concatcp!(CACHE, "-metrics-url"), value_name = "URL")]
    pub cache_metrics_url: Vec<String>,
    #[arg(long = concatcp!(CACHE, "-http-evidence-file"), value_name = "FILE")]
    pub http_evidence_file: Option<PathBuf>,
    #[arg(long = concatcp!(CACHE, "-log-evidence-file"), value_name = "FILE")]
    pub log_evidence_file: Option<PathBuf>,
    #[arg(long = concatcp!(CACHE, "-trace-evidence-file"), value_name = "FILE")]
    pub trace_evidence_file: Option<PathBuf>,
    #[arg(long = concatcp!(CACHE, "-otel-evidence-file"), value_name = "FILE")]
    pub otel_evidence_file: Option<PathBuf>,
    #[arg(long = concatcp!(CACHE, "-trace-replay-evidence-file"), value_name = "FILE")]
    pub trace_replay_evidence_file: Option<PathBuf>,
    #[arg(long = concatcp!(CACHE, "-lookup-hash-evidence-file"), value_name = "FILE")]
    pub lookup_hash_evidence_file: Option<PathBuf>,
    /// Launch command / config evidence (connectors, flags, roles).
    #[arg(long, value_name = "FILE")]
    pub launch_evidence_file: Option<PathBuf>,
}

impl EvidenceArgs {
    fn evidence_paths(&self) -> Vec<(EvidenceKind, &Path)> {
        [
            (EvidenceKind::Http, &self.http_evidence_file),
            (EvidenceKind::Logs, &self.log_evidence_file),
            (EvidenceKind::Trace, &self.trace_evidence_file),
            (EvidenceKind::Otel, &self.otel_evidence_file),
            (EvidenceKind::TraceReplay, &self.trace_replay_evidence_file),
            (EvidenceKind::LookupHash, &self.lookup_hash_evidence_file),
            (EvidenceKind::Launch, &self.launch_evidence_file),
        ]
        .into_iter()
        .filter_map(|(k, p)| p.as_deref().map(|p| (k, p)))
        .collect()
    }

    fn is_empty(&self) -> bool {
        self.engine_metrics_file.is_empty()
            && self.engine_metrics_url.is_empty()
            && self.cache_metrics_file.is_empty()
            && self.cache_metrics_url.is_empty()
            && self.evidence_paths().is_empty()
    }
}

#[derive(Debug, clap::Args)]
pub struct CompatArgs {
    #[command(flatten)]
    pub inputs: EvidenceArgs,
    /// A packet directory written by the collect command (flags given here win).
    #[arg(long, value_name = "DIR")]
    pub packet: Option<PathBuf>,
    #[command(flatten)]
    pub context: ContextArgs,
    #[command(flatten)]
    pub deployment: super::DeploymentArgs,
    /// Skip engine detection and check the scrapes look like this engine or pack.
    #[arg(long, value_name = "ENGINE")]
    pub engine: Option<String>,
    /// Exit 1 when a fired finding is a failure reason for this gate (the gates
    /// are pack data: `rules/*/context.yaml`).
    #[arg(long, default_value = "never", value_parser = super::context::gate_parser())]
    pub fail_on: String,
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
        (CACHE, &args.cache_metrics_file),
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
        (CACHE, &args.cache_metrics_url),
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

pub fn run(rules: &[PathBuf], args: CompatArgs) -> anyhow::Result<Outcome> {
    let registry = load_registry(rules)?;
    if args.inputs.is_empty() && args.packet.is_none() {
        bail!("no evidence given: pass --engine-metrics-file/-url, --{CACHE}-metrics-file/-url, an evidence file or --packet DIR");
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
        deployment_only: true,
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
    let failed = super::context::gate_failed(&args.fail_on, &report.failure_reasons);
    Ok(if failed { Outcome::Failed } else { Outcome::Ok })
}
