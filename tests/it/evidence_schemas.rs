//! Evidence documents and their published schemas (tracked issue "One upstream
//! name, one place", item 3): what `collect-lmcache` writes validates against
//! `schemas/`, every JSON pointer a shipped pack reads resolves in its document's
//! schema, and a typo in one is a located load error with a did-you-mean.

use inferguard::pack::pointers::{declared_keys, evidence_schema, resolve, schema_file};
use inferguard::pack::Registry;
use inferguard::packet::layout;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The problems of `doc` against `schemas/<schema>`.
fn schema_errors(doc: &Value, schema: &str) -> Vec<String> {
    let schema = read_json(&Path::new(ROOT).join("schemas").join(schema));
    let validator = jsonschema::validator_for(&schema).unwrap();
    validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

fn collect(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["collect-lmcache", "--output-dir", dir.to_str().unwrap()];
    all.extend(args);
    inferguard_run(&all)
}

fn inferguard_run(args: &[&str]) -> std::process::Output {
    crate::common::run_bounded(args, Duration::from_secs(120)).expect("finishes")
}

/// Every evidence document a packet can hold, and its manifest, as the tool
/// writes them from files, validates against the schema `rules schemas` publishes.
#[test]
fn a_packet_validates_against_the_published_schemas() {
    let tmp = tempfile::tempdir().unwrap();
    let status = tmp.path().join("status.json");
    std::fs::write(&status, r#"{"engine_type":"MPCacheEngine","status":"ok"}"#).unwrap();
    let health = tmp.path().join("health.json");
    std::fs::write(&health, r#"{"status":"unhealthy","reason":"l2 down"}"#).unwrap();
    let status_arg = format!("status={}", status.display());
    let health_arg = format!("healthcheck={}", health.display());
    let dir: PathBuf = tmp.path().join("packet");
    let out = collect(
        &dir,
        &[
            "--lmcache-metrics-file",
            "fixtures/evidence/lmcache-compat/mp-l1-healthy.prom",
            "--engine-metrics-file",
            "fixtures/evidence/lmcache-mp/vllm-mp-connector.prom",
            "--lmcache-http-file",
            &status_arg,
            "--lmcache-http-file",
            &health_arg,
            "--launch-file",
            "fixtures/evidence/launch/mp-server-and-vllm.sh",
            "--lmcache-log-file",
            "fixtures/evidence/logs/mp-server.log",
            "--lmcache-otel-file",
            "fixtures/evidence/otel/spans.jsonl",
            "--lmcache-trace-file",
            "fixtures/evidence/lct/storage.lct",
            "--lmcache-trace-replay-output",
            "fixtures/evidence/replay/out",
            "--lmcache-lookup-hash-path",
            "fixtures/evidence/lookup-hash/rotated",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut checked = vec![(layout::MANIFEST, "packet-manifest.schema.json")];
    checked.extend(layout::EVIDENCE.map(|(kind, file)| (file, schema_file(kind))));
    for (file, schema) in checked {
        let doc = read_json(&dir.join(file));
        let errors = schema_errors(&doc, schema);
        assert!(errors.is_empty(), "{file} against {schema}: {errors:#?}");
    }
    // The documents are what the packs read: spot-check the pointers they use.
    let http = read_json(&dir.join(layout::EVIDENCE[0].1));
    assert_eq!(
        http.pointer("/endpoints/healthcheck/status").unwrap(),
        "unhealthy"
    );
    let otel = read_json(&dir.join(layout::EVIDENCE[3].1));
    assert!(otel.pointer("/span_groups/mp/count").unwrap().is_u64());
}

/// A failed collection still writes its manifest (`compat_summary: null`), in the
/// published shape.
#[test]
fn a_failure_manifest_validates_against_its_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("packet");
    let out = collect(&dir, &["--lmcache-metrics-file", "no/such/file.prom"]);
    assert_eq!(out.status.code(), Some(2));
    let doc = read_json(&dir.join(layout::MANIFEST));
    assert!(doc["compat_summary"].is_null() && doc["scrape_errors"][0]["error_class"] == "io");
    let errors = schema_errors(&doc, "packet-manifest.schema.json");
    assert!(errors.is_empty(), "{errors:#?}");
}

/// Every pointer a shipped indicator reads can exist in its document.
#[test]
fn every_shipped_pointer_resolves() {
    let registry = Registry::load_strict(&[]).expect("shipped packs load");
    let keys = |set: &str| declared_keys(&registry, set);
    let mut seen = 0;
    for ind in &registry.modes.indicators {
        for m in &ind.def.evidence {
            let schema = evidence_schema(m.file);
            assert_eq!(
                resolve(&schema, &m.pointer, &keys),
                Ok(()),
                "indicator {}: {:?} {}",
                ind.def.id,
                m.file,
                m.pointer
            );
            seen += 1;
        }
    }
    assert!(seen >= 20, "only {seen} pointers");
}

/// A copy of the shipped lmcache pack with `from` replaced by `to` in modes.yaml;
/// the 1-based line and column of `to`'s pointer.
fn pack_with(dir: &Path, from: &str, to: &str) -> (PathBuf, usize, usize) {
    let pack = dir.join("lmcache");
    std::fs::create_dir_all(&pack).unwrap();
    for entry in std::fs::read_dir(Path::new(ROOT).join("rules/lmcache")).unwrap() {
        let path = entry.unwrap().path();
        let mut text = std::fs::read_to_string(&path).unwrap();
        if path.file_name().unwrap() == "modes.yaml" {
            assert!(text.contains(from), "modes.yaml has no `{from}`");
            text = text.replacen(from, to, 1);
        }
        std::fs::write(pack.join(path.file_name().unwrap()), text).unwrap();
    }
    let text = std::fs::read_to_string(pack.join("modes.yaml")).unwrap();
    let line = text.lines().position(|l| l.contains(to)).unwrap();
    let col = text.lines().nth(line).unwrap().find(to).unwrap();
    (pack, line + 1, col + 1)
}

#[test]
fn a_misspelt_evidence_pointer_is_a_located_load_error() {
    let cases = [
        (
            "/categories/mp_server_start/count",
            "/categories/mp_server_start/cont",
            "`/categories/mp_server_start` has no field `cont` (did you mean `count`?)",
        ),
        (
            "/categories/p2p_transfer/count",
            "/categories/p2p_transfr/count",
            "`p2p_transfr` is no log category a `logs` file declares (did you mean `p2p_transfer`?)",
        ),
        (
            "/span_groups/cb/count",
            "/span_group/cb/count",
            "the document has no field `span_group` (did you mean `span_groups`?)",
        ),
        (
            "/span_groups/cb/count",
            "/span_groups/cd/count",
            "`cd` is no span group an `otel` file declares (did you mean `cb`?)",
        ),
        (
            "/endpoints/status/fields/engine_type",
            "/endpoints/stats/fields/engine_type",
            "`stats` is no read-only route of the `http_routes` table (did you mean `status`?)",
        ),
        (
            "/total_records",
            "/total_record",
            "has no field `total_record` (did you mean `total_records`?)",
        ),
    ];
    for (from, to, want) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let (pack, line, col) = pack_with(
            tmp.path(),
            &format!("pointer: {from},"),
            &format!("pointer: {to},"),
        );
        let col = col + "pointer: ".len();
        let err = Registry::load(&[pack]).err().expect("a typo must not load");
        let all: Vec<String> = err.0.iter().map(ToString::to_string).collect();
        assert_eq!(all.len(), 1, "{to}: {all:#?}");
        assert!(
            all[0].contains(&format!(
                "modes.yaml:{line}:{col}: `{to}` cannot exist in the "
            )),
            "{to}: {all:#?}"
        );
        assert!(all[0].ends_with(want), "{to}: {all:#?}");
    }
}
