//! `.lct` trace recordings: well-formed storage and events traces built here with a
//! small msgpack encoder, and every way a file can be broken (cut mid-frame, wrong
//! magic, lengths past the end, length-prefix bombs, random bytes, empty). The
//! committed fixtures under `fixtures/evidence/lct/` are the encoder's output and
//! are checked against it (`INFERGUARD_BLESS=1` rewrites them).

use crate::common;

use common::Lcg;
use inferguard::evidence::lct::{self, Location, TraceEvidence, MAX_UNREADABLE};
use serde_json::{json, Value};
use std::path::Path;

// ---- a msgpack encoder, the way msgspec writes (smallest encoding per value) ----

#[derive(Clone, Debug)]
enum M {
    Nil,
    Bool(bool),
    Int(i64),
    F(f64),
    S(String),
    B(Vec<u8>),
    A(Vec<M>),
    Map(Vec<(M, M)>),
    /// A fixext 4 value (msgspec never writes one; the decoder must skip it).
    Ext,
}

fn s(v: &str) -> M {
    M::S(v.to_owned())
}

fn map(entries: Vec<(&str, M)>) -> M {
    M::Map(entries.into_iter().map(|(k, v)| (s(k), v)).collect())
}

fn enc(v: &M, out: &mut Vec<u8>) {
    match v {
        M::Nil => out.push(0xc0),
        M::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        M::Int(i) => {
            let i = *i;
            if (0..=0x7f).contains(&i) {
                out.push(i as u8);
            } else if (-32..0).contains(&i) {
                out.push(i as i8 as u8);
            } else if (0..=0xff).contains(&i) {
                out.extend([0xcc, i as u8]);
            } else if (0..=0xffff).contains(&i) {
                out.push(0xcd);
                out.extend((i as u16).to_be_bytes());
            } else if (0..=0xffff_ffff).contains(&i) {
                out.push(0xce);
                out.extend((i as u32).to_be_bytes());
            } else if i > 0 {
                out.push(0xcf);
                out.extend((i as u64).to_be_bytes());
            } else {
                out.push(0xd3);
                out.extend(i.to_be_bytes());
            }
        }
        M::F(f) => {
            out.push(0xcb);
            out.extend(f.to_be_bytes());
        }
        M::S(t) => {
            let n = t.len();
            if n < 32 {
                out.push(0xa0 | n as u8);
            } else if n <= 0xff {
                out.extend([0xd9, n as u8]);
            } else {
                out.push(0xda);
                out.extend((n as u16).to_be_bytes());
            }
            out.extend(t.as_bytes());
        }
        M::B(b) => {
            out.extend([0xc4, b.len() as u8]);
            out.extend(b);
        }
        M::A(items) => {
            if items.len() < 16 {
                out.push(0x90 | items.len() as u8);
            } else {
                out.push(0xdc);
                out.extend((items.len() as u16).to_be_bytes());
            }
            for item in items {
                enc(item, out);
            }
        }
        M::Map(entries) => {
            if entries.len() < 16 {
                out.push(0x80 | entries.len() as u8);
            } else {
                out.push(0xde);
                out.extend((entries.len() as u16).to_be_bytes());
            }
            for (k, v) in entries {
                enc(k, out);
                enc(v, out);
            }
        }
        M::Ext => out.extend([0xd6, 0x01, 0, 0, 0, 0]),
    }
}

fn frame(v: &M) -> Vec<u8> {
    let mut body = Vec::new();
    enc(v, &mut body);
    raw_frame(&body)
}

fn raw_frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend(body);
    out
}

/// The config JSON the header carries; it must never reach the evidence.
const CONFIG_MARKER: &str = "CONFIG-JSON-MUST-NOT-LEAK-7f3a";
const DIGEST: &str = "9c56cc51b374c3ba189210d5b6d4bf57790d351c96c47c02190ecf1e430635ab";
const SM: &str = "lmcache.v1.distributed.storage_manager.StorageManager";

