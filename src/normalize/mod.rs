//! Normalized evidence: the series index over one scrape and the signals that engine
//! packs map onto it.
//!
//! Sits between `evidence` (parsed expositions) and `eval` (rules). Knows nothing of
//! files or of any particular engine: which names mean what is pack data.

pub mod pattern;
pub mod window;

use crate::evidence::prometheus::{Exposition, FamilyView, MetricType, SampleRole};
use pattern::Pattern;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// FxHash for maps keyed by metric names, built for every scrape: the names are
/// the exporter's, and SipHash's DoS resistance costs more than it guards here.
type Fx = std::hash::BuildHasherDefault<rustc_hash::FxHasher>;

/// The metric type a signal reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignalType {
    Counter,
    Gauge,
    Histogram,
    Info,
}

/// How the series of one family are combined into one number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    Sum,
    Max,
    Min,
    Avg,
}

/// The samples of one family, with its declared or inferred type.
#[derive(Debug)]
pub struct FamilyEntry {
    pub kind: Option<MetricType>,
    pub samples: Vec<u32>,
}

/// Families of one scrape by name, and every distinct name (families and samples)
/// for pattern matching. A scrape is a whole exposition or one target's part of a
/// fleet dump ([`SeriesIndex::parts`]); the target labels of a part identify the
/// endpoint and are not series labels.
pub struct SeriesIndex<'a> {
    pub expo: &'a Exposition,
    families: HashMap<String, FamilyEntry, Fx>,
    names: Vec<String>,
    /// The role of each distinct sample name (`Exposition::names` order), computed
    /// once per exposition so signal computation never re-derives it per sample.
    roles: Arc<Vec<SampleRole>>,
    /// The samples of a part, in source order; `None` for the whole exposition.
    part: Option<Vec<u32>>,
    /// Label keys that identify the target, hidden from series labels.
    hidden: Arc<Vec<String>>,
    /// Glob and regex matches, shared by every index with exactly these names (the
    /// targets of a fleet dump, the scrapes of a timeline): each pattern is matched
    /// once per distinct set of names. See [`share_matches`].
    memo: Option<Arc<MatchMemo>>,
}

/// Each glob or regex pattern's matches (positions in the sorted names).
#[derive(Default)]
struct MatchMemo {
    hits: std::sync::Mutex<HashMap<String, Arc<Vec<u32>>>>,
}

impl MatchMemo {
    fn hits(&self, pattern: &Pattern, names: &[String]) -> Arc<Vec<u32>> {
        let mut cache = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(hit) = cache.get(pattern.as_str()) {
            return hit.clone();
        }
        let found: Vec<u32> = match_names(pattern, names)
            .into_iter()
            .map(|i| i as u32)
            .collect();
        let found = Arc::new(found);
        cache.insert(pattern.as_str().to_owned(), found.clone());
        found
    }
}

/// Positions of the sorted names a glob or regex matches.
fn match_names(pattern: &Pattern, names: &[String]) -> Vec<usize> {
    match pattern {
        Pattern::Glob(g) => {
            // Names are sorted: a glob's literal prefix narrows the scan to one run.
            let prefix = g.split(['*', '?']).next().unwrap_or("");
            let start = names.partition_point(|n| n.as_str() < prefix);
            (start..names.len())
                .take_while(|&i| names[i].starts_with(prefix))
                .filter(|&i| pattern.matches(&names[i]))
                .collect()
        }
        _ => (0..names.len())
            .filter(|&i| pattern.matches(&names[i]))
            .collect(),
    }
}

/// Lets indexes with identical names share their glob and regex matches: a run over
/// a thousand scrapes of the same exporter matches each pattern once.
pub fn share_matches<'x, 'a: 'x>(indexes: impl Iterator<Item = &'x mut SeriesIndex<'a>>) {
    use std::hash::{Hash, Hasher};
    type Shared = Vec<(Vec<String>, Arc<MatchMemo>)>;
    let mut seen: HashMap<u64, Shared> = HashMap::new();
    for index in indexes {
        let mut h = rustc_hash::FxHasher::default();
        index.names.hash(&mut h);
        let same = seen.entry(h.finish()).or_default();
        let memo = match same.iter().find(|(names, _)| *names == index.names) {
            Some((_, memo)) => memo.clone(),
            None => {
                let memo = Arc::new(MatchMemo::default());
                same.push((index.names.clone(), memo.clone()));
                memo
            }
        };
        index.memo = Some(memo);
    }
}

impl<'a> SeriesIndex<'a> {
    pub fn new(expo: &'a Exposition) -> Self {
        let (views, roles) = expo.families_and_roles();
        let roles = Arc::new(roles);
        build_index(expo, views, roles, None, Arc::new(Vec::new()))
    }

    /// One index per part of an exposition (each a list of sample ids in source
    /// order), sharing one pass over its families; `hidden` label keys are not
    /// series labels. A family declared without samples carries no target label:
    /// it goes with the part whose samples carry none, or the only part, and is
    /// never copied into each of many parts (that grew as targets × families).
    pub fn parts(expo: &'a Exposition, parts: Vec<Vec<u32>>, hidden: Vec<String>) -> Vec<Self> {
        let (views, roles) = expo.families_and_roles();
        let roles = Arc::new(roles);
        let mut owner: Vec<u32> = vec![u32::MAX; expo.samples.len()];
        for (p, ids) in parts.iter().enumerate() {
            for &i in ids {
                if let Some(o) = owner.get_mut(i as usize) {
                    *o = p as u32;
                }
            }
        }
        let home = home_of_declared(expo, &parts, &hidden);
        let hidden = Arc::new(hidden);
        let mut per_part: Vec<Vec<FamilyView>> = (0..parts.len()).map(|_| Vec::new()).collect();
        for view in views {
            if view.samples.is_empty() {
                if let Some(h) = home {
                    per_part[h].push(view);
                }
                continue;
            }
            let mut split: std::collections::BTreeMap<u32, Vec<u32>> = Default::default();
            for &i in &view.samples {
                if let Some(p) = owner.get(i as usize).filter(|p| **p != u32::MAX) {
                    split.entry(*p).or_default().push(i);
                }
            }
            for (p, samples) in split {
                per_part[p as usize].push(FamilyView {
                    name: view.name.clone(),
                    kind: view.kind,
                    samples,
                });
            }
        }
        let mut out: Vec<SeriesIndex> = per_part
            .into_iter()
            .zip(parts)
            .map(|(views, ids)| build_index(expo, views, roles.clone(), Some(ids), hidden.clone()))
            .collect();
        share_matches(out.iter_mut());
        out
    }

