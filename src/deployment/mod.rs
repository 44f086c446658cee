//! The deployment model: every input of a command becomes endpoints, each with an
//! identity and a time-ordered series of scrapes. Built by [`build`] for every
//! command, so that argument order never changes a result.
//!
//! Identity, first match wins: `service_instance_id` of `target_info`; the target
//! labels of a fleet dump (one file holding many targets becomes one endpoint per
//! target); the URL of a live scrape; the source a packet manifest records; the
//! file (its folder when the file is named by a Unix time, as AIPerf saves scrapes). Scrape time, first match wins: a timeline row's time; per-sample
//! timestamps; a file name that is a Unix time (s, ms, µs or ns); the packet
//! manifest (or the fetch time of a live scrape); the file's mtime.
//!
//! Sits on `evidence` (parsers); knows nothing of rules.

use crate::evidence::prometheus::{parse, Exposition, ParseOptions};
use crate::evidence::Input;
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;

/// Label sets that name a target in a fleet dump, in the order they are tried.
pub const TARGET_LABEL_SETS: &[&[&str]] = &[&["instance", "job"], &["endpoint_url"], &["endpoint"]];

/// The OTel resource family and label that name an instance.
pub const RESOURCE_FAMILY: &str = "target_info";
pub const RESOURCE_INSTANCE_LABEL: &str = "service_instance_id";

/// Targets one input may split into; beyond it the input is read as one endpoint
/// (with a warning), so a hostile file cannot make a million endpoints.
pub const MAX_TARGETS: usize = 10_000;

/// Unix seconds between which a number in a file name is read as a time
/// (2000-01-01 to 2100-01-01), so `1.prom` is not a scrape from 1970.
const PLAUSIBLE_TIMES: std::ops::Range<f64> = 946_684_800.0..4_102_444_800.0;

/// What the operator said about endpoints and the window.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// `--target-label NAME`: these label keys name a target, instead of the
    /// automatic choice among [`TARGET_LABEL_SETS`].
    pub target_labels: Vec<String>,
    /// `--start` / `--end`, Unix seconds: scrapes outside are left out.
    pub start: Option<f64>,
    pub end: Option<f64>,
    /// Keep a text body that is no exposition (an HTML page, JSON, an error
    /// text) as an empty scrape whose [`Body`](crate::evidence::prometheus::Body)
    /// says what it was, so findings can name it (`check`, rule tests); its input
    /// still records why it is not an exposition.
    pub text_bodies: bool,
}

/// How an endpoint's identity was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdentitySource {
    ServiceInstanceId,
    TargetLabels,
    Url,
    PacketManifest,
    File,
}

/// Where a scrape's time came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeSource {
    TimelineRow,
    SampleTimestamps,
    FileName,
    PacketManifest,
    Fetched,
    FileMtime,
    Unknown,
}

/// One input, parsed (or why it could not be).
pub struct Parsed {
    /// The input, its bytes dropped once parsed.
    pub input: Input,
    /// `None` when the input is not an exposition at all (`error` says why).
    pub expo: Option<Exposition>,
    pub error: Option<String>,
    /// Label keys that name a target in this input (a fleet dump): identity, not
    /// series labels. Another input's target keys are series labels here.
    pub target_keys: Vec<String>,
}

/// One scrape of an endpoint: all of an input, or one target's part of it.
#[derive(Clone, Debug)]
pub struct Scrape {
    /// Index into [`Deployment::inputs`].
    pub input: usize,
    /// The target's samples in a fleet dump; `None` for the whole input.
    pub samples: Option<Vec<u32>>,
    pub time: Option<f64>,
    pub time_source: TimeSource,
}

/// One endpoint: identity and scrapes in time order.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The name reports use: the instance id, `k=v,…` target labels, the URL or
    /// the file.
    pub id: String,
    pub identity: IdentitySource,
    /// The target labels of a fleet dump, kept as identity.
    pub target: Vec<(String, String)>,
    pub scrapes: Vec<Scrape>,
}

/// Every input of a command, as endpoints.
pub struct Deployment {
    /// Inputs sorted by source.
    pub inputs: Vec<Parsed>,
    /// Endpoints sorted by identity; each has at least one scrape.
    pub endpoints: Vec<Endpoint>,
    /// Scrapes left out by `--start`/`--end` (or without a time when a bound is set).
    pub outside_window: usize,
    /// The earliest and latest time of the scrapes left out, when any had one.
    pub outside_span: Option<(f64, f64)>,
    /// What the operator should know about how inputs were read, each naming its input.
    pub warnings: Vec<String>,
}

