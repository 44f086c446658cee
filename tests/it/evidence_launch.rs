//! Launch evidence: vLLM, SGLang and LMCache MP server launches as shell scripts,
//! Kubernetes YAML, LMCache config YAML and JSON records (fixtures under
//! `fixtures/evidence/launch/`), broken inputs reported with their line, secrets
//! that never reach the output, and random input that never panics.

use crate::common;

use common::Lcg;
use inferguard::evidence::launch::knowledge::LaunchKnowledge;
use inferguard::evidence::launch::{self, LaunchEvidence, NO_LITERAL};
use inferguard::evidence::lct::{Location, MAX_UNREADABLE};
use inferguard::pack::Registry;
use inferguard::redact::REDACTED;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::OnceLock;

const VLLM_EMBEDDED: &str = "fixtures/evidence/launch/vllm-embedded.sh";
const VLLM_OFFLOAD: &str = "fixtures/evidence/launch/vllm-offload.sh";
const SGLANG: &str = "fixtures/evidence/launch/sglang-enable-lmcache.sh";
const MP_SERVER: &str = "fixtures/evidence/launch/mp-server-and-vllm.sh";
const PD_PRODUCER: &str = "fixtures/evidence/launch/pd-producer.yaml";
const LMCACHE_PD: &str = "fixtures/evidence/launch/lmcache-pd.yaml";
const MULTI_CONNECTOR: &str = "fixtures/evidence/launch/multi-connector.json";
const BROKEN_JSON: &str = "fixtures/evidence/launch/broken.json";
const MALFORMED: &str = "fixtures/evidence/launch/malformed.sh";
const SECRETS: &str = "fixtures/evidence/launch/secrets.sh";

const ALL: &[&str] = &[
    VLLM_EMBEDDED,
    VLLM_OFFLOAD,
    SGLANG,
    MP_SERVER,
    PD_PRODUCER,
    LMCACHE_PD,
    MULTI_CONNECTOR,
    BROKEN_JSON,
    MALFORMED,
    SECRETS,
];

/// What the shipped packs know about launches.
fn know() -> &'static LaunchKnowledge {
    static KNOW: OnceLock<LaunchKnowledge> = OnceLock::new();
    KNOW.get_or_init(|| Registry::load(&[]).unwrap().launch)
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

/// Parses fixtures together, checks the invariants and returns the document as JSON.
fn parse_fixtures(rels: &[&str]) -> Value {
    let bytes: Vec<Vec<u8>> = rels.iter().map(|r| read(r)).collect();
    let files: Vec<(&str, &[u8])> = rels
        .iter()
        .zip(&bytes)
        .map(|(r, b)| (*r, b.as_slice()))
        .collect();
    check(&launch::parse(&files, know()))
}

fn parse_text(text: &str) -> Value {
    check(&launch::parse(&[("inline", text.as_bytes())], know()))
}

/// Invariants every document keeps, whatever the input; returns its JSON.
fn check(ev: &LaunchEvidence) -> Value {
    check_with(ev, know())
}

/// [`check`] with the knowledge the document was read with.
fn check_with(ev: &LaunchEvidence, know: &LaunchKnowledge) -> Value {
    assert!(ev.problems.unreadable.len() <= MAX_UNREADABLE);
    assert!(ev.problems.unreadable_total >= ev.problems.unreadable.len() as u64);
    let doc = serde_json::to_value(ev).unwrap();
    assert_eq!(doc["schema_version"], "inferguard.launch-evidence/v1");
    match doc["claim_status"].as_str().unwrap() {
        "measured" => assert!(doc["reason"].is_null()),
        "not_proven" => assert!(doc["reason"].is_string()),
        other => panic!("claim_status {other}"),
    }
    // The pointers `lmcache-compat` reads are always there, with their types.
    assert!(doc["connectors"].is_array());
    let engine = doc["engine"].as_str().unwrap();
    assert!(
        engine == "unknown" || know.program(engine).is_some(),
        "{engine}"
    );
    for flag in ["enable_lmcache", "enable_p2p", "enable_pd"] {
        assert!(doc["flags"][flag].is_boolean(), "{flag}");
    }
    let backend = &doc["flags"]["kv_offloading_backend"];
    assert!(backend.is_null() || backend.is_string());
    let role = &doc["kv_role"];
    assert!(role.is_null() || role.is_string());
    assert!(doc["kv_connector_extra_config"].is_object());
    assert!(doc["python_hash_seeds"].is_array());
    assert!(doc["hash_seed_risk"].is_boolean());
    doc
}

