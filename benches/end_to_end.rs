//! End-to-end bars from SPEC.md, measured on this machine:
//!
//! - `lmcache-compat --json` from process start to report written, on 10 MB and
//!   100 MB fleet expositions (generated here, and the `gen_exposition.py --seed 1`
//!   reference inputs when that script and python3 are present), with peak memory
//!   when `/usr/bin/time` is available: bars 0.15 s, 1.0 s, 3× the input. A fleet
//!   dump is split into one endpoint per target, as by every command;
//! - `check FILE --json --output OUT` on the 100 MB fleet dumps (398 targets in
//!   the reference dump, 416 in the generated one, labelled
//!   `endpoint="10.x.y.z:port"`, each its own endpoint: the report must have that
//!   many), process start to report written: bar 1.5 s;
//! - `check` on the shipped one-endpoint packet: bar 20 ms;
//! - every shipped pack (every finding) over 1,000 endpoints with two scrapes each,
//!   15 s apart with growing counters, through `deployment::build` and
//!   `eval::pipeline::evaluate`: bar 1 s for the evaluation, parsing excluded (the
//!   parse and build time is printed beside it). Three inputs: the generator below
//!   (vLLM + LMCache MP + Dynamo, ~220 KB a scrape), `gen_exposition.py --endpoints
//!   1000 --timeline 2 --jsonl` when present, and the small fixtures of every
//!   shipped system (so every pack's findings are reached), with a second scrape
//!   grown from the first (or the window fixtures' own second scrape).
//!
//! Without `--bench` (as `cargo test --benches` runs it) it only checks that the
//! binary answers, so test runs stay fast.

mod common;