    /// The samples of this scrape, in source order.
    pub fn sample_ids(&self) -> Box<dyn Iterator<Item = u32> + '_> {
        match &self.part {
            Some(ids) => Box::new(ids.iter().copied()),
            None => Box::new(0..self.expo.samples.len() as u32),
        }
    }

    pub fn sample_count(&self) -> usize {
        self.part.as_ref().map_or(self.expo.samples.len(), Vec::len)
    }

    /// Whether a label key identifies the target rather than a series.
    pub fn is_hidden(&self, key: &str) -> bool {
        self.hidden.iter().any(|h| h == key)
    }

    /// A sample's series labels (target labels left out), in source order.
    pub fn series_labels(&self, sample: u32) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        let s = &self.expo.samples[sample as usize];
        self.expo.labels(s).filter(|(k, _)| !self.is_hidden(k))
    }

    /// The role of a sample within its family (`_total`, `_bucket`, …).
    pub fn role(&self, sample: u32) -> SampleRole {
        let name = self.expo.samples[sample as usize].name as usize;
        self.roles.get(name).copied().unwrap_or(SampleRole::Value)
    }

    /// Every distinct family and sample name.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn family(&self, name: &str) -> Option<&FamilyEntry> {
        self.families.get(name)
    }

    pub fn family_count(&self) -> usize {
        self.families.len()
    }

    /// Every family of this scrape, in no particular order.
    pub fn families(&self) -> impl Iterator<Item = (&str, &FamilyEntry)> {
        self.families.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Label keys present on any sample of a family, sorted.
    pub fn label_keys(&self, family: &str) -> Vec<&'a str> {
        let mut keys: std::collections::BTreeSet<&str> = Default::default();
        if let Some(f) = self.families.get(family) {
            for &i in &f.samples {
                for (k, _) in self.expo.labels(&self.expo.samples[i as usize]) {
                    if k != "le" && k != "quantile" && !self.is_hidden(k) {
                        keys.insert(k);
                    }
                }
            }
        }
        keys.into_iter().collect()
    }

    /// Distinct values of a label key over a family's samples, sorted.
    pub fn label_values(&self, family: &str, key: &str) -> Vec<&'a str> {
        let mut values: std::collections::BTreeSet<&str> = Default::default();
        if let Some(f) = self.families.get(family) {
            for &i in &f.samples {
                values.extend(self.expo.label(&self.expo.samples[i as usize], key));
            }
        }
        values.into_iter().collect()
    }

    /// Distinct names matching a pattern, sorted.
    pub fn matching<'s>(&'s self, pattern: &Pattern) -> Vec<&'s str> {
        let at = |i: usize| self.names[i].as_str();
        match (pattern, &self.memo) {
            (Pattern::Exact(n), _) => self
                .names
                .binary_search(n)
                .map(|i| vec![at(i)])
                .unwrap_or_default(),
            (_, Some(memo)) => memo
                .hits(pattern, &self.names)
                .iter()
                .map(|&i| at(i as usize))
                .collect(),
            (_, None) => match_names(pattern, &self.names)
                .into_iter()
                .map(at)
                .collect(),
        }
    }

    /// Family names matching a pattern. An exact counter name finds its family
    /// whichever way the exporter declared it: prometheus_client writes
    /// `# TYPE x_total counter`, OpenMetrics and hand-written text `# TYPE x counter`.
    pub fn matching_families<'s>(&'s self, pattern: &Pattern) -> Vec<&'s str> {
        let Pattern::Exact(n) = pattern else {
            return self
                .matching(pattern)
                .into_iter()
                .filter(|n| self.families.contains_key(*n))
                .collect();
        };
        // Every family name is among the names: one lookup answers an exact name.
        let family = |name: &str| self.families.get_key_value(name).map(|(k, _)| k.as_str());
        let found = family(n).or_else(|| match n.strip_suffix("_total") {
            Some(base) => family(base),
            None => family(&format!("{n}_total")),
        });
        found.into_iter().collect()
    }
}

/// The part that holds the families declared without samples: the only part, or
/// the one whose samples carry no hidden (target) label.
fn home_of_declared(expo: &Exposition, parts: &[Vec<u32>], hidden: &[String]) -> Option<usize> {
    if parts.len() == 1 {
        return Some(0);
    }
    parts.iter().position(|ids| {
        let first = ids.first().and_then(|&i| expo.samples.get(i as usize));
        first.is_some_and(|s| {
            hidden
                .iter()
                .all(|k| expo.label(s, k).is_none_or(str::is_empty))
        })
    })
}

fn build_index<'a>(
    expo: &'a Exposition,
    views: Vec<FamilyView>,
    roles: Arc<Vec<SampleRole>>,
    part: Option<Vec<u32>>,
    hidden: Arc<Vec<String>>,
) -> SeriesIndex<'a> {
    let mut families = HashMap::with_capacity_and_hasher(views.len(), Fx::default());
    let mut names: Vec<String> = match &part {
        None => expo.names.clone(),
        Some(ids) => {
            // The part's own names, at a cost of its samples (not of every name in
            // the exposition, once per part).
            let mut own: Vec<u32> = ids.iter().map(|&i| expo.samples[i as usize].name).collect();
            own.sort_unstable();
            own.dedup();
            own.iter()
                .map(|&n| expo.names[n as usize].clone())
                .collect()
        }
    };
    for view in views {
        // OTel names arrive dotted when a pipeline keeps UTF-8 names
        // (`server.l1_read_chunks_total`); packs name the Prometheus
        // translation, where every character outside [a-zA-Z0-9:_] is `_`.
        let translated = otel_to_prometheus(&view.name);
        if let Some(alias) = translated.filter(|a| !families.contains_key(a)) {
            names.push(alias.clone());
            families.insert(
                alias,
                FamilyEntry {
                    kind: view.kind,
                    samples: view.samples.clone(),
                },
            );
        }
        names.push(view.name.clone());
        families.insert(
            view.name,
            FamilyEntry {
                kind: view.kind,
                samples: view.samples,
            },
        );
    }
    names.sort_unstable();
    names.dedup();
    SeriesIndex {
        expo,
        families,
        names,
        roles,
        part,
        hidden,
        memo: None,
    }
}

/// The Prometheus spelling of an OTel-style name, when it differs.
pub fn otel_to_prometheus(name: &str) -> Option<String> {
    if name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
    {
        return None;
    }
    Some(
        name.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == ':' {
                    c
                } else {
                    '_'
                }
            })
            .collect(),
    )
}

/// Whether the matched name is the current upstream spelling or a legacy alias.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Spelling {
    Current,
    Legacy,
}

/// A signal as a pack declares it, with compiled patterns.
#[derive(Clone, Debug)]
pub struct SignalSpec {
    pub name: String,
    pub kind: SignalType,
    pub unit: String,
    pub current: Vec<Pattern>,
    pub legacy: Vec<Pattern>,
    pub aggregate: Aggregate,
    pub labels: Vec<(String, String)>,
    pub group_by: Vec<String>,
    /// The label an engine names its data-parallel ranks with, when it declares one.
    pub rank_label: Option<String>,
    /// Sibling signals whose movement makes this absent counter read as 0.
    pub absent_is_zero_when: Vec<String>,
    /// Info signals: the label whose value, read as a number, is the value.
    pub value_label: Option<String>,
}

