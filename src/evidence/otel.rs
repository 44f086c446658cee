//! OTel span evidence: spans the LMCache MP server exports with `--enable-tracing`,
//! saved as JSONL (one span, or one OTLP document, per line) or as one OTLP JSON
//! document (`resourceSpans[].scopeSpans[].spans[]`). Produces the document written
//! as `lmcache_otel_evidence.json`: span counts and latencies per span group, hit-token
//! attributes and the service instances that sent them.
//!
//! This module also holds the scaffolding the other line-oriented file parsers
//! ([`super::lookup_hash`], [`super::replay`]) share: reading files and directories
//! with a size limit, the `sources` / `unreadable` part of every document, the claim
//! status, line splitting and JSONL reading. Nothing here knows about rules.
//!
//! Design points:
//! - Never panics and never fails as a whole: every file that cannot be read, every
//!   line that is not JSON and every span that cannot be used is listed in
//!   `unreadable` with its file, line (when there is one) and reason, and the rest is
//!   used. Reasons never quote the input, so nothing read can leak through them.
//! - Span groups are pack data (`kind: otel`, [`SpanGroupDef`]): a span joins the
//!   first group whose names or prefixes take its name, else the catch-all group.
//! - Every declared group is always present, so a rule can read
//!   `/span_groups/<group>/count` without first checking that the key exists.
//! - A span is counted once per parse: one met again with the same trace id and span
//!   id (a file concatenated with itself, passed twice, or beside its directory) is
//!   listed in `duplicate_spans` instead ([`super::duplicates`]). Spans without both
//!   ids are counted as they come, and how many there were is said.

use super::duplicates::{identity, Duplicates, Seen};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::Path;

/// `schema_version` of the OTel evidence document.
pub const SCHEMA_VERSION: &str = "inferguard.otel-evidence/v1";

/// Parses OTel span files, or directories of them (`*.json`, `*.jsonl`, `*.ndjson`,
/// sorted by name), grouping spans as `groups` declare.
pub fn parse_otel<P: AsRef<Path>>(paths: &[P], groups: &[SpanGroupDef]) -> OtelEvidence {
    let mut reader = SpanReader::new(groups);
    let mut log = SourceLog::default();
    let dir = DirFilter {
        expected: "*.json, *.jsonl or *.ndjson span files",
        primary: |name| has_extension(name, &["json", "jsonl", "ndjson"]),
        fallback: |_| false,
    };
    log.read_paths(paths, &dir, |file, bytes| reader.read_file(file, bytes));
    reader.finish(log)
}

/// Parses spans already in memory; `source` names them in `sources` and
/// `unreadable` (a path, `-` or a URL).
pub fn parse_otel_bytes(source: &str, bytes: &[u8], groups: &[SpanGroupDef]) -> OtelEvidence {
    let mut reader = SpanReader::new(groups);
    let mut log = SourceLog::default();
    log.read_bytes(source, bytes, |file, bytes| reader.read_file(file, bytes));
    reader.finish(log)
}

/// The OTel evidence document.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct OtelEvidence {
    /// Always `inferguard.otel-evidence/v1` for this layout.
    pub schema_version: String,
    /// `measured` when at least one span was read.
    pub claim_status: ClaimStatus,
    #[serde(flatten)]
    pub read: SourceLog,
    /// Distinct spans read, in all groups; a span read again is in
    /// `duplicate_spans`, not here.
    pub span_count: u64,
    /// Spans read again with the trace id and span id of a span already read (counted
    /// once), and spans without both ids (counted, not checked).
    pub duplicate_spans: Duplicates,
    /// Spans per group, by the ids the packs declare.
    #[schemars(extend("x-inferguard-keys" = "span_group"))]
    pub span_groups: SpanGroups,
    /// Hit-token attributes (`hit_tokens`, `requested_tokens`, `l1_hit_tokens`,
    /// `l2_hit_tokens`, `prefix_hit_tokens`, `non_prefix_hit_tokens`), keyed by the
    /// name of the span that carried them (`request`, `cb.request`, ...), so the MP
    /// lookups and CacheBlend lookups are never added together.
    pub hit_tokens: BTreeMap<String, HitTokens>,
    /// Spans with hit-token attributes left out of `hit_tokens` because it already
    /// listed [`MAX_HIT_TOKEN_NAMES`] span names.
    pub hit_tokens_spans_not_listed: u64,
    /// Distinct `service.instance.id` resource attributes, sorted; at most
    /// [`MAX_NAMES_PER_GROUP`].
    pub service_instance_ids: Vec<String>,
    /// Spans whose instance id was left out because the list was full.
    pub service_instance_ids_not_listed: u64,
}

/// Spans by group id. Every declared group is always present.
pub type SpanGroups = BTreeMap<String, SpanGroup>;

