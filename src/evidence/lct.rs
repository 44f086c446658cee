//! `.lct` trace recordings of the LMCache MP server (`lmcache server --trace-level
//! storage|events`), read into the trace evidence document
//! (`lmcache_trace_evidence.json`).
//!
//! Sits at the start of the evidence pipeline next to the other parsers: bytes in,
//! one serializable [`TraceEvidence`] out. It knows nothing about rules; `lmcache-compat`
//! reads `/total_records` and `/claim_status` from the document.
//!
//! # File layout (LMCache `lmcache/v1/mp_observability/trace/format.py`, `reader.py`)
//!
//! A stream of frames, each a 4-byte big-endian length followed by that many bytes
//! of msgpack. The first frame is the header, every later frame a record. Both are
//! msgspec tagged structs, encoded as msgpack maps whose `type` key carries the tag:
//!
//! - header (`type: "header"`): `magic` (bin `LMCT`), `format_version` (1),
//!   `level` (`storage` | `events`), `trace_schema_version` (1 or 2; older
//!   recorders wrote `lmcache_version` instead), `t_mono_start`, `t_wall_start`,
//!   `sm_config_json`, `sm_config_digest`, and for `events` a `level_meta` map;
//! - record (`type: "record"`): `t_mono`, `t_wall`, `qualname`, `args` (map).
//!
//! Events-level files hold `events.batch` records (one coordinator wire batch:
//! `instance_id`, `incarnation`, `event_type`, `tier`, `backend`, `shared`,
//! `entries[]` with `size_bytes` and optional `token_ids`) and `events.lifecycle`
//! records (`phase` `start` | `stop`); they are summarized the way `lmcache trace
//! info` does.
//!
//! # Honesty
//!
//! It never panics and never aborts: every frame it cannot use is listed in
//! `unreadable` with its byte offset and why, and reading goes on with the next
//! frame while the framing holds. A file cut mid-frame keeps the records before the
//! cut, with `truncated: true` and the place in `reason`. A file whose first frame
//! is not an LMCache header (wrong magic, unknown `format_version`, not msgpack) is
//! not read further, as LMCache's own reader refuses it. Lengths are checked
//! against the bytes actually present before anything is allocated, so a length
//! prefix of `0xFFFFFFFF` costs nothing.
//!
//! The header's `sm_config_json` is never copied (a storage config can name
//! credentials); only its digest is. Record arguments are never copied either,
//! only counted.

use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;

/// `schema_version` of the trace evidence document.
pub const TRACE_EVIDENCE_SCHEMA_VERSION: &str = "inferguard.trace-evidence/v1";

/// The header key of the release older recorders wrote (the format's own name).
const RELEASE_KEY: &str = "lmcache_version"; // vendor: a key of the trace file format

/// The magic bytes of an LMCache trace header.
pub const LCT_MAGIC: &[u8; 4] = b"LMCT";

/// The only `format_version` LMCache's reader (and this one) accepts.
pub const LCT_FORMAT_VERSION: i64 = 1;

/// How many unreadable items an evidence document lists; the rest are counted.
pub const MAX_UNREADABLE: usize = 50;

/// Distinct qualnames (and events keys) kept before the rest fold into
/// [`OTHER_KEY`], so a hostile file cannot grow the document without bound.
const MAX_KEYS: usize = 1024;

/// The bucket for keys past [`MAX_KEYS`].
pub const OTHER_KEY: &str = "<other>";

/// Longest string copied from a trace (qualnames, levels, ids); longer ones are cut.
const MAX_TEXT: usize = 256;

/// One input file of an evidence document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Source {
    /// The path as the user gave it.
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Where in an input an unreadable item sits. Serialized as a one-key object:
/// `{"offset": 1234}` (byte offset, binary inputs), `{"line": 7}` (1-based line,
/// text inputs) or `{"pointer": "/env/3"}` (JSON pointer, JSON inputs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    Offset(u64),
    Line(u64),
    Pointer(String),
}

/// Something in an input that could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Unreadable {
    pub path: String,
    pub offset_or_line: Location,
    /// Lowercase, names the thing; never echoes raw input (it may hold secrets).
    pub reason: String,
}

