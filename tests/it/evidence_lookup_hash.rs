//! Lookup-hash evidence (`src/evidence/lookup_hash.rs`): the fixtures in
//! `fixtures/evidence/lookup-hash/`, rotated directories, broken inputs, arbitrary
//! bytes, and above all that no hash value or request id ever reaches the document.

use crate::common;

use common::{mutate, Lcg};
use inferguard::evidence::duplicates::MAX_DUPLICATES_LISTED;
use inferguard::evidence::lookup_hash::{
    parse_lookup_hashes, parse_lookup_hashes_bytes, LookupHashEvidence,
};
use inferguard::evidence::otel::{ClaimStatus, MAX_UNREADABLE_LISTED};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const ROTATED_0: &str =
    "fixtures/evidence/lookup-hash/rotated/lookup_hashes_20260401_143025_000000.jsonl";
const ROTATED_1: &str =
    "fixtures/evidence/lookup-hash/rotated/lookup_hashes_20260401_203025_000001.jsonl";
const CORRUPT: &str = "fixtures/evidence/lookup-hash/corrupt.jsonl";

/// Substrings of every hash and request id in the fixtures.
const SECRETS: [&str; 3] = ["5ec2e7a11ce", "bad0c0ffee", "req-secret"];

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("evidence_lookup_hash-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Invariants every document holds; returns it serialized.
fn check(e: &LookupHashEvidence) -> String {
    let text = serde_json::to_string_pretty(e).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["schema_version"], "inferguard.lookup-hash-evidence/v1");
    assert!(e.read.unreadable.len() <= MAX_UNREADABLE_LISTED);
    assert!(e.read.unreadable_count >= e.read.unreadable.len() as u64);
    let records: u64 = e.read.sources.iter().map(|s| s.records).sum();
    assert_eq!(records, e.row_count);
    let expected = if e.row_count > 0 {
        "measured"
    } else {
        "not_proven"
    };
    assert_eq!(doc["claim_status"], expected);
    assert_eq!(e.file_count, e.rotation.files);
    let dups = &e.duplicate_rows;
    assert!(dups.listed.len() <= MAX_DUPLICATES_LISTED);
    assert!(dups.count >= dups.listed.len() as u64);
    assert!(dups.without_identity <= e.row_count);
    for secret in SECRETS {
        assert!(!text.contains(secret), "`{secret}` leaked into:\n{text}");
    }
    text
}

#[test]
fn rotated_directory_gives_counts_and_settings() {
    let e = parse_lookup_hashes(&[fixture("fixtures/evidence/lookup-hash/rotated")]);
    let text = check(&e);
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(e.claim_status, ClaimStatus::Measured);
    assert_eq!(e.row_count, 5);
    assert_eq!(e.file_count, 2);
    let read: Vec<&str> = e.read.sources.iter().map(|s| s.path.as_str()).collect();
    assert!(read[0].ends_with(ROTATED_0), "{read:?}");
    assert!(read[1].ends_with(ROTATED_1), "{read:?}");
    assert_eq!(e.read.sources[0].records, 3);
    assert_eq!(e.read.sources[1].records, 2);
    // The README beside the rotated files is skipped, not read.
    assert_eq!(e.read.skipped_file_count, 1);
    assert!(e.read.skipped_files[0].ends_with("rotated/README.md"));
    assert_eq!(e.read.unreadable_count, 0);

    assert_eq!(
        e.models,
        ["Qwen/Qwen3-32B", "meta-llama/Llama-3.1-8B-Instruct"]
    );
    assert_eq!(e.chunk_sizes, [256, 512]);
    assert_eq!(
        doc["seq_len"],
        json!({"count": 5, "min": 20, "max": 4096, "avg": 1497.6})
    );
    assert_eq!(e.dtypes, ["bfloat16", "float8_e4m3fn"]);
    assert_eq!(
        e.shapes,
        [vec![2, 32, 256, 8, 128], vec![2, 64, 256, 8, 128]]
    );
    assert_eq!(e.hash_count, 26);
    assert_eq!(e.timestamps.first, Some(1775053825.125));
    assert_eq!(e.timestamps.last, Some(1775075426.0));
    assert_eq!(
        doc["rotation"],
        json!({
            "files": 2,
            "max_rows_per_file": 3,
            "max_bytes_per_file": e.read.sources.iter().map(|s| s.bytes).max(),
            "upstream_named_files": 2,
            "first_index": 0,
            "last_index": 1
        })
    );
    assert!(e.missing_fields.is_empty() && e.invalid_fields.is_empty());
    assert!(e.capped_fields.is_empty());

    // The files one by one give the same document as the directory.
    let by_file = parse_lookup_hashes(&[fixture(ROTATED_0), fixture(ROTATED_1)]);
    check(&by_file);
    assert_eq!(by_file.row_count, 5);
    assert_eq!(by_file.hash_count, 26);
    assert_eq!(by_file.read.skipped_file_count, 0);
}

