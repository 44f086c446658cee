//! `inferguard collect-metrics` against real HTTP servers on loopback (the bounded
//! server of `collect_lmcache`): a timeline that changes between scrapes (counters
//! growing, one reset, a gauge, a histogram), an endpoint that times out, one that
//! answers 500, and one that answers JSON on `/metrics` with the exposition at the
//! alternative path its pack declares. Statistics are asserted exactly, and
//! `summarize` over the kept timeline must give the same ones. Every run of the
//! binary is bounded; every server is stopped when its test ends.

use crate::collect_lmcache::{json, Reply, Server};
use crate::common::run_bounded;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RUN_LIMIT: Duration = Duration::from_secs(120);
const TIMELINE: &str = "engine_metrics_timeline.jsonl";

/// Prompt tokens per scrape: restarted (reset) before the third.
const PROMPT: [u64; 4] = [100, 150, 30, 80];
const GENERATION: [u64; 4] = [10, 20, 40, 70];
const WAITING: [u64; 4] = [3, 1, 4, 2];
/// E2E histogram per scrape: cumulative buckets le=0.5, le=1, +Inf, and the sum.
const E2E: [(u64, u64, u64, f64); 4] = [
    (0, 0, 0, 0.0),
    (1, 2, 2, 1.0),
    (2, 4, 5, 3.0),
    (4, 7, 9, 6.0),
];

/// The engine's `k`-th scrape (0-based; later ones repeat the last).
fn engine_scrape(k: usize) -> String {
    let k = k.min(3);
    let (b05, b1, inf, sum) = E2E[k];
    format!(
        "# TYPE vllm:prompt_tokens counter\n\
         vllm:prompt_tokens_total{{model_name=\"m\"}} {}\n\
         # TYPE vllm:generation_tokens counter\n\
         vllm:generation_tokens_total{{model_name=\"m\"}} {}\n\
         # TYPE vllm:num_requests_waiting gauge\n\
         vllm:num_requests_waiting{{model_name=\"m\"}} {}\n\
         # TYPE vllm:e2e_request_latency_seconds histogram\n\
         vllm:e2e_request_latency_seconds_bucket{{model_name=\"m\",le=\"0.5\"}} {b05}\n\
         vllm:e2e_request_latency_seconds_bucket{{model_name=\"m\",le=\"1.0\"}} {b1}\n\
         vllm:e2e_request_latency_seconds_bucket{{model_name=\"m\",le=\"+Inf\"}} {inf}\n\
         vllm:e2e_request_latency_seconds_sum{{model_name=\"m\"}} {sum}\n\
         vllm:e2e_request_latency_seconds_count{{model_name=\"m\"}} {inf}\n",
        PROMPT[k], GENERATION[k], WAITING[k]
    )
}

fn text(body: String) -> Reply {
    Reply::Body(200, "text/plain; version=0.0.4", body.into_bytes())
}

/// Serves the engine timeline at `/metrics` (the k-th request gets scrape k), a
/// stall at `/slow/metrics` and a 500 at `/err/metrics`.
fn engine_server() -> Server {
    let served = Arc::new(AtomicUsize::new(0));
    Server::start("127.0.0.1", 64, move |_, target| match target {
        "/metrics" => text(engine_scrape(served.fetch_add(1, Ordering::SeqCst))),
        "/slow/metrics" => Reply::Stall(Duration::from_secs(3)),
        "/err/metrics" => json(500, r#"{"error":"boom"}"#),
        _ => json(404, "{}"),
    })
    .expect("loopback server")
}

/// JSON iteration stats at `/metrics`, the exposition at `/prometheus/metrics`
/// (a success counter 1, 2, 3, … per request).
fn json_metrics_server() -> Server {
    let served = Arc::new(AtomicUsize::new(0));
    Server::start("127.0.0.1", 64, move |_, target| match target {
        "/metrics" => json(200, r#"[{"iter": 1, "numActiveRequests": 0}]"#),
        "/prometheus/metrics" => {
            let n = served.fetch_add(1, Ordering::SeqCst) + 1;
            text(format!(
                "# TYPE trtllm_request_success counter\ntrtllm_request_success_total{{finished_reason=\"stop\"}} {n}\n"
            ))
        }
        _ => json(404, "{}"),
    })
    .expect("loopback server")
}

/// A fresh, not yet existing directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("ig-collect-metrics-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn rows(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("row {l}: {e}")))
        .collect()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn endpoint<'s>(summary: &'s Value, url: &str) -> &'s Value {
    summary["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["endpoint"] == url)
        .unwrap_or_else(|| panic!("no endpoint {url} in {summary:#}"))
}

/// The stats of the one series of `family` at an endpoint.
fn stats<'s>(endpoint: &'s Value, family: &str) -> &'s Value {
    let f = endpoint["families"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["family"] == family)
        .unwrap_or_else(|| panic!("no family {family} in {endpoint:#}"));
    let series = f["series"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{family}: {series:?}");
    &series[0]["stats"]
}