/// One span group as a pack declares it (`kind: otel`).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpanGroupDef {
    /// The key under `span_groups` (lowercase snake_case, unique).
    pub id: String,
    #[serde(default)]
    pub description: String,
    /// Span names taken whole.
    #[serde(default)]
    pub names: Vec<String>,
    /// Span-name prefixes taken (`mp.` takes `mp.store`).
    #[serde(default)]
    pub prefixes: Vec<String>,
}

impl SpanGroupDef {
    /// Takes every span no group before it took.
    pub fn is_catch_all(&self) -> bool {
        self.names.is_empty() && self.prefixes.is_empty()
    }

    fn takes(&self, name: &str) -> bool {
        self.is_catch_all()
            || self.names.iter().any(|n| n == name)
            || self.prefixes.iter().any(|p| name.starts_with(p.as_str()))
    }
}

/// One span group.
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
pub struct SpanGroup {
    pub count: u64,
    /// Spans per name; at most [`MAX_NAMES_PER_GROUP`] names are listed.
    pub names: BTreeMap<String, u64>,
    /// Spans whose name was not listed because `names` was full.
    pub names_not_listed: u64,
    /// Latency of the spans whose duration is known.
    pub latency_ms: LatencyStats,
}

/// Latency summary; percentiles are nearest-rank, as `lmcache trace replay` computes
/// them. All `null` when no span had a duration.
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
pub struct LatencyStats {
    /// Spans with a known duration.
    pub count: u64,
    pub avg: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

/// Hit-token attributes of one span name.
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
pub struct HitTokens {
    /// Spans of this name that carried at least one hit-token attribute.
    pub spans: u64,
    /// Per attribute: how many spans carried it and the sum of its values.
    pub attributes: BTreeMap<String, CountSum>,
    /// `sum(hit_tokens) / sum(requested_tokens)`, when requested tokens were seen.
    pub hit_rate: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
pub struct CountSum {
    pub count: u64,
    pub sum: f64,
}

/// Span names listed per group; more distinct names are only counted.
pub const MAX_NAMES_PER_GROUP: usize = 256;

/// Span attributes that carry hit-token counts (LMCache `request` and `cb.request`).
const HIT_ATTRIBUTES: [&str; 6] = [
    "hit_tokens",
    "requested_tokens",
    "l1_hit_tokens",
    "l2_hit_tokens",
    "prefix_hit_tokens",
    "non_prefix_hit_tokens",
];

/// Distinct span names in `hit_tokens`; spans past it still count in `span_groups`.
pub const MAX_HIT_TOKEN_NAMES: usize = 64;

struct SpanReader<'g> {
    defs: &'g [SpanGroupDef],
    groups: Vec<GroupAcc>,
    span_count: u64,
    hit_tokens: BTreeMap<String, HitTokens>,
    hit_tokens_not_listed: u64,
    service_instance_ids: BTreeSet<String>,
    service_instance_ids_not_listed: u64,
    seen: Seen,
}

#[derive(Default)]
struct GroupAcc {
    count: u64,
    names: BTreeMap<String, u64>,
    names_not_listed: u64,
    latencies: Vec<f64>,
}

/// Where the spans being read sit, for reasons.
struct At<'a> {
    line: Option<u64>,
    pointer: &'a str,
}

impl At<'_> {
    /// The same line, deeper in the document.
    fn down<'p>(&self, pointer: &'p str) -> At<'p> {
        At {
            line: self.line,
            pointer,
        }
    }
}

impl<'g> SpanReader<'g> {
    fn new(defs: &'g [SpanGroupDef]) -> Self {
        SpanReader {
            defs,
            groups: defs.iter().map(|_| GroupAcc::default()).collect(),
            span_count: 0,
            hit_tokens: BTreeMap::new(),
            hit_tokens_not_listed: 0,
            service_instance_ids: BTreeSet::new(),
            service_instance_ids_not_listed: 0,
            seen: Seen::default(),
        }
    }

    fn read_file(&mut self, file: &mut FileCursor<'_>, bytes: &[u8]) {
        read_json_file(file, bytes, |file, line, value| {
            self.read_value(file, line, value)
        });
    }