/// The unreadable items of one document: the first [`MAX_UNREADABLE`] listed, all
/// counted. Flattened into the document as `unreadable` and `unreadable_total`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Unreadables {
    pub unreadable: Vec<Unreadable>,
    pub unreadable_total: u64,
}

impl Unreadables {
    /// Records one item; past the cap it is only counted.
    pub fn push(&mut self, path: &str, at: Location, reason: impl Into<String>) {
        self.unreadable_total += 1;
        if self.unreadable.len() < MAX_UNREADABLE {
            self.unreadable.push(Unreadable {
                path: path.to_owned(),
                offset_or_line: at,
                reason: reason.into(),
            });
        }
    }
}

/// The trace evidence document.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TraceEvidence {
    /// Always [`TRACE_EVIDENCE_SCHEMA_VERSION`].
    pub schema_version: String,
    /// `measured` when a valid header and at least one record were read, else
    /// `not_proven`.
    pub claim_status: String,
    /// Why the claim is not proven, or where reading stopped early; `null` for a
    /// complete, clean file.
    pub reason: Option<String>,
    pub sources: Vec<Source>,
    /// The header frame as read; `null` when the first frame could not be decoded
    /// as a map. Present (with the wrong `magic`) when the magic does not match.
    pub header: Option<TraceHeader>,
    /// Records read (frames after the header that decoded as records).
    pub record_count: u64,
    /// Same number as `record_count`, under the name `lmcache trace info` prints.
    pub total_records: u64,
    /// Records per full `qualname`.
    pub records_by_qualname: BTreeMap<String, u64>,
    /// Largest record `t_mono` (seconds since the header's `t_mono_start`), as
    /// `lmcache trace info` reports `duration`; `null` without records.
    pub duration_s: Option<f64>,
    /// Events-level summary; `null` unless the level is `events` or events
    /// records were seen.
    pub events: Option<EventsSummary>,
    /// Frames seen, header included, readable or not.
    pub frame_count: u64,
    /// The file ends inside a frame (length prefix or body).
    pub truncated: bool,
    #[serde(flatten)]
    pub problems: Unreadables,
}

/// The header frame's fields (absent ones are `null`).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct TraceHeader {
    /// `LMCT` for a real trace; otherwise the bytes found, printable ASCII as is,
    /// anything else as `0x…` hex (at most 16 bytes).
    pub magic: String,
    pub format_version: Option<i64>,
    /// `trace_schema_version`.
    pub schema_version: Option<i64>,
    /// `storage` or `events`.
    pub level: Option<String>,
    /// `sm_config_digest`: SHA-256 hex of the StorageManager config JSON; `null`
    /// when empty (the recorder had no config yet).
    pub config_digest: Option<String>,
    /// `lmcache_version`, written by recorders before `trace_schema_version` existed.
    #[serde(rename = "lmcache_version")] // vendor: the header key, published as is
    pub release: Option<String>,
    /// `t_wall_start`, unix seconds.
    pub t_wall_start: Option<f64>,
    /// `level_meta` scalars (events level: `instance_id`,
    /// `cache_event_schema_version`, `lmcache_version`); nested values are
    /// replaced by their kind.
    pub level_meta: BTreeMap<String, serde_json::Value>,
}

/// What an events-level trace holds, as `lmcache trace info` summarizes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct EventsSummary {
    /// `events.batch` records.
    pub batches: u64,
    /// Batches per `<event_type>/<tier>/<backend or ->/<shared|local>`.
    pub batches_by_kind: BTreeMap<String, u64>,
    /// Batch entries per event type.
    pub entries_by_type: BTreeMap<String, u64>,
    /// Sum of `size_bytes` over `store` entries.
    pub store_bytes: u64,
    /// `store` entries that carry `token_ids` (the ids themselves are not kept).
    pub entries_with_tokens: u64,
    /// Per `instance_id`: incarnations seen and restarts (incarnations - 1).
    pub instances: BTreeMap<String, InstanceSummary>,
    /// `events.lifecycle` records per `phase` (`start`, `stop`).
    pub lifecycle: BTreeMap<String, u64>,
}

/// One MP server instance in an events-level trace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct InstanceSummary {
    pub incarnations: Vec<i64>,
    pub restarts: u64,
}

