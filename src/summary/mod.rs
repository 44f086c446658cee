//! `summarize` and `collect-metrics`: benchmark-window statistics of every family
//! and series of every endpoint, and from the engine packs each engine's latency
//! breakdown and the cross-backend equivalents.
//!
//! Scrapes stream through: each is parsed and grouped by [`deployment::build`] like
//! any input (so identity and time are those of every other command), reduced to
//! one accumulator per series ([`Increase`] for counters, histogram buckets, sums
//! and counts; the samples for gauges), and dropped. Memory grows with endpoints
//! and series, not with scrapes: the latest scrape of each endpoint is kept (for
//! engine detection), and a gauge series keeps its samples up to
//! [`GAUGE_SAMPLES`], beyond which its quantiles become estimates (said per
//! series). The statistics are those of `normalize::window`, with the same
//! functions: they equal the window forms findings read and the PromQL
//! (`increase`, `quantile_over_time`, `histogram_quantile`) over the same window.

pub mod output;
pub mod stream;

use crate::deployment::{self, BuildOptions, Deployment, IdentitySource, TimeSource};
use crate::eval::pipeline::index_scrapes;
use crate::evidence::prometheus::{MetricType, SampleRole};
use crate::evidence::Input;
use crate::normalize::window::{
    gauge_stats, histogram_stats, quantile_over, Increase, WindowStats,
};
use crate::normalize::{parse_le, SeriesIndex, SignalSpec, SignalType};
use crate::pack::Registry;
use output::{EndpointSummary, FamilySummary, SeriesSummary, Stats, Summary};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

type Fx = std::hash::BuildHasherDefault<rustc_hash::FxHasher>;

/// Samples a gauge series keeps for exact quantiles (an hour of 1 s scrapes); past
/// it every other kept sample is dropped and one in 2ᵏ new ones kept, so memory
/// stays bounded and quantiles become estimates.
pub const GAUGE_SAMPLES: usize = 4096;

/// A gauge series' samples, or a systematic sample of them once there are more
/// than [`GAUGE_SAMPLES`]; mean, deviation and extremes stay exact.
#[derive(Clone, Debug, Default)]
pub struct GaugeAcc {
    values: Vec<f64>,
    /// Samples each kept value stands for (1 until the first thinning).
    stride: u64,
    n: u64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
    first: f64,
    last: f64,
}

impl GaugeAcc {
    pub fn push(&mut self, v: f64) {
        if self.n == 0 {
            (self.stride, self.min, self.max, self.first) = (1, v, v, v);
        }
        self.n += 1;
        let d = v - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (v - self.mean);
        (self.min, self.max, self.last) = (self.min.min(v), self.max.max(v), v);
        if !(self.n - 1).is_multiple_of(self.stride) {
            return;
        }
        if self.values.len() == GAUGE_SAMPLES {
            let kept: Vec<f64> = self.values.iter().step_by(2).copied().collect();
            self.values = kept;
            self.stride *= 2;
            if !(self.n - 1).is_multiple_of(self.stride) {
                return;
            }
        }
        self.values.push(v);
    }

    /// The window statistics; `true` when the quantiles are estimates.
    pub fn stats(&self) -> Option<(WindowStats, bool)> {
        if self.n == 0 {
            return None;
        }
        let mut stats = WindowStats::default();
        if self.stride == 1 {
            gauge_stats(&self.values, &mut stats);
            return Some((stats, false));
        }
        let mut sorted = self.values.clone();
        sorted.sort_by(f64::total_cmp);
        stats.delta = Some(self.last - self.first);
        stats.avg = Some(self.mean);
        stats.std = Some((self.m2 / self.n as f64).sqrt());
        (stats.min, stats.max) = (Some(self.min), Some(self.max));
        stats.p50 = quantile_over(0.5, &sorted);
        stats.p90 = quantile_over(0.9, &sorted);
        stats.p99 = quantile_over(0.99, &sorted);
        Some((stats, true))
    }
}

