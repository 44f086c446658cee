//! Command-line arguments and one file per command. The only place that touches the
//! terminal and uses `anyhow`; everything below returns its own errors and data.
//!
//! Exit codes are a contract: 0 success, 1 a `--fail-on` condition met, 2 the tool
//! could not do its job. A closed pipe on stdout is not an error.

mod cache_compat;
mod check;
mod collect_cache;
mod collect_metrics;
mod context;
mod output;
mod path_trace;
mod rules;
pub mod summarize;

use crate::pack::names::CACHE;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use const_format::concatcp;
use std::path::PathBuf;

/// Reads LLM-serving telemetry, works out what is running and how well it is
/// observed, and diagnoses problems with versioned rule packs.
#[derive(Debug, Parser)]
#[command(name = "inferguard", version, about, max_term_width = 100)]
pub struct Cli {
    /// Add or override rule packs (a pack folder, or a folder of packs); repeatable.
    #[arg(long = "rules", value_name = "DIR", global = true)]
    pub rules: Vec<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Detect engines, compute signals and evaluate findings on scrapes or a packet.
    Check(check::CheckArgs),
    /// Per endpoint: systems detected, TTFT/TPOT sources, support level, connector.
    PathTrace(path_trace::PathTraceArgs),
    /// The cache system's families expected for the mode versus the evidence;
    /// mode, connector and observability.
    #[command(name = concatcp!(CACHE, "-compat"))]
    CacheCompat(cache_compat::CompatArgs),
    /// Build an evidence packet from files and live endpoints of the cache system,
    /// partial-first.
    #[command(name = concatcp!("collect-", CACHE))]
    CollectCache(collect_cache::CollectArgs),
    /// Scrape endpoints every interval: a timeline of every scrape and the
    /// benchmark-window statistics of what was collected, partial-first.
    CollectMetrics(collect_metrics::CollectMetricsArgs),
    /// Benchmark-window statistics of every family per endpoint, the engines' latency
    /// breakdowns and the cross-backend equivalents, from saved scrapes.
    Summarize(summarize::SummarizeArgs),
    /// Validate, test, list, explain and document rule packs (maintainers and CI).
    #[command(subcommand)]
    Rules(rules::RulesCommand),
}

/// What a command achieved, as an exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// A `--fail-on` condition, or failing rule tests.
    Failed,
}

/// Runs the command line and returns the process exit code.
pub fn main_exit_code() -> i32 {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    context::preload(&args);
    let command = Cli::command();
    let clashes = context::clashes(&command);
    if !clashes.is_empty() {
        clashes.iter().for_each(|c| eprintln!("error: {c}"));
        return 2;
    }
    let parsed = command
        .try_get_matches_from(args)
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match run(cli) {
        Ok(Outcome::Ok) => 0,
        Ok(Outcome::Failed) => 1,
        Err(e) => {
            if is_broken_pipe(&e) {
                return 0;
            }
            eprintln!("error: {}", crate::redact::line(&one_line(&e)));
            2
        }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Check(args) => check::run(&cli.rules, args),
        Command::PathTrace(args) => path_trace::run(&cli.rules, args),
        Command::CacheCompat(args) => cache_compat::run(&cli.rules, args),
        Command::CollectCache(args) => collect_cache::run(&cli.rules, args),
        Command::CollectMetrics(args) => collect_metrics::run(&cli.rules, args),
        Command::Summarize(args) => summarize::run(&cli.rules, args),
        Command::Rules(cmd) => rules::run(&cli.rules, cmd),
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error chain on one line: `outer: inner: cause`.
fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ").replace('\n', " ")
}

/// Loads the registry, turning pack problems into one error that lists them all.
/// The one the command line was built from, when it loaded.
fn load_registry(overrides: &[PathBuf]) -> anyhow::Result<crate::pack::Registry> {
    if let Some(registry) = context::take_preloaded(overrides) {
        return Ok(registry);
    }
    report_load(crate::pack::Registry::load(overrides))
}

/// [`load_registry`] with the embedded packs checked against the schema as well.
fn load_registry_strict(overrides: &[PathBuf]) -> anyhow::Result<crate::pack::Registry> {
    report_load(crate::pack::Registry::load_strict(overrides))
}

fn report_load(
    loaded: Result<crate::pack::Registry, crate::pack::LoadError>,
) -> anyhow::Result<crate::pack::Registry> {
    loaded.map_err(|e| {
        for d in &e.0 {
            eprintln!("{}", crate::redact::line(&d.to_string()));
        }
        anyhow::anyhow!(
            "{} problem(s) in rule packs (listed above); fix them or drop the --rules folder",
            e.0.len()
        )
    })
}

/// `--engine auto|ID|PACK`: `None` for auto, the value when it names an engine or a
/// pack with engines.
fn resolve_engine(
    registry: &crate::pack::Registry,
    engine: Option<&str>,
) -> anyhow::Result<Option<String>> {
    match engine {
        None | Some("auto") => Ok(None),
        Some(id) if !registry.engines_for(id).is_empty() => Ok(Some(id.to_owned())),
        Some(id) => {
            let mut known: Vec<&str> = registry.engines.iter().map(|e| e.def.id.as_str()).collect();
            known.extend(registry.engines.iter().map(|e| e.pack.as_str()));
            known.sort_unstable();
            known.dedup();
            anyhow::bail!(
                "--engine {id}: unknown engine (known: auto, {})",
                known.join(", ")
            )
        }
    }
}

/// How inputs become endpoints and which scrapes make the window; shared by every
/// command that reads scrapes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DeploymentArgs {
    /// A label that names the target in a fleet dump (repeatable), instead of the
    /// automatic choice (`instance`+`job`, `endpoint_url`, `endpoint`).
    #[arg(long = "target-label", value_name = "NAME")]
    pub target_labels: Vec<String>,
    /// Leave out scrapes before this time (RFC 3339 or Unix seconds).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub start: Option<f64>,
    /// Leave out scrapes after this time (RFC 3339 or Unix seconds).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub end: Option<f64>,
    /// Not a flag: keep text bodies that are no exposition as scrapes (`check`).
    #[arg(skip)]
    pub text_bodies: bool,
}

