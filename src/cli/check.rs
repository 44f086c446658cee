//! `inferguard check`: detection and findings over scrapes or a packet, one report.

use super::cache_compat::{load_documents, ContextArgs};
use super::output::{self, Format};
use super::{load_registry, resolve_engine, Outcome};
use crate::eval::compat::CompatContext;
use crate::eval::{check_report, EvalOptions};
use crate::pack::model::Severity;
use crate::report::{render, to_sorted_json};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Scrape files, packet directories, or `-` for standard input.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// Skip detection and treat every endpoint as this engine (a mismatch is a finding).
    #[arg(long, value_name = "ENGINE")]
    pub engine: Option<String>,
    #[command(flatten)]
    pub deployment: super::DeploymentArgs,
    #[command(flatten)]
    pub out: output::OutputArgs,
    /// Exit 1 when a finding at or above this severity fires.
    #[arg(long, value_name = "COND", default_value = "never", value_parser = ["never", "severity=info", "severity=warning", "severity=critical"])]
    pub fail_on: String,
}

pub fn run(rules: &[PathBuf], mut args: CheckArgs) -> anyhow::Result<Outcome> {
    // An HTML page, JSON or an error text where a scrape was expected is a finding.
    args.deployment.text_bodies = true;
    let registry = load_registry(rules)?;
    let forced = resolve_engine(&registry, args.engine.as_deref())?;
    let mut read = crate::packet::read_inputs(&args.inputs)?;
    read.warnings.iter().for_each(|w| output::warn(w));
    let options = EvalOptions {
        forced_engine: forced,
        compat: packet_context(&mut read),
        ..Default::default()
    };
    let evaluation = super::evaluate(&registry, read.scrapes, &args.deployment, &options)?;
    let report = check_report(&registry, evaluation);
    for input in &report.inputs {
        if let Some(err) = &input.error {
            super::output::warn(&format!("{}: {err}", input.source));
        }
    }
    if report.endpoints.is_empty() {
        let outside = report.deployment.scrapes_outside_window;
        return Err(super::no_endpoint(&report.inputs, outside));
    }
    let worst = report.summary.worst;
    let text = match args.out.format() {
        Format::Json => to_sorted_json(report),
        Format::Markdown => render::markdown(&report),
        Format::Human => render::human(&report, args.out.color()),
    };
    args.out.emit(&text)?;
    let threshold = match args.fail_on.as_str() {
        "severity=info" => Some(Severity::Info),
        "severity=warning" => Some(Severity::Warning),
        "severity=critical" => Some(Severity::Critical),
        _ => None,
    };
    Ok(match (threshold, worst) {
        (Some(t), Some(worst)) if worst >= t => Outcome::Failed,
        _ => Outcome::Ok,
    })
}

/// Packets among the inputs bring their evidence documents and recorded context,
/// as `lmcache-compat --packet` reads them, so both commands reach the same mode
/// and architecture. With several packets, documents are taken in path order (the
/// first packet holding a kind wins) and the first packet's context is used.
fn packet_context(read: &mut crate::packet::Read) -> CompatContext {
    let mut errors = Vec::new();
    let (evidence, _) = load_documents(std::mem::take(&mut read.documents), &mut errors);
    errors.iter().for_each(|e| output::warn(e));
    if read.contexts.len() > 1 {
        output::warn(&format!(
            "{} packets: using the recorded context of {}",
            read.contexts.len(),
            read.contexts[0].0.display()
        ));
    }
    match read.contexts.first() {
        Some((_, recorded)) => ContextArgs::default().over_recorded(recorded),
        None => ContextArgs::default(),
    }
    .context(evidence)
}
