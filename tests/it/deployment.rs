//! The deployment model through the binary: endpoints by identity, scrapes in
//! time order, window statistics equal to hand-computed PromQL values, deployment
//! signals by declared aggregation, and argument order that never changes a report.

use crate::common::run_bounded;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const VLLM_WINDOW: [&str; 4] = [
    "fixtures/evidence/windows/vllm/1765000000.prom",
    "fixtures/evidence/windows/vllm/1765000030.prom",
    "fixtures/evidence/windows/vllm/1765000060.prom",
    "fixtures/evidence/windows/vllm/1765000090.prom",
];
const MP_WINDOW: [&str; 2] = [
    "fixtures/evidence/lmcache-mp/window/1765000000.prom",
    "fixtures/evidence/lmcache-mp/window/1765000120.prom",
];

fn run(args: &[&str]) -> (i32, String, String) {
    let out = run_bounded(args, Duration::from_secs(60)).expect("finished within a minute");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(args: &[&str]) -> Value {
    let (code, out, err) = run(args);
    assert!(code == 0 || code == 1, "{args:?}: exit {code}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ig-deploy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn close(actual: &Value, expected: f64, what: &str) {
    let a = actual
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: not a number: {actual}"));
    assert!((a - expected).abs() < 1e-9, "{what}: {a} != {expected}");
}

/// Every ordering of a list (Heap's algorithm), for lists of a few items.
fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    fn go<T: Clone>(k: usize, a: &mut Vec<T>, out: &mut Vec<Vec<T>>) {
        if k <= 1 {
            out.push(a.clone());
            return;
        }
        for i in 0..k {
            go(k - 1, a, out);
            let j = if k.is_multiple_of(2) { i } else { 0 };
            a.swap(j, k - 1);
        }
    }
    let mut out = Vec::new();
    go(items.len(), &mut items.to_vec(), &mut out);
    out
}

/// The values of `docs/windows.md`'s worked example, computed by hand from the four
/// fixture scrapes (30 s apart): a counter that resets, a gauge, a histogram whose
/// tail lands in `+Inf`.
#[test]
fn window_statistics_equal_the_hand_computed_promql_values() {
    let mut args = vec!["check", "--json"];
    args.extend(VLLM_WINDOW);
    let report = json(&args);
    let eps = report["endpoints"].as_array().unwrap();
    assert_eq!(eps.len(), 1, "four scrapes of one folder are one endpoint");
    let ep = &eps[0];
    assert_eq!(ep["endpoint"], "fixtures/evidence/windows/vllm");
    assert_eq!(ep["scrapes"].as_array().unwrap().len(), 4);
    assert!(ep["scrapes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["time_source"] == "file_name"));
    close(&ep["window_seconds"], 90.0, "window");
    let s = &ep["signals"]["vllm"];
    // increase(): engine 0 100→160 (+60), 160→40 reset (+40), 40→100 (+60);
    // engine 1 10→25 (+15).
    let p = &s["preemptions"]["window"];
    close(&p["delta"], 175.0, "preemptions delta");
    close(&p["resets"], 1.0, "preemptions resets");
    close(&p["rate"], 175.0 / 90.0, "preemptions rate");
    close(&s["preemptions"]["value"], 125.0, "instant = latest scrape");
    // Gauge samples 0.2, 0.4, 0.9, 0.5.
    let g = &s["kv_cache_usage"]["window"];
    close(&g["avg"], 0.5, "avg");
    close(&g["min"], 0.2, "min");
    close(&g["max"], 0.9, "max");
    close(&g["std"], 0.065f64.sqrt(), "std");
    close(&g["p50"], 0.45, "p50: rank 1.5 between 0.4 and 0.5");
    close(&g["p90"], 0.78, "p90: rank 2.7 between 0.5 and 0.9");
    close(&g["p99"], 0.888, "p99: rank 2.97");
    close(&g["delta"], 0.3, "last - first");
    // Bucket increases 0.1:10, 0.5:20, +Inf:25.
    let h = &s["ttft"]["window"];
    close(&h["count"], 25.0, "count");
    close(&h["sum"], 20.0, "sum");
    close(&h["avg"], 0.8, "avg");
    close(&h["p50"], 0.2, "p50: rank 12.5 in (0.1, 0.5]");
    close(
        &h["p90"],
        0.5,
        "p90: rank 22.5 in +Inf gives the highest finite bound",
    );
    close(&h["p99"], 0.5, "p99");
}

/// Every command, on every ordering of the same inputs, writes the same report.
#[test]
fn argument_order_never_changes_a_report() {
    let mut inputs: Vec<&str> = VLLM_WINDOW[1..].to_vec();
    inputs.extend(MP_WINDOW);
    inputs.push("fixtures/evidence/vllm/kv-pressure.prom");
    // Orderings of five inputs: the rotations and their reversals (10 of 120),
    // enough to move each input to every position.
    let mut orders: Vec<Vec<&str>> = Vec::new();
    for r in 0..inputs.len() {
        let mut o = inputs.clone();
        o.rotate_left(r);
        orders.push(o.clone());
        o.reverse();
        orders.push(o);
    }
    for command in ["check", "path-trace"] {
        let mut first: Option<String> = None;
        for order in &orders {
            let mut args = vec![command, "--json"];
            args.extend(order.iter().copied());
            let (code, out, err) = run(&args);
            assert_eq!(code, 0, "{args:?}: {err}");
            match &first {
                None => first = Some(out),
                Some(f) => assert!(*f == out, "{command}: {order:?} changes the report"),
            }
        }
    }
    let files = [
        (
            "--engine-metrics-file",
            "fixtures/evidence/vllm/kv-pressure.prom",
        ),
        (
            "--engine-metrics-file",
            "fixtures/evidence/vllm/healthy.prom",
        ),
        ("--lmcache-metrics-file", MP_WINDOW[1]),
        ("--lmcache-metrics-file", MP_WINDOW[0]),
    ];
    let mut first: Option<String> = None;
    for order in permutations(&files) {
        let mut args = vec!["lmcache-compat", "--json"];
        for (flag, file) in &order {
            args.extend([*flag, *file]);
        }
        let (code, out, err) = run(&args);
        assert_eq!(code, 0, "{args:?}: {err}");
        match &first {
            None => first = Some(out),
            Some(f) => assert!(*f == out, "lmcache-compat: {order:?} changes the report"),
        }
    }
    let mut first: Option<Value> = None;
    for (n, order) in permutations(&files).into_iter().step_by(5).enumerate() {
        let dir = scratch(&format!("order-{n}"));
        let mut args = vec!["collect-lmcache".to_owned(), "--output-dir".to_owned()];
        args.push(dir.display().to_string());
        for (flag, file) in &order {
            args.extend([(*flag).to_owned(), (*file).to_owned()]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = run(&refs);
        assert_eq!(code, 0, "{args:?}: {err}");
        let report: Value =
            serde_json::from_slice(&std::fs::read(dir.join("lmcache_compat_report.json")).unwrap())
                .unwrap();
        let compared = serde_json::json!({
            "findings": report["findings"],
            "signals": [report["l2_summary"], report["analysis"]],
            "summary": report["summary"],
        });
        match &first {
            None => first = Some(compared),
            Some(f) => assert_eq!(
                *f, compared,
                "collect-lmcache: {order:?} changes the verdict"
            ),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Two scrapes (KV usage 0.10 and 0.99) used to merge "first value wins", so
/// `vllm_kv_cache_saturated` depended on argument order. Each file is its own
/// endpoint; the deployment's KV usage is their `max`.
#[test]
fn deployment_signals_combine_by_declared_aggregation() {
    let dir = scratch("kv");
    let text = |v: f64| {
        format!("# TYPE vllm:kv_cache_usage_perc gauge\nvllm:kv_cache_usage_perc{{engine=\"0\",model_name=\"m\"}} {v}\n# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{{engine=\"0\",model_name=\"m\"}} 3\n# TYPE vllm:num_preemptions_total counter\nvllm:num_preemptions_total{{engine=\"0\",model_name=\"m\"}} 2\n")
    };
    let (a, b) = (dir.join("a.prom"), dir.join("b.prom"));
    std::fs::write(&a, text(0.10)).unwrap();
    std::fs::write(&b, text(0.99)).unwrap();
    let (a, b) = (a.display().to_string(), b.display().to_string());
    for (x, y) in [(&a, &b), (&b, &a)] {
        let report = json(&[
            "lmcache-compat",
            "--json",
            "--engine-metrics-file",
            x,
            "--engine-metrics-file",
            y,
        ]);
        let kv = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == "vllm_kv_cache_saturated")
            .expect("evaluated");
        assert_eq!(kv["status"], "fired", "{x} then {y}: {kv}");
        let check = json(&["check", "--json", x, y]);
        let d = &check["deployment"]["signals"]["vllm"];
        close(&d["kv_cache_usage"]["value"], 0.99, "max of the endpoints");
        close(&d["preemptions"]["value"], 4.0, "counters add up");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One file holding several targets (as `/federate` returns them) becomes one
/// endpoint per target; the target labels are identity, not series labels. An
/// engine's own `endpoint` label (Dynamo: `chat_completions`) does not split.
#[test]
fn a_fleet_dump_splits_into_one_endpoint_per_target() {
    let dir = scratch("fleet");
    let mut text = String::from("# TYPE vllm:kv_cache_usage_perc gauge\n");
    for (i, kv) in [0.2, 0.97, 0.5].iter().enumerate() {
        text.push_str(&format!(
            "vllm:kv_cache_usage_perc{{engine=\"0\",instance=\"10.0.0.{i}:8000\",job=\"vllm\",model_name=\"m\"}} {kv}\n"
        ));
    }
    text.push_str("# TYPE vllm:num_requests_running gauge\n");
    for i in 0..3 {
        text.push_str(&format!(
            "vllm:num_requests_running{{engine=\"0\",instance=\"10.0.0.{i}:8000\",job=\"vllm\",model_name=\"m\"}} 1\n"
        ));
    }
    let fleet = dir.join("fleet.prom");
    std::fs::write(&fleet, &text).unwrap();
    let report = json(&["check", "--json", fleet.to_str().unwrap()]);
    let eps = report["endpoints"].as_array().unwrap();
    let ids: Vec<&str> = eps
        .iter()
        .map(|e| e["endpoint"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "instance=10.0.0.0:8000,job=vllm",
            "instance=10.0.0.1:8000,job=vllm",
            "instance=10.0.0.2:8000,job=vllm"
        ]
    );
    assert!(eps.iter().all(|e| e["identity"] == "target_labels"));
    assert_eq!(eps[1]["target"]["instance"], "10.0.0.1:8000");
    let fired = |e: &Value| {
        e["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "vllm_kv_cache_saturated" && f["status"] == "fired")
    };
    assert_eq!(
        eps.iter().map(fired).collect::<Vec<_>>(),
        [false, true, false]
    );
    // `--target-label job` puts the three instances of job `vllm` together.
    let by_job = json(&[
        "check",
        "--json",
        "--target-label",
        "job",
        fleet.to_str().unwrap(),
    ]);
    assert_eq!(by_job["endpoints"].as_array().unwrap().len(), 1);
    // Dynamo's frontend labels its own routes `endpoint`: one endpoint.
    let dynamo = dir.join("dynamo.prom");
    std::fs::write(
        &dynamo,
        "# TYPE dynamo_frontend_requests_total counter\ndynamo_frontend_requests_total{endpoint=\"chat_completions\",model=\"m\"} 4\ndynamo_frontend_requests_total{endpoint=\"completions\",model=\"m\"} 2\n",
    )
    .unwrap();
    let report = json(&["check", "--json", dynamo.to_str().unwrap()]);
    assert_eq!(report["endpoints"].as_array().unwrap().len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two scrapes of one LMCache MP server are one endpoint named by its
/// `service_instance_id`; each window finding fires on the pair and is not
/// evaluable on one scrape, with the reason.
#[test]
fn two_scrapes_of_one_mp_server_are_one_endpoint_with_window_findings() {
    let status = |report: &Value, code: &str| {
        let ep = &report["endpoints"][0];
        ep["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == code)
            .unwrap_or_else(|| panic!("{code} not evaluated"))
            .clone()
    };
    let pair = json(&["check", "--json", MP_WINDOW[1], MP_WINDOW[0]]);
    assert_eq!(pair["endpoints"].as_array().unwrap().len(), 1);
    assert_eq!(pair["endpoints"][0]["endpoint"], "mp-window-7f3a");
    assert_eq!(pair["endpoints"][0]["identity"], "service_instance_id");
    let single = json(&["check", "--json", MP_WINDOW[1]]);
    for code in [
        "lmcache_mp_zero_hits_after_warmup",
        "lmcache_mp_l2_store_backlog_growing",
    ] {
        assert_eq!(status(&pair, code)["status"], "fired", "{code}");
        let one = status(&single, code);
        assert_eq!(one["status"], "not_evaluable", "{code}");
        assert_eq!(
            one["reason"], "needs two scrapes of this endpoint",
            "{code}"
        );
    }
    let zero = status(&pair, "lmcache_mp_zero_hits_after_warmup");
    assert!(
        zero["message"]
            .as_str()
            .unwrap()
            .contains("727,552 tokens over 2 min"),
        "{zero}"
    );
}

/// A packet holding two scrapes of one MP server answers with the newer one (by
/// the times its manifest records, not by file name), and `check PACKET` agrees
/// with `lmcache-compat --packet` on mode and architecture.
#[test]
fn a_packet_with_two_scrapes_reports_the_newer_one() {
    let dir = scratch("packet");
    // File order and time order disagree: `lmcache_metrics.prom` is the newer.
    std::fs::copy(
        Path::new(ROOT).join(MP_WINDOW[1]),
        dir.join("lmcache_metrics.prom"),
    )
    .unwrap();
    std::fs::copy(
        Path::new(ROOT).join(MP_WINDOW[0]),
        dir.join("lmcache_metrics_2.prom"),
    )
    .unwrap();
    let manifest = serde_json::json!({
        "schema_version": "inferguard.packet/v1",
        "context": {"expect_mode": "mp", "l2_configured": true},
        "sources": [
            {"kind": "lmcache_metrics", "source": "http://127.0.0.1:9090/metrics", "artifact": "lmcache_metrics.prom", "scraped_at": 1765000120.0},
            {"kind": "lmcache_metrics", "source": "http://127.0.0.1:9090/metrics", "artifact": "lmcache_metrics_2.prom", "scraped_at": 1765000000.0}
        ],
        "artifacts": [{"path": "lmcache_metrics.prom"}, {"path": "lmcache_metrics_2.prom"}]
    });
    // The scrapes' own file names are not times here; a Unix-time name would win.
    std::fs::write(dir.join("packet_manifest.json"), manifest.to_string()).unwrap();
    let d = dir.display().to_string();
    let compat = json(&["lmcache-compat", "--json", "--packet", &d]);
    close(
        &compat["l2_summary"]["l2_store_completed_requests"],
        126.0,
        "newer completed",
    );
    close(
        &compat["l2_summary"]["l2_store_submitted_requests"],
        280.0,
        "newer submitted",
    );
    assert_eq!(compat["summary"]["expected_mode"], "mp", "recorded context");
    let check = json(&["check", "--json", &d]);
    let ep = &check["endpoints"][0];
    assert_eq!(check["endpoints"].as_array().unwrap().len(), 1);
    assert!(ep["scrapes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["time_source"] == "packet_manifest"));
    close(
        &ep["window_seconds"],
        120.0,
        "window from the manifest times",
    );
    assert_eq!(
        check["deployment"]["detected_mode"],
        compat["summary"]["detected_mode"]
    );
    assert_eq!(
        check["deployment"]["architecture"]["label"],
        compat["summary"]["architecture"]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Timeline JSONL rows are scrapes of their endpoints at their times; a bad row
/// is skipped with its line number; `--start`/`--end` cut the window.
#[test]
fn timeline_rows_are_scrapes_at_their_times() {
    let dir = scratch("timeline");
    let mut rows = String::new();
    for (k, t) in [1_765_000_000_000u64, 1_765_000_015_000, 1_765_000_030_000]
        .iter()
        .enumerate()
    {
        for ep in ["10.0.0.1:8000", "10.0.0.2:8000"] {
            let text = format!(
                "# TYPE vllm:num_preemptions_total counter\nvllm:num_preemptions_total{{engine=\"0\",model_name=\"m\"}} {}\n# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{{engine=\"0\",model_name=\"m\"}} 2\n",
                10 * k
            );
            rows.push_str(
                &serde_json::json!({"scrape": k, "ts_ms": t, "endpoint": ep, "text": text})
                    .to_string(),
            );
            rows.push('\n');
        }
    }
    rows.push_str("{not json\n");
    let file = dir.join("timeline.jsonl");
    std::fs::write(&file, rows).unwrap();
    let f = file.display().to_string();
    let (code, out, err) = run(&["check", "--json", &f]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("timeline.jsonl: line 7:"), "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let eps = report["endpoints"].as_array().unwrap();
    assert_eq!(eps.len(), 2);
    for ep in eps {
        assert_eq!(ep["scrapes"].as_array().unwrap().len(), 3);
        assert_eq!(ep["scrapes"][0]["time_source"], "timeline_row");
        close(&ep["window_seconds"], 30.0, "window");
        close(
            &ep["signals"]["vllm"]["preemptions"]["window"]["delta"],
            20.0,
            "delta",
        );
    }
    let cut = json(&["check", "--json", "--start", "2025-12-06T05:46:50Z", &f]);
    let ep = &cut["endpoints"][0];
    assert_eq!(
        ep["scrapes"].as_array().unwrap().len(),
        2,
        "first scrape left out"
    );
    assert_eq!(cut["deployment"]["scrapes_outside_window"], 2);
    close(
        &ep["signals"]["vllm"]["preemptions"]["window"]["delta"],
        10.0,
        "delta",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The target labels of one fleet dump are identity in that dump only: another
/// input split by `endpoint` must not hide the `endpoint` series label of a dump
/// split by `instance`+`job` (two series would merge into one and read as resets).
#[test]
fn target_labels_of_one_input_are_series_labels_in_another() {
    let dir = scratch("hidden-keys");
    let fleet = dir.join("fleet");
    std::fs::create_dir_all(&fleet).unwrap();
    for (t, chat, comp) in [(0, 100, 5), (30, 130, 6)] {
        let text = format!(
            "# TYPE vllm:num_requests_running gauge\n\
             vllm:num_requests_running{{instance=\"10.0.0.9:8000\",job=\"vllm\",endpoint=\"chat\"}} 1\n\
             # TYPE vllm:num_preemptions_total counter\n\
             vllm:num_preemptions_total{{instance=\"10.0.0.9:8000\",job=\"vllm\",endpoint=\"chat\"}} {chat}\n\
             vllm:num_preemptions_total{{instance=\"10.0.0.9:8000\",job=\"vllm\",endpoint=\"comp\"}} {comp}\n"
        );
        std::fs::write(fleet.join(format!("{}.prom", 1_765_000_000 + t)), text).unwrap();
    }
    let other = dir.join("other.prom");
    std::fs::write(
        &other,
        "vllm:num_requests_running{endpoint=\"10.0.0.1:1\"} 1\n",
    )
    .unwrap();
    let f = fleet.display().to_string();
    let o = other.display().to_string();
    for args in [vec!["check", "--json", &f], vec!["check", "--json", &f, &o]] {
        let report = json(&args);
        let ep = report["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["endpoint"] == "instance=10.0.0.9:8000,job=vllm")
            .unwrap_or_else(|| panic!("{args:?}: {report}"));
        let w = &ep["signals"]["vllm"]["preemptions"]["window"];
        close(&w["delta"], 31.0, "30 on chat, 1 on comp");
        close(&w["resets"], 0.0, "no reset");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A file reached twice — beside the folder that holds it, through `./`, or a
/// symlink in a packet — is one scrape: it never counts twice in a window or at
/// the deployment level.
#[test]
fn a_file_reached_twice_is_read_once() {
    let dir = scratch("twice");
    let scrapes = dir.join("vllm");
    std::fs::create_dir_all(&scrapes).unwrap();
    for f in VLLM_WINDOW {
        let name = Path::new(f).file_name().unwrap();
        std::fs::copy(Path::new(ROOT).join(f), scrapes.join(name)).unwrap();
    }
    let d = scrapes.display().to_string();
    let once = json(&["check", "--json", &d]);
    let windows = |r: &Value| {
        let eps = r["endpoints"].as_array().unwrap();
        assert_eq!(eps.len(), 1, "{r}");
        let s = &eps[0]["signals"]["vllm"];
        (
            eps[0]["scrapes"].as_array().unwrap().len(),
            s["kv_cache_usage"]["window"].clone(),
            r["deployment"]["signals"]["vllm"]["preemptions"].clone(),
        )
    };
    let file = scrapes.join("1765000060.prom").display().to_string();
    let dotted = format!("{}/./vllm", dir.display());
    let linked = dir.join("link");
    std::os::unix::fs::symlink(&scrapes, &linked).unwrap();
    let l = linked.display().to_string();
    for args in [
        vec!["check", "--json", &d, &file],
        vec!["check", "--json", &file, &d],
        vec!["check", "--json", &d, &dotted],
        vec!["check", "--json", &l, &d],
    ] {
        assert_eq!(windows(&json(&args)), windows(&once), "{args:?}");
    }
    // A packet whose second artifact is a symlink to the first holds one scrape.
    let packet = dir.join("packet");
    std::fs::create_dir_all(&packet).unwrap();
    std::fs::copy(
        Path::new(ROOT).join(VLLM_WINDOW[0]),
        packet.join("engine_metrics.prom"),
    )
    .unwrap();
    std::os::unix::fs::symlink("engine_metrics.prom", packet.join("engine_metrics_2.prom"))
        .unwrap();
    let p = packet.display().to_string();
    let r = json(&["check", "--json", &p]);
    assert_eq!(
        r["endpoints"][0]["scrapes"].as_array().unwrap().len(),
        1,
        "{r}"
    );
    let f0 = packet.join("engine_metrics.prom").display().to_string();
    let r = json(&[
        "lmcache-compat",
        "--json",
        "--packet",
        &p,
        "--engine-metrics-file",
        &f0,
        "--engine-metrics-file",
        &f0,
    ]);
    assert_eq!(r["inputs"].as_array().map(Vec::len), Some(1), "{r}");
    // Which spelling is kept never depends on the order of the flags.
    let (a, b) = (VLLM_WINDOW[0], format!("./{}", VLLM_WINDOW[0]));
    let compat = |x: &str, y: &str| {
        let args = [
            "lmcache-compat",
            "--json",
            "--engine-metrics-file",
            x,
            "--engine-metrics-file",
            y,
        ];
        run(&args).1
    };
    assert!(
        compat(a, &b) == compat(&b, a),
        "flag order changes the report"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `collect-lmcache` given one file twice stores and evaluates one scrape.
#[test]
fn collect_lmcache_reads_a_file_given_twice_once() {
    let dir = scratch("collect-twice");
    let out = dir.join("packet");
    let f = VLLM_WINDOW[0];
    let dotted = format!("./{f}");
    let o = out.display().to_string();
    let (code, _, err) = run(&[
        "collect-lmcache",
        "--output-dir",
        &o,
        "--engine-metrics-file",
        f,
        "--engine-metrics-file",
        &dotted,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.join("engine_metrics.prom").exists());
    assert!(!out.join("engine_metrics_2.prom").exists(), "stored twice");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--start` after every scrape leaves nothing: the error says so, not that no
/// input could be read.
#[test]
fn a_window_that_holds_no_scrape_says_so() {
    let dir = "fixtures/evidence/windows/vllm";
    for command in ["check", "path-trace"] {
        let (code, _, err) = run(&[command, dir, "--start", "2030-01-01T00:00:00Z"]);
        assert_eq!(code, 2, "{command}: {err}");
        assert!(
            err.contains("error: all 4 scrape(s) are outside --start/--end"),
            "{command}: {err}"
        );
        assert!(!err.contains("no input could be read"), "{command}: {err}");
        assert!(
            err.contains("they were taken 2025-12-06T05:46:40Z to 2025-12-06T05:48:10Z"),
            "{command}: {err}"
        );
    }
}

/// A symlink planted in a packet (or a folder of scrapes) that leads out of it is
/// not read: a received packet must not pull `~/.netrc` into a report as dropped
/// lines. Symlinks within the folder are read (once).
#[test]
fn a_symlink_out_of_a_packet_is_not_read() {
    let dir = scratch("symlink-out");
    let outside = dir.join("outside.txt");
    std::fs::write(
        &outside,
        "machine example.com login bob password hunter2\nfoo 1\n",
    )
    .unwrap();
    let packet = dir.join("packet");
    std::fs::create_dir_all(&packet).unwrap();
    std::fs::copy(
        Path::new(ROOT).join(VLLM_WINDOW[0]),
        packet.join("engine_metrics.prom"),
    )
    .unwrap();
    std::os::unix::fs::symlink(&outside, packet.join("engine_metrics_2.prom")).unwrap();
    std::os::unix::fs::symlink(&outside, packet.join("lmcache_log_evidence.json")).unwrap();
    let p = packet.display().to_string();
    for args in [
        vec!["check", "--json", &p],
        vec!["lmcache-compat", "--json", "--packet", &p],
    ] {
        let (code, out, err) = run(&args);
        assert!(code == 0 || code == 1, "{args:?}: {err}");
        assert!(!out.contains("hunter2"), "{args:?}: {out}");
        assert!(
            err.contains("engine_metrics_2.prom: a symlink out of"),
            "{args:?}: {err}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
