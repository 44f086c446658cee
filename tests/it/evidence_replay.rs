//! Trace-replay evidence (`src/evidence/replay.rs`): the fixtures in
//! `fixtures/evidence/replay/`, one replay saved in all four forms, broken and
//! truncated inputs, directories, and arbitrary bytes.

use crate::common;

use common::{mutate, Lcg};
use inferguard::evidence::otel::{ClaimStatus, MAX_UNREADABLE_LISTED};
use inferguard::evidence::replay::{parse_replay, parse_replay_bytes, ReplayEvidence, ReplayKind};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const OUT: &str = "fixtures/evidence/replay/out";
const OPS_CSV: &str = "fixtures/evidence/replay/out/trace_replay_ops.csv";
const SUMMARY: &str = "fixtures/evidence/replay/out/trace_replay_summary.json";
const RECORDS: &str = "fixtures/evidence/replay/out/trace_replay.jsonl";
const INFO: &str = "fixtures/evidence/replay/out/trace_info.txt";
const INFO_EVENTS: &str = "fixtures/evidence/replay/info-events.txt";
const OPS_CORRUPT: &str = "fixtures/evidence/replay/ops-corrupt.csv";
const RECORDS_CORRUPT: &str = "fixtures/evidence/replay/records-corrupt.jsonl";