/// Reads one `.lct` file. Never fails: problems end up in the document.
pub fn parse(path: &str, bytes: &[u8]) -> TraceEvidence {
    let mut ev = TraceEvidence {
        schema_version: TRACE_EVIDENCE_SCHEMA_VERSION.to_owned(),
        claim_status: "not_proven".to_owned(),
        reason: None,
        sources: vec![Source {
            path: path.to_owned(),
            bytes: bytes.len() as u64,
        }],
        header: None,
        record_count: 0,
        total_records: 0,
        records_by_qualname: BTreeMap::new(),
        duration_s: None,
        events: None,
        frame_count: 0,
        truncated: false,
        problems: Unreadables::default(),
    };
    if bytes.is_empty() {
        ev.problems.push(
            path,
            Location::Offset(0),
            "empty trace file: no header frame",
        );
        ev.reason = Some("empty trace file".to_owned());
        return ev;
    }
    let mut reader = TraceReader {
        path,
        ev: &mut ev,
        header_ok: false,
        events_level: false,
    };
    reader.read(bytes);
    let header_ok = reader.header_ok;
    if header_ok && ev.record_count > 0 {
        ev.claim_status = "measured".to_owned();
    } else if header_ok && ev.reason.is_none() {
        ev.reason = Some("the trace holds a header but no records".to_owned());
    } else if header_ok {
        let why = ev.reason.take().unwrap_or_default();
        ev.reason = Some(format!("no records read ({why})"));
    }
    ev.total_records = ev.record_count;
    ev
}

/// One step of the framing.
enum Frame<'a> {
    /// A frame body starting at `start`.
    Body { start: usize, body: &'a [u8] },
    /// A zero-length frame (nothing to decode).
    Empty,
    /// The file ends inside a length prefix or a body.
    Cut(String),
    /// The file ends on a frame boundary.
    End,
}

/// Returns the frame at `pos` and the position after it.
fn next_frame(bytes: &[u8], pos: usize) -> (Frame<'_>, usize) {
    let left = bytes.len() - pos;
    if left == 0 {
        return (Frame::End, pos);
    }
    if left < 4 {
        return (
            Frame::Cut(format!(
                "truncated length prefix: {left} of 4 bytes at the end of the file"
            )),
            bytes.len(),
        );
    }
    let prefix: [u8; 4] = bytes[pos..pos + 4]
        .try_into()
        .expect("slice of exactly 4 bytes");
    let len = u32::from_be_bytes(prefix) as usize;
    let start = pos + 4;
    let avail = bytes.len() - start;
    if len == 0 {
        return (Frame::Empty, start);
    }
    if len > avail {
        return (
            Frame::Cut(format!(
                "truncated frame: length prefix says {len} bytes, {avail} are left in the file"
            )),
            bytes.len(),
        );
    }
    (
        Frame::Body {
            start,
            body: &bytes[start..start + len],
        },
        start + len,
    )
}

struct TraceReader<'p, 'e> {
    path: &'p str,
    ev: &'e mut TraceEvidence,
    header_ok: bool,
    events_level: bool,
}

impl TraceReader<'_, '_> {
    fn read(&mut self, bytes: &[u8]) {
        let mut pos = 0;
        let mut first = true;
        loop {
            let at = pos;
            let (frame, next) = next_frame(bytes, pos);
            pos = next;
            if !matches!(frame, Frame::End) {
                self.ev.frame_count += 1;
            }
            let what = if first { "header frame" } else { "frame" };
            match frame {
                Frame::End => return,
                Frame::Cut(why) => {
                    self.ev.truncated = true;
                    self.unreadable(at, format!("{what}: {why}"));
                    self.ev.reason = Some(if first {
                        format!("no header: the file ends inside the first frame ({why})")
                    } else {
                        format!(
                            "stopped at byte {at}: {why}; the {} records before it were read",
                            self.ev.record_count
                        )
                    });
                    return;
                }
                Frame::Empty => {
                    self.unreadable(at, format!("zero-length {what}"));
                    if first {
                        self.ev.reason = Some("no header: the first frame is empty".to_owned());
                        return;
                    }
                }
                Frame::Body { start, body } => {
                    if first {
                        if !self.read_header(start, body) {
                            return;
                        }
                    } else {
                        self.read_record(start, body);
                    }
                }
            }
            first = false;
        }
    }