/// What one series accumulates.
#[derive(Clone, Debug)]
enum Acc {
    /// Counter samples, and a histogram's buckets, `_sum` and `_count`.
    Counter(Increase),
    /// Gauges, untyped and info samples, summary quantiles.
    Gauge(GaugeAcc),
}

#[derive(Clone, Debug)]
struct Series {
    family: String,
    kind: Option<MetricType>,
    role: SampleRole,
    /// Series labels, sorted; without `le` and without target labels.
    labels: Vec<(String, String)>,
    le: Option<f64>,
    acc: Acc,
}

/// One endpoint's accumulators.
struct EndpointAcc {
    id: String,
    identity: IdentitySource,
    target: Vec<(String, String)>,
    scrapes: usize,
    first: Option<f64>,
    last: Option<f64>,
    time_sources: Vec<TimeSource>,
    index: HashMap<u64, usize, Fx>,
    series: Vec<Series>,
    /// Each series' key (as `index` has it), by slot.
    keys: Vec<u64>,
    /// The slot of each sample of the latest scrape, by its position: an
    /// exporter writes its series in the same order every scrape, so the next
    /// scrape's samples are found here (checked against `keys`) without a lookup.
    order: Vec<usize>,
    /// Per engine and gauge signal: its value in each scrape.
    signals: BTreeMap<(String, String), GaugeAcc>,
    /// The latest scrape, for engine detection and signal matching.
    latest: Option<(Arc<Deployment>, usize)>,
}

impl EndpointAcc {
    /// The slot of a series, by the position `n` of its sample in the scrape when
    /// the latest scrape had it there, else by its key.
    fn slot(&mut self, n: usize, key: u64) -> Option<usize> {
        if let Some(&at) = self.order.get(n) {
            if self.keys.get(at) == Some(&key) {
                return Some(at);
            }
        }
        let at = *self.index.get(&key)?;
        self.remember(n, at);
        Some(at)
    }

    /// A new series, at the next slot.
    fn insert(&mut self, n: usize, key: u64, series: Series) -> usize {
        let at = self.series.len();
        self.series.push(series);
        self.keys.push(key);
        self.index.insert(key, at);
        self.remember(n, at);
        at
    }

    fn remember(&mut self, n: usize, at: usize) {
        if self.order.len() <= n {
            self.order.resize(n + 1, usize::MAX);
        }
        self.order[n] = at;
    }
}

/// One input, parsed and reduced to what the accumulators need (built in parallel).
pub struct Prepared {
    deployment: Arc<Deployment>,
    scrapes: Vec<PreparedScrape>,
}

impl Prepared {
    /// The earliest time of its scrapes, when any has one.
    pub fn first_time(&self) -> Option<f64> {
        let d = &self.deployment;
        self.scrapes
            .iter()
            .filter_map(|s| d.endpoints[s.endpoint].scrapes.first()?.time)
            .reduce(f64::min)
    }
}

struct PreparedScrape {
    /// Index into the deployment's endpoints (each has the one scrape).
    endpoint: usize,
    /// Per sample kept: series key, sample id, family (index into `families`).
    samples: Vec<(u64, u32, u32)>,
    families: Vec<(String, Option<MetricType>)>,
    /// Gauge signals of the summary: (engine, signal, value).
    signals: Vec<(String, String, f64)>,
}

/// Parses and reduces inputs for a [`Summarizer`], on any thread.
#[derive(Clone)]
pub struct Preparer {
    gauges: Vec<(String, SignalSpec)>,
    build: BuildOptions,
}

impl Preparer {
    pub fn prepare(&self, input: Input) -> Prepared {
        prepare(&self.gauges, input, &self.build)
    }
}

/// What `summarize` and `collect-metrics` were asked.
#[derive(Clone, Debug, Default)]
pub struct SummaryOptions {
    pub build: BuildOptions,
}