impl Deployment {
    /// The exposition a scrape reads.
    pub fn expo(&self, scrape: &Scrape) -> Option<&Exposition> {
        self.inputs.get(scrape.input)?.expo.as_ref()
    }

    /// The source a scrape was read from.
    pub fn source(&self, scrape: &Scrape) -> &str {
        self.inputs
            .get(scrape.input)
            .map_or("", |p| p.input.source.as_str())
    }
}

/// Parses every input and groups what it holds into endpoints.
pub fn build(mut inputs: Vec<Input>, options: &BuildOptions) -> Deployment {
    inputs.sort_by(|a, b| a.source.cmp(&b.source));
    // Before parsing, while every input still has its bytes.
    let same = same_bytes(&inputs);
    let mut parsed: Vec<Parsed> = inputs
        .into_iter()
        .map(|i| parse_input(i, options.text_bodies))
        .collect();
    let mut g = Gathering::default();
    let keys: Vec<Vec<String>> = (0..parsed.len())
        .map(|i| g.add_input(i, &parsed[i], options))
        .collect();
    for (p, keys) in parsed.iter_mut().zip(keys) {
        p.target_keys = keys;
    }
    for k in options
        .target_labels
        .iter()
        .filter(|k| !g.found.contains(*k))
    {
        g.warnings.push(format!(
            "--target-label {k}: no sample of any input has this label"
        ));
    }
    let mut endpoints = in_order(g.groups, &parsed);
    let repeats: Vec<String> = endpoints
        .iter_mut()
        .flat_map(|e| drop_repeats(&mut e.scrapes, &parsed, &same))
        .collect();
    g.warnings.extend(repeats.iter().take(20).cloned());
    if repeats.len() > 20 {
        let more = repeats.len() - 20;
        g.warnings
            .push(format!("{more} more repeated scrape(s) read once"));
    }
    Deployment {
        inputs: parsed,
        endpoints,
        outside_window: g.outside_window,
        outside_span: g.outside_span,
        warnings: g.warnings,
    }
}

/// Endpoints as they are gathered, what `--start`/`--end` left out, and what the
/// operator should be told.
#[derive(Default)]
struct Gathering {
    groups: BTreeMap<(IdentitySource, String), Endpoint>,
    outside_window: usize,
    outside_span: Option<(f64, f64)>,
    /// Target label keys some sample has.
    found: std::collections::BTreeSet<String>,
    warnings: Vec<String>,
}

impl Gathering {
    /// Adds each target of an input as a scrape; returns the target keys it was
    /// split by (none when it is read whole).
    fn add_input(&mut self, i: usize, p: &Parsed, options: &BuildOptions) -> Vec<String> {
        let Some(expo) = &p.expo else {
            return Vec::new();
        };
        let mut keys = target_keys_of(expo, &options.target_labels);
        self.found.extend(keys.iter().cloned());
        let mut targets = split_by_target(expo, &keys);
        if targets.len() > MAX_TARGETS {
            self.warnings.push(format!(
                "{}: {} targets by label {}, more than {MAX_TARGETS}: read as one endpoint (choose the target labels with --target-label)",
                p.input.source,
                targets.len(),
                keys.join("+")
            ));
            targets = vec![(Vec::new(), None)];
            keys = Vec::new();
        }
        for target in targets {
            self.add_scrape(i, p, expo, target, options);
        }
        keys
    }

