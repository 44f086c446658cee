//! Lookup-hash evidence: the JSONL files the LMCache MP server writes with
//! `--lookup-hash-log-dir DIR` (`lookup_hashes_<YYYYmmdd_HHMMSS>_<NNNNNN>.jsonl`, one
//! object per `mp.lookup` event, rotated by time or size). Produces the document
//! written as `lmcache_lookup_hash_evidence.json`.
//!
//! Privacy is the point of this parser: the chunk hashes identify cached prompt
//! content, so no hash value, request id or other per-row value leaves it. The
//! document holds only counts and the few settings that describe the deployment:
//! models, chunk sizes, `seq_len` statistics, KV dtypes and shapes, the time span and
//! how the files were rotated. Strings that look like hash values are dropped even
//! where a model or dtype is expected, and reasons never quote the input.
//!
//! A row is one `mp.lookup` event, and its identity is all of it: the same text (same
//! timestamp, request id, chunk hashes and the rest) met again in one parse is the
//! same event read twice, counted once and listed in `duplicate_rows` by file and
//! line ([`super::duplicates`] keeps only a 64-bit hash of the row). A row without a
//! usable `timestamp` is not checked: two such rows may be two lookups of one prompt.

use super::duplicates::{identity, Duplicates, Seen};
use super::otel::{
    as_f64, clip, has_extension, json_error_reason, json_type, lines, ClaimStatus, DirFilter,
    FileCursor, SourceLog,
};
use schemars::JsonSchema;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `schema_version` of the lookup-hash evidence document.
pub const SCHEMA_VERSION: &str = "inferguard.lookup-hash-evidence/v1";

/// Distinct models, dtypes, shapes and chunk sizes listed; more are only flagged in
/// `capped_fields`.
pub const MAX_DISTINCT: usize = 256;

/// Parses lookup-hash JSONL files, or directories of rotated files
/// (`lookup_hashes_*.jsonl`, or any `*.jsonl` when none is named so; sorted by name).
pub fn parse_lookup_hashes<P: AsRef<Path>>(paths: &[P]) -> LookupHashEvidence {
    let mut reader = RowReader::default();
    let mut log = SourceLog::default();
    let dir = DirFilter {
        expected: "lookup_hashes_*.jsonl or other *.jsonl files",
        primary: |name| name.starts_with("lookup_hashes_") && has_extension(name, &["jsonl"]),
        fallback: |name| has_extension(name, &["jsonl"]),
    };
    log.read_paths(paths, &dir, |file, bytes| reader.read_file(file, bytes));
    reader.finish(log)
}

/// Parses lookup-hash rows already in memory; `source` names them.
pub fn parse_lookup_hashes_bytes(source: &str, bytes: &[u8]) -> LookupHashEvidence {
    let mut reader = RowReader::default();
    let mut log = SourceLog::default();
    log.read_bytes(source, bytes, |file, bytes| reader.read_file(file, bytes));
    reader.finish(log)
}

/// The lookup-hash evidence document. Holds no hash value and no request id.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct LookupHashEvidence {
    /// Always `inferguard.lookup-hash-evidence/v1` for this layout.
    pub schema_version: String,
    /// `measured` when at least one row was read.
    pub claim_status: ClaimStatus,
    #[serde(flatten)]
    pub read: SourceLog,
    /// Distinct rows (JSON objects) read; a row read again is in `duplicate_rows`,
    /// not here.
    pub row_count: u64,
    /// Rows read again, the same text as a row already read (counted once), and rows
    /// without a usable `timestamp` (counted, not checked). Locations only: no row
    /// content.
    pub duplicate_rows: Duplicates,
    /// Files that could be opened (a file may still hold no row).
    pub file_count: u64,
    /// Distinct non-empty `model_name` values, sorted.
    pub models: Vec<String>,
    /// Distinct `chunk_size` values, sorted.
    pub chunk_sizes: Vec<i64>,
    pub seq_len: SeqLenStats,
    /// Distinct KV dtypes, sorted.
    pub dtypes: Vec<String>,
    /// Distinct KV shapes, sorted.
    pub shapes: Vec<Vec<i64>>,
    /// Chunk hashes seen (their number, never their values).
    pub hash_count: u64,
    /// First and last `timestamp` (unix seconds).
    pub timestamps: TimeSpan,
    pub rotation: Rotation,
    /// Rows without the field, per expected field.
    pub missing_fields: BTreeMap<String, u64>,
    /// Rows whose field has the wrong type or an unusable value, per field.
    pub invalid_fields: BTreeMap<String, u64>,
    /// Values not listed because they hold something shaped like a hash, per field
    /// (`model_name`, `dtypes`).
    pub withheld_fields: BTreeMap<String, u64>,
    /// Fields whose distinct values went past [`MAX_DISTINCT`] (the list is cut).
    pub capped_fields: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
