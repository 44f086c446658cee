//! Trace-replay evidence: what `lmcache trace replay` and `lmcache trace info` leave
//! behind. Produces the document written as `lmcache_trace_replay_evidence.json`.
//!
//! Four kinds of file, told apart by extension and, failing that, by content:
//! - `csv`: `trace_replay_ops.csv`, one row per qualname (`qualname, count, errors,
//!   mean_ms, ...`), or one row per replayed record when there is no `count` column;
//! - `json`: `trace_replay_summary.json` (`duration_s`, `ops{qualname: {count,
//!   errors, ...}}`), or a list of ops;
//! - `jsonl`: `--jsonl-out`, one `{"qualname", "latency_ms", "failed"}` per record;
//! - `info`: the text `lmcache trace info` prints (`label: value` lines, an `ops:`
//!   block of `qualname: count` lines, and for events-level traces an `events:`
//!   block).
//!
//! One replay is usually saved in several of these forms at once, so per-op counts
//! are the largest any one file reports, not their sum. LMCache's own `count` is
//! the successful replays of a qualname; here an op's count is all its records,
//! successful or not (`count + errors`), which is what `trace info` and the JSONL
//! count too.

use super::otel::{
    as_f64, as_u64, clip, get_any, has_extension, json_type, lines, read_json_file,
    read_json_lines, ClaimStatus, DirFilter, FileCursor, SourceLog,
};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// `schema_version` of the trace-replay evidence document.
pub const SCHEMA_VERSION: &str = "inferguard.trace-replay-evidence/v1";

/// Distinct op names kept per file; more are counted under [`OTHER_OPS`].
pub const MAX_OPS: usize = 512;
/// Op name that collects ops past [`MAX_OPS`].
pub const OTHER_OPS: &str = "(other ops)";
/// Entries kept in `summary` and in `info`.
pub const MAX_FIELDS: usize = 256;

/// Parses replay outputs: files, or directories of them (`*.csv`, `*.json`,
/// `*.jsonl`, `*.ndjson`, `*.txt`, `*.info`, sorted by name).
pub fn parse_replay<P: AsRef<Path>>(paths: &[P]) -> ReplayEvidence {
    let mut reader = ReplayReader::default();
    let mut log = SourceLog::default();
    let dir = DirFilter {
        expected: "replay outputs (*.csv, *.json, *.jsonl, *.ndjson, *.txt, *.info)",
        primary: |name| has_extension(name, &["csv", "json", "jsonl", "ndjson", "txt", "info"]),
        fallback: |_| false,
    };
    log.read_paths(paths, &dir, |file, bytes| reader.read_file(file, bytes));
    reader.finish(log)
}

/// Parses one replay output already in memory; `source` names it, and its
/// extension, if any, picks the kind.
pub fn parse_replay_bytes(source: &str, bytes: &[u8]) -> ReplayEvidence {
    let mut reader = ReplayReader::default();
    let mut log = SourceLog::default();
    log.read_bytes(source, bytes, |file, bytes| reader.read_file(file, bytes));
    reader.finish(log)
}

/// The trace-replay evidence document.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ReplayEvidence {
    /// Always `inferguard.trace-replay-evidence/v1` for this layout.
    pub schema_version: String,
    /// `measured` when at least one row was read.
    pub claim_status: ClaimStatus,
    #[serde(flatten)]
    pub read: SourceLog,
    /// Rows read from all files: CSV data rows, JSONL records, the op entries and
    /// top-level scalar fields of JSON summaries, `label: value` and op lines of
    /// `trace info` text.
    pub row_count: u64,
    /// Each file read, with its kind.
    pub files: Vec<ReplayFile>,
    /// Records per op (qualname), failed ones included: the largest count any one
    /// file gives.
    pub ops: BTreeMap<String, u64>,
    /// Failed records per op, likewise.
    pub op_errors: BTreeMap<String, u64>,
    /// Failed records in all: the sum of `op_errors`.
    pub errors: u64,
    /// Top-level scalar fields of the JSON summaries (`duration_s`, ...). When two
    /// files give the same key, a file with `ops` wins, then the first by name.
    pub summary: BTreeMap<String, Value>,
    /// `label: value` lines of `trace info` text: `Trace file`, `level`,
    /// `format_version`, `trace_schema_version`, `duration`, `sm_config_digest`,
    /// `level_meta` keys, `total_records`; lines of the `events:` block as
    /// `events.<label>` and `events.<block>.<label>`.
    pub info: BTreeMap<String, String>,
}