/// Streams scrapes into per-series statistics.
pub struct Summarizer<'r> {
    registry: &'r Registry,
    options: SummaryOptions,
    /// Gauge signals named by a summary section, per engine.
    gauges: Vec<(String, SignalSpec)>,
    endpoints: BTreeMap<(IdentitySource, String), EndpointAcc>,
    pub(crate) inputs: Vec<String>,
    pub(crate) warnings: Vec<String>,
    outside_window: usize,
    repeated: usize,
    /// A scrape older than its endpoint's latest arrived: the caller re-reads in
    /// time order ([`stream`]).
    pub(crate) disordered: bool,
}

impl<'r> Summarizer<'r> {
    pub fn new(registry: &'r Registry, options: SummaryOptions) -> Self {
        let gauges = registry
            .engines
            .iter()
            .flat_map(|e| {
                let wanted = summary_signals(e);
                e.signals
                    .iter()
                    .filter(move |s| s.kind == SignalType::Gauge && wanted.contains(&s.name))
                    .map(move |s| (e.def.id.clone(), s.clone()))
            })
            .collect();
        Summarizer {
            registry,
            options,
            gauges,
            endpoints: BTreeMap::new(),
            inputs: Vec::new(),
            warnings: Vec::new(),
            outside_window: 0,
            repeated: 0,
            disordered: false,
        }
    }

    /// Parses and reduces one input; independent of every other input, so callers
    /// prepare many in parallel and [`Summarizer::add`] them in time order.
    pub fn prepare(&self, input: Input) -> Prepared {
        self.preparer().prepare(input)
    }

    /// What preparing needs, apart from the accumulators: inputs can be prepared
    /// on other threads while earlier ones are added.
    pub fn preparer(&self) -> Preparer {
        Preparer {
            gauges: self.gauges.clone(),
            build: self.options.build.clone(),
        }
    }

    /// Adds a prepared input's scrapes.
    pub fn add(&mut self, p: Prepared) {
        let d = &p.deployment;
        self.outside_window += d.outside_window;
        self.warnings.extend(d.warnings.iter().cloned());
        for pi in &d.inputs {
            if let Some(e) = &pi.error {
                self.warnings.push(format!("{}: {e}", pi.input.source));
            }
        }
        for s in &p.scrapes {
            self.add_scrape(&p.deployment, s);
        }
    }

    /// One input, prepared and added.
    pub fn add_input(&mut self, input: Input) {
        let p = self.prepare(input);
        self.add(p);
    }

    fn add_scrape(&mut self, d: &Arc<Deployment>, s: &PreparedScrape) {
        let e = &d.endpoints[s.endpoint];
        let Some(scrape) = e.scrapes.first() else {
            return;
        };
        let acc = self
            .endpoints
            .entry((e.identity, e.id.clone()))
            .or_insert_with(|| EndpointAcc {
                id: e.id.clone(),
                identity: e.identity,
                target: e.target.clone(),
                scrapes: 0,
                first: None,
                last: None,
                time_sources: Vec::new(),
                index: HashMap::default(),
                series: Vec::new(),
                keys: Vec::new(),
                order: Vec::new(),
                signals: BTreeMap::new(),
                latest: None,
            });
        if let (Some(t), Some(last)) = (scrape.time, acc.last) {
            if t == last {
                self.repeated += 1;
                return;
            }
            if t < last {
                self.disordered = true;
                return;
            }
        }
        let Some(expo) = d.expo(scrape) else {
            return;
        };
        let hidden = &d.inputs[scrape.input].target_keys;
        for (n, &(key, sample, family)) in s.samples.iter().enumerate() {
            let value = expo.samples[sample as usize].value;
            if !value.is_finite() {
                continue;
            }
            let at = match acc.slot(n, key) {
                Some(at) => at,
                None => {
                    let (name, kind) = &s.families[family as usize];
                    let series = new_series(expo, sample, name, *kind, hidden);
                    acc.insert(n, key, series)
                }
            };
            match &mut acc.series[at].acc {
                Acc::Counter(c) => c.push(value),
                Acc::Gauge(g) => g.push(value),
            }
        }
        for (engine, signal, v) in &s.signals {
            let key = (engine.clone(), signal.clone());
            acc.signals.entry(key).or_default().push(*v);
        }
        acc.scrapes += 1;
        if let Some(t) = scrape.time {
            acc.first = Some(acc.first.map_or(t, |f| f.min(t)));
            acc.last = Some(t);
        }
        if !acc.time_sources.contains(&scrape.time_source) {
            acc.time_sources.push(scrape.time_source);
        }
        acc.latest = Some((d.clone(), s.endpoint));
    }