    /// One JSON value: a span, an OTLP document, `{"spans": [...]}`, or an array of
    /// any of those.
    fn read_value(&mut self, file: &mut FileCursor<'_>, line: Option<u64>, value: Value) {
        match value {
            Value::Array(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    let pointer = format!("/{i}");
                    match item {
                        Value::Object(obj) => self.read_object(
                            file,
                            &At {
                                line,
                                pointer: &pointer,
                            },
                            &obj,
                        ),
                        other => file.unreadable(
                            line,
                            format!(
                                "{pointer}: expected a span or an OTLP document, found {}",
                                json_type(&other)
                            ),
                        ),
                    }
                }
            }
            Value::Object(obj) => self.read_object(file, &At { line, pointer: "" }, &obj),
            other => file.unreadable(
                line,
                format!(
                    "expected a span or an OTLP document (a JSON object), found {}",
                    json_type(&other)
                ),
            ),
        }
    }

    fn read_object(&mut self, file: &mut FileCursor<'_>, at: &At<'_>, obj: &Map<String, Value>) {
        let resource_spans = get_any(obj, &["resourceSpans", "resource_spans"]);
        if let Some(resource_spans) = resource_spans {
            self.read_resource_spans(file, at, resource_spans);
        } else if let Some(spans) = obj.get("spans") {
            let resource = resource_attributes(obj.get("resource"));
            let pointer = format!("{}/spans", at.pointer);
            self.read_spans(file, &at.down(&pointer), spans, &resource);
        } else if get_any(obj, &["name", "span_name", "operationName"]).is_some() {
            let resource = resource_attributes(obj.get("resource"));
            self.read_span(file, at, obj, &resource);
        } else {
            file.unreadable(
                at.line,
                format!(
                    "{}: JSON object is neither a span (no `name`) nor an OTLP document \
                     (no `resourceSpans`)",
                    pointer_or_root(at.pointer)
                ),
            );
        }
    }

    fn read_resource_spans(&mut self, file: &mut FileCursor<'_>, at: &At<'_>, value: &Value) {
        let Some(items) = value.as_array() else {
            file.unreadable(
                at.line,
                format!(
                    "{}/resourceSpans: expected an array, found {}",
                    at.pointer,
                    json_type(value)
                ),
            );
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let here = format!("{}/resourceSpans/{i}", at.pointer);
            let Some(rs) = item.as_object() else {
                file.unreadable(
                    at.line,
                    format!("{here}: expected an object, found {}", json_type(item)),
                );
                continue;
            };
            let resource = resource_attributes(rs.get("resource"));
            let Some(scopes) = get_any(
                rs,
                &["scopeSpans", "scope_spans", "instrumentationLibrarySpans"],
            ) else {
                continue;
            };
            let Some(scopes) = scopes.as_array() else {
                file.unreadable(
                    at.line,
                    format!(
                        "{here}/scopeSpans: expected an array, found {}",
                        json_type(scopes)
                    ),
                );
                continue;
            };
            for (j, scope) in scopes.iter().enumerate() {
                let pointer = format!("{here}/scopeSpans/{j}/spans");
                match scope.as_object().map(|s| s.get("spans")) {
                    Some(Some(spans)) => {
                        self.read_spans(file, &at.down(&pointer), spans, &resource)
                    }
                    Some(None) => {}
                    None => file.unreadable(
                        at.line,
                        format!(
                            "{here}/scopeSpans/{j}: expected an object, found {}",
                            json_type(scope)
                        ),
                    ),
                }
            }
        }
    }

    fn read_spans(
        &mut self,
        file: &mut FileCursor<'_>,
        at: &At<'_>,
        spans: &Value,
        resource: &Attributes,
    ) {
        let Some(spans) = spans.as_array() else {
            file.unreadable(
                at.line,
                format!(
                    "{}: expected an array of spans, found {}",
                    at.pointer,
                    json_type(spans)
                ),
            );
            return;
        };
        for (k, span) in spans.iter().enumerate() {
            let pointer = format!("{}/{k}", at.pointer);
            let at = at.down(&pointer);
            match span.as_object() {
                Some(obj) => self.read_span(file, &at, obj, resource),
                None => file.unreadable(
                    at.line,
                    format!(
                        "{pointer}: expected a span object, found {}",
                        json_type(span)
                    ),
                ),
            }
        }
    }

    fn read_span(
        &mut self,
        file: &mut FileCursor<'_>,
        at: &At<'_>,
        span: &Map<String, Value>,
        resource: &Attributes,
    ) {
        let here = pointer_or_root(at.pointer);
        let Some(name) = span_name(file, at, span) else {
            return;
        };
        if !self
            .seen
            .first_time(file, at.line, at.pointer, span_identity(span))
        {
            return;
        }
        file.record();
        self.span_count += 1;
        for id in resource.strings("service.instance.id") {
            let id = clip(&id);
            if self.service_instance_ids.len() < MAX_NAMES_PER_GROUP
                || self.service_instance_ids.contains(&id)
            {
                self.service_instance_ids.insert(id);
            } else {
                self.service_instance_ids_not_listed += 1;
            }
        }

        let latency = match span_latency_ms(span) {
            Ok(latency) => latency,
            Err(reason) => {
                file.unreadable(
                    at.line,
                    format!("{here}: span `{name}`: {reason}; latency not used"),
                );
                None
            }
        };
        let attributes = match get_any(span, &["attributes", "tags"]) {
            None | Some(Value::Null) => Attributes::default(),
            Some(value) => match Attributes::from_value(value) {
                Some(a) => a,
                None => {
                    file.unreadable(
                        at.line,
                        format!(
                            "{here}: span `{name}`: `attributes` is {}, neither a map nor a \
                             key/value list; attributes not used",
                            json_type(value)
                        ),
                    );
                    Attributes::default()
                }
            },
        };
        self.add_hit_tokens(&name, &attributes);

        let Some(g) = self.defs.iter().position(|d| d.takes(&name)) else {
            return;
        };
        let group = &mut self.groups[g];
        group.count += 1;
        if let Some(ms) = latency {
            group.latencies.push(ms);
        }
        if let Some(n) = group.names.get_mut(&name) {
            *n += 1;
        } else if group.names.len() < MAX_NAMES_PER_GROUP {
            group.names.insert(name, 1);
        } else {
            group.names_not_listed += 1;
        }
    }

    fn add_hit_tokens(&mut self, name: &str, attributes: &Attributes) {
        let values: Vec<(&str, f64)> = HIT_ATTRIBUTES
            .iter()
            .filter_map(|key| attributes.number(key).map(|v| (*key, v)))
            .collect();
        if values.is_empty() {
            return;
        }
        if !self.hit_tokens.contains_key(name) && self.hit_tokens.len() >= MAX_HIT_TOKEN_NAMES {
            self.hit_tokens_not_listed += 1;
            return;
        }
        let entry = self.hit_tokens.entry(name.to_owned()).or_default();
        entry.spans += 1;
        for (key, value) in values {
            let cs = entry.attributes.entry(key.to_owned()).or_default();
            cs.count += 1;
            cs.sum += value;
        }
    }

    fn finish(self, log: SourceLog) -> OtelEvidence {
        let span_groups = self
            .defs
            .iter()
            .zip(self.groups)
            .map(|(d, g)| (d.id.clone(), g.finish()))
            .collect();
        let mut hit_tokens = self.hit_tokens;
        for h in hit_tokens.values_mut() {
            let hit = h.attributes.get("hit_tokens").map(|c| c.sum);
            let requested = h.attributes.get("requested_tokens").map(|c| c.sum);
            h.hit_rate = match (hit, requested) {
                (Some(hit), Some(req)) if req > 0.0 => Some(hit / req),
                _ => None,
            };
        }
        OtelEvidence {
            schema_version: SCHEMA_VERSION.to_owned(),
            claim_status: ClaimStatus::from_records(self.span_count),
            duplicate_spans: self.seen.finish(&log),
            read: log,
            span_count: self.span_count,
            span_groups,
            hit_tokens,
            hit_tokens_spans_not_listed: self.hit_tokens_not_listed,
            service_instance_ids: self.service_instance_ids.into_iter().collect(),
            service_instance_ids_not_listed: self.service_instance_ids_not_listed,
        }
    }
}