const SM: &str = "lmcache.v1.distributed.storage_manager.StorageManager.";

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("evidence_replay-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Invariants every document holds; returns it as JSON.
fn check(e: &ReplayEvidence) -> Value {
    let doc = serde_json::to_value(e).unwrap();
    assert_eq!(doc["schema_version"], "inferguard.trace-replay-evidence/v1");
    assert!(e.read.unreadable.len() <= MAX_UNREADABLE_LISTED);
    assert!(e.read.unreadable_count >= e.read.unreadable.len() as u64);
    let records: u64 = e.read.sources.iter().map(|s| s.records).sum();
    assert_eq!(records, e.row_count);
    let per_file: u64 = e.files.iter().map(|f| f.records).sum();
    assert_eq!(per_file, e.row_count);
    assert_eq!(e.errors, e.op_errors.values().sum::<u64>());
    for (op, errors) in &e.op_errors {
        assert!(e.ops.get(op).is_some_and(|n| n >= errors), "{op}");
    }
    let expected = if e.row_count > 0 {
        "measured"
    } else {
        "not_proven"
    };
    assert_eq!(doc["claim_status"], expected);
    doc
}

/// The ops map with the StorageManager prefix cut off, for short assertions.
fn short_ops(ops: &std::collections::BTreeMap<String, u64>) -> Vec<(String, u64)> {
    ops.iter()
        .map(|(k, v)| (k.strip_prefix(SM).unwrap_or(k).to_owned(), *v))
        .collect()
}

fn ops(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn one_replay_in_four_forms_agrees() {
    let e = parse_replay(&[fixture(OUT)]);
    let doc = check(&e);
    assert_eq!(e.claim_status, ClaimStatus::Measured);
    let kinds: Vec<(String, ReplayKind)> = e
        .files
        .iter()
        .map(|f| {
            let name = Path::new(&f.path).file_name().unwrap().to_string_lossy();
            (name.into_owned(), f.kind)
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("trace_info.txt".to_owned(), ReplayKind::Info),
            ("trace_replay.jsonl".to_owned(), ReplayKind::Jsonl),
            ("trace_replay_ops.csv".to_owned(), ReplayKind::Csv),
            ("trace_replay_summary.json".to_owned(), ReplayKind::Json),
        ]
    );
    assert!(e.files[0].path.ends_with(INFO));
    assert!(e.files[1].path.ends_with(RECORDS));
    assert!(e.files[2].path.ends_with(OPS_CSV));
    assert!(e.files[3].path.ends_with(SUMMARY));
    assert_eq!(doc["files"][2]["kind"], "csv");
    // Every form holds the same 24 records; they are not added together.
    for f in &e.files {
        assert_eq!(f.op_records, 24, "{}", f.path);
    }
    assert_eq!(
        short_ops(&e.ops),
        ops(&[
            ("finish_write", 10),
            ("reserve_write", 10),
            ("submit_prefetch_task", 4)
        ])
    );
    assert_eq!(short_ops(&e.op_errors), ops(&[("reserve_write", 1)]));
    assert_eq!(e.errors, 1);
    // Info: 7 labels + 3 op lines; JSONL: 24; CSV: 3 rows; JSON: 3 ops + duration_s.
    assert_eq!(e.row_count, 10 + 24 + 3 + 4);
    assert_eq!(doc["summary"], json!({"duration_s": 2.5}));
    assert_eq!(
        doc["info"],
        json!({
            "Trace file": "/var/tmp/lmcache-trace-4242-20260401-143025.lct",
            "level": "storage",
            "format_version": "1",
            "trace_schema_version": "1",
            "duration": "2.412s",
            "sm_config_digest": "9f2c4e1a7b",
            "total_records": "24"
        })
    );
    assert_eq!(e.read.unreadable_count, 0, "{:?}", e.read.unreadable);
    assert_eq!(e.read.skipped_file_count, 1);
    assert!(e.read.skipped_files[0].ends_with("out/README.md"));
}

#[test]
fn ops_csv_alone() {
    let e = parse_replay(&[fixture(OPS_CSV)]);
    check(&e);
    assert_eq!(e.row_count, 3);
    // LMCache's `count` is the successful replays; ops count failed ones too.
    assert_eq!(
        short_ops(&e.ops),
        ops(&[
            ("finish_write", 10),
            ("reserve_write", 10),
            ("submit_prefetch_task", 4)
        ])
    );
    assert_eq!(e.errors, 1);
    assert!(e.summary.is_empty() && e.info.is_empty());
}

#[test]
fn events_level_trace_info() {
    let e = parse_replay(&[fixture(INFO_EVENTS)]);
    let doc = check(&e);
    assert_eq!(e.files[0].kind, ReplayKind::Info);
    assert_eq!(
        short_ops(&e.ops),
        ops(&[("events.batch", 3), ("events.lifecycle", 2)])
    );
    assert_eq!(e.errors, 0);
    assert_eq!(
        doc["info"],
        json!({
            "Trace file": "/var/tmp/lmcache-trace-events.lct",
            "level": "events",
            "format_version": "1",
            "trace_schema_version": "1",
            "duration": "12.500s",
            "sm_config_digest": "(none)",
            "cache_event_schema_version": "1",
            "instance_id": "mp-0",
            "lmcache_version": "0.5.6",
            "total_records": "5",
            "events.instances": "1",
            "events.instances.mp-0": "incarnations=[0] restarts=0",
            "events.batches.evict/l1/-/local": "1",
            "events.batches.store/l1/-/local": "2",
            "events.entries.evict": "1",
            "events.entries.store": "4",
            "events.store_bytes": "4096",
            "events.entries_with_tokens": "2",
            "events.lifecycle": "start=1, stop=1"
        })
    );
    assert_eq!(e.row_count, 10 + 2 + 9);
    assert_eq!(e.read.unreadable_count, 0, "{:?}", e.read.unreadable);
}

#[test]
fn corrupt_csv_keeps_good_rows_and_locates_bad_ones() {
    let e = parse_replay(&[fixture(OPS_CORRUPT)]);
    check(&e);
    assert_eq!(e.row_count, 2);
    assert_eq!(
        short_ops(&e.ops),
        ops(&[
            ("finish_write", 10),
            ("read_prefetched_results.__enter__", 2)
        ])
    );
    let located: Vec<(Option<u64>, &str)> = e
        .read
        .unreadable
        .iter()
        .map(|u| (u.line, u.reason.as_str()))
        .collect();
    assert_eq!(
        located,
        [
            (Some(3), "row has 4 fields, the header has 9"),
            (Some(4), "`count` is not a whole number"),
            (
                Some(6),
                "row has 5 fields, the header has 9; it is the last line and has no line \
                 break, so it may be cut off"
            ),
        ]
    );
}

#[test]
fn corrupt_jsonl_keeps_good_records_and_locates_bad_ones() {
    let e = parse_replay(&[fixture(RECORDS_CORRUPT)]);
    check(&e);
    assert_eq!(e.files[0].kind, ReplayKind::Jsonl);
    assert_eq!(
        short_ops(&e.ops),
        ops(&[("finish_write", 1), ("reserve_write", 1)])
    );
    assert_eq!(short_ops(&e.op_errors), ops(&[("reserve_write", 1)]));
    let lines: Vec<Option<u64>> = e.read.unreadable.iter().map(|u| u.line).collect();
    assert_eq!(lines, [Some(2), Some(3), Some(5)]);
    assert!(e.read.unreadable[0].reason.starts_with("not valid JSON"));
    assert_eq!(
        e.read.unreadable[1].reason,
        "replay record has no `qualname`"
    );
    assert!(e.read.unreadable[2]
        .reason
        .starts_with("last line is cut off"));
}

#[test]
fn truncated_summary_keeps_the_ops_before_the_cut() {
    let text = std::fs::read_to_string(fixture(SUMMARY)).unwrap();
    let cut = text.find("reserve_write").unwrap() + 5;
    let e = parse_replay_bytes("trace_replay_summary.json", &text.as_bytes()[..cut]);
    let doc = check(&e);
    assert_eq!(short_ops(&e.ops), ops(&[("finish_write", 10)]));
    assert_eq!(doc["summary"], json!({"duration_s": 2.5}));
    assert_eq!(e.read.unreadable_count, 1);
    assert!(e.read.unreadable[0]
        .reason
        .starts_with("document is cut off (not valid JSON: EOF while parsing a string"));
}

#[test]
fn content_decides_when_the_name_does_not() {
    let csv = parse_replay_bytes("-", b"op,failed\nread,false\nread,true\nwrite,0\n");
    check(&csv);
    assert_eq!(csv.files[0].kind, ReplayKind::Csv);
    assert_eq!(short_ops(&csv.ops), ops(&[("read", 2), ("write", 1)]));
    assert_eq!(csv.errors, 1);

    let status = parse_replay_bytes(
        "records.csv",
        b"qualname,status,latency_ms\na,ok,1\na,FAIL,2\nb,error: boom,3\n",
    );
    check(&status);
    assert_eq!(short_ops(&status.op_errors), ops(&[("a", 1), ("b", 1)]));

    let list = parse_replay_bytes(
        "-",
        br#"[{"qualname": "a", "count": 3, "errors": 2}, {"name": "b", "count": "4"}, {"count": 1}, {"qualname": "c"}]"#,
    );
    check(&list);
    assert_eq!(list.files[0].kind, ReplayKind::Json);
    assert_eq!(short_ops(&list.ops), ops(&[("a", 5), ("b", 4)]));
    assert_eq!(list.errors, 2);
    let reasons: Vec<&str> = list
        .read
        .unreadable
        .iter()
        .map(|u| u.reason.as_str())
        .collect();
    assert_eq!(
        reasons,
        [
            "/2: op entry has no `qualname`",
            "/3: op stats have no `count`"
        ]
    );

    let map = parse_replay_bytes(
        "s.json",
        br#"{"level": "storage", "ops": {"a/b": 7, "c": {"count": -1}}, "nested": {"x": 1}}"#,
    );
    let doc = check(&map);
    assert_eq!(short_ops(&map.ops), ops(&[("a/b", 7)]));
    assert_eq!(doc["summary"], json!({"level": "storage"}));
    assert_eq!(
        map.read.unreadable[0].reason,
        "/ops/c: `count` is not a whole number"
    );

    // A `.json` file that holds JSON Lines.
    let lines = parse_replay_bytes(
        "r.json",
        b"{\"qualname\": \"a\", \"failed\": true}\n{\"qualname\": \"a\", \"failed\": false}\n",
    );
    check(&lines);
    assert_eq!(short_ops(&lines.ops), ops(&[("a", 2)]));
    assert_eq!(lines.errors, 1);

    let info = parse_replay_bytes("-", b"level: storage\nops: (none)\nnot a label\n");
    let doc = check(&info);
    assert_eq!(info.files[0].kind, ReplayKind::Info);
    assert_eq!(doc["info"], json!({"level": "storage", "ops": "(none)"}));
    assert_eq!(info.read.unreadable[0].line, Some(3));
    assert_eq!(info.read.unreadable[0].reason, "line is not `label: value`");
}

#[test]
fn empty_missing_garbage_and_mixed_directories() {
    let dir = scratch("mixed");
    std::fs::copy(fixture(OPS_CSV), dir.join("a_ops.csv")).unwrap();
    std::fs::write(dir.join("b_empty.json"), b"  \n").unwrap();
    std::fs::write(dir.join("c_garbage.json"), b"\x00\xff\xfe garbage").unwrap();
    std::fs::write(dir.join("d_garbage.txt"), b"\xc3\x28\n\x00\x01\n").unwrap();
    std::fs::write(dir.join("e_header_only.csv"), b"qualname,count\n").unwrap();
    std::fs::write(dir.join("f_no_op.csv"), b"x,y\n1,2\n").unwrap();
    std::fs::write(dir.join("replay.log"), b"[1/2] OK a (1ms)\n").unwrap();
    let missing = dir.join("missing.csv");
    let e = parse_replay(&[dir.clone(), missing]);
    check(&e);
    assert_eq!(e.row_count, 3);
    assert_eq!(e.errors, 1);
    let kinds: Vec<ReplayKind> = e.files.iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds,
        [
            ReplayKind::Csv,
            ReplayKind::Json,
            ReplayKind::Info,
            ReplayKind::Csv,
            ReplayKind::Csv
        ]
    );
    assert_eq!(e.read.sources.len(), 7);
    assert_eq!(e.read.skipped_file_count, 1);
    assert!(e.read.skipped_files[0].ends_with("replay.log"));
    let reasons: Vec<(String, Option<u64>, &str)> = e
        .read
        .unreadable
        .iter()
        .map(|u| {
            let file = Path::new(&u.path).file_name().unwrap().to_string_lossy();
            (file.into_owned(), u.line, u.reason.as_str())
        })
        .collect();
    assert_eq!(reasons.len(), 6, "{reasons:?}");
    assert_eq!(reasons[0], ("b_empty.json".into(), None, "file is empty"));
    assert_eq!(reasons[1].0, "c_garbage.json");
    assert_eq!(reasons[1].1, Some(1));
    assert_eq!(
        reasons[2],
        ("d_garbage.txt".into(), Some(1), "line is not UTF-8 text")
    );
    assert_eq!(
        reasons[3],
        (
            "d_garbage.txt".into(),
            Some(2),
            "line is not `label: value`"
        )
    );
    assert_eq!(reasons[4].0, "f_no_op.csv");
    assert!(reasons[4].2.starts_with("header row has no op column"));
    assert_eq!(reasons[5].0, "missing.csv");
    assert!(reasons[5].2.starts_with("cannot read: "));
}

#[test]
fn unreadable_list_is_capped_but_counted() {
    let input = format!("qualname,count\n{}", "a,b,c\n".repeat(80));
    let e = parse_replay_bytes("big.csv", input.as_bytes());
    check(&e);
    assert_eq!(e.read.unreadable.len(), MAX_UNREADABLE_LISTED);
    assert_eq!(e.read.unreadable_count, 80);
}

fn random_input(rng: &mut Lcg) -> Vec<u8> {
    const TOKENS: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        ": ",
        "\"",
        "\n",
        "\r\n",
        "  ",
        "    ",
        "      ",
        "qualname",
        "count",
        "errors",
        "failed",
        "status",
        "ops:",
        "events:",
        "\"ops\"",
        "\"qualname\"",
        "\"count\"",
        "Trace file:",
        "a.b",
        "7",
        "-1",
        "1e999",
        "true",
        "\"x\"",
        "(",
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
    let mut rng = Lcg(0x7e91a7);
    let bases: Vec<(&str, Vec<u8>)> = [OPS_CSV, SUMMARY, RECORDS, INFO, INFO_EVENTS]
        .iter()
        .map(|p| (*p, std::fs::read(fixture(p)).unwrap()))
        .collect();
    let names = ["-", "x.csv", "x.json", "x.jsonl", "x.txt"];
    let mut measured = 0;
    for i in 0..4000 {
        let (name, input) = if i % 2 == 0 {
            (names[rng.below(names.len())], random_input(&mut rng))
        } else {
            let (path, base) = &bases[rng.below(bases.len())];
            (*path, mutate(&mut rng, base))
        };
        let e = parse_replay_bytes(name, &input);
        check(&e);
        measured += usize::from(e.claim_status == ClaimStatus::Measured);
    }
    // The mutated fixtures mostly still hold something readable.
    assert!(measured > 1000, "{measured}");
}