/// Histogram statistics over the merged buckets of every matching series.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct HistogramStats {
    /// Cumulative bucket counts by upper bound, for merging across endpoints.
    #[serde(skip)]
    #[schemars(skip)]
    pub buckets: Vec<(f64, f64)>,
    pub count: f64,
    pub sum: f64,
    /// `None` when there were no observations.
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// One computed signal and where it came from.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct SignalValue {
    /// The signal's type, as its pack declares it.
    #[serde(rename = "type")]
    pub kind: SignalType,
    /// The number rules read: counter total, aggregated gauge, histogram mean (absent
    /// when a histogram has no observations), 1 for a present info family.
    pub value: Option<f64>,
    pub family: String,
    pub spelling: Spelling,
    /// Series that contributed.
    pub series: usize,
    /// Source line of the first contributing sample.
    pub line: u32,
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub histogram: Option<HistogramStats>,
    /// Per-group values when the signal declares `group_by` (counters and gauges:
    /// the same aggregation per group; histograms: the mean per group).
    #[serde(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupValue>,
    /// The window forms, when the endpoint has two or more scrapes.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<window::WindowStats>,
    /// Gauges and counters of an engine with a rank label: the value of each rank
    /// (latest scrape), in rank order; empty when no series names a rank (one
    /// rank). Listed in reports when two or more ranks report. `None` where
    /// ranks are not comparable: the deployment view of several endpoints (rank
    /// 0 of one pod is not rank 0 of another), histograms and info.
    #[serde(default)]
    #[serde(skip_serializing_if = "few_ranks")]
    pub ranks: Option<Vec<RankValue>>,
    /// Ranks the engine's other series name (or a gap in their numbering) that
    /// report no series of this signal.
    #[serde(default)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ranks_missing: Vec<String>,
    /// No series matched, but sibling counters moved: a counter its exporter
    /// creates on the first event reads as 0 (the pack's `absent_is_zero_when`).
    #[serde(default)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub absent_as_zero: bool,
}

/// A signal's value on one data-parallel rank.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct RankValue {
    /// The rank label's value (`"0"`).
    pub rank: String,
    pub value: Option<f64>,
    pub series: usize,
}

/// The value of one per-rank variable: a number, a rank as text, or a map from
/// rank to value.
#[derive(Clone, Debug, PartialEq)]
pub enum RankVar {
    Num(f64),
    Text(String),
    Map(Vec<(String, f64)>),
}

fn few_ranks(ranks: &Option<Vec<RankValue>>) -> bool {
    ranks.as_ref().is_none_or(|r| r.len() < 2)
}

/// A signal's value over the series sharing one combination of `group_by` labels.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct GroupValue {
    /// `label=value` pairs, in `group_by` order; a missing label is `""`.
    pub labels: Vec<(String, String)>,
    pub value: Option<f64>,
    pub series: usize,
}

/// Variables a signal of this type offers to expressions, as `(suffix, description)`.
pub fn signal_variables(kind: SignalType) -> &'static [(&'static str, &'static str)] {
    match kind {
        SignalType::Histogram => &[
            ("", "mean of all observations"),
            ("_count", "number of observations"),
            ("_sum", "sum of observations"),
            ("_p50", "median estimated from buckets"),
            ("_p90", "90th percentile estimated from buckets"),
            ("_p95", "95th percentile estimated from buckets"),
            ("_p99", "99th percentile estimated from buckets"),
            (
                "_recent_count",
                "observations in the window with two scrapes, else since start",
            ),
            (
                "_recent_sum",
                "sum of the observations in the window with two scrapes, else since start",
            ),
            (
                "_recent_avg",
                "mean observation in the window with two scrapes, else since start",
            ),
        ],
        SignalType::Counter => &COUNTER_VARIABLES,
        SignalType::Gauge => &GAUGE_VARIABLES,
        SignalType::Info => &[("", "value")],
    }
}

/// The value, then the per-rank variables of gauges and counters (latest scrape;
/// see `rank_label` in docs/rules.md).
const WITH_RANKS: [(&str, &str); 9] = [
    ("", "value"),
    ("_ranks", "ranks reporting the signal (1 when no series names a rank)"),
    ("_rank_max", "the highest value of one rank"),
    ("_rank_min", "the lowest value of one rank"),
    (
        "_rank_max_at",
        "the rank holding the highest value (text; the first in rank order on a tie)",
    ),
    (
        "_rank_min_at",
        "the rank holding the lowest value (text; the first in rank order on a tie)",
    ),
    (
        "_by_rank",
        "map from rank (text) to its value: `queue_running_by_rank[\"1\"]`",
    ),
    (
        "_ranks_missing",
        "ranks the engine's other series name, or missing between its lowest and highest numbered rank, that report no series of this signal",
    ),
    (
        "_ranks_missing_list",
        "those ranks as text (`1, 3`; empty when none)",
    ),
];

/// `_by`: a grouped signal's value per label combination.
const BY_GROUP: (&str, &str) = (
    "_by",
    "the value per `group_by` combination: a map from the labels' values (joined by `,`) to the value",
);

/// A gauge's variables: the value, per rank, per group.
const GAUGE_VARIABLES: [(&str, &str); 10] = {
    let r = WITH_RANKS;
    [
        r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], BY_GROUP,
    ]
};

/// A counter's variables: a gauge's, and `_recent`.
const COUNTER_VARIABLES: [(&str, &str); 11] = {
    let g = GAUGE_VARIABLES;
    [
        g[0],
        (
            "_recent",
            "increase over the window with two scrapes, else the total since start",
        ),
        g[1],
        g[2],
        g[3],
        g[4],
        g[5],
        g[6],
        g[7],
        g[8],
        g[9],
    ]
};

/// The per-rank variables of gauges and counters.
pub const RANK_VARIABLES: &[(&str, &str)] = WITH_RANKS.as_slice().split_at(1).1;

/// Whether a variable suffix names a window form for a signal of this type.
pub fn is_window_suffix(kind: SignalType, suffix: &str) -> bool {
    window::window_variables(kind)
        .iter()
        .any(|(w, _)| *w == suffix)
}

impl SignalValue {
    /// The value of one variable of this signal (suffix from [`signal_variables`] or
    /// [`window::window_variables`] for its type).
    pub fn variable(&self, suffix: &str) -> Option<f64> {
        if is_window_suffix(self.kind, suffix) {
            return self.window.as_ref().and_then(|w| w.variable(suffix));
        }
        let h = self.histogram.as_ref();
        let w = self.window.as_ref();
        match suffix {
            "" => self.value,
            // The window when the endpoint has one, else since start: a finding
            // that reads these is evaluable on one scrape and windowed on two.
            "_recent" => w.map_or(self.value, |w| w.recent),
            "_recent_count" => w.map_or(h.map(|h| h.count), |w| w.count),
            "_recent_sum" => w.map_or(h.map(|h| h.sum), |w| w.sum),
            "_recent_avg" => w.map_or(self.value, |w| w.avg),
            "_count" => h.map(|h| h.count),
            "_sum" => h.map(|h| h.sum),
            "_p50" => h.and_then(|h| h.p50),
            "_p90" => h.and_then(|h| h.p90),
            "_p95" => h.and_then(|h| h.p95),
            "_p99" => h.and_then(|h| h.p99),
            _ => None,
        }
    }

    /// The value of a per-rank variable (a suffix of [`RANK_VARIABLES`]); `None`
    /// for other suffixes, and where ranks are not comparable.
    pub fn rank_variable(&self, suffix: &str) -> Option<RankVar> {
        if !RANK_VARIABLES.iter().any(|(s, _)| *s == suffix) {
            return None;
        }
        let listed = self.ranks.as_ref()?;
        let one = [RankValue {
            rank: String::new(),
            value: self.value,
            series: self.series,
        }];
        let ranks: Vec<(&str, f64)> = if listed.is_empty() { &one[..] } else { listed }
            .iter()
            .filter_map(|r| Some((r.rank.as_str(), r.value?)))
            .collect();
        let max = ranks
            .iter()
            .copied()
            .reduce(|a, b| if b.1 > a.1 { b } else { a });
        let min = ranks
            .iter()
            .copied()
            .reduce(|a, b| if b.1 < a.1 { b } else { a });
        Some(match suffix {
            "_ranks" => RankVar::Num(ranks.len() as f64),
            "_rank_max" => RankVar::Num(max?.1),
            "_rank_min" => RankVar::Num(min?.1),
            "_rank_max_at" => RankVar::Text(max?.0.to_owned()),
            "_rank_min_at" => RankVar::Text(min?.0.to_owned()),
            "_by_rank" => RankVar::Map(ranks.iter().map(|(r, v)| ((*r).to_owned(), *v)).collect()),
            "_ranks_missing" => RankVar::Num(self.ranks_missing.len() as f64),
            _ => RankVar::Text(self.ranks_missing.join(", ")),
        })
    }
}

