//! Window forms of a signal over an endpoint's scrapes, with the semantics of the
//! PromQL an operator would write (see `docs/windows.md`):
//!
//! - counters: `delta` is `increase()` without extrapolation (a decrease is a reset:
//!   counted in `resets`, and the value after it is added), `rate` is `delta` over
//!   the window's seconds;
//! - gauges: avg, min, max, population std, p50/p90/p99 over the per-scrape values
//!   (`quantile_over_time`: linear interpolation between closest ranks), and
//!   `delta` = last − first (`delta()` without extrapolation);
//! - histograms: count, sum, avg and p50/p90/p95/p99 from the bucket increases
//!   (`histogram_quantile(q, sum by (le) (increase(x_bucket[w])))`).

use super::{
    histogram_quantile, matched_samples, parse_le, value_of, Matched, SeriesIndex, SignalSpec,
    SignalType,
};
use crate::evidence::prometheus::SampleRole;
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::HashMap;

/// One scrape of an endpoint: its index and its time (Unix seconds) when known.
pub type TimedIndex<'s, 'a> = (&'s SeriesIndex<'a>, Option<f64>);

/// A signal over the window from an endpoint's first to its last scrape. Fields a
/// signal's type does not have, or that the evidence cannot give, are absent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, JsonSchema)]
pub struct WindowStats {
    /// Scrapes in the window.
    pub scrapes: usize,
    /// Last scrape time minus first, when both are known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// Counter: increase over the window (resets handled). Gauge: last − first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<f64>,
    /// Counter: `delta / seconds`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Counter: decreases seen (each one a restart of the exporting process).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resets: Option<f64>,
    /// Histogram: observations in the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<f64>,
    /// Histogram: sum of the observations in the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum: Option<f64>,
    /// Gauge: mean of the samples. Histogram: `sum / count`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Gauge: population standard deviation (`stddev_over_time`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub std: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p90: Option<f64>,
    /// Histogram only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p95: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99: Option<f64>,
    /// Counter: `delta`, plus the value of each series that appeared after the
    /// window's first scrape (a lazily created counter starts at zero); the
    /// `_recent` form.
    #[serde(skip)]
    #[schemars(skip)]
    pub recent: Option<f64>,
    /// Histogram: bucket increases by upper bound, for merging across endpoints.
    #[serde(skip)]
    #[schemars(skip)]
    pub buckets: Vec<(f64, f64)>,
}

/// Window variables a signal of this type offers, as `(suffix, description)`.
pub fn window_variables(kind: SignalType) -> &'static [(&'static str, &'static str)] {
    match kind {
        SignalType::Counter => &[
            (
                "_delta",
                "increase over the window, resets handled (`increase()`)",
            ),
            ("_rate", "increase per second over the window (`rate()`)"),
            ("_resets", "counter resets in the window (`resets()`)"),
        ],
        SignalType::Gauge => &[
            (
                "_avg",
                "mean of the samples in the window (`avg_over_time`)",
            ),
            ("_min", "lowest sample in the window (`min_over_time`)"),
            ("_max", "highest sample in the window (`max_over_time`)"),
            ("_std", "population standard deviation (`stddev_over_time`)"),
            (
                "_p50",
                "median of the samples (`quantile_over_time(0.5, …)`)",
            ),
            ("_p90", "90th percentile of the samples"),
            ("_p99", "99th percentile of the samples"),
            ("_delta", "last sample minus first (`delta()`)"),
        ],
        SignalType::Histogram => &[
            ("_window_count", "observations in the window"),
            ("_window_sum", "sum of the observations in the window"),
            ("_window_avg", "mean observation in the window"),
            ("_window_p50", "median from the bucket increases"),
            ("_window_p90", "90th percentile from the bucket increases"),
            ("_window_p95", "95th percentile from the bucket increases"),
            ("_window_p99", "99th percentile from the bucket increases"),
        ],
        SignalType::Info => &[],
    }
}

