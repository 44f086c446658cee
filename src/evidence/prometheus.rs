//! Prometheus text exposition (format 0.0.4) and OpenMetrics 1.0 scanner,
//! with the UTF-8 names of Prometheus 3 and OpenMetrics 2.0.
//!
//! Owns the first stage of the evidence pipeline: turning the bytes of a
//! `/metrics` scrape into samples, family metadata (`# HELP`, `# TYPE`,
//! `# UNIT`) and a record of every line that was dropped, with its 1-based
//! line number and the reason. Later stages only ever see [`Exposition`].
//!
//! Design points:
//! - It never panics and never fails as a whole: a bad line is recorded in
//!   [`Exposition::dropped`] and scanning goes on with the next line.
//! - Every line is accounted for exactly once: as a sample, a metadata line, a
//!   plain comment, a blank line or a dropped line (see [`Exposition::lines`]).
//! - Metric names keep their `:` (`vllm:num_requests_running`), which some
//!   popular parsers silently drop.
//! - Names outside the classic grammar, such as the dotted names of OTel
//!   instruments exported without name translation, are read in their quoted
//!   form: the metric name as the first item of the label set
//!   (`{"lmcache_mp.l1_read_chunks_total", model_name="m"} 5`), label names
//!   where a key is expected (`foo{"my.label"="v"} 1`), and after `# HELP`,
//!   `# TYPE` and `# UNIT` (`# TYPE "a.b" counter`). Quoted names are escaped
//!   like label values and stored unquoted and unescaped, so `a.b` groups into
//!   families like any classic name. Unquoted names keep the classic grammar.
//!   Quotes are only looked for where a classic name cannot start, so lines
//!   without them take no extra work.
//! - It is built for fleet-sized scrapes (hundreds of MB): sample and label
//!   names are interned, label values are deduplicated against the previous
//!   sample's values at the same position and kept in one string arena, and
//!   no per-sample allocation happens.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

/// Limits that keep one hostile or broken scrape from exhausting memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseOptions {
    /// Lines longer than this (in bytes, without the line break) are dropped.
    pub max_line_len: usize,
    /// Samples with more labels than this are dropped.
    pub max_labels_per_series: usize,
    /// Sample lines past this many samples are dropped.
    pub max_samples: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            max_line_len: 1 << 20,
            max_labels_per_series: 128,
            max_samples: 20_000_000,
        }
    }
}

/// Which exposition format the input was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text004,
    /// OpenMetrics 1.0: chosen when a `# EOF` or `# UNIT` line or an exemplar
    /// is seen.
    OpenMetrics,
}

/// A metric family type, as written after `# TYPE name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    /// OpenMetrics `unknown`.
    Unknown,
    /// Text format `untyped`.
    Untyped,
}

impl MetricType {
    /// The spelling used in `# TYPE` lines.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
            MetricType::Untyped => "untyped",
        }
    }

    /// Reads a `# TYPE` spelling; both formats write types in lowercase only.
    pub fn parse(s: &str) -> Option<MetricType> {
        Some(match s {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "info" => MetricType::Info,
            "stateset" => MetricType::StateSet,
            "unknown" => MetricType::Unknown,
            "untyped" => MetricType::Untyped,
            _ => return None,
        })
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `# HELP`, `# TYPE` and `# UNIT` lines said about one family name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyMeta {
    pub name: String,
    pub kind: Option<MetricType>,
    /// Help text with `\\` and `\n` unescaped.
    pub help: Option<String>,
    pub unit: Option<String>,
    /// First line that mentioned this family (1-based).
    pub line: u32,
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Index into [`Exposition::names`].
    pub name: u32,
    /// Range in the exposition's label store; read it with
    /// [`Exposition::labels`] or [`Exposition::label`].
    pub labels: Range<u32>,
    pub value: f64,
    /// Milliseconds since the epoch: text-format timestamps are already
    /// milliseconds, OpenMetrics ones (seconds, maybe fractional) are converted.
    pub timestamp_ms: Option<i64>,
    /// 1-based source line.
    pub line: u32,
    /// Whether the line carried an exemplar (which is validated, not kept).
    pub exemplar: bool,
}

/// A line that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedLine {
    /// 1-based source line.
    pub line: u32,
    pub reason: DropReason,
    /// The first 80 characters of the line, invalid UTF-8 replaced.
    pub excerpt: String,
}

/// Why a line was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropReason {
    InvalidUtf8,
    LineTooLong {
        len: usize,
    },
    MissingValue,
    InvalidValue,
    InvalidMetricName,
    /// A metric name both before the label set and quoted inside it
    /// (`foo{"bar"} 1`), or quoted twice inside it.
    MetricNameTwice,
    UnterminatedLabelValue,
    InvalidLabel,
    /// A backslash in a label value or quoted name not followed by `\\`,
    /// `"` or `n`.
    InvalidEscape,
    DuplicateLabel,
    TooManyLabels {
        count: usize,
    },
    InvalidTimestamp,
    InvalidExemplar,
    /// Text after the value and timestamp that is not an exemplar.
    TrailingText,
    /// A `# HELP`, `# TYPE` or `# UNIT` line without a valid name, or with an
    /// unknown type.
    InvalidMetadata,
    SampleLimit,
    AfterEof,
    /// Everything past the first 4 GiB, recorded as one line.
    InputTooLarge {
        len: usize,
    },
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::InvalidUtf8 => f.write_str("invalid utf-8"),
            DropReason::LineTooLong { len } => write!(f, "line too long ({len} bytes)"),
            DropReason::MissingValue => f.write_str("missing value"),
            DropReason::InvalidValue => f.write_str("invalid value"),
            DropReason::InvalidMetricName => f.write_str("invalid metric name"),
            DropReason::MetricNameTwice => f.write_str("metric name given twice"),
            DropReason::UnterminatedLabelValue => f.write_str("unterminated label value"),
            DropReason::InvalidLabel => f.write_str("invalid label"),
            DropReason::InvalidEscape => f.write_str("invalid escape in quoted string"),
            DropReason::DuplicateLabel => f.write_str("duplicate label name"),
            DropReason::TooManyLabels { count } => write!(f, "too many labels ({count})"),
            DropReason::InvalidTimestamp => f.write_str("invalid timestamp"),
            DropReason::InvalidExemplar => f.write_str("invalid exemplar"),
            DropReason::TrailingText => f.write_str("unexpected text after value"),
            DropReason::InvalidMetadata => f.write_str("invalid help, type or unit line"),
            DropReason::SampleLimit => f.write_str("sample limit reached"),
            DropReason::AfterEof => f.write_str("line after # eof"),
            DropReason::InputTooLarge { len } => {
                write!(f, "input too large ({len} bytes past 4 GiB not read)")
            }
        }
    }
}

/// How a sample relates to its family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SampleRole {
    /// The sample name is the family name (gauges, text-format counters, ...).
    Value,
    Total,
    Created,
    Bucket,
    Sum,
    Count,
    GCount,
    GSum,
    Info,
}

/// One family with the indices (into [`Exposition::samples`]) of its samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyView {
    pub name: String,
    /// The declared type; `None` when no `# TYPE` line names the family.
    pub kind: Option<MetricType>,
    pub samples: Vec<u32>,
}

