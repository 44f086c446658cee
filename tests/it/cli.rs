//! Whole-command tests: golden outputs of `check` on the shipped packet in every
//! format, exit codes, report JSON against its schema, and bad input.
//!
//! Goldens live in `tests/golden/`; `INFERGUARD_BLESS=1 cargo test` rewrites them
//! (review the diff). The tool version is redacted so a release bump is not a diff.

use crate::common;

use common::golden;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_inferguard");
const PACKET: &str = "fixtures/packets/vllm-kv-pressure";

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 output")
}

#[test]
fn check_human_golden() {
    let o = run(&["check", PACKET]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = stdout(&o);
    assert!(
        !text.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    golden("check-vllm-kv-pressure.txt", &text);
}

#[test]
fn check_markdown_golden() {
    let o = run(&["check", PACKET, "--format", "markdown"]);
    assert_eq!(o.status.code(), Some(0));
    golden("check-vllm-kv-pressure.md", &stdout(&o));
}

#[test]
fn check_json_golden_and_schema() {
    let o = run(&["check", PACKET, "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    golden("check-vllm-kv-pressure.json", &text);
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["schema_version"], "inferguard.check/v1");
    let schema_text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/check-report.schema.json"),
    )
    .unwrap();
    let schema: serde_json::Value = serde_json::from_str(&schema_text).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "report does not match its schema: {errors:?}"
    );
    // The values the findings read, with their sources.
    let findings = report["endpoints"][0]["findings"].as_array().unwrap();
    let kv = findings
        .iter()
        .find(|f| f["code"] == "vllm_kv_cache_saturated")
        .unwrap();
    assert_eq!(kv["status"], "fired");
    let usage = kv["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["variable"] == "kv_cache_usage")
        .unwrap();
    assert_eq!(usage["value"], 0.973);
    assert_eq!(usage["family"], "vllm:kv_cache_usage_perc");
    assert!(usage["line"].as_u64().unwrap() > 1);
}

#[test]
fn json_keys_are_sorted() {
    let o = run(&["check", PACKET, "--json"]);
    let text = stdout(&o);
    // Top-level keys appear in sorted order.
    let keys = [
        "\"endpoints\"",
        "\"inputs\"",
        "\"packs\"",
        "\"schema_version\"",
        "\"summary\"",
        "\"tool\"",
    ];
    let positions: Vec<usize> = keys
        .iter()
        .map(|k| {
            text.find(&format!("\n  {k}"))
                .unwrap_or_else(|| panic!("{k} missing"))
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
}

#[test]
fn fail_on_severity_sets_exit_code() {
    assert_eq!(
        run(&["check", PACKET, "--fail-on", "severity=warning"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        run(&["check", PACKET, "--fail-on", "severity=critical"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        run(&["check", PACKET, "--fail-on", "never"]).status.code(),
        Some(0)
    );
    let healthy = run(&[
        "check",
        "fixtures/evidence/vllm/healthy.prom",
        "--fail-on",
        "severity=info",
    ]);
    assert_eq!(healthy.status.code(), Some(0), "{}", stdout(&healthy));
}

#[test]
fn output_file_is_written_and_stdout_stays_empty() {
    let dir = tempdir("out");
    let target = dir.join("report.json");
    let o = run(&[
        "check",
        PACKET,
        "--json",
        "--output",
        target.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty());
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&target).unwrap()).unwrap();
    assert_eq!(written["summary"]["endpoints"], 1);
}

#[test]
fn stdin_is_an_input() {
    let mut child = Command::new(BIN)
        .args(["check", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"python_gc_objects_collected_total{generation=\"0\"} 12\n")
            .unwrap();
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["endpoints"][0]["engine_unidentified"], true);
    let f = report["endpoints"][0]["findings"].as_array().unwrap();
    assert!(f
        .iter()
        .any(|f| f["code"] == "engine_unidentified" && f["status"] == "fired"));
}

/// An HTML error page where a scrape was expected is a finding of `check`, not an
/// error: the input is still named as no exposition (a warning) and the finding
/// says what answered. Binary input stays an error.
#[test]
fn html_error_page_is_a_finding() {
    let dir = tempdir("html");
    let page = dir.join("metrics.html");
    std::fs::write(&page, "<html>\n<body>502 Bad Gateway</body>\n</html>\n").unwrap();
    let o = run(&["check", page.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("metrics.html") && err.contains("not a Prometheus exposition"),
        "{err}"
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("scrape_not_metrics_page") && out.contains("starting: 502 Bad Gateway"),
        "{out}"
    );
    let blob = dir.join("metrics.bin");
    std::fs::write(&blob, b"\x00\x01\x02\xff\xfe\x89PNG\r\n\x1a\n\x00\x00").unwrap();
    let o = run(&["check", blob.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
}

#[test]
fn missing_file_is_a_clear_error() {
    let o = run(&["check", "no/such/file.prom"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("error: no/such/file.prom: cannot read"),
        "{err}"
    );
}

#[test]
fn unknown_engine_is_a_usage_error() {
    let o = run(&["check", PACKET, "--engine", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--engine nope: unknown engine"));
}

#[test]
fn forced_engine_mismatch_is_a_finding() {
    let dir = tempdir("mismatch");
    let f = dir.join("gc.prom");
    std::fs::write(&f, "process_cpu_seconds_total 3\n").unwrap();
    let o = run(&["check", f.to_str().unwrap(), "--engine", "vllm", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let findings = report["endpoints"][0]["findings"].as_array().unwrap();
    let fired: Vec<&str> = findings
        .iter()
        .filter(|f| f["status"] == "fired")
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    // Process metrics alone also name their likely cause.
    assert_eq!(
        fired,
        vec!["engine_mismatch", "scrape_runtime_metrics_only"]
    );
}

#[test]
fn dropped_lines_are_reported_not_lost() {
    let dir = tempdir("dropped");
    let f = dir.join("partly-bad.prom");
    std::fs::write(&f, "vllm:num_requests_running{model_name=\"m\"} 3\nvllm:num_requests_waiting{model_name=\"m} 1\nvllm:kv_cache_usage_perc{model_name=\"m\"} 0.5\n").unwrap();
    let o = run(&["check", f.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["inputs"][0]["dropped_lines"], 1);
    assert_eq!(report["inputs"][0]["dropped"][0]["line"], 2);
    let text = stdout(&run(&["check", f.to_str().unwrap()]));
    assert!(text.contains("1 line(s) dropped (first: line 2:"), "{text}");
}

#[test]
fn explain_shows_docs_and_values() {
    let o = run(&[
        "rules",
        "explain",
        "vllm_kv_cache_saturated",
        "--evidence",
        "fixtures/evidence/vllm/kv-pressure.prom",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    assert!(
        text.contains("vllm_kv_cache_saturated — vLLM GPU KV cache nearly full"),
        "{text}"
    );
    assert!(
        text.contains("kv_cache_usage = 0.973  from vllm:kv_cache_usage_perc"),
        "{text}"
    );
    assert!(text.contains("result   fired"), "{text}");
    let unknown = run(&["rules", "explain", "no_such_code"]);
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn explain_shows_terms_of_compound_conditions() {
    let o = run(&[
        "rules",
        "explain",
        "vllm_queue_pressure",
        "--evidence",
        "fixtures/evidence/vllm/healthy.prom",
    ]);
    let text = stdout(&o);
    assert!(
        text.contains("term     queue_waiting >= min_waiting => false"),
        "{text}"
    );
    assert!(text.contains("result   passed"), "{text}");
}

#[test]
fn broken_pipe_is_not_an_error() {
    let mut child = Command::new(BIN)
        .args(["rules", "list"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("inferguard-cli-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Issue 10, item 9: files that are not what they seem get the same contract from
/// every command: exit 2 and one error line naming the file, never a hang.
#[test]
fn files_that_are_not_expositions_fail_the_same_way_everywhere() {
    let dir = tempdir("not-what-they-seem");
    let mut random = Vec::new();
    let mut x: u32 = 2463534242;
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        random.push((x >> 24) as u8);
    }
    let utf16: Vec<u8> = "vllm:num_requests_running 1\n"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let gzip = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0x4b, 0x4c, 0x4a, 6, 0];
    let long_line = vec![b'a'; 3 << 20];
    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("random.prom", random, "binary"),
        ("utf16.prom", utf16, "UTF-16"),
        ("scrape.prom.gz", gzip, "gzip"),
        ("one-line.prom", long_line, "line too long"),
        ("mac.prom", b"vllm:a 1\rvllm:b 2\r".to_vec(), "CR only"),
    ];
    let fifo = dir.join("fifo.prom");
    let _ = std::fs::remove_file(&fifo);
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let mut files: Vec<(std::path::PathBuf, &str)> = vec![(fifo.clone(), "not a regular file")];
    for (name, bytes, why) in &cases {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        files.push((p, why));
    }
    for (path, why) in &files {
        let p = path.to_str().unwrap();
        for args in [
            vec!["check", p],
            vec!["path-trace", p],
            vec!["lmcache-compat", "--lmcache-metrics-file", p],
        ] {
            let o = common::run_bounded(&args, std::time::Duration::from_secs(60))
                .unwrap_or_else(|| panic!("{args:?} hung"));
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
            let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
            assert_eq!(errors.len(), 1, "{args:?}: {err}");
            assert!(
                errors[0].contains(p) && errors[0].contains(why),
                "{args:?}: {err}"
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 14: a finding that `explains` others is named first. The KV-full scrape's
/// queue and preemptions follow from the full cache: the JSON says so in
/// `explained_by`, and the text lists them under the cause, after it.
#[test]
fn check_names_the_cause_before_what_it_explains() {
    let fixture = "fixtures/evidence/vllm/kv-pressure.prom";
    let o = run(&["check", fixture, "--json"]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let findings = report["endpoints"][0]["findings"].as_array().unwrap();
    let explained_by = |code: &str| {
        findings
            .iter()
            .find(|f| f["code"] == code)
            .map(|f| f["explained_by"].clone())
            .unwrap_or_else(|| panic!("{code} not in the report"))
    };
    let cause = serde_json::json!(["vllm_kv_cache_saturated"]);
    assert_eq!(explained_by("vllm_queue_pressure"), cause);
    assert_eq!(explained_by("vllm_preemptions_observed"), cause);
    assert!(explained_by("vllm_kv_cache_saturated").is_null());

    let text = stdout(&run(&["check", fixture]));
    let fired: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("warning  "))
        .collect();
    assert!(fired[0].starts_with("vllm_kv_cache_saturated"), "{text}");
    assert!(
        fired[1..]
            .iter()
            .all(|l| l.ends_with("(follows from vllm_kv_cache_saturated)")),
        "{text}"
    );
}

/// Issue 14: one healthy and one broken fixture of every serving system, as
/// `(system, healthy, broken, the finding named first)`.
const SYSTEMS: &[(&str, &str, &str, &str)] = &[
    (
        "vllm",
        "fixtures/evidence/vllm/healthy.prom",
        "fixtures/evidence/vllm/kv-pressure.prom",
        "vllm_kv_cache_saturated",
    ),
    (
        "sglang",
        "fixtures/evidence/sglang/healthy.prom",
        "fixtures/evidence/sglang/pressure.prom",
        "sglang_token_pool_saturated",
    ),
    (
        "trtllm",
        "fixtures/evidence/trtllm/serve.prom",
        "fixtures/evidence/trtllm/pressure.prom",
        "trtllm_kv_cache_saturated",
    ),
    (
        "triton",
        "fixtures/evidence/triton/trtllm-backend.prom",
        "fixtures/evidence/triton/broken.prom",
        "triton_requests_failing",
    ),
    (
        "dynamo",
        "fixtures/evidence/dynamo/frontend.prom",
        "fixtures/evidence/dynamo/broken-frontend.prom",
        "dynamo_frontend_overloaded",
    ),
    (
        "kvbm",
        "fixtures/evidence/kvbm/kvbm.prom",
        "fixtures/evidence/kvbm/object-tier-failing.prom",
        "dynamo_kvbm_object_store_failures",
    ),
    (
        "llmd",
        "fixtures/evidence/llmd/epp.prom",
        "fixtures/evidence/llmd/saturated.prom",
        "llmd_pool_saturated",
    ),
    (
        "lmcache-embedded",
        "fixtures/evidence/lmcache-embedded/internal-api.prom",
        "fixtures/evidence/lmcache-embedded/zero-hits.prom",
        "lmcache_embedded_low_lookup_hit_ratio",
    ),
    (
        "lmcache-mp",
        "fixtures/evidence/lmcache-compat/mp-l1-healthy.prom",
        "fixtures/evidence/lmcache-mp/server.prom",
        "lmcache_mp_l1_eviction_pressure",
    ),
];

/// The codes of fired critical and warning findings, in the order the text report
/// lists them.
fn problems_in_order(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| {
            let rest = l.trim_start();
            let rest = rest
                .strip_prefix("critical ")
                .or_else(|| rest.strip_prefix("warning "))?;
            rest.trim_start().split([' ', ':']).next()
        })
        .collect()
}

/// Issue 14, "Done when": on every system's healthy fixture `check --fail-on
/// severity=warning` exits 0 with no warning; on its broken fixture it exits 1,
/// names the problem first, and the whole report matches its golden
/// (`tests/golden/check/<system>.txt`).
#[test]
fn every_system_passes_healthy_and_names_the_problem_first_when_broken() {
    for (system, healthy, broken, first) in SYSTEMS {
        let o = run(&["check", healthy, "--fail-on", "severity=warning"]);
        let text = stdout(&o);
        assert_eq!(o.status.code(), Some(0), "{system} healthy:\n{text}");
        assert!(problems_in_order(&text).is_empty(), "{system}:\n{text}");

        let o = run(&["check", broken, "--fail-on", "severity=warning"]);
        let text = stdout(&o);
        assert_eq!(o.status.code(), Some(1), "{system} broken:\n{text}");
        assert_eq!(
            problems_in_order(&text).first(),
            Some(first),
            "{system}:\n{text}"
        );
        golden(&format!("check/{system}.txt"), &text);
    }
}