impl DeploymentArgs {
    fn options(&self) -> anyhow::Result<crate::deployment::BuildOptions> {
        if let (Some(s), Some(e)) = (self.start, self.end) {
            if e < s {
                anyhow::bail!("--end is before --start");
            }
        }
        Ok(crate::deployment::BuildOptions {
            target_labels: self.target_labels.clone(),
            start: self.start,
            end: self.end,
            text_bodies: self.text_bodies,
        })
    }
}

/// `2026-12-07T10:00:00Z`, with a UTC offset (`2026-12-07T11:00:00+01:00`), or
/// Unix seconds.
fn parse_time(text: &str) -> Result<f64, String> {
    if let Ok(secs) = text.parse::<f64>() {
        if secs.is_finite() {
            return Ok(secs);
        }
    }
    let (utc, offset) = utc_offset(text);
    humantime::parse_rfc3339_weak(&utc)
        .map_err(|e| format!("`{text}` is neither RFC 3339 nor Unix seconds ({e})"))?
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() - offset)
        .map_err(|_| format!("`{text}` is before 1970"))
}

/// A time's trailing `±HH:MM` offset in seconds east of UTC, and the time with `Z`
/// in its place; the text as it is (offset 0) when it has none.
fn utc_offset(text: &str) -> (String, f64) {
    let at = text.len().saturating_sub(6);
    let (Some(head), Some(tail)) = (text.get(..at), text.get(at..)) else {
        return (text.to_owned(), 0.0);
    };
    if head.is_empty() || tail.len() != 6 {
        return (text.to_owned(), 0.0);
    }
    let b = tail.as_bytes();
    let num = |i: usize| {
        (b[i] as char)
            .to_digit(10)
            .zip((b[i + 1] as char).to_digit(10))
    };
    let sign = match b.first() {
        Some(b'+') => 1.0,
        Some(b'-') => -1.0,
        _ => return (text.to_owned(), 0.0),
    };
    match (num(1), b[3], num(4)) {
        (Some((h1, h2)), b':', Some((m1, m2))) if h1 * 10 + h2 < 24 && m1 * 10 + m2 < 60 => {
            let secs = f64::from((h1 * 10 + h2) * 3600 + (m1 * 10 + m2) * 60);
            (format!("{head}Z"), sign * secs)
        }
        _ => (text.to_owned(), 0.0),
    }
}

/// The one pipeline: inputs into a deployment, evaluated.
fn evaluate(
    registry: &crate::pack::Registry,
    inputs: Vec<crate::evidence::Input>,
    deployment: &DeploymentArgs,
    options: &crate::eval::EvalOptions,
) -> anyhow::Result<crate::eval::pipeline::Evaluation> {
    let built = crate::deployment::build(inputs, &deployment.options()?);
    built.warnings.iter().for_each(|w| output::warn(w));
    if built.outside_window > 0 {
        let taken = built.outside_span.map_or(String::new(), |(a, b)| {
            format!("; they were taken {} to {}", rfc3339(a), rfc3339(b))
        });
        output::warn(&format!(
            "{} scrape(s) outside --start/--end (or without a time) left out{taken}",
            built.outside_window
        ));
    }
    Ok(crate::eval::pipeline::evaluate(registry, &built, options))
}

/// Unix seconds as RFC 3339 (UTC, whole seconds); the number itself outside
/// what a date can say.
fn rfc3339(secs: f64) -> String {
    match std::time::Duration::try_from_secs_f64(secs) {
        Ok(d) if secs < 253_402_300_800.0 => {
            humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + d).to_string()
        }
        _ => crate::number::format_number(secs),
    }
}

/// Why a command has no endpoint to report: every scrape outside `--start`/`--end`,
/// else the first input that could not be read.
fn no_endpoint(inputs: &[crate::report::InputReport], outside: usize) -> anyhow::Error {
    if outside > 0 {
        return anyhow::anyhow!(
            "all {outside} scrape(s) are outside --start/--end (or have no time): widen the range"
        );
    }
    let first = inputs
        .iter()
        .find_map(|i| i.error.as_ref().map(|e| format!("{}: {e}", i.source)));
    anyhow::anyhow!(
        "{}",
        first.unwrap_or_else(|| "no input could be read".to_owned())
    )
}

/// Unix seconds now.
fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    /// RFC 3339 with a numeric offset, as `date -Iseconds` and
    /// `date --rfc-3339=seconds` print it, is RFC 3339 too.
    #[test]
    fn times_with_a_utc_offset_are_rfc3339() {
        for text in [
            "1765000000",
            "2025-12-06T05:46:40Z",
            "2025-12-06T05:46:40+00:00",
            "2025-12-06T06:46:40+01:00",
            "2025-12-06T04:16:40-01:30",
            "2025-12-06 06:46:40+01:00",
        ] {
            assert_eq!(parse_time(text), Ok(1_765_000_000.0), "{text}");
        }
        assert_eq!(
            parse_time("2025-12-06T06:46:40.5+01:00"),
            Ok(1_765_000_000.5)
        );
        for bad in [
            "garbage",
            "2025-12-06T06:46:40+1:00",
            "2025-12-06T06:46:40+24:00",
            "+01:00",
            "+a",
            "-",
            "",
            "é+01:00",
            "2025-12-06T06:46:40+01:é",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }
}