    /// The statistics of everything added.
    pub fn finish(self) -> Summary {
        let endpoints = self
            .endpoints
            .values()
            .map(|e| summarize_endpoint(self.registry, e))
            .collect();
        let mut inputs = self.inputs;
        inputs.sort();
        inputs.dedup();
        Summary {
            schema_version: output::SCHEMA_VERSION.to_owned(),
            window: output::WindowBounds {
                start: self.options.build.start,
                end: self.options.build.end,
            },
            inputs,
            outside_window: self.outside_window,
            repeated_scrapes: self.repeated,
            warnings: self.warnings,
            endpoints,
        }
    }
}

/// The signals a summary section reads: breakdown, equivalent signals and the
/// signals whose window variables equivalent expressions read.
fn summary_signals(rule: &crate::pack::EngineRule) -> Vec<String> {
    let s = &rule.def.summary;
    let mut out = s.breakdown.clone();
    for eq in s.equivalents.values() {
        out.extend(eq.signal.iter().cloned());
        for v in eq.expr.iter().flat_map(|e| crate::expr::identifiers(e)) {
            out.extend(split_variable(rule, &v).map(|(spec, _)| spec.name.clone()));
        }
    }
    out
}

/// A window variable (`prefix_cache_hits_delta`) as its signal and suffix.
pub(crate) fn split_variable<'r>(
    rule: &'r crate::pack::EngineRule,
    variable: &str,
) -> Option<(&'r SignalSpec, &'static str)> {
    rule.signals.iter().find_map(|spec| {
        let suffix = variable.strip_prefix(spec.name.as_str())?;
        crate::normalize::window::window_variables(spec.kind)
            .iter()
            .find(|(w, _)| *w == suffix)
            .map(|(w, _)| (spec, *w))
    })
}

fn prepare(gauges: &[(String, SignalSpec)], input: Input, options: &BuildOptions) -> Prepared {
    let d = deployment::build(vec![input], options);
    let mut scrapes = Vec::new();
    {
        let indexes = index_scrapes(&d);
        for (endpoint, list) in indexes.iter().enumerate() {
            let Some((index, _)) = list.first() else {
                continue;
            };
            scrapes.push(prepare_scrape(gauges, endpoint, index));
        }
    }
    Prepared {
        deployment: Arc::new(d),
        scrapes,
    }
}

fn prepare_scrape(
    gauges: &[(String, SignalSpec)],
    endpoint: usize,
    index: &SeriesIndex,
) -> PreparedScrape {
    let mut families = Vec::new();
    let mut samples = Vec::with_capacity(index.sample_count());
    for (name, entry) in index.families() {
        let f = families.len() as u32;
        families.push((name.to_owned(), entry.kind));
        for &i in &entry.samples {
            if index.role(i) != SampleRole::Created {
                samples.push((series_id(index, i), i, f));
            }
        }
    }
    let signals = gauges
        .iter()
        .filter_map(|(engine, spec)| {
            let v = crate::normalize::compute_signal(spec, index)?.value?;
            Some((engine.clone(), spec.name.clone(), v))
        })
        .collect();
    PreparedScrape {
        endpoint,
        samples,
        families,
        signals,
    }
}