/// Whether a sample name is a creation timestamp (`_created`), including the
/// separate `_created` gauge families prometheus_client writes in text format.
pub fn is_created(name: &str) -> bool {
    name.ends_with("_created")
}

/// A label of the store: key index, and a value range in the string arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LabelEntry {
    key: u32,
    start: u32,
    len: u32,
}

/// A parsed exposition.
#[derive(Debug, Clone)]
pub struct Exposition {
    pub format: Format,
    /// Distinct sample names in first-seen order; [`Sample::name`] indexes it.
    pub names: Vec<String>,
    /// Samples in source order.
    pub samples: Vec<Sample>,
    /// One entry per family named by `# HELP`/`# TYPE`/`# UNIT`, first-seen order.
    pub metadata: Vec<FamilyMeta>,
    pub dropped: Vec<DroppedLine>,
    /// Lines seen. Always equals `samples.len() + dropped.len() +
    /// metadata_lines + comment_lines + blank_lines`.
    pub lines: u32,
    /// `# HELP`, `# TYPE`, `# UNIT` and `# EOF` lines that were used.
    pub metadata_lines: u32,
    /// Other `#` lines.
    pub comment_lines: u32,
    /// Empty or whitespace-only lines.
    pub blank_lines: u32,
    pub saw_eof: bool,
    /// What the body was, when it was not an exposition (set by the reader that
    /// kept it as an empty scrape, see [`Body::of`]).
    pub body: Body,
    keys: Vec<String>,
    label_store: Vec<LabelEntry>,
    text: String,
    name_index: HashMap<Box<[u8]>, u32>,
    meta_index: HashMap<String, u32>,
    /// Per name: some sample of it has an `le` label (histogram inference).
    name_has_le: Vec<bool>,
}

impl Exposition {
    /// The sample's metric name.
    pub fn name(&self, s: &Sample) -> &str {
        self.names.get(s.name as usize).map_or("", String::as_str)
    }

    /// The sample's labels in source order, values unescaped.
    pub fn labels<'a>(&'a self, s: &Sample) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let range = s.labels.start as usize..s.labels.end as usize;
        self.label_store
            .get(range)
            .unwrap_or(&[])
            .iter()
            .map(move |e| (self.key_str(e.key), self.value_str(e)))
    }

    /// The sample's labels as interned key ids (see [`Exposition::key_id`]).
    pub fn label_ids<'a>(&'a self, s: &Sample) -> impl Iterator<Item = (u32, &'a str)> + 'a {
        let range = s.labels.start as usize..s.labels.end as usize;
        self.label_store
            .get(range)
            .unwrap_or(&[])
            .iter()
            .map(move |e| (e.key, self.value_str(e)))
    }

    /// The interned id of a label key, when any sample carries it: scans over
    /// every sample compare ids, not text.
    pub fn key_id(&self, key: &str) -> Option<u32> {
        self.keys.iter().position(|k| k == key).map(|i| i as u32)
    }

    /// One label value of the sample.
    pub fn label(&self, s: &Sample, key: &str) -> Option<&str> {
        self.labels(s).find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Metadata of one family name.
    pub fn meta(&self, family: &str) -> Option<&FamilyMeta> {
        self.meta_index
            .get(family)
            .and_then(|&i| self.metadata.get(i as usize))
    }

    fn key_str(&self, key: u32) -> &str {
        self.keys.get(key as usize).map_or("", String::as_str)
    }

    fn value_str(&self, e: &LabelEntry) -> &str {
        let start = e.start as usize;
        self.text.get(start..start + e.len as usize).unwrap_or("")
    }

    fn declared(&self, name: &str) -> Option<MetricType> {
        self.meta(name).and_then(|m| m.kind)
    }

    fn has_le(&self, name: &str) -> bool {
        self.name_index
            .get(name.as_bytes())
            .and_then(|&i| self.name_has_le.get(i as usize))
            .copied()
            .unwrap_or(false)
    }

    /// The family a sample name belongs to, and the sample's role in it.
    ///
    /// In order: a `# TYPE` for the exact name wins (so the `foo_created`
    /// gauge families that prometheus_client writes stay their own families,
    /// and a histogram named `..._total` keeps its name); then the name minus
    /// a suffix its type allows, if that base is declared with such a type;
    /// then a `# HELP`/`# UNIT` for the exact name; then, when the base has
    /// no `# TYPE`, `_bucket` with an `le` label (and its `_sum`/`_count`/
    /// `_created`) is a histogram sample of the base, `_total` (and its
    /// `_created`) a counter sample of the base; anything else is its own
    /// family.
    pub fn family_of(&self, sample_name: &str) -> (String, SampleRole) {
        let own = |role| (sample_name.to_owned(), role);
        if self.declared(sample_name).is_some() {
            return own(SampleRole::Value);
        }
        for &(suffix, role, kinds) in SUFFIXES {
            if let Some(base) = sample_name.strip_suffix(suffix) {
                if self.declared(base).is_some_and(|k| kinds.contains(&k)) {
                    return (base.to_owned(), role);
                }
            }
        }
        let created_base = sample_name.strip_suffix("_created");
        if let Some(base) = created_base {
            // Text-format counters are declared with their `_total` name.
            let total = format!("{base}_total");
            if self.declared(&total) == Some(MetricType::Counter) {
                return (total, SampleRole::Created);
            }
        }
        if self.meta(sample_name).is_some() {
            return own(SampleRole::Value);
        }
        // Inference never joins a base declared with a type that does not
        // allow the suffix (handled above).
        let undeclared = |base: &str| self.declared(base).is_none();
        if let Some(base) = sample_name.strip_suffix("_bucket") {
            if undeclared(base) && self.has_le(sample_name) {
                return (base.to_owned(), SampleRole::Bucket);
            }
        }
        for (suffix, role) in [
            ("_sum", SampleRole::Sum),
            ("_count", SampleRole::Count),
            ("_created", SampleRole::Created),
        ] {
            if let Some(base) = sample_name.strip_suffix(suffix) {
                if undeclared(base) && self.has_le(&format!("{base}_bucket")) {
                    return (base.to_owned(), role);
                }
            }
        }
        if let Some(base) = sample_name.strip_suffix("_total") {
            if undeclared(base) {
                return (base.to_owned(), SampleRole::Total);
            }
        }
        if let Some(base) = created_base {
            if undeclared(base)
                && self
                    .name_index
                    .contains_key(format!("{base}_total").as_bytes())
            {
                return (base.to_owned(), SampleRole::Created);
            }
        }
        own(SampleRole::Value)
    }

    /// How many families [`Exposition::families`] returns, without gathering their
    /// samples.
    pub fn family_count(&self) -> usize {
        let mut seen: std::collections::HashSet<String> =
            self.metadata.iter().map(|m| m.name.clone()).collect();
        for n in &self.names {
            seen.insert(self.family_of(n).0);
        }
        seen.len()
    }

    /// Every family, declared or inferred from sample names (see
    /// [`Exposition::family_of`]), in order of first appearance, with its
    /// declared type and its samples in source order. Declared families
    /// without samples are included.
    pub fn families(&self) -> Vec<FamilyView> {
        self.families_and_roles().0
    }

    /// [`Exposition::families`], and the role of each distinct sample name
    /// ([`Exposition::names`] order), from one pass of [`Exposition::family_of`].
    pub fn families_and_roles(&self) -> (Vec<FamilyView>, Vec<SampleRole>) {
        let mut roles: Vec<SampleRole> = Vec::with_capacity(self.names.len());
        let mut views: Vec<FamilyView> = Vec::with_capacity(self.metadata.len());
        let mut first_line: Vec<u32> = Vec::with_capacity(self.metadata.len());
        // FxHash: built for every scrape `summarize` reads; the keys are metric names.
        let mut by_name: HashMap<String, usize, rustc_hash::FxBuildHasher> =
            HashMap::with_capacity_and_hasher(self.metadata.len(), Default::default());
        for m in &self.metadata {
            by_name.insert(m.name.clone(), views.len());
            views.push(FamilyView {
                name: m.name.clone(),
                kind: m.kind,
                samples: Vec::new(),
            });
            first_line.push(m.line);
        }
        let family_of_name: Vec<usize> = self
            .names
            .iter()
            .map(|n| {
                let (family, role) = self.family_of(n);
                roles.push(role);
                *by_name.entry(family).or_insert_with_key(|family| {
                    views.push(FamilyView {
                        name: family.clone(),
                        kind: self.declared(family),
                        samples: Vec::new(),
                    });
                    first_line.push(u32::MAX);
                    views.len() - 1
                })
            })
            .collect();
        for (i, s) in self.samples.iter().enumerate() {
            if let Some(&f) = family_of_name.get(s.name as usize) {
                views[f].samples.push(i as u32);
                first_line[f] = first_line[f].min(s.line);
            }
        }
        let mut order: Vec<usize> = (0..views.len()).collect();
        order.sort_by_key(|&i| first_line[i]);
        let mut slots: Vec<Option<FamilyView>> = views.into_iter().map(Some).collect();
        let views = order.into_iter().filter_map(|i| slots[i].take()).collect();
        (views, roles)
    }
}

/// Suffixes a typed family's samples may carry, the role they give, and the
/// family types that allow them.
const SUFFIXES: &[(&str, SampleRole, &[MetricType])] = &[
    ("_total", SampleRole::Total, &[MetricType::Counter]),
    (
        "_created",
        SampleRole::Created,
        &[
            MetricType::Counter,
            MetricType::Histogram,
            MetricType::Summary,
        ],
    ),
    (
        "_bucket",
        SampleRole::Bucket,
        &[MetricType::Histogram, MetricType::GaugeHistogram],
    ),
    (
        "_sum",
        SampleRole::Sum,
        &[MetricType::Histogram, MetricType::Summary],
    ),
    (
        "_count",
        SampleRole::Count,
        &[MetricType::Histogram, MetricType::Summary],
    ),
    ("_gcount", SampleRole::GCount, &[MetricType::GaugeHistogram]),
    ("_gsum", SampleRole::GSum, &[MetricType::GaugeHistogram]),
    ("_info", SampleRole::Info, &[MetricType::Info]),
];

/// Parses an exposition. Never panics and never fails: unusable lines end up
/// in [`Exposition::dropped`].
pub fn parse(input: &[u8], opts: &ParseOptions) -> Exposition {
    parse_limited(input, opts, u32::MAX as usize)
}

/// [`parse`] with the byte limit past which input is not read. The real limit
/// is 4 GiB: it bounds every `u32` the scanner keeps (line numbers, arena
/// offsets, label store indices), so their casts cannot truncate. Tests
/// lower it.
fn parse_limited(input: &[u8], opts: &ParseOptions, limit: usize) -> Exposition {
    let cut = if input.len() > limit {
        memchr::memrchr(b'\n', &input[..limit]).map_or(0, |i| i + 1)
    } else {
        input.len()
    };
    let (body, rest) = input.split_at(cut);
    let mut sc = Scanner::new(body, opts);
    sc.run(body);
    if !rest.is_empty() {
        sc.out.lines += 1;
        let line = sc.out.lines;
        sc.drop_line(line, rest, DropReason::InputTooLarge { len: rest.len() });
    }
    sc.finish()
}

const NAME_START: u8 = 1;
const NAME_CHAR: u8 = 2;
const LABEL_START: u8 = 4;
const LABEL_CHAR: u8 = 8;

/// Byte classes: metric names are `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names
/// `[a-zA-Z_][a-zA-Z0-9_]*`.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let alpha = c.is_ascii_alphabetic() || c == b'_';
        let digit = c.is_ascii_digit();
        if alpha || c == b':' {
            t[b] |= NAME_START | NAME_CHAR;
        }
        if digit {
            t[b] |= NAME_CHAR | LABEL_CHAR;
        }
        if alpha {
            t[b] |= LABEL_START | LABEL_CHAR;
        }
        b += 1;
    }
    t
};