use inferguard::deployment::{self, BuildOptions, Deployment};
use inferguard::eval::pipeline::{self, Evaluation};
use inferguard::eval::EvalOptions;
use inferguard::evidence::{timeline, Input, Origin};
use inferguard::pack::Registry;
use inferguard::report::Status;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_inferguard");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Endpoints and scrapes of the rule-evaluation bar.
const ENDPOINTS: usize = 1000;
const SCRAPES: usize = 2;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        let o = Command::new(BIN)
            .arg("--version")
            .output()
            .expect("binary runs");
        assert!(o.status.success());
        println!(
            "end_to_end bench: smoke run passed (run `cargo bench --bench end_to_end` to measure)"
        );
        return;
    }
    let tmp = std::env::temp_dir().join(format!("e2e-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");

    // Fleet dumps: (label, path, bar for lmcache-compat, endpoints, also `check`).
    let mut inputs: Vec<(String, PathBuf, f64, usize, bool)> = Vec::new();
    for (label, size, bar) in [
        ("generated 10MB", 10_000_000, 0.15),
        ("generated 100MB", 100_000_000, 1.0),
    ] {
        let path = tmp.join(format!("{label}.prom").replace(' ', "-"));
        let (text, endpoints) = common::generate_to_size_counted(size, 1);
        std::fs::write(&path, text).expect("write input");
        inputs.push((label.to_owned(), path, bar, endpoints, size >= 100_000_000));
    }
    // SPEC.md: 10 MB = 41 endpoints, 100 MB = 398.
    for (size, bar, endpoints) in [("10MB", 0.15, 41), ("100MB", 1.0, 398)] {
        match common::reference_input(&tmp, size) {
            Ok(_) => inputs.push((
                format!("gen_exposition.py {size}"),
                tmp.join(format!("expo-{size}.prom")),
                bar,
                endpoints,
                size == "100MB",
            )),
            Err(why) => eprintln!("skipping gen_exposition.py --size {size}: {why}"),
        }
    }
    if !inputs
        .iter()
        .any(|i| i.0.starts_with("gen_exposition.py 100MB"))
    {
        eprintln!(
            "skipping `check` on the 100 MB reference fleet dump: gen_exposition.py or python3 \
             is missing (the generated 100 MB dump is still measured)"
        );
    }

    println!(
        "{:<26} {:>8} {:>9} {:>7} {:>10} {:>8} {:>10}",
        "lmcache-compat --json", "MB", "best s", "bar s", "peak MB", "x input", "endpoints"
    );
    for (label, path, bar, endpoints, _) in &inputs {
        let out = tmp.join("report.json");
        let args: Vec<String> = vec![
            "lmcache-compat".into(),
            "--json".into(),
            "--lmcache-metrics-file".into(),
            path.display().to_string(),
            "--output".into(),
            out.display().to_string(),
        ];
        command_row(label, path, &args, 7, *bar, Err(*endpoints));
    }

    println!(
        "\n{:<26} {:>8} {:>9} {:>7} {:>10} {:>8} {:>10}",
        "check --json, fleet dump", "MB", "best s", "bar s", "peak MB", "x input", "endpoints"
    );
    for (label, path, _, expected, check) in &inputs {
        if !check {
            continue;
        }
        let out = tmp.join("check.json");
        let args: Vec<String> = vec![
            "check".into(),
            path.display().to_string(),
            "--json".into(),
            "--output".into(),
            out.display().to_string(),
        ];
        let _ = std::fs::remove_file(&out);
        command_row(label, path, &args, 5, 1.5, Ok((&out, *expected)));
    }

    let packet = Path::new(ROOT).join("fixtures/packets/vllm-kv-pressure");
    let args = vec!["check".to_owned(), packet.display().to_string()];
    let best = best_of(20, || run(BIN, &args));
    println!(
        "\ncheck one-endpoint packet: best {:.1} ms (bar 20 ms)",
        best.as_secs_f64() * 1e3
    );

    // Every shipped pack over 1,000 endpoints with two scrapes each.
    let registry = Registry::load(&[]).expect("shipped packs load");
    println!(
        "\nrule evaluation: {} shipped packs, {} findings, {ENDPOINTS} endpoints x {SCRAPES} scrapes \
         {} s apart (best of 3; bar 1 s for evaluate, parse excluded)",
        registry.packs.len(),
        registry.findings.len(),
        common::SCRAPE_INTERVAL_S
    );
    println!(
        "{:<34} {:>7} {:>10} {:>10} {:>9} {:>8} {:>7}  engines",
        "input", "MB", "read s", "build s", "eval s", "fired", "n/e"
    );
    let generated: Vec<Scrape> = common::generate_timeline(ENDPOINTS, SCRAPES, 1)
        .into_iter()
        .enumerate()
        .map(|(i, r)| Scrape {
            source: format!("generated.jsonl:{}", i + 1),
            endpoint: r.endpoint,
            time: r.time,
            bytes: r.text.into_bytes(),
        })
        .collect();
    evaluation_row(&registry, "generated timeline", None, &generated);
    drop(generated);

    match common::reference_timeline(&tmp, ENDPOINTS, SCRAPES) {
        Ok(path) => {
            let t = Instant::now();
            let bytes = std::fs::read(&path).expect("read timeline");
            let (rows, bad) = timeline::parse(&bytes);
            let read = t.elapsed();
            assert!(bad.is_empty(), "{} bad timeline rows", bad.len());
            drop(bytes);
            let source = path.display().to_string();
            let scrapes: Vec<Scrape> = rows
                .into_iter()
                .map(|r| Scrape {
                    source: format!("{source}:{}", r.line),
                    endpoint: r.endpoint.expect("row endpoint"),
                    time: r.time.expect("row time"),
                    bytes: r.text.into_bytes(),
                })
                .collect();
            evaluation_row(
                &registry,
                "gen_exposition.py --timeline 2",
                Some(read),
                &scrapes,
            );
            let _ = std::fs::remove_file(&path);
        }
        Err(why) => eprintln!("skipping gen_exposition.py --timeline 2 --jsonl: {why}"),
    }

    evaluation_row(&registry, "fixtures of every system", None, &fixture_mix());
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Runs a command `runs` times and prints its best time and peak memory, marking
/// what is over the bar (time, or 3× the input in memory). `endpoints`: `Ok` with
/// the JSON report the command writes, checked to have that many endpoints, or
/// `Err` with the number the input holds, only printed.
fn command_row(
    label: &str,
    path: &Path,
    args: &[String],
    runs: usize,
    bar: f64,
    endpoints: Result<(&Path, usize), usize>,
) {
    let mb = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
    let best = best_of(runs, || run(BIN, args));
    let peak = common::peak_rss_mb(BIN, args);
    let endpoints = match endpoints {
        Ok((out, expected)) => {
            let json: serde_json::Value =
                serde_json::from_slice(&std::fs::read(out).expect("report written"))
                    .expect("report is JSON");
            let n = json["endpoints"].as_array().map_or(0, Vec::len);
            assert_eq!(n, expected, "{label}: endpoints in the report");
            n
        }
        Err(n) => n,
    };
    let mut over = Vec::new();
    if best.as_secs_f64() > bar {
        over.push("time");
    }
    if peak.is_some_and(|p| p > 3.0 * mb) {
        over.push("memory");
    }
    println!(
        "{:<26} {:>8.1} {:>9.3} {:>7.2} {:>10} {:>8} {:>10}  {}",
        label,
        mb,
        best.as_secs_f64(),
        bar,
        peak.map_or("-".to_owned(), |p| format!("{p:.0}")),
        peak.map_or("-".to_owned(), |p| format!("{:.2}", p / mb)),
        endpoints,
        if over.is_empty() {
            String::new()
        } else {
            format!("OVER BAR: {}", over.join(", "))
        }
    );
}

/// One scrape of one endpoint, as a timeline row gives it.
struct Scrape {
    source: String,
    endpoint: String,
    time: f64,
    bytes: Vec<u8>,
}

/// The scrapes as the inputs a timeline file becomes (a copy, since `build`
/// takes them).
fn inputs(scrapes: &[Scrape]) -> Vec<Input> {
    scrapes
        .iter()
        .map(|s| Input {
            source: s.source.clone(),
            endpoint: "timeline".to_owned(),
            bytes: s.bytes.clone(),
            origin: Origin {
                row_time: Some(s.time),
                row_endpoint: Some(s.endpoint.clone()),
                ..Default::default()
            },
        })
        .collect()
}

/// Times `deployment::build` (parse and grouping) and `pipeline::evaluate` (best
/// of 3 each), checks every endpoint has two scrapes and a 15 s window, and
/// prints a row. `read` is the time to read the timeline file, when there is one.
fn evaluation_row(registry: &Registry, label: &str, read: Option<Duration>, scrapes: &[Scrape]) {
    let mb = scrapes.iter().map(|s| s.bytes.len()).sum::<usize>() as f64 / 1e6;
    let mut build = Duration::MAX;
    let mut deployment: Option<Deployment> = None;
    for _ in 0..3 {
        let inputs = inputs(scrapes);
        drop(deployment.take());
        let t = Instant::now();
        let d = deployment::build(inputs, &BuildOptions::default());
        build = build.min(t.elapsed());
        deployment = Some(d);
    }
    let deployment = deployment.expect("built");
    assert_eq!(deployment.endpoints.len(), ENDPOINTS, "{label}: endpoints");
    let options = EvalOptions::default();
    let mut eval = Duration::MAX;
    let mut last: Option<Evaluation> = None;
    for _ in 0..3 {
        drop(last.take());
        let t = Instant::now();
        let e = pipeline::evaluate(registry, &deployment, &options);
        eval = eval.min(t.elapsed());
        last = Some(e);
    }
    let e = last.expect("evaluated");
    assert_eq!(e.endpoints.len(), ENDPOINTS, "{label}: endpoints evaluated");
    let mut engines = BTreeSet::new();
    let (mut fired, mut not_evaluable) = (0, 0);
    for ep in &e.endpoints {
        let r = &ep.report;
        assert_eq!(
            r.scrapes.len(),
            SCRAPES,
            "{label}: scrapes of {}",
            r.endpoint
        );
        assert_eq!(
            r.window_seconds,
            Some(common::SCRAPE_INTERVAL_S),
            "{label}: window of {}",
            r.endpoint
        );
        engines.extend(r.engines.iter().map(|d| d.id.clone()));
    }
    let outcomes = e.endpoints.iter().flat_map(|ep| &ep.report.findings);
    for f in outcomes.chain(&e.deployment.findings) {
        match f.status {
            Status::Fired => fired += 1,
            Status::NotEvaluable => not_evaluable += 1,
            _ => {}
        }
    }
    println!(
        "{:<34} {:>7.1} {:>10} {:>10.3} {:>9.3} {:>8} {:>7}  {} ({}){}",
        label,
        mb,
        read.map_or("-".to_owned(), |r| format!("{:.3}", r.as_secs_f64())),
        build.as_secs_f64(),
        eval.as_secs_f64(),
        fired,
        not_evaluable,
        engines.len(),
        engines.into_iter().collect::<Vec<_>>().join(", "),
        if eval.as_secs_f64() > 1.0 {
            "  OVER BAR"
        } else {
            ""
        }
    );
}

/// 1,000 endpoints cycling through fixtures of every shipped system: each a
/// first scrape and a second grown from it (counters and histograms +10 % + 1),
/// or, for the window fixtures, their own first two scrapes. Instance ids are made
/// unique per endpoint, or every copy would be one endpoint.
fn fixture_mix() -> Vec<Scrape> {
    let read = |p: &str| {
        std::fs::read_to_string(Path::new(ROOT).join("fixtures/evidence").join(p))
            .unwrap_or_else(|e| panic!("fixture {p}: {e}"))
    };
    let mut pairs: Vec<(String, String)> = [
        "vllm/kv-pressure.prom",
        "vllm/healthy.prom",
        "sglang/healthy.prom",
        "sglang/pd-decode.prom",
        "dynamo/frontend.prom",
        "dynamo/component.prom",
        "kvbm/kvbm.prom",
        "lmcache-mp/server.prom",
        "lmcache-mp/vllm-mp-connector.prom",
        "lmcache-coordinator/coordinator.prom",
        "lmcache-embedded/internal-api.prom",
        "trtllm/serve.prom",
        "triton/trtllm-backend.prom",
        "llmd/epp.prom",
        "llmd/kv-indexer.prom",
        // The broken fixture of every system, so every finding family is evaluated.
        "vllm/dp-imbalance.prom",
        "vllm/external-connector.prom",
        "sglang/pressure.prom",
        "trtllm/pressure.prom",
        "triton/broken.prom",
        "dynamo/broken-frontend.prom",
        "kvbm/object-tier-failing.prom",
        "llmd/saturated.prom",
        "lmcache-embedded/zero-hits.prom",
        "misc/help-type-only.prom",
    ]
    .iter()
    .map(|p| {
        let first = read(p);
        let second = grown(&first);
        (first, second)
    })
    .collect();
    for (a, b) in [
        (
            "lmcache-mp/window/1765000000.prom",
            "lmcache-mp/window/1765000120.prom",
        ),
        (
            "windows/vllm/1765000000.prom",
            "windows/vllm/1765000030.prom",
        ),
        (
            "vllm/slo-breach/1765000000.prom",
            "vllm/slo-breach/1765000060.prom",
        ),
    ] {
        pairs.push((read(a), read(b)));
    }
    let t0 = 1_765_000_000.0;
    let mut out = Vec::with_capacity(ENDPOINTS * SCRAPES);
    for i in 0..ENDPOINTS {
        let (first, second) = &pairs[i % pairs.len()];
        let name = format!("ep{i:04}");
        let unique = |t: &str| {
            t.replace(
                "service_instance_id=\"",
                &format!("service_instance_id=\"{name}-"),
            )
        };
        for (k, text) in [first, second].into_iter().enumerate() {
            out.push(Scrape {
                source: format!("fixtures.jsonl:{}", i * SCRAPES + k + 1),
                endpoint: name.clone(),
                time: t0 + k as f64 * common::SCRAPE_INTERVAL_S,
                bytes: unique(text).into_bytes(),
            });
        }
    }
    out
}

/// A later scrape of `text`: every counter, histogram and summary sample grown by
/// 10 % plus one, rounded when whole (cumulative buckets stay cumulative and
/// `_count` equals `+Inf`),
/// gauges and `_created` kept. Untyped samples grow when named like a counter.
fn grown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let (mut family, mut growing) = (String::new(), false);
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut words = rest.split_whitespace();
            family = words.next().unwrap_or_default().to_owned();
            growing = matches!(words.next(), Some("counter" | "histogram" | "summary"));
        }
        if line.starts_with('#') || line.trim().is_empty() {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let name_end = line.find(['{', ' ', '\t']).unwrap_or(line.len());
        let name = &line[..name_end];
        let grow = !name.ends_with("_created")
            && if !family.is_empty() && name.starts_with(family.as_str()) {
                growing
            } else {
                ["_total", "_count", "_sum", "_bucket"]
                    .iter()
                    .any(|s| name.ends_with(s))
            };
        let labels_end = if line[name_end..].starts_with('{') {
            closing_brace(line, name_end).map_or(line.len(), |i| i + 1)
        } else {
            name_end
        };
        let value_start = line[labels_end..]
            .find(|c: char| !c.is_whitespace())
            .map_or(line.len(), |i| labels_end + i);
        let value_end = line[value_start..]
            .find(char::is_whitespace)
            .map_or(line.len(), |i| value_start + i);
        match line[value_start..value_end].parse::<f64>() {
            Ok(v) if grow && v.is_finite() => {
                let later = v * 1.1 + 1.0;
                let later = if v.fract() == 0.0 {
                    later.round()
                } else {
                    later
                };
                out.push_str(&line[..value_start]);
                out.push_str(&format!("{later}"));
                out.push_str(&line[value_end..]);
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// The `}` closing the label set that opens at `open`, skipping quoted values.
fn closing_brace(line: &str, open: usize) -> Option<usize> {
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in line[open..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '}' if !quoted => return Some(open + i),
            _ => {}
        }
    }
    None
}

fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn run(bin: &str, args: &[String]) {
    let status = Command::new(bin)
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("binary runs");
    assert!(
        status.code().is_some_and(|c| c <= 1),
        "{args:?} failed: {status}"
    );
}