    fn add_scrape(
        &mut self,
        i: usize,
        p: &Parsed,
        expo: &Exposition,
        (target, samples): (Target, Option<Vec<u32>>),
        options: &BuildOptions,
    ) {
        let (time, time_source) = scrape_time(&p.input, expo, samples.as_deref());
        if !in_window(time, options) {
            self.outside_window += 1;
            if let Some(t) = time {
                let (a, b) = self.outside_span.unwrap_or((t, t));
                self.outside_span = Some((a.min(t), b.max(t)));
            }
            return;
        }
        let ids = instance_ids(expo, samples.as_deref());
        if ids.len() > 1 {
            self.warnings.push(format!(
                "{}: target_info names {} {RESOURCE_INSTANCE_LABEL} values ({}): not one instance, so not its identity",
                p.input.source,
                ids.len(),
                ids.iter().take(5).copied().collect::<Vec<_>>().join(", ")
                    + if ids.len() > 5 { ", …" } else { "" }
            ));
        }
        let (identity, id) = identity_of(&p.input, &ids, &target);
        let endpoint = self
            .groups
            .entry((identity, id.clone()))
            .or_insert_with(|| Endpoint {
                id,
                identity,
                target: target.clone(),
                scrapes: Vec::new(),
            });
        endpoint.scrapes.push(Scrape {
            input: i,
            samples,
            time,
            time_source,
        });
    }
}

/// Drops each scrape that repeats an earlier one of the endpoint, the same time and
/// content (a timeline row written twice), so a repeated input never weighs twice;
/// says which, naming both. A file's mtime is no time of a scrape (rows without a
/// time all take their file's): scrapes timed by it are all kept.
fn drop_repeats(scrapes: &mut Vec<Scrape>, parsed: &[Parsed], same: &[usize]) -> Vec<String> {
    let mut warnings = Vec::new();
    let mut keep: Vec<bool> = Vec::with_capacity(scrapes.len());
    let mut first: std::collections::HashMap<(u64, usize, Option<&[u32]>), usize> =
        Default::default();
    for s in scrapes.iter() {
        let Some(t) = s.time.filter(|_| s.time_source != TimeSource::FileMtime) else {
            keep.push(true);
            continue;
        };
        let key = (t.to_bits(), same[s.input], s.samples.as_deref());
        let i = *first.entry(key).or_insert(s.input);
        if i != s.input {
            warnings.push(format!(
                "{}: repeats {} (same endpoint, time and content): read once",
                parsed[s.input].input.source, parsed[i].input.source
            ));
        }
        keep.push(i == s.input);
    }
    drop(first);
    let mut keep = keep.into_iter();
    scrapes.retain(|_| keep.next().unwrap_or(true));
    warnings
}

/// For each input, the first input with the same bytes: one hash per input, and
/// bytes compared only when hashes agree.
fn same_bytes(inputs: &[Input]) -> Vec<usize> {
    use std::hash::{Hash, Hasher};
    // One input repeats nothing: not worth hashing (`summarize` builds per row).
    if inputs.len() < 2 {
        return (0..inputs.len()).collect();
    }
    let mut by_hash: std::collections::HashMap<u64, Vec<usize>> = Default::default();
    (0..inputs.len())
        .map(|i| {
            let bytes = &inputs[i].bytes;
            let mut h = std::collections::hash_map::DefaultHasher::new();
            bytes.hash(&mut h);
            let list = by_hash.entry(h.finish()).or_default();
            match list.iter().find(|&&j| inputs[j].bytes == *bytes) {
                Some(&j) => j,
                None => {
                    list.push(i);
                    i
                }
            }
        })
        .collect()
}

/// Endpoints sorted by identity, each one's scrapes in time order.
fn in_order(
    groups: BTreeMap<(IdentitySource, String), Endpoint>,
    parsed: &[Parsed],
) -> Vec<Endpoint> {
    let mut endpoints: Vec<Endpoint> = groups.into_values().collect();
    for e in &mut endpoints {
        // Unknown times first, then by time, then by source (`t.jsonl:9` before
        // `t.jsonl:10`): never by argument order.
        let source = |s: &Scrape| parsed[s.input].input.source.as_str();
        e.scrapes.sort_by(|a, b| {
            let t = |s: &Scrape| s.time.unwrap_or(f64::NEG_INFINITY);
            t(a).total_cmp(&t(b))
                .then_with(|| natural_cmp(source(a), source(b)))
                .then(a.input.cmp(&b.input))
        });
    }
    endpoints.sort_by(|a, b| a.id.cmp(&b.id).then(a.identity.cmp(&b.identity)));
    endpoints
}