#[test]
fn vllm_with_the_in_process_connector() {
    let doc = parse_fixtures(&[VLLM_EMBEDDED]);
    assert_eq!(doc["claim_status"], "measured");
    assert_eq!(doc["engine"], "vllm");
    assert_eq!(doc["connectors"], json!(["LMCacheConnectorV1"]));
    assert_eq!(doc["kv_role"], "kv_both");
    // The JSON ran over two lines inside its quotes.
    assert_eq!(
        doc["kv_connector_extra_config"],
        json!({"lmcache.chunk_size": 256, "discard_partial_chunks": false})
    );
    assert_eq!(
        doc["flags"]["lmcache_config_file"],
        "/etc/lmcache/lmcache.yaml"
    );
    assert_eq!(doc["python_hash_seeds"], json!(["0"]));
    assert_eq!(doc["hash_seed_risk"], false);
    assert_eq!(doc["env"]["LMCACHE_CHUNK_SIZE"], "256");
    // vLLM's own --disable-log-stats is not an MP server setting.
    assert_eq!(doc["mp_server"], Value::Null);
    assert_eq!(doc["unreadable_total"], 0);
    assert_eq!(
        doc["sources"],
        json!([{"path": VLLM_EMBEDDED, "bytes": read(VLLM_EMBEDDED).len()}])
    );
}

#[test]
fn offloading_backend_lmcache_implies_the_connector_vllm_forces() {
    let doc = parse_fixtures(&[VLLM_OFFLOAD]);
    assert_eq!(doc["engine"], "vllm");
    assert_eq!(doc["flags"]["kv_offloading_backend"], "lmcache");
    assert_eq!(doc["connectors"], json!(["LMCacheConnectorV1"]));
    assert_eq!(doc["kv_role"], Value::Null);
    assert_eq!(doc["python_hash_seeds"], json!([]));
    assert_eq!(doc["hash_seed_risk"], true);
    assert_eq!(
        doc["hash_seed_note"],
        "PYTHONHASHSEED is not set in any launch input"
    );
}

/// Reads as `fixtures/evidence/lmcache-compat/launch-sglang-enable-lmcache.json`
/// says a collected packet would.
#[test]
fn sglang_with_enable_lmcache() {
    let doc = parse_fixtures(&[SGLANG]);
    assert_eq!(doc["engine"], "sglang");
    assert_eq!(doc["connectors"], json!([]));
    assert_eq!(doc["flags"]["enable_lmcache"], true);
    assert_eq!(doc["flags"]["enable_metrics"], true);
    assert_eq!(doc["flags"]["lmcache_config_file"], "lmcache_config.yaml");
    assert_eq!(doc["hash_seed_risk"], false);
    let compat =
        parse_fixtures(&["fixtures/evidence/lmcache-compat/launch-sglang-enable-lmcache.json"]);
    for p in [
        "/engine",
        "/connectors",
        "/flags/enable_lmcache",
        "/flags/lmcache_config_file",
    ] {
        assert_eq!(doc.pointer(p), compat.pointer(p), "{p}");
    }
}

#[test]
fn mp_server_flags_and_the_engine_that_uses_it() {
    let doc = parse_fixtures(&[MP_SERVER]);
    assert_eq!(doc["engines"], json!(["lmcache_server", "vllm"]));
    assert_eq!(
        doc["engine"], "vllm",
        "the serving engine wins over the MP server"
    );
    assert_eq!(doc["connectors"], json!(["LMCacheMPConnector"]));
    assert_eq!(
        doc["kv_connector_extra_config"],
        json!({"lmcache.mp.host": "tcp://127.0.0.1", "lmcache.mp.port": 5555})
    );
    assert_eq!(
        doc["mp_server"],
        json!({
            "trace_level": "storage",
            "trace_output": "/var/log/lmcache/run.lct",
            "metrics_sample_rate": 0.05,
            "event_bus_queue_size": 20000,
            "disabled": ["logging"],
            "tracing_enabled": true,
            "otlp_endpoint": "http://otel-collector:4317",
            "l2_adapters": ["fs", "resp"],
            "lookup_hash_log_dir": "/var/log/lmcache/lookup",
            "instance_id": "lmc-node-a",
            "http_port": 8080,
            "prometheus_port": null,
        })
    );
    // L2 adapter specs are reduced to their type: the password in one never shows.
    assert!(!doc.to_string().contains("l2-adapter-pw-0c7e"));
    assert_eq!(doc["unreadable_total"], 0);
}

