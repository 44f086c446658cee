//! `inferguard collect-metrics`: scrapes every endpoint every `--interval`, all of
//! them at once (one thread per endpoint per tick, joined before the next tick),
//! through the one HTTP client ([`crate::packet::fetch`]: whole-request deadline,
//! body cap, GET only), and writes, partial-first, `engine_metrics_timeline.jsonl`
//! (one row per scrape per endpoint, a failed scrape included) and
//! `metrics_summary.json` / `.csv`.
//!
//! Each answered scrape goes into a [`Summarizer`] as it arrives, as exactly the
//! input its timeline row is read back as (the row's time and endpoint, the
//! redacted text), so `summarize` over a `--keep-raw` timeline gives the same
//! statistics. Every file is written atomically: the timeline grows in a temp file
//! beside its final name and is renamed into place at the end, after Ctrl-C too.
//!
//! When a URL answers JSON where exposition text was expected, the alternative
//! paths the engine packs declare (`scrape.alternative_paths`) are tried on the same
//! origin, once, and the one that answers is scraped from then on.

use super::{load_registry, output, Outcome};
use crate::evidence::{Input, Origin};
use crate::pack::names::CACHE;
use crate::packet::fetch::{self, Deadline, FetchError, FetchLimits, Response};
use crate::summary::{Summarizer, SummaryOptions};
use anyhow::{bail, Context as _};
use const_format::concatcp;
use serde_json::{json, Map, Value};
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The timeline `collect-metrics` writes in `--output-dir`.
pub const TIMELINE: &str = "engine_metrics_timeline.jsonl";

/// Upper bounds that keep every loop and sleep finite.
const MAX_INTERVAL: f64 = 86_400.0;
const MAX_DURATION: f64 = 30.0 * 86_400.0;
const MAX_TIMEOUT: f64 = 3_600.0;

#[derive(Debug, clap::Args)]
pub struct CollectMetricsArgs {
    /// An endpoint to scrape: `URL`, or `URL=ROLE` with ROLE a system role or pack
    /// id of the rule packs (`engine`, `router`, `lmcache`, …); repeatable.
    #[arg(long = "endpoint", value_name = "URL[=ROLE]")]
    pub endpoints: Vec<String>,
    /// Same as `--endpoint URL=engine` (the seed pages' spelling); repeatable.
    #[arg(long, value_name = "URL")]
    pub engine_metrics_url: Vec<String>,
    /// Same as `--endpoint URL=lmcache`; repeatable.
    #[arg(long = concatcp!(CACHE, "-metrics-url"), value_name = "URL")]
    pub cache_metrics_url: Vec<String>,
    /// Seconds between two scrapes of an endpoint.
    #[arg(long, value_name = "SECS")]
    pub interval: f64,
    /// Scrape for this many seconds: at the start and every interval up to and
    /// including `duration`.
    #[arg(
        long,
        value_name = "SECS",
        required_unless_present = "count",
        conflicts_with = "count"
    )]
    pub duration: Option<f64>,
    /// Scrape each endpoint this many times.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Where the timeline and the summary go (created when missing; the files are
    /// replaced).
    #[arg(long, value_name = "DIR")]
    pub output_dir: PathBuf,
    /// Keep each scrape's exposition text (redacted) in its timeline row, so
    /// `inferguard summarize DIR/engine_metrics_timeline.jsonl` reads it back.
    #[arg(long)]
    pub keep_raw: bool,
    /// Seconds one scrape may take in all: connecting, the headers, the whole body.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub timeout: f64,
    /// Largest answer read from an endpoint.
    #[arg(long, value_name = "BYTES", default_value_t = 256 * 1024 * 1024)]
    pub max_body: usize,
}