/// Text order with runs of digits compared as numbers (`scrape-9` before
/// `scrape-10`); texts equal but for leading zeros fall back to plain order.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let digits = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let (n, m) = (digits(x), digits(y));
                let trim = |s: &[u8]| s.iter().skip_while(|c| **c == b'0').count();
                let (p, q) = (&x[n - trim(&x[..n])..n], &y[m - trim(&y[..m])..m]);
                match p.len().cmp(&q.len()).then(p.cmp(q)) {
                    std::cmp::Ordering::Equal => (x, y) = (&x[n..], &y[m..]),
                    other => return other,
                }
            }
            (Some(c), Some(d)) if c == d => (x, y) = (&x[1..], &y[1..]),
            _ => return x.cmp(y).then_with(|| a.cmp(b)),
        }
    }
}

fn parse_input(input: Input, text_bodies: bool) -> Parsed {
    use crate::evidence::prometheus::{not_an_exposition, Body, DropReason};
    // Compressed, UTF-16 or binary input is said as such, not scanned.
    let sniffed = crate::evidence::not_text(&input.bytes);
    let bytes: &[u8] = if sniffed.is_some() { &[] } else { &input.bytes };
    let mut expo = parse(bytes, &ParseOptions::default());
    let binary = sniffed.is_some();
    let error = sniffed
        .map(|why| format!("not a Prometheus exposition: {why}"))
        .or_else(|| not_an_exposition(&expo));
    let body = Body::of(bytes, &expo);
    // A line too long or input too large is no page someone served: an error.
    let page = !binary
        && expo.dropped.iter().all(|d| {
            !matches!(
                d.reason,
                DropReason::LineTooLong { .. } | DropReason::InputTooLarge { .. }
            )
        });
    let keep = error.is_none() || (text_bodies && page);
    if error.is_some() && keep {
        // Nothing of it is a sample: an empty scrape that says what it was.
        expo = parse(b"", &ParseOptions::default());
    }
    expo.body = body;
    // The exposition holds what is needed; the raw bytes go now, so that peak
    // memory is the input or its parse, not both for every input at once.
    Parsed {
        expo: keep.then_some(expo),
        error,
        input: Input {
            bytes: Vec::new(),
            ..input
        },
        target_keys: Vec::new(),
    }
}

fn in_window(time: Option<f64>, options: &BuildOptions) -> bool {
    if options.start.is_none() && options.end.is_none() {
        return true;
    }
    let Some(t) = time else {
        return false;
    };
    options.start.is_none_or(|s| t >= s) && options.end.is_none_or(|e| t <= e)
}

/// The target label keys of an exposition: the operator's, or the first set of
/// [`TARGET_LABEL_SETS`] whose first key is on every sample with an address-like
/// value (`host:port`, a dotted name or a URL). The second key of a set is used
/// when it too is on every sample. Engines' own labels with these names (Dynamo's
/// `endpoint="chat_completions"`) are not on every sample, nor addresses.
fn target_keys_of(expo: &Exposition, chosen: &[String]) -> Vec<String> {
    if !chosen.is_empty() {
        return chosen
            .iter()
            .filter(|k| expo.samples.iter().any(|s| label(expo, s, k).is_some()))
            .cloned()
            .collect();
    }
    if expo.samples.is_empty() {
        return Vec::new();
    }
    let on_every = |key: &str, address: bool| {
        expo.samples
            .iter()
            .all(|s| label(expo, s, key).is_some_and(|v| !address || looks_like_address(v)))
    };
    for set in TARGET_LABEL_SETS {
        if on_every(set[0], true) {
            return set
                .iter()
                .enumerate()
                .filter(|(i, k)| *i == 0 || on_every(k, false))
                .map(|(_, k)| (*k).to_owned())
                .collect();
        }
    }
    Vec::new()
}

/// A label's value; an empty value is no label, as in Prometheus.
fn label<'e>(
    expo: &'e Exposition,
    sample: &crate::evidence::prometheus::Sample,
    key: &str,
) -> Option<&'e str> {
    expo.label(sample, key).filter(|v| !v.is_empty())
}

fn looks_like_address(v: &str) -> bool {
    !v.is_empty() && v.contains([':', '.', '/'])
}

type Target = Vec<(String, String)>;