/// A hash of a sample's name and series labels, whatever their order (as
/// `window::series_key` identifies series, without gathering and sorting the labels:
/// a label's hash is added to the others'). Keys only meet keys of this function.
fn series_id(index: &SeriesIndex, sample: u32) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let labels = index
        .series_labels(sample)
        .map(|label| Fx::default().hash_one(label))
        .fold(0u64, u64::wrapping_add);
    let mut h = rustc_hash::FxHasher::default();
    index
        .expo
        .name(&index.expo.samples[sample as usize])
        .hash(&mut h);
    labels.hash(&mut h);
    h.finish()
}

fn new_series(
    expo: &crate::evidence::prometheus::Exposition,
    sample: u32,
    family: &str,
    kind: Option<MetricType>,
    hidden: &[String],
) -> Series {
    let s = &expo.samples[sample as usize];
    let role = expo.family_of(expo.name(s)).1;
    let mut le = None;
    let mut labels: Vec<(String, String)> = Vec::new();
    for (k, v) in expo.labels(s) {
        if hidden.iter().any(|h| h == k) {
            continue;
        }
        if k == "le" && role == SampleRole::Bucket {
            le = parse_le(v);
            continue;
        }
        labels.push((k.to_owned(), v.to_owned()));
    }
    labels.sort();
    let counting = match kind {
        Some(MetricType::Counter) => matches!(role, SampleRole::Total | SampleRole::Value),
        Some(MetricType::Histogram | MetricType::Summary) => {
            matches!(
                role,
                SampleRole::Bucket | SampleRole::Sum | SampleRole::Count
            )
        }
        _ => false,
    };
    Series {
        family: family.to_owned(),
        kind,
        role,
        labels,
        le,
        acc: if counting {
            Acc::Counter(Increase::default())
        } else {
            Acc::Gauge(GaugeAcc::default())
        },
    }
}

fn summarize_endpoint(registry: &Registry, e: &EndpointAcc) -> EndpointSummary {
    let seconds = match (e.first, e.last) {
        (Some(a), Some(b)) if e.scrapes >= 2 => Some(b - a),
        _ => None,
    };
    let mut summary = EndpointSummary {
        endpoint: e.id.clone(),
        identity: e.identity,
        target: e.target.iter().cloned().collect(),
        scrapes: e.scrapes,
        first: e.first,
        last: e.last,
        window_seconds: seconds,
        time_sources: e.time_sources.clone(),
        engines: Vec::new(),
        families: families(e, seconds),
        breakdowns: Vec::new(),
        equivalents: Vec::new(),
    };
    if let Some((d, endpoint)) = &e.latest {
        let indexes = index_scrapes(d);
        if let Some((index, _)) = indexes.get(*endpoint).and_then(|l| l.first()) {
            output::engine_sections(registry, index, e, seconds, &mut summary);
        }
    }
    summary
}

/// Every family's series with their statistics, by family name.
fn families(e: &EndpointAcc, seconds: Option<f64>) -> Vec<FamilySummary> {
    let mut by_family: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, s) in e.series.iter().enumerate() {
        by_family.entry(&s.family).or_default().push(i);
    }
    by_family
        .into_iter()
        .map(|(family, ids)| {
            let series: Vec<&Series> = ids.iter().map(|&i| &e.series[i]).collect();
            let kind = series[0].kind;
            FamilySummary {
                family: family.to_owned(),
                kind: output::type_name(kind),
                series: family_series(&series, kind, seconds),
            }
        })
        .collect()
}

fn family_series(
    series: &[&Series],
    kind: Option<MetricType>,
    seconds: Option<f64>,
) -> Vec<SeriesSummary> {
    let mut by_labels: BTreeMap<&[(String, String)], Vec<&Series>> = BTreeMap::new();
    for s in series {
        by_labels.entry(&s.labels).or_default().push(s);
    }
    let mut out = Vec::new();
    for (labels, parts) in by_labels {
        let histogram = matches!(kind, Some(MetricType::Histogram));
        if histogram {
            let (stats, _) = histogram_of(&parts);
            out.push(SeriesSummary::new(labels, Stats::histogram(&stats)));
            continue;
        }
        for s in parts {
            let stats = match &s.acc {
                Acc::Counter(c) => Stats::counter(&counter_of(&[c], seconds)),
                Acc::Gauge(g) => match g.stats() {
                    Some((w, estimated)) => Stats::gauge(&w, estimated),
                    None => continue,
                },
            };
            let mut labels = labels.to_vec();
            if s.role == SampleRole::Sum || s.role == SampleRole::Count {
                labels.push(("__sample__".to_owned(), role_suffix(s.role).to_owned()));
            }
            out.push(SeriesSummary::new(&labels, stats));
        }
    }
    out
}

