//! End-to-end bars from SPEC.md, measured on this machine:
//!
//! - `lmcache-compat --json` from process start to report written, on 10 MB and
//!   100 MB fleet expositions (generated here, and the `gen_exposition.py --seed 1`
//!   reference inputs when that script and python3 are present), with peak memory
//!   when `/usr/bin/time` is available: bars 0.15 s, 1.0 s, 3× the input;
//! - `check` on the shipped one-endpoint packet: bar 20 ms;
//! - rule evaluation (detection, signals, compatibility analysis, every finding)
//!   over 1,000 endpoints already parsed: bar 1 s.
//!
//! Without `--bench` (as `cargo test --benches` runs it) it only checks that the
//! binary answers, so test runs stay fast.

mod common;

use inferguard::eval::{evaluate_index, Endpoint, EvalOptions};
use inferguard::evidence::prometheus::{parse, ParseOptions};
use inferguard::normalize::SeriesIndex;
use inferguard::pack::Registry;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_inferguard");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

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
    let mut inputs: Vec<(String, PathBuf, f64)> = Vec::new();
    for (label, size, bar) in [
        ("generated 10MB", 10_000_000, 0.15),
        ("generated 100MB", 100_000_000, 1.0),
    ] {
        let path = tmp.join(format!("{label}.prom").replace(' ', "-"));
        std::fs::write(&path, common::generate_to_size(size, 1)).expect("write input");
        inputs.push((label.to_owned(), path, bar));
    }
    for (size, bar) in [("10MB", 0.15), ("100MB", 1.0)] {
        match common::reference_input(&tmp, size) {
            Ok(_) => inputs.push((
                format!("gen_exposition.py {size}"),
                tmp.join(format!("expo-{size}.prom")),
                bar,
            )),
            Err(why) => eprintln!("skipping gen_exposition.py --size {size}: {why}"),
        }
    }

    println!(
        "{:<26} {:>8} {:>9} {:>7} {:>10} {:>8}",
        "lmcache-compat --json", "MB", "best s", "bar s", "peak MB", "x input"
    );
    for (label, path, bar) in &inputs {
        let mb = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
        let out = tmp.join("report.json");
        let args: Vec<String> = vec![
            "lmcache-compat".into(),
            "--json".into(),
            "--lmcache-metrics-file".into(),
            path.display().to_string(),
            "--output".into(),
            out.display().to_string(),
        ];
        let best = best_of(7, || run(BIN, &args));
        let peak = peak_rss_mb(&args);
        println!(
            "{:<26} {:>8.1} {:>9.3} {:>7.2} {:>10} {:>8}",
            label,
            mb,
            best.as_secs_f64(),
            bar,
            peak.map_or("-".to_owned(), |p| format!("{p:.0}")),
            peak.map_or("-".to_owned(), |p| format!("{:.2}", p / mb))
        );
    }

    let packet = Path::new(ROOT).join("fixtures/packets/vllm-kv-pressure");
    let args = vec!["check".to_owned(), packet.display().to_string()];
    let best = best_of(20, || run(BIN, &args));
    println!(
        "check one-endpoint packet: best {:.1} ms (bar 20 ms)",
        best.as_secs_f64() * 1e3
    );

    // 1,000 endpoints, parsed once, cycling through our fixtures of every system.
    let registry = Registry::load(&[]).expect("shipped packs load");
    let fixtures = [
        "fixtures/evidence/vllm/kv-pressure.prom",
        "fixtures/evidence/vllm/healthy.prom",
        "fixtures/evidence/sglang/healthy.prom",
        "fixtures/evidence/dynamo/frontend.prom",
        "fixtures/evidence/lmcache-mp/server.prom",
        "fixtures/evidence/lmcache-mp/vllm-mp-connector.prom",
        "fixtures/evidence/trtllm/serve.prom",
        "fixtures/evidence/llmd/epp.prom",
    ];
    let expos: Vec<_> = (0..1000)
        .map(|i| {
            let text =
                std::fs::read(Path::new(ROOT).join(fixtures[i % fixtures.len()])).expect("fixture");
            parse(&text, &ParseOptions::default())
        })
        .collect();
    let indexes: Vec<SeriesIndex> = expos.iter().map(SeriesIndex::new).collect();
    let options = EvalOptions::default();
    let best = best_of(3, || {
        let mut fired = 0;
        for (i, (expo, index)) in expos.iter().zip(&indexes).enumerate() {
            let ep = Endpoint {
                name: format!("ep{i}"),
                source: "bench".into(),
                expo,
            };
            fired += evaluate_index(&registry, &ep, index, &options)
                .findings
                .len();
        }
        std::hint::black_box(fired);
    });
    println!(
        "rule evaluation, {} findings over 1000 endpoints: best {:.3} s (bar 1 s)",
        registry.findings.len(),
        best.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&tmp);
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

/// Peak resident memory of one run, from `/usr/bin/time -f %M` (KiB), when present.
fn peak_rss_mb(args: &[String]) -> Option<f64> {
    let o = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(BIN)
        .args(args)
        .stdout(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&o.stderr);
    let kib: f64 = text.lines().last()?.trim().parse().ok()?;
    Some(kib * 1024.0 / 1e6)
}