/// The samples of each target, in source order; the whole input when there are
/// no target keys. A sample without any target key belongs to the empty target.
fn split_by_target(expo: &Exposition, keys: &[String]) -> Vec<(Target, Option<Vec<u32>>)> {
    if keys.is_empty() {
        return vec![(Vec::new(), None)];
    }
    let mut targets: BTreeMap<Target, Vec<u32>> = BTreeMap::new();
    for (i, s) in expo.samples.iter().enumerate() {
        let target: Target = keys
            .iter()
            .filter_map(|k| label(expo, s, k).map(|v| (k.clone(), v.to_owned())))
            .collect();
        targets.entry(target).or_default().push(i as u32);
    }
    targets
        .into_iter()
        .map(|(t, samples)| (t, Some(samples)))
        .collect()
}

fn identity_of(input: &Input, ids: &[&str], target: &Target) -> (IdentitySource, String) {
    if let [id] = ids {
        return (IdentitySource::ServiceInstanceId, (*id).to_owned());
    }
    if !target.is_empty() {
        let id: Vec<String> = target.iter().map(|(k, v)| format!("{k}={v}")).collect();
        return (IdentitySource::TargetLabels, id.join(","));
    }
    let o = &input.origin;
    if let Some(e) = &o.row_endpoint {
        return (IdentitySource::TargetLabels, e.clone());
    }
    if let Some(url) = &o.url {
        return (IdentitySource::Url, url.clone());
    }
    if let Some(src) = &o.manifest_source {
        return (IdentitySource::PacketManifest, src.clone());
    }
    (IdentitySource::File, file_identity(input))
}

/// The file, or its folder when the file is named by a Unix time: scrapes saved
/// as `DIR/<time>.prom` (as AIPerf saves them) are one endpoint over time.
fn file_identity(input: &Input) -> String {
    let timed = input
        .origin
        .file_name
        .as_deref()
        .and_then(time_in_file_name)
        .is_some();
    // A timeline row's file is the timeline, not `FILE:ROW`.
    let file = input.origin.row_file.as_ref().unwrap_or(&input.source);
    let path = std::path::Path::new(file);
    match path.parent().filter(|_| timed) {
        Some(dir) if !dir.as_os_str().is_empty() => dir.display().to_string(),
        Some(_) => ".".to_owned(),
        None => file.clone(),
    }
}

/// The distinct non-empty `service_instance_id` values of the scrape's
/// `target_info`, sorted: the identity when there is exactly one.
fn instance_ids<'e>(expo: &'e Exposition, samples: Option<&[u32]>) -> Vec<&'e str> {
    let mut ids: std::collections::BTreeSet<&str> = Default::default();
    let mut check = |i: usize| {
        let s = &expo.samples[i];
        if expo.name(s) == RESOURCE_FAMILY {
            ids.extend(label(expo, s, RESOURCE_INSTANCE_LABEL));
        }
    };
    match samples {
        Some(ids) => ids.iter().for_each(|&i| check(i as usize)),
        None => (0..expo.samples.len()).for_each(&mut check),
    }
    ids.into_iter().collect()
}

fn scrape_time(
    input: &Input,
    expo: &Exposition,
    samples: Option<&[u32]>,
) -> (Option<f64>, TimeSource) {
    let o = &input.origin;
    if let Some(t) = o.row_time {
        return (Some(t), TimeSource::TimelineRow);
    }
    // Recorded times outside 2000–2100 are damage (µs written as ms, a hand-edited
    // manifest), not times: trusted, one would reorder the scrapes.
    let stamp = |i: usize| {
        let t = expo.samples[i].timestamp_ms? as f64 / 1000.0;
        PLAUSIBLE_TIMES.contains(&t).then_some(t)
    };
    let latest = match samples {
        Some(ids) => ids
            .iter()
            .filter_map(|&i| stamp(i as usize))
            .reduce(f64::max),
        None => (0..expo.samples.len()).filter_map(stamp).reduce(f64::max),
    };
    if let Some(t) = latest {
        return (Some(t), TimeSource::SampleTimestamps);
    }
    if let Some(t) = o.file_name.as_deref().and_then(time_in_file_name) {
        return (Some(t), TimeSource::FileName);
    }
    if let Some(t) = o.manifest_time.filter(|t| PLAUSIBLE_TIMES.contains(t)) {
        return (Some(t), TimeSource::PacketManifest);
    }
    if let Some(t) = o.fetched_at {
        return (Some(t), TimeSource::Fetched);
    }
    match o.mtime {
        Some(t) => (Some(t), TimeSource::FileMtime),
        None => (None, TimeSource::Unknown),
    }
}