impl SignalValue {
    /// A counter with no series read as 0 (see `absent_is_zero_when`): the instant
    /// value 0, and over two or more scrapes an increase of 0.
    pub fn absent_zero(spec: &SignalSpec, scrapes: &[window::TimedIndex]) -> SignalValue {
        let family = spec
            .current
            .iter()
            .find_map(|p| match p {
                Pattern::Exact(name) => Some(name.clone()),
                _ => None,
            })
            .unwrap_or_default();
        let window = (scrapes.len() >= 2).then(|| {
            let seconds = match (scrapes[0].1, scrapes[scrapes.len() - 1].1) {
                (Some(a), Some(b)) if b >= a => Some(b - a),
                _ => None,
            };
            window::WindowStats {
                scrapes: scrapes.len(),
                seconds,
                delta: Some(0.0),
                rate: seconds.filter(|s| *s > 0.0).map(|_| 0.0),
                resets: Some(0.0),
                ..window::WindowStats::default()
            }
        });
        SignalValue {
            kind: spec.kind,
            value: Some(0.0),
            family,
            spelling: Spelling::Current,
            series: 0,
            line: 0,
            histogram: None,
            groups: Vec::new(),
            window,
            ranks: None,
            ranks_missing: Vec::new(),
            absent_as_zero: true,
        }
    }
}

/// The samples a signal reads in one scrape: the first current pattern that
/// matches a family wins, then the legacy ones.
pub struct Matched {
    pub samples: Vec<u32>,
    pub family: String,
    pub spelling: Spelling,
}

pub fn matched_samples(spec: &SignalSpec, index: &SeriesIndex) -> Option<Matched> {
    let candidates = spec
        .current
        .iter()
        .map(|p| (p, Spelling::Current))
        .chain(spec.legacy.iter().map(|p| (p, Spelling::Legacy)));
    for (pattern, spelling) in candidates {
        let families = families_with_variants(index, pattern, &spec.unit);
        if families.is_empty() {
            continue;
        }
        let samples: Vec<u32> = families
            .iter()
            .filter_map(|f| index.family(f))
            .flat_map(|f| f.samples.iter().copied())
            .filter(|&i| label_filter_holds(index.expo, i, &spec.labels))
            .collect();
        return Some(Matched {
            samples,
            family: families[0].to_owned(),
            spelling,
        });
    }
    None
}

/// Computes one signal over a scrape (its instant value).
pub fn compute_signal(spec: &SignalSpec, index: &SeriesIndex) -> Option<SignalValue> {
    let m = matched_samples(spec, index)?;
    let mut value = value_of(spec, index, &m.samples, m.family, m.spelling);
    if !spec.group_by.is_empty() {
        value.groups = groups_of(spec, index, &m.samples, m.spelling);
    }
    value.ranks = ranks_of(spec, index, &m.samples, m.spelling);
    Some(value)
}

/// A signal over an endpoint's scrapes in time order: the instant value from the
/// latest scrape, and the window forms when there are two or more.
pub fn compute_over(spec: &SignalSpec, scrapes: &[window::TimedIndex]) -> Option<SignalValue> {
    let found: window::Found = scrapes
        .iter()
        .map(|(index, _)| (*index, matched_samples(spec, index)))
        .collect();
    let (latest, m) = found.last()?;
    let m = m.as_ref()?;
    let mut value = value_of(spec, latest, &m.samples, m.family.clone(), m.spelling);
    if !spec.group_by.is_empty() {
        value.groups = groups_of(spec, latest, &m.samples, m.spelling);
    }
    value.ranks = ranks_of(spec, latest, &m.samples, m.spelling);
    value.window = window::window_of(spec, scrapes, &found);
    Some(value)
}

/// Exact names also match their unit-suffix variants: OTel exporters append the unit
/// (`server_l1_read_chunks_total`) where older ones did not, and the reverse.
fn families_with_variants<'s>(
    index: &'s SeriesIndex,
    pattern: &Pattern,
    unit: &str,
) -> Vec<&'s str> {
    let found = index.matching_families(pattern);
    if !found.is_empty() || unit.is_empty() {
        return found;
    }
    let Pattern::Exact(name) = pattern else {
        return found;
    };
    let suffix = format!("_{unit}");
    let variant = match name.strip_suffix(&suffix) {
        Some(base) => base.to_owned(),
        None => format!("{name}{suffix}"),
    };
    index.matching_families(&Pattern::Exact(variant))
}

fn groups_of(
    spec: &SignalSpec,
    index: &SeriesIndex,
    samples: &[u32],
    spelling: Spelling,
) -> Vec<GroupValue> {
    let mut groups: HashMap<Vec<(String, String)>, Vec<u32>> = HashMap::new();
    for &i in samples {
        let s = &index.expo.samples[i as usize];
        let key: Vec<(String, String)> = spec
            .group_by
            .iter()
            .map(|k| (k.clone(), index.expo.label(s, k).unwrap_or("").to_owned()))
            .collect();
        groups.entry(key).or_default().push(i);
    }
    let mut out: Vec<GroupValue> = groups
        .into_iter()
        .map(|(labels, m)| {
            let v = value_of(spec, index, &m, String::new(), spelling);
            GroupValue {
                labels,
                value: v.value,
                series: v.series,
            }
        })
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out
}

/// A gauge's or counter's value per rank, by the signal's own aggregation within
/// each rank (a queue summed over models, then one number per rank), in rank
/// order; empty when no sample names a rank. `None` for other types.
fn ranks_of(
    spec: &SignalSpec,
    index: &SeriesIndex,
    samples: &[u32],
    spelling: Spelling,
) -> Option<Vec<RankValue>> {
    if !matches!(spec.kind, SignalType::Gauge | SignalType::Counter) {
        return None;
    }
    let Some(key) = &spec.rank_label else {
        return Some(Vec::new());
    };
    let mut by: HashMap<&str, Vec<u32>, Fx> = HashMap::default();
    for &i in samples {
        let rank = index.expo.label(&index.expo.samples[i as usize], key);
        by.entry(rank.unwrap_or("")).or_default().push(i);
    }
    if by.len() == 1 && by.contains_key("") {
        return Some(Vec::new());
    }
    let mut out: Vec<RankValue> = by
        .into_iter()
        .map(|(rank, m)| {
            let v = value_of(spec, index, &m, String::new(), spelling);
            RankValue {
                rank: rank.to_owned(),
                value: v.value,
                series: v.series,
            }
        })
        .collect();
    out.sort_by(|a, b| rank_order(&a.rank, &b.rank));
    Some(out)
}