#[inline]
fn class(b: u8, c: u8) -> bool {
    CLASS[b as usize] & c != 0
}

#[inline]
fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

#[inline]
fn skip_ws(l: &[u8], mut i: usize) -> usize {
    while i < l.len() && is_ws(l[i]) {
        i += 1;
    }
    i
}

/// End of the token starting at `i` (the next space, tab or end of line).
#[inline]
fn token_end(l: &[u8], mut i: usize) -> usize {
    while i < l.len() && !is_ws(l[i]) {
        i += 1;
    }
    i
}

/// Slice equality for the short names and values compared on every line:
/// word-at-a-time and inlined, where `==` would call `memcmp`.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        if word(x) != word(y) {
            return false;
        }
    }
    let (ra, rb) = (ca.remainder(), cb.remainder());
    let mut diff = 0u8;
    for i in 0..ra.len() {
        diff |= ra[i] ^ rb[i];
    }
    diff == 0
}

#[inline]
fn word(chunk: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(chunk);
    u64::from_ne_bytes(w)
}

fn trim_ws(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_ws(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_ws(*last) {
            break;
        }
        s = rest;
    }
    s
}

fn excerpt(line: &[u8]) -> String {
    // 80 characters are at most 320 bytes of UTF-8.
    let head = &line[..line.len().min(320)];
    String::from_utf8_lossy(head).chars().take(80).collect()
}

/// The scanner's working state; `out` becomes the result.
struct Scanner<'o> {
    opts: &'o ParseOptions,
    /// The whole input is valid UTF-8, so lines need no check of their own.
    all_utf8: bool,
    out: Exposition,
    /// Label values, unescaped; becomes `out.text`.
    arena: Vec<u8>,
    key_index: HashMap<Box<[u8]>, u32>,
    le_key: Option<u32>,
    /// Consecutive samples mostly share their name, label keys and most label
    /// values, so each is first compared with the previous sample's.
    prev_name: Option<u32>,
    /// The last name read in quoted form, which may be outside the classic
    /// grammar.
    prev_quoted: Option<u32>,
    prev: Vec<Prev>,
    /// How many leading entries of `prev` are known to have distinct keys.
    prev_distinct: usize,
    /// Samples whose timestamp was an integer: milliseconds in text format but
    /// seconds in OpenMetrics, which is only known at the end.
    int_timestamps: Vec<u32>,
    saw_exemplar: bool,
    saw_unit: bool,
    /// Label keys of the sample being read, for the duplicate check.
    dup_scratch: Vec<u32>,
    /// A quoted name being unescaped.
    scratch: Vec<u8>,
}

