//! The `summarize` bar from SPEC.md: a 1-hour timeline of 10 endpoints scraped every
//! 5 s (7,200 endpoint scrapes, `gen_exposition.py --endpoints 10 --timeline 720
//! --jsonl`, about 1.5 GB) summarised, process start to `metrics_summary.json`
//! written, in at most 2× the time the bare scanner (`prometheus::parse`, one
//! thread) takes to read the same expositions, with peak memory that does not grow
//! with the number of scrapes (≤ 300 MB): the first half of the timeline (360
//! scrapes per endpoint) is measured too, and its peak compared.
//!
//! Without `gen_exposition.py` and python3 the benchmark's own generator writes the
//! timeline (same shape). Without `--bench` (as `cargo test --benches` runs it) it
//! summarises a small generated timeline and checks the result, so test runs stay fast.

mod common;

use inferguard::evidence::prometheus::{self, ParseOptions};
use inferguard::evidence::timeline;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_inferguard");

fn main() {
    let tmp = std::env::temp_dir().join(format!("summarize-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    if !std::env::args().any(|a| a == "--bench") {
        smoke(&tmp);
        let _ = std::fs::remove_dir_all(&tmp);
        return;
    }
    // INFERGUARD_BENCH_TIMELINE: an already generated timeline (saves minutes).
    let given = std::env::var_os("INFERGUARD_BENCH_TIMELINE").map(PathBuf::from);
    let full = match given.map_or_else(|| common::reference_timeline(&tmp, 10, 720), Ok) {
        Ok(path) => path,
        Err(why) => {
            eprintln!("gen_exposition.py unavailable ({why}): using the benchmark's generator");
            write_timeline(&tmp.join("generated.jsonl"), 10, 720)
        }
    };
    let half = tmp.join("half.jsonl");
    first_rows(&full, &half, 10 * 360);
    println!(
        "{:<22} {:>8} {:>8} {:>11} {:>12} {:>8} {:>9}",
        "summarize", "MB", "rows", "scanner s", "summarize s", "ratio", "peak MB"
    );
    for (label, path) in [("10 x 360 (30 min)", &half), ("10 x 720 (1 h)", &full)] {
        let mb = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
        let (scan, rows) = scanner_time(path);
        let out = tmp.join("out");
        let args: Vec<String> = vec![
            "summarize".into(),
            path.display().to_string(),
            "--output-dir".into(),
            out.display().to_string(),
        ];
        let best = (0..2).map(|_| timed(&args)).min().unwrap_or_default();
        let peak = common::peak_rss_mb(BIN, &args);
        let ratio = best.as_secs_f64() / scan.as_secs_f64();
        let over = ratio > 2.0 || peak.is_some_and(|p| p > 300.0);
        println!(
            "{label:<22} {mb:>8.0} {rows:>8} {:>11.2} {:>12.2} {ratio:>8.2} {:>9}{}",
            scan.as_secs_f64(),
            best.as_secs_f64(),
            peak.map_or("-".to_owned(), |p| format!("{p:.0}")),
            if over { "  OVER BAR" } else { "" }
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

/// A small timeline through the binary: every endpoint summarised with a window.
fn smoke(tmp: &Path) {
    let path = write_timeline(&tmp.join("small.jsonl"), 2, 3);
    let out = tmp.join("out");
    let status = Command::new(BIN)
        .args(["summarize", &path.display().to_string(), "--output-dir"])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("binary runs");
    assert!(status.success(), "summarize failed: {status}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics_summary.json")).unwrap()).unwrap();
    let endpoints = json["endpoints"].as_array().expect("endpoints");
    assert_eq!(endpoints.len(), 2);
    assert!(endpoints.iter().all(|e| e["scrapes"] == 3));
    println!("summarize bench: smoke run passed (run `cargo bench --bench summarize` to measure)");
}

/// The benchmark's own timeline, one JSON row per scrape and endpoint.
fn write_timeline(path: &Path, endpoints: usize, scrapes: usize) -> PathBuf {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create timeline"));
    for row in common::generate_timeline(endpoints, scrapes, 1) {
        let doc = serde_json::json!({
            "ts_ms": (row.time * 1e3) as i64,
            "endpoint": row.endpoint,
            "text": row.text,
        });
        writeln!(f, "{doc}").expect("write row");
    }
    f.flush().expect("flush");
    path.to_owned()
}

/// The first `n` rows of a timeline, into `out`.
fn first_rows(src: &Path, out: &Path, n: usize) {
    let r = std::io::BufReader::new(std::fs::File::open(src).expect("open timeline"));
    let mut w = std::io::BufWriter::new(std::fs::File::create(out).expect("create"));
    for line in r.split(b'\n').take(n) {
        w.write_all(&line.expect("read")).expect("write");
        w.write_all(b"\n").expect("write");
    }
    w.flush().expect("flush");
}

/// The bare scanner over every row's exposition, one thread: only `parse` is timed
/// (reading and decoding the JSON rows is not).
fn scanner_time(path: &Path) -> (Duration, usize) {
    let r = std::io::BufReader::new(std::fs::File::open(path).expect("open timeline"));
    let mut total = Duration::ZERO;
    let mut rows = 0;
    for line in r.split(b'\n') {
        let line = line.expect("read");
        if line.is_empty() {
            continue;
        }
        let row = timeline::parse_row(&line, &Default::default()).expect("row");
        let t = Instant::now();
        let expo = prometheus::parse(row.text.as_bytes(), &ParseOptions::default());
        total += t.elapsed();
        assert!(!expo.samples.is_empty());
        rows += 1;
    }
    (total, rows)
}

fn timed(args: &[String]) -> Duration {
    let t = Instant::now();
    let status = Command::new(BIN)
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("binary runs");
    assert!(status.success(), "{args:?} failed: {status}");
    t.elapsed()
}
