//! The log parser with the shipped `logs` pack: ANSI stripped, lines classified,
//! values extracted, snippets redacted, mode candidates from what the lines prove;
//! and the streaming parser (issue 10, item 10) against the whole-file parser it
//! replaced, with its bounds on long lines and many values.

use crate::common;

use common::log_gen::LogGen;
use inferguard::evidence::logs::{parse_logs, strip_ansi, LogParser, LINE_CAP, MAX_VALUES};
use inferguard::pack::compat::LogRules;
use inferguard::pack::Registry;
use inferguard::redact::line as redact_line;
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn rules() -> LogRules {
    Registry::load_strict(&[]).expect("shipped packs load").logs
}

fn evidence(files: &[(&str, &[u8])]) -> Value {
    let owned: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(p, b)| ((*p).to_owned(), b.to_vec()))
        .collect();
    serde_json::to_value(parse_logs(&owned, &rules())).unwrap()
}

/// Streams `files` through a reader of `chunk`-byte fills (so lines, `\r\n` and
/// UTF-8 sequences straddle fills); returns the evidence and each redacted copy.
fn streamed(rules: &LogRules, files: &[(&str, &[u8])], chunk: usize) -> (Value, Vec<Vec<u8>>) {
    let mut parser = LogParser::new(rules);
    let mut copies = Vec::new();
    for (path, bytes) in files {
        let mut copy = Vec::new();
        let reader = std::io::BufReader::with_capacity(chunk, *bytes);
        parser.add(path, reader, Some(&mut copy)).unwrap();
        copies.push(copy);
    }
    (serde_json::to_value(parser.finish()).unwrap(), copies)
}

/// The whole-file parser as it was before issue 10, item 10 (every line against
/// every category's regexes, the file decoded at once): the reference the
/// streaming parser must agree with.
fn old_parse(files: &[(&str, &[u8])], rules: &LogRules) -> Value {
    let mut categories: BTreeMap<String, Value> = BTreeMap::new();
    let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let (mut modes, mut sources, mut unreadable) = (Vec::new(), Vec::new(), Vec::new());
    let mut line_count = 0;
    for (path, bytes) in files {
        let text = String::from_utf8_lossy(bytes);
        if text.contains('\u{FFFD}') && !bytes.is_empty() {
            unreadable.push(
                json!({"path": path, "reason": "not valid UTF-8; undecodable bytes were replaced"}),
            );
        }
        let mut lines = 0;
        for (n, raw) in text.lines().enumerate() {
            lines += 1;
            let line = strip_ansi(raw);
            for cat in &rules.categories {
                if cat.patterns.iter().any(|r| r.is_match(&line))
                    && !cat.exclude.iter().any(|r| r.is_match(&line))
                {
                    let e = categories.entry(cat.id.clone()).or_insert_with(|| {
                        json!({"count": 0, "description": cat.description,
                               "first": format!("{path}:{}", n + 1), "snippets": []})
                    });
                    e["count"] = json!(e["count"].as_u64().unwrap() + 1);
                    let snippets = e["snippets"].as_array_mut().unwrap();
                    if snippets.len() < 3 {
                        snippets.push(json!(redact_line(&line)
                            .chars()
                            .take(200)
                            .collect::<String>()));
                    }
                    for p in &cat.proves {
                        if !modes.contains(p) {
                            modes.push(p.clone());
                        }
                    }
                }
            }
            for (name, re) in &rules.values {
                if let Some(v) = re.captures(&line).and_then(|c| c.get(1)) {
                    let list = values.entry(name.clone()).or_default();
                    if !list.iter().any(|x| x == v.as_str()) {
                        list.push(v.as_str().to_owned());
                    }
                }
            }
        }
        line_count += lines;
        sources.push(json!({"path": path, "bytes": bytes.len(), "lines": lines}));
    }
    modes.sort();
    let seeds = values.get("python_hash_seed").map_or(0, Vec::len);
    json!({
        "schema_version": "inferguard.log-evidence/v1",
        "claim_status": if line_count > 0 { "measured" } else { "not_proven" },
        "sources": sources, "line_count": line_count, "categories": categories,
        "mode_candidates": modes, "values": values,
        "hash_seed_risk": seeds > 1 || (seeds == 0 && files.len() > 1),
        "unreadable": unreadable,
    })
}