fn header(level: &str, extra: Vec<(&str, M)>) -> M {
    let mut entries = vec![
        ("type", s("header")),
        ("magic", M::B(b"LMCT".to_vec())),
        ("format_version", M::Int(1)),
        ("level", s(level)),
        ("trace_schema_version", M::Int(2)),
        ("t_mono_start", M::F(81234.5)),
        ("t_wall_start", M::F(1_767_225_600.25)),
        (
            "sm_config_json",
            s(&format!(
                r#"{{"l1":{{"size_gb":4}},"note":"{CONFIG_MARKER}"}}"#
            )),
        ),
        ("sm_config_digest", s(DIGEST)),
    ];
    entries.extend(extra);
    map(entries)
}

fn record(qualname: &str, t_mono: f64, args: M) -> M {
    map(vec![
        ("type", s("record")),
        ("t_mono", M::F(t_mono)),
        ("t_wall", M::F(1_767_225_600.25 + t_mono)),
        ("qualname", s(qualname)),
        ("args", args),
    ])
}

fn object_key(hash: i64) -> M {
    map(vec![
        ("__t__", s("ObjectKey")),
        (
            "v",
            map(vec![
                ("chunk_hash", M::Int(hash)),
                ("model_name", s("meta-llama/Llama-3.1-8B-Instruct")),
                ("kv_rank", M::Int(0)),
            ]),
        ),
    ])
}

/// A storage-level trace: header and six records of three operations.
fn storage_trace() -> Vec<u8> {
    let mut out = frame(&header("storage", vec![]));
    let keys = M::A((0..3).map(|i| object_key(0x1234_5678_9abc + i)).collect());
    let ops = [
        ("reserve_write", 0.010),
        ("finish_write", 0.012),
        ("reserve_write", 0.020),
        ("finish_write", 0.023),
        ("submit_prefetch_task", 0.031),
        ("reserve_write", 0.042),
    ];
    for (op, t) in ops {
        let args = map(vec![
            ("keys", keys.clone()),
            ("mode", s("default")),
            ("marker", M::Ext),
        ]);
        out.extend(frame(&record(&format!("{SM}.{op}"), t, args)));
    }
    out
}

fn batch(instance: &str, incarnation: i64, event_type: &str, tier: &str, entries: Vec<M>) -> M {
    map(vec![
        ("instance_id", s(instance)),
        ("incarnation", M::Int(incarnation)),
        ("event_type", s(event_type)),
        ("tier", s(tier)),
        ("backend", if tier == "l2" { s("fs") } else { M::Nil }),
        ("shared", M::Bool(tier == "l2")),
        ("entries", M::A(entries)),
    ])
}

fn store_entry(size: i64, tokens: bool) -> M {
    let mut e = vec![("size_bytes", M::Int(size))];
    if tokens {
        e.push(("token_ids", M::A((1000..1020).map(M::Int).collect())));
    }
    map(e)
}

/// An events-level trace: lifecycle marks and batches from one instance that
/// restarted once.
fn events_trace() -> Vec<u8> {
    let inst = "4f1c2a9e-0b7d-4c55-9a51-3c2e8f0d6b11";
    let meta = map(vec![
        ("instance_id", s(inst)),
        ("cache_event_schema_version", M::Int(1)),
        ("lmcache_version", s("0.5.6")),
    ]);
    let mut out = frame(&header("events", vec![("level_meta", meta)]));
    let lifecycle = |phase: &str, inc: i64| {
        map(vec![
            ("phase", s(phase)),
            ("instance_id", s(inst)),
            ("incarnation", M::Int(inc)),
        ])
    };
    let records = vec![
        record("events.lifecycle", 0.0, lifecycle("start", 1)),
        record(
            "events.batch",
            0.5,
            batch(
                inst,
                1,
                "store",
                "l1",
                vec![store_entry(2_097_152, true), store_entry(2_097_152, false)],
            ),
        ),
        record(
            "events.batch",
            0.7,
            batch(inst, 1, "store", "l2", vec![store_entry(1_048_576, false)]),
        ),
        record(
            "events.batch",
            0.9,
            batch(inst, 1, "evict", "l1", vec![map(vec![]), map(vec![])]),
        ),
        record("events.lifecycle", 1.0, lifecycle("stop", 1)),
        record("events.lifecycle", 5.0, lifecycle("start", 2)),
        record(
            "events.batch",
            5.5,
            batch(inst, 2, "store", "l1", vec![store_entry(512, true)]),
        ),
    ];
    for r in records {
        out.extend(frame(&r));
    }
    out
}