/// One endpoint being scraped.
struct Endpoint {
    /// The URL as given, and as shown and written (secrets redacted).
    url: String,
    shown: String,
    role: Option<String>,
    /// The URL scraped: `url`, or the alternative path that answered.
    current: String,
    /// Alternative paths were tried (they are, once).
    probed: bool,
    /// `(pack, URL)`: the packs' alternative exposition paths on this endpoint's
    /// origin, those the route table allows.
    alternatives: Vec<(String, String)>,
}

/// What the run was asked, checked.
struct Plan {
    endpoints: Vec<Endpoint>,
    ticks: u64,
    interval: Duration,
    limits: FetchLimits,
    keep_raw: bool,
}

/// One scrape's outcome.
struct Scraped {
    at_ms: u64,
    /// The URL that answered (or was asked last).
    url: String,
    status: Option<u16>,
    result: Result<Vec<u8>, (String, String)>,
    /// Said on stderr once: the alternative path that answered.
    note: Option<String>,
}

/// Counts for the closing lines.
#[derive(Default)]
struct Tally {
    ticks: u64,
    answered: usize,
    failed: usize,
    interrupted: bool,
}

pub fn run(rules: &[PathBuf], args: CollectMetricsArgs) -> anyhow::Result<Outcome> {
    let registry = load_registry(rules)?;
    let mut plan = plan(&args, &registry)?;
    let dir = &args.output_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let stop = interrupt_flag()?;
    let mut timeline = Timeline::create(dir)?;
    let mut summarizer = Summarizer::new(&registry, SummaryOptions::default());
    summarizer.inputs = vec![timeline.path.display().to_string()];
    let bar = progress_bar(plan.ticks);
    let tally = collect(
        &mut plan,
        &registry,
        &stop,
        &mut timeline,
        &mut summarizer,
        &bar,
    )?;
    bar.finish_and_clear();
    let rows = timeline.rows;
    let path = timeline.persist()?;
    let summary = summarizer.finish();
    super::summarize::write_outputs(&summary, dir)?;
    summary.warnings.iter().for_each(|w| output::warn(w));
    if tally.interrupted {
        eprintln!(
            "interrupted: stopped after {} of {} tick(s); what was collected is written to {}",
            tally.ticks,
            plan.ticks,
            dir.display()
        );
    } else if tally.answered == 0 {
        bail!(
            "no endpoint answered with a scrape in {} tick(s); each failure is a row of {}",
            tally.ticks,
            path.display()
        );
    }
    let mut text = format!(
        "{rows} scrape(s) of {} endpoint(s) in {} tick(s), {} failed; timeline {}\n",
        plan.endpoints.len(),
        tally.ticks,
        tally.failed,
        path.display()
    );
    text.push_str(&super::summarize::human(&summary, Some(dir.as_path())));
    output::emit(&text, None)?;
    Ok(Outcome::Ok)
}

/// The endpoints, the number of ticks and the limits, every value checked.
fn plan(args: &CollectMetricsArgs, registry: &crate::pack::Registry) -> anyhow::Result<Plan> {
    let seconds = |flag: &str, v: f64, max: f64| -> anyhow::Result<Duration> {
        if !(v > 0.0 && v <= max) {
            bail!("--{flag} {v}: must be a number of seconds above 0 and at most {max}");
        }
        Duration::try_from_secs_f64(v).with_context(|| format!("--{flag} {v}: not a duration"))
    };
    let interval = seconds("interval", args.interval, MAX_INTERVAL)?;
    let timeout = seconds("timeout", args.timeout, MAX_TIMEOUT)?;
    let ticks = match (args.count, args.duration) {
        (Some(0), _) => bail!("--count 0: scrape each endpoint at least once (--count 1)"),
        (Some(n), _) => n,
        (None, Some(d)) => {
            seconds("duration", d, MAX_DURATION)?;
            // A tick at 0 and every interval up to and including `duration`.
            (d / args.interval + 1e-9).floor() as u64 + 1
        }
        (None, None) => bail!("give --count N or --duration SECS"),
    };
    if args.max_body == 0 {
        bail!("--max-body 0: an answer of 0 bytes is no scrape; give a cap in bytes");
    }
    Ok(Plan {
        endpoints: endpoints(args, registry)?,
        ticks,
        interval,
        limits: FetchLimits {
            connect_timeout: timeout,
            request_timeout: timeout,
            max_body: args.max_body,
        },
        keep_raw: args.keep_raw,
    })
}

