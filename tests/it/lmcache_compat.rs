//! `inferguard lmcache-compat` as a user runs it: every fixture scenario has a
//! golden report (`tests/golden/compat/<scenario>.json`, validated against
//! `schemas/lmcache-compat-report.schema.json`) and asserted exit codes for
//! `--fail-on missing-required` and `--fail-on mode-mismatch`.
//!
//! `INFERGUARD_BLESS=1 cargo test --test lmcache_compat` rewrites the goldens.

use crate::common;

use common::golden;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_inferguard");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const F: &str = "fixtures/evidence/lmcache-compat";

struct Scenario {
    name: &'static str,
    args: Vec<String>,
    /// Exit code with `--fail-on missing-required`.
    missing_required: i32,
    /// Exit code with `--fail-on mode-mismatch`.
    mode_mismatch: i32,
    detected_mode: &'static str,
}

fn s(
    name: &'static str,
    args: &[&str],
    missing_required: i32,
    mode_mismatch: i32,
    detected_mode: &'static str,
) -> Scenario {
    Scenario {
        name,
        args: args.iter().map(|a| a.replace("$F", F)).collect(),
        missing_required,
        mode_mismatch,
        detected_mode,
    }
}

fn scenarios() -> Vec<Scenario> {
    vec![
        s(
            "mp-l1-healthy",
            &[
                "--lmcache-metrics-file",
                "$F/mp-l1-healthy.prom",
                "--expect-mode",
                "mp",
            ],
            0,
            0,
            "mp",
        ),
        s(
            "mp-lookup-counters-absent",
            &[
                "--lmcache-metrics-file",
                "$F/mp-lookup-counters-absent.prom",
            ],
            1,
            0,
            "mp",
        ),
        s(
            "mp-l2-populated",
            &[
                "--lmcache-metrics-file",
                "$F/mp-l2-populated.prom",
                "--l2-configured",
            ],
            0,
            0,
            "mp",
        ),
        s(
            "mp-l2-missing",
            &[
                "--lmcache-metrics-file",
                "$F/mp-l2-missing.prom",
                "--l2-configured",
            ],
            1,
            0,
            "mp",
        ),
        s(
            "mp-l2-missing-not-configured",
            &["--lmcache-metrics-file", "$F/mp-l2-missing.prom"],
            0,
            0,
            "mp",
        ),
        s(
            "mp-fresh-no-traffic",
            &[
                "--lmcache-metrics-file",
                "fixtures/evidence/lmcache-mp/fresh-server.prom",
            ],
            1,
            0,
            "mp",
        ),
        s(
            "mp-metrics-disabled",
            &[
                "--lmcache-metrics-file",
                "fixtures/evidence/misc/python-runtime-only.prom",
                "--mp-metrics-disabled",
            ],
            1,
            0,
            "unknown",
        ),
        s(
            "mp-legacy-generation",
            &["--lmcache-metrics-file", "$F/mp-legacy-generation.prom"],
            0,
            0,
            "mp",
        ),
        s(
            "vllm-embedded-dynamic",
            &[
                "--engine-metrics-file",
                "$F/vllm-embedded-dynamic.prom",
                "--expect-mode",
                "embedded",
            ],
            0,
            0,
            "embedded",
        ),
        s(
            "vllm-embedded-offload-flag",
            &[
                "--engine-metrics-file",
                "$F/vllm-embedded-offload-flag.prom",
            ],
            0,
            0,
            "embedded",
        ),
        // The flag proves the mode, not the metrics: embedded families are missing.
        s(
            "offload-flag-without-lmcache-metrics",
            &[
                "--engine-metrics-file",
                "$F/vllm-offload-flag-no-lmcache-metrics.prom",
            ],
            1,
            0,
            "embedded",
        ),
        s(
            "stale-connector",
            &["--engine-metrics-file", "$F/stale-connector.prom"],
            0,
            0,
            "unknown",
        ),
        s(
            "sglang-enable-lmcache",
            &[
                "--engine-metrics-file",
                "fixtures/evidence/sglang/healthy.prom",
                "--launch-evidence-file",
                "$F/launch-sglang-enable-lmcache.json",
            ],
            0,
            0,
            "unknown",
        ),
        s(
            "sglang-hicache-only",
            &["--engine-metrics-file", "$F/sglang-hicache-only.prom"],
            0,
            0,
            "unknown",
        ),
        s(
            "cacheblend",
            &["--lmcache-metrics-file", "$F/mp-cacheblend.prom"],
            0,
            0,
            "mp",
        ),
        // Logs and launch evidence support a mode but never replace missing required
        // Prometheus families.
        s(
            "p2p-from-logs",
            &["--lmcache-log-evidence-file", "$F/logs-p2p.json"],
            1,
            0,
            "embedded",
        ),
        s(
            "pd-from-launch",
            &["--launch-evidence-file", "$F/launch-pd.json"],
            1,
            0,
            "embedded",
        ),
        s(
            "mp-expected-embedded",
            &[
                "--lmcache-metrics-file",
                "$F/mp-l1-healthy.prom",
                "--expect-mode",
                "embedded",
            ],
            1,
            1,
            "mp",
        ),
        s(
            "mp-http-unhealthy",
            &[
                "--lmcache-metrics-file",
                "$F/mp-l1-healthy.prom",
                "--lmcache-http-evidence-file",
                "$F/http-mp-unhealthy.json",
            ],
            1,
            0,
            "mp",
        ),
        s(
            "mp-tracing-enabled-no-spans",
            &[
                "--lmcache-metrics-file",
                "$F/mp-l1-healthy.prom",
                "--mp-tracing-enabled",
            ],
            1,
            0,
            "mp",
        ),
        s(
            "empty-input",
            &[
                "--lmcache-metrics-file",
                "fixtures/evidence/misc/empty.prom",
            ],
            0,
            0,
            "unknown",
        ),
    ]
}