impl GroupAcc {
    fn finish(self) -> SpanGroup {
        SpanGroup {
            count: self.count,
            names: self.names,
            names_not_listed: self.names_not_listed,
            latency_ms: LatencyStats::from_samples(self.latencies),
        }
    }
}

impl LatencyStats {
    /// Summarises samples; non-finite samples must already be left out.
    pub fn from_samples(mut samples: Vec<f64>) -> LatencyStats {
        if samples.is_empty() {
            return LatencyStats::default();
        }
        samples.sort_by(f64::total_cmp);
        let n = samples.len();
        let rank = |pct: f64| {
            // Nearest rank: the sample at ceil(p/100 * n), 1-based.
            let r = (pct * n as f64 / 100.0).ceil() as usize;
            samples[r.clamp(1, n) - 1]
        };
        LatencyStats {
            count: n as u64,
            avg: Some(samples.iter().sum::<f64>() / n as f64),
            p50: Some(rank(50.0)),
            p90: Some(rank(90.0)),
            p99: Some(rank(99.0)),
            max: samples.last().copied(),
        }
    }
}

/// The span's duration: `duration_ms`, else `duration_ns`, else end − start in unix
/// nanoseconds. `Ok(None)` when the span carries no timing at all.
fn span_latency_ms(span: &Map<String, Value>) -> Result<Option<f64>, String> {
    if let Some(v) = span.get("duration_ms") {
        return match as_f64(v) {
            Some(ms) if ms.is_finite() && ms >= 0.0 => Ok(Some(ms)),
            _ => Err("`duration_ms` is not a non-negative number".to_owned()),
        };
    }
    if let Some(v) = span.get("duration_ns") {
        return match as_f64(v) {
            Some(ns) if ns.is_finite() && ns >= 0.0 => Ok(Some(ns / 1e6)),
            _ => Err("`duration_ns` is not a non-negative number".to_owned()),
        };
    }
    let start = get_any(span, &["start_time_unix_nano", "startTimeUnixNano"]);
    let end = get_any(span, &["end_time_unix_nano", "endTimeUnixNano"]);
    match (start, end) {
        (None, None) => Ok(None),
        (Some(_), None) | (None, Some(_)) => {
            Err("only one of the start and end times is set".to_owned())
        }
        (Some(s), Some(e)) => match (as_u64(s), as_u64(e)) {
            (Some(0), Some(0)) => Ok(None),
            (Some(s), Some(e)) if e >= s => Ok(Some((e - s) as f64 / 1e6)),
            (Some(_), Some(_)) => Err("end time is before start time".to_owned()),
            _ => Err("start or end time is not a whole number of nanoseconds".to_owned()),
        },
    }
}