/// One replay output file.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ReplayFile {
    pub path: String,
    pub kind: ReplayKind,
    /// Rows read from it (see `row_count`).
    pub records: u64,
    /// Records over all ops in it, failed ones included.
    pub op_records: u64,
    /// Failed records in it.
    pub errors: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReplayKind {
    Csv,
    Json,
    Jsonl,
    Info,
}

#[derive(Default)]
struct ReplayReader {
    files: Vec<ReplayFile>,
    ops: BTreeMap<String, u64>,
    op_errors: BTreeMap<String, u64>,
    /// Scalars per JSON file, and whether that file had `ops`.
    summaries: Vec<(bool, Map<String, Value>)>,
    info: BTreeMap<String, String>,
    rows: u64,
}

/// Ops of one file.
#[derive(Default)]
struct FileOps {
    records: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
}

impl FileOps {
    fn add(&mut self, op: &str, records: u64, errors: u64) {
        let key = if self.records.contains_key(op) || self.records.len() < MAX_OPS {
            clip(op)
        } else {
            OTHER_OPS.to_owned()
        };
        let r = self.records.entry(key.clone()).or_default();
        *r = r.saturating_add(records);
        if errors > 0 {
            let e = self.errors.entry(key).or_default();
            *e = e.saturating_add(errors);
        }
    }
}

impl ReplayReader {
    fn read_file(&mut self, file: &mut FileCursor<'_>, bytes: &[u8]) {
        let kind = kind_of(file.path, bytes);
        let mut ops = FileOps::default();
        match kind {
            ReplayKind::Csv => read_csv(file, bytes, &mut ops),
            ReplayKind::Jsonl => read_json_lines(file, bytes, |file, line, value| {
                read_record(file, line, &value, &mut ops)
            }),
            // A `.json` file may also hold JSON Lines.
            ReplayKind::Json => read_json_file(file, bytes, |file, line, value| match line {
                None => self.read_summary(file, value, &mut ops),
                Some(_) => read_record(file, line, &value, &mut ops),
            }),
            ReplayKind::Info => self.read_info(file, bytes, &mut ops),
        }
        let op_records = ops.records.values().fold(0u64, |a, b| a.saturating_add(*b));
        let errors = ops.errors.values().fold(0u64, |a, b| a.saturating_add(*b));
        for (op, n) in ops.records {
            let slot = self.ops.entry(op).or_default();
            *slot = (*slot).max(n);
        }
        for (op, n) in ops.errors {
            let slot = self.op_errors.entry(op).or_default();
            *slot = (*slot).max(n);
        }
        self.rows += file.records();
        self.files.push(ReplayFile {
            path: file.path.to_owned(),
            kind,
            records: file.records(),
            op_records,
            errors,
        });
    }

    /// A summary JSON: an object with `ops` (or `operations`) and scalar fields, or a
    /// list of ops.
    fn read_summary(&mut self, file: &mut FileCursor<'_>, value: Value, ops: &mut FileOps) {
        match value {
            Value::Object(ref obj) if is_record(obj) => read_record(file, None, &value, ops),
            Value::Object(obj) => {
                let mut scalars = Map::new();
                for (key, v) in &obj {
                    if matches!(v, Value::Array(_) | Value::Object(_)) {
                        continue;
                    }
                    if scalars.len() >= MAX_FIELDS {
                        file.unreadable(
                            None,
                            format!(
                                "more than {MAX_FIELDS} top-level fields; the rest are not kept"
                            ),
                        );
                        break;
                    }
                    file.record();
                    let v = match v {
                        Value::String(s) => Value::String(clip(s)),
                        other => other.clone(),
                    };
                    scalars.insert(clip(key), v);
                }
                let op_key = ["ops", "operations"]
                    .into_iter()
                    .find(|k| obj.contains_key(*k));
                if let Some(key) = op_key {
                    read_op_entries(file, &format!("/{key}"), &obj[key], ops);
                }
                self.summaries.push((op_key.is_some(), scalars));
            }
            Value::Array(_) => read_op_entries(file, "", &value, ops),
            other => file.unreadable(
                None,
                format!(
                    "expected a replay summary (a JSON object or a list of ops), found {}",
                    json_type(&other)
                ),
            ),
        }
    }

