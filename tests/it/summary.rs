//! `summarize`: statistics against hand-computed values, the same numbers as the
//! window forms findings read, timelines (in and out of order), AIPerf exports,
//! `--start`/`--end`, bad rows, and argument order.

use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const FIXTURE: &str = "fixtures/evidence/summary/vllm-bench";

fn summarize(args: &[&str]) -> (Value, String) {
    let mut all = vec!["summarize", "--json"];
    all.extend_from_slice(args);
    let out = crate::common::run_bounded(&all, Duration::from_secs(60)).expect("summarize ends");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "summarize {args:?}: {stderr}");
    (serde_json::from_slice(&out.stdout).expect("JSON"), stderr)
}

/// The stats of one series of one family of the only (or named) endpoint.
fn series<'a>(summary: &'a Value, family: &str) -> &'a Value {
    let e = &summary["endpoints"][0];
    let f = e["families"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["family"] == family)
        .unwrap_or_else(|| panic!("no family {family}"));
    &f["series"][0]
}

fn close(v: &Value, want: f64) {
    let got = v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    assert!(
        (got - want).abs() <= 1e-12 * want.abs().max(1.0),
        "{got} != {want}"
    );
}

/// Three scrapes 10 s apart (see the fixture's provenance line): every statistic
/// of every type, computed by hand.
#[test]
fn statistics_equal_the_hand_computed_values() {
    let (s, _) = summarize(&[FIXTURE]);
    let e = &s["endpoints"][0];
    assert_eq!(
        (e["scrapes"].as_u64(), e["window_seconds"].as_f64()),
        (Some(3), Some(20.0))
    );

    // Counter 100 → 160 → 40: +60, then a reset (post-reset value added): 100.
    let c = &series(&s, "vllm:prompt_tokens_total")["stats"];
    assert_eq!(
        (c["total"].as_f64(), c["resets"].as_f64()),
        (Some(100.0), Some(1.0))
    );
    close(&c["rate"], 5.0);

    // Gauge 2, 6, 4.
    let g = &series(&s, "vllm:num_requests_waiting")["stats"];
    for (k, want) in [
        ("avg", 4.0),
        ("min", 2.0),
        ("max", 6.0),
        ("p50", 4.0),
        ("p90", 5.6),
        ("p99", 5.96),
    ] {
        close(&g[k], want);
    }
    close(&g["std"], (8.0f64 / 3.0).sqrt());

    // Histogram: bucket increases 3, 6, 8, 10 (+Inf); count 10, sum 7.5.
    let h = &series(&s, "vllm:time_to_first_token_seconds")["stats"];
    assert_eq!(
        (h["count"].as_f64(), h["sum"].as_f64()),
        (Some(10.0), Some(7.5))
    );
    close(&h["avg"], 0.75);
    // Rank 5 falls in (0.1, 0.5] holding ranks 3..6: 0.1 + 0.4 · 2/3.
    close(&h["p50_estimate"], 0.1 + 0.4 * 2.0 / 3.0);
    // Ranks 9, 9.5 and 9.9 fall in +Inf: the highest finite bound.
    for k in ["p90_estimate", "p95_estimate", "p99_estimate"] {
        close(&h[k], 1.0);
    }
    let buckets: Vec<(String, f64)> = h["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["le"].as_str().unwrap().to_owned(),
                b["delta"].as_f64().unwrap(),
            )
        })
        .collect();
    let want = [("0.1", 3.0), ("0.5", 6.0), ("1", 8.0), ("+Inf", 10.0)];
    assert_eq!(buckets, want.map(|(l, d)| (l.to_owned(), d)));

    // Info-style labels are kept as the series' labels.
    let info = series(&s, "vllm:cache_config_info");
    assert_eq!(info["labels"]["block_size"], "16");
    close(&info["stats"]["avg"], 1.0);

    // The engine's equivalents read the same series.
    let eq = |id: &str| {
        e["equivalents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no equivalent {id}"))
    };
    assert_eq!(eq("ttft")["stats"]["count"].as_f64(), Some(10.0));
    close(&eq("queue_depth")["stats"]["max"], 6.0);
}