    fn unreadable(&mut self, at: usize, reason: String) {
        self.ev
            .problems
            .push(self.path, Location::Offset(at as u64), reason);
    }

    /// Reads the header; false when the file must not be read further.
    fn read_header(&mut self, start: usize, body: &[u8]) -> bool {
        let frame_at = start - 4;
        let value = match msgpack::decode(body) {
            Ok(v) => v,
            Err(e) => {
                self.unreadable(
                    start + e.at,
                    format!("header frame is not valid msgpack: {}", e.reason),
                );
                self.ev.reason = Some("no readable header: not an LMCT trace".to_owned());
                return false;
            }
        };
        let Some(map) = value.as_map() else {
            self.unreadable(
                frame_at,
                format!("header frame is a msgpack {}, not a map", value.kind()),
            );
            self.ev.reason = Some("no readable header: not an LMCT trace".to_owned());
            return false;
        };
        let tag = msgpack::get(map, "type").and_then(|v| v.as_str());
        if let Some(tag) = tag.filter(|t| *t != "header") {
            let tag = clip(tag);
            self.unreadable(
                frame_at,
                format!("first frame has type `{tag}`, expected `header`"),
            );
            self.ev.reason = Some("no header: the first frame is not a header".to_owned());
            return false;
        }
        let magic = match msgpack::get(map, "magic") {
            Some(msgpack::Value::Bin(b)) => b.clone(),
            Some(msgpack::Value::Str(s)) => s.as_bytes().to_vec(),
            Some(other) => {
                self.unreadable(
                    frame_at,
                    format!("header `magic` is a msgpack {}, not bytes", other.kind()),
                );
                self.ev.reason = Some("no readable header: not an LMCT trace".to_owned());
                return false;
            }
            None => {
                self.unreadable(frame_at, "header frame has no `magic`".to_owned());
                self.ev.reason = Some("no readable header: not an LMCT trace".to_owned());
                return false;
            }
        };
        let header = TraceHeader {
            magic: show_bytes(&magic),
            format_version: msgpack::get(map, "format_version").and_then(|v| v.as_i64()),
            schema_version: msgpack::get(map, "trace_schema_version").and_then(|v| v.as_i64()),
            level: text_field(map, "level"),
            config_digest: text_field(map, "sm_config_digest").filter(|d| !d.is_empty()),
            release: text_field(map, RELEASE_KEY),
            t_wall_start: msgpack::get(map, "t_wall_start")
                .and_then(|v| v.as_f64())
                .filter(|x| x.is_finite()),
            level_meta: match msgpack::get(map, "level_meta") {
                Some(msgpack::Value::Map(entries)) => entries
                    .iter()
                    .filter_map(|(k, v)| Some((clip(k.as_str()?), scalar_json(v))))
                    .take(MAX_KEYS)
                    .collect(),
                _ => BTreeMap::new(),
            },
        };
        let format_version = header.format_version;
        self.events_level = header.level.as_deref() == Some("events");
        self.ev.header = Some(header);
        if magic != LCT_MAGIC {
            self.unreadable(
                frame_at,
                "header magic is not `LMCT`: not an LMCT trace".to_owned(),
            );
            self.ev.reason = Some("not an LMCT trace (wrong magic)".to_owned());
            return false;
        }
        if format_version != Some(LCT_FORMAT_VERSION) {
            let found = format_version.map_or_else(|| "none".to_owned(), |v| v.to_string());
            self.unreadable(
                frame_at,
                format!(
                    "unsupported format_version {found} (this reader knows {LCT_FORMAT_VERSION})"
                ),
            );
            self.ev.reason = Some(format!(
                "unsupported trace format_version {found}; the format's own reader refuses it too"
            ));
            return false;
        }
        if self.events_level {
            self.ev.events = Some(EventsSummary::default());
        }
        self.header_ok = true;
        true
    }

