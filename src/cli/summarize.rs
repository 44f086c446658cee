//! `inferguard summarize`: the server side of a benchmark in numbers — window
//! statistics of every family and series per endpoint, each engine's latency
//! breakdown and the cross-backend equivalents — from saved scrapes.

use super::output;
use super::{load_registry, Outcome};
use crate::summary::output::{csv, EndpointSummary, Stats, Summary};
use crate::summary::{stream, SummaryOptions};
use anyhow::Context;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// File names `summarize` and `collect-metrics` write in `--output-dir`.
pub const SUMMARY_JSON: &str = "metrics_summary.json";
pub const SUMMARY_CSV: &str = "metrics_summary.csv";

#[derive(Debug, clap::Args)]
pub struct SummarizeArgs {
    /// Scrape files, folders of scrapes, packets, timeline JSONL (rows with a time,
    /// an endpoint and the exposition `text`) or AIPerf's `server_metrics_export.jsonl`.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// Write `metrics_summary.json` and `metrics_summary.csv` here.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Print the summary as JSON (same as `--format json`).
    #[arg(long)]
    pub json: bool,
    /// What to print: a readable table, the JSON or the CSV.
    #[arg(long, value_enum, default_value = "human")]
    pub format: SummaryFormat,
    #[command(flatten)]
    pub deployment: super::DeploymentArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SummaryFormat {
    Human,
    Json,
    Csv,
}

pub fn run(rules: &[PathBuf], args: SummarizeArgs) -> anyhow::Result<Outcome> {
    let registry = load_registry(rules)?;
    let options = SummaryOptions {
        build: args.deployment.options()?,
    };
    let summary = stream::summarize(&registry, &args.inputs, &options)?;
    summary.warnings.iter().for_each(|w| output::warn(w));
    if summary.endpoints.is_empty() {
        anyhow::bail!("no scrape to summarize in {}", args.inputs.join(", "));
    }
    if let Some(dir) = &args.output_dir {
        write_outputs(&summary, dir)?;
    }
    let format = if args.json {
        SummaryFormat::Json
    } else {
        args.format
    };
    let text = match format {
        SummaryFormat::Json => json(&summary)?,
        SummaryFormat::Csv => csv(&summary)?,
        SummaryFormat::Human => human(&summary, args.output_dir.as_deref()),
    };
    output::emit(&text, None)?;
    Ok(Outcome::Ok)
}

/// The summary as pretty JSON, with a final newline.
pub fn json(summary: &Summary) -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(summary)?;
    text.push('\n');
    Ok(text)
}

/// `metrics_summary.json` and `.csv` in `dir`, each written atomically, secrets
/// redacted.
pub fn write_outputs(summary: &Summary, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    for (name, text) in [(SUMMARY_JSON, json(summary)?), (SUMMARY_CSV, csv(summary)?)] {
        let path = dir.join(name);
        let text = crate::redact::text(&text);
        crate::packet::write_atomic(&path, text.as_bytes())
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    Ok(())
}

/// Per endpoint: the window, engines, equivalents and breakdown; the per-family
/// statistics are in the JSON and CSV.
pub fn human(summary: &Summary, written: Option<&Path>) -> String {
    let mut out = String::new();
    for e in &summary.endpoints {
        endpoint_table(&mut out, e);
    }
    let series: usize = summary
        .endpoints
        .iter()
        .flat_map(|e| &e.families)
        .map(|f| f.series.len())
        .sum();
    let _ = write!(
        out,
        "{} endpoint(s), {} series summarised",
        summary.endpoints.len(),
        series
    );
    match written {
        Some(dir) => {
            let _ = writeln!(
                out,
                "; written to {}/{{{SUMMARY_JSON},{SUMMARY_CSV}}}",
                dir.display()
            );
        }
        None => out.push_str("; per-family statistics with --json or --format csv\n"),
    }
    out
}

fn endpoint_table(out: &mut String, e: &EndpointSummary) {
    let window = e
        .window_seconds
        .map_or("no window (one scrape)".to_owned(), |s| {
            format!("{s:.0} s window")
        });
    let engines = if e.engines.is_empty() {
        "no engine identified".to_owned()
    } else {
        e.engines.join(", ")
    };
    let _ = writeln!(
        out,
        "{}: {} scrape(s), {window}; {engines}",
        e.endpoint, e.scrapes
    );
    for q in &e.equivalents {
        let what = match (&q.stats, q.value) {
            (Some(s), _) => describe(s),
            (None, Some(v)) => crate::number::format_number(v),
            _ => continue,
        };
        let _ = writeln!(out, "  {:<18} {:<9} {what} {}", q.id, q.engine, q.unit);
    }
    for b in &e.breakdowns {
        let group: Vec<String> = b.group.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let name = if group.is_empty() {
            b.signal.clone()
        } else {
            format!("{} {}", b.signal, group.join(","))
        };
        let _ = writeln!(
            out,
            "  breakdown {:<30} {} {}",
            name,
            describe(&b.stats),
            b.unit
        );
    }
}

/// The headline numbers of a statistic, by type.
fn describe(s: &Stats) -> String {
    let n = |v: Option<f64>| v.map_or("-".to_owned(), crate::number::format_number);
    if s.count.is_some() || s.p50_estimate.is_some() {
        format!(
            "count {} p50 {} p90 {} p99 {}",
            n(s.count),
            n(s.p50_estimate),
            n(s.p90_estimate),
            n(s.p99_estimate)
        )
    } else if s.total.is_some() {
        format!("total {} rate {}/s", n(s.total), n(s.rate))
    } else {
        format!("avg {} max {} p90 {}", n(s.avg), n(s.max), n(s.p90))
    }
}