/// The span's name, clipped; `None` (recorded as unreadable) when it has none usable.
fn span_name(file: &mut FileCursor<'_>, at: &At<'_>, span: &Map<String, Value>) -> Option<String> {
    let here = pointer_or_root(at.pointer);
    let reason = match get_any(span, &["name", "span_name", "operationName"]) {
        Some(Value::String(s)) if !s.trim().is_empty() => return Some(clip(s.trim())),
        Some(Value::String(_)) => format!("{here}: span name is empty"),
        Some(other) => format!("{here}: span name is {}, not a string", json_type(other)),
        None => format!("{here}: span has no `name`"),
    };
    file.unreadable(at.line, reason);
    None
}

/// The identity of a span: its trace id and span id (OTLP `traceId`/`spanId`,
/// snake_case, Jaeger `traceID`/`spanID`, or under `context` as the OTel SDK's
/// console exporter writes them). `None` unless both are there: the span id alone is
/// only unique within its trace, so nothing is guessed.
fn span_identity(span: &Map<String, Value>) -> Option<u64> {
    let context = span.get("context").and_then(Value::as_object);
    let id = |keys: &[&str]| {
        get_any(span, keys)
            .or_else(|| context.and_then(|c| get_any(c, keys)))
            .and_then(id_text)
    };
    let trace = id(&["traceId", "trace_id", "traceID"])?;
    let span_id = id(&["spanId", "span_id", "spanID"])?;
    Some(identity(&[trace.as_bytes(), span_id.as_bytes()]))
}

/// An id as comparable text: hex without `0x` and in lower case (exporters differ);
/// any other string (base64 in the protobuf JSON mapping) as it is. `None` when empty
/// or all zeros, which OTel defines as an invalid id. Borrowed in the common case
/// (lower-case hex), as it is computed for every span.
fn id_text(value: &Value) -> Option<Cow<'_, str>> {
    let text = match value {
        Value::String(s) => s.trim(),
        Value::Number(n) => return (n.as_u64() != Some(0)).then(|| n.to_string().into()),
        _ => return None,
    };
    let text = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    // One pass without early exits, which the compiler vectorizes: this runs for
    // every span, and three short-circuiting scans were most of its cost.
    let (mut zeros, mut hex, mut upper) = (true, true, false);
    for b in text.bytes() {
        zeros &= b == b'0';
        hex &= b.is_ascii_hexdigit();
        upper |= b.is_ascii_uppercase();
    }
    if zeros {
        return None;
    }
    if hex && upper {
        Some(text.to_ascii_lowercase().into())
    } else {
        Some(text.into())
    }
}

/// Span or resource attributes, flattened to scalar values.
#[derive(Default)]
struct Attributes(Vec<(String, Value)>);

impl Attributes {
    /// Reads a `{key: value}` map or an OTLP / Jaeger `[{key, value}]` list; `None`
    /// for anything else.
    fn from_value(value: &Value) -> Option<Attributes> {
        match value {
            Value::Object(map) => Some(Attributes(
                map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            )),
            Value::Array(items) => Some(Attributes(
                items
                    .iter()
                    .filter_map(|item| {
                        let obj = item.as_object()?;
                        let key = obj.get("key")?.as_str()?;
                        Some((key.to_owned(), otlp_any_value(obj.get("value")?)))
                    })
                    .collect(),
            )),
            _ => None,
        }
    }

    fn get<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.0.iter().filter(move |(k, _)| k == key).map(|(_, v)| v)
    }

    fn number(&self, key: &str) -> Option<f64> {
        self.get(key).find_map(as_f64).filter(|v| v.is_finite())
    }

    fn strings(&self, key: &str) -> Vec<String> {
        self.get(key)
            .filter_map(|v| match v {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect()
    }
}

/// Unwraps an OTLP `AnyValue` (`{"stringValue": ...}`, `{"intValue": "5"}`, ...);
/// a plain JSON scalar (Jaeger tags) is kept as it is.
fn otlp_any_value(value: &Value) -> Value {
    const TYPED: [&str; 8] = [
        "stringValue",
        "intValue",
        "doubleValue",
        "boolValue",
        "string_value",
        "int_value",
        "double_value",
        "bool_value",
    ];
    match value {
        Value::Object(obj) => TYPED
            .iter()
            .find_map(|k| obj.get(*k).cloned())
            .unwrap_or(Value::Null),
        other => other.clone(),
    }
}

/// `resource.attributes` (or a resource given as a flat map).
fn resource_attributes(resource: Option<&Value>) -> Attributes {
    let Some(Value::Object(obj)) = resource else {
        return Attributes::default();
    };
    match obj.get("attributes") {
        Some(attrs) => Attributes::from_value(attrs).unwrap_or_default(),
        None => Attributes::from_value(&Value::Object(obj.clone())).unwrap_or_default(),
    }
}

fn pointer_or_root(pointer: &str) -> &str {
    if pointer.is_empty() {
        "/"
    } else {
        pointer
    }
}

// ---------------------------------------------------------------------------
// Scaffolding shared by the file-evidence parsers (`otel`, `lookup_hash`, `replay`).
// ---------------------------------------------------------------------------

/// Most `unreadable` entries a document lists; the rest are only counted.
pub const MAX_UNREADABLE_LISTED: usize = 50;
/// Most skipped file names a document lists; the rest are only counted.
pub const MAX_SKIPPED_LISTED: usize = 50;
/// Files larger than this are not read (1 GiB).
pub const MAX_FILE_BYTES: u64 = 1 << 30;
/// Strings copied from the input into a document are cut to this many characters.
pub const MAX_STRING_CHARS: usize = 200;

/// Whether an evidence document proves anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatus {
    /// At least one real record was read.
    Measured,
    /// Nothing usable was read.
    NotProven,
}