fn run(args: &[String]) -> Output {
    Command::new(BIN)
        .arg("lmcache-compat")
        .args(args)
        .current_dir(ROOT)
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
}

fn validator() -> jsonschema::Validator {
    let text =
        std::fs::read_to_string(Path::new(ROOT).join("schemas/lmcache-compat-report.schema.json"))
            .unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

#[test]
fn every_scenario_matches_its_golden_schema_and_exit_codes() {
    let validator = validator();
    let mut problems = Vec::new();
    for sc in scenarios() {
        let mut json_args = sc.args.clone();
        json_args.push("--json".into());
        let o = run(&json_args);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}: {}",
            sc.name,
            String::from_utf8_lossy(&o.stderr)
        );
        let text = String::from_utf8(o.stdout).unwrap();
        golden(&format!("compat/{}.json", sc.name), &text);
        let report: serde_json::Value = serde_json::from_str(&text).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&report)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        if !errors.is_empty() {
            problems.push(format!("{}: schema: {errors:?}", sc.name));
        }
        if report["detected_mode"] != sc.detected_mode {
            problems.push(format!(
                "{}: detected_mode {} (expected {})",
                sc.name, report["detected_mode"], sc.detected_mode
            ));
        }
        for (flag, want) in [
            ("missing-required", sc.missing_required),
            ("mode-mismatch", sc.mode_mismatch),
        ] {
            let mut args = sc.args.clone();
            args.extend(["--fail-on".into(), flag.into()]);
            let code = run(&args).status.code();
            if code != Some(want) {
                problems.push(format!(
                    "{}: --fail-on {flag} exited {code:?}, expected {want}",
                    sc.name
                ));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// SPEC: a `zero` family never fails `missing-required` on its own.
#[test]
fn zero_families_do_not_fail_missing_required() {
    // The healthy scrape with every lookup counter at zero: present, all zero.
    let base = std::fs::read_to_string(Path::new(ROOT).join(F).join("mp-l1-healthy.prom")).unwrap();
    let zeroed: String = base
        .lines()
        .map(|l| match l.starts_with("lmcache_mp_lookup_") {
            true => format!("{} 0\n", l.rsplit_once(' ').unwrap().0),
            false => format!("{l}\n"),
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("ig-compat-zero-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scrape = dir.join("zero-lookups.prom");
    std::fs::write(&scrape, zeroed).unwrap();
    let args = vec![
        "--lmcache-metrics-file".to_owned(),
        scrape.display().to_string(),
    ];
    let mut json_args = args.clone();
    json_args.push("--json".into());
    let report: serde_json::Value = serde_json::from_slice(&run(&json_args).stdout).unwrap();
    let mut fail_args = args;
    fail_args.extend(["--fail-on".into(), "missing-required".into()]);
    assert_eq!(run(&fail_args).status.code(), Some(0));
    let zero_required: Vec<&serde_json::Value> = report["surfaces"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["families"].as_array().unwrap())
        .filter(|f| f["status"] == "zero" && f["required"] == true)
        .collect();
    assert!(
        !zero_required.is_empty(),
        "the fixture should hold a required family that is zero"
    );
    assert_eq!(report["failure_reasons"], serde_json::json!([]));
}

/// A fresh MP server says "no traffic observed yet" rather than "metrics broken",
/// and still cannot satisfy missing-required.
#[test]
fn fresh_server_is_no_traffic_yet() {
    let o = run(&[
        "--lmcache-metrics-file".into(),
        "fixtures/evidence/lmcache-mp/fresh-server.prom".into(),
        "--json".into(),
    ]);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["no_traffic_yet"], true);
    let reasons: Vec<&str> = report["failure_reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["lmcache_mp_no_traffic_yet"]);
    let human = String::from_utf8(
        run(&[
            "--lmcache-metrics-file".into(),
            "fixtures/evidence/lmcache-mp/fresh-server.prom".into(),
        ])
        .stdout,
    )
    .unwrap();
    assert!(human.contains("no traffic observed yet"), "{human}");
}

#[test]
fn human_and_markdown_goldens() {
    let args = vec![
        "--engine-metrics-file".to_owned(),
        "fixtures/evidence/lmcache-mp/vllm-mp-connector.prom".to_owned(),
        "--lmcache-metrics-file".to_owned(),
        format!("{F}/mp-lookup-counters-absent.prom"),
    ];
    let human = run(&args);
    golden(
        "compat/vllm-mp-lookup-absent.txt",
        &String::from_utf8(human.stdout).unwrap(),
    );
    let mut md = args.clone();
    md.extend(["--format".into(), "markdown".into()]);
    golden(
        "compat/vllm-mp-lookup-absent.md",
        &String::from_utf8(run(&md).stdout).unwrap(),
    );
}

/// Every `lmcache*` series no family matched is listed with the pack file to edit.
#[test]
fn unmapped_series_name_the_pack_file() {
    let dir = std::env::temp_dir().join(format!("ig-compat-unmapped-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scrape = dir.join("new-metric.prom");
    let base = std::fs::read_to_string(Path::new(ROOT).join(F).join("mp-l1-healthy.prom")).unwrap();
    std::fs::write(&scrape, format!("{base}# TYPE lmcache_mp_l1_brand_new_chunks counter\nlmcache_mp_l1_brand_new_chunks_total 4\n")).unwrap();
    let o = run(&[
        "--lmcache-metrics-file".into(),
        scrape.display().to_string(),
        "--json".into(),
    ]);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let unmapped = report["unmapped_series"].as_array().unwrap();
    assert_eq!(unmapped.len(), 1, "{unmapped:?}");
    assert_eq!(unmapped[0]["name"], "lmcache_mp_l1_brand_new_chunks");
    assert_eq!(
        unmapped[0]["suggested_pack_file"],
        "rules/lmcache/families.yaml"
    );
}

#[test]
fn bad_inputs_are_clear_errors() {
    let none = Command::new(BIN)
        .arg("lmcache-compat")
        .current_dir(ROOT)
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no evidence given"));
    let missing = run(&["--lmcache-metrics-file".into(), "no/such.prom".into()]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no/such.prom: cannot read"));
    let dir = std::env::temp_dir().join(format!("ig-compat-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad_json = dir.join("http.json");
    std::fs::write(&bad_json, "{\"endpoints\": [1, 2,\n").unwrap();
    let o = run(&[
        "--lmcache-metrics-file".into(),
        format!("{F}/mp-l1-healthy.prom"),
        "--lmcache-http-evidence-file".into(),
        bad_json.display().to_string(),
        "--json".into(),
    ]);
    // Partial-first: the scrape is still used, the evidence file's problem is named.
    assert_eq!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("http.json: invalid JSON at line 2"), "{err}");
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(report["evidence_files"][0]["error"]
        .as_str()
        .unwrap()
        .contains("invalid JSON"));
    let rate = run(&[
        "--lmcache-metrics-file".into(),
        format!("{F}/mp-l1-healthy.prom"),
        "--mp-metrics-sample-rate".into(),
        "1.5".into(),
    ]);
    assert_eq!(rate.status.code(), Some(2));
}
