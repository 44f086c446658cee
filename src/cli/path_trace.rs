//! `inferguard path-trace`: per endpoint, which systems run there, where TTFT and
//! TPOT come from, and how far a request can be followed.

use super::output::{self, Format};
use super::{load_registry, resolve_engine, Outcome};
use crate::eval::{pack_infos, EvalOptions};
use crate::report::{
    render, to_sorted_json, PathTraceEndpoint, PathTraceReport, PathTraceSummary, Status,
    SupportLevel, ToolInfo, PATH_TRACE_SCHEMA_VERSION,
};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct PathTraceArgs {
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
}

pub fn run(rules: &[PathBuf], args: PathTraceArgs) -> anyhow::Result<Outcome> {
    let registry = load_registry(rules)?;
    let options = EvalOptions {
        forced_engine: resolve_engine(&registry, args.engine.as_deref())?,
        ..Default::default()
    };
    let read = crate::packet::read_inputs(&args.inputs)?;
    read.warnings.iter().for_each(|w| output::warn(w));
    let evaluation = super::evaluate(&registry, read.scrapes, &args.deployment, &options)?;
    for input in evaluation.inputs.iter() {
        if let Some(e) = &input.error {
            output::warn(&format!("{}: {e}", input.source));
        }
    }
    let mut endpoints = Vec::new();
    for outcome in evaluation.endpoints {
        let evaluated = outcome.report;
        let systems = outcome.systems;
        endpoints.push(PathTraceEndpoint {
            endpoint: evaluated.endpoint,
            source: evaluated.source,
            support_level: systems
                .iter()
                .map(|s| s.support_level)
                .max()
                .unwrap_or(SupportLevel::Unsupported)
                // Systems that serve no requests do not make an endpoint not_applicable:
                // without a serving system there is no latency source, i.e. unsupported.
                .max(SupportLevel::Unsupported),
            engine_unidentified: evaluated.engine_unidentified,
            systems,
            detection: evaluated.engines,
            findings: evaluated
                .findings
                .into_iter()
                .filter(|f| f.status == Status::Fired)
                .collect(),
        });
    }
    if endpoints.is_empty() {
        let outside = evaluation.outside_window;
        return Err(super::no_endpoint(&evaluation.inputs, outside));
    }
    let report = PathTraceReport {
        schema_version: PATH_TRACE_SCHEMA_VERSION.to_owned(),
        tool: ToolInfo::current(),
        packs: pack_infos(&registry),
        inputs: evaluation.inputs,
        summary: PathTraceSummary::from_endpoints(&endpoints),
        endpoints,
    };
    let text = match args.out.format() {
        Format::Json => to_sorted_json(&report),
        Format::Markdown => render::path_trace_markdown(&report),
        Format::Human => render::path_trace_human(&report),
    };
    args.out.emit(&text)?;
    Ok(Outcome::Ok)
}