fn role_suffix(role: SampleRole) -> &'static str {
    match role {
        SampleRole::Sum => "_sum",
        SampleRole::Count => "_count",
        _ => "",
    }
}

/// Counter window forms over series: the sum of the increases of the series seen
/// in two or more scrapes (`None` when there is none).
fn counter_of(series: &[&Increase], seconds: Option<f64>) -> WindowStats {
    let mut stats = WindowStats::default();
    let mut total: Option<(f64, f64)> = None;
    for c in series.iter().filter(|c| c.samples >= 2) {
        let t = total.get_or_insert((0.0, 0.0));
        (t.0, t.1) = (t.0 + c.total, t.1 + c.resets);
    }
    if let Some((delta, resets)) = total {
        stats.delta = Some(delta);
        stats.resets = Some(resets);
        stats.rate = seconds.filter(|s| *s > 0.0).map(|s| delta / s);
    }
    stats.seconds = seconds;
    stats
}

/// Histogram window forms over the bucket, `_sum` and `_count` series of one or
/// more histograms (`sum by (le)` of the bucket increases); and whether any
/// bucket series had a window.
fn histogram_of(parts: &[&Series]) -> (WindowStats, bool) {
    let increases = |role: SampleRole| -> Option<f64> {
        let list: Vec<&Increase> = parts
            .iter()
            .filter(|s| s.role == role)
            .filter_map(|s| match &s.acc {
                Acc::Counter(c) if c.samples >= 2 => Some(c),
                _ => None,
            })
            .collect();
        (!list.is_empty()).then(|| list.iter().map(|c| c.total).sum())
    };
    let mut sums = crate::normalize::SumByLe::default();
    let mut any = false;
    for s in parts.iter().filter(|s| s.role == SampleRole::Bucket) {
        if let (Some(le), Acc::Counter(c)) = (s.le, &s.acc) {
            if c.samples >= 2 {
                sums.add(le, c.total);
                any = true;
            }
        }
    }
    let mut stats = WindowStats::default();
    histogram_stats(
        increases(SampleRole::Count),
        increases(SampleRole::Sum),
        sums.sorted(),
        &mut stats,
    );
    (stats, any)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Up to the cap the quantiles are exact (the window functions'); past it
    /// memory stays bounded, mean and extremes stay exact, quantiles are estimates.
    #[test]
    fn gauge_samples_are_bounded_and_exact_below_the_cap() {
        let mut g = GaugeAcc::default();
        (1..=5).for_each(|v| g.push(v as f64));
        let (w, estimated) = g.stats().unwrap();
        assert_eq!((w.p50, w.avg, estimated), (Some(3.0), Some(3.0), false));

        let mut g = GaugeAcc::default();
        let n = 3 * GAUGE_SAMPLES + 7;
        (0..n).for_each(|v| g.push(v as f64));
        assert!(g.values.len() <= GAUGE_SAMPLES, "{} kept", g.values.len());
        let (w, estimated) = g.stats().unwrap();
        assert!(estimated);
        assert_eq!((w.min, w.max), (Some(0.0), Some((n - 1) as f64)));
        assert!((w.avg.unwrap() - (n - 1) as f64 / 2.0).abs() < 1e-6);
        let p50 = w.p50.unwrap();
        assert!(
            (p50 - (n - 1) as f64 / 2.0).abs() < n as f64 * 0.01,
            "p50 {p50}"
        );
    }
}