    fn read_record(&mut self, start: usize, body: &[u8]) {
        let frame_at = start - 4;
        let value = match msgpack::decode(body) {
            Ok(v) => v,
            Err(e) => {
                self.unreadable(
                    start + e.at,
                    format!("frame is not valid msgpack: {}", e.reason),
                );
                return;
            }
        };
        let Some(map) = value.as_map() else {
            self.unreadable(
                frame_at,
                format!("frame is a msgpack {}, not a record map", value.kind()),
            );
            return;
        };
        match msgpack::get(map, "type").and_then(|v| v.as_str()) {
            Some("record") | None => {}
            Some("header") => {
                self.unreadable(frame_at, "a second header frame".to_owned());
                return;
            }
            Some(other) => {
                let other = clip(other);
                self.unreadable(
                    frame_at,
                    format!("frame has type `{other}`, expected `record`"),
                );
                return;
            }
        }
        let Some(qualname) = msgpack::get(map, "qualname").and_then(|v| v.as_str()) else {
            self.unreadable(frame_at, "record has no string `qualname`".to_owned());
            return;
        };
        self.ev.record_count += 1;
        bump(&mut self.ev.records_by_qualname, clip(qualname));
        if let Some(t) = msgpack::get(map, "t_mono")
            .and_then(|v| v.as_f64())
            .filter(|t| t.is_finite())
        {
            let d = self.ev.duration_s.get_or_insert(0.0);
            if t > *d {
                *d = t;
            }
        }
        if qualname == "events.batch" || qualname == "events.lifecycle" {
            let args = msgpack::get(map, "args")
                .and_then(|a| a.as_map())
                .unwrap_or(&[]);
            self.ev
                .events
                .get_or_insert_with(EventsSummary::default)
                .add(qualname, args);
        }
    }
}

impl EventsSummary {
    /// Folds one events record in; missing or nil fields read as LMCache's own
    /// summary reads them (`?`, `0`, `false`, no backend), fields of another type
    /// as their kind (`<int>`).
    fn add(&mut self, qualname: &str, args: &[(msgpack::Value, msgpack::Value)]) {
        let text = |key: &str, default: &str| match msgpack::get(args, key) {
            None | Some(msgpack::Value::Nil) => default.to_owned(),
            Some(v) => v.as_str().map_or_else(|| format!("<{}>", v.kind()), clip),
        };
        if qualname == "events.lifecycle" {
            bump(&mut self.lifecycle, text("phase", "?"));
            return;
        }
        self.batches += 1;
        let instance = text("instance_id", "?");
        let incarnation = msgpack::get(args, "incarnation")
            .and_then(|v| v.as_i64())
            .unwrap_or(0);
        let key = if self.instances.len() < MAX_KEYS || self.instances.contains_key(&instance) {
            instance
        } else {
            OTHER_KEY.to_owned()
        };
        let inst = self.instances.entry(key).or_default();
        if let Err(i) = inst.incarnations.binary_search(&incarnation) {
            if inst.incarnations.len() < MAX_KEYS {
                inst.incarnations.insert(i, incarnation);
            }
        }
        inst.restarts = inst.incarnations.len().saturating_sub(1) as u64;
        let event_type = text("event_type", "?");
        let backend = text("backend", "");
        let shared = msgpack::get(args, "shared")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        bump(
            &mut self.batches_by_kind,
            format!(
                "{event_type}/{}/{}/{}",
                text("tier", "?"),
                if backend.is_empty() { "-" } else { &backend },
                if shared { "shared" } else { "local" }
            ),
        );
        let entries = match msgpack::get(args, "entries") {
            Some(msgpack::Value::Array(items)) => items.as_slice(),
            _ => &[],
        };
        *self.entries_by_type.entry(event_type.clone()).or_default() += entries.len() as u64;
        if event_type == "store" {
            for entry in entries.iter().filter_map(|e| e.as_map()) {
                let size = msgpack::get(entry, "size_bytes")
                    .and_then(|v| v.as_i64())
                    .unwrap_or(0);
                self.store_bytes = self.store_bytes.saturating_add(size.max(0) as u64);
                let has_tokens = match msgpack::get(entry, "token_ids") {
                    Some(msgpack::Value::Array(ids)) => !ids.is_empty(),
                    Some(msgpack::Value::Bin(ids)) => !ids.is_empty(),
                    _ => false,
                };
                if has_tokens {
                    self.entries_with_tokens += 1;
                }
            }
        }
    }
}