/// Ranks in numeric order when both are numbers, else by text.
fn rank_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// Marks, on each of an engine's per-rank signals, the ranks it does not report:
/// ranks any other signal of the engine names, and numbered ranks missing between
/// the lowest and the highest (engines 0, 1 and 3 report: 2 is missing). A rank
/// missing past the highest cannot be seen in the scrape.
pub fn mark_missing_ranks(signals: &mut BTreeMap<String, SignalValue>) {
    let mut all: std::collections::BTreeSet<&str> = Default::default();
    for v in signals.values() {
        all.extend(v.ranks.iter().flatten().map(|r| r.rank.as_str()));
    }
    let numbers: Vec<u64> = all.iter().filter_map(|r| r.parse().ok()).collect();
    let mut expected: Vec<String> = all.iter().map(|r| (*r).to_owned()).collect();
    if let (Some(lo), Some(hi)) = (numbers.iter().min(), numbers.iter().max()) {
        // Bounded: a rank label is an engine index, not an arbitrary number.
        if hi - lo < 4096 {
            expected.extend((*lo..=*hi).map(|n| n.to_string()));
        }
    }
    expected.sort_by(|a, b| rank_order(a, b));
    expected.dedup();
    for v in signals.values_mut() {
        let Some(own) = v.ranks.as_ref().filter(|r| !r.is_empty()) else {
            continue;
        };
        v.ranks_missing = expected
            .iter()
            .filter(|e| !own.iter().any(|r| &r.rank == *e))
            .cloned()
            .collect();
    }
}

pub(crate) fn value_of(
    spec: &SignalSpec,
    index: &SeriesIndex,
    samples: &[u32],
    family: String,
    spelling: Spelling,
) -> SignalValue {
    match spec.kind {
        SignalType::Counter => counter_value(index, samples, family, spelling),
        SignalType::Gauge => gauge_value(index, samples, spec.aggregate, family, spelling),
        SignalType::Histogram => histogram_value(index, samples, family, spelling),
        SignalType::Info => SignalValue {
            kind: SignalType::Info,
            value: info_value(spec, index.expo, samples),
            family,
            spelling,
            series: samples.len(),
            line: first_line(index.expo, samples),
            histogram: None,
            groups: Vec::new(),
            window: None,
            ranks: None,
            ranks_missing: Vec::new(),
            absent_as_zero: false,
        },
    }
}

/// An info signal's value: 1, or with `value_label` the highest value of that label
/// read as a number (none when no series carries a number there).
fn info_value(spec: &SignalSpec, expo: &Exposition, samples: &[u32]) -> Option<f64> {
    let Some(label) = &spec.value_label else {
        return Some(1.0);
    };
    samples
        .iter()
        .filter_map(|&i| expo.label(&expo.samples[i as usize], label))
        .filter_map(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .reduce(f64::max)
}

fn label_filter_holds(expo: &Exposition, sample: u32, labels: &[(String, String)]) -> bool {
    let s = &expo.samples[sample as usize];
    labels
        .iter()
        .all(|(k, v)| expo.label(s, k) == Some(v.as_str()))
}

fn first_line(expo: &Exposition, samples: &[u32]) -> u32 {
    samples
        .first()
        .map_or(0, |&i| expo.samples[i as usize].line)
}

fn counter_value(
    index: &SeriesIndex,
    samples: &[u32],
    family: String,
    spelling: Spelling,
) -> SignalValue {
    let expo = index.expo;
    let used: Vec<u32> = samples
        .iter()
        .copied()
        .filter(|&i| matches!(index.role(i), SampleRole::Total | SampleRole::Value))
        .collect();
    let total = used
        .iter()
        .map(|&i| expo.samples[i as usize].value)
        .filter(|v| v.is_finite())
        .sum();
    SignalValue {
        kind: SignalType::Counter,
        value: Some(total),
        family,
        spelling,
        series: used.len(),
        line: first_line(expo, &used),
        histogram: None,
        groups: Vec::new(),
        window: None,
        ranks: None,
        ranks_missing: Vec::new(),
        absent_as_zero: false,
    }
}

fn gauge_value(
    index: &SeriesIndex,
    samples: &[u32],
    aggregate: Aggregate,
    family: String,
    spelling: Spelling,
) -> SignalValue {
    let expo = index.expo;
    let used: Vec<u32> = samples
        .iter()
        .copied()
        .filter(|&i| index.role(i) == SampleRole::Value)
        .collect();
    let values: Vec<f64> = used
        .iter()
        .map(|&i| expo.samples[i as usize].value)
        .filter(|v| !v.is_nan())
        .collect();
    let value = aggregate_values(aggregate, &values);
    SignalValue {
        kind: SignalType::Gauge,
        value,
        family,
        spelling,
        series: used.len(),
        line: first_line(expo, &used),
        histogram: None,
        groups: Vec::new(),
        window: None,
        ranks: None,
        ranks_missing: Vec::new(),
        absent_as_zero: false,
    }
}

fn histogram_value(
    index: &SeriesIndex,
    samples: &[u32],
    family: String,
    spelling: Spelling,
) -> SignalValue {
    let expo = index.expo;
    let mut buckets = SumByLe::default();
    let (mut count, mut sum, mut series) = (0.0, 0.0, 0);
    for &i in samples {
        let s = &expo.samples[i as usize];
        match index.role(i) {
            SampleRole::Bucket => {
                if let Some(le) = expo.label(s, "le").and_then(parse_le) {
                    buckets.add(le, s.value);
                }
            }
            SampleRole::Count => {
                count += s.value;
                series += 1;
            }
            SampleRole::Sum => sum += s.value,
            _ => {}
        }
    }
    let buckets = buckets.sorted();
    let q = |p| histogram_quantile(p, &buckets);
    let stats = HistogramStats {
        buckets: buckets.clone(),
        count,
        sum,
        p50: q(0.50),
        p90: q(0.90),
        p95: q(0.95),
        p99: q(0.99),
    };
    SignalValue {
        kind: SignalType::Histogram,
        value: (count > 0.0).then(|| sum / count),
        family,
        spelling,
        series,
        line: first_line(expo, samples),
        histogram: Some(stats),
        groups: Vec::new(),
        window: None,
        ranks: None,
        ranks_missing: Vec::new(),
        absent_as_zero: false,
    }
}

/// A bucket's upper bound; a bound that is not a number is no bucket.
pub fn parse_le(text: &str) -> Option<f64> {
    match text.trim() {
        "+Inf" | "Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        other => other.parse().ok().filter(|le: &f64| !le.is_nan()),
    }
}

/// Bucket counts added up by upper bound (`sum by (le)`), in time linear in the
/// buckets however many bounds there are.
#[derive(Default)]
pub(crate) struct SumByLe(HashMap<u64, f64>);

impl SumByLe {
    pub(crate) fn add(&mut self, le: f64, count: f64) {
        // `+ 0.0` makes `-0` and `0` one bound.
        *self.0.entry((le + 0.0).to_bits()).or_default() += count;
    }

    /// The sums, sorted by upper bound.
    pub(crate) fn sorted(self) -> Vec<(f64, f64)> {
        let mut out: Vec<(f64, f64)> = self
            .0
            .into_iter()
            .map(|(le, n)| (f64::from_bits(le), n))
            .collect();
        out.sort_by(|a, b| a.0.total_cmp(&b.0));
        out
    }
}

/// One number from many by an aggregation; `None` for no values.
pub fn aggregate_values(aggregate: Aggregate, values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    Some(match aggregate {
        Aggregate::Sum => values.iter().sum(),
        Aggregate::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Aggregate::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
        Aggregate::Avg => values.iter().sum::<f64>() / values.len() as f64,
    })
}

/// Bucket lists added up by upper bound, sorted.
pub fn merge_buckets<'b>(lists: impl Iterator<Item = &'b [(f64, f64)]>) -> Vec<(f64, f64)> {
    let mut merged = SumByLe::default();
    for &(le, n) in lists.flatten() {
        merged.add(le, n);
    }
    merged.sorted()
}