fn to_json(ev: &TraceEvidence) -> Value {
    serde_json::to_value(ev).unwrap()
}

/// Invariants every document keeps, whatever the input.
fn check_invariants(ev: &TraceEvidence) {
    assert_eq!(ev.total_records, ev.record_count);
    assert_eq!(
        ev.records_by_qualname.values().sum::<u64>(),
        ev.record_count
    );
    assert!(ev.problems.unreadable.len() <= MAX_UNREADABLE);
    assert!(ev.problems.unreadable_total >= ev.problems.unreadable.len() as u64);
    let doc = to_json(ev);
    assert_eq!(doc["schema_version"], "inferguard.trace-evidence/v1");
    assert!(doc["total_records"].is_u64());
    let measured = doc["claim_status"] == "measured";
    assert_eq!(measured, ev.record_count > 0);
    if !measured {
        assert!(
            doc["reason"].is_string(),
            "not proven without a reason: {doc}"
        );
    }
    assert!(!doc.to_string().contains(CONFIG_MARKER));
}

fn offsets(ev: &TraceEvidence) -> Vec<u64> {
    ev.problems
        .unreadable
        .iter()
        .map(|u| match u.offset_or_line {
            Location::Offset(o) => o,
            ref other => panic!("trace locations are byte offsets, got {other:?}"),
        })
        .collect()
}

#[test]
fn well_formed_storage_trace() {
    let bytes = storage_trace();
    let ev = lct::parse("run.lct", &bytes);
    check_invariants(&ev);
    let doc = to_json(&ev);
    assert_eq!(doc["claim_status"], "measured");
    assert_eq!(doc["reason"], Value::Null);
    assert_eq!(doc["total_records"], 6);
    assert_eq!(doc["record_count"], 6);
    assert_eq!(doc["frame_count"], 7);
    assert_eq!(doc["truncated"], false);
    assert_eq!(doc["unreadable"], json!([]));
    assert_eq!(doc["unreadable_total"], 0);
    assert_eq!(
        doc["sources"],
        json!([{"path": "run.lct", "bytes": bytes.len()}])
    );
    assert_eq!(
        doc["header"],
        json!({
            "magic": "LMCT",
            "format_version": 1,
            "schema_version": 2,
            "level": "storage",
            "config_digest": DIGEST,
            "lmcache_version": null,
            "t_wall_start": 1_767_225_600.25,
            "level_meta": {},
        })
    );
    assert_eq!(
        doc["records_by_qualname"],
        json!({
            format!("{SM}.finish_write"): 2,
            format!("{SM}.reserve_write"): 3,
            format!("{SM}.submit_prefetch_task"): 1,
        })
    );
    assert_eq!(doc["duration_s"], 0.042);
    assert_eq!(doc["events"], Value::Null);
}

