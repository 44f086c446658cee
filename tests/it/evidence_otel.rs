//! OTel span evidence (`src/evidence/otel.rs`): the fixtures in
//! `fixtures/evidence/otel/`, broken and truncated inputs, directories, and arbitrary
//! bytes.

use crate::common;

use common::Lcg;
use inferguard::evidence::duplicates::MAX_DUPLICATES_LISTED;
use inferguard::evidence::otel::{
    parse_otel, parse_otel_bytes, ClaimStatus, OtelEvidence, SpanGroup, MAX_UNREADABLE_LISTED,
};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(rel: &str) -> PathBuf {
    root().join(rel)
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("evidence_otel-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Invariants every document holds, whatever the input.
fn check(e: &OtelEvidence) -> Value {
    let doc = serde_json::to_value(e).unwrap();
    assert_eq!(doc["schema_version"], "inferguard.otel-evidence/v1");
    assert!(e.read.unreadable.len() <= MAX_UNREADABLE_LISTED);
    assert!(e.read.unreadable_count >= e.read.unreadable.len() as u64);
    let per_source: u64 = e.read.sources.iter().map(|s| s.unreadable).sum();
    assert!(per_source <= e.read.unreadable_count);
    let dups = &e.duplicate_spans;
    assert!(dups.listed.len() <= MAX_DUPLICATES_LISTED);
    assert!(dups.count >= dups.listed.len() as u64);
    assert!(dups.without_identity <= e.span_count);
    let records: u64 = e.read.sources.iter().map(|s| s.records).sum();
    assert_eq!(
        records, e.span_count,
        "every span is a record of one source"
    );
    let groups = &e.span_groups;
    let sum: u64 = [
        &groups.mp,
        &groups.request,
        &groups.cb,
        &groups.transfer,
        &groups.timeout,
        &groups.other,
    ]
    .iter()
    .map(|g| g.count)
    .sum();
    assert_eq!(sum, e.span_count);
    let expected = if e.span_count > 0 {
        "measured"
    } else {
        "not_proven"
    };
    assert_eq!(doc["claim_status"], expected);
    for g in ["mp", "request", "cb", "transfer", "timeout", "other"] {
        assert!(
            doc["span_groups"][g]["count"].is_u64(),
            "group {g} always present"
        );
    }
    doc
}

fn names(g: &SpanGroup) -> Vec<(&str, u64)> {
    g.names.iter().map(|(k, v)| (k.as_str(), *v)).collect()
}

#[test]
fn jsonl_fixture_counts_every_group() {
    let e = parse_otel(&[fixture("fixtures/evidence/otel/spans.jsonl")]);
    let doc = check(&e);
    assert_eq!(e.claim_status, ClaimStatus::Measured);
    assert_eq!(e.span_count, 12);
    assert_eq!(e.read.unreadable_count, 0, "{:?}", e.read.unreadable);
    assert_eq!(e.read.sources.len(), 1);
    assert_eq!(e.read.sources[0].records, 12);
    assert!(e.read.sources[0]
        .path
        .ends_with("fixtures/evidence/otel/spans.jsonl"));

    let g = &e.span_groups;
    assert_eq!(
        names(&g.mp),
        [
            ("mp.lookup_prefetch", 1),
            ("mp.retrieve", 1),
            ("mp.store", 2)
        ]
    );
    // 2, 6, 8 ms from start/end nanoseconds, 4 ms from `duration_ms`.
    assert_eq!(
        doc["span_groups"]["mp"]["latency_ms"],
        json!({"count": 4, "avg": 5.0, "p50": 4.0, "p90": 8.0, "p99": 8.0, "max": 8.0})
    );
    assert_eq!(g.request.count, 2);
    assert_eq!(
        doc["span_groups"]["request"]["latency_ms"],
        json!({"count": 2, "avg": 25.0, "p50": 10.0, "p90": 40.0, "p99": 40.0, "max": 40.0})
    );
    assert_eq!(
        names(&g.cb),
        [
            ("cb.fingerprints.registered", 1),
            ("cb.lookup", 1),
            ("cb.request", 1)
        ]
    );
    assert_eq!(g.cb.latency_ms.p50, Some(3.0));
    assert_eq!(g.cb.latency_ms.max, Some(20.0));
    assert_eq!(names(&g.transfer), [("transfer.kernel_interval", 1)]);
    assert_eq!(g.timeout.latency_ms.max, Some(30000.0));
    // A span without any timing counts, but has no latency.
    assert_eq!(names(&g.other), [("http.server", 1)]);
    assert_eq!(
        doc["span_groups"]["other"]["latency_ms"],
        json!({"count": 0, "avg": null, "p50": null, "p90": null, "p99": null, "max": null})
    );

    // Map attributes and an OTLP key/value list on the two `request` spans.
    assert_eq!(
        doc["hit_tokens"]["request"],
        json!({
            "spans": 2,
            "attributes": {
                "hit_tokens": {"count": 2, "sum": 256.0},
                "requested_tokens": {"count": 2, "sum": 640.0},
                "l1_hit_tokens": {"count": 1, "sum": 256.0},
                "l2_hit_tokens": {"count": 1, "sum": 0.0}
            },
            "hit_rate": 0.4
        })
    );
    // String-valued attributes, as the MP server copies event metadata.
    assert_eq!(doc["hit_tokens"]["cb.request"]["hit_rate"], 0.25);
    assert_eq!(
        doc["hit_tokens"]["cb.request"]["attributes"]["prefix_hit_tokens"],
        json!({"count": 1, "sum": 32.0})
    );
    assert_eq!(e.service_instance_ids, ["mp-node-a", "mp-node-b"]);

    // The pointers rule packs read.
    assert_eq!(doc.pointer("/span_groups/mp/count"), Some(&json!(4)));
    assert_eq!(doc.pointer("/span_groups/cb/count"), Some(&json!(3)));
    assert_eq!(doc.pointer("/span_count"), Some(&json!(12)));
}

#[test]
fn otlp_document_reads_resource_and_scope_spans() {
    let e = parse_otel(&[fixture("fixtures/evidence/otel/otlp.json")]);
    let doc = check(&e);
    assert_eq!(e.span_count, 8);
    assert_eq!(e.span_groups.mp.count, 3);
    assert_eq!(e.span_groups.request.count, 1);
    assert_eq!(e.span_groups.cb.count, 2);
    assert_eq!(e.span_groups.transfer.count, 1);
    assert_eq!(e.span_groups.timeout.count, 1);
    assert_eq!(e.span_groups.other.count, 0);
    assert_eq!(e.span_groups.mp.latency_ms.avg, Some(3.0));
    assert_eq!(e.span_groups.timeout.latency_ms.max, Some(5000.0));
    assert_eq!(e.service_instance_ids, ["mp-0", "mp-1"]);
    assert_eq!(doc["hit_tokens"]["request"]["hit_rate"], 0.75);
    assert_eq!(doc["hit_tokens"]["cb.request"]["hit_rate"], 0.25);
    // The span without a name is located by JSON pointer.
    assert_eq!(e.read.unreadable_count, 1);
    let u = &e.read.unreadable[0];
    assert_eq!(u.line, None);
    assert_eq!(
        u.reason,
        "/resourceSpans/1/scopeSpans/0/spans/2: span has no `name`"
    );
    assert!(u.path.ends_with("otlp.json"));
}

#[test]
fn corrupt_jsonl_keeps_good_lines_and_locates_bad_ones() {
    let e = parse_otel(&[fixture("fixtures/evidence/otel/spans-corrupt.jsonl")]);
    check(&e);
    assert_eq!(e.claim_status, ClaimStatus::Measured);
    assert_eq!(e.span_count, 3);
    assert_eq!(e.span_groups.request.count, 1);
    assert_eq!(e.span_groups.mp.count, 2);
    let located: Vec<(Option<u64>, &str)> = e
        .read
        .unreadable
        .iter()
        .map(|u| (u.line, u.reason.as_str()))
        .collect();
    assert_eq!(located.len(), 3, "{located:?}");
    assert_eq!(located[0].0, Some(3));
    assert!(
        located[0]
            .1
            .starts_with("not valid JSON: EOF while parsing"),
        "{located:?}"
    );
    assert_eq!(
        located[1],
        (
            Some(4),
            "/: JSON object is neither a span (no `name`) nor an OTLP document (no \
             `resourceSpans`)"
        )
    );
    assert_eq!(located[2].0, Some(6));
    assert!(
        located[2].1.starts_with("last line is cut off"),
        "{located:?}"
    );
    assert_eq!(e.read.sources[0].unreadable, 3);
}

#[test]
fn truncated_otlp_document_keeps_what_came_before_the_cut() {
    let e = parse_otel(&[fixture("fixtures/evidence/otel/otlp-truncated.json")]);
    check(&e);
    assert_eq!(e.claim_status, ClaimStatus::Measured);
    // The cut falls in the second resource, before its first span is complete.
    assert_eq!(e.span_count, 5);
    assert_eq!(e.span_groups.mp.count, 3);
    assert_eq!(e.span_groups.request.count, 1);
    assert_eq!(e.span_groups.transfer.count, 1);
    assert_eq!(e.span_groups.cb.count, 0);
    assert_eq!(e.service_instance_ids, ["mp-0"]);
    assert_eq!(e.read.unreadable_count, 1, "{:?}", e.read.unreadable);
    let u = &e.read.unreadable[0];
    // The document breaks off on its last line.
    assert_eq!(u.line, Some(126));
    assert!(
        u.reason
            .starts_with("document is cut off (not valid JSON: EOF while parsing"),
        "{}",
        u.reason
    );

    // Broken in the middle instead: one located error, nothing guessed.
    let mut text = std::fs::read_to_string(fixture("fixtures/evidence/otel/otlp.json")).unwrap();
    text = text.replacen("\"scopeSpans\": [", "\"scopeSpans\": [}", 1);
    let e = parse_otel_bytes("broken.json", text.as_bytes());
    check(&e);
    assert_eq!(e.span_count, 0);
    assert_eq!(e.read.unreadable_count, 1);
    assert!(e.read.unreadable[0].reason.starts_with("not valid JSON: "));
    assert!(e.read.unreadable[0].line.is_some());
}

#[test]
fn empty_missing_and_garbage_files_are_reported_not_absent() {
    let dir = scratch("bad-files");
    let empty = dir.join("empty.jsonl");
    std::fs::write(&empty, b"").unwrap();
    let garbage = dir.join("garbage.jsonl");
    std::fs::write(&garbage, b"\x00\xff\xfe{\x8a\n\x1b[31m\xc3\x28\n").unwrap();
    let missing = dir.join("missing.jsonl");
    let e = parse_otel(&[&empty, &garbage, &missing]);
    check(&e);
    assert_eq!(e.claim_status, ClaimStatus::NotProven);
    assert_eq!(e.read.sources.len(), 3);
    assert!(e.read.sources[0].opened && e.read.sources[1].opened);
    assert!(!e.read.sources[2].opened);
    let reasons: Vec<(String, Option<u64>, &str)> = e
        .read
        .unreadable
        .iter()
        .map(|u| {
            let file = Path::new(&u.path).file_name().unwrap().to_string_lossy();
            (file.into_owned(), u.line, u.reason.as_str())
        })
        .collect();
    assert_eq!(reasons[0], ("empty.jsonl".into(), None, "file is empty"));
    assert_eq!(reasons[1].0, "garbage.jsonl");
    assert_eq!(reasons[1].1, Some(1));
    assert!(reasons[1].2.starts_with("not valid JSON"));
    assert_eq!(reasons[2].0, "garbage.jsonl");
    assert_eq!(reasons[2].1, Some(2));
    assert_eq!(reasons[3].0, "missing.jsonl");
    assert_eq!(reasons[3].1, None);
    assert!(
        reasons[3].2.starts_with("cannot read: "),
        "{}",
        reasons[3].2
    );
    assert_eq!(e.read.unreadable_count, 4);
}

#[test]
fn directory_reads_span_files_sorted_and_skips_the_rest() {
    let dir = scratch("mixed-dir");
    std::fs::copy(
        fixture("fixtures/evidence/otel/spans.jsonl"),
        dir.join("b-spans.jsonl"),
    )
    .unwrap();
    std::fs::copy(
        fixture("fixtures/evidence/otel/otlp.json"),
        dir.join("a-otlp.json"),
    )
    .unwrap();
    std::fs::write(dir.join("c-garbage.ndjson"), b"\xde\xad\xbe\xef").unwrap();
    std::fs::write(dir.join("notes.md"), b"not spans").unwrap();
    std::fs::create_dir(dir.join("sub.jsonl")).unwrap();
    let e = parse_otel(&[&dir]);
    check(&e);
    let read: Vec<String> = e
        .read
        .sources
        .iter()
        .map(|s| {
            Path::new(&s.path)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(read, ["a-otlp.json", "b-spans.jsonl", "c-garbage.ndjson"]);
    assert_eq!(e.span_count, 8 + 12);
    assert_eq!(e.read.skipped_file_count, 1);
    assert!(e.read.skipped_files[0].ends_with("notes.md"));
    // 1 nameless span in the OTLP file, 1 garbage line.
    assert_eq!(e.read.unreadable_count, 2);
    assert_eq!(
        e.service_instance_ids,
        ["mp-0", "mp-1", "mp-node-a", "mp-node-b"]
    );

    let empty_dir = scratch("empty-dir");
    std::fs::write(empty_dir.join("notes.txt"), b"x").unwrap();
    let e = parse_otel(&[&empty_dir]);
    check(&e);
    assert_eq!(e.claim_status, ClaimStatus::NotProven);
    assert_eq!(e.read.unreadable_count, 1);
    assert!(e.read.unreadable[0]
        .reason
        .starts_with("directory holds no *.json, *.jsonl or *.ndjson span files"));
}

#[test]
fn other_span_shapes() {
    let input = concat!(
        // OTLP document on one line, snake_case keys, number times.
        r#"{"resource_spans":[{"resource":{"attributes":[{"key":"service.instance.id","value":{"string_value":"snake"}}]},"scope_spans":[{"spans":[{"name":"mp.retrieve","start_time_unix_nano":1000000,"end_time_unix_nano":3000000}]}]}]}"#,
        "\n",
        // Jaeger-style name and tags.
        r#"{"operationName":"request","tags":[{"key":"hit_tokens","type":"int64","value":7},{"key":"requested_tokens","value":{"intValue":14}}],"duration_ms":"1.5"}"#,
        "\n",
        // `{"spans": [...]}` with a resource beside it.
        r#"{"resource":{"service.instance.id":"flat"},"spans":[{"name":"transfer.staging"},{"name":"timeout.raised"}]}"#,
        "\n",
        // An array of spans.
        r#"[{"name":"cb.scatter"},7]"#,
        "\n",
        // End before start: counted, latency not used.
        r#"{"name":"mp.store","start_time_unix_nano":"9","end_time_unix_nano":"3"}"#,
        "\n",
        // Bad attributes: counted, attributes not used.
        r#"{"name":"request","attributes":5}"#,
        "\n",
        r#"{"name":42}"#,
        "\n",
        r#""just a string""#,
        "\n",
        r#"{"neither":"span nor document"}"#,
        "\n"
    );
    let e = parse_otel_bytes("-", input.as_bytes());
    let doc = check(&e);
    assert_eq!(e.span_count, 7);
    assert_eq!(e.span_groups.mp.count, 2);
    assert_eq!(e.span_groups.mp.latency_ms.count, 1);
    assert_eq!(e.span_groups.mp.latency_ms.max, Some(2.0));
    assert_eq!(e.span_groups.request.count, 2);
    assert_eq!(e.span_groups.request.latency_ms.max, Some(1.5));
    assert_eq!(e.span_groups.transfer.count, 1);
    assert_eq!(e.span_groups.timeout.count, 1);
    assert_eq!(e.span_groups.cb.count, 1);
    assert_eq!(doc["hit_tokens"]["request"]["hit_rate"], 0.5);
    assert_eq!(e.service_instance_ids, ["flat", "snake"]);
    let located: Vec<(Option<u64>, &str)> = e
        .read
        .unreadable
        .iter()
        .map(|u| (u.line, u.reason.as_str()))
        .collect();
    assert_eq!(
        located,
        [
            (
                Some(4),
                "/1: expected a span or an OTLP document, found a number"
            ),
            (
                Some(5),
                "/: span `mp.store`: end time is before start time; latency not used"
            ),
            (
                Some(6),
                "/: span `request`: `attributes` is a number, neither a map nor a key/value \
                 list; attributes not used"
            ),
            (Some(7), "/: span name is a number, not a string"),
            (
                Some(8),
                "expected a span or an OTLP document (a JSON object), found a string"
            ),
            (
                Some(9),
                "/: JSON object is neither a span (no `name`) nor an OTLP document (no \
                 `resourceSpans`)"
            ),
        ]
    );
    assert!(e.read.sources[0].path == "-");
}

/// The document without what legitimately differs between reading spans once and
/// reading them again: the per-file list and the duplicate report.
fn without_reading_details(e: &OtelEvidence) -> Value {
    let mut doc = check(e);
    let obj = doc.as_object_mut().unwrap();
    obj.remove("sources");
    obj.remove("duplicate_spans");
    doc
}

/// Issue 10, item 11: a span file concatenated with itself gives the counts of the
/// file once, and the repeats are reported, located, in the JSON document.
#[test]
fn concatenated_file_counts_each_span_once() {
    let once_bytes = std::fs::read(fixture("fixtures/evidence/otel/spans.jsonl")).unwrap();
    let once = parse_otel_bytes("spans.jsonl", &once_bytes);
    let twice = parse_otel_bytes("spans.jsonl", &once_bytes.repeat(2));
    assert_eq!(once.span_count, 12);
    assert_eq!(once.duplicate_spans.count, 0);
    assert_eq!(twice.span_count, 12);
    assert_eq!(
        without_reading_details(&twice),
        without_reading_details(&once)
    );
    let doc = check(&twice);
    assert_eq!(doc["duplicate_spans"]["count"], 12);
    assert_eq!(doc["duplicate_spans"]["without_identity"], 0);
    let listed = doc["duplicate_spans"]["listed"].as_array().unwrap();
    assert_eq!(listed.len(), MAX_DUPLICATES_LISTED);
    assert_eq!(
        listed[0],
        json!({"path": "spans.jsonl", "line": 13, "pointer": null,
               "first_path": "spans.jsonl", "first_line": 1})
    );
    assert_eq!(listed[9]["line"], 22);
    assert_eq!(listed[9]["first_line"], 10);

    // One OTLP document per line (as an exporter appends them), the line repeated:
    // the repeats are located by line and JSON pointer.
    let otlp: Value = serde_json::from_slice(
        &std::fs::read(fixture("fixtures/evidence/otel/otlp.json")).unwrap(),
    )
    .unwrap();
    let line = format!("{otlp}\n");
    let once = parse_otel_bytes("otlp.jsonl", line.as_bytes());
    let twice = parse_otel_bytes("otlp.jsonl", line.repeat(2).as_bytes());
    assert_eq!(once.span_count, 8);
    assert_eq!(twice.span_count, 8);
    // The nameless span is unreadable in each copy, at its line: damage is not
    // deduplicated, only spans counted.
    assert_eq!(twice.read.unreadable_count, 2);
    let spans_only = |e: &OtelEvidence| {
        let mut doc = without_reading_details(e);
        let obj = doc.as_object_mut().unwrap();
        obj.remove("unreadable");
        obj.remove("unreadable_count");
        doc
    };
    assert_eq!(spans_only(&twice), spans_only(&once));
    let dups = &twice.duplicate_spans;
    assert_eq!(dups.count, 8);
    assert_eq!(dups.listed[0].line, Some(2));
    assert_eq!(
        dups.listed[0].pointer.as_deref(),
        Some("/resourceSpans/0/scopeSpans/0/spans/0")
    );
    assert_eq!(dups.listed[0].first_line, Some(1));

    // One document holding its resources twice: located by pointer alone.
    let mut doubled = otlp.clone();
    let resources = doubled["resourceSpans"].as_array_mut().unwrap();
    resources.extend(resources.clone());
    let e = parse_otel_bytes("doubled.json", doubled.to_string().as_bytes());
    check(&e);
    assert_eq!(e.span_count, 8);
    assert_eq!(e.duplicate_spans.count, 8);
    let first = &e.duplicate_spans.listed[0];
    assert_eq!((first.line, first.first_line), (None, None));
    assert_eq!(
        first.pointer.as_deref(),
        Some("/resourceSpans/2/scopeSpans/0/spans/0")
    );
}

/// Issue 10, item 11: the same file passed twice, or a directory and a file inside
/// it, is read once and named as repeated: every span counts once, and nothing is
/// reported as damage.
#[test]
fn a_file_passed_twice_is_read_once() {
    let dir = scratch("passed-twice");
    let file = dir.join("spans.jsonl");
    std::fs::copy(fixture("fixtures/evidence/otel/spans.jsonl"), &file).unwrap();
    let once = parse_otel(&[&file]);
    for paths in [
        vec![file.clone(), file.clone()],
        vec![dir.clone(), file.clone()],
    ] {
        let mut e = parse_otel(&paths);
        check(&e);
        assert_eq!(e.read.sources.len(), 1, "{paths:?}");
        assert_eq!(
            e.read.repeated_files,
            [file.display().to_string()],
            "{paths:?}"
        );
        assert_eq!(e.span_count, 12, "{paths:?}");
        assert_eq!(e.duplicate_spans.count, 0);
        e.read.repeated_files.clear();
        assert_eq!(without_reading_details(&e), without_reading_details(&once));
    }
}

/// Issue 10, item 11: the identity is the pair (trace id, span id); a span id met
/// again in another trace is another span, and spans without both ids are counted
/// as they come (nothing to tell them apart), with their number said.
#[test]
fn only_the_same_trace_and_span_id_is_a_duplicate() {
    let input = concat!(
        r#"{"name":"mp.store","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331"}"#,
        "\n",
        // Same span id, another trace: distinct.
        r#"{"name":"mp.store","trace_id":"1af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331"}"#,
        "\n",
        // The first span again, written as OTLP writes ids (and in upper case).
        r#"{"name":"mp.store","traceId":"0AF7651916CD43DD8448EB211C80319C","spanId":"0xb7ad6b7169203331"}"#,
        "\n",
        // No trace id, an all-zero (invalid) trace id, no ids at all: all counted.
        r#"{"name":"mp.retrieve","span_id":"b7ad6b7169203331"}"#,
        "\n",
        r#"{"name":"mp.retrieve","trace_id":"00000000000000000000000000000000","span_id":"b7ad6b7169203331"}"#,
        "\n",
        r#"{"name":"mp.retrieve"}"#,
        "\n",
        r#"{"name":"mp.retrieve"}"#,
        "\n",
        // The OTel SDK console exporter nests the ids under `context`.
        r#"{"name":"request","context":{"trace_id":"0x0af7651916cd43dd8448eb211c80319c","span_id":"0xb7ad6b7169203331"}}"#,
        "\n",
    );
    let e = parse_otel_bytes("ids.jsonl", input.as_bytes());
    let doc = check(&e);
    assert_eq!(e.span_count, 6);
    assert_eq!(
        names(&e.span_groups.mp),
        [("mp.retrieve", 4), ("mp.store", 2)]
    );
    assert_eq!(e.span_groups.request.count, 0);
    assert_eq!(
        doc["duplicate_spans"],
        json!({
            "count": 2,
            "listed": [
                {"path": "ids.jsonl", "line": 3, "pointer": null,
                 "first_path": "ids.jsonl", "first_line": 1},
                {"path": "ids.jsonl", "line": 8, "pointer": null,
                 "first_path": "ids.jsonl", "first_line": 1}
            ],
            "without_identity": 4,
            "not_checked": 0
        })
    );
}

#[test]
fn unreadable_list_is_capped_but_counted() {
    let input = "not json\n".repeat(120);
    let e = parse_otel_bytes("many.jsonl", input.as_bytes());
    check(&e);
    assert_eq!(e.read.unreadable.len(), MAX_UNREADABLE_LISTED);
    assert_eq!(e.read.unreadable_count, 120);
    assert_eq!(e.read.unreadable[49].line, Some(50));
}

/// Random bytes, biased toward the tokens the parser looks at.
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
        "\r\n",
        " ",
        "\"name\"",
        "\"mp.store\"",
        "\"request\"",
        "\"cb.x\"",
        "\"attributes\"",
        "\"key\"",
        "\"value\"",
        "\"intValue\"",
        "\"resourceSpans\"",
        "\"scopeSpans\"",
        "\"spans\"",
        "\"duration_ms\"",
        "\"start_time_unix_nano\"",
        "\"end_time_unix_nano\"",
        "\"hit_tokens\"",
        "1e400",
        "-1",
        "18446744073709551616",
        "0.5",
        "null",
        "true",
        "\"\\u0000\"",
        "\\",
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

/// A fixture with a few random edits.
fn mutate(rng: &mut Lcg, base: &[u8]) -> Vec<u8> {
    let mut out = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        if out.is_empty() {
            break;
        }
        let at = rng.below(out.len());
        match rng.below(4) {
            0 => out[at] = rng.next() as u8,
            1 => out.truncate(at),
            2 => {
                let end = (at + rng.below(32)).min(out.len());
                out.drain(at..end);
            }
            _ => {
                let end = (at + rng.below(32)).min(out.len());
                let piece = out[at..end].to_vec();
                out.splice(at..at, piece);
            }
        }
    }
    out
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut rng = Lcg(0x5eed_0f07);
    let bases: Vec<Vec<u8>> = [
        "fixtures/evidence/otel/spans.jsonl",
        "fixtures/evidence/otel/otlp.json",
        "fixtures/evidence/otel/spans-corrupt.jsonl",
    ]
    .iter()
    .map(|p| std::fs::read(fixture(p)).unwrap())
    .collect();
    let mut measured = 0;
    for i in 0..3000 {
        let input = if i % 2 == 0 {
            random_input(&mut rng)
        } else {
            let base = &bases[rng.below(bases.len())];
            mutate(&mut rng, base)
        };
        let e = parse_otel_bytes("random", &input);
        check(&e);
        measured += usize::from(e.claim_status == ClaimStatus::Measured);
    }
    // The mutated fixtures mostly still hold spans.
    assert!(measured > 700, "{measured}");
}