pub struct SeqLenStats {
    /// Rows with a usable `seq_len`.
    pub count: u64,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub avg: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
pub struct TimeSpan {
    pub first: Option<f64>,
    pub last: Option<f64>,
}

/// How the files were rotated, as far as their names and sizes show.
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
pub struct Rotation {
    /// Files read.
    pub files: u64,
    /// Most rows in one file.
    pub max_rows_per_file: u64,
    /// Largest file, in bytes (compare with `--lookup-hash-log-rotation-max-size`).
    pub max_bytes_per_file: u64,
    /// Files named like LMCache names them:
    /// `lookup_hashes_<YYYYmmdd_HHMMSS>_<NNNNNN>.jsonl`.
    pub upstream_named_files: u64,
    /// Lowest and highest `<NNNNNN>` rotation index among those; a gap between them
    /// and `upstream_named_files` means older files were deleted
    /// (`--lookup-hash-log-max-files`) or not passed.
    pub first_index: Option<u64>,
    pub last_index: Option<u64>,
}

/// Row fields LMCache writes, in its order.
const FIELDS: [&str; 8] = [
    "timestamp",
    "request_id",
    "model_name",
    "chunk_size",
    "seq_len",
    "dtypes",
    "shapes",
    "chunk_hashes",
];

/// Dimensions kept per shape; longer shapes count as invalid.
const MAX_SHAPE_DIMS: usize = 16;

#[derive(Default)]
struct RowReader {
    rows: u64,
    models: Distinct<String>,
    chunk_sizes: Distinct<i64>,
    dtypes: Distinct<String>,
    shapes: Distinct<Vec<i64>>,
    seq_len_count: u64,
    seq_len_min: Option<i64>,
    seq_len_max: Option<i64>,
    seq_len_sum: i128,
    hash_count: u64,
    first_ts: Option<f64>,
    last_ts: Option<f64>,
    missing: BTreeMap<String, u64>,
    invalid: BTreeMap<String, u64>,
    withheld: BTreeMap<String, u64>,
    seen: Seen,
}

/// A sorted set that stops growing at [`MAX_DISTINCT`] and remembers that it did.
struct Distinct<T> {
    values: BTreeSet<T>,
    capped: bool,
}

impl<T> Default for Distinct<T> {
    fn default() -> Self {
        Distinct {
            values: BTreeSet::new(),
            capped: false,
        }
    }
}

impl<T: Ord> Distinct<T> {
    fn insert(&mut self, value: T) {
        if self.values.contains(&value) {
            return;
        }
        if self.values.len() >= MAX_DISTINCT {
            self.capped = true;
        } else {
            self.values.insert(value);
        }
    }
}

impl RowReader {
    fn read_file(&mut self, file: &mut FileCursor<'_>, bytes: &[u8]) {
        for line in lines(bytes) {
            let text = line.text.trim_ascii();
            if text.is_empty() {
                continue;
            }
            // A struct also deserializes from a JSON array; rows are objects only.
            if !text.starts_with(b"{") {
                let reason = match serde_json::from_slice::<Value>(text) {
                    Ok(value) => format!(
                        "expected a lookup row (a JSON object), found {}",
                        json_type(&value)
                    ),
                    Err(e) => json_error_reason(&e, line.unterminated),
                };
                file.unreadable(Some(line.number), reason);
                continue;
            }
            match serde_json::from_slice::<Row>(text) {
                Ok(row) => {
                    let identity = row_identity(&row, text);
                    if self.seen.first_time(file, Some(line.number), "", identity) {
                        file.record();
                        self.read_row(row);
                    }
                }
                Err(e) => {
                    file.unreadable(Some(line.number), json_error_reason(&e, line.unterminated))
                }
            }
        }
    }