    /// `lmcache trace info` text.
    fn read_info(&mut self, file: &mut FileCursor<'_>, bytes: &[u8], ops: &mut FileOps) {
        #[derive(PartialEq)]
        enum Block {
            Top,
            Ops,
            Events,
        }
        let mut block = Block::Top;
        let mut sub_block: Option<String> = None;
        for line in lines(bytes) {
            let Ok(text) = std::str::from_utf8(line.text) else {
                file.unreadable(Some(line.number), "line is not UTF-8 text");
                continue;
            };
            if text.trim().is_empty() {
                continue;
            }
            let indent = text.len() - text.trim_start().len();
            let Some((label, value)) = text.trim().split_once(':') else {
                file.unreadable(Some(line.number), info_reason(line.unterminated));
                continue;
            };
            let (label, value) = (label.trim(), value.trim());
            if label.is_empty() {
                file.unreadable(Some(line.number), info_reason(line.unterminated));
                continue;
            }
            // The `ops:` block holds `qualname: count` lines; it ends at the first
            // line that is not one (a flattened copy has no indentation to go by).
            if block == Block::Ops {
                if label != "events" {
                    if let Ok(n) = value.parse::<u64>() {
                        file.record();
                        ops.add(label, n, 0);
                        continue;
                    }
                }
                block = Block::Top;
            }
            match (label, value) {
                ("ops", "") => block = Block::Ops,
                ("events", "") => {
                    block = Block::Events;
                    sub_block = None;
                }
                _ if block == Block::Events => {
                    // Four spaces: a line of the block or the head of a sub-block;
                    // six: a line of the sub-block (or, after `instances`, one
                    // instance).
                    if indent <= 4 || (sub_block.is_none() && value.is_empty()) {
                        if value.is_empty() {
                            // `batches (type/tier/backend/shared):` is the `batches` block.
                            let name = label.split(" (").next().unwrap_or(label);
                            sub_block = Some(clip(name));
                            continue;
                        }
                        sub_block = (label == "instances").then(|| "instances".to_owned());
                        self.put_info(file, line.number, format!("events.{label}"), value);
                    } else {
                        let key = match &sub_block {
                            Some(sub) => format!("events.{sub}.{label}"),
                            None => format!("events.{label}"),
                        };
                        self.put_info(file, line.number, key, value);
                    }
                }
                _ if value.is_empty() => {
                    file.unreadable(Some(line.number), "label without a value".to_owned())
                }
                _ => self.put_info(file, line.number, label.to_owned(), value),
            }
        }
    }

    /// Keeps the first value given for a label.
    fn put_info(&mut self, file: &mut FileCursor<'_>, line: u64, key: String, value: &str) {
        let key = clip(&key);
        if self.info.len() >= MAX_FIELDS && !self.info.contains_key(&key) {
            file.unreadable(
                Some(line),
                format!("label not kept: `info` already holds {MAX_FIELDS} labels"),
            );
            return;
        }
        file.record();
        self.info.entry(key).or_insert_with(|| clip(value));
    }

    fn finish(self, log: SourceLog) -> ReplayEvidence {
        let mut summary = BTreeMap::new();
        let (with_ops, without): (Vec<_>, Vec<_>) = self
            .summaries
            .into_iter()
            .partition(|(has_ops, _)| *has_ops);
        for (_, scalars) in with_ops.into_iter().chain(without) {
            for (key, value) in scalars {
                summary.entry(key).or_insert(value);
            }
        }
        let errors = self
            .op_errors
            .values()
            .fold(0u64, |a, b| a.saturating_add(*b));
        ReplayEvidence {
            schema_version: SCHEMA_VERSION.to_owned(),
            claim_status: ClaimStatus::from_records(self.rows),
            read: log,
            row_count: self.rows,
            files: self.files,
            ops: self.ops,
            op_errors: self.op_errors,
            errors,
            summary,
            info: self.info,
        }
    }
}

fn info_reason(unterminated: bool) -> String {
    if unterminated {
        "last line is not `label: value` and has no line break, so it may be cut off".to_owned()
    } else {
        "line is not `label: value`".to_owned()
    }
}

/// The kind by extension, else by the first non-blank line.
fn kind_of(path: &str, bytes: &[u8]) -> ReplayKind {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    if has_extension(name, &["csv"]) {
        return ReplayKind::Csv;
    }
    if has_extension(name, &["jsonl", "ndjson"]) {
        return ReplayKind::Jsonl;
    }
    if has_extension(name, &["json"]) {
        return ReplayKind::Json;
    }
    let first = lines(bytes)
        .map(|l| l.text.trim_ascii())
        .find(|t| !t.is_empty())
        .unwrap_or_default();
    if first.starts_with(b"{") || first.starts_with(b"[") {
        ReplayKind::Json
    } else if first.starts_with(b"Trace file:") || memchr::memchr(b',', first).is_none() {
        ReplayKind::Info
    } else {
        ReplayKind::Csv
    }
}