/// Every `--endpoint` and seed-spelling URL, checked before anything is sent; a
/// URL given twice is scraped once.
fn endpoints(
    args: &CollectMetricsArgs,
    registry: &crate::pack::Registry,
) -> anyhow::Result<Vec<Endpoint>> {
    let roles = known_roles(registry);
    let mut given: Vec<(String, Option<String>)> = Vec::new();
    for spec in &args.endpoints {
        given.push(split_role(spec, &roles)?);
    }
    for (role, urls) in [
        ("engine", &args.engine_metrics_url),
        (CACHE, &args.cache_metrics_url),
    ] {
        given.extend(urls.iter().map(|u| (u.clone(), Some(role.to_owned()))));
    }
    if given.is_empty() {
        bail!("nothing to scrape: give --endpoint URL (or --engine-metrics-url / --{CACHE}-metrics-url)");
    }
    let mut out: Vec<Endpoint> = Vec::new();
    for (url, role) in given {
        let shown = crate::redact::line(&url);
        fetch::check_url(&url).map_err(|e| anyhow::anyhow!("--endpoint {shown}: {e}"))?;
        if let Some(why) = refused(registry, &url) {
            bail!("--endpoint {}", crate::redact::line(&why));
        }
        if out.iter().any(|e| e.url == url) {
            continue;
        }
        out.push(Endpoint {
            alternatives: alternatives(registry, &url),
            current: url.clone(),
            url,
            shown,
            role,
            probed: false,
        });
    }
    Ok(out)
}

/// Why a URL is never requested (a fragment, a sensitive or destructive route of
/// the route table), if it is not.
fn refused(registry: &crate::pack::Registry, url: &str) -> Option<String> {
    crate::packet::http::refused_url(&registry.http_routes, &registry.http_route_floor, url)
}

/// `(pack, URL)` of every alternative exposition path the packs declare, on
/// `url`'s origin, in pack order, each once; a path the route table forbids is
/// left out.
fn alternatives(registry: &crate::pack::Registry, url: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for e in &registry.engines {
        for path in &e.def.scrape.alternative_paths {
            let Ok(alt) = fetch::on_same_origin(url, path) else {
                continue;
            };
            if refused(registry, &alt).is_none() && !out.iter().any(|(_, u)| *u == alt) {
                out.push((e.pack.clone(), alt));
            }
        }
    }
    out
}

/// The roles `URL=ROLE` accepts: the packs' system roles and pack ids.
fn known_roles(registry: &crate::pack::Registry) -> Vec<String> {
    let mut roles: Vec<String> = registry
        .engines
        .iter()
        .filter_map(|e| {
            serde_json::to_value(e.def.role)
                .ok()?
                .as_str()
                .map(str::to_owned)
        })
        .chain(registry.packs.iter().map(|p| p.manifest.id.clone()))
        .collect();
    roles.sort();
    roles.dedup();
    roles
}

/// `URL=ROLE` as the URL and the role. What follows the last `=` is a role only
/// when it is one the packs know, so a URL whose query ends in `=value` stays
/// whole; a plain word there on a URL without a query is a mistyped role.
fn split_role(spec: &str, roles: &[String]) -> anyhow::Result<(String, Option<String>)> {
    let Some((url, role)) = spec.rsplit_once('=') else {
        return Ok((spec.to_owned(), None));
    };
    if roles.iter().any(|r| r == role) {
        return Ok((url.to_owned(), Some(role.to_owned())));
    }
    let word = !role.is_empty()
        && role
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if word && !url.contains('?') {
        bail!(
            "--endpoint {}: unknown role `{role}` (known: {})",
            crate::redact::line(spec),
            roles.join(", ")
        );
    }
    Ok((spec.to_owned(), None))
}