#[test]
fn events_level_trace_is_summarized_like_trace_info() {
    let ev = lct::parse("events.lct", &events_trace());
    check_invariants(&ev);
    let doc = to_json(&ev);
    assert_eq!(doc["claim_status"], "measured");
    assert_eq!(doc["header"]["level"], "events");
    assert_eq!(
        doc["header"]["level_meta"],
        json!({
            "cache_event_schema_version": 1,
            "instance_id": "4f1c2a9e-0b7d-4c55-9a51-3c2e8f0d6b11",
            "lmcache_version": "0.5.6",
        })
    );
    assert_eq!(
        doc["records_by_qualname"],
        json!({"events.batch": 4, "events.lifecycle": 3})
    );
    assert_eq!(
        doc["events"],
        json!({
            "batches": 4,
            "batches_by_kind": {
                "evict/l1/-/local": 1,
                "store/l1/-/local": 2,
                "store/l2/fs/shared": 1,
            },
            "entries_by_type": {"evict": 2, "store": 4},
            "store_bytes": 2_097_152 * 2 + 1_048_576 + 512,
            "entries_with_tokens": 2,
            "instances": {
                "4f1c2a9e-0b7d-4c55-9a51-3c2e8f0d6b11": {"incarnations": [1, 2], "restarts": 1},
            },
            "lifecycle": {"start": 2, "stop": 1},
        })
    );
    // Token ids are counted, never copied.
    assert!(!doc.to_string().contains("1019"));
}

#[test]
fn truncated_mid_frame_keeps_the_records_before_the_cut() {
    let bytes = storage_trace();
    let last = last_frame_offset(&bytes);
    let cut = &bytes[..last + 4 + 7];
    let ev = lct::parse("cut.lct", cut);
    check_invariants(&ev);
    assert_eq!(ev.claim_status, "measured");
    assert_eq!(ev.record_count, 5);
    assert!(ev.truncated);
    assert_eq!(offsets(&ev), [last as u64]);
    let reason = ev.reason.as_deref().unwrap();
    assert!(
        reason.contains(&format!("stopped at byte {last}")),
        "{reason}"
    );
    assert!(reason.contains("5 records before it"), "{reason}");

    // Cut inside the next length prefix.
    let ev = lct::parse("cut.lct", &bytes[..last + 2]);
    check_invariants(&ev);
    assert_eq!(ev.record_count, 5);
    assert!(ev.truncated);
    assert!(ev.problems.unreadable[0]
        .reason
        .contains("truncated length prefix"));

    // Cut inside the header: nothing is proven.
    let ev = lct::parse("cut.lct", &bytes[..20]);
    check_invariants(&ev);
    assert_eq!(ev.claim_status, "not_proven");
    assert!(ev.truncated);
    assert!(ev.header.is_none());
    assert!(ev.reason.as_deref().unwrap().starts_with("no header"));
}

fn last_frame_offset(bytes: &[u8]) -> usize {
    let mut pos = 0;
    let mut last = 0;
    while pos < bytes.len() {
        last = pos;
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        pos += 4 + len;
    }
    last
}

#[test]
fn wrong_magic_is_not_an_lmcache_trace() {
    let mut bytes = frame(&map(vec![
        ("type", s("header")),
        ("magic", M::B(b"XLCT".to_vec())),
        ("format_version", M::Int(1)),
        ("level", s("storage")),
    ]));
    bytes.extend(frame(&record(
        &format!("{SM}.finish_write"),
        0.1,
        map(vec![]),
    )));
    let ev = lct::parse("other.lct", &bytes);
    check_invariants(&ev);
    assert_eq!(ev.claim_status, "not_proven");
    assert_eq!(
        ev.record_count, 0,
        "records after a foreign header are not read"
    );
    assert_eq!(ev.header.as_ref().unwrap().magic, "XLCT");
    assert!(ev.reason.as_deref().unwrap().contains("wrong magic"));
    assert_eq!(offsets(&ev), [0]);

    // Magic bytes that are not printable are shown as hex.
    let bytes = frame(&map(vec![
        ("type", s("header")),
        ("magic", M::B(vec![0, 1, 0xfe])),
    ]));
    let ev = lct::parse("other.lct", &bytes);
    check_invariants(&ev);
    assert_eq!(ev.header.unwrap().magic, "0x0001fe");
}