/// The raw copy as the collector wrote it before: every line redacted.
fn old_copy(bytes: &[u8]) -> Vec<u8> {
    let mut out = String::new();
    for line in String::from_utf8_lossy(bytes).lines() {
        out.push_str(&redact_line(line));
        out.push('\n');
    }
    out.into_bytes()
}

fn fixture() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/evidence/logs/mp-server.log"
    ))
    .unwrap()
}

#[test]
fn lmcache_log_is_classified() {
    let log = fixture();
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
    assert_eq!(ev["values"]["python_hash_seed"], json!(["0"]));
    assert_eq!(ev["mode_candidates"], json!(["mp", "p2p"]));
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
    assert_eq!(ev["values"]["python_hash_seed"], json!(["0", "1"]));
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

/// issue 10, item 10: the one-set streaming parser gives what the old parser gave
/// — categories, counts, first lines, snippets, values, hash-seed risk — and the
/// redacted copy is the old copy, on the fixture and on generated logs (LF and
/// CR-LF, several files, damaged bytes), however the reader splits the input.
#[test]
fn streaming_parser_agrees_with_the_old_parser() {
    let rules = rules();
    let fixture = fixture();
    let mut cases: Vec<Vec<(String, Vec<u8>)>> = vec![vec![("mp-server.log".into(), fixture)]];
    let mut rng = common::Lcg(3);
    for seed in 1..=6u64 {
        let mut gen = LogGen::new(seed);
        gen.crlf = seed % 2 == 0;
        let a = gen.log(40_000);
        let mut b = LogGen::new(seed + 100).log(20_000);
        if seed % 3 == 0 {
            b = common::mutate(&mut rng, &b);
            b.extend_from_slice(b"caf\xe9 p2p peer lost \xff\r\nlast line without ending\r");
        }
        cases.push(vec![
            (format!("engine-{seed}.log"), a),
            (format!("lmcache-{seed}.log"), b),
        ]);
    }
    let mut matched = 0;
    for files in &cases {
        let files: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, b)| (p.as_str(), b.as_slice()))
            .collect();
        let expected = old_parse(&files, &rules);
        matched += expected["categories"].as_object().unwrap().len();
        for chunk in [7, 4096, 1 << 16] {
            let (ev, copies) = streamed(&rules, &files, chunk);
            assert_eq!(
                ev,
                expected,
                "chunk {chunk}, files {:?}",
                files.iter().map(|f| f.0).collect::<Vec<_>>()
            );
            for ((path, bytes), copy) in files.iter().zip(&copies) {
                assert!(
                    *copy == old_copy(bytes),
                    "{path}: redacted copy differs (chunk {chunk})"
                );
            }
        }
        assert_eq!(
            serde_json::to_value(parse_logs(&owned(&files), &rules)).unwrap(),
            expected
        );
    }
    // The generated logs exercise the pack: most categories show up.
    assert!(
        matched > 6 * 15,
        "generated logs matched only {matched} categories"
    );
}

fn owned(files: &[(&str, &[u8])]) -> Vec<(String, Vec<u8>)> {
    files
        .iter()
        .map(|(p, b)| ((*p).to_owned(), b.to_vec()))
        .collect()
}

/// issue 10, item 10: a line longer than the cap is classified by its start, counted
/// once in `unreadable`, cut at a space in the copy (no half secret), and the lines
/// after it keep their numbers; a line exactly at the cap with `\r\n` is not cut.
#[test]
fn overlong_lines_are_cut_counted_and_do_not_shift_lines() {
    let rules = rules();
    let mut log = b"Stored 7 tokens HF_TOKEN=hf_".to_vec();
    log.extend(std::iter::repeat_n(b'x', 3 * LINE_CAP));
    log.extend_from_slice(b" tail\nRetrieved 5 tokens\n");
    let mut exact = b"Stored 1 tokens ".to_vec();
    exact.resize(LINE_CAP, b'y');
    log.extend_from_slice(&exact);
    log.extend_from_slice(b"\r\n");
    log.extend_from_slice(&log.clone()[..LINE_CAP + 10]);
    log.extend_from_slice(b"\n");
    let (ev, copies) = streamed(&rules, &[("big.log", &log)], 8192);
    assert_eq!(ev["line_count"], 4);
    assert_eq!(ev["sources"][0]["bytes"], log.len());
    assert_eq!(ev["categories"]["store"]["count"], 3);
    assert_eq!(ev["categories"]["retrieve"]["first"], "big.log:2");
    assert_eq!(
        ev["unreadable"].as_array().unwrap().len(),
        1,
        "{}",
        ev["unreadable"]
    );
    let reason = ev["unreadable"][0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("2 line(s) longer than 65536 bytes"),
        "{reason}"
    );
    let copy = String::from_utf8(copies[0].clone()).unwrap();
    let lines: Vec<&str> = copy.lines().collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[0],
        "Stored 7 tokens [line cut by inferguard: longer than 65536 bytes]"
    );
    assert_eq!(lines[2].len(), LINE_CAP, "a line at the cap is whole");
    assert!(
        copy.len() < 4 * LINE_CAP,
        "the copy holds no more than the cap per line"
    );
    assert!(!copy.contains("hf_"), "a cut secret reached the copy");
}