/// Counts `key`, folding new keys past [`MAX_KEYS`] into [`OTHER_KEY`].
fn bump(map: &mut BTreeMap<String, u64>, key: String) {
    let key = if map.len() >= MAX_KEYS && !map.contains_key(&key) {
        OTHER_KEY.to_owned()
    } else {
        key
    };
    *map.entry(key).or_default() += 1;
}

/// A string cut to [`MAX_TEXT`] characters.
fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_TEXT) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn text_field(map: &[(msgpack::Value, msgpack::Value)], key: &str) -> Option<String> {
    msgpack::get(map, key).and_then(|v| v.as_str()).map(clip)
}

/// Magic bytes for display: printable ASCII as is, else hex.
fn show_bytes(b: &[u8]) -> String {
    if !b.is_empty() && b.len() <= 16 && b.iter().all(|c| c.is_ascii_graphic()) {
        return String::from_utf8_lossy(b).into_owned();
    }
    let hex: String = b.iter().take(16).map(|c| format!("{c:02x}")).collect();
    let more = if b.len() > 16 { "…" } else { "" };
    format!("0x{hex}{more}")
}

/// A msgpack scalar as JSON; containers and bytes become their kind.
fn scalar_json(v: &msgpack::Value) -> serde_json::Value {
    use msgpack::Value as M;
    use serde_json::Value as J;
    match v {
        M::Nil => J::Null,
        M::Bool(b) => J::Bool(*b),
        M::Int(i) => i64::try_from(*i)
            .map(J::from)
            .or_else(|_| u64::try_from(*i).map(J::from))
            .unwrap_or_else(|_| J::String(i.to_string())),
        M::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        M::Str(s) => J::String(clip(s)),
        other => J::String(format!("<{}>", other.kind())),
    }
}

/// The subset of msgpack the trace format uses, decoded with bounds checks, a
/// depth limit and a value budget, so no input can panic, recurse without end or
/// make it allocate more than a small multiple of the frame's size.
mod msgpack {
    /// Deepest nesting accepted.
    pub const MAX_DEPTH: usize = 64;
    /// Most values one frame may hold.
    pub const MAX_VALUES: usize = 1 << 20;

    #[derive(Debug, Clone, PartialEq)]
    pub enum Value {
        Nil,
        Bool(bool),
        Int(i128),
        Float(f64),
        Str(String),
        Bin(Vec<u8>),
        Array(Vec<Value>),
        Map(Vec<(Value, Value)>),
        /// An extension value; skipped, only its presence is kept.
        Ext,
    }