impl ClaimStatus {
    pub fn from_records(records: u64) -> ClaimStatus {
        if records > 0 {
            ClaimStatus::Measured
        } else {
            ClaimStatus::NotProven
        }
    }
}

/// What was read and what could not be: the part every file-evidence document shares
/// (flattened into it).
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
pub struct SourceLog {
    /// Every file read or tried, in reading order.
    pub sources: Vec<SourceFile>,
    /// What could not be read, with its location; the first [`MAX_UNREADABLE_LISTED`].
    pub unreadable: Vec<Unreadable>,
    /// All unreadable items, listed or not.
    pub unreadable_count: u64,
    /// Files in given directories that were not read because their names do not
    /// match the kind; the first [`MAX_SKIPPED_LISTED`].
    pub skipped_files: Vec<String>,
    /// All skipped files, listed or not.
    pub skipped_file_count: u64,
    /// Files given more than once (the same file twice, or a file and its
    /// directory): read the first time only, so nothing is counted twice.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repeated_files: Vec<String>,
    /// Canonical paths already read.
    #[serde(skip)]
    #[schemars(skip)]
    seen: std::collections::HashSet<std::path::PathBuf>,
}

/// One file read (or tried).
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SourceFile {
    pub path: String,
    /// Whether it could be opened and read (a missing file is listed, unopened).
    pub opened: bool,
    /// Size in bytes (0 when it could not be read).
    pub bytes: u64,
    /// Records read from it and counted (a record repeating one read before is
    /// not: see the document's duplicates).
    pub records: u64,
    /// Unreadable items in it.
    pub unreadable: u64,
}

/// Something that could not be read. The reason never quotes the input.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Unreadable {
    pub path: String,
    /// 1-based line; `null` when the problem concerns the whole file or a document
    /// without line structure (the reason then names a JSON pointer).
    pub line: Option<u64>,
    pub reason: String,
}

/// Which files of a directory a parser reads.
pub struct DirFilter {
    /// For the message when a directory has none: "lookup_hashes_*.jsonl files".
    pub expected: &'static str,
    /// File names read.
    pub primary: fn(&str) -> bool,
    /// File names read only when no name matches `primary`.
    pub fallback: fn(&str) -> bool,
}

/// Reading position in one file: counts its records and unreadable items.
pub struct FileCursor<'a> {
    pub path: &'a str,
    records: u64,
    unreadable: u64,
    log: &'a mut SourceLog,
}

impl FileCursor<'_> {
    /// Counts one record read.
    pub fn record(&mut self) {
        self.records += 1;
    }

    /// Records that something at `line` could not be read.
    pub fn unreadable(&mut self, line: Option<u64>, reason: impl Into<String>) {
        self.unreadable += 1;
        self.log.push_unreadable(self.path, line, reason.into());
    }

    /// Records read so far from this file.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The index this file will have in `sources` once it is read.
    pub fn source_index(&self) -> usize {
        self.log.sources.len()
    }
}

