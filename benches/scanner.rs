//! Throughput of the exposition scanner on fleet-sized scrapes.
//!
//! `cargo bench --bench scanner` parses generated 10 MB and 100 MB fleet
//! expositions (see `common/mod.rs`) and, when `python3` and
//! `shared/tools/gen_exposition.py` are there, the reference inputs that tool
//! writes with `--seed 1`. One line per input: size, best time of N runs, MB/s
//! (decimal megabytes), samples, dropped lines. The target is 300 MB/s or more.
//!
//! Without `--bench` (as `cargo test --benches` runs it) it only checks that a
//! small generated fleet parses cleanly, so test runs stay fast.

mod common;

use inferguard::evidence::prometheus::{parse, ParseOptions};
use std::time::{Duration, Instant};

fn main() {
    let opts = ParseOptions::default();
    if !std::env::args().any(|a| a == "--bench") {
        let text = common::generate_fleet(2, 1);
        let e = parse(text.as_bytes(), &opts);
        assert!(
            e.dropped.is_empty(),
            "generated fleet has drops: {:?}",
            e.dropped
        );
        assert!(e.samples.len() > 1000);
        println!("scanner bench: smoke run passed (run `cargo bench --bench scanner` to measure)");
        return;
    }

    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    for (label, size) in [
        ("generated 10MB", 10_000_000),
        ("generated 100MB", 100_000_000),
    ] {
        let t = Instant::now();
        let text = common::generate_to_size(size, 1);
        eprintln!("{label}: generated in {:.1} s", t.elapsed().as_secs_f64());
        inputs.push((label.to_owned(), text.into_bytes()));
    }
    let tmp = std::env::temp_dir().join(format!("scanner-bench-{}", std::process::id()));
    for size in ["10MB", "100MB"] {
        match common::reference_input(&tmp, size) {
            Ok(bytes) => inputs.push((format!("gen_exposition.py {size}"), bytes)),
            Err(why) => eprintln!("skipping gen_exposition.py --size {size}: {why}"),
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);

    println!(
        "{:<24} {:>10} {:>10} {:>9} {:>10} {:>8}",
        "input", "MB", "best ms", "MB/s", "samples", "dropped"
    );
    for (label, bytes) in &inputs {
        // Enough runs for a stable best, without passing ~2 minutes in total.
        let runs = if bytes.len() > 50_000_000 { 5 } else { 15 };
        let mut best = Duration::MAX;
        let mut counts = (0, 0);
        for _ in 0..runs {
            let t = Instant::now();
            let e = parse(std::hint::black_box(bytes), &opts);
            best = best.min(t.elapsed());
            counts = (e.samples.len(), e.dropped.len());
            drop(std::hint::black_box(e));
        }
        let mb = bytes.len() as f64 / 1e6;
        println!(
            "{:<24} {:>10.1} {:>10.2} {:>9.0} {:>10} {:>8}",
            label,
            mb,
            best.as_secs_f64() * 1e3,
            mb / best.as_secs_f64(),
            counts.0,
            counts.1
        );
    }
}