impl<'o> Scanner<'o> {
    fn new(body: &[u8], opts: &'o ParseOptions) -> Self {
        // Expected shape of fleet scrapes: ~150 bytes a line, ~4 labels each.
        let samples = (body.len() / 128 + 16).min(opts.max_samples.saturating_add(1));
        Scanner {
            opts,
            all_utf8: std::str::from_utf8(body).is_ok(),
            out: Exposition {
                format: Format::Text004,
                names: Vec::new(),
                samples: Vec::with_capacity(samples),
                metadata: Vec::new(),
                dropped: Vec::new(),
                lines: 0,
                metadata_lines: 0,
                comment_lines: 0,
                blank_lines: 0,
                saw_eof: false,
                body: Body::default(),
                keys: Vec::new(),
                label_store: Vec::with_capacity(samples.saturating_mul(4)),
                text: String::new(),
                name_index: HashMap::new(),
                meta_index: HashMap::new(),
                name_has_le: Vec::new(),
            },
            arena: Vec::with_capacity(body.len() / 64),
            key_index: HashMap::new(),
            le_key: None,
            prev_name: None,
            prev_quoted: None,
            prev: Vec::new(),
            prev_distinct: 0,
            int_timestamps: Vec::new(),
            saw_exemplar: false,
            saw_unit: false,
            dup_scratch: Vec::new(),
            scratch: Vec::new(),
        }
    }

    fn run(&mut self, body: &[u8]) {
        // A byte order mark left by an editor would otherwise spoil line 1.
        let mut pos = if body.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        while pos < body.len() {
            let end = memchr::memchr(b'\n', &body[pos..]).map_or(body.len(), |i| pos + i);
            // The body is at most 4 GiB and every line has at least one byte
            // or a line break, so the count fits in u32.
            self.out.lines += 1;
            self.line(&body[pos..end], self.out.lines);
            pos = end + 1;
        }
    }

    fn drop_line(&mut self, line: u32, text: &[u8], reason: DropReason) {
        self.out.dropped.push(DroppedLine {
            line,
            reason,
            excerpt: excerpt(text),
        });
    }

    fn line(&mut self, raw: &[u8], lineno: u32) {
        let l = raw.strip_suffix(b"\r").unwrap_or(raw);
        let Some(first) = l.iter().position(|&b| !is_ws(b)) else {
            self.out.blank_lines += 1;
            return;
        };
        if self.out.saw_eof {
            return self.drop_line(lineno, l, DropReason::AfterEof);
        }
        if l.len() > self.opts.max_line_len {
            return self.drop_line(lineno, l, DropReason::LineTooLong { len: l.len() });
        }
        let body = &l[first..];
        if !self.all_utf8 && std::str::from_utf8(l).is_err() {
            // A plain comment may hold anything; nothing of it is kept.
            if body[0] == b'#' && directive(body).is_none() {
                self.out.comment_lines += 1;
                return;
            }
            return self.drop_line(lineno, l, DropReason::InvalidUtf8);
        }
        if body[0] == b'#' {
            return match self.comment(body, lineno) {
                Ok(()) => {}
                Err(reason) => self.drop_line(lineno, l, reason),
            };
        }
        if self.out.samples.len() >= self.opts.max_samples {
            return self.drop_line(lineno, l, DropReason::SampleLimit);
        }
        let (labels_mark, arena_mark) = (self.out.label_store.len(), self.arena.len());
        if let Err(reason) = self.sample(body, lineno) {
            self.out.label_store.truncate(labels_mark);
            self.arena.truncate(arena_mark);
            // The caches may point at what was just truncated.
            self.prev.clear();
            self.prev_distinct = 0;
            self.drop_line(lineno, l, reason);
        }
    }

    /// A line starting with `#`.
    fn comment(&mut self, l: &[u8], lineno: u32) -> Result<(), DropReason> {
        let Some((kind, rest)) = directive(l) else {
            self.out.comment_lines += 1;
            return Ok(());
        };
        if kind == Directive::Eof {
            self.out.saw_eof = true;
            self.out.metadata_lines += 1;
            return Ok(());
        }
        let rest = trim_ws(rest);
        let (name, after) = if rest.first() == Some(&b'"') {
            self.scratch.clear();
            let close = unescape_into(rest, 1, Some(&mut self.scratch))
                .map_err(|_| DropReason::InvalidMetadata)?;
            (self.scratch.as_slice(), &rest[close + 1..])
        } else {
            let name_end = rest.iter().position(|&b| is_ws(b)).unwrap_or(rest.len());
            let name = &rest[..name_end];
            if !valid_metric_name(name) {
                return Err(DropReason::InvalidMetadata);
            }
            (name, &rest[name_end..])
        };
        // `# TYPE "a.b"counter` and `# HELP ""` name nothing usable.
        if name.is_empty() || after.first().is_some_and(|&b| !is_ws(b)) {
            return Err(DropReason::InvalidMetadata);
        }
        let name = utf8_string(name);
        let text = trim_ws(after);
        let mut meta_kind = None;
        if kind == Directive::Type {
            let t = std::str::from_utf8(text).map_err(|_| DropReason::InvalidUtf8)?;
            meta_kind = Some(MetricType::parse(t).ok_or(DropReason::InvalidMetadata)?);
        }
        let idx = match self.out.meta_index.get(&name) {
            Some(&i) => i as usize,
            None => {
                let i = self.out.metadata.len();
                self.out.meta_index.insert(name.clone(), i as u32);
                self.out.metadata.push(FamilyMeta {
                    name,
                    kind: None,
                    help: None,
                    unit: None,
                    line: lineno,
                });
                i
            }
        };
        let meta = &mut self.out.metadata[idx];
        // A repeated declaration is ignored: the first one wins.
        match kind {
            Directive::Help => {
                meta.help.get_or_insert_with(|| unescape_help(text));
            }
            Directive::Type => {
                if meta.kind.is_none() {
                    meta.kind = meta_kind;
                }
            }
            Directive::Unit => {
                self.saw_unit = true;
                meta.unit
                    .get_or_insert_with(|| String::from_utf8_lossy(text).into_owned());
            }
            Directive::Eof => {}
        }
        self.out.metadata_lines += 1;
        Ok(())
    }