impl SourceLog {
    /// Reads every path: a file, or the files a directory holds that `dir` selects,
    /// sorted by name (not recursing). `parse` sees each file's bytes.
    pub fn read_paths<P: AsRef<Path>>(
        &mut self,
        paths: &[P],
        dir: &DirFilter,
        mut parse: impl FnMut(&mut FileCursor<'_>, &[u8]),
    ) {
        for path in paths {
            let path = path.as_ref();
            if path.is_dir() {
                self.read_dir(path, dir, &mut parse);
            } else {
                self.read_one(path, &mut parse);
            }
        }
    }

    /// Reads bytes already in memory as one source named `name`.
    pub fn read_bytes(
        &mut self,
        name: &str,
        bytes: &[u8],
        mut parse: impl FnMut(&mut FileCursor<'_>, &[u8]),
    ) {
        self.parse_source(name, bytes, &mut parse);
    }

    fn read_dir(
        &mut self,
        path: &Path,
        dir: &DirFilter,
        parse: &mut impl FnMut(&mut FileCursor<'_>, &[u8]),
    ) {
        let shown = path.display().to_string();
        let entries = match std::fs::read_dir(path) {
            Ok(entries) => entries,
            Err(e) => {
                self.failed_source(&shown, format!("cannot list directory: {e}"));
                return;
            }
        };
        let mut files: Vec<(String, std::path::PathBuf)> = Vec::new();
        for entry in entries {
            match entry {
                Ok(entry) => {
                    let p = entry.path();
                    if p.is_file() {
                        files.push((entry.file_name().to_string_lossy().into_owned(), p));
                    }
                }
                Err(e) => {
                    self.push_unreadable(&shown, None, format!("cannot list directory entry: {e}"))
                }
            }
        }
        files.sort();
        let mut chosen: Vec<bool> = files.iter().map(|(n, _)| (dir.primary)(n)).collect();
        if !chosen.contains(&true) {
            chosen = files.iter().map(|(n, _)| (dir.fallback)(n)).collect();
        }
        if !chosen.contains(&true) {
            self.push_unreadable(
                &shown,
                None,
                format!(
                    "directory holds no {}; pass the files themselves or the directory that holds them",
                    dir.expected
                ),
            );
        }
        for ((_, file), read) in files.iter().zip(chosen) {
            if read {
                self.read_one(file, parse);
            } else {
                self.skipped_file_count += 1;
                if self.skipped_files.len() < MAX_SKIPPED_LISTED {
                    self.skipped_files.push(file.display().to_string());
                }
            }
        }
    }

    fn read_one(&mut self, path: &Path, parse: &mut impl FnMut(&mut FileCursor<'_>, &[u8])) {
        let shown = path.display().to_string();
        if let Ok(canonical) = std::fs::canonicalize(path) {
            if !self.seen.insert(canonical) {
                self.repeated_files.push(shown);
                return;
            }
        }
        match read_capped(path) {
            Ok(bytes) => self.parse_source(&shown, &bytes, parse),
            Err(reason) => self.failed_source(&shown, reason),
        }
    }

    fn parse_source(
        &mut self,
        name: &str,
        bytes: &[u8],
        parse: &mut impl FnMut(&mut FileCursor<'_>, &[u8]),
    ) {
        let mut cursor = FileCursor {
            path: name,
            records: 0,
            unreadable: 0,
            log: self,
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            cursor.unreadable(None, "file is empty");
        } else {
            parse(&mut cursor, bytes);
        }
        let (records, unreadable) = (cursor.records, cursor.unreadable);
        self.sources.push(SourceFile {
            path: name.to_owned(),
            opened: true,
            bytes: bytes.len() as u64,
            records,
            unreadable,
        });
    }

    fn failed_source(&mut self, path: &str, reason: String) {
        self.push_unreadable(path, None, reason);
        self.sources.push(SourceFile {
            path: path.to_owned(),
            opened: false,
            bytes: 0,
            records: 0,
            unreadable: 1,
        });
    }

    fn push_unreadable(&mut self, path: &str, line: Option<u64>, reason: String) {
        self.unreadable_count += 1;
        if self.unreadable.len() < MAX_UNREADABLE_LISTED {
            self.unreadable.push(Unreadable {
                path: path.to_owned(),
                line,
                reason,
            });
        }
    }
}

/// Reads a file whole, refusing files over [`MAX_FILE_BYTES`].
fn read_capped(path: &Path) -> Result<Vec<u8>, String> {
    // A FIFO or device would block or never end: refused before opening.
    super::check_regular(path).map_err(|e| format!("cannot read: {e}"))?;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let too_big = |size: u64| {
        format!(
            "file is {size} bytes, over the {} MiB limit; split it into smaller files",
            MAX_FILE_BYTES >> 20
        )
    };
    if let Ok(meta) = file.metadata() {
        if meta.len() > MAX_FILE_BYTES {
            return Err(too_big(meta.len()));
        }
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

/// One line of a file.
pub struct Line<'a> {
    /// 1-based.
    pub number: u64,
    /// Without the line break (`\n` or `\r\n`).
    pub text: &'a [u8],
    /// The last line, with no line break after it: possibly cut off.
    pub unterminated: bool,
}

/// Splits bytes into lines.
pub fn lines(bytes: &[u8]) -> impl Iterator<Item = Line<'_>> {
    let mut rest = bytes;
    let mut number = 0u64;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        number += 1;
        let (text, unterminated) = match memchr::memchr(b'\n', rest) {
            Some(i) => {
                let text = &rest[..i];
                rest = &rest[i + 1..];
                (text, false)
            }
            None => {
                let text = rest;
                rest = &[];
                (text, true)
            }
        };
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        Some(Line {
            number,
            text,
            unterminated,
        })
    })
}

/// Reads a file that holds either one JSON document (possibly spread over many
/// lines) or JSON Lines; `each` sees every value with its line (`None` for a whole
/// document). Blank lines are skipped; every other line that is not JSON is recorded.
pub fn read_json_file(
    file: &mut FileCursor<'_>,
    bytes: &[u8],
    mut each: impl FnMut(&mut FileCursor<'_>, Option<u64>, Value),
) {
    let whole_error = match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => {
            each(file, None, value);
            return;
        }
        Err(e) => e,
    };
    // A broken pretty-printed document would otherwise be reported as one error per
    // line: when it starts like one and no line on its own is JSON, report the
    // document's error once, at its line.
    let first = lines(bytes)
        .map(|l| l.text.trim_ascii())
        .find(|t| !t.is_empty())
        .unwrap_or_default();
    let opens_document = first.ends_with(b"{") || first.ends_with(b"[");
    if opens_document
        && !lines(bytes)
            .filter(|l| !l.text.trim_ascii().is_empty())
            .any(|l| serde_json::from_slice::<Value>(l.text).is_ok())
    {
        // A document cut off at the end still holds every object completed before
        // the cut: read those and say where it broke off.
        let repaired = whole_error
            .is_eof()
            .then(|| close_truncated(bytes))
            .flatten()
            .and_then(|fixed| serde_json::from_slice::<Value>(&fixed).ok());
        match repaired {
            Some(value) => {
                file.unreadable(
                    Some(whole_error.line() as u64),
                    format!(
                        "document is cut off ({}); read up to the last complete object \
                         or array before the cut",
                        json_error_reason(&whole_error, false)
                    ),
                );
                each(file, None, value);
            }
            None => file.unreadable(
                Some(whole_error.line() as u64),
                json_error_reason(&whole_error, false),
            ),
        }
        return;
    }
    read_json_lines(file, bytes, each);
}

/// For a JSON document cut off at the end: its longest prefix that ends right after
/// a complete nested object or array, with the brackets still open there closed.
/// `None` when there is no such point or the nesting is deeper than JSON parsing
/// allows anyway.
fn close_truncated(bytes: &[u8]) -> Option<Vec<u8>> {
    const MAX_DEPTH: usize = 128;
    let mut open: Vec<u8> = Vec::new();
    let (mut in_string, mut escaped) = (false, false);
    let mut cut: Option<(usize, Vec<u8>)> = None;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                open.push(b);
                if open.len() > MAX_DEPTH {
                    return None;
                }
            }
            b'}' | b']' => {
                open.pop();
                if !open.is_empty() {
                    cut = Some((i + 1, open.clone()));
                }
            }
            _ => {}
        }
    }
    let (end, still_open) = cut?;
    let mut fixed = bytes[..end].to_vec();
    fixed.extend(
        still_open
            .iter()
            .rev()
            .map(|b| if *b == b'{' { b'}' } else { b']' }),
    );
    Some(fixed)
}