    fn read_row(&mut self, row: Row) {
        self.rows += 1;
        let present = [
            row.timestamp.is_some(),
            row.request_id.is_some(),
            row.model_name.is_some(),
            row.chunk_size.is_some(),
            row.seq_len.is_some(),
            row.dtypes.is_some(),
            row.shapes.is_some(),
            row.chunk_hashes.is_some(),
        ];
        for (field, present) in FIELDS.iter().zip(present) {
            if !present {
                *self.missing.entry((*field).to_owned()).or_default() += 1;
            }
        }
        let mut invalid = |field: &str| *self.invalid.entry(field.to_owned()).or_default() += 1;
        let mut withheld = |field: &str| *self.withheld.entry(field.to_owned()).or_default() += 1;

        if let Some(v) = &row.timestamp {
            match as_f64(v).filter(|t| t.is_finite()) {
                Some(t) => {
                    self.first_ts = Some(self.first_ts.map_or(t, |f| f.min(t)));
                    self.last_ts = Some(self.last_ts.map_or(t, |l| l.max(t)));
                }
                None => invalid("timestamp"),
            }
        }
        if let Some(v) = &row.request_id {
            if !v.is_string() {
                invalid("request_id");
            }
        }
        match &row.model_name {
            Some(Value::String(m)) if m.is_empty() => {}
            Some(Value::String(m)) if holds_hash(m) => withheld("model_name"),
            Some(Value::String(m)) => self.models.insert(clip(m)),
            Some(_) => invalid("model_name"),
            None => {}
        }
        if let Some(v) = &row.chunk_size {
            match v.as_i64().filter(|c| *c >= 0) {
                Some(c) => self.chunk_sizes.insert(c),
                None => invalid("chunk_size"),
            }
        }
        if let Some(v) = &row.seq_len {
            match v.as_i64().filter(|s| *s >= 0) {
                Some(s) => {
                    self.seq_len_count += 1;
                    self.seq_len_sum += i128::from(s);
                    self.seq_len_min = Some(self.seq_len_min.map_or(s, |m| m.min(s)));
                    self.seq_len_max = Some(self.seq_len_max.map_or(s, |m| m.max(s)));
                }
                None => invalid("seq_len"),
            }
        }
        if let Some(v) = &row.dtypes {
            match v.as_array() {
                Some(items) => {
                    for item in items {
                        match item.as_str() {
                            Some(d) if holds_hash(d) => withheld("dtypes"),
                            Some(d) if !d.is_empty() => self.dtypes.insert(clip(d)),
                            _ => invalid("dtypes"),
                        }
                    }
                }
                None => invalid("dtypes"),
            }
        }
        if let Some(v) = &row.shapes {
            match v.as_array() {
                Some(items) => {
                    for item in items {
                        match shape(item) {
                            Some(s) => self.shapes.insert(s),
                            None => invalid("shapes"),
                        }
                    }
                }
                None => invalid("shapes"),
            }
        }
        match row.chunk_hashes {
            Some(HashCount::List(n)) => self.hash_count = self.hash_count.saturating_add(n),
            Some(HashCount::NotAList) => invalid("chunk_hashes"),
            None => {}
        }
    }

    fn finish(self, log: SourceLog) -> LookupHashEvidence {
        let mut capped_fields = Vec::new();
        for (field, capped) in [
            ("chunk_sizes", self.chunk_sizes.capped),
            ("dtypes", self.dtypes.capped),
            ("models", self.models.capped),
            ("shapes", self.shapes.capped),
        ] {
            if capped {
                capped_fields.push(field.to_owned());
            }
        }
        let rotation = rotation(&log);
        LookupHashEvidence {
            schema_version: SCHEMA_VERSION.to_owned(),
            claim_status: ClaimStatus::from_records(self.rows),
            file_count: rotation.files,
            duplicate_rows: self.seen.finish(&log),
            read: log,
            row_count: self.rows,
            models: self.models.values.into_iter().collect(),
            chunk_sizes: self.chunk_sizes.values.into_iter().collect(),
            seq_len: SeqLenStats {
                count: self.seq_len_count,
                min: self.seq_len_min,
                max: self.seq_len_max,
                avg: (self.seq_len_count > 0)
                    .then(|| self.seq_len_sum as f64 / self.seq_len_count as f64),
            },
            dtypes: self.dtypes.values.into_iter().collect(),
            shapes: self.shapes.values.into_iter().collect(),
            hash_count: self.hash_count,
            timestamps: TimeSpan {
                first: self.first_ts,
                last: self.last_ts,
            },
            rotation,
            missing_fields: self.missing,
            invalid_fields: self.invalid,
            withheld_fields: self.withheld,
            capped_fields,
        }
    }
}

/// One lookup row. Fields are kept as JSON values to judge their types here; a
/// field given as `null` is present (and invalid), not missing. Unknown fields are
/// skipped unread.
#[derive(Deserialize)]
struct Row {
    #[serde(default, deserialize_with = "present")]
    timestamp: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    request_id: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    model_name: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    chunk_size: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    seq_len: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    dtypes: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    shapes: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    chunk_hashes: Option<HashCount>,
}

fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// `chunk_hashes`, counted while parsing: the hash strings are skipped by the JSON
/// reader and never copied into memory this parser owns.
enum HashCount {
    List(u64),
    NotAList,
}

impl<'de> Deserialize<'de> for HashCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Counter;
        impl<'de> Visitor<'de> for Counter {
            type Value = HashCount;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of chunk hashes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<HashCount, A::Error> {
                let mut n = 0u64;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(HashCount::List(n))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HashCount, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(HashCount::NotAList)
            }
            fn visit_bool<E>(self, _: bool) -> Result<HashCount, E> {
                Ok(HashCount::NotAList)
            }
            fn visit_i64<E>(self, _: i64) -> Result<HashCount, E> {
                Ok(HashCount::NotAList)
            }
            fn visit_u64<E>(self, _: u64) -> Result<HashCount, E> {
                Ok(HashCount::NotAList)
            }
            fn visit_f64<E>(self, _: f64) -> Result<HashCount, E> {
                Ok(HashCount::NotAList)
            }
            fn visit_str<E>(self, _: &str) -> Result<HashCount, E> {
                Ok(HashCount::NotAList)
            }
            fn visit_unit<E>(self) -> Result<HashCount, E> {
                Ok(HashCount::NotAList)
            }
        }
        d.deserialize_any(Counter)
    }
}