#[test]
fn corrupt_rows_are_located_and_bad_fields_counted() {
    let e = parse_lookup_hashes(&[fixture(CORRUPT)]);
    let text = check(&e);
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(e.claim_status, ClaimStatus::Measured);
    // Line 1 (good) and line 3 (wrong types) are rows.
    assert_eq!(e.row_count, 2);
    assert_eq!(e.hash_count, 2);
    // The hash given as a model name is not listed.
    assert_eq!(e.models, ["meta-llama/Llama-3.1-8B-Instruct"]);
    assert_eq!(e.chunk_sizes, [256]);
    assert_eq!(
        doc["seq_len"],
        json!({"count": 1, "min": 512, "max": 512, "avg": 512.0})
    );
    assert_eq!(
        doc["invalid_fields"],
        json!({
            "chunk_hashes": 1,
            "dtypes": 1,
            "seq_len": 1,
            "shapes": 1,
            "timestamp": 1
        })
    );
    assert_eq!(doc["withheld_fields"], json!({"model_name": 1}));
    assert_eq!(doc["missing_fields"], json!({"request_id": 1}));
    let located: Vec<(Option<u64>, &str)> = e
        .read
        .unreadable
        .iter()
        .map(|u| (u.line, u.reason.as_str()))
        .collect();
    assert_eq!(located.len(), 3, "{located:?}");
    assert_eq!(located[0].0, Some(2));
    assert!(located[0]
        .1
        .starts_with("not valid JSON: EOF while parsing"));
    assert_eq!(
        located[1],
        (
            Some(4),
            "expected a lookup row (a JSON object), found an array"
        )
    );
    assert_eq!(located[2].0, Some(6));
    assert!(located[2].1.starts_with("last line is cut off"));
    assert_eq!(e.rotation.upstream_named_files, 0);
    assert_eq!(e.rotation.first_index, None);
}

#[test]
fn distinctive_hashes_never_reach_the_document() {
    // Hash-like strings in every place a row can hold a string, including the
    // places whose values are listed (model, dtypes) and broken lines.
    let mut rng = Lcg(0xfeed);
    let mut hashes = Vec::new();
    let mut input = String::new();
    for i in 0..40 {
        let h: String = (0..16)
            .map(|_| char::from(b"0123456789abcdef"[rng.below(16)]))
            .collect();
        let hash = format!("0x{h}");
        hashes.push(h.clone());
        let row = match i % 5 {
            0 => {
                json!({"model_name": "m", "chunk_hashes": [hash, format!("0x{h}00")], "seq_len": 3})
            }
            1 => json!({"model_name": hash, "dtypes": [format!("0x{h}")], "request_id": hash}),
            2 => json!({"chunk_hashes": hash, "shapes": [[1, 2]], "extra": {"hash": hash}}),
            3 => json!({"dtypes": [h.clone()], "model_name": h.clone()}),
            _ => json!([hash]),
        };
        input.push_str(&row.to_string());
        input.push('\n');
        if i % 7 == 0 {
            input.push_str(&format!("{{\"chunk_hashes\": [\"0x{h}\"\n"));
        }
    }
    let e = parse_lookup_hashes_bytes("rows.jsonl", input.as_bytes());
    let text = check(&e);
    for h in &hashes {
        assert!(!text.contains(h.as_str()), "hash {h} leaked into:\n{text}");
    }
    assert_eq!(e.models, ["m"]);
    assert!(e.dtypes.is_empty());
    assert_eq!(e.hash_count, 16);
    assert_eq!(
        serde_json::to_value(&e.withheld_fields).unwrap(),
        json!({"dtypes": 16, "model_name": 16})
    );
}