/// Reads JSON Lines; `each` sees every value with its line number.
pub fn read_json_lines(
    file: &mut FileCursor<'_>,
    bytes: &[u8],
    mut each: impl FnMut(&mut FileCursor<'_>, Option<u64>, Value),
) {
    for line in lines(bytes) {
        if line.text.trim_ascii().is_empty() {
            continue;
        }
        match serde_json::from_slice::<Value>(line.text) {
            Ok(value) => each(file, Some(line.number), value),
            Err(e) => file.unreadable(Some(line.number), json_error_reason(&e, line.unterminated)),
        }
    }
}

/// Why a line or document is not JSON, without serde's position (the caller gives
/// the line) and without quoting the input.
pub fn json_error_reason(e: &serde_json::Error, unterminated: bool) -> String {
    let message = e.to_string();
    let message = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => &message,
    };
    let column = e.column();
    if unterminated && e.is_eof() {
        format!("last line is cut off (no line break at the end of the file): {message} at column {column}")
    } else if unterminated {
        format!("not valid JSON ({message} at column {column}); it is the last line and has no line break, so it may be cut off")
    } else {
        format!("not valid JSON: {message} at column {column}")
    }
}

/// `object`, `array`, `a string`, ... for reasons.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The first of `keys` present in `obj`.
pub fn get_any<'a>(obj: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|k| obj.get(*k))
}

/// A number, or a string holding one.
pub fn as_f64(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
}

/// A non-negative whole number, or a string holding one.
pub fn as_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0 && f.fract() == 0.0 && *f < 1.8e19)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
}

/// `s` cut to [`MAX_STRING_CHARS`] characters.
pub fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_STRING_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// Whether `name` ends in `.<one of exts>` (ASCII case-insensitive).
pub fn has_extension(name: &str, exts: &[&str]) -> bool {
    name.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty() && exts.iter().any(|e| ext.eq_ignore_ascii_case(e))
    })
}