#[test]
fn unsupported_format_version_is_refused_like_lmcache_does() {
    let mut h = header("storage", vec![]);
    if let M::Map(entries) = &mut h {
        entries[2].1 = M::Int(2);
    }
    let mut bytes = frame(&h);
    bytes.extend(frame(&record(
        &format!("{SM}.finish_write"),
        0.1,
        map(vec![]),
    )));
    let ev = lct::parse("future.lct", &bytes);
    check_invariants(&ev);
    assert_eq!(ev.claim_status, "not_proven");
    assert_eq!(ev.header.as_ref().unwrap().format_version, Some(2));
    assert!(ev.reason.as_deref().unwrap().contains("format_version 2"));
}

#[test]
fn frame_length_larger_than_the_file() {
    let mut bytes = frame(&header("storage", vec![]));
    bytes.extend(frame(&record(
        &format!("{SM}.reserve_write"),
        0.1,
        map(vec![]),
    )));
    let at = bytes.len();
    bytes.extend(1000u32.to_be_bytes());
    bytes.extend([0x82; 10]);
    let ev = lct::parse("long.lct", &bytes);
    check_invariants(&ev);
    assert_eq!(ev.claim_status, "measured");
    assert_eq!(ev.record_count, 1);
    assert!(ev.truncated);
    assert_eq!(offsets(&ev), [at as u64]);
    assert!(ev.problems.unreadable[0]
        .reason
        .contains("length prefix says 1000 bytes, 10 are left"));
}

#[test]
fn length_prefix_bomb_allocates_nothing() {
    // As the first frame.
    let mut bytes = vec![0xff, 0xff, 0xff, 0xff];
    bytes.extend(b"LMCT\x01\x02");
    let ev = lct::parse("bomb.lct", &bytes);
    check_invariants(&ev);
    assert_eq!(ev.claim_status, "not_proven");
    assert!(ev.truncated);
    assert!(ev.problems.unreadable[0].reason.contains("4294967295"));

    // After a good header and record.
    let mut bytes = frame(&header("storage", vec![]));
    bytes.extend(frame(&record(
        &format!("{SM}.reserve_write"),
        0.1,
        map(vec![]),
    )));
    bytes.extend([0xff, 0xff, 0xff, 0xff, 0x00]);
    let ev = lct::parse("bomb.lct", &bytes);
    check_invariants(&ev);
    assert_eq!(ev.record_count, 1);
    assert!(ev.truncated);

    // Inside a frame: msgpack containers, strings and bins that claim 4 G items.
    let mut bytes = frame(&header("storage", vec![]));
    for body in [
        vec![0xdd, 0xff, 0xff, 0xff, 0xff, 0x01],
        vec![0xdf, 0xff, 0xff, 0xff, 0xff, 0x01],
        vec![0xdb, 0xff, 0xff, 0xff, 0xff, b'a'],
        vec![0xc6, 0xff, 0xff, 0xff, 0xff, 0x00],
        vec![
            0x81, 0xa4, b'a', b'r', b'g', b's', 0xdd, 0xff, 0xff, 0xff, 0xff,
        ],
    ] {
        bytes.extend(raw_frame(&body));
    }
    bytes.extend(frame(&record(
        &format!("{SM}.finish_write"),
        0.2,
        map(vec![]),
    )));
    let ev = lct::parse("bomb.lct", &bytes);
    check_invariants(&ev);
    assert_eq!(ev.record_count, 1, "reading goes on after each bad frame");
    assert_eq!(ev.problems.unreadable_total, 5);
    assert!(!ev.truncated);
}