/// `summarize` and the window forms `check` gives findings agree on every signal
/// both report (the window fixtures and the summary fixture).
#[test]
fn summarize_and_window_findings_give_the_same_numbers() {
    for dir in [FIXTURE, "fixtures/evidence/windows/vllm"] {
        let (s, _) = summarize(&[dir]);
        let out = crate::common::run_bounded(&["check", dir, "--json"], Duration::from_secs(60))
            .expect("check ends");
        let check: Value = serde_json::from_slice(&out.stdout).expect("check JSON");
        let signals = &check["endpoints"][0]["signals"]["vllm"];
        let e = &s["endpoints"][0];
        let mut compared = 0;
        let rows = e["equivalents"]
            .as_array()
            .unwrap()
            .iter()
            .chain(e["breakdowns"].as_array().unwrap());
        for row in rows {
            let Some(name) = row["signal"].as_str() else {
                continue;
            };
            let window = &signals[name]["window"];
            let stats = &row["stats"];
            let pairs = [
                ("count", "count"),
                ("sum", "sum"),
                ("avg", "avg"),
                ("min", "min"),
                ("max", "max"),
                ("std", "std"),
                ("p50", "p50"),
                ("p90", "p90"),
                ("p99", "p99"),
                ("p50_estimate", "p50"),
                ("p90_estimate", "p90"),
                ("p95_estimate", "p95"),
                ("p99_estimate", "p99"),
                ("total", "delta"),
                ("rate", "rate"),
            ];
            for (mine, theirs) in pairs {
                if stats[mine].is_null() {
                    continue;
                }
                close(&stats[mine], window[theirs].as_f64().unwrap_or(f64::NAN));
                compared += 1;
            }
        }
        assert!(compared >= 10, "{dir}: only {compared} numbers compared");
    }
}

/// Writes the fixture's scrapes as timeline rows (in the given order of scrapes).
fn timeline(dir: &Path, name: &str, order: &[usize]) -> String {
    let mut files: Vec<_> = std::fs::read_dir(FIXTURE)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut text = String::new();
    for &i in order {
        let f = &files[i];
        let t: f64 = f.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        let row = serde_json::json!({
            "ts_ms": t * 1e3,
            "endpoint": "10.0.0.1:8000",
            "text": std::fs::read_to_string(f).unwrap(),
        });
        text.push_str(&row.to_string());
        text.push('\n');
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn families(s: &Value) -> Value {
    s["endpoints"][0]["families"].clone()
}

/// Rows in time order stream once; shuffled rows are read a second time in time
/// order (and say so); both give the statistics of the scrape files.
#[test]
fn timelines_in_or_out_of_order_equal_the_scrape_files() {
    let dir = tempfile::tempdir().unwrap();
    let (files, _) = summarize(&[FIXTURE]);
    let sorted = timeline(dir.path(), "sorted.jsonl", &[0, 1, 2]);
    let (s, err) = summarize(&[&sorted]);
    assert_eq!(families(&s), families(&files));
    assert_eq!(s["endpoints"][0]["endpoint"], "10.0.0.1:8000");
    assert!(!err.contains("time order"), "{err}");
    let shuffled = timeline(dir.path(), "shuffled.jsonl", &[2, 0, 1]);
    let (s, err) = summarize(&[&shuffled]);
    assert_eq!(families(&s), families(&files));
    assert!(err.contains("not in time order"), "{err}");
}

/// Two timelines of one endpoint, given in either order: one result.
#[test]
fn argument_order_never_changes_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let a = timeline(dir.path(), "a.jsonl", &[0, 1]);
    let b = timeline(dir.path(), "b.jsonl", &[2]);
    let (one, _) = summarize(&[&a, &b]);
    let (two, _) = summarize(&[&b, &a]);
    assert_eq!(one, two);
    assert_eq!(one["endpoints"][0]["scrapes"], 3);
    assert_eq!(families(&one), families(&summarize(&[FIXTURE]).0));
}

/// `--start`/`--end` keep the first two scrapes: +60, no reset.
#[test]
fn start_and_end_bound_the_window() {
    let (s, _) = summarize(&[FIXTURE, "--start", "1765000000", "--end", "1765000015"]);
    assert_eq!(s["outside_window"], 1);
    let c = &series(&s, "vllm:prompt_tokens_total")["stats"];
    assert_eq!(
        (c["total"].as_f64(), c["resets"].as_f64()),
        (Some(60.0), Some(0.0))
    );
}

/// A bad row is named with its line; the others are summarised.
#[test]
fn bad_timeline_rows_are_named_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = timeline(dir.path(), "t.jsonl", &[0, 1, 2]);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.insert_str(0, "{\"ts_ms\": \"soon\", \"text\": \"a 1\"}\n");
    std::fs::write(&path, text).unwrap();
    let (s, err) = summarize(&[&path]);
    assert!(
        err.contains("t.jsonl: line 1: `ts_ms` is not a number"),
        "{err}"
    );
    assert_eq!(s["endpoints"][0]["scrapes"], 3);
}