    fn sample(&mut self, l: &[u8], lineno: u32) -> Result<(), DropReason> {
        let n = l.len();
        let (name, name_end, in_braces) = self.sample_name(l)?;
        let labels_start = self.out.label_store.len() as u32;
        let mut i = skip_ws(l, name_end);
        if in_braces {
            i = skip_ws(l, self.labels(l, name_end, Some(name))?);
        } else if i < n && l[i] == b'{' {
            i = skip_ws(l, self.labels(l, i + 1, Some(name))?);
        } else if i == name_end && i < n {
            // Neither space nor `{` after the name: a character names cannot hold.
            return Err(DropReason::InvalidMetricName);
        }
        if i >= n {
            return Err(DropReason::MissingValue);
        }
        let value_end = token_end(l, i);
        let value = parse_float(&l[i..value_end]).ok_or(DropReason::InvalidValue)?;
        i = skip_ws(l, value_end);
        let mut timestamp_ms = None;
        let mut int_timestamp = false;
        if i < n && l[i] != b'#' {
            let end = token_end(l, i);
            let (ms, is_int) = parse_timestamp(&l[i..end]).ok_or(DropReason::InvalidTimestamp)?;
            timestamp_ms = Some(ms);
            int_timestamp = is_int;
            i = skip_ws(l, end);
        }
        let mut exemplar = false;
        if i < n {
            if l[i] != b'#' {
                return Err(DropReason::TrailingText);
            }
            self.exemplar(&l[i + 1..])
                .map_err(|_| DropReason::InvalidExemplar)?;
            exemplar = true;
            self.saw_exemplar = true;
        }
        let index = self.out.samples.len() as u32;
        if int_timestamp {
            self.int_timestamps.push(index);
        }
        self.out.samples.push(Sample {
            name,
            labels: labels_start..self.out.label_store.len() as u32,
            value,
            timestamp_ms,
            line: lineno,
            exemplar,
        });
        Ok(())
    }

    /// The metric name at the start of `l`: its index, its end, and whether
    /// it was quoted inside the label set, whose labels then go on from the
    /// end.
    fn sample_name(&mut self, l: &[u8]) -> Result<(u32, usize, bool), DropReason> {
        if let Some(p) = self.prev_name {
            let prev = self.out.names[p as usize].as_bytes();
            if l.len() > prev.len()
                && same_bytes(&l[..prev.len()], prev)
                && !class(l[prev.len()], NAME_CHAR)
            {
                return Ok((p, prev.len(), false));
            }
        }
        if !class(l[0], NAME_START) {
            if l[0] == b'{' {
                let (id, labels_at) = self.braced_name(l)?;
                return Ok((id, labels_at, true));
            }
            return Err(DropReason::InvalidMetricName);
        }
        let mut end = 1;
        while end < l.len() && class(l[end], NAME_CHAR) {
            end += 1;
        }
        let id = self.intern_name(&l[..end]);
        self.prev_name = Some(id);
        Ok((id, end, false))
    }

    /// A metric name quoted as the first item of the label set that opens
    /// `l` (`{"a.b", x="y"} 1`): its index, and where the labels go on (past
    /// the comma after it, or at the closing `}`).
    // Out of line, like `quoted_key`: the hot loops stay as small as before.
    #[cold]
    #[inline(never)]
    fn braced_name(&mut self, l: &[u8]) -> Result<(u32, usize), DropReason> {
        let i = skip_ws(l, 1);
        if l.get(i) != Some(&b'"') {
            return Err(DropReason::InvalidMetricName);
        }
        let mut name = std::mem::take(&mut self.scratch);
        name.clear();
        let read = match unescape_into(l, i + 1, Some(&mut name)) {
            Ok(close) if !name.is_empty() => Ok((close, self.quoted_name_id(&name))),
            Err(DropReason::InvalidEscape) => Err(DropReason::InvalidEscape),
            _ => Err(DropReason::InvalidMetricName),
        };
        self.scratch = name;
        let (close, id) = read?;
        let j = skip_ws(l, close + 1);
        let labels_at = match l.get(j) {
            Some(b',') => j + 1,
            Some(b'}') => j,
            // `{"a.b"="c"} 1`: a quoted label name, and no metric name.
            Some(b'=') => return Err(DropReason::InvalidMetricName),
            _ => return Err(DropReason::InvalidLabel),
        };
        Ok((id, labels_at))
    }

    /// The index of an unquoted, unescaped name read from its quoted form.
    fn quoted_name_id(&mut self, name: &[u8]) -> u32 {
        // Consecutive samples mostly share their name, quoted or not.
        if let Some(p) = self.prev_quoted {
            if same_bytes(self.out.names[p as usize].as_bytes(), name) {
                return p;
            }
        }
        let id = self.intern_name(name);
        self.prev_quoted = Some(id);
        // `prev_name` is matched unquoted at the start of lines, so it only
        // ever holds a classic name.
        if valid_metric_name(name) {
            self.prev_name = Some(id);
        }
        id
    }

    fn intern_name(&mut self, name: &[u8]) -> u32 {
        if let Some(&id) = self.out.name_index.get(name) {
            return id;
        }
        let id = self.out.names.len() as u32;
        self.out.name_index.insert(name.into(), id);
        self.out.names.push(utf8_string(name));
        self.out.name_has_le.push(false);
        id
    }

    /// Reads a label set from `l[i]`, just past its `{` (or past the comma
    /// after a quoted metric name); returns the index after the closing `}`.
    /// With `store` set (the sample's name), labels go to the label store;
    /// without (exemplars), they are only checked.
    fn labels(&mut self, l: &[u8], mut i: usize, store: Option<u32>) -> Result<usize, DropReason> {
        let n = l.len();
        let mut count = 0usize;
        // Whether every key so far was the previous sample's key at that place.
        let mut same_keys = true;
        loop {
            i = skip_ws(l, i);
            if i >= n {
                return Err(DropReason::InvalidLabel);
            }
            if l[i] == b'}' {
                i += 1;
                break;
            }
            let hint = match store {
                Some(_) => self.prev.get(count).copied(),
                None => None,
            };
            let key_start = i;
            let mut key_hit = None;
            // Whether the key is a classic label name, so that the next
            // sample may write it unquoted.
            let mut bare = true;
            if let Some(h) = hint.filter(|h| h.bare) {
                let key = self.out.keys[h.key as usize].as_bytes();
                let end = i + key.len();
                if end < n && same_bytes(&l[i..end], key) && !class(l[end], LABEL_CHAR) {
                    key_hit = Some(h.key);
                    i = end;
                }
            }
            if key_hit.is_none() {
                same_keys = false;
                if class(l[i], LABEL_START) {
                    i += 1;
                    while i < n && class(l[i], LABEL_CHAR) {
                        i += 1;
                    }
                } else if l[i] == b'"' {
                    (i, key_hit, bare) = self.quoted_key(l, i, store.is_some())?;
                } else {
                    return Err(DropReason::InvalidLabel);
                }
            }
            let key_end = i;
            i = skip_ws(l, i);
            if i >= n || l[i] != b'=' {
                return Err(DropReason::InvalidLabel);
            }
            i = skip_ws(l, i + 1);
            if i >= n || l[i] != b'"' {
                return Err(DropReason::InvalidLabel);
            }
            i += 1;
            let value_start = i;
            // Most values repeat the previous sample's value at this place;
            // a plain one (stored as written) can be matched without scanning.
            let mut value = None;
            if let Some(h) = hint.filter(|h| h.plain) {
                let end = i + h.len as usize;
                if end < n
                    && l[end] == b'"'
                    && self
                        .arena_slice(h.start, h.len)
                        .is_some_and(|p| same_bytes(p, &l[i..end]))
                {
                    value = Some((h.start, h.len, true));
                    i = end + 1;
                }
            }
            if value.is_none() {
                while i < n && l[i] != b'"' && l[i] != b'\\' {
                    i += 1;
                }
                if i >= n {
                    return Err(DropReason::UnterminatedLabelValue);
                }
                if l[i] == b'"' {
                    if store.is_some() {
                        let start = self.arena.len() as u32;
                        self.arena.extend_from_slice(&l[value_start..i]);
                        value = Some((start, (i - value_start) as u32, true));
                    }
                    i += 1;
                } else {
                    let start = self.arena.len();
                    let keep = store.is_some().then_some(&mut self.arena);
                    i = unescape_into(l, value_start, keep)? + 1;
                    if store.is_some() {
                        value = Some(self.dedupe_escaped(start, hint));
                    }
                }
            }
            if let (Some(name), Some((start, len, plain))) = (store, value) {
                let key = match key_hit {
                    Some(k) => k,
                    None => self.intern_key(&l[key_start..key_end]),
                };
                if Some(key) == self.le_key {
                    self.out.name_has_le[name as usize] = true;
                }
                let entry = Prev {
                    key,
                    start,
                    len,
                    plain,
                    bare,
                };
                match self.prev.get_mut(count) {
                    Some(p) => *p = entry,
                    None => self.prev.push(entry),
                }
                self.out.label_store.push(LabelEntry { key, start, len });
            }
            count += 1;
            i = skip_ws(l, i);
            if i < n && l[i] == b',' {
                i += 1;
                continue;
            }
            if i < n && l[i] == b'}' {
                i += 1;
                break;
            }
            return Err(DropReason::InvalidLabel);
        }
        if store.is_some() {
            if count > self.opts.max_labels_per_series {
                return Err(DropReason::TooManyLabels { count });
            }
            // The previous sample's keys were checked already.
            if !(same_keys && count <= self.prev_distinct) {
                self.check_duplicates(count)?;
            }
            self.prev_distinct = count;
        }
        Ok(i)
    }