#[test]
fn empty_missing_garbage_and_mixed_directories() {
    let dir = scratch("mixed");
    std::fs::copy(
        fixture(ROTATED_0),
        dir.join("lookup_hashes_20260401_143025_000000.jsonl"),
    )
    .unwrap();
    std::fs::write(dir.join("lookup_hashes_20260401_203025_000001.jsonl"), b"").unwrap();
    std::fs::write(
        dir.join("lookup_hashes_20260402_023025_000002.jsonl"),
        b"\x00\xff garbage \x8a\n\xc3\x28",
    )
    .unwrap();
    std::fs::copy(fixture(CORRUPT), dir.join("other.jsonl")).unwrap();
    std::fs::write(dir.join("notes.txt"), b"notes").unwrap();
    let missing = dir.join("lookup_hashes_gone.jsonl");
    let e = parse_lookup_hashes(&[dir.clone(), missing]);
    check(&e);
    assert_eq!(e.row_count, 3);
    // Three files opened (one empty, one garbage), one missing.
    assert_eq!(e.file_count, 3);
    assert_eq!(e.rotation.upstream_named_files, 3);
    assert_eq!(
        (e.rotation.first_index, e.rotation.last_index),
        (Some(0), Some(2))
    );
    assert_eq!(e.rotation.max_rows_per_file, 3);
    // `other.jsonl` is only read when no file is named `lookup_hashes_*`.
    assert_eq!(e.read.skipped_file_count, 2);
    let reasons: Vec<(String, Option<u64>, &str)> = e
        .read
        .unreadable
        .iter()
        .map(|u| {
            let file = Path::new(&u.path).file_name().unwrap().to_string_lossy();
            (file.into_owned(), u.line, u.reason.as_str())
        })
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert_eq!(
        reasons[0],
        (
            "lookup_hashes_20260401_203025_000001.jsonl".into(),
            None,
            "file is empty"
        )
    );
    assert_eq!(reasons[1].1, Some(1));
    assert_eq!(reasons[2].1, Some(2));
    assert!(reasons[2].2.contains("no line break"));
    assert_eq!(reasons[3].0, "lookup_hashes_gone.jsonl");
    assert!(reasons[3].2.starts_with("cannot read: "));
    assert_eq!(e.read.sources.len(), 4);
    assert!(!e.read.sources[3].opened);

    // Only other names: the `*.jsonl` files are read.
    let plain = scratch("plain");
    std::fs::copy(fixture(ROTATED_1), plain.join("hashes.jsonl")).unwrap();
    std::fs::write(plain.join("notes.txt"), b"notes").unwrap();
    let e = parse_lookup_hashes(&[&plain]);
    check(&e);
    assert_eq!(e.row_count, 2);
    assert_eq!(e.rotation.upstream_named_files, 0);

    // Nothing to read.
    let none = scratch("none");
    let e = parse_lookup_hashes(&[&none]);
    check(&e);
    assert_eq!(e.claim_status, ClaimStatus::NotProven);
    assert_eq!(e.file_count, 0);
    assert!(e.read.unreadable[0]
        .reason
        .starts_with("directory holds no lookup_hashes_*.jsonl or other *.jsonl files"));
}

/// The document without what legitimately differs between reading rows once and
/// reading them again: the per-file list, file sizes and the duplicate report.
fn without_reading_details(e: &LookupHashEvidence) -> Value {
    let mut doc: Value = serde_json::from_str(&check(e)).unwrap();
    let obj = doc.as_object_mut().unwrap();
    for key in ["sources", "duplicate_rows", "file_count"] {
        obj.remove(key);
    }
    let rotation = obj["rotation"].as_object_mut().unwrap();
    for key in ["files", "max_bytes_per_file", "upstream_named_files"] {
        rotation.remove(key);
    }
    doc
}

/// Issue 10, item 11: a lookup-hash file concatenated with itself gives the counts
/// of the file once, and the repeated rows are reported by line in the JSON
/// document, without any of their content.
#[test]
fn concatenated_file_counts_each_row_once() {
    let bytes = std::fs::read(fixture(ROTATED_0)).unwrap();
    let once = parse_lookup_hashes_bytes("rows.jsonl", &bytes);
    let twice = parse_lookup_hashes_bytes("rows.jsonl", &bytes.repeat(2));
    assert_eq!(once.row_count, 3);
    assert_eq!(once.duplicate_rows.count, 0);
    assert_eq!(twice.row_count, 3);
    assert_eq!(twice.hash_count, once.hash_count);
    assert_eq!(
        without_reading_details(&twice),
        without_reading_details(&once)
    );
    let doc: Value = serde_json::from_str(&check(&twice)).unwrap();
    let at = |line: u64, first: u64| {
        json!({"path": "rows.jsonl", "line": line, "pointer": null,
               "first_path": "rows.jsonl", "first_line": first})
    };
    assert_eq!(
        doc["duplicate_rows"],
        json!({
            "count": 3,
            "listed": [at(4, 1), at(5, 2), at(6, 3)],
            "without_identity": 0,
            "not_checked": 0
        })
    );
}