/// Set when SIGINT or SIGTERM arrives: the run stops after the tick under way
/// and writes what it has. A second signal ends the process at once.
fn interrupt_flag() -> anyhow::Result<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&flag))
            .context("cannot install the Ctrl-C handler")?;
        signal_hook::flag::register(signal, Arc::clone(&flag))
            .context("cannot install the Ctrl-C handler")?;
    }
    Ok(flag)
}

/// A bar on stderr when it is a terminal; hidden otherwise (CI, pipes).
fn progress_bar(ticks: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(ticks),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} ticks {elapsed} {msg}")
    {
        bar.set_style(style);
    }
    bar
}

/// The ticks: scrape every endpoint, record each answer, wait for the next tick.
fn collect(
    plan: &mut Plan,
    registry: &crate::pack::Registry,
    stop: &AtomicBool,
    timeline: &mut Timeline,
    summarizer: &mut Summarizer,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    let start = Instant::now();
    for tick in 0..plan.ticks {
        let at = plan
            .interval
            .saturating_mul(u32::try_from(tick).unwrap_or(u32::MAX));
        let Some(when) = start.checked_add(at) else {
            break;
        };
        if !wait_until(when, stop) {
            break;
        }
        let scraped = scrape_all(&mut plan.endpoints, &plan.limits);
        for (e, s) in plan.endpoints.iter().zip(scraped) {
            if let Some(note) = &s.note {
                bar.suspend(|| output::warn(note));
            }
            match s.result.is_ok() {
                true => tally.answered += 1,
                false => tally.failed += 1,
            }
            // Redacted once: the row keeps it, the summary reads the same text.
            let text =
                s.result.as_ref().ok().map(|body| {
                    String::from_utf8_lossy(&crate::redact::exposition(body)).into_owned()
                });
            let row = row(e, &s, text.as_deref(), registry, plan.keep_raw);
            let line = timeline.append(&row)?;
            if let Some(text) = text {
                summarizer.add_input(row_input(timeline, line, e, s.at_ms, text));
            }
        }
        timeline.flush()?;
        tally.ticks += 1;
        bar.set_message(format!(
            "{} answered, {} failed",
            tally.answered, tally.failed
        ));
        bar.inc(1);
        if stop.load(Ordering::SeqCst) {
            break;
        }
    }
    tally.interrupted = stop.load(Ordering::SeqCst);
    Ok(tally)
}