/// issue 10, item 10: invalid UTF-8 is replaced line by line and reported once per
/// file; a multi-byte character split between two reads is not invalid; `\r\n`
/// lines equal `\n` lines.
#[test]
fn bad_bytes_split_characters_and_crlf() {
    let rules = rules();
    let mut bad = b"Stored 1 tokens \xff\nRetrieved 2 tokens \xc3\nnixl \xe2\x82\n".to_vec();
    // Word boundaries are ASCII ones (the pack's patterns are compiled by
    // regex-lite, as before issue 10): `é` is not a word character, so `énixl`
    // and `é nixl` both hold `\bnixl`, whichever set pre-filtered the line.
    bad.extend_from_slice("énixl agent\né nixl agent\n".as_bytes());
    let good = "Stored 1 tokens — µs é\r\nRetrieved 2 tokens\r\n".repeat(50);
    let lf = good.replace("\r\n", "\n");
    let (ev, copies) = streamed(
        &rules,
        &[
            ("bad.log", &bad),
            ("good.log", good.as_bytes()),
            ("lf.log", lf.as_bytes()),
        ],
        3,
    );
    let unreadable = ev["unreadable"].as_array().unwrap();
    assert_eq!(unreadable.len(), 1, "{unreadable:?}");
    assert_eq!(unreadable[0]["path"], "bad.log");
    assert_eq!(ev["categories"]["nixl"]["snippets"][0], "nixl \u{FFFD}");
    assert_eq!(ev["categories"]["nixl"]["count"], 3);
    assert_eq!(ev["categories"]["nixl"]["snippets"][1], "énixl agent");
    assert_eq!(ev["sources"][1]["lines"], ev["sources"][2]["lines"]);
    assert_eq!(copies[1], copies[2], "CR-LF and LF copies differ");
    assert_eq!(copies[1], lf.as_bytes());
    let snippet = ev["categories"]["store"]["snippets"][1].as_str().unwrap();
    assert_eq!(snippet, "Stored 1 tokens — µs é");
}

/// issue 10, item 10: what the evidence keeps is bounded — 100k matching lines
/// with distinct values keep 3 snippets per category and at most `MAX_VALUES`
/// values, while counts stay exact.
#[test]
fn evidence_stays_bounded_on_many_distinct_matches() {
    let rules = rules();
    let mut log = Vec::new();
    for i in 0..100_000 {
        log.extend_from_slice(format!("Stored {i} tokens PYTHONHASHSEED={i}\n").as_bytes());
    }
    let (ev, _) = streamed(&rules, &[("many.log", &log)], 1 << 16);
    assert_eq!(ev["categories"]["store"]["count"], 100_000);
    assert_eq!(
        ev["categories"]["store"]["snippets"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let seeds = ev["values"]["python_hash_seed"].as_array().unwrap();
    assert_eq!(seeds.len(), MAX_VALUES);
    assert_eq!(seeds[0], "0");
    assert_eq!(ev["hash_seed_risk"], true);
    let long = format!("PYTHONHASHSEED={}\n", "7".repeat(10_000));
    let (ev, _) = streamed(&rules, &[("long.log", long.as_bytes())], 1 << 16);
    assert_eq!(
        ev["values"]["python_hash_seed"][0].as_str().unwrap().len(),
        200
    );
}
