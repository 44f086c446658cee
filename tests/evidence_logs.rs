//! The log parser with the shipped `logs` pack: ANSI stripped, lines classified,
//! values extracted, snippets redacted, mode candidates from what the lines prove.

use inferguard::evidence::logs::{parse_logs, strip_ansi};
use inferguard::pack::Registry;

fn evidence(files: &[(&str, &[u8])]) -> serde_json::Value {
    let registry = Registry::load_strict(&[]).expect("shipped packs load");
    let owned: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(p, b)| ((*p).to_owned(), b.to_vec()))
        .collect();
    serde_json::to_value(parse_logs(&owned, &registry.logs)).unwrap()
}

#[test]
fn lmcache_log_is_classified() {
    let log = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/evidence/logs/mp-server.log"
    ))
    .unwrap();
    let ev = evidence(&[("mp-server.log", &log)]);
    assert_eq!(ev["claim_status"], "measured");
    assert_eq!(ev["line_count"], 9);
    let count = |c: &str| ev["categories"][c]["count"].as_u64().unwrap_or(0);
    assert_eq!(count("mp_server_start"), 1);
    assert_eq!(count("metrics_init"), 1);
    assert_eq!(count("store"), 1);
    assert_eq!(count("retrieve"), 1);
    assert_eq!(count("timeout"), 1);
    assert_eq!(count("mp_connector"), 1);
    assert_eq!(count("p2p_transfer"), 1);
    assert_eq!(count("p2p_failure"), 1);
    assert_eq!(ev["categories"]["store"]["first"], "mp-server.log:4");
    assert_eq!(ev["values"]["python_hash_seed"], serde_json::json!(["0"]));
    assert_eq!(ev["mode_candidates"], serde_json::json!(["mp", "p2p"]));
    assert_eq!(ev["hash_seed_risk"], false);
    let text = ev.to_string();
    assert!(
        !text.contains("sk-LOGSECRET999"),
        "a secret reached the evidence: {text}"
    );
    assert!(!text.contains('\u{1b}'), "ANSI codes reached the evidence");
}

#[test]
fn differing_hash_seeds_are_a_risk_and_bad_bytes_are_reported() {
    let ev = evidence(&[
        ("a.log", b"PYTHONHASHSEED=0 vllm serve\n"),
        ("b.log", b"PYTHONHASHSEED=1 vllm serve\n\xff\xfe\n"),
    ]);
    assert_eq!(ev["hash_seed_risk"], true);
    assert_eq!(
        ev["values"]["python_hash_seed"],
        serde_json::json!(["0", "1"])
    );
    assert_eq!(ev["unreadable"][0]["path"], "b.log");
}

#[test]
fn empty_and_binary_logs_do_not_panic() {
    let ev = evidence(&[("empty.log", b"")]);
    assert_eq!(ev["claim_status"], "not_proven");
    let mut x: u64 = 7;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect();
    let ev = evidence(&[("noise.log", &bytes)]);
    assert!(ev["line_count"].as_u64().unwrap() > 0);
    assert_eq!(strip_ansi("\u{1b}[1;31mred\u{1b}[0m"), "red");
}