/// One signal over a whole deployment from its endpoints' values (in endpoint
/// order): counters add up, gauges combine by their declared aggregation,
/// histograms merge their buckets (quantiles recomputed), info is present when
/// any endpoint has it. Window forms combine as [`window::combine_windows`] says.
pub fn combine(
    kind: SignalType,
    aggregate: Aggregate,
    values: &[&SignalValue],
) -> Option<SignalValue> {
    let first = *values.first()?;
    if values.len() == 1 {
        return Some(first.clone());
    }
    let present: Vec<f64> = values.iter().filter_map(|v| v.value).collect();
    let mut out = SignalValue {
        series: values.iter().map(|v| v.series).sum(),
        spelling: if values.iter().any(|v| v.spelling == Spelling::Legacy) {
            Spelling::Legacy
        } else {
            Spelling::Current
        },
        groups: combine_groups(kind, aggregate, values),
        window: None,
        histogram: None,
        // Rank 0 of one endpoint is not rank 0 of another.
        ranks: None,
        ranks_missing: Vec::new(),
        absent_as_zero: values.iter().all(|v| v.absent_as_zero),
        ..first.clone()
    };
    out.value = match kind {
        SignalType::Counter => aggregate_values(Aggregate::Sum, &present),
        SignalType::Gauge => aggregate_values(aggregate, &present),
        SignalType::Info => aggregate_values(Aggregate::Max, &present),
        SignalType::Histogram => {
            let hs: Vec<&HistogramStats> =
                values.iter().filter_map(|v| v.histogram.as_ref()).collect();
            let buckets = merge_buckets(hs.iter().map(|h| h.buckets.as_slice()));
            let q = |p| histogram_quantile(p, &buckets);
            let stats = HistogramStats {
                count: hs.iter().map(|h| h.count).sum(),
                sum: hs.iter().map(|h| h.sum).sum(),
                p50: q(0.50),
                p90: q(0.90),
                p95: q(0.95),
                p99: q(0.99),
                buckets,
            };
            let mean = (stats.count > 0.0).then(|| stats.sum / stats.count);
            out.histogram = Some(stats);
            mean
        }
    };
    let windows: Vec<&window::WindowStats> =
        values.iter().filter_map(|v| v.window.as_ref()).collect();
    out.window = window::combine_windows(kind, aggregate, &windows);
    Some(out)
}

fn combine_groups(
    kind: SignalType,
    aggregate: Aggregate,
    values: &[&SignalValue],
) -> Vec<GroupValue> {
    let how = match kind {
        SignalType::Counter => Aggregate::Sum,
        SignalType::Histogram => Aggregate::Avg,
        _ => aggregate,
    };
    type Members = (Vec<f64>, usize);
    let mut by: std::collections::BTreeMap<&[(String, String)], Members> = Default::default();
    for g in values.iter().flat_map(|v| &v.groups) {
        let e = by.entry(g.labels.as_slice()).or_default();
        e.0.extend(g.value);
        e.1 += g.series;
    }
    by.into_iter()
        .map(|(labels, (v, series))| GroupValue {
            labels: labels.to_vec(),
            value: aggregate_values(how, &v),
            series,
        })
        .collect()
}