/// Sleeps until `when` in short steps; `false` when a stop was asked first.
fn wait_until(when: Instant, stop: &AtomicBool) -> bool {
    loop {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        let left = when.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// One scrape of every endpoint, each on its own thread; every thread is joined
/// (each is bounded by the request deadline).
fn scrape_all(endpoints: &mut [Endpoint], limits: &FetchLimits) -> Vec<Scraped> {
    std::thread::scope(|scope| {
        let workers: Vec<_> = endpoints
            .iter_mut()
            .map(|e| scope.spawn(move || scrape(e, limits)))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// What a GET answered: a scrape, or JSON where a scrape was expected.
enum Answer {
    Exposition(Response),
    Json,
}

fn scrape(e: &mut Endpoint, limits: &FetchLimits) -> Scraped {
    let at_ms = now_ms();
    let deadline = Deadline::after(limits.request_timeout);
    let answer = get(&e.current, limits, deadline);
    let (url, answer, note) = match answer {
        Ok(Answer::Json) if !e.probed => {
            e.probed = true;
            probe(e, limits, deadline)
        }
        Ok(Answer::Json) => (e.current.clone(), Err(json_answer(&e.current)), None),
        other => (e.current.clone(), other, None),
    };
    let (status, result) = match answer {
        Ok(Answer::Exposition(r)) => (Some(r.status), Ok(r.body)),
        Ok(Answer::Json) => (Some(200), Err(classify(&json_answer(&url)))),
        Err(err) => (status_of(&err), Err(classify(&err))),
    };
    Scraped {
        at_ms,
        url: crate::redact::line(&url),
        status,
        result,
        note,
    }
}

/// GETs `url` (same-resource redirects only): an exposition, JSON, or why neither.
fn get(url: &str, limits: &FetchLimits, deadline: Deadline) -> Result<Answer, FetchError> {
    let r = fetch::get(url, limits, deadline, &fetch::same_resource(url))?;
    let first = r.body.iter().find(|b| !b.is_ascii_whitespace());
    if r.status == 200 && matches!(first, Some(b'{' | b'[')) {
        return Ok(Answer::Json);
    }
    fetch::as_exposition(url, r).map(Answer::Exposition)
}

fn json_answer(url: &str) -> FetchError {
    FetchError::NotExposition(
        url.to_owned(),
        "not a Prometheus exposition: JSON, not exposition text".to_owned(),
    )
}

/// `e.url` answered JSON: the packs' alternative paths on the same origin, in
/// order; the first that answers exposition text is scraped from now on.
fn probe(
    e: &mut Endpoint,
    limits: &FetchLimits,
    deadline: Deadline,
) -> (String, Result<Answer, FetchError>, Option<String>) {
    let mut tried = Vec::new();
    for (pack, url) in &e.alternatives {
        tried.push(crate::redact::line(url));
        if let Ok(Answer::Exposition(r)) = get(url, limits, deadline) {
            let note = format!(
                "{}: answers JSON, not exposition text; scraping {} instead (alternative path of pack `{pack}`)",
                e.shown,
                crate::redact::line(url)
            );
            e.current.clone_from(url);
            return (url.clone(), Ok(Answer::Exposition(r)), Some(note));
        }
    }
    let why = match tried.is_empty() {
        true => "JSON, not exposition text; no pack declares an alternative path".to_owned(),
        false => format!(
            "JSON, not exposition text; no exposition at {} either",
            tried.join(", ")
        ),
    };
    let url = e.url.clone();
    let err = FetchError::NotExposition(url.clone(), format!("not a Prometheus exposition: {why}"));
    (url, Err(err), None)
}

/// A fetch error as the timeline's error class: `http_<code>` for a status,
/// `connect_error` for a refused or unresolved connection, the client's class
/// otherwise (`timeout`, `too_large`, `not_exposition`, …); and its message.
fn classify(e: &FetchError) -> (String, String) {
    let class = match e {
        FetchError::HttpStatus(_, code) => format!("http_{code}"),
        FetchError::Connect(..) => "connect_error".to_owned(),
        other => other.class().to_owned(),
    };
    (class, crate::redact::line(&e.to_string()))
}

fn status_of(e: &FetchError) -> Option<u16> {
    match e {
        FetchError::HttpStatus(_, code) => Some(*code),
        _ => None,
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// One timeline row: time, endpoint, role, the URL asked, status or error class,
/// bytes; for an answer the engines detected and their signals, and with
/// `--keep-raw` the redacted text.
fn row(
    e: &Endpoint,
    s: &Scraped,
    text: Option<&str>,
    registry: &crate::pack::Registry,
    keep_raw: bool,
) -> Value {
    let mut row = Map::new();
    row.insert("ts_ms".into(), json!(s.at_ms));
    row.insert("endpoint".into(), json!(e.shown));
    if let Some(role) = &e.role {
        row.insert("role".into(), json!(role));
    }
    row.insert("url".into(), json!(s.url));
    if let Some(status) = s.status {
        row.insert("status".into(), json!(status));
    }
    match (&s.result, text) {
        (Ok(body), Some(text)) => {
            row.insert("bytes".into(), json!(body.len()));
            let (engines, signals) = signals_of(registry, text.as_bytes());
            row.insert("engines".into(), json!(engines));
            row.insert("signals".into(), Value::Object(signals));
            if keep_raw {
                row.insert("text".into(), json!(text));
            }
        }
        (Ok(body), None) => {
            row.insert("bytes".into(), json!(body.len()));
        }
        (Err((class, message)), _) => {
            row.insert("bytes".into(), json!(0));
            row.insert("error".into(), json!(class));
            row.insert("message".into(), json!(message));
        }
    }
    Value::Object(row)
}

/// The input `summarize` makes of the row at `line` of the timeline (see
/// `summary::stream`): its time, its endpoint, its text.
fn row_input(timeline: &Timeline, line: usize, e: &Endpoint, at_ms: u64, text: String) -> Input {
    let path = timeline.path.display().to_string();
    Input {
        source: format!("{path}:{line}"),
        endpoint: TIMELINE.trim_end_matches(".jsonl").to_owned(),
        bytes: text.into_bytes(),
        origin: Origin {
            row_time: Some(at_ms as f64 / 1e3),
            row_endpoint: Some(e.shown.clone()),
            row_file: Some(path),
            ..Origin::default()
        },
    }
}

/// The engines detected on one scrape and, per engine, the instant value of
/// each of its signals that has one.
fn signals_of(registry: &crate::pack::Registry, text: &[u8]) -> (Vec<String>, Map<String, Value>) {
    use crate::evidence::prometheus::{parse, ParseOptions};
    let expo = parse(text, &ParseOptions::default());
    let index = crate::normalize::SeriesIndex::new(&expo);
    let engines = crate::eval::detect(registry, &index);
    let mut signals = Map::new();
    for d in &engines {
        let Some(rule) = registry.engine(&d.id) else {
            continue;
        };
        let values: Map<String, Value> = rule
            .signals
            .iter()
            .filter_map(|spec| {
                let v = crate::normalize::compute_signal(spec, &index)?.value?;
                v.is_finite().then(|| (spec.name.clone(), json!(v)))
            })
            .collect();
        signals.insert(d.id.clone(), Value::Object(values));
    }
    (engines.into_iter().map(|d| d.id).collect(), signals)
}

/// The timeline as it grows: a temp file beside its final name, renamed into
/// place by [`Timeline::persist`]; dropped unpersisted, it is removed.
struct Timeline {
    path: PathBuf,
    out: std::io::BufWriter<tempfile::NamedTempFile>,
    rows: usize,
}

impl Timeline {
    fn create(dir: &Path) -> anyhow::Result<Timeline> {
        let path = dir.join(TIMELINE);
        let tmp = tempfile::Builder::new()
            .prefix(".engine_metrics_timeline.")
            .tempfile_in(dir)
            .with_context(|| format!("{}: cannot create a temp file", dir.display()))?;
        Ok(Timeline {
            path,
            out: std::io::BufWriter::new(tmp),
            rows: 0,
        })
    }

    /// Writes one row; returns its 1-based line number.
    fn append(&mut self, row: &Value) -> anyhow::Result<usize> {
        let cannot = || format!("{}: cannot write", self.path.display());
        serde_json::to_writer(&mut self.out, row).with_context(cannot)?;
        self.out.write_all(b"\n").with_context(cannot)?;
        self.rows += 1;
        Ok(self.rows)
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        self.out
            .flush()
            .with_context(|| format!("{}: cannot write", self.path.display()))
    }

    fn persist(self) -> anyhow::Result<PathBuf> {
        let cannot = || format!("{}: cannot write", self.path.display());
        let tmp = self
            .out
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)
            .with_context(cannot)?;
        tmp.as_file().sync_all().with_context(cannot)?;
        tmp.persist(&self.path).with_context(cannot)?;
        Ok(self.path)
    }
}