impl WindowStats {
    /// The value of one window variable (suffix from [`window_variables`]).
    pub fn variable(&self, suffix: &str) -> Option<f64> {
        match suffix {
            "_delta" => self.delta,
            "_rate" => self.rate,
            "_resets" => self.resets,
            "_avg" | "_window_avg" => self.avg,
            "_min" => self.min,
            "_max" => self.max,
            "_std" => self.std,
            "_p50" | "_window_p50" => self.p50,
            "_p90" | "_window_p90" => self.p90,
            "_p95" | "_window_p95" => self.p95,
            "_p99" | "_window_p99" => self.p99,
            "_window_count" => self.count,
            "_window_sum" => self.sum,
            _ => None,
        }
    }
}

/// The window forms of a signal over scrapes in time order; `None` with fewer than
/// two scrapes, or when the signal is in none of them.
pub fn compute_window(spec: &SignalSpec, scrapes: &[TimedIndex]) -> Option<WindowStats> {
    let found: Found = scrapes
        .iter()
        .map(|(index, _)| (*index, matched_samples(spec, index)))
        .collect();
    window_of(spec, scrapes, &found)
}

/// [`compute_window`] over the samples already matched in each scrape.
pub(super) fn window_of(
    spec: &SignalSpec,
    scrapes: &[TimedIndex],
    found: &Found,
) -> Option<WindowStats> {
    if scrapes.len() < 2 {
        return None;
    }
    let mut stats = WindowStats {
        scrapes: scrapes.len(),
        seconds: match (scrapes[0].1, scrapes[scrapes.len() - 1].1) {
            (Some(a), Some(b)) if b >= a => Some(b - a),
            _ => None,
        },
        ..WindowStats::default()
    };
    let ok = match spec.kind {
        SignalType::Info => false,
        _ if found.iter().all(|(_, m)| m.is_none()) => false,
        SignalType::Counter => counter_window(found, &mut stats),
        SignalType::Gauge => gauge_window(spec, found, &mut stats),
        SignalType::Histogram => histogram_window(found, &mut stats),
    };
    ok.then_some(stats)
}

/// `increase()` without extrapolation over one series' samples in time order:
/// `(increase, resets)`.
pub fn increase(values: &[f64]) -> (f64, f64) {
    let mut acc = Increase::default();
    values.iter().for_each(|v| acc.push(*v));
    (acc.total, acc.resets)
}

/// [`increase`] one sample at a time, for statistics computed as scrapes stream in
/// (`summarize`): the same sums in the same order, so the same numbers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Increase {
    pub last: Option<f64>,
    pub total: f64,
    pub resets: f64,
    /// Samples pushed.
    pub samples: u32,
}

impl Increase {
    pub fn push(&mut self, v: f64) {
        if let Some(last) = self.last {
            if v >= last {
                self.total += v - last;
            } else {
                self.resets += 1.0;
                self.total += v;
            }
        }
        self.last = Some(v);
        self.samples += 1;
    }
}

/// Prometheus `quantile` over samples: rank `q·(n−1)`, linear interpolation between
/// the closest ranks.
pub fn quantile_over(q: f64, sorted: &[f64]) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let rank = q * (sorted.len() - 1) as f64;
    let lower = rank.floor() as usize;
    let upper = (lower + 1).min(sorted.len() - 1);
    let weight = rank - rank.floor();
    Some(sorted[lower] * (1.0 - weight) + sorted[upper] * weight)
}

/// Samples of each series across the scrapes, keyed by a hash of the name and the
/// series labels (sorted; target labels left out), as Prometheus identifies series;
/// sorted by key, so sums add up in one order whatever the hash map's.
type SeriesValues = Vec<(u64, Vec<f64>)>;

/// Per series, its value in each scrape that has it. A series repeated within one
/// scrape (a duplicated line, a concatenated file) is read once, at its first
/// sample, as Prometheus ingests a scrape: the repeat is not a second scrape.
/// FxHash: keys are already 64-bit hashes, and this map is filled once per sample
/// of every window signal.
struct PerScrape<K>(HashMap<K, (usize, Vec<f64>), Fx>);