#[test]
fn corrupt_and_odd_frames_between_records_are_reported_and_skipped() {
    let mut bytes = frame(&header("storage", vec![]));
    let mut expected = Vec::new();
    bytes.extend(frame(&record(
        &format!("{SM}.reserve_write"),
        0.1,
        map(vec![]),
    )));
    let odd: Vec<(Vec<u8>, &str)> = vec![
        (raw_frame(&[0xc1]), "reserved msgpack marker"),
        (raw_frame(&[0x92, 0x01]), "array of 2 items"),
        (raw_frame(&[0x01, 0x02]), "1 bytes follow"),
        (raw_frame(&[0xa2, 0xff, 0xfe]), "not valid UTF-8"),
        (vec![0, 0, 0, 0], "zero-length frame"),
        (frame(&M::A(vec![M::Int(1)])), "not a record map"),
        (
            frame(&map(vec![("type", s("record")), ("t_mono", M::F(1.0))])),
            "no string `qualname`",
        ),
        (frame(&header("storage", vec![])), "a second header"),
        (
            frame(&map(vec![("type", s("mystery")), ("qualname", s("x"))])),
            "type `mystery`",
        ),
        (
            frame(&M::A(vec![M::A(vec![M::A(vec![M::Nil])])])),
            "not a record map",
        ),
    ];
    for (f, why) in odd {
        expected.push((bytes.len() as u64, why));
        bytes.extend(f);
    }
    // A record without `type` is still a record (msgspec always writes it, but the
    // record's own fields say what it is).
    bytes.extend(frame(&map(vec![
        ("qualname", s("custom.op")),
        ("t_mono", M::Int(3)),
    ])));
    let ev = lct::parse("odd.lct", &bytes);
    check_invariants(&ev);
    assert_eq!(ev.record_count, 2);
    assert_eq!(ev.duration_s, Some(3.0));
    assert!(!ev.truncated);
    assert_eq!(ev.problems.unreadable.len(), expected.len());
    for (u, (frame_at, why)) in ev.problems.unreadable.iter().zip(&expected) {
        let Location::Offset(at) = u.offset_or_line else {
            panic!()
        };
        // msgpack errors point into the frame; shape errors at the frame itself.
        assert!(at >= *frame_at && at < frame_at + 16, "{u:?} vs {frame_at}");
        assert!(u.reason.contains(why), "{:?} should say {why:?}", u.reason);
        assert_eq!(u.path, "odd.lct");
    }
}

#[test]
fn unreadable_list_is_capped_and_counted() {
    let mut bytes = frame(&header("storage", vec![]));
    for _ in 0..(MAX_UNREADABLE + 17) {
        bytes.extend(raw_frame(&[0xc1]));
    }
    let ev = lct::parse("many.lct", &bytes);
    check_invariants(&ev);
    assert_eq!(ev.problems.unreadable.len(), MAX_UNREADABLE);
    assert_eq!(ev.problems.unreadable_total, MAX_UNREADABLE as u64 + 17);
    assert_eq!(ev.claim_status, "not_proven");
    assert!(ev.reason.as_deref().unwrap().contains("no records"));
}

#[test]
fn empty_file_is_not_proven_and_not_absent() {
    let ev = lct::parse("empty.lct", &[]);
    check_invariants(&ev);
    let doc = to_json(&ev);
    assert_eq!(doc["claim_status"], "not_proven");
    assert_eq!(doc["reason"], "empty trace file");
    assert_eq!(doc["unreadable_total"], 1);
    assert_eq!(doc["unreadable"][0]["offset_or_line"], json!({"offset": 0}));
    assert_eq!(doc["sources"][0]["bytes"], 0);
    assert_eq!(doc["header"], Value::Null);
}

#[test]
fn header_only_trace_holds_no_records() {
    let ev = lct::parse("fresh.lct", &frame(&header("storage", vec![])));
    check_invariants(&ev);
    assert_eq!(ev.claim_status, "not_proven");
    assert_eq!(
        ev.reason.as_deref(),
        Some("the trace holds a header but no records")
    );
    assert_eq!(ev.problems.unreadable_total, 0);
    assert!(ev.header.is_some());
}

