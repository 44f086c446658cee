//! `inferguard path-trace`: golden outputs on our fixtures, the report against its
//! schema, conformance on the real captures, `--engine`, a metric rename followed by
//! a one-line override pack, and bad input.

use crate::common;

use common::golden;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_inferguard");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const CAPTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/upstream-samples/dynamo"
);
/// One endpoint per system family, ours.
const FIXTURES: &[&str] = &[
    "fixtures/evidence/dynamo/frontend.prom",
    "fixtures/evidence/dynamo/component.prom",
    "fixtures/evidence/sglang/healthy.prom",
    "fixtures/evidence/lmcache-mp/vllm-mp-connector.prom",
    "fixtures/evidence/lmcache-mp/server.prom",
    "fixtures/evidence/llmd/epp.prom",
    "fixtures/evidence/trtllm/serve.prom",
    "fixtures/evidence/triton/trtllm-backend.prom",
    "fixtures/evidence/misc/python-runtime-only.prom",
    "fixtures/evidence/misc/empty.prom",
];

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(ROOT)
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
}

fn json(args: &[&str]) -> serde_json::Value {
    let o = run(args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("JSON report")
}

fn systems(endpoint: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = endpoint["systems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[test]
fn human_golden() {
    let mut args = vec!["path-trace"];
    args.extend(FIXTURES);
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0));
    golden(
        "path-trace-fixtures.txt",
        &String::from_utf8(o.stdout).unwrap(),
    );
}

#[test]
fn markdown_golden() {
    let mut args = vec!["path-trace", "--format", "markdown"];
    args.extend(FIXTURES);
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0));
    golden(
        "path-trace-fixtures.md",
        &String::from_utf8(o.stdout).unwrap(),
    );
}