/// Issue 10, item 11: the same file passed twice, or a directory and a file inside
/// it, is read once and named as repeated, so every row counts once.
#[test]
fn a_file_passed_twice_is_read_once() {
    let dir = fixture("fixtures/evidence/lookup-hash/rotated");
    let once = parse_lookup_hashes(&[&dir]);
    for (paths, sources) in [
        (vec![fixture(ROTATED_1), fixture(ROTATED_1)], 1),
        (
            vec![dir.clone(), fixture(ROTATED_0)],
            once.read.sources.len(),
        ),
    ] {
        let e = parse_lookup_hashes(&paths);
        check(&e);
        assert_eq!(e.read.sources.len(), sources, "{paths:?}");
        assert_eq!(e.read.repeated_files.len(), 1, "{paths:?}");
        assert_eq!(e.duplicate_rows.count, 0, "{paths:?}");
    }
    let mut e = parse_lookup_hashes(&[dir.clone(), fixture(ROTATED_0), fixture(ROTATED_1)]);
    assert_eq!(e.read.repeated_files.len(), 2);
    e.read.repeated_files.clear();
    assert_eq!(without_reading_details(&e), without_reading_details(&once));
}

/// Issue 10, item 11: only a row identical in every field is a repeat; rows that
/// differ in one field are two events, and rows without a timestamp cannot be told
/// from two lookups of one prompt, so they are all counted, and said to be.
#[test]
fn only_an_identical_timed_row_is_a_duplicate() {
    let row = |ts: Value, id: &str| {
        json!({"timestamp": ts, "request_id": id, "model_name": "m", "chunk_size": 256,
               "chunk_hashes": ["0x5ec2e7a11ce00000"]})
        .to_string()
    };
    let input = [
        row(json!(1775053825.125), "req-secret-1"),
        row(json!(1775053825.125), "req-secret-2"),
        row(json!(1775053825.5), "req-secret-1"),
        row(json!(1775053825.125), "req-secret-1"),
        row(Value::Null, "req-secret-1"),
        row(Value::Null, "req-secret-1"),
        row(json!("not-a-time"), "req-secret-1"),
    ]
    .join("\n");
    let e = parse_lookup_hashes_bytes("rows.jsonl", input.as_bytes());
    let text = check(&e);
    assert!(!text.contains("0x5ec2e7a1"), "{text}");
    assert_eq!(e.row_count, 6);
    assert_eq!(e.hash_count, 6);
    assert_eq!(e.duplicate_rows.count, 1);
    assert_eq!(e.duplicate_rows.listed[0].line, Some(4));
    assert_eq!(e.duplicate_rows.listed[0].first_line, Some(1));
    assert_eq!(e.duplicate_rows.without_identity, 3);
}

fn random_input(rng: &mut Lcg) -> Vec<u8> {
    const TOKENS: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"",
        "\n",
        " ",
        "\"model_name\"",
        "\"chunk_size\"",
        "\"seq_len\"",
        "\"dtypes\"",
        "\"shapes\"",
        "\"chunk_hashes\"",
        "\"timestamp\"",
        "\"0xabc\"",
        "-9223372036854775808",
        "9223372036854775807",
        "1e308",
        "2.5",
        "null",
        "\"\"",
        "[[1,2]]",
    ];
    let len = rng.below(64);
    let mut out = Vec::new();
    for _ in 0..len {
        if rng.below(4) == 0 {
            out.push(rng.next() as u8);
        } else {
            out.extend_from_slice(TOKENS[rng.below(TOKENS.len())].as_bytes());
        }
    }
    out
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut rng = Lcg(0x1007_4a54);
    let bases = [
        std::fs::read(fixture(ROTATED_0)).unwrap(),
        std::fs::read(fixture(CORRUPT)).unwrap(),
    ];
    let mut measured = 0;
    for i in 0..3000 {
        let input = if i % 2 == 0 {
            random_input(&mut rng)
        } else {
            let base = &bases[rng.below(bases.len())];
            mutate(&mut rng, base)
        };
        let e = parse_lookup_hashes_bytes("random", &input);
        // Mutations can cut a hash short; what is left of it must not leak either.
        let text = serde_json::to_string(&e).unwrap();
        assert!(!text.contains("0x5ec2e7a1"), "{text}");
        assert!(!text.contains("0xbad0c0ff"), "{text}");
        let records: u64 = e.read.sources.iter().map(|s| s.records).sum();
        assert_eq!(records, e.row_count);
        measured += usize::from(e.claim_status == ClaimStatus::Measured);
    }
    // The mutated fixtures mostly still hold rows.
    assert!(measured > 700, "{measured}");
}