/// A file name whose stem is a Unix time in seconds, milliseconds, microseconds or
/// nanoseconds (AIPerf saves scrapes that way), as seconds.
pub fn time_in_file_name(name: &str) -> Option<f64> {
    let stem = name.split('.').next()?;
    if stem.is_empty() || stem.len() > 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: f64 = stem.parse().ok()?;
    [1.0, 1e3, 1e6, 1e9]
        .iter()
        .map(|scale| n / scale)
        .find(|t| PLAUSIBLE_TIMES.contains(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::Origin;

    fn input(source: &str, text: &str, origin: Origin) -> Input {
        Input {
            source: source.to_owned(),
            endpoint: source.to_owned(),
            bytes: text.as_bytes().to_vec(),
            origin,
        }
    }

    #[test]
    fn natural_order_compares_digit_runs_as_numbers() {
        use std::cmp::Ordering::*;
        assert_eq!(natural_cmp("t:9", "t:10"), Less);
        assert_eq!(natural_cmp("a10b2", "a10b10"), Less);
        assert_eq!(natural_cmp("a", "a1"), Less);
        assert_eq!(natural_cmp("a01", "a1"), Less);
        assert_eq!(natural_cmp("a1", "a01"), Greater);
        assert_eq!(natural_cmp("a-1", "a1"), Less);
        assert_eq!(natural_cmp("x", "x"), Equal);
        let mut v = ["b", "a10", "a9", "a09", "a", "1", "10", "_", "a9z"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["1", "10", "_", "a", "a09", "a9", "a9z", "a10", "b"]);
        // A total order (sorting may panic on one that is not): every string of up
        // to three of `0`, `1`, `a`.
        let mut all = vec![String::new()];
        for _ in 0..3 {
            let longer: Vec<String> = all
                .iter()
                .flat_map(|s| ["0", "1", "a"].map(|c| format!("{s}{c}")))
                .collect();
            all.extend(longer);
        }
        all.sort();
        all.dedup();
        for a in &all {
            for b in &all {
                assert_eq!(natural_cmp(a, b), natural_cmp(b, a).reverse(), "{a} {b}");
                assert_eq!(natural_cmp(a, b) == Equal, a == b);
                for c in &all {
                    if natural_cmp(a, b) == Less && natural_cmp(b, c) == Less {
                        assert_eq!(natural_cmp(a, c), Less, "{a} {b} {c}");
                    }
                }
            }
        }
    }

    #[test]
    fn unix_times_in_file_names_in_any_unit() {
        assert_eq!(time_in_file_name("1765000000.prom"), Some(1_765_000_000.0));
        assert_eq!(
            time_in_file_name("1765000000123.prom"),
            Some(1_765_000_000.123)
        );
        assert_eq!(
            time_in_file_name("1765000000123456789.txt"),
            Some(1_765_000_000.123_456_8)
        );
        assert_eq!(time_in_file_name("1.prom"), None);
        assert_eq!(time_in_file_name("scrape-00001.prom"), None);
    }

    #[test]
    fn a_fleet_dump_splits_by_address_labels_but_not_by_engine_labels() {
        let fleet = "a{endpoint=\"10.0.0.1:8000\"} 1\na{endpoint=\"10.0.0.2:8000\"} 2\n";
        let d = build(
            vec![input("f.prom", fleet, Origin::default())],
            &BuildOptions::default(),
        );
        let ids: Vec<&str> = d.endpoints.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["endpoint=10.0.0.1:8000", "endpoint=10.0.0.2:8000"]);
        let dynamo = "r{endpoint=\"chat_completions\"} 1\nr{endpoint=\"completions\"} 2\n";
        let d = build(
            vec![input("d.prom", dynamo, Origin::default())],
            &BuildOptions::default(),
        );
        assert_eq!(d.endpoints.len(), 1);
        assert_eq!(d.endpoints[0].identity, IdentitySource::File);
    }

    #[test]
    fn two_scrapes_of_one_instance_are_one_endpoint_in_time_order() {
        let scrape =
            |v: u32| format!("target_info{{service_instance_id=\"mp-1\"}} 1\nc_total {v}\n");
        let named = |n: &str| Origin {
            file_name: Some(n.to_owned()),
            ..Origin::default()
        };
        let late = input("z/1765000060.prom", &scrape(9), named("1765000060.prom"));
        let early = input("a/1765000000.prom", &scrape(4), named("1765000000.prom"));
        let d = build(vec![early, late], &BuildOptions::default());
        assert_eq!(d.endpoints.len(), 1);
        let e = &d.endpoints[0];
        assert_eq!(
            (e.id.as_str(), e.identity),
            ("mp-1", IdentitySource::ServiceInstanceId)
        );
        let times: Vec<Option<f64>> = e.scrapes.iter().map(|s| s.time).collect();
        assert_eq!(times, [Some(1_765_000_000.0), Some(1_765_000_060.0)]);
        assert!(e
            .scrapes
            .iter()
            .all(|s| s.time_source == TimeSource::FileName));
    }

    #[test]
    fn too_many_targets_read_as_one_endpoint_with_a_warning() {
        let text: String = (0..=MAX_TARGETS)
            .map(|i| format!("a{{endpoint=\"10.0.{}.{}:1\"}} 1\n", i / 256, i % 256))
            .collect();
        let d = build(
            vec![input("big.prom", &text, Origin::default())],
            &BuildOptions::default(),
        );
        assert_eq!(d.endpoints.len(), 1);
        assert!(
            d.warnings[0].starts_with("big.prom: 10001 targets by label endpoint"),
            "{:?}",
            d.warnings
        );
    }

    /// Rows of one timeline without a time (or with the same time) stay in line
    /// order: row 10 comes after row 9, not between rows 1 and 2.
    #[test]
    fn scrapes_with_the_same_time_are_in_natural_order() {
        let row = |line: usize| {
            let origin = Origin {
                row_endpoint: Some("e".to_owned()),
                mtime: Some(5.0),
                ..Origin::default()
            };
            input(&format!("t.jsonl:{line}"), "c_total 1\n", origin)
        };
        let d = build((1..=12).map(row).collect(), &BuildOptions::default());
        let order: Vec<&str> = d.endpoints[0].scrapes.iter().map(|s| d.source(s)).collect();
        let expected: Vec<String> = (1..=12).map(|l| format!("t.jsonl:{l}")).collect();
        assert_eq!(order, expected);
    }

    /// A timeline without endpoints is the scrapes of one endpoint: its file.
    #[test]
    fn timeline_rows_without_an_endpoint_are_one_endpoint() {
        let read = crate::packet::inputs_of_bytes(
            "dir/t.jsonl",
            b"{\"time\":1765000000,\"text\":\"c_total 1\\n\"}\n{\"time\":1765000030,\"text\":\"c_total 2\\n\"}\n".to_vec(),
            Origin::default(),
        );
        let d = build(read.scrapes, &BuildOptions::default());
        assert_eq!(d.endpoints.len(), 1);
        let e = &d.endpoints[0];
        assert_eq!(
            (e.id.as_str(), e.identity),
            ("dir/t.jsonl", IdentitySource::File)
        );
        assert_eq!(e.scrapes.len(), 2);
    }

    /// An empty label value is no label (as in Prometheus): `instance=""` is not a
    /// target of its own.
    #[test]
    fn an_empty_target_label_value_is_no_target() {
        let fleet = "a{instance=\"10.0.0.1:8000\"} 1\na{instance=\"\"} 2\nb 3\n";
        let options = BuildOptions {
            target_labels: vec!["instance".to_owned()],
            ..BuildOptions::default()
        };
        let d = build(vec![input("f.prom", fleet, Origin::default())], &options);
        let ids: Vec<&str> = d.endpoints.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["f.prom", "instance=10.0.0.1:8000"]);
        assert_eq!(
            d.endpoints[0].scrapes[0].samples.as_deref(),
            Some(&[1, 2][..])
        );
    }

    /// A per-sample timestamp or a manifest time outside 2000–2100 (an exporter
    /// writing µs for ms, a hand-edited manifest) is not a scrape time: it would
    /// make the oldest scrape the latest.
    #[test]
    fn implausible_recorded_times_are_not_scrape_times() {
        let named = Origin {
            file_name: Some("1765000000.prom".to_owned()),
            ..Origin::default()
        };
        let text = "a 1 99999999999999\nb 2 1765000000500\n";
        let d = build(
            vec![input("d/1765000000.prom", text, named)],
            &BuildOptions::default(),
        );
        let s = &d.endpoints[0].scrapes[0];
        assert_eq!(
            (s.time, s.time_source),
            (Some(1_765_000_000.5), TimeSource::SampleTimestamps)
        );
        let far = input(
            "d/1765000000.prom",
            "a 1 99999999999999\n",
            Origin {
                file_name: Some("1765000000.prom".to_owned()),
                ..Origin::default()
            },
        );
        let d = build(vec![far], &BuildOptions::default());
        let s = &d.endpoints[0].scrapes[0];
        assert_eq!(
            (s.time, s.time_source),
            (Some(1_765_000_000.0), TimeSource::FileName)
        );
        for bad in [-1e308, 1e308, 0.0] {
            let recorded = Origin {
                manifest_time: Some(bad),
                mtime: Some(1_765_000_060.0),
                ..Origin::default()
            };
            let d = build(
                vec![input("p/m.prom", "a 1\n", recorded)],
                &BuildOptions::default(),
            );
            let s = &d.endpoints[0].scrapes[0];
            assert_eq!(s.time_source, TimeSource::FileMtime, "{bad}");
        }
    }

    /// `--target-label` naming a label no sample has (a typo) says so.
    #[test]
    fn a_target_label_on_no_sample_is_a_warning() {
        let options = BuildOptions {
            target_labels: vec!["instnace".to_owned(), "instance".to_owned()],
            ..BuildOptions::default()
        };
        let fleet = "a{instance=\"h:1\"} 1\na{instance=\"h:2\"} 1\n";
        let d = build(vec![input("f.prom", fleet, Origin::default())], &options);
        assert_eq!(d.endpoints.len(), 2);
        assert_eq!(
            d.warnings,
            ["--target-label instnace: no sample of any input has this label"]
        );
    }

    /// A scrape whose `target_info` names two instances (two scrapes pasted into
    /// one file) is not one instance: identity falls back, and a warning says why.
    #[test]
    fn two_instance_ids_in_one_scrape_are_a_warning() {
        let text = "target_info{service_instance_id=\"b\"} 1\ntarget_info{service_instance_id=\"a\"} 1\nc_total 1\n";
        let d = build(
            vec![input("two.prom", text, Origin::default())],
            &BuildOptions::default(),
        );
        assert_eq!(d.endpoints[0].identity, IdentitySource::File);
        assert_eq!(
            d.warnings,
            ["two.prom: target_info names 2 service_instance_id values (a, b): not one instance, so not its identity"]
        );
    }

    /// A timeline row written twice (the same endpoint, time and text) is one
    /// scrape: a repeated input never weighs twice in a window.
    #[test]
    fn a_repeated_scrape_counts_once() {
        let at = |t: f64| Origin {
            row_time: Some(t),
            row_endpoint: Some("e".to_owned()),
            ..Origin::default()
        };
        let rows = vec![
            input("t.jsonl:1", "g 0.2\n", at(0.0)),
            input("t.jsonl:2", "g 0.9\n", at(30.0)),
            input("t.jsonl:3", "g 0.2\n", at(0.0)),
            input("t.jsonl:4", "g 0.3\n", at(0.0)),
        ];
        let d = build(rows, &BuildOptions::default());
        let sources: Vec<&str> = d.endpoints[0].scrapes.iter().map(|s| d.source(s)).collect();
        assert_eq!(sources, ["t.jsonl:1", "t.jsonl:4", "t.jsonl:2"]);
        assert_eq!(
            d.warnings,
            ["t.jsonl:3: repeats t.jsonl:1 (same endpoint, time and content): read once"]
        );
    }

    #[test]
    fn start_and_end_leave_scrapes_out() {
        let at = |t: f64| Origin {
            row_time: Some(t),
            row_endpoint: Some("e".to_owned()),
            ..Origin::default()
        };
        let rows = vec![
            input("t.jsonl:1", "c_total 1\n", at(100.0)),
            input("t.jsonl:2", "c_total 2\n", at(200.0)),
            input("t.jsonl:3", "c_total 3\n", at(300.0)),
        ];
        let options = BuildOptions {
            start: Some(150.0),
            end: Some(300.0),
            ..BuildOptions::default()
        };
        let d = build(rows, &options);
        assert_eq!(d.outside_window, 1);
        assert_eq!(d.endpoints[0].scrapes.len(), 2);
    }
}