    /// A label name quoted where a key is expected (`"my.label"="v"`),
    /// starting at the `"` at `l[i]`: the index after its closing quote, its
    /// key (interned only when `keep` is set), and whether it is a classic
    /// label name.
    #[cold]
    #[inline(never)]
    fn quoted_key(
        &mut self,
        l: &[u8],
        i: usize,
        keep: bool,
    ) -> Result<(usize, Option<u32>, bool), DropReason> {
        let mut key = std::mem::take(&mut self.scratch);
        key.clear();
        let read = match unescape_into(l, i + 1, Some(&mut key)) {
            Ok(close) if !key.is_empty() => Ok((close, keep.then(|| self.intern_key(&key)))),
            Err(DropReason::InvalidEscape) => Err(DropReason::InvalidEscape),
            _ => Err(DropReason::InvalidLabel),
        };
        let bare = valid_name(&key, LABEL_START, LABEL_CHAR);
        self.scratch = key;
        let (close, key) = read?;
        // A quoted string followed by `,` or `}` is a metric name, and this
        // line has one already: before the braces or first inside them.
        if matches!(l.get(skip_ws(l, close + 1)), Some(b',' | b'}')) {
            return Err(DropReason::MetricNameTwice);
        }
        Ok((close + 1, key, bare))
    }

    /// An unescaped value just appended to the arena from `start`: reuse the
    /// previous sample's copy when it is the same.
    fn dedupe_escaped(&mut self, start: usize, hint: Option<Prev>) -> (u32, u32, bool) {
        let len = (self.arena.len() - start) as u32;
        if let Some(h) = hint.filter(|h| !h.plain && (h.start as usize) < start) {
            if self.arena_slice(h.start, h.len) == self.arena.get(start..) {
                self.arena.truncate(start);
                return (h.start, h.len, false);
            }
        }
        (start as u32, len, false)
    }

    fn arena_slice(&self, start: u32, len: u32) -> Option<&[u8]> {
        let start = start as usize;
        self.arena.get(start..start + len as usize)
    }

    fn intern_key(&mut self, key: &[u8]) -> u32 {
        if let Some(&k) = self.key_index.get(key) {
            return k;
        }
        let k = self.out.keys.len() as u32;
        self.key_index.insert(key.into(), k);
        self.out.keys.push(utf8_string(key));
        if key == b"le" {
            self.le_key = Some(k);
        }
        k
    }

    /// Label names of one sample must be distinct. The last `count` entries of
    /// the store are the sample's labels.
    fn check_duplicates(&mut self, count: usize) -> Result<(), DropReason> {
        let store = &self.out.label_store;
        let labels = &store[store.len() - count..];
        let duplicate = if count <= 16 {
            labels
                .iter()
                .enumerate()
                .any(|(i, a)| labels[..i].iter().any(|b| a.key == b.key))
        } else {
            self.dup_scratch.clear();
            self.dup_scratch.extend(labels.iter().map(|e| e.key));
            self.dup_scratch.sort_unstable();
            self.dup_scratch.windows(2).any(|w| w[0] == w[1])
        };
        if duplicate {
            Err(DropReason::DuplicateLabel)
        } else {
            Ok(())
        }
    }