#[test]
fn json_golden_matches_schema_and_facts() {
    let mut args = vec!["path-trace", "--json"];
    args.extend(FIXTURES);
    let o = run(&args);
    let text = String::from_utf8(o.stdout).unwrap();
    golden("path-trace-fixtures.json", &text);
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["schema_version"], "inferguard.path-trace/v1");
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(ROOT).join("schemas/path-trace-report.schema.json"))
            .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");

    let eps = report["endpoints"].as_array().unwrap();
    let by_name = |n: &str| {
        eps.iter()
            .find(|e| {
                e["source"]
                    .as_str()
                    .is_some_and(|x| x.ends_with(&format!("/{n}.prom")))
            })
            .unwrap_or_else(|| panic!("endpoint {n}"))
    };
    // Unidentifiable endpoints really are engine_unidentified, with the finding.
    for name in ["python-runtime-only", "empty"] {
        let ep = by_name(name);
        assert_eq!(ep["engine_unidentified"], true, "{name}");
        assert_eq!(ep["support_level"], "unsupported", "{name}");
        assert!(
            ep["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["code"] == "engine_unidentified"),
            "{name}"
        );
    }
    // A vLLM engine using LMCache's MP connector: both systems. This scrape carries
    // no latency histogram, so vLLM is unsupported there; the cache is not a
    // request server, so it is not_applicable, and the endpoint is unsupported.
    let ep = by_name("vllm-mp-connector");
    assert_eq!(systems(ep), ["lmcache_mp", "vllm"]);
    let vllm = ep["systems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "vllm")
        .unwrap();
    assert_eq!(vllm["support_level"], "unsupported");
    assert_eq!(vllm["ttft_sources"], serde_json::json!([]));
    let lmcache = ep["systems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "lmcache_mp")
        .unwrap();
    assert_eq!(lmcache["support_level"], "not_applicable");
    assert_eq!(ep["support_level"], "unsupported");
    // A serving engine with latency histograms is aggregate_only.
    let sglang = by_name("healthy");
    assert_eq!(sglang["support_level"], "aggregate_only");
    assert_eq!(
        sglang["systems"][0]["ttft_sources"],
        serde_json::json!(["sglang:time_to_first_token_seconds"])
    );
    // A KV-cache server alone: not a request server, no latency: unsupported endpoint.
    assert_eq!(by_name("server")["support_level"], "unsupported");
    assert_eq!(report["summary"]["unidentified"], 2);
}

#[test]
fn upstream_captures_conform() {
    if !Path::new(CAPTURES).is_dir() {
        eprintln!("note: {CAPTURES} absent; conformance on real captures skipped");
        return;
    }
    let report = json(&["path-trace", "--json", CAPTURES]);
    let eps = report["endpoints"].as_array().unwrap();
    let expect = [
        (
            "frontend-metrics",
            vec!["dynamo_frontend"],
            "dynamo_frontend_time_to_first_token_seconds",
        ),
        (
            "vllm-worker-metrics",
            vec!["dynamo_component", "lmcache_embedded", "vllm"],
            "vllm:time_to_first_token_seconds",
        ),
        (
            "sglang-worker-metrics",
            vec!["dynamo_component", "sglang"],
            "sglang:time_to_first_token_seconds",
        ),
        (
            "trtllm-worker-metrics",
            vec!["dynamo_component", "trtllm"],
            "trtllm_time_to_first_token_seconds",
        ),
    ];
    assert_eq!(eps.len(), expect.len());
    for (name, ids, ttft) in expect {
        let ep = eps
            .iter()
            .find(|e| {
                e["endpoint"]
                    .as_str()
                    .is_some_and(|n| n.ends_with(&format!("/{name}.prom")))
            })
            .unwrap_or_else(|| panic!("{name}"));
        assert_eq!(systems(ep), ids, "{name}");
        assert_eq!(ep["support_level"], "aggregate_only", "{name}");
        assert_eq!(ep["engine_unidentified"], false, "{name}");
        let found = ep["systems"].as_array().unwrap().iter().any(|s| {
            s["ttft_sources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t == ttft)
        });
        assert!(found, "{name}: no system reports {ttft} as its TTFT source");
    }
    // The scanner read every line of every capture.
    assert!(report["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["dropped_lines"] == 0));
}

#[test]
fn forced_engine_and_pack_names() {
    // A pack id names all its engines; only those present are reported.
    let report = json(&[
        "path-trace",
        "--json",
        "--engine",
        "dynamo",
        "fixtures/evidence/dynamo/frontend.prom",
    ]);
    let ep = &report["endpoints"][0];
    assert_eq!(systems(ep), ["dynamo_frontend"]);
    assert!(ep["systems"][0]["forced"].as_bool().unwrap());
    // The wrong engine forced: a mismatch finding, nothing claimed.
    let report = json(&[
        "path-trace",
        "--json",
        "--engine",
        "sglang",
        "fixtures/evidence/trtllm/serve.prom",
    ]);
    let ep = &report["endpoints"][0];
    assert!(ep["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["code"] == "engine_mismatch"));
    assert_eq!(ep["support_level"], "unsupported");
    let o = run(&[
        "path-trace",
        "--engine",
        "nope",
        "fixtures/evidence/trtllm/serve.prom",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

/// An upstream rename is a one-line pack edit: copy the shipped vLLM pack, put the
/// new TTFT name first, and path-trace follows it.
#[test]
fn renamed_metric_is_followed_after_a_one_line_override() {
    let dir = temp("rename");
    let scrape = dir.join("renamed.prom");
    let original =
        std::fs::read_to_string(Path::new(ROOT).join("fixtures/evidence/vllm/healthy.prom"))
            .unwrap();
    std::fs::write(
        &scrape,
        original.replace("vllm:time_to_first_token_seconds", "vllm:ttft_seconds"),
    )
    .unwrap();
    let before = json(&["path-trace", "--json", scrape.to_str().unwrap()]);
    assert_eq!(
        before["endpoints"][0]["systems"][0]["ttft_sources"],
        serde_json::json!([])
    );

    let pack = dir.join("packs/vllm");
    std::fs::create_dir_all(&pack).unwrap();
    for f in ["pack.yaml", "findings.yaml", "engine.yaml"] {
        std::fs::copy(Path::new(ROOT).join("rules/vllm").join(f), pack.join(f)).unwrap();
    }
    let engine =
        std::fs::read_to_string(Path::new(ROOT).join("rules/vllm/catalogue.yaml")).unwrap();
    let edited = engine.replace(
        r#"name: "vllm:time_to_first_token_seconds", type: histogram, unit: seconds }"#,
        r#"name: "vllm:ttft_seconds", type: histogram, unit: seconds, aliases: [{ name: "vllm:time_to_first_token_seconds", renamed_in: test }] }"#,
    );
    assert_eq!(
        engine
            .lines()
            .zip(edited.lines())
            .filter(|(a, b)| a != b)
            .count(),
        1,
        "the edit is one line"
    );
    std::fs::write(pack.join("catalogue.yaml"), edited).unwrap();

    let after = json(&[
        "--rules",
        pack.to_str().unwrap(),
        "path-trace",
        "--json",
        scrape.to_str().unwrap(),
    ]);
    assert_eq!(
        after["endpoints"][0]["systems"][0]["ttft_sources"],
        serde_json::json!(["vllm:ttft_seconds"])
    );
    let origin = after["packs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "vllm")
        .unwrap()["origin"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(origin.ends_with("packs/vllm"), "{origin}");
}

#[test]
fn input_that_is_not_an_exposition_is_a_clear_error() {
    let dir = temp("bad");
    let cases: [(&str, &[u8]); 3] = [
        (
            "page.html",
            b"<!DOCTYPE html>\n<html><body>503 Service Unavailable</body></html>\n",
        ),
        (
            "status.json",
            b"{\"status\": \"ok\", \"engine_type\": \"MPCacheEngine\"}\n",
        ),
        ("blob.bin", b"\x00\x01\x02\xff\xfe\x89PNG\r\n\x1a\n\x00\x00"),
    ];
    for (name, bytes) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let o = run(&["path-trace", path.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(name) && err.contains("not a Prometheus exposition"),
            "{name}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    // Beside a good input, a bad one is a warning and the rest is reported.
    let bad = dir.join("page.html");
    let o = run(&[
        "path-trace",
        "--json",
        bad.to_str().unwrap(),
        "fixtures/evidence/trtllm/serve.prom",
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("warning: "));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["endpoints"].as_array().unwrap().len(), 1);
    let bad_row = report["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["source"].as_str().unwrap().ends_with("page.html"))
        .unwrap();
    assert!(bad_row["error"]
        .as_str()
        .unwrap()
        .contains("not a Prometheus exposition"));
}

fn temp(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("inferguard-pt-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Connector label values are gathered in time linear in the series: 100,000
/// distinct `storage_backend` values (a 5 MB scrape) took a quadratic search, over
/// half a minute, before.
#[test]
fn many_connector_label_values_stay_linear() {
    let dir = std::env::temp_dir().join(format!("ig-trace-many-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sglang.prom");
    let mut text = String::from("# TYPE sglang:num_running_reqs gauge\n");
    for i in 0..100_000 {
        text.push_str(&format!(
            "sglang:num_running_reqs{{storage_backend=\"b{i}\"}} 1\n"
        ));
    }
    std::fs::write(&file, text).unwrap();
    let f = file.display().to_string();
    let out = common::run_bounded(
        &["path-trace", "--json", &f],
        std::time::Duration::from_secs(20),
    )
    .expect("path-trace finished within 20 s");
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let connectors = report["endpoints"][0]["systems"][0]["connectors"]
        .as_array()
        .unwrap();
    assert_eq!(connectors.len(), 100_000);
    std::fs::remove_dir_all(&dir).unwrap();
}

const EXTERNAL: &str = "fixtures/evidence/vllm/external-connector.prom";
const CONNECTOR_CODE: &str = "vllm_external_kv_connector_in_use";

/// The external-connector fixture with every external counter at zero.
fn no_external_traffic() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ig-trace-noext-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(Path::new(ROOT).join(EXTERNAL)).unwrap();
    let zeroed: String = text
        .lines()
        .map(|l| {
            let external = l.starts_with("vllm:external_prefix_cache_")
                || l.contains("source=\"external_kv_transfer\"");
            match (external, l.rsplit_once(' ')) {
                (true, Some((series, _))) => format!("{series} 0\n"),
                _ => format!("{l}\n"),
            }
        })
        .collect();
    let file = dir.join("no-external.prom");
    std::fs::write(&file, zeroed).unwrap();
    file
}

/// Issue 14: an engine whose external prefix-cache counters and KV-transferred
/// prompt tokens move runs an external KV connector; path-trace says so, with the
/// external hit ratio beside the local one, in text and JSON.
#[test]
fn an_external_kv_connector_is_named_with_both_hit_ratios() {
    let o = run(&["path-trace", EXTERNAL]);
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8(o.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains(CONNECTOR_CODE))
        .unwrap_or_else(|| panic!("no connector line:\n{text}"));
    assert!(
        line.contains("external hit ratio 60.0% (502,500 of 837,500 queried tokens)"),
        "{line}"
    );
    assert!(line.contains("33.0% (412,500 of 1,250,000)"), "{line}");
    let report = json(&["path-trace", "--json", EXTERNAL]);
    let finding = report["endpoints"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == CONNECTOR_CODE)
        .expect("the connector finding in JSON");
    assert_eq!(finding["severity"], "info");
    let message = finding["message"].as_str().unwrap();
    assert!(
        message.contains("502,500 prompt tokens arrived by KV transfer"),
        "{message}"
    );
}

#[test]
fn no_connector_line_when_no_external_counter_moves() {
    let file = no_external_traffic();
    let f = file.display().to_string();
    let o = run(&["path-trace", &f]);
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("vLLM"), "{text}");
    assert!(!text.contains(CONNECTOR_CODE), "{text}");
    let report = json(&["path-trace", "--json", &f]);
    assert_eq!(report["endpoints"][0]["findings"], serde_json::json!([]));
    std::fs::remove_dir_all(file.parent().unwrap()).unwrap();
}
