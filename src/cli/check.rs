//! `inferguard check`: detection and findings over scrapes or a packet, one report.

use super::lmcache_compat::{gather, recorded_context, ContextArgs, EvidenceArgs};
use super::output::{self, Format};
use super::{load_registry, resolve_engine, Outcome};
use crate::eval::compat::CompatContext;
use crate::eval::{check_inputs, EvalOptions};
use crate::pack::model::Severity;
use crate::report::{render, to_sorted_json};
use anyhow::bail;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Scrape files, packet directories, or `-` for standard input.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// Skip detection and treat every endpoint as this engine (a mismatch is a finding).
    #[arg(long, value_name = "ENGINE")]
    pub engine: Option<String>,
    #[command(flatten)]
    pub out: output::OutputArgs,
    /// Exit 1 when a finding at or above this severity fires.
    #[arg(long, value_name = "COND", default_value = "never", value_parser = ["never", "severity=info", "severity=warning", "severity=critical"])]
    pub fail_on: String,
}

pub fn run(rules: &[PathBuf], args: CheckArgs) -> anyhow::Result<Outcome> {
    let registry = load_registry(rules)?;
    let forced = resolve_engine(&registry, args.engine.as_deref())?;
    let inputs = crate::packet::read_inputs(&args.inputs)?;
    let report = check_inputs(
        &registry,
        &inputs,
        &EvalOptions {
            forced_engine: forced,
            compat: packet_evidence(&registry, &args.inputs),
            ..Default::default()
        },
    );
    for input in &report.inputs {
        if let Some(err) = &input.error {
            super::output::warn(&format!("{}: {err}", input.source));
        }
    }
    if report.endpoints.is_empty() {
        let first = report
            .inputs
            .iter()
            .find_map(|i| i.error.as_ref().map(|e| format!("{}: {e}", i.source)));
        bail!(
            "{}",
            first.unwrap_or_else(|| "no input could be read".to_owned())
        );
    }
    let text = match args.out.format() {
        Format::Json => to_sorted_json(&report),
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
    Ok(match (threshold, report.summary.worst) {
        (Some(t), Some(worst)) if worst >= t => Outcome::Failed,
        _ => Outcome::Ok,
    })
}

/// A packet given as input brings its evidence documents and recorded context, as
/// `lmcache-compat --packet` reads them, so both commands reach the same mode and
/// architecture. Several packets at once are evaluated on their scrapes alone
/// (their documents would have to be merged per endpoint, which the deployment
/// model does not do yet), and say so.
fn packet_evidence(registry: &crate::pack::Registry, inputs: &[String]) -> CompatContext {
    let packets: Vec<&Path> = inputs
        .iter()
        .map(Path::new)
        .filter(|p| p.join(crate::packet::layout::MANIFEST).is_file())
        .collect();
    let [dir] = packets.as_slice() else {
        if packets.len() > 1 {
            output::warn("several packets: their evidence documents are not combined; only their scrapes are read");
        }
        return CompatContext::default();
    };
    let gathered = gather(registry, &EvidenceArgs::default(), Some(dir));
    gathered.errors.iter().for_each(|e| output::warn(e));
    recorded_context(&ContextArgs::default(), dir).context(gathered.evidence)
}