#[test]
fn mp_server_disable_flags_of_every_kind() {
    let doc = parse_text(
        "lmcache server --disable-metrics --disable-observability --disable-grpc-metrics \
         --disable-logging=false --prometheus-port 9091 --trace-level events\n",
    );
    assert_eq!(doc["engine"], "lmcache_server");
    assert_eq!(
        doc["mp_server"]["disabled"],
        json!(["grpc_metrics", "metrics", "observability"])
    );
    assert_eq!(doc["mp_server"]["prometheus_port"], 9091);
    assert_eq!(doc["mp_server"]["trace_level"], "events");
    assert_eq!(doc["mp_server"]["tracing_enabled"], false);

    // MP settings in a config file that names no program.
    let doc = parse_text("trace_level: storage\nmetrics_sample_rate: 0.2\ndisable_metrics: true\n");
    assert_eq!(
        doc["engine"], "lmcache_server",
        "inferred from MP-only settings"
    );
    assert_eq!(doc["engines"], json!([]));
    assert_eq!(doc["mp_server"]["metrics_sample_rate"], 0.2);
    assert_eq!(doc["mp_server"]["disabled"], json!(["metrics"]));
}

#[test]
fn kubernetes_container_spec_with_command_args_and_env() {
    let doc = parse_fixtures(&[PD_PRODUCER]);
    assert_eq!(doc["engine"], "vllm");
    assert_eq!(doc["connectors"], json!(["LMCacheConnectorV1"]));
    assert_eq!(doc["kv_role"], "kv_producer");
    assert_eq!(
        doc["flags"]["lmcache_config_file"],
        "/config/lmcache-pd.yaml"
    );
    assert_eq!(doc["python_hash_seeds"], json!(["1"]));
    // A token from a secret reference: the name is kept, there is no value.
    assert_eq!(doc["env"]["HF_TOKEN"], NO_LITERAL);
    assert_eq!(doc["unreadable_total"], 0);
}

#[test]
fn lmcache_config_yaml_for_disaggregated_prefill() {
    let doc = parse_fixtures(&[LMCACHE_PD]);
    assert_eq!(doc["claim_status"], "measured");
    assert_eq!(doc["engine"], "unknown");
    assert_eq!(doc["flags"]["enable_pd"], true);
    assert_eq!(doc["flags"]["enable_p2p"], false);
    assert_eq!(doc["flags"]["pd_role"], "sender");
    assert_eq!(doc["flags"]["transfer_channel"], "nixl");
    assert!(!doc.to_string().contains("remote-url-pw-51aa"));

    // Together with the container that reads it, it is the PD evidence
    // `fixtures/evidence/lmcache-compat/launch-pd.json` describes.
    let both = parse_fixtures(&[PD_PRODUCER, LMCACHE_PD]);
    let compat = parse_fixtures(&["fixtures/evidence/lmcache-compat/launch-pd.json"]);
    for p in [
        "/engine",
        "/connectors",
        "/kv_role",
        "/flags/enable_pd",
        "/flags/pd_role",
        "/flags/transfer_channel",
        "/flags/enable_p2p",
    ] {
        assert_eq!(both.pointer(p), compat.pointer(p), "{p}");
    }
}

#[test]
fn multi_connector_json_record() {
    let doc = parse_fixtures(&[MULTI_CONNECTOR]);
    assert_eq!(doc["engine"], "vllm");
    assert_eq!(
        doc["connectors"],
        json!(["MultiConnector", "NixlConnector", "LMCacheConnectorV1"])
    );
    assert_eq!(doc["kv_role"], "kv_consumer");
    assert_eq!(doc["flags"]["enable_p2p"], true, "from lmcache.enable_p2p");
    assert_eq!(doc["env"]["VLLM_NIXL_SIDE_CHANNEL_PORT"], "5600");
    assert_eq!(doc["python_hash_seeds"], json!(["0"]));
}