/// Prometheus `histogram_quantile` over cumulative buckets sorted by upper bound:
/// linear interpolation inside the bucket holding the rank, 0 as the lower bound of
/// the first bucket, and the highest finite bound when the rank falls in `+Inf`.
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let total = buckets.last().filter(|b| b.0 == f64::INFINITY)?.1;
    if total <= 0.0 || buckets.len() < 2 || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let rank = q * total;
    let idx = buckets.iter().position(|b| b.1 >= rank)?;
    if idx == buckets.len() - 1 {
        return Some(buckets[buckets.len() - 2].0);
    }
    let (upper, cum) = buckets[idx];
    let (lower, prev) = if idx == 0 {
        if upper <= 0.0 {
            return Some(upper);
        }
        (0.0, 0.0)
    } else {
        buckets[idx - 1]
    };
    let in_bucket = cum - prev;
    if in_bucket <= 0.0 {
        return Some(upper);
    }
    Some(lower + (upper - lower) * (rank - prev) / in_bucket)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::prometheus::{parse, ParseOptions};

    fn spec(kind: SignalType, unit: &str, names: &[&str], legacy: &[&str]) -> SignalSpec {
        SignalSpec {
            name: "s".to_owned(),
            kind,
            unit: unit.to_owned(),
            current: names.iter().map(|n| Pattern::parse(n).unwrap()).collect(),
            legacy: legacy.iter().map(|n| Pattern::parse(n).unwrap()).collect(),
            aggregate: Aggregate::Sum,
            labels: Vec::new(),
            group_by: Vec::new(),
            rank_label: None,
            absent_is_zero_when: Vec::new(),
            value_label: None,
        }
    }

    fn ranked(text: &str, name: &str, aggregate: Aggregate) -> SignalValue {
        let expo = parse(text.as_bytes(), &ParseOptions::default());
        let mut s = spec(SignalType::Gauge, "", &[name], &[]);
        (s.aggregate, s.rank_label) = (aggregate, Some("rank".to_owned()));
        compute_signal(&s, &SeriesIndex::new(&expo)).unwrap()
    }

    /// Each rank is its own value by the signal's aggregation (a queue summed over
    /// models within a rank); ranks other signals name, or a gap in the numbering,
    /// are missing; several endpoints' ranks are not comparable.
    #[test]
    fn ranks_are_values_per_rank_and_gaps_are_missing() {
        let q = ranked(
            "q{m=\"a\",rank=\"0\"} 3\nq{m=\"b\",rank=\"0\"} 4\nq{m=\"a\",rank=\"3\"} 0\n",
            "q",
            Aggregate::Sum,
        );
        assert_eq!(q.value, Some(7.0));
        let by: Vec<(&str, Option<f64>)> = q
            .ranks
            .iter()
            .flatten()
            .map(|r| (r.rank.as_str(), r.value))
            .collect();
        assert_eq!(by, [("0", Some(7.0)), ("3", Some(0.0))]);
        let kv = ranked("k{rank=\"1\"} 0.5\n", "k", Aggregate::Max);
        let mut all = BTreeMap::from([("q".to_owned(), q.clone()), ("k".to_owned(), kv)]);
        mark_missing_ranks(&mut all);
        assert_eq!(all["q"].ranks_missing, ["1", "2"]);
        assert_eq!(all["k"].ranks_missing, ["0", "2", "3"]);
        let text = |s: &str| all["q"].rank_variable(s);
        let missing = RankVar::Text("1, 2".to_owned());
        assert_eq!(text("_ranks_missing_list"), Some(missing));
        assert_eq!(text("_rank_min_at"), Some(RankVar::Text("3".to_owned())));
        let both = combine(SignalType::Gauge, Aggregate::Sum, &[&q, &q]).unwrap();
        assert_eq!(
            (both.value, both.rank_variable("_ranks")),
            (Some(14.0), None)
        );
        let single = ranked("q{m=\"a\"} 2\n", "q", Aggregate::Sum);
        assert_eq!(single.rank_variable("_ranks"), Some(RankVar::Num(1.0)));
    }

    /// A family declared without samples carries no target label: it goes with
    /// the samples that carry none (or a dump's only target), never copied into
    /// each of many targets (2,000 declarations × 10,000 targets took 5 GB).
    #[test]
    fn declared_families_without_samples_are_not_copied_into_every_target() {
        let mut text: String = (0..2000)
            .map(|i| format!("# TYPE e_{i} counter\n"))
            .collect();
        text.push_str("a{instance=\"h:1\"} 1\na{instance=\"h:2\"} 1\nb 1\n");
        let expo = parse(text.as_bytes(), &ParseOptions::default());
        let hidden = vec!["instance".to_owned()];
        let parts = SeriesIndex::parts(&expo, vec![vec![0], vec![1], vec![2]], hidden.clone());
        let counts: Vec<usize> = parts.iter().map(SeriesIndex::family_count).collect();
        assert_eq!(counts, [1, 1, 2001]);
        assert!(parts[2].family("e_7").is_some());
        let one = SeriesIndex::parts(&expo, vec![vec![0]], hidden);
        assert_eq!(
            one[0].family_count(),
            2001,
            "a dump of one target holds them"
        );
    }

    /// Regex matches over the parts of one exposition cost the part's own names,
    /// not every match in the exposition: 10,000 targets with ten LMCache names
    /// each took minutes.
    #[test]
    fn regex_matching_over_many_parts_is_linear() {
        let targets = 10_000;
        let text: String = (0..targets * 10)
            .map(|j| format!("lmcache_zz_{j}{{instance=\"h:{}\"}} 1\n", j % targets))
            .collect();
        let expo = parse(text.as_bytes(), &ParseOptions::default());
        let mut ids = vec![Vec::new(); targets];
        for j in 0..targets * 10 {
            ids[j % targets].push(j as u32);
        }
        let parts = SeriesIndex::parts(&expo, ids, vec!["instance".to_owned()]);
        let pattern = Pattern::parse("re:^lmcache_zz_.*$").unwrap();
        let started = std::time::Instant::now();
        let found: usize = parts.iter().map(|p| p.matching(&pattern).len()).sum();
        assert_eq!(found, targets * 10);
        assert_eq!(parts[3].matching(&pattern)[0], "lmcache_zz_10003");
        assert!(
            started.elapsed().as_secs_f64() < 5.0,
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn dotted_otel_names_are_read_under_their_prometheus_spelling() {
        // Prometheus 3 / OpenMetrics 2.0 quoted names, as an OTel pipeline without
        // name translation writes them.
        let text = "# TYPE \"lmcache_mp.l1_read_chunks\" counter\n{\"lmcache_mp.l1_read_chunks_total\", model_name=\"m\"} 5\n";
        let expo = parse(text.as_bytes(), &ParseOptions::default());
        assert!(expo.dropped.is_empty(), "{:?}", expo.dropped);
        let index = SeriesIndex::new(&expo);
        let v = compute_signal(
            &spec(
                SignalType::Counter,
                "chunks",
                &["lmcache_mp_l1_read_chunks"],
                &[],
            ),
            &index,
        )
        .unwrap();
        assert_eq!(v.value, Some(5.0));
    }

    #[test]
    fn otel_names_translate_like_the_prometheus_exporter() {
        assert_eq!(
            otel_to_prometheus("lmcache_mp.event_bus.queue_depth").as_deref(),
            Some("lmcache_mp_event_bus_queue_depth")
        );
        assert_eq!(otel_to_prometheus("vllm:num_requests_running"), None);
    }

    #[test]
    fn counters_sum_total_samples_and_skip_created() {
        let text = "# TYPE a counter\na_total{m=\"x\"} 3\na_created{m=\"x\"} 1700000000\na_total{m=\"y\"} 4\n";
        let expo = parse(text.as_bytes(), &ParseOptions::default());
        let index = SeriesIndex::new(&expo);
        let v = compute_signal(&spec(SignalType::Counter, "", &["a"], &[]), &index).unwrap();
        assert_eq!(v.value, Some(7.0));
        assert_eq!(v.series, 2);
        assert_eq!(v.spelling, Spelling::Current);
    }

    #[test]
    fn counter_declared_with_total_is_found_by_its_base_name() {
        // prometheus_client's text format: `# TYPE x_total counter`.
        let text =
            "# TYPE vllm:prompt_tokens_total counter\nvllm:prompt_tokens_total{engine=\"0\"} 42\n";
        let expo = parse(text.as_bytes(), &ParseOptions::default());
        let index = SeriesIndex::new(&expo);
        let v = compute_signal(
            &spec(SignalType::Counter, "tokens", &["vllm:prompt_tokens"], &[]),
            &index,
        )
        .unwrap();
        assert_eq!(v.value, Some(42.0));
    }

    #[test]
    fn unit_suffix_variants_match_both_ways() {
        let text = "# TYPE lmcache_mp_l1_read_chunks counter\nlmcache_mp_l1_read_chunks_total 5\n";
        let expo = parse(text.as_bytes(), &ParseOptions::default());
        let index = SeriesIndex::new(&expo);
        let without_unit = spec(SignalType::Counter, "chunks", &["lmcache_mp_l1_read"], &[]);
        assert_eq!(
            compute_signal(&without_unit, &index).unwrap().value,
            Some(5.0)
        );
        let text = "lmcache_mp_l1_read_total 6\n";
        let expo = parse(text.as_bytes(), &ParseOptions::default());
        let index = SeriesIndex::new(&expo);
        let with_unit = spec(
            SignalType::Counter,
            "chunks",
            &["lmcache_mp_l1_read_chunks"],
            &[],
        );
        assert_eq!(compute_signal(&with_unit, &index).unwrap().value, Some(6.0));
    }

    #[test]
    fn legacy_spelling_only_when_no_current_one() {
        let text = "vllm:gpu_cache_usage_perc 0.5\n";
        let expo = parse(text.as_bytes(), &ParseOptions::default());
        let index = SeriesIndex::new(&expo);
        let s = spec(
            SignalType::Gauge,
            "ratio",
            &["vllm:kv_cache_usage_perc"],
            &["vllm:gpu_cache_usage_perc"],
        );
        let v = compute_signal(&s, &index).unwrap();
        assert_eq!((v.value, v.spelling), (Some(0.5), Spelling::Legacy));
        let both = "vllm:gpu_cache_usage_perc 0.5\nvllm:kv_cache_usage_perc 0.7\n";
        let expo = parse(both.as_bytes(), &ParseOptions::default());
        let index = SeriesIndex::new(&expo);
        let v = compute_signal(&s, &index).unwrap();
        assert_eq!((v.value, v.spelling), (Some(0.7), Spelling::Current));
    }

    #[test]
    fn groups_split_by_label() {
        let text = "# TYPE r counter\nr_total{model_name=\"a\",engine=\"0\"} 1\nr_total{model_name=\"a\",engine=\"1\"} 2\nr_total{model_name=\"b\",engine=\"0\"} 5\n";
        let expo = parse(text.as_bytes(), &ParseOptions::default());
        let index = SeriesIndex::new(&expo);
        let mut s = spec(SignalType::Counter, "", &["r"], &[]);
        s.group_by = vec!["model_name".to_owned()];
        let v = compute_signal(&s, &index).unwrap();
        assert_eq!(v.value, Some(8.0));
        let groups: Vec<(String, Option<f64>)> = v
            .groups
            .iter()
            .map(|g| (g.labels[0].1.clone(), g.value))
            .collect();
        assert_eq!(
            groups,
            vec![("a".to_owned(), Some(3.0)), ("b".to_owned(), Some(5.0))]
        );
    }

    #[test]
    fn histogram_stats_merge_series_by_le() {
        let text = "# TYPE h histogram\nh_bucket{e=\"0\",le=\"0.1\"} 2\nh_bucket{e=\"0\",le=\"+Inf\"} 4\nh_sum{e=\"0\"} 1.0\nh_count{e=\"0\"} 4\nh_bucket{e=\"1\",le=\"0.1\"} 2\nh_bucket{e=\"1\",le=\"+Inf\"} 6\nh_sum{e=\"1\"} 2.0\nh_count{e=\"1\"} 6\n";
        let expo = parse(text.as_bytes(), &ParseOptions::default());
        let index = SeriesIndex::new(&expo);
        let v =
            compute_signal(&spec(SignalType::Histogram, "seconds", &["h"], &[]), &index).unwrap();
        let h = v.histogram.unwrap();
        assert_eq!((h.count, h.sum), (10.0, 3.0));
        assert_eq!(v.value, Some(0.3));
        assert_eq!(h.p50, Some(0.1)); // rank 5 falls in +Inf: highest finite bound
        assert_eq!(h.p50.map(|_| v.series), Some(2));
    }

    #[test]
    fn histogram_without_observations_has_no_mean() {
        let text = "# TYPE h histogram\nh_bucket{le=\"0.1\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n";
        let expo = parse(text.as_bytes(), &ParseOptions::default());
        let index = SeriesIndex::new(&expo);
        let v =
            compute_signal(&spec(SignalType::Histogram, "seconds", &["h"], &[]), &index).unwrap();
        assert_eq!(v.value, None);
        assert_eq!(v.variable("_count"), Some(0.0));
        assert_eq!(v.variable("_p99"), None);
    }

    /// Adding buckets up by `le` is linear in buckets: a histogram of 200,000
    /// bounds (an 11 MB scrape) took a quadratic search per bucket, for the
    /// instant value, the window and the deployment alike.
    #[test]
    fn many_buckets_add_up_in_linear_time() {
        let n = 200_000;
        let mut text = String::from("# TYPE h histogram\n");
        for i in 0..n {
            text.push_str(&format!("h_bucket{{le=\"{}\"}} {i}\n", i + 1));
        }
        text.push_str(&format!(
            "h_bucket{{le=\"+Inf\"}} {n}\nh_count {n}\nh_sum 1\n"
        ));
        let expo = parse(text.as_bytes(), &ParseOptions::default());
        let index = SeriesIndex::new(&expo);
        let spec = spec(SignalType::Histogram, "seconds", &["h"], &[]);
        let started = std::time::Instant::now();
        let v = compute_signal(&spec, &index).unwrap();
        let merged = combine(SignalType::Histogram, Aggregate::Sum, &[&v, &v]).unwrap();
        let w = window::compute_window(&spec, &[(&index, Some(0.0)), (&index, Some(1.0))]);
        assert!(
            started.elapsed().as_secs_f64() < 5.0,
            "{:?}",
            started.elapsed()
        );
        assert_eq!(v.histogram.unwrap().buckets.len(), n + 1);
        assert_eq!(merged.histogram.unwrap().buckets.len(), n + 1);
        assert_eq!(w.unwrap().buckets.len(), n + 1);
    }

    /// A bound that is not a number is no bucket: `le="NaN"` sorted after `+Inf`
    /// and took every quantile away.
    #[test]
    fn a_bucket_bound_that_is_not_a_number_is_no_bucket() {
        let text = "# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"NaN\"} 7\nh_bucket{le=\"-0\"} 1\nh_bucket{le=\"0\"} 1\nh_bucket{le=\"+Inf\"} 10\nh_count 10\nh_sum 5\n";
        let expo = parse(text.as_bytes(), &ParseOptions::default());
        let index = SeriesIndex::new(&expo);
        let h = compute_signal(&spec(SignalType::Histogram, "seconds", &["h"], &[]), &index)
            .unwrap()
            .histogram
            .unwrap();
        assert_eq!(h.buckets, [(0.0, 2.0), (1.0, 5.0), (f64::INFINITY, 10.0)]);
        assert_eq!(h.p50, Some(1.0));
    }

    /// Grouping by label is linear in the series: 100,000 distinct `model_name`
    /// values took a linear search per series.
    #[test]
    fn many_groups_stay_linear() {
        let n = 100_000;
        let text: String = (0..n)
            .map(|i| format!("r_total{{model_name=\"m{i}\"}} 1\n"))
            .collect();
        let expo = parse(text.as_bytes(), &ParseOptions::default());
        let index = SeriesIndex::new(&expo);
        let mut s = spec(SignalType::Counter, "", &["r"], &[]);
        s.group_by = vec!["model_name".to_owned()];
        let started = std::time::Instant::now();
        let v = compute_signal(&s, &index).unwrap();
        assert!(
            started.elapsed().as_secs_f64() < 5.0,
            "{:?}",
            started.elapsed()
        );
        assert_eq!(v.groups.len(), n);
    }

    /// A family's label keys are gathered in time linear in its series: 100,000
    /// distinct keys took a linear search per label.
    #[test]
    fn many_label_keys_stay_linear() {
        let n = 100_000;
        let text: String = (0..n)
            .map(|i| format!("g{{k{i}=\"v\",le=\"1\"}} 1\n"))
            .collect();
        let expo = parse(text.as_bytes(), &ParseOptions::default());
        let index = SeriesIndex::new(&expo);
        let started = std::time::Instant::now();
        let keys = index.label_keys("g");
        assert!(
            started.elapsed().as_secs_f64() < 5.0,
            "{:?}",
            started.elapsed()
        );
        assert_eq!(keys.len(), n);
        assert_eq!(keys[0], "k0");
    }

    #[test]
    fn quantile_interpolates_like_prometheus() {
        // 10 observations: 4 <= 0.1, 8 <= 0.5, 10 <= 1
        let b = [(0.1, 4.0), (0.5, 8.0), (1.0, 10.0), (f64::INFINITY, 10.0)];
        let p50 = histogram_quantile(0.5, &b).unwrap();
        assert!((p50 - 0.2).abs() < 1e-9, "{p50}");
        let p90 = histogram_quantile(0.9, &b).unwrap();
        assert!((p90 - 0.75).abs() < 1e-9, "{p90}");
        // rank in +Inf bucket: highest finite bound
        let c = [(0.1, 1.0), (f64::INFINITY, 10.0)];
        assert_eq!(histogram_quantile(0.99, &c), Some(0.1));
        assert_eq!(
            histogram_quantile(0.5, &[(0.1, 0.0), (f64::INFINITY, 0.0)]),
            None
        );
    }
}