/// AIPerf's slim export with its metadata file beside it: the counter named
/// without `_total`, the histogram's buckets placed by `bucket_labels`.
#[test]
fn aiperf_server_metrics_export_is_summarised() {
    let dir = tempfile::tempdir().unwrap();
    let url = "http://10.0.0.2:8000/metrics";
    let meta = serde_json::json!({"endpoints": {url: {"endpoint_url": url, "metric_schemas": {
        "vllm:prompt_tokens": {"type": "counter", "help": ""},
        "vllm:e2e_request_latency_seconds": {"type": "histogram", "help": "", "bucket_labels": ["1.0", "5.0", "+Inf"]},
        "vllm:num_requests_waiting": {"type": "gauge", "help": ""}
    }}}});
    std::fs::write(
        dir.path().join("server_metrics_metadata.json"),
        meta.to_string(),
    )
    .unwrap();
    let mut rows = String::new();
    for (i, (tokens, hist, count, sum, waiting)) in [
        (10.0, [1.0, 2.0, 2.0], 2.0, 3.0, 1.0),
        (30.0, [2.0, 5.0, 6.0], 6.0, 19.0, 3.0),
    ]
    .into_iter()
    .enumerate()
    {
        let row = serde_json::json!({
            "endpoint_url": url,
            "timestamp_ns": 1_765_000_000_000_000_000u64 + i as u64 * 5_000_000_000,
            "endpoint_latency_ns": 1000,
            "metrics": {
                "vllm:prompt_tokens": [{"labels": {"model_name": "m"}, "value": tokens}],
                "vllm:e2e_request_latency_seconds": [{"labels": {"model_name": "m"}, "histogram": hist, "sum": sum, "count": count}],
                "vllm:num_requests_waiting": [{"labels": {"model_name": "m"}, "value": waiting}]
            }
        });
        rows.push_str(&row.to_string());
        rows.push('\n');
    }
    let path = dir.path().join("server_metrics_export.jsonl");
    std::fs::write(&path, rows).unwrap();
    let (s, _) = summarize(&[path.to_str().unwrap()]);
    let e = &s["endpoints"][0];
    assert_eq!(
        (e["endpoint"].as_str(), e["window_seconds"].as_f64()),
        (Some(url), Some(5.0))
    );
    let c = &series(&s, "vllm:prompt_tokens")["stats"];
    assert_eq!(
        (c["total"].as_f64(), c["rate"].as_f64()),
        (Some(20.0), Some(4.0))
    );
    let h = &series(&s, "vllm:e2e_request_latency_seconds")["stats"];
    assert_eq!(
        (h["count"].as_f64(), h["sum"].as_f64()),
        (Some(4.0), Some(16.0))
    );
    // Bucket increases 1, 3, 4: rank 2 is in (1, 5] holding ranks 1..3.
    close(&h["p50_estimate"], 1.0 + 4.0 * 0.5);
    close(
        &series(&s, "vllm:num_requests_waiting")["stats"]["avg"],
        2.0,
    );
}

