//! Throughput and memory of the streaming log parser (issue 10, item 10).
//!
//! `cargo bench --bench logs` writes generated mixed engine/LMCache logs of about
//! 100 MB and 300 MB to a temp dir (`tests/it/common/log_gen.rs`: a quarter of the
//! lines in a category of `rules/lmcache/logs.yaml`, ANSI colours on LMCache
//! lines, some non-ASCII text and secrets) and streams each file through
//! [`LogParser`]: once classifying only, once also writing the redacted copy to a
//! file, as `collect-lmcache` does. One line per input: MB (decimal), best MB/s of
//! both, and the peak RSS while parsing it (`VmHWM`, reset before each input
//! through `/proc/self/clear_refs`). The bars: 100 MB/s or more, and the same
//! peak RSS for both sizes.
//!
//! Without `--bench` (as `cargo test --benches` runs it) it only parses a small
//! generated log, so test runs stay fast.

#[path = "../tests/it/common/log_gen.rs"]
mod log_gen;

use inferguard::evidence::logs::{LogEvidence, LogParser};
use inferguard::pack::compat::LogRules;
use inferguard::pack::Registry;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

fn main() {
    let rules = Registry::load_strict(&[]).expect("shipped packs load").logs;
    if !std::env::args().any(|a| a == "--bench") {
        let log = log_gen::LogGen::new(1).log(200_000);
        let mut copy = Vec::new();
        let mut parser = LogParser::new(&rules);
        parser
            .add("smoke.log", log.as_slice(), Some(&mut copy))
            .expect("in memory");
        let ev = parser.finish();
        assert!(
            ev.categories.len() >= 15,
            "few categories: {:?}",
            ev.categories.keys()
        );
        assert!(copy.len() > 100_000 && ev.unreadable.is_empty());
        println!("logs bench: smoke run passed (run `cargo bench --bench logs` to measure)");
        return;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    println!("MB/s: decimal megabytes per second of wall time (of CPU time in brackets)");
    println!(
        "{:<6} {:>6} {:>16} {:>16} {:>12} {:>9}",
        "input", "MB", "parse MB/s", "+copy MB/s", "peak RSS MB", "lines"
    );
    let mut reset_all = true;
    for (label, size) in [("100MB", 100_000_000), ("300MB", 300_000_000)] {
        let path = dir.path().join(format!("{label}.log"));
        let t = Instant::now();
        write_log(&path, size);
        eprintln!("{label}: generated in {:.1} s", t.elapsed().as_secs_f64());
        let mb = std::fs::metadata(&path).expect("log written").len() as f64 / 1e6;
        reset_all &= reset_peak_rss();
        let runs = if size > 200_000_000 { 2 } else { 3 };
        let (wall, cpu, ev) = best(runs, || parse(&rules, &path, None));
        let copy_path = dir.path().join("copy.log");
        let (copy_wall, copy_cpu, _) = best(runs, || parse(&rules, &path, Some(&copy_path)));
        let peak = vm_kib("VmHWM").map_or("?".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0));
        let rate = |wall: Duration, cpu: Option<Duration>| {
            let cpu = cpu.map_or("?".to_owned(), |c| format!("{:.0}", mb / c.as_secs_f64()));
            format!("{:.0} ({cpu})", mb / wall.as_secs_f64())
        };
        println!(
            "{label:<6} {mb:>6.1} {:>16} {:>16} {peak:>12} {:>9}",
            rate(wall, cpu),
            rate(copy_wall, copy_cpu),
            ev.line_count
        );
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(&copy_path);
    }
    if !reset_all {
        println!("(peak RSS is the whole run's: /proc/self/clear_refs could not reset it)");
    }
}

/// Streams the generated log to `path`, never holding it in memory.
fn write_log(path: &Path, size: usize) {
    let mut out = BufWriter::new(std::fs::File::create(path).expect("temp file"));
    let mut gen = log_gen::LogGen::new(7);
    let (mut written, mut line) = (0, Vec::new());
    while written < size {
        line.clear();
        gen.line(&mut line);
        out.write_all(&line).expect("temp file written");
        written += line.len();
    }
    out.flush().expect("temp file written");
}

fn parse(rules: &LogRules, path: &Path, copy: Option<&Path>) -> LogEvidence {
    let file = std::fs::File::open(path).expect("log readable");
    let reader = BufReader::with_capacity(1 << 16, file);
    let mut parser = LogParser::new(rules);
    let mut sink = copy.map(|p| BufWriter::new(std::fs::File::create(p).expect("copy file")));
    parser
        .add(
            "bench.log",
            reader,
            sink.as_mut().map(|s| s as &mut dyn Write),
        )
        .expect("log parsed");
    parser.finish()
}

/// Best wall time and best CPU time of `runs` calls, and the last result. CPU
/// time (this thread's, from `/proc/thread-self/schedstat`) is what the parser
/// costs when other work shares the machine; wall time is what a user waits.
fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Option<Duration>, T) {
    let (mut wall, mut cpu) = (Duration::MAX, Some(Duration::MAX));
    let mut last = None;
    for _ in 0..runs {
        let (t, c) = (Instant::now(), cpu_time());
        last = Some(f());
        wall = wall.min(t.elapsed());
        cpu = match (cpu, c, cpu_time()) {
            (Some(best), Some(a), Some(b)) => Some(best.min(b.saturating_sub(a))),
            _ => None,
        };
    }
    (wall, cpu, last.expect("at least one run"))
}

fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(
        stat.split_whitespace().next()?.parse().ok()?,
    ))
}

/// Resets `VmHWM` to the current RSS (Linux 4.0+); false when it cannot.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn vm_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