/// Files the run left besides its outputs (temp files of an unfinished write).
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            !["metrics_summary.json", "metrics_summary.csv", TIMELINE].contains(&n.as_str())
        })
        .collect()
}

/// Issue 12: exact statistics from a live, changing timeline; failures are rows;
/// the JSON `/metrics` is probed once and its alternative path scraped; and
/// `summarize` over the kept timeline agrees family for family.
#[test]
fn collect_metrics_statistics_are_exact_and_summarize_agrees() {
    let mut engine = engine_server();
    let mut trt = json_metrics_server();
    let (base, trt_base) = (engine.base_url(), trt.base_url());
    let (url, slow, err) = (
        format!("{base}/metrics"),
        format!("{base}/slow/metrics"),
        format!("{base}/err/metrics"),
    );
    let trt_url = format!("{trt_base}/metrics");
    let dir = scratch("exact");
    let d = dir.display().to_string();
    let args = [
        "collect-metrics",
        "--endpoint",
        &format!("{url}=engine"),
        "--endpoint",
        &slow,
        "--endpoint",
        &err,
        "--engine-metrics-url",
        &trt_url,
        "--count",
        "4",
        "--interval",
        "0.2",
        "--timeout",
        "1",
        "--keep-raw",
        "--output-dir",
        &d,
    ];
    let out = run_bounded(&args, RUN_LIMIT).expect("collect-metrics finishes");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{stderr}");
    assert!(
        stderr.contains(&trt_url)
            && stderr.contains("/prometheus/metrics")
            && stderr.contains("JSON"),
        "the probe is said, naming the endpoint:\n{stderr}"
    );
    let requests = (engine.finish(), trt.finish());
    let all: Vec<_> = requests.0.iter().chain(&requests.1).collect();
    assert!(all.iter().all(|r| r.method == "GET"), "{all:?}");
    let count = |log: &[crate::collect_lmcache::Request], path: &str| {
        log.iter().filter(|r| r.target == path).count()
    };
    assert_eq!(count(&requests.0, "/metrics"), 4);
    assert_eq!(
        (
            count(&requests.1, "/metrics"),
            count(&requests.1, "/prometheus/metrics")
        ),
        (1, 4),
        "probed once, then scraped there"
    );

    let rows = rows(&dir.join(TIMELINE));
    assert_eq!(rows.len(), 16, "one row per scrape per endpoint");
    let of = |e: &str| {
        rows.iter()
            .filter(|r| r["endpoint"] == e)
            .collect::<Vec<_>>()
    };
    let engine_rows = of(&url);
    for (k, r) in engine_rows.iter().enumerate() {
        assert_eq!(
            (r["status"].as_u64(), r["role"].as_str()),
            (Some(200), Some("engine")),
            "{r}"
        );
        assert_eq!(r["engines"], serde_json::json!(["vllm"]), "{r}");
        assert_eq!(
            r["signals"]["vllm"]["queue_waiting"].as_f64(),
            Some(WAITING[k] as f64),
            "{r}"
        );
        assert_eq!(r["text"].as_str(), Some(engine_scrape(k).as_str()));
    }
    for r in of(&slow) {
        assert_eq!(
            (r["error"].as_str(), r.get("status"), r.get("text")),
            (Some("timeout"), None, None),
            "{r}"
        );
    }
    for r in of(&err) {
        assert_eq!(
            (r["error"].as_str(), r["status"].as_u64()),
            (Some("http_500"), Some(500)),
            "{r}"
        );
    }
    for r in of(&trt_url) {
        assert_eq!(
            r["url"].as_str(),
            Some(format!("{trt_base}/prometheus/metrics").as_str()),
            "{r}"
        );
        assert_eq!(
            (r["status"].as_u64(), r["role"].as_str()),
            (Some(200), Some("engine")),
            "{r}"
        );
    }

    let summary = read_json(&dir.join("metrics_summary.json"));
    let e = endpoint(&summary, &url);
    let ts: Vec<f64> = engine_rows
        .iter()
        .map(|r| r["ts_ms"].as_f64().unwrap() / 1e3)
        .collect();
    let seconds = ts[3] - ts[0];
    assert_eq!(e["window_seconds"].as_f64(), Some(seconds));
    let prompt = stats(e, "vllm:prompt_tokens");
    // 100 → 150 (+50), reset to 30 (+30), → 80 (+50).
    assert_eq!(
        (prompt["total"].as_f64(), prompt["resets"].as_f64()),
        (Some(130.0), Some(1.0)),
        "{prompt}"
    );
    assert_eq!(prompt["rate"].as_f64(), Some(130.0 / seconds), "{prompt}");
    let generation = stats(e, "vllm:generation_tokens");
    assert_eq!(
        (generation["total"].as_f64(), generation["resets"].as_f64()),
        (Some(60.0), Some(0.0))
    );
    assert_eq!(generation["rate"].as_f64(), Some(60.0 / seconds));
    let waiting = stats(e, "vllm:num_requests_waiting");
    let gauge = (
        waiting["avg"].as_f64(),
        waiting["min"].as_f64(),
        waiting["max"].as_f64(),
    );
    assert_eq!(gauge, (Some(2.5), Some(1.0), Some(4.0)), "{waiting}");
    let e2e = stats(e, "vllm:e2e_request_latency_seconds");
    assert_eq!(
        (e2e["count"].as_f64(), e2e["sum"].as_f64()),
        (Some(9.0), Some(6.0)),
        "{e2e}"
    );
    let trt_stats = stats(endpoint(&summary, &trt_url), "trtllm_request_success");
    assert_eq!(trt_stats["total"].as_f64(), Some(3.0), "{trt_stats}");
    let answered: Vec<&str> = summary["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["endpoint"].as_str().unwrap())
        .collect();
    assert_eq!(
        answered.len(),
        2,
        "failed endpoints have no statistics: {answered:?}"
    );

    // `summarize` over the kept timeline: the same statistics.
    let timeline = dir.join(TIMELINE).display().to_string();
    let again =
        run_bounded(&["summarize", &timeline, "--json"], RUN_LIMIT).expect("summarize finishes");
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["endpoints"].as_array().map(Vec::len), Some(2));
    for e in summary["endpoints"].as_array().unwrap() {
        let url = e["endpoint"].as_str().unwrap();
        assert_eq!(e["families"], endpoint(&again, url)["families"], "{url}");
        assert_eq!(
            e["equivalents"],
            endpoint(&again, url)["equivalents"],
            "{url}"
        );
    }
    assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 12: Ctrl-C (SIGINT) mid-run writes what was collected, complete, says so
/// and exits 0.
#[test]
fn sigint_mid_run_leaves_complete_files_and_exits_0() {
    let mut server = engine_server();
    let url = format!("{}/metrics", server.base_url());
    let dir = scratch("sigint");
    let (out, err) = (tempfile::tempfile().unwrap(), tempfile::tempfile().unwrap());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_inferguard"))
        .args([
            "collect-metrics",
            "--endpoint",
            &url,
            "--count",
            "500",
            "--interval",
            "0.2",
            "--keep-raw",
            "--output-dir",
        ])
        .arg(&dir)
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .spawn()
        .expect("the binary runs");
    // Rows are flushed to the temp timeline after every tick: wait for three.
    let started = Instant::now();
    let flushed = |dir: &Path| -> usize {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(".engine_metrics_timeline")
            })
            .map(|e| {
                std::fs::read_to_string(e.path())
                    .unwrap_or_default()
                    .lines()
                    .count()
            })
            .sum()
    };
    while flushed(&dir) < 3 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    server.finish();
    let stderr = {
        use std::io::{Read as _, Seek as _};
        let mut err = err;
        let mut s = String::new();
        err.rewind().unwrap();
        err.read_to_string(&mut s).unwrap();
        s
    };
    assert!(sent.is_ok_and(|s| s.success()), "kill -INT failed");
    let status =
        status.unwrap_or_else(|| panic!("collect-metrics did not stop on SIGINT:\n{stderr}"));
    assert_eq!(status.code(), Some(0), "stderr:\n{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let rows = rows(&dir.join(TIMELINE));
    assert!((3..500).contains(&rows.len()), "{} rows", rows.len());
    assert!(rows
        .iter()
        .all(|r| r["ts_ms"].is_u64() && r["text"].is_string()));
    let summary = read_json(&dir.join("metrics_summary.json"));
    assert_eq!(
        endpoint(&summary, &url)["scrapes"].as_u64(),
        Some(rows.len() as u64)
    );
    let csv = std::fs::read_to_string(dir.join("metrics_summary.csv")).unwrap();
    assert!(csv.lines().count() > 1 && csv.ends_with('\n'), "{csv}");
    assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Bad input is refused before anything is sent, naming what is wrong (exit 2).
#[test]
fn bad_collect_metrics_input_names_the_input() {
    let dir = scratch("bad").display().to_string();
    let ok = "http://127.0.0.1:9/metrics";
    let cases: [(&[&str], &str); 6] = [
        (
            &[
                "--endpoint",
                "ftp://h/metrics",
                "--interval",
                "1",
                "--count",
                "1",
            ],
            "ftp://h/metrics",
        ),
        (
            &["--endpoint", ok, "--interval", "0", "--count", "1"],
            "--interval 0",
        ),
        (
            &["--endpoint", ok, "--interval", "1", "--count", "0"],
            "--count 0",
        ),
        (
            &["--endpoint", ok, "--interval", "1", "--duration=-5"],
            "--duration -5",
        ),
        (
            &[
                "--endpoint",
                "http://127.0.0.1:9/metrics=enginee",
                "--interval",
                "1",
                "--count",
                "1",
            ],
            "unknown role `enginee`",
        ),
        (&["--interval", "1", "--count", "1"], "nothing to scrape"),
    ];
    for (args, needle) in cases {
        let mut all = vec!["collect-metrics", "--output-dir", &dir];
        all.extend_from_slice(args);
        let out = run_bounded(&all, RUN_LIMIT).expect("refused at once");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// Nothing answered: the failures are still written, then exit 2; a secret in
/// the URL reaches no file and no message.
#[test]
fn nothing_answered_writes_the_failures_and_exits_2() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let secret = "SECRETVALUE123";
    let given = format!("http://127.0.0.1:{port}/metrics?api_key={secret}");
    let dir = scratch("none");
    let d = dir.display().to_string();
    let args = [
        "collect-metrics",
        "--endpoint",
        &given,
        "--count",
        "2",
        "--interval",
        "0.2",
        "--output-dir",
        &d,
    ];
    let out = run_bounded(&args, RUN_LIMIT).expect("finishes");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no endpoint answered"), "{stderr}");
    let rows = rows(&dir.join(TIMELINE));
    assert_eq!(rows.len(), 2);
    let at = format!("http://127.0.0.1:{port}/metrics?api_key=");
    assert!(
        rows.iter().all(|r| r["error"] == "connect_error"
            && r["endpoint"].as_str().is_some_and(|e| e.starts_with(&at))),
        "{rows:?}"
    );
    for name in [TIMELINE, "metrics_summary.json", "metrics_summary.csv"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        assert!(!text.contains(secret), "{name}: {text}");
    }
    assert!(!stderr.contains(secret) && !String::from_utf8_lossy(&out.stdout).contains(secret));
    let _ = std::fs::remove_dir_all(&dir);
}