    /// `# {labels} value [timestamp]` after a sample's value.
    fn exemplar(&mut self, l: &[u8]) -> Result<(), DropReason> {
        let mut i = skip_ws(l, 0);
        if i >= l.len() || l[i] != b'{' {
            return Err(DropReason::InvalidExemplar);
        }
        i = skip_ws(l, self.labels(l, i + 1, None)?);
        let end = token_end(l, i);
        parse_float(&l[i..end]).ok_or(DropReason::InvalidExemplar)?;
        i = skip_ws(l, end);
        if i < l.len() {
            let end = token_end(l, i);
            parse_timestamp(&l[i..end]).ok_or(DropReason::InvalidExemplar)?;
            if skip_ws(l, end) < l.len() {
                return Err(DropReason::InvalidExemplar);
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Exposition {
        let mut out = self.out;
        if out.saw_eof || self.saw_unit || self.saw_exemplar {
            out.format = Format::OpenMetrics;
            for &i in &self.int_timestamps {
                if let Some(ts) = out.samples[i as usize].timestamp_ms.as_mut() {
                    *ts = ts.saturating_mul(1000);
                }
            }
        }
        out.text = String::from_utf8(std::mem::take(&mut self.arena)).unwrap_or_else(|e| {
            // Unreachable: values are cut at ASCII delimiters from validated
            // lines. Keep going rather than panic; values may read as "".
            String::from_utf8_lossy(e.as_bytes()).into_owned()
        });
        out.samples.shrink_to_fit();
        out.label_store.shrink_to_fit();
        out
    }
}

/// A label of the previous sample at some place in its label set. `plain`
/// values were stored as written, without escapes; `bare` keys are classic
/// label names, the only ones that may be matched unquoted.
#[derive(Debug, Clone, Copy)]
struct Prev {
    key: u32,
    start: u32,
    len: u32,
    plain: bool,
    bare: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Directive {
    Help,
    Type,
    Unit,
    Eof,
}

/// Splits `# HELP`/`# TYPE`/`# UNIT`/`# EOF` lines into kind and rest; other
/// comments give `None`.
fn directive(l: &[u8]) -> Option<(Directive, &[u8])> {
    let rest = &l[skip_ws(l, 1)..];
    let word_end = token_end(rest, 0);
    let (word, after) = rest.split_at(word_end);
    let kind = match word {
        b"HELP" => Directive::Help,
        b"TYPE" => Directive::Type,
        b"UNIT" => Directive::Unit,
        b"EOF" if trim_ws(after).is_empty() => Directive::Eof,
        _ => return None,
    };
    Some((kind, after))
}

fn valid_metric_name(name: &[u8]) -> bool {
    valid_name(name, NAME_START, NAME_CHAR)
}

/// Whether `name` is in the classic grammar of metric names (`NAME_START`,
/// `NAME_CHAR`) or label names (`LABEL_START`, `LABEL_CHAR`).
fn valid_name(name: &[u8], start: u8, rest: u8) -> bool {
    match name.split_first() {
        Some((&first, tail)) => class(first, start) && tail.iter().all(|&b| class(b, rest)),
        None => false,
    }
}

/// A quoted string (label value or quoted name) starting at `l[start]`, just
/// past its opening quote: checks its escapes (`\\`, `\"`, `\n`) and, when
/// `out` is given, appends it unescaped. Returns the index of the closing
/// quote.
fn unescape_into(
    l: &[u8],
    start: usize,
    mut out: Option<&mut Vec<u8>>,
) -> Result<usize, DropReason> {
    let mut i = start;
    let mut run = start;
    while i < l.len() {
        match l[i] {
            b'"' => {
                if let Some(out) = out {
                    out.extend_from_slice(&l[run..i]);
                }
                return Ok(i);
            }
            b'\\' => {
                let unescaped = match l.get(i + 1) {
                    Some(b'\\') => b'\\',
                    Some(b'"') => b'"',
                    Some(b'n') => b'\n',
                    Some(_) => return Err(DropReason::InvalidEscape),
                    None => return Err(DropReason::UnterminatedLabelValue),
                };
                if let Some(out) = out.as_deref_mut() {
                    out.extend_from_slice(&l[run..i]);
                    out.push(unescaped);
                }
                i += 2;
                run = i;
            }
            _ => i += 1,
        }
    }
    Err(DropReason::UnterminatedLabelValue)
}

/// Names and keys come from lines already checked to be UTF-8, and unescaping
/// only replaces ASCII with ASCII, so the replacement never happens.
fn utf8_string(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Help text: `\\` and `\n` are escapes; any other backslash stays as written.
fn unescape_help(text: &[u8]) -> String {
    let s = String::from_utf8_lossy(text);
    if !s.contains('\\') {
        return s.into_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.clone().next() {
            Some('\\') => {
                out.push('\\');
                chars.next();
            }
            Some('n') => {
                out.push('\n');
                chars.next();
            }
            _ => out.push('\\'),
        }
    }
    out
}

const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A sample value: what Go's `strconv.ParseFloat` accepts for Prometheus,
/// minus hexadecimal forms (`0x1p3`), which no exporter writes.
fn parse_float(tok: &[u8]) -> Option<f64> {
    if let Some(v) = fast_decimal(tok) {
        return Some(v);
    }
    std::str::from_utf8(tok).ok()?.parse::<f64>().ok()
}

/// Decimal numbers with at most 15 significant digits and a small exponent,
/// which cover nearly every exposition value. Such a mantissa and power of
/// ten are exact in f64, so one multiplication or division rounds correctly
/// (Clinger's fast path); anything else returns `None` for the general parser.
fn fast_decimal(t: &[u8]) -> Option<f64> {
    let (neg, mut i) = match t.first()? {
        b'-' => (true, 1),
        b'+' => (false, 1),
        _ => (false, 0),
    };
    let mut mantissa: u64 = 0;
    let mut digits = 0usize;
    while i < t.len() && t[i].is_ascii_digit() {
        mantissa = mantissa
            .wrapping_mul(10)
            .wrapping_add(u64::from(t[i] - b'0'));
        digits += 1;
        i += 1;
    }
    let mut frac = 0i32;
    if i < t.len() && t[i] == b'.' {
        i += 1;
        while i < t.len() && t[i].is_ascii_digit() {
            mantissa = mantissa
                .wrapping_mul(10)
                .wrapping_add(u64::from(t[i] - b'0'));
            digits += 1;
            frac += 1;
            i += 1;
        }
    }
    if digits == 0 || digits > 15 {
        return None;
    }
    let mut exp = 0i32;
    if i < t.len() && (t[i] | 0x20) == b'e' {
        i += 1;
        let exp_neg = match t.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        while i < t.len() && t[i].is_ascii_digit() && i - start < 4 {
            exp = exp * 10 + i32::from(t[i] - b'0');
            i += 1;
        }
        if i == start {
            return None;
        }
        if exp_neg {
            exp = -exp;
        }
    }
    if i != t.len() {
        return None;
    }
    let e = exp - frac;
    let m = mantissa as f64;
    let v = if (0..=22).contains(&e) {
        m * POW10[e as usize]
    } else if (-22..0).contains(&e) {
        m / POW10[(-e) as usize]
    } else {
        return None;
    };
    Some(if neg { -v } else { v })
}

/// A timestamp: an integer (milliseconds in text format, seconds in
/// OpenMetrics; the flag says which case applies), or a decimal number of
/// seconds (OpenMetrics), converted to milliseconds.
fn parse_timestamp(tok: &[u8]) -> Option<(i64, bool)> {
    let (neg, digits) = match tok.first()? {
        b'-' => (true, &tok[1..]),
        b'+' => (false, &tok[1..]),
        _ => (false, tok),
    };
    if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
        let mut v: i64 = 0;
        for &d in digits {
            v = v.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
        }
        return Some((if neg { -v } else { v }, true));
    }
    let secs = parse_float(tok)?;
    let ms = (secs * 1000.0).round();
    // i64::MAX as f64 rounds up to 2^63, which is out of range.
    (ms.is_finite() && ms.abs() < 9.2e18).then_some((ms as i64, false))
}

/// What kind of body a scrape answered with, told from its bytes alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BodyKind {
    /// Samples or metadata lines: an exposition (perhaps with dropped lines).
    #[default]
    Exposition,
    /// Nothing but blank or comment lines.
    Empty,
    /// Markup: an HTML page (a login page, a proxy's error page) or XML.
    Html,
    /// A JSON document (an API's error answer).
    Json,
    /// Other text in which no line reads as a sample or metadata (an error text,
    /// a traceback).
    Text,
}

impl BodyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BodyKind::Exposition => "exposition",
            BodyKind::Empty => "empty",
            BodyKind::Html => "html",
            BodyKind::Json => "json",
            BodyKind::Text => "text",
        }
    }
}

/// A scrape's body as rules see it: its kind and, for a body that is not an
/// exposition, its start (for messages and for rules that look for words in it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Body {
    pub kind: BodyKind,
    /// The first line of a body that is no exposition that is neither blank nor
    /// a `#` comment (of markup, the first with text outside its tags, that text),
    /// at most [`Body::EXCERPT`] characters; empty otherwise.
    pub excerpt: String,
    /// The first [`Body::TEXT`] bytes of a body that is no exposition, from its
    /// first line that is no comment, secrets redacted; empty otherwise.
    pub text: String,
    /// The last such line (a traceback's exception), likewise.
    pub last_line: String,
}