type Fx = std::hash::BuildHasherDefault<rustc_hash::FxHasher>;

impl<K: std::hash::Hash + Eq + Ord> PerScrape<K> {
    fn new() -> Self {
        PerScrape(Default::default())
    }

    fn push(&mut self, key: K, scrape: usize, value: f64) {
        let (last, values) = self.0.entry(key).or_insert((usize::MAX, Vec::new()));
        if *last != scrape {
            *last = scrape;
            values.push(value);
        }
    }

    fn into_sorted(self) -> Vec<(K, Vec<f64>)> {
        let mut out: Vec<(K, Vec<f64>)> = self.0.into_iter().map(|(k, (_, v))| (k, v)).collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// The hash identifying a sample's series; `skip` is a label left out (`le`), and
/// `labels` a buffer reused across samples.
pub(crate) fn series_key<'a>(
    index: &SeriesIndex<'a>,
    sample: u32,
    skip: &str,
    labels: &mut Vec<(&'a str, &'a str)>,
) -> u64 {
    use std::hash::{Hash, Hasher};
    let s = &index.expo.samples[sample as usize];
    labels.clear();
    labels.extend(index.series_labels(sample).filter(|(k, _)| *k != skip));
    labels.sort_unstable();
    // FxHash: series keys are hashed once per sample of every window signal, and
    // SipHash's DoS resistance buys nothing for 64-bit keys hashed again below.
    let mut h = rustc_hash::FxHasher::default();
    index.expo.name(s).hash(&mut h);
    labels.hash(&mut h);
    h.finish()
}

/// The samples a signal reads in each scrape, in time order (`None` where absent).
pub(super) type Found<'s, 'a> = Vec<(&'s SeriesIndex<'a>, Option<Matched>)>;

/// Per series, the finite values of the samples whose role `keep` accepts.
fn collect(found: &Found, keep: impl Fn(SampleRole) -> bool) -> SeriesValues {
    let mut out = PerScrape::new();
    let mut labels = Vec::new();
    for (n, (index, m)) in found.iter().enumerate() {
        for &i in m.iter().flat_map(|m| &m.samples) {
            let value = index.expo.samples[i as usize].value;
            if keep(index.role(i)) && value.is_finite() {
                out.push(series_key(index, i, "", &mut labels), n, value);
            }
        }
    }
    out.into_sorted()
}

/// `(sum of increases, sum of resets)` over the series seen in two or more scrapes;
/// `None` when there is none.
fn total_increase(series: &SeriesValues) -> Option<(f64, f64)> {
    let mut total: Option<(f64, f64)> = None;
    for (_, values) in series.iter().filter(|(_, v)| v.len() >= 2) {
        let (d, r) = increase(values);
        let t = total.get_or_insert((0.0, 0.0));
        (t.0, t.1) = (t.0 + d, t.1 + r);
    }
    total
}

fn counter_window(found: &Found, stats: &mut WindowStats) -> bool {
    let series = collect(found, |r| {
        matches!(r, SampleRole::Total | SampleRole::Value)
    });
    if let Some((delta, resets)) = total_increase(&series) {
        stats.delta = Some(delta);
        stats.resets = Some(resets);
        stats.rate = stats.seconds.filter(|s| *s > 0.0).map(|s| delta / s);
    }
    stats.recent = Some(recent_increase(found, &series));
    true
}

/// The increase of every series, one absent from the first scrape that has the
/// family counted from zero (it was created during the window).
fn recent_increase(found: &Found, series: &SeriesValues) -> f64 {
    let mut labels = Vec::new();
    let at_first: std::collections::HashSet<u64> = found
        .iter()
        .find_map(|(index, m)| Some((index, m.as_ref()?)))
        .map(|(index, m)| {
            m.samples
                .iter()
                .map(|&i| series_key(index, i, "", &mut labels))
                .collect()
        })
        .unwrap_or_default();
    series
        .iter()
        .map(|(key, values)| {
            let grown = increase(values).0;
            match values.first() {
                Some(v) if !at_first.contains(key) => v + grown,
                _ => grown,
            }
        })
        .sum()
}

fn gauge_window(spec: &SignalSpec, found: &Found, stats: &mut WindowStats) -> bool {
    let values: Vec<f64> = found
        .iter()
        .filter_map(|(index, m)| {
            let m = m.as_ref()?;
            value_of(spec, index, &m.samples, String::new(), m.spelling).value
        })
        .collect();
    if values.is_empty() {
        return false;
    }
    gauge_stats(&values, stats);
    true
}

/// Gauge window statistics over samples in time order (at least one): `delta`,
/// mean, population standard deviation, extremes and quantiles.
pub fn gauge_stats(values: &[f64], stats: &mut WindowStats) {
    if values.len() >= 2 {
        stats.delta = Some(values[values.len() - 1] - values[0]);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    stats.avg = Some(mean);
    stats.std = Some(var.sqrt());
    stats.min = sorted.first().copied();
    stats.max = sorted.last().copied();
    stats.p50 = quantile_over(0.5, &sorted);
    stats.p90 = quantile_over(0.9, &sorted);
    stats.p99 = quantile_over(0.99, &sorted);
}

fn histogram_window(found: &Found, stats: &mut WindowStats) -> bool {
    let count = total_increase(&collect(found, |r| r == SampleRole::Count)).map(|t| t.0);
    let sum = total_increase(&collect(found, |r| r == SampleRole::Sum)).map(|t| t.0);
    histogram_stats(count, sum, bucket_increases(found), stats);
    true
}

/// Histogram window statistics from the increases of `_count`, `_sum` and each
/// bucket (`sum by (le)`, sorted by upper bound).
pub fn histogram_stats(
    count: Option<f64>,
    sum: Option<f64>,
    buckets: Vec<(f64, f64)>,
    stats: &mut WindowStats,
) {
    stats.count = count;
    stats.sum = sum;
    stats.avg = match (sum, count) {
        (Some(s), Some(c)) if c > 0.0 => Some(s / c),
        _ => None,
    };
    let q = |p| histogram_quantile(p, &buckets);
    (stats.p50, stats.p90, stats.p95, stats.p99) = (q(0.5), q(0.9), q(0.95), q(0.99));
    stats.buckets = buckets;
}

/// `sum by (le) (increase(x_bucket[w]))`, sorted by upper bound.
fn bucket_increases(found: &Found) -> Vec<(f64, f64)> {
    // Per series (labels without `le`) and bound, the bucket's values over time.
    let mut per = PerScrape::new();
    let mut labels = Vec::new();
    for (n, (index, m)) in found.iter().enumerate() {
        for &i in m.iter().flat_map(|m| &m.samples) {
            if index.role(i) != SampleRole::Bucket {
                continue;
            }
            let s = &index.expo.samples[i as usize];
            let Some(le) = index.expo.label(s, "le").and_then(parse_le) else {
                continue;
            };
            if s.value.is_finite() {
                let key = series_key(index, i, "le", &mut labels);
                per.push((key, le.to_bits()), n, s.value);
            }
        }
    }
    let mut merged = super::SumByLe::default();
    for (key, values) in per.into_sorted() {
        if values.len() >= 2 {
            merged.add(f64::from_bits(key.1), increase(&values).0);
        }
    }
    merged.sorted()
}

/// Combines endpoints' window forms of one signal: counter forms and histogram
/// counts, sums and buckets add up; each gauge statistic is combined with the
/// signal's declared aggregation (`max` of the maxima, `sum` of the averages, …).
pub fn combine_windows(
    kind: SignalType,
    aggregate: super::Aggregate,
    windows: &[&WindowStats],
) -> Option<WindowStats> {
    let first = windows.first()?;
    let mut out = WindowStats {
        scrapes: windows.iter().map(|w| w.scrapes).max().unwrap_or(0),
        seconds: windows.iter().filter_map(|w| w.seconds).reduce(f64::max),
        ..WindowStats::default()
    };
    let sum = |f: fn(&WindowStats) -> Option<f64>| {
        windows.iter().filter_map(|w| f(w)).reduce(|a, b| a + b)
    };
    match kind {
        SignalType::Counter => {
            out.delta = sum(|w| w.delta);
            out.resets = sum(|w| w.resets);
            out.rate = sum(|w| w.rate);
            out.recent = sum(|w| w.recent);
        }
        SignalType::Gauge => {
            let agg = |f: fn(&WindowStats) -> Option<f64>| {
                let v: Vec<f64> = windows.iter().filter_map(|w| f(w)).collect();
                super::aggregate_values(aggregate, &v)
            };
            out.delta = agg(|w| w.delta);
            out.avg = agg(|w| w.avg);
            out.min = agg(|w| w.min);
            out.max = agg(|w| w.max);
            out.std = agg(|w| w.std);
            out.p50 = agg(|w| w.p50);
            out.p90 = agg(|w| w.p90);
            out.p99 = agg(|w| w.p99);
        }
        SignalType::Histogram => {
            out.count = sum(|w| w.count);
            out.sum = sum(|w| w.sum);
            out.avg = match (out.sum, out.count) {
                (Some(s), Some(c)) if c > 0.0 => Some(s / c),
                _ => None,
            };
            out.buckets = super::merge_buckets(windows.iter().map(|w| w.buckets.as_slice()));
            let q = |p| histogram_quantile(p, &out.buckets);
            (out.p50, out.p90, out.p95, out.p99) = (q(0.5), q(0.9), q(0.95), q(0.99));
        }
        SignalType::Info => return Some((*first).clone()),
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::prometheus::{parse, ParseOptions};
    use crate::normalize::pattern::Pattern;
    use crate::normalize::Aggregate;

    fn spec(kind: SignalType, name: &str) -> SignalSpec {
        SignalSpec {
            name: "s".to_owned(),
            kind,
            unit: String::new(),
            current: vec![Pattern::parse(name).unwrap()],
            legacy: Vec::new(),
            aggregate: Aggregate::Max,
            labels: Vec::new(),
            group_by: Vec::new(),
            rank_label: None,
            absent_is_zero_when: Vec::new(),
            value_label: None,
        }
    }

    #[test]
    fn increase_counts_a_reset_and_adds_the_value_after_it() {
        assert_eq!(increase(&[100.0, 160.0, 40.0, 100.0]), (160.0, 1.0));
        assert_eq!(increase(&[5.0]), (0.0, 0.0));
        assert_eq!(increase(&[5.0, 0.0]), (0.0, 1.0));
    }

    #[test]
    fn quantile_over_interpolates_between_closest_ranks() {
        let v = [0.2, 0.4, 0.5, 0.9];
        assert!((quantile_over(0.5, &v).unwrap() - 0.45).abs() < 1e-12);
        assert_eq!(quantile_over(0.0, &v), Some(0.2));
        assert_eq!(quantile_over(1.0, &v), Some(0.9));
        assert_eq!(quantile_over(0.9, &[7.0]), Some(7.0));
        assert_eq!(quantile_over(0.5, &[]), None);
    }

    /// A counter at 5 in a first scrape (time 0), then at 8 beside a new series at
    /// 50 in a second one taken at `second`.
    fn counter_gains_a_series(second: Option<f64>) -> WindowStats {
        let a = parse(b"c_total{x=\"1\"} 5\n", &ParseOptions::default());
        let b = parse(
            b"c_total{x=\"1\"} 8\nc_total{x=\"2\"} 50\n",
            &ParseOptions::default(),
        );
        let (ia, ib) = (SeriesIndex::new(&a), SeriesIndex::new(&b));
        let c = spec(SignalType::Counter, "c");
        assert!(compute_window(&c, &[(&ia, Some(0.0))]).is_none());
        compute_window(&c, &[(&ia, Some(0.0)), (&ib, second)]).unwrap()
    }

    #[test]
    fn a_series_in_one_scrape_only_contributes_nothing() {
        let w = counter_gains_a_series(None);
        assert_eq!((w.delta, w.rate, w.seconds), (Some(3.0), None, None));
    }

    /// `_recent` counts a series created during the window from zero: a lazily
    /// created error counter's first errors are in the window.
    #[test]
    fn recent_counts_a_series_that_appeared_in_the_window_from_zero() {
        let w = counter_gains_a_series(Some(60.0));
        assert_eq!((w.delta, w.recent), (Some(3.0), Some(53.0)));
        // Nothing moved: the window's recent increase is 0, not the total.
        let a = parse(b"c_total{x=\"1\"} 5\n", &ParseOptions::default());
        let ia = SeriesIndex::new(&a);
        let c = spec(SignalType::Counter, "c");
        let w = compute_window(&c, &[(&ia, Some(0.0)), (&ia, Some(60.0))]).unwrap();
        assert_eq!(w.recent, Some(0.0));
    }

    /// A series repeated in one scrape (a duplicated line, a concatenated file) is
    /// read once, its first sample, as Prometheus ingests it; the repeat is not a
    /// decrease, so no reset.
    #[test]
    fn a_series_repeated_in_one_scrape_is_not_a_reset() {
        let opts = ParseOptions::default();
        let a = parse(b"c_total{x=\"1\"} 10\nc_total{x=\"1\"} 5\n", &opts);
        let b = parse(b"c_total{x=\"1\"} 12\nc_total{x=\"1\"} 6\n", &opts);
        let (ia, ib) = (SeriesIndex::new(&a), SeriesIndex::new(&b));
        let scrapes = [(&ia, Some(0.0)), (&ib, Some(30.0))];
        let w = compute_window(&spec(SignalType::Counter, "c"), &scrapes).unwrap();
        assert_eq!((w.delta, w.resets), (Some(2.0), Some(0.0)));
        let h = |v: [u32; 2]| {
            format!(
                "h_bucket{{le=\"1\"}} {0}\nh_bucket{{le=\"1\"}} 1\nh_bucket{{le=\"+Inf\"}} {1}\nh_bucket{{le=\"+Inf\"}} 1\nh_count {1}\nh_count 1\nh_sum 1\n",
                v[0], v[1]
            )
        };
        let (a, b) = (
            parse(h([4, 8]).as_bytes(), &opts),
            parse(h([6, 12]).as_bytes(), &opts),
        );
        let (ia, ib) = (SeriesIndex::new(&a), SeriesIndex::new(&b));
        let scrapes = [(&ia, Some(0.0)), (&ib, Some(30.0))];
        let w = compute_window(&spec(SignalType::Histogram, "h"), &scrapes).unwrap();
        assert_eq!(w.count, Some(4.0));
        assert_eq!(w.buckets, [(1.0, 2.0), (f64::INFINITY, 4.0)]);
    }

    #[test]
    fn target_labels_are_not_series_labels() {
        // One target's two scrapes, each a part of a fleet dump with a different
        // `instance` spelling would be two series; hidden keys are left out.
        let text = b"g{instance=\"h:1\"} 1\ng{instance=\"h:2\"} 3\n";
        let e = parse(text, &ParseOptions::default());
        let parts = SeriesIndex::parts(&e, vec![vec![0], vec![1]], vec!["instance".to_owned()]);
        assert_eq!(parts[0].label_keys("g"), Vec::<&str>::new());
        let w = compute_window(
            &spec(SignalType::Gauge, "g"),
            &[(&parts[0], Some(0.0)), (&parts[1], Some(10.0))],
        )
        .unwrap();
        assert_eq!((w.min, w.max, w.delta), (Some(1.0), Some(3.0), Some(2.0)));
    }
}