/// Op entries: `{qualname: {count, errors, ...}}`, `{qualname: count}` or
/// `[{qualname, count, errors}]`.
fn read_op_entries(file: &mut FileCursor<'_>, pointer: &str, value: &Value, ops: &mut FileOps) {
    match value {
        Value::Object(entries) => {
            for (op, entry) in entries {
                let here = format!("{pointer}/{}", escape_pointer(op));
                match op_counts(entry) {
                    Ok((records, errors)) => {
                        file.record();
                        ops.add(op, records, errors);
                    }
                    Err(reason) => file.unreadable(None, format!("{}: {reason}", clip(&here))),
                }
            }
        }
        Value::Array(entries) => {
            for (i, entry) in entries.iter().enumerate() {
                let here = format!("{pointer}/{i}");
                let op = entry
                    .as_object()
                    .and_then(|o| get_any(o, &["qualname", "name", "op", "operation"]))
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty());
                let Some(op) = op else {
                    file.unreadable(None, format!("{here}: op entry has no `qualname`"));
                    continue;
                };
                match op_counts(entry) {
                    Ok((records, errors)) => {
                        file.record();
                        ops.add(op, records, errors);
                    }
                    Err(reason) => file.unreadable(None, format!("{here}: {reason}")),
                }
            }
        }
        other => file.unreadable(
            None,
            format!(
                "{pointer}: expected ops as an object or a list, found {}",
                json_type(other)
            ),
        ),
    }
}

/// (records, failed) of one op entry: `count` successful plus `errors` failed.
fn op_counts(entry: &Value) -> Result<(u64, u64), String> {
    if let Some(n) = as_u64(entry) {
        return Ok((n, 0));
    }
    let Some(obj) = entry.as_object() else {
        return Err(format!(
            "expected op stats (an object or a count), found {}",
            json_type(entry)
        ));
    };
    let count = match get_any(obj, &["count", "records"]) {
        Some(v) => as_u64(v).ok_or("`count` is not a whole number")?,
        None => return Err("op stats have no `count`".to_owned()),
    };
    let errors = match get_any(obj, &["errors", "error_count", "failed"]) {
        Some(v) => as_u64(v).ok_or("`errors` is not a whole number")?,
        None => 0,
    };
    Ok((count.saturating_add(errors), errors))
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Whether a JSON object is one replay record (`--jsonl-out`) rather than a summary.
fn is_record(obj: &Map<String, Value>) -> bool {
    obj.contains_key("qualname") && !obj.contains_key("ops") && !obj.contains_key("operations")
}

/// One `--jsonl-out` record: `{"qualname", "latency_ms", "failed"}`.
fn read_record(file: &mut FileCursor<'_>, line: Option<u64>, value: &Value, ops: &mut FileOps) {
    let Some(obj) = value.as_object() else {
        file.unreadable(
            line,
            format!(
                "expected a replay record (a JSON object), found {}",
                json_type(value)
            ),
        );
        return;
    };
    let op = get_any(obj, &["qualname", "name", "op", "operation"])
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let Some(op) = op else {
        file.unreadable(line, "replay record has no `qualname`");
        return;
    };
    let failed = match obj.get("failed").or_else(|| obj.get("error")) {
        None | Some(Value::Null) => false,
        Some(v) => truthy(v),
    };
    file.record();
    ops.add(op, 1, u64::from(failed));
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(_) => as_f64(value).is_some_and(|n| n != 0.0),
        Value::String(s) => truthy_text(s),
        Value::Null => false,
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn truthy_text(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes" | "y" | "fail" | "failed" | "error"
    )
}

/// `trace_replay_ops.csv`.
fn read_csv(file: &mut FileCursor<'_>, bytes: &[u8], ops: &mut FileOps) {
    let mut rows = lines(bytes).filter(|l| !l.text.trim_ascii().is_empty());
    let Some(header_line) = rows.next() else {
        return;
    };
    let header = match csv_fields(header_line.text) {
        Ok(fields) => fields
            .into_iter()
            .map(|f| f.trim().to_ascii_lowercase())
            .collect::<Vec<_>>(),
        Err(reason) => {
            file.unreadable(Some(header_line.number), format!("header row: {reason}"));
            return;
        }
    };
    let column = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| header.iter().position(|h| h == n))
    };
    let Some(op_col) = column(&["qualname", "op", "operation", "name", "type"]) else {
        file.unreadable(
            Some(header_line.number),
            "header row has no op column (qualname, op, operation, name or type); \
             rows not read",
        );
        return;
    };
    let count_col = column(&["count"]);
    let errors_col = column(&["errors", "error_count"]);
    let failed_col = column(&["failed", "error", "status", "ok", "success"]);
    for row in rows {
        let fields = match csv_fields(row.text) {
            Ok(fields) => fields,
            Err(reason) => {
                let cut = if row.unterminated {
                    " (last line, no line break: it may be cut off)"
                } else {
                    ""
                };
                file.unreadable(Some(row.number), format!("{reason}{cut}"));
                continue;
            }
        };
        if fields.len() != header.len() {
            let cut = if row.unterminated {
                "; it is the last line and has no line break, so it may be cut off"
            } else {
                ""
            };
            file.unreadable(
                Some(row.number),
                format!(
                    "row has {} fields, the header has {}{cut}",
                    fields.len(),
                    header.len()
                ),
            );
            continue;
        }
        let op = fields[op_col].trim();
        if op.is_empty() {
            file.unreadable(Some(row.number), "row has an empty op");
            continue;
        }
        let whole = |col: usize, what: &str| -> Result<u64, String> {
            let text = fields[col].trim();
            if text.is_empty() {
                return Ok(0);
            }
            text.parse::<u64>()
                .ok()
                .or_else(|| {
                    text.parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite() && *f >= 0.0 && f.fract() == 0.0 && *f < 1.8e19)
                        .map(|f| f as u64)
                })
                .ok_or(format!("`{what}` is not a whole number"))
        };
        let result = match count_col {
            // One row per qualname: `count` successful, `errors` failed.
            Some(count_col) => whole(count_col, "count").and_then(|count| {
                let errors = errors_col.map_or(Ok(0), |c| whole(c, "errors"))?;
                Ok((count.saturating_add(errors), errors))
            }),
            // One row per record.
            None => {
                let failed = match (failed_col, errors_col) {
                    (Some(c), _) => failed_cell(&header[c], &fields[c]),
                    (None, Some(c)) => whole(c, "errors").map(|e| e > 0).unwrap_or(false),
                    (None, None) => false,
                };
                Ok((1, u64::from(failed)))
            }
        };
        match result {
            Ok((records, errors)) => {
                file.record();
                ops.add(op, records, errors);
            }
            Err(reason) => file.unreadable(Some(row.number), reason),
        }
    }
}