    impl Value {
        pub fn kind(&self) -> &'static str {
            match self {
                Value::Nil => "nil",
                Value::Bool(_) => "bool",
                Value::Int(_) => "int",
                Value::Float(_) => "float",
                Value::Str(_) => "str",
                Value::Bin(_) => "bin",
                Value::Array(_) => "array",
                Value::Map(_) => "map",
                Value::Ext => "ext",
            }
        }
        pub fn as_map(&self) -> Option<&[(Value, Value)]> {
            match self {
                Value::Map(m) => Some(m),
                _ => None,
            }
        }
        pub fn as_str(&self) -> Option<&str> {
            match self {
                Value::Str(s) => Some(s),
                _ => None,
            }
        }
        pub fn as_i64(&self) -> Option<i64> {
            match self {
                Value::Int(i) => i64::try_from(*i).ok(),
                _ => None,
            }
        }
        pub fn as_f64(&self) -> Option<f64> {
            match self {
                Value::Float(f) => Some(*f),
                Value::Int(i) => Some(*i as f64),
                _ => None,
            }
        }
        pub fn as_bool(&self) -> Option<bool> {
            match self {
                Value::Bool(b) => Some(*b),
                _ => None,
            }
        }
    }

    /// The value under a string key of a map.
    pub fn get<'v>(map: &'v [(Value, Value)], key: &str) -> Option<&'v Value> {
        map.iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// Why decoding stopped, and where (offset into the decoded buffer).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Error {
        pub at: usize,
        pub reason: String,
    }

    /// Decodes exactly one value filling all of `buf`.
    pub fn decode(buf: &[u8]) -> Result<Value, Error> {
        let mut d = Decoder {
            buf,
            pos: 0,
            values: 0,
        };
        let v = d.value(0)?;
        if d.pos != buf.len() {
            return Err(Error {
                at: d.pos,
                reason: format!("{} bytes follow the msgpack value", buf.len() - d.pos),
            });
        }
        Ok(v)
    }

    struct Decoder<'a> {
        buf: &'a [u8],
        pos: usize,
        values: usize,
    }

    impl<'a> Decoder<'a> {
        fn fail<T>(&self, at: usize, reason: String) -> Result<T, Error> {
            Err(Error { at, reason })
        }

        fn left(&self) -> usize {
            self.buf.len() - self.pos
        }

        fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
            if n > self.left() {
                return self.fail(
                    self.pos,
                    format!("value needs {n} bytes, {} are left", self.left()),
                );
            }
            let s = &self.buf[self.pos..self.pos + n];
            self.pos += n;
            Ok(s)
        }

        fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
            Ok(self.take(N)?.try_into().expect("take returned N bytes"))
        }

        fn u8(&mut self) -> Result<u8, Error> {
            Ok(self.array::<1>()?[0])
        }
        fn u16(&mut self) -> Result<usize, Error> {
            Ok(u16::from_be_bytes(self.array()?) as usize)
        }
        fn u32(&mut self) -> Result<usize, Error> {
            Ok(u32::from_be_bytes(self.array()?) as usize)
        }

        fn value(&mut self, depth: usize) -> Result<Value, Error> {
            let at = self.pos;
            if depth > MAX_DEPTH {
                return self.fail(at, format!("nested deeper than {MAX_DEPTH} levels"));
            }
            self.values += 1;
            if self.values > MAX_VALUES {
                return self.fail(at, format!("frame holds more than {MAX_VALUES} values"));
            }
            let m = self.u8()?;
            Ok(match m {
                0x00..=0x7f => Value::Int(m as i128),
                0x80..=0x8f => self.map((m & 0x0f) as usize, depth)?,
                0x90..=0x9f => self.seq((m & 0x0f) as usize, depth)?,
                0xa0..=0xbf => self.str((m & 0x1f) as usize, at)?,
                0xc0 => Value::Nil,
                0xc1 => return self.fail(at, "reserved msgpack marker 0xc1".to_owned()),
                0xc2 => Value::Bool(false),
                0xc3 => Value::Bool(true),
                0xc4 => {
                    let n = self.u8()? as usize;
                    Value::Bin(self.take(n)?.to_vec())
                }
                0xc5 => {
                    let n = self.u16()?;
                    Value::Bin(self.take(n)?.to_vec())
                }
                0xc6 => {
                    let n = self.u32()?;
                    Value::Bin(self.take(n)?.to_vec())
                }
                0xc7 => {
                    let n = self.u8()? as usize;
                    self.take(1 + n)?;
                    Value::Ext
                }
                0xc8 => {
                    let n = self.u16()?;
                    self.take(1 + n)?;
                    Value::Ext
                }
                0xc9 => {
                    let n = self.u32()?;
                    self.take(1)?;
                    self.take(n)?;
                    Value::Ext
                }
                0xca => Value::Float(f32::from_be_bytes(self.array()?) as f64),
                0xcb => Value::Float(f64::from_be_bytes(self.array()?)),
                0xcc => Value::Int(self.u8()? as i128),
                0xcd => Value::Int(self.u16()? as i128),
                0xce => Value::Int(self.u32()? as i128),
                0xcf => Value::Int(u64::from_be_bytes(self.array()?) as i128),
                0xd0 => Value::Int(i8::from_be_bytes(self.array()?) as i128),
                0xd1 => Value::Int(i16::from_be_bytes(self.array()?) as i128),
                0xd2 => Value::Int(i32::from_be_bytes(self.array()?) as i128),
                0xd3 => Value::Int(i64::from_be_bytes(self.array()?) as i128),
                0xd4 => self.fixext(1)?,
                0xd5 => self.fixext(2)?,
                0xd6 => self.fixext(4)?,
                0xd7 => self.fixext(8)?,
                0xd8 => self.fixext(16)?,
                0xd9 => {
                    let n = self.u8()? as usize;
                    self.str(n, at)?
                }
                0xda => {
                    let n = self.u16()?;
                    self.str(n, at)?
                }
                0xdb => {
                    let n = self.u32()?;
                    self.str(n, at)?
                }
                0xdc => {
                    let n = self.u16()?;
                    self.seq(n, depth)?
                }
                0xdd => {
                    let n = self.u32()?;
                    self.seq(n, depth)?
                }
                0xde => {
                    let n = self.u16()?;
                    self.map(n, depth)?
                }
                0xdf => {
                    let n = self.u32()?;
                    self.map(n, depth)?
                }
                0xe0..=0xff => Value::Int((m as i8) as i128),
            })
        }

        fn fixext(&mut self, n: usize) -> Result<Value, Error> {
            self.take(1 + n)?;
            Ok(Value::Ext)
        }

        fn str(&mut self, n: usize, at: usize) -> Result<Value, Error> {
            let bytes = self.take(n)?;
            match std::str::from_utf8(bytes) {
                Ok(s) => Ok(Value::Str(s.to_owned())),
                Err(_) => self.fail(at, "msgpack str is not valid UTF-8".to_owned()),
            }
        }

        /// Every item takes at least one byte, so a count above the bytes left is
        /// refused before anything is allocated.
        fn seq(&mut self, n: usize, depth: usize) -> Result<Value, Error> {
            if n > self.left() {
                return self.fail(
                    self.pos,
                    format!("array of {n} items, only {} bytes left", self.left()),
                );
            }
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(self.value(depth + 1)?);
            }
            Ok(Value::Array(items))
        }

        fn map(&mut self, n: usize, depth: usize) -> Result<Value, Error> {
            if n.saturating_mul(2) > self.left() {
                return self.fail(
                    self.pos,
                    format!("map of {n} entries, only {} bytes left", self.left()),
                );
            }
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                let k = self.value(depth + 1)?;
                let v = self.value(depth + 1)?;
                entries.push((k, v));
            }
            Ok(Value::Map(entries))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn decodes_every_marker_family() {
            let cases: &[(&[u8], Value)] = &[
                (&[0x05], Value::Int(5)),
                (&[0xff], Value::Int(-1)),
                (&[0xcc, 0xff], Value::Int(255)),
                (&[0xd0, 0x80], Value::Int(-128)),
                (
                    &[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                    Value::Int(u64::MAX as i128),
                ),
                (&[0xc0], Value::Nil),
                (&[0xc3], Value::Bool(true)),
                (&[0xa2, b'h', b'i'], Value::Str("hi".into())),
                (&[0xc4, 0x02, 1, 2], Value::Bin(vec![1, 2])),
                (&[0xca, 0x3f, 0x80, 0, 0], Value::Float(1.0)),
                (&[0xd4, 0x01, 0x00], Value::Ext),
                (&[0x91, 0x01], Value::Array(vec![Value::Int(1)])),
                (
                    &[0x81, 0xa1, b'k', 0xc2],
                    Value::Map(vec![(Value::Str("k".into()), Value::Bool(false))]),
                ),
            ];
            for (bytes, want) in cases {
                assert_eq!(decode(bytes).as_ref(), Ok(want), "{bytes:02x?}");
            }
        }

        #[test]
        fn refuses_bombs_and_garbage() {
            // Claimed sizes far beyond the buffer are refused before allocating.
            assert!(decode(&[0xdd, 0xff, 0xff, 0xff, 0xff]).is_err());
            assert!(decode(&[0xdf, 0xff, 0xff, 0xff, 0xff]).is_err());
            assert!(decode(&[0xc6, 0xff, 0xff, 0xff, 0xff]).is_err());
            assert!(decode(&[0xdb, 0xff, 0xff, 0xff, 0xff]).is_err());
            assert!(decode(&[0xc9, 0xff, 0xff, 0xff, 0xff, 0x01]).is_err());
            assert!(decode(&[0xc1]).is_err());
            assert!(decode(&[0xa1, 0xff]).is_err());
            assert!(decode(&[0x01, 0x02]).is_err());
            let deep = vec![0x91; MAX_DEPTH + 5];
            assert!(decode(&deep).unwrap_err().reason.contains("deeper"));
        }
    }
}