/// `--output-dir` writes both files; the CSV has one row per series.
#[test]
fn output_dir_gets_json_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = crate::common::run_bounded(
        &["summarize", FIXTURE, "--output-dir", out.to_str().unwrap()],
        Duration::from_secs(60),
    )
    .unwrap();
    assert!(o.status.success());
    let json: Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics_summary.json")).unwrap()).unwrap();
    assert_eq!(json["schema_version"], "inferguard.metrics-summary/v1");
    let csv = std::fs::read_to_string(out.join("metrics_summary.csv")).unwrap();
    let row = csv
        .lines()
        .find(|l| l.contains("vllm:prompt_tokens_total"))
        .unwrap();
    assert!(
        row.starts_with("family,") && row.contains(",counter,engine=0;model_name=m,100,5,1,"),
        "{row}"
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("ttft"));
}

/// Nothing readable is an error that names the input, not an empty summary.
#[test]
fn nothing_to_summarize_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.jsonl");
    std::fs::write(&path, "{\"bad\": 1}\n").unwrap();
    let o = crate::common::run_bounded(
        &["summarize", path.to_str().unwrap()],
        Duration::from_secs(30),
    )
    .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no scrape to summarize"));
}

/// SGLang's per-stage latency is one breakdown row per `stage`; the vLLM breakdown
/// follows a request (queue, prefill, decode, inference) and reads only what is
/// exported (here inference: cumulative increases 2, 4, 5 over bounds 1, 5, +Inf).
#[test]
fn breakdowns_follow_the_engine_packs() {
    let (s, _) = summarize(&["fixtures/evidence/summary/sglang-stages"]);
    let inputs = s["inputs"].to_string();
    for file in [
        "fixtures/evidence/summary/sglang-stages/1765000000.prom",
        "fixtures/evidence/summary/sglang-stages/1765000060.prom",
    ] {
        assert!(inputs.contains(file), "{inputs}");
    }
    let rows = s["endpoints"][0]["breakdowns"].as_array().unwrap();
    let stage = |name: &str| {
        rows.iter()
            .find(|r| r["group"]["stage"] == name)
            .unwrap_or_else(|| panic!("no stage {name}: {rows:?}"))
    };
    // decode_waiting: increases 1, 2, 4; rank 2 is the top of (0.1, 1].
    assert_eq!(
        stage("decode_waiting")["stats"]["count"].as_f64(),
        Some(4.0)
    );
    close(&stage("decode_waiting")["stats"]["p50_estimate"], 1.0);
    // prefill_forward: increases 4, 7, 8; rank 4 is the top of (0, 0.1].
    close(&stage("prefill_forward")["stats"]["p50_estimate"], 0.1);

    let (v, _) = summarize(&[FIXTURE]);
    let inputs = v["inputs"].to_string();
    for file in [
        "fixtures/evidence/summary/vllm-bench/1765000000.prom",
        "fixtures/evidence/summary/vllm-bench/1765000010.prom",
        "fixtures/evidence/summary/vllm-bench/1765000020.prom",
    ] {
        assert!(inputs.contains(file), "{inputs}");
    }
    let rows = v["endpoints"][0]["breakdowns"].as_array().unwrap();
    let signals: Vec<&str> = rows.iter().map(|r| r["signal"].as_str().unwrap()).collect();
    assert_eq!(signals, ["inference_time"]);
    let st = &rows[0]["stats"];
    assert_eq!(
        (st["count"].as_f64(), st["sum"].as_f64()),
        (Some(5.0), Some(17.0))
    );
    // Rank 2.5 in (1, 5] holding ranks 2..4.
    close(&st["p50_estimate"], 1.0 + 4.0 * 0.5 / 2.0);
}