/// Whether a per-record CSV row failed, by its `failed` / `error` / `status` / `ok`
/// / `success` cell.
fn failed_cell(column: &str, cell: &str) -> bool {
    let cell = cell.trim();
    match column {
        "status" => !matches!(
            cell.to_ascii_lowercase().as_str(),
            "" | "ok" | "success" | "succeeded" | "0" | "pass" | "passed"
        ),
        "ok" | "success" => !cell.is_empty() && !truthy_text(cell) && cell != "ok",
        // An error message, or a flag.
        "error" => !matches!(
            cell.to_ascii_lowercase().as_str(),
            "" | "false" | "0" | "no" | "none" | "null"
        ),
        _ => truthy_text(cell),
    }
}

/// The fields of one CSV line (RFC 4180 quoting within the line).
fn csv_fields(line: &[u8]) -> Result<Vec<String>, String> {
    let text = std::str::from_utf8(line).map_err(|_| "row is not UTF-8 text".to_owned())?;
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
        } else if c == '"' && at_start {
            quoted = true;
            at_start = false;
        } else if c == ',' {
            fields.push(std::mem::take(&mut field));
            at_start = true;
        } else {
            field.push(c);
            at_start = false;
        }
    }
    if quoted {
        return Err("row has an unterminated quoted field".to_owned());
    }
    fields.push(field);
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting() {
        assert_eq!(
            csv_fields(b"a,\"b,c\",\"d\"\"e\"").unwrap(),
            ["a", "b,c", "d\"e"]
        );
        assert_eq!(csv_fields(b"a,,").unwrap(), ["a", "", ""]);
        assert!(csv_fields(b"a,\"b").is_err());
    }

    #[test]
    fn kinds_by_extension_then_content() {
        assert_eq!(kind_of("x/trace_replay_ops.csv", b""), ReplayKind::Csv);
        assert_eq!(kind_of("x.ndjson", b""), ReplayKind::Jsonl);
        assert_eq!(
            kind_of("info.txt", b"Trace file: a.lct\n"),
            ReplayKind::Info
        );
        assert_eq!(kind_of("-", b"\n{\"a\":1}"), ReplayKind::Json);
        assert_eq!(kind_of("-", b"qualname,count\n"), ReplayKind::Csv);
    }
}