/// The text of a line of markup outside its tags, trimmed (`<title>502</title>`
/// reads `502`, `<html>` nothing).
fn without_tags(line: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in line.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Body {
    pub const EXCERPT: usize = 120;
    pub const TEXT: usize = 4096;

    /// The body of `bytes`, read as `expo`: an exposition when a sample or
    /// metadata line was read, else markup and JSON by their first character,
    /// empty when no line but blanks and comments, text otherwise.
    pub fn of(bytes: &[u8], expo: &Exposition) -> Body {
        // Leading comment lines are no content, as in an exposition.
        let mut bytes = bytes;
        loop {
            let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
            bytes = &bytes[start.unwrap_or(bytes.len())..];
            if bytes.first() != Some(&b'#') {
                break;
            }
            let end = memchr::memchr(b'\n', bytes).map_or(bytes.len(), |i| i + 1);
            bytes = &bytes[end..];
        }
        let first = bytes.first();
        // Quoted names may open a sample line with `{`: samples decide first.
        let kind = match first {
            _ if !expo.samples.is_empty() || !expo.metadata.is_empty() => BodyKind::Exposition,
            Some(b'<') => BodyKind::Html,
            Some(b'{' | b'[') => BodyKind::Json,
            _ if expo.dropped.is_empty() => BodyKind::Empty,
            _ => BodyKind::Text,
        };
        if matches!(kind, BodyKind::Exposition | BodyKind::Empty) {
            return Body {
                kind,
                ..Body::default()
            };
        }
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(Body::TEXT)]);
        // What a server answered may hold credentials (a login page's URL, a
        // token echoed in an error): scrubbed before any rule or report sees it.
        let text = crate::redact::line(text.trim_end_matches('\u{fffd}'));
        let shown = |l: &str| match kind {
            BodyKind::Html => without_tags(l),
            _ => l.trim().to_owned(),
        };
        let cut = |l: String| l.chars().take(Body::EXCERPT).collect::<String>();
        let lines: Vec<String> = text.lines().map(shown).filter(|l| !l.is_empty()).collect();
        Body {
            kind,
            excerpt: cut(lines.first().cloned().unwrap_or_default()),
            last_line: cut(lines.last().cloned().unwrap_or_default()),
            text,
        }
    }
}

/// An input with lines but not one sample or metadata line is not an exposition
/// (an HTML error page, JSON, a binary): say so instead of reporting an empty scrape.
pub fn not_an_exposition(expo: &Exposition) -> Option<String> {
    if !expo.samples.is_empty() || !expo.metadata.is_empty() {
        return None;
    }
    let first = expo.dropped.first()?;
    Some(format!(
        "not a Prometheus exposition: no line could be read as a sample (line {}: {})",
        first.line, first.reason
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_count_is_the_number_of_families() {
        let texts = [
            "# TYPE a counter\na_total 1\na_created 2\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
            "x_total 1\nx_created 1\ny_bucket{le=\"+Inf\"} 0\ny_count 0\n# HELP z only help\n",
            "# TYPE foo_created gauge\nfoo_created 1\n# TYPE foo counter\nfoo_total 3\n",
        ];
        for t in texts {
            let e = parse(t.as_bytes(), &ParseOptions::default());
            assert_eq!(e.family_count(), e.families().len(), "{t}");
        }
    }

    #[test]
    fn bodies_that_are_no_exposition_say_what_they_are() {
        let cases: [(&str, BodyKind, &str, &str); 7] = [
            (
                "# a comment\n<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>\n",
                BodyKind::Html,
                "502 Bad Gateway",
                "nginx",
            ),
            (
                "{\"object\":\"error\",\"message\":\"Not Found\"}\n",
                BodyKind::Json,
                "{\"object\":\"error\",\"message\":\"Not Found\"}",
                "{\"object\":\"error\",\"message\":\"Not Found\"}",
            ),
            (
                "Traceback (most recent call last):\n  ...\nValueError: bad dir\n",
                BodyKind::Text,
                "Traceback (most recent call last):",
                "ValueError: bad dir",
            ),
            ("\n# only a comment\n\n", BodyKind::Empty, "", ""),
            ("", BodyKind::Empty, "", ""),
            ("# TYPE a gauge\n", BodyKind::Exposition, "", ""),
            ("{\"a.b\", x=\"1\"} 2\n", BodyKind::Exposition, "", ""),
        ];
        for (text, kind, first, last) in cases {
            let e = parse(text.as_bytes(), &ParseOptions::default());
            let b = Body::of(text.as_bytes(), &e);
            assert_eq!(b.kind, kind, "{text}");
            assert_eq!(
                (b.excerpt.as_str(), b.last_line.as_str()),
                (first, last),
                "{text}"
            );
            assert_eq!(b.text.is_empty(), first.is_empty(), "{text}");
        }
    }

    #[test]
    fn fast_decimal_agrees_with_std() {
        let cases = [
            "0",
            "-0",
            "1",
            "141.0",
            "0.5364012345678901",
            "1.759912345123e+09",
            "1e3",
            "1E-3",
            "123456789012345",
            "1234567890123456",
            "0.1",
            "-2.5e-22",
            "9e22",
            "1e23",
            "5.",
            ".5",
            "+7",
            "00012.50",
            "3.141592653589793",
        ];
        for c in cases {
            let want: f64 = c.parse().unwrap();
            let got = parse_float(c.as_bytes()).unwrap();
            assert_eq!(got.to_bits(), want.to_bits(), "{c}");
        }
        for bad in [
            "", "-", ".", "e5", "1e", "1e+", "0x10", "1_000", "1,5", "--1", "1e3.5",
        ] {
            assert_eq!(parse_float(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn input_past_the_byte_limit_is_one_dropped_line() {
        let input = b"a 1\nb 2\nc 3\nd 4\n";
        let e = parse_limited(input, &ParseOptions::default(), 10);
        assert_eq!(e.samples.len(), 2);
        assert_eq!(e.lines, 3);
        assert_eq!(e.dropped.len(), 1);
        assert_eq!(e.dropped[0].line, 3);
        assert_eq!(e.dropped[0].reason, DropReason::InputTooLarge { len: 8 });
        assert_eq!(e.dropped[0].excerpt, "c 3\nd 4\n");
    }

    #[test]
    fn timestamps_of_both_formats() {
        assert_eq!(
            parse_timestamp(b"1520879607789"),
            Some((1520879607789, true))
        );
        assert_eq!(parse_timestamp(b"-5"), Some((-5, true)));
        assert_eq!(
            parse_timestamp(b"1520879607.789"),
            Some((1520879607789, false))
        );
        assert_eq!(parse_timestamp(b"1.5e3"), Some((1_500_000, false)));
        assert_eq!(parse_timestamp(b"99999999999999999999"), None);
        assert_eq!(parse_timestamp(b"NaN"), None);
        assert_eq!(parse_timestamp(b"1e300"), None);
        assert_eq!(parse_timestamp(b"abc"), None);
    }
}