/// A row's identity: a hash of its whole text, when it has a usable timestamp to
/// make it one event. Byte-exact on purpose: a repeated file repeats its bytes, and
/// two rows differing in any field are two events.
fn row_identity(row: &Row, text: &[u8]) -> Option<u64> {
    let timed = row
        .timestamp
        .as_ref()
        .and_then(as_f64)
        .is_some_and(f64::is_finite);
    timed.then(|| identity(&[text]))
}

/// A KV shape: a list of non-negative whole numbers.
fn shape(value: &Value) -> Option<Vec<i64>> {
    let dims = value.as_array()?;
    if dims.len() > MAX_SHAPE_DIMS {
        return None;
    }
    dims.iter()
        .map(|d| d.as_i64().filter(|d| *d >= 0))
        .collect()
}

/// Whether `s` holds `0x` and 8 or more hex digits, or a run of 16 or more hex
/// digits: how LMCache writes chunk hashes. Such strings never reach the document,
/// whatever field holds them (a model path with a commit id is withheld too: privacy
/// wins over detail).
fn holds_hash(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut run = 0usize;
    for (i, b) in bytes.iter().enumerate() {
        if b.is_ascii_hexdigit() {
            run += 1;
            if run >= 16 {
                return true;
            }
        } else {
            run = 0;
        }
        let prefixed = (*b == b'x' || *b == b'X') && i > 0 && bytes[i - 1] == b'0';
        if prefixed
            && bytes[i + 1..]
                .iter()
                .take(8)
                .filter(|c| c.is_ascii_hexdigit())
                .count()
                == 8
        {
            return true;
        }
    }
    false
}

/// Rotation settings from the files that could be opened.
fn rotation(log: &SourceLog) -> Rotation {
    let mut r = Rotation::default();
    let mut indices = Vec::new();
    for source in log.sources.iter().filter(|s| s.opened) {
        r.files += 1;
        r.max_rows_per_file = r.max_rows_per_file.max(source.records);
        r.max_bytes_per_file = r.max_bytes_per_file.max(source.bytes);
        let name = source
            .path
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or(&source.path);
        if let Some(index) = upstream_index(name) {
            r.upstream_named_files += 1;
            indices.push(index);
        }
    }
    r.first_index = indices.iter().min().copied();
    r.last_index = indices.iter().max().copied();
    r
}

/// The `<NNNNNN>` of `lookup_hashes_<YYYYmmdd>_<HHMMSS>_<NNNNNN>.jsonl`.
fn upstream_index(name: &str) -> Option<u64> {
    let stem = name
        .strip_prefix("lookup_hashes_")?
        .strip_suffix(".jsonl")?;
    let mut parts = stem.split('_');
    let (date, time, index) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if parts.next().is_some() || !digits(date, 8) || !digits(time, 6) {
        return None;
    }
    if index.len() < 6 || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    index.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_shapes_are_recognised() {
        assert!(holds_hash("0xdeadbeef"));
        assert!(holds_hash("model-0xdeadbeef01"));
        assert!(holds_hash("0123456789abcdef"));
        assert!(holds_hash("/models/snapshots/0123456789abcdef0123/"));
        assert!(!holds_hash("float8_e4m3fn"));
        assert!(!holds_hash("meta-llama/Llama-3.1-8B"));
        assert!(!holds_hash("0xfe"));
        assert!(!holds_hash("Qwen/Qwen3-32B-0x"));
    }

    #[test]
    fn upstream_names() {
        assert_eq!(
            upstream_index("lookup_hashes_20260401_143025_000003.jsonl"),
            Some(3)
        );
        assert_eq!(
            upstream_index("lookup_hashes_20260401_143025_1000000.jsonl"),
            Some(1_000_000)
        );
        assert_eq!(
            upstream_index("lookup_hashes_2026_143025_000003.jsonl"),
            None
        );
        assert_eq!(upstream_index("hashes.jsonl"), None);
    }
}