#[test]
fn broken_json_is_reported_and_still_read() {
    let doc = parse_fixtures(&[BROKEN_JSON]);
    assert_eq!(doc["unreadable_total"], 1);
    assert_eq!(doc["unreadable"][0]["offset_or_line"], json!({"line": 6}));
    assert!(doc["unreadable"][0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("not valid JSON"));
    assert_eq!(doc["claim_status"], "measured");
    assert_eq!(doc["connectors"], json!(["LMCacheConnectorV1"]));
    assert_eq!(doc["kv_role"], "kv_consumer");
    assert_eq!(doc["flags"]["enable_pd"], true);
}

#[test]
fn malformed_lines_are_reported_with_their_line() {
    let doc = parse_fixtures(&[MALFORMED]);
    let got: Vec<(u64, String)> = doc["unreadable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            assert_eq!(u["path"], MALFORMED);
            (
                u["offset_or_line"]["line"].as_u64().unwrap(),
                u["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: &[(u64, &str)] = &[
        (2, "PYTHONHASHSEED is neither `random` nor an integer"),
        (2, "`--kv-transfer-config` is not valid JSON"),
        (3, "`--metrics-sample-rate` is not a number"),
        (3, "`--event-bus-queue-size` is not a non-negative integer"),
        (3, "`--enable-tracing` is not a boolean"),
        (3, "L2 adapter spec is not JSON"),
        (4, "`LMCACHE_ENABLE_P2P` is not a boolean"),
        (5, "unterminated quote"),
    ];
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for ((line, reason), (want_line, want_reason)) in got.iter().zip(want) {
        assert_eq!(line, want_line, "{reason}");
        assert!(
            reason.starts_with(want_reason),
            "{reason:?} vs {want_reason:?}"
        );
    }
    // What could be read still counts: connector names are scanned from the broken
    // JSON, and a spec that is not JSON is still an L2 adapter.
    assert_eq!(doc["connectors"], json!(["LMCacheConnectorV1"]));
    assert_eq!(doc["kv_role"], "kv_both");
    assert_eq!(doc["mp_server"]["l2_adapters"], json!(["<unparsed>"]));
    assert_eq!(doc["python_hash_seeds"], json!(["abc"]));
    assert_eq!(doc["hash_seed_risk"], true, "Python refuses the seed");
}

/// Every distinctive secret value fed in, none of which may appear in the output.
const SECRET_VALUES: &[&str] = &[
    "hf_fake_SECRET_hftoken_A1",
    "sk-fake-SECRET-openai-B2",
    "SECRET-hub-C3",
    "SECRET-apikey-D4",
    "SECRET-hftoken-flag-E5",
    "SECRET-otlp-pw-F6",
    "SECRET-redis-pw-G7",
    "SECRET-extra-token-H8",
    "SECRET-nested-I9",
    "SECRET-query-J10",
    "SECRET-bearer-K11",
    "SECRET-header-L12",
    "SECRET-aws-M13",
    "SECRET-lm-N14",
    "SECRET-yaml-O15",
    "SECRET-yaml-url-P16",
    "SECRET-json-env-Q17",
    "SECRET-json-header-R18",
    "SECRET-k8s-S19",
    "SECRET-mp-otlp-T20",
    "SECRET-basic-U21",
    "SECRET-dotted-V22",
];

#[test]
fn secrets_never_reach_the_output() {
    let yaml = "# provenance: inline\n\
        hf_token: SECRET-yaml-O15\n\
        remote_url: redis://lmcache:SECRET-yaml-url-P16@redis:6379\n\
        Authorization: Basic SECRET-basic-U21\n\
        kv_transfer_config:\n  kv_connector: LMCacheConnectorV1\n  kv_connector_extra_config:\n    \
        lmcache.remote_url: redis://x:SECRET-yaml-url-P16@r:1\n    s3:\n      secret_key: SECRET-yaml-O15\n\
        env:\n  - name: HF_TOKEN\n    value: SECRET-k8s-S19\n";
    let json_doc = r#"{"env": [{"name": "VLLM_API_KEY", "value": "SECRET-json-env-Q17"}],
        "headers": {"Authorization": "Bearer SECRET-json-header-R18"},
        "command": ["vllm", "serve", "m", "--kv-transfer-config.kv_connector_extra_config={\"token\": \"SECRET-dotted-V22\"}"]}"#;
    let mp = "lmcache server --otlp-endpoint https://collector:SECRET-mp-otlp-T20@otel:4318 --trace-level storage\n";
    let secrets = read(SECRETS);
    let ev = launch::parse(
        &[
            (SECRETS, secrets.as_slice()),
            ("inline.yaml", yaml.as_bytes()),
            ("inline.json", json_doc.as_bytes()),
            ("mp.sh", mp.as_bytes()),
        ],
        know(),
    );
    let doc = check(&ev);
    let text = serde_json::to_string(&doc).unwrap();
    let debug = format!("{ev:?}");
    for secret in SECRET_VALUES {
        assert!(!text.contains(secret), "{secret} leaked into the JSON");
        assert!(!debug.contains(secret), "{secret} leaked into Debug");
    }

    let redacted: Vec<&str> = doc["redacted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for name in [
        "--api-key",
        "--hf-token",
        "HF_TOKEN",
        "OPENAI_API_KEY",
        "HUGGING_FACE_HUB_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "Authorization",
        "X-Api-Key",
        "LMCACHE_REMOTE_URL",
        "VLLM_API_KEY",
        "hf_token",
        "kv_connector_extra_config.remote_url",
        "kv_connector_extra_config.auth_token",
        "kv_connector_extra_config.nested.password",
        "kv_connector_extra_config.nested.endpoint",
        "kv_connector_extra_config.lmcache.remote_url",
        "kv_connector_extra_config.s3.secret_key",
        "kv_connector_extra_config.token",
        "--otlp-endpoint",
    ] {
        assert!(redacted.contains(&name), "{name} not in {redacted:?}");
    }
    // Names are kept, values replaced.
    assert_eq!(doc["env"]["HF_TOKEN"], REDACTED);
    assert_eq!(doc["env"]["VLLM_API_KEY"], REDACTED);
    assert_eq!(
        doc["env"]["LMCACHE_REMOTE_URL"],
        "lm://user:<redacted>@cache:65432"
    );
    assert_eq!(doc["kv_connector_extra_config"]["auth_token"], REDACTED);
    assert_eq!(
        doc["kv_connector_extra_config"]["remote_url"],
        "redis://u:<redacted>@r:6379"
    );
    assert_eq!(
        doc["mp_server"]["otlp_endpoint"],
        "https://collector:<redacted>@otel:4318"
    );
}

#[test]
fn hash_seed_varying_across_files_is_a_risk() {
    let doc = parse_fixtures(&[VLLM_EMBEDDED, PD_PRODUCER]);
    assert_eq!(doc["python_hash_seeds"], json!(["0", "1"]));
    assert_eq!(doc["hash_seed_risk"], true);
    assert_eq!(
        doc["hash_seed_note"],
        "PYTHONHASHSEED differs between launch inputs: 0, 1"
    );
    assert_eq!(doc["sources"].as_array().unwrap().len(), 2);

    let doc = parse_text("PYTHONHASHSEED=random vllm serve m\n");
    assert_eq!(doc["hash_seed_risk"], true);
    assert_eq!(doc["unreadable_total"], 0, "`random` is a valid value");
}

#[test]
fn vllm_dotted_flags_and_the_dynamic_connector() {
    let doc = parse_text(
        "vllm serve m --kv-transfer-config.kv_connector LMCacheConnectorV1Dynamic \
         --kv-transfer-config.kv_connector_module_path=lmcache.integration.vllm.lmcache_connector_v1 \
         --kv-transfer-config.kv_role kv_consumer\n",
    );
    assert_eq!(doc["connectors"], json!(["LMCacheConnectorV1Dynamic"]));
    assert_eq!(
        doc["kv_connector_module_path"],
        "lmcache.integration.vllm.lmcache_connector_v1"
    );
    assert_eq!(doc["kv_role"], "kv_consumer");
}

#[test]
fn yaml_kv_transfer_block_flattens_its_extra_config() {
    let doc = parse_text(
        "kv_transfer_config:\n  kv_connector: LMCacheMPConnector\n  kv_role: kv_both\n  \
         kv_connector_extra_config:\n    lmcache.mp.port: 5555\n    mp:\n      host: 10.0.0.2\n      \
         enabled: true\nmodel: m\n",
    );
    assert_eq!(
        doc["engine"], "vllm",
        "inferred from the KV transfer config"
    );
    assert_eq!(doc["connectors"], json!(["LMCacheMPConnector"]));
    assert_eq!(
        doc["kv_connector_extra_config"],
        json!({"lmcache.mp.port": 5555, "mp.host": "10.0.0.2", "mp.enabled": true})
    );
}

#[test]
fn shell_forms_wrappers_and_nested_commands() {
    let doc = parse_text(
        "docker run --rm -e PYTHONHASHSEED=7 -e HF_TOKEN lmcache/vllm-openai:latest \\\n  \
         bash -c \"LMCACHE_ENABLE_P2P=true vllm serve m --kv-transfer-config \
         '{\\\"kv_connector\\\":\\\"LMCacheConnectorV1\\\",\\\"kv_role\\\":\\\"kv_both\\\"}'\" \
         ; echo done\n",
    );
    assert_eq!(doc["engine"], "vllm");
    assert_eq!(doc["connectors"], json!(["LMCacheConnectorV1"]));
    assert_eq!(doc["flags"]["enable_p2p"], true);
    assert_eq!(doc["python_hash_seeds"], json!(["7"]));
    assert_eq!(doc["env"]["HF_TOKEN"], NO_LITERAL);
    assert_eq!(doc["unreadable_total"], 0, "{doc}");
}

#[test]
fn nothing_recognized_is_not_proven() {
    let doc = parse_text("hello world\n# just a comment\n");
    assert_eq!(doc["claim_status"], "not_proven");
    assert_eq!(
        doc["reason"],
        "no launch command or configuration recognized in the inputs"
    );
    assert_eq!(doc["engine"], "unknown");

    let doc = check(&launch::parse(&[], know()));
    assert_eq!(doc["reason"], "no launch inputs");

    let doc = check(&launch::parse(&[("empty.sh", b"")], know()));
    assert_eq!(doc["claim_status"], "not_proven");
    assert_eq!(doc["sources"], json!([{"path": "empty.sh", "bytes": 0}]));
}

#[test]
fn invalid_utf8_is_reported_at_its_offset_and_the_rest_read() {
    let mut bytes = b"PYTHONHASHSEED=0 vllm serve m ".to_vec();
    let at = bytes.len();
    bytes.extend([0xff, 0xfe]);
    bytes.extend(b" --kv-offloading-backend lmcache\n");
    let ev = launch::parse(&[("bad.sh", &bytes)], know());
    let doc = check(&ev);
    assert_eq!(
        ev.problems.unreadable[0].offset_or_line,
        Location::Offset(at as u64)
    );
    assert_eq!(doc["flags"]["kv_offloading_backend"], "lmcache");
}

#[test]
fn unreadable_list_is_capped_and_counted() {
    let text = "lmcache server --event-bus-queue-size many\n".repeat(MAX_UNREADABLE + 30);
    let ev = launch::parse(&[("many.sh", text.as_bytes())], know());
    check(&ev);
    assert_eq!(ev.problems.unreadable.len(), MAX_UNREADABLE);
    assert_eq!(ev.problems.unreadable_total, MAX_UNREADABLE as u64 + 30);
    assert_eq!(
        ev.problems.unreadable[MAX_UNREADABLE - 1].offset_or_line,
        Location::Line(MAX_UNREADABLE as u64)
    );
}

#[test]
fn every_fixture_reads_and_says_where_it_comes_from() {
    for rel in ALL {
        let text = String::from_utf8(read(rel)).unwrap();
        if rel.ends_with(".json") {
            let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| {
                // broken.json is broken on purpose; its provenance is on line 2.
                json!({"_provenance": text.lines().nth(1).unwrap().split('"').nth(3).unwrap()})
            });
            assert!(v["_provenance"]
                .as_str()
                .unwrap()
                .starts_with("written for inferguard's tests ("));
        } else {
            let first = text.lines().find(|l| !l.starts_with("#!")).unwrap();
            assert!(
                first.starts_with("# provenance: written for inferguard's tests ("),
                "{rel}"
            );
        }
        assert!(text.lines().count() <= 150, "{rel}: keep fixtures small");
        let doc = parse_fixtures(&[rel]);
        assert_eq!(doc["claim_status"], "measured", "{rel}");
    }
}

/// Deterministic pseudo-random numbers (a 64-bit LCG, Knuth's constants).

#[test]
fn random_input_never_panics() {
    let mut rng = Lcg(7);
    // Raw bytes.
    for _ in 0..300 {
        let len = (rng.next() % 2048) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        check(&launch::parse(&[("random.bin", &bytes)], know()));
    }
    // Shell, YAML and JSON shaped noise from the pieces the parser cares about.
    let pieces = [
        "vllm",
        "serve",
        "lmcache",
        "server",
        "-m",
        "sglang.launch_server",
        "--kv-transfer-config",
        "--kv-transfer-config.kv_role=",
        "--l2-adapter",
        "--metrics-sample-rate",
        "--enable-lmcache",
        "--disable-",
        "PYTHONHASHSEED=",
        "HF_TOKEN=",
        "-e",
        "'",
        "\"",
        "\\",
        "\\\n",
        "\n",
        " ",
        "  ",
        "- ",
        ": ",
        "{",
        "}",
        "[",
        "]",
        ",",
        "#",
        ";",
        "&&",
        "|",
        "=",
        "://",
        "@",
        "?api_key=",
        "Bearer ",
        "env:",
        "args:",
        "command:",
        "kv_connector_extra_config:",
        "name: ",
        "value: ",
        "\"kv_connector\"",
        "LMCacheConnectorV1",
        "0",
        "1e309",
        "-5",
        "é",
        "\u{feff}",
    ];
    for round in 0..3000u32 {
        let n = (rng.next() % 60) as usize;
        let mut text = String::new();
        if round.is_multiple_of(4) {
            text.push('{');
        }
        for _ in 0..n {
            text.push_str(pieces[(rng.next() as usize) % pieces.len()]);
        }
        let ev = launch::parse(&[("noise", text.as_bytes())], know());
        check(&ev);
    }
}

/// Writes a pack folder `name` holding `launch.yaml`, for `Registry::load`.
fn launch_pack(dir: &Path, id: &str, launch_yaml: &str) -> std::path::PathBuf {
    let pack = dir.join(id);
    std::fs::create_dir_all(&pack).unwrap();
    let manifest = format!(
        "id: {id}\nversion: 0.1.0\nrequires:\n  inferguard: \">=0.1.0\"\ndescription: a test pack\n"
    );
    std::fs::write(pack.join("pack.yaml"), manifest).unwrap();
    std::fs::write(pack.join("launch.yaml"), launch_yaml).unwrap();
    pack
}

/// issue 13, item 2: a new program, flag, environment variable and document field
/// declared in a pack are read without any Rust change.
#[test]
fn a_pack_declared_program_and_flag_are_honoured() {
    let tmp = tempfile::tempdir().unwrap();
    let pack = launch_pack(
        tmp.path(),
        "toy",
        "kind: launch\nprograms:\n  - id: toyserve\n    serving: true\n    commands: [[toy, serve]]\n    modules: [\"toy.server*\"]\n\
         document:\n  toy: {cache_gb: null, tiers: [], fast: false}\n\
         settings:\n  - names: [toy_cache_gb]\n    env: [TOY_CACHE_GB]\n    kind: number\n    to: /toy/cache_gb\n    programs: [toyserve]\n\
         \x20 - names: [tier]\n    kind: append\n    to: /toy/tiers\n    hint: toyserve\n\
         \x20 - names: [fast_path]\n    kind: any_true\n    to: /toy/fast\n\
         secret_names: [toy_license]\n",
    );
    let registry = Registry::load(&[pack]).unwrap_or_else(|e| panic!("{e}"));
    let doc = |text: &str| {
        check_with(
            &launch::parse(&[("toy.sh", text.as_bytes())], &registry.launch),
            &registry.launch,
        )
    };
    let d = doc(
        "toy serve m --toy-cache-gb 12.5 --tier hbm --tier=ssd --fast-path --toy-license L-77\n",
    );
    assert_eq!(d["engine"], "toyserve");
    assert_eq!(
        d["toy"],
        json!({"cache_gb": 12.5, "tiers": ["hbm", "ssd"], "fast": true})
    );
    assert!(
        !d.to_string().contains("L-77"),
        "a pack-declared secret is redacted"
    );
    assert!(d["redacted"]
        .as_array()
        .unwrap()
        .contains(&json!("--toy-license")));
    // The shipped knowledge is still there, next to the new pack's.
    let d = doc("python -m toy.server.main --kv-offloading-backend lmcache\nvllm serve m --toy-cache-gb 3\n");
    assert_eq!(d["engines"], json!(["toyserve", "vllm"]));
    assert_eq!(d["connectors"], json!(["LMCacheConnectorV1"]));
    // `programs: [toyserve]`: not read from another program's command.
    assert_eq!(d["toy"]["cache_gb"], Value::Null);
    // The pack's environment name, from an input that names no program.
    assert_eq!(doc("TOY_CACHE_GB=4\n")["toy"]["cache_gb"], 4.0);
    // A config that names no program: the hint decides the engine.
    let d = doc("tier: dram\n");
    assert_eq!(d["engine"], "toyserve");
    assert_eq!(d["toy"]["tiers"], json!(["dram"]));
}

/// The built-in secret words are a floor: a pack that replaces the shipped launch
/// knowledge (and lists no secret names) still gets every secret redacted.
#[test]
fn a_pack_cannot_loosen_launch_redaction() {
    let tmp = tempfile::tempdir().unwrap();
    // Same id as the shipped core pack: replaces its launch file.
    let core = tmp.path().join("core");
    std::fs::create_dir_all(&core).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(root.join("rules/core/pack.yaml"), core.join("pack.yaml")).unwrap();
    std::fs::copy(
        root.join("rules/core/findings.yaml"),
        core.join("findings.yaml"),
    )
    .unwrap();
    std::fs::write(
        core.join("launch.yaml"),
        "kind: launch\ndocument:\n  connectors: []\nsettings:\n  - names: [api_key, hf_token]\n    kind: append\n    to: /connectors\n",
    )
    .unwrap();
    let registry = Registry::load(&[core]).unwrap_or_else(|e| panic!("{e}"));
    let ev = launch::parse(
        &[(
            "s.sh",
            b"HF_TOKEN=SECRET-Z1 vllm serve m --api-key SECRET-Z2 --hf-token SECRET-Z3\n",
        )],
        &registry.launch,
    );
    let text = serde_json::to_string(&check_with(&ev, &registry.launch)).unwrap();
    for s in ["SECRET-Z1", "SECRET-Z2", "SECRET-Z3"] {
        assert!(!text.contains(s), "{s} leaked: {text}");
    }
}

/// issue 13, item 3: every launch document the fixtures read into is valid under
/// the published `schemas/launch-evidence.schema.json`.
#[test]
fn launch_documents_follow_the_published_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("schemas/launch-evidence.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for rel in ALL {
        let doc = parse_fixtures(&[rel]);
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{rel}: {errors:?}");
    }
    // The schema is not vacuous: a document without its engine fails it.
    let mut doc = parse_fixtures(&[VLLM_EMBEDDED]);
    doc.as_object_mut().unwrap().remove("engine");
    assert!(!validator.is_valid(&doc));
}

/// An override pack written for a metric rename (no launch file) keeps what the
/// replaced pack says about launches.
#[test]
fn an_override_without_a_launch_file_keeps_the_shipped_launch_knowledge() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pack = root.join("fixtures/packs/override/vllm-rename");
    assert!(!pack.join("launch.yaml").exists());
    let registry = Registry::load(&[pack]).unwrap_or_else(|e| panic!("{e}"));
    let doc = check_with(
        &launch::parse(
            &[("v.sh", b"vllm serve m --kv-offloading-backend lmcache\n")],
            &registry.launch,
        ),
        &registry.launch,
    );
    assert_eq!(doc["engine"], "vllm");
    assert_eq!(doc["connectors"], json!(["LMCacheConnectorV1"]));
}