#[test]
fn older_header_with_lmcache_version_and_no_schema_version() {
    let mut bytes = frame(&map(vec![
        ("type", s("header")),
        ("magic", M::B(b"LMCT".to_vec())),
        ("format_version", M::Int(1)),
        ("level", s("storage")),
        ("lmcache_version", s("0.3.9")),
        ("t_mono_start", M::F(1.0)),
        ("t_wall_start", M::F(2.0)),
        ("sm_config_json", s("")),
        ("sm_config_digest", s("")),
    ]));
    bytes.extend(frame(&record(
        &format!("{SM}.reserve_write"),
        0.1,
        map(vec![]),
    )));
    let ev = lct::parse("old.lct", &bytes);
    check_invariants(&ev);
    let h = ev.header.unwrap();
    assert_eq!(h.schema_version, None);
    assert_eq!(h.release.as_deref(), Some("0.3.9"));
    assert_eq!(h.config_digest, None, "an empty digest means no config yet");
    assert_eq!(ev.claim_status, "measured");
}

/// Deterministic pseudo-random bytes (a 64-bit LCG, Knuth's constants).

#[test]
fn random_bytes_never_panic() {
    let mut rng = Lcg(0x5eed);
    for round in 0..500u32 {
        let len = (rng.next() % 4096) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Every other round, a plausible small length prefix so frames get decoded.
        if round.is_multiple_of(2) && len >= 4 {
            let n = (rng.next() % (len as u64)) as u32;
            bytes[..4].copy_from_slice(&n.to_be_bytes());
        }
        let ev = lct::parse("random.lct", &bytes);
        check_invariants(&ev);
        assert_eq!(ev.claim_status, "not_proven");
    }
}

#[test]
fn flipped_bytes_in_a_real_trace_never_panic() {
    let good = events_trace();
    let mut rng = Lcg(42);
    for _ in 0..2000 {
        let mut bytes = good.clone();
        for _ in 0..=(rng.next() % 4) {
            let i = (rng.next() as usize) % bytes.len();
            bytes[i] = rng.next() as u8;
        }
        if rng.next().is_multiple_of(3) {
            let cut = (rng.next() as usize) % bytes.len();
            bytes.truncate(cut);
        }
        let ev = lct::parse("flipped.lct", &bytes);
        check_invariants(&ev);
        assert!(ev.record_count <= 7);
    }
}

#[test]
fn hostile_qualnames_are_clipped_and_bounded() {
    let mut bytes = frame(&header("storage", vec![]));
    for i in 0..1100 {
        bytes.extend(frame(&record(&format!("op.{i}"), 0.0, map(vec![]))));
    }
    bytes.extend(frame(&record(&"q".repeat(5000), 0.0, map(vec![]))));
    let ev = lct::parse("wide.lct", &bytes);
    check_invariants(&ev);
    assert_eq!(ev.record_count, 1101);
    assert_eq!(ev.records_by_qualname.len(), 1025);
    assert_eq!(ev.records_by_qualname[lct::OTHER_KEY], 77);
}

// ---- committed fixtures ------------------------------------------------------------

const STORAGE_FIXTURE: &str = "fixtures/evidence/lct/storage.lct";
const EVENTS_FIXTURE: &str = "fixtures/evidence/lct/events.lct";

/// The committed `.lct` fixtures are exactly what this file's encoder writes, so
/// they can be regenerated (`INFERGUARD_BLESS=1`) and are never hand-edited bytes.
#[test]
fn committed_fixtures_match_the_encoder() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (rel, bytes) in [
        (STORAGE_FIXTURE, storage_trace()),
        (EVENTS_FIXTURE, events_trace()),
    ] {
        let path = root.join(rel);
        if std::env::var_os("INFERGUARD_BLESS").is_some_and(|v| v == "1") {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        let committed = std::fs::read(&path).unwrap();
        assert!(
            committed == bytes,
            "{rel} is stale: rerun with INFERGUARD_BLESS=1"
        );
        let ev = lct::parse(rel, &committed);
        check_invariants(&ev);
        assert_eq!(ev.claim_status, "measured", "{rel}");
        assert!(committed.len() < 4096, "{rel}: keep fixtures small");
    }
}
