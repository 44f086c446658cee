//! `metrics_summary.json` and `metrics_summary.csv`: the shape AIPerf reports server
//! metrics in (counters `total`/`rate`, gauges `avg`…`p99`, histograms `count`,
//! `sum`, `avg` and `p50_estimate`…`p99_estimate` with the bucket increases used),
//! plus each engine's latency breakdown and the cross-backend equivalents.

use super::{counter_of, histogram_of, split_variable, Acc, EndpointAcc, Series};
use crate::deployment::{IdentitySource, TimeSource};
use crate::evidence::prometheus::{MetricType, SampleRole};
use crate::expr::Var;
use crate::normalize::window::WindowStats;
use crate::normalize::{matched_samples, SeriesIndex, SignalSpec, SignalType};
use crate::pack::{EngineRule, Registry};
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;

/// Changed when a field changes meaning or goes away.
pub const SCHEMA_VERSION: &str = "inferguard.metrics-summary/v1";

/// The JSON Schema of `metrics_summary.json`.
pub fn summary_schema() -> serde_json::Value {
    crate::report::root_schema::<Summary>("metrics-summary")
}

/// `metrics_summary.json`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Summary {
    pub schema_version: String,
    /// `--start`/`--end` as given (Unix seconds); each endpoint's window is its
    /// first to last scrape within them.
    pub window: WindowBounds,
    /// The inputs read, as given.
    pub inputs: Vec<String>,
    /// Scrapes left out by `--start`/`--end`.
    pub outside_window: usize,
    /// Scrapes of an endpoint at a time it already had, read once.
    pub repeated_scrapes: usize,
    pub warnings: Vec<String>,
    pub endpoints: Vec<EndpointSummary>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct WindowBounds {
    pub start: Option<f64>,
    pub end: Option<f64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct EndpointSummary {
    pub endpoint: String,
    pub identity: IdentitySource,
    /// The target labels of a fleet dump or timeline (`endpoint_url`, …).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub target: BTreeMap<String, String>,
    pub scrapes: usize,
    pub first: Option<f64>,
    pub last: Option<f64>,
    /// Last scrape time minus first; `None` with one scrape.
    pub window_seconds: Option<f64>,
    pub time_sources: Vec<TimeSource>,
    /// Engines detected on the latest scrape, highest confidence first.
    pub engines: Vec<String>,
    pub families: Vec<FamilySummary>,
    pub breakdowns: Vec<BreakdownRow>,
    pub equivalents: Vec<EquivalentRow>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct FamilySummary {
    pub family: String,
    /// `counter`, `gauge`, `histogram`, `summary`, `info` or `untyped`.
    #[serde(rename = "type")]
    pub kind: String,
    pub series: Vec<SeriesSummary>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SeriesSummary {
    /// Series labels (target labels and `le` left out).
    pub labels: BTreeMap<String, String>,
    pub stats: Stats,
}

impl SeriesSummary {
    pub(crate) fn new(labels: &[(String, String)], stats: Stats) -> Self {
        SeriesSummary {
            labels: labels.iter().cloned().collect(),
            stats,
        }
    }
}

/// One series' (or signal's) window statistics; which fields are set depends on
/// the type. Counters without two scrapes have no `total`.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct Stats {
    /// Counter: increase over the window, resets handled (`increase()`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<f64>,
    /// Counter: `total` per second (`rate()` without extrapolation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Counter: decreases seen (`resets()`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resets: Option<f64>,
    /// Histogram: observations in the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<f64>,
    /// Histogram: sum of the observations in the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub std: Option<f64>,
    /// Gauge: `quantile_over_time`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p90: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99: Option<f64>,
    /// Histogram: `histogram_quantile` over the bucket increases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_estimate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p90_estimate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p95_estimate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_estimate: Option<f64>,
    /// Histogram: each bucket's increase (`le` as in the exposition, cumulative).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<BucketDelta>,
    /// Gauge quantiles from a systematic sample (more samples than a series keeps).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub estimated: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct BucketDelta {
    /// Upper bound; `+Inf` for the last.
    pub le: String,
    pub delta: f64,
}

impl Stats {
    pub(crate) fn counter(w: &WindowStats) -> Stats {
        Stats {
            total: w.delta,
            rate: w.rate,
            resets: w.resets,
            ..Stats::default()
        }
    }

    pub(crate) fn gauge(w: &WindowStats, estimated: bool) -> Stats {
        Stats {
            avg: w.avg,
            min: w.min,
            max: w.max,
            std: w.std,
            p50: w.p50,
            p90: w.p90,
            p99: w.p99,
            estimated,
            ..Stats::default()
        }
    }

    pub(crate) fn histogram(w: &WindowStats) -> Stats {
        Stats {
            count: w.count,
            sum: w.sum,
            avg: w.avg,
            p50_estimate: w.p50,
            p90_estimate: w.p90,
            p95_estimate: w.p95,
            p99_estimate: w.p99,
            buckets: w
                .buckets
                .iter()
                .map(|(le, delta)| BucketDelta {
                    le: if le.is_infinite() {
                        "+Inf".to_owned()
                    } else {
                        format!("{le}")
                    },
                    delta: *delta,
                })
                .collect(),
            ..Stats::default()
        }
    }

    fn of(kind: SignalType, w: &WindowStats, estimated: bool) -> Stats {
        match kind {
            SignalType::Counter => Stats::counter(w),
            SignalType::Histogram => Stats::histogram(w),
            _ => Stats::gauge(w, estimated),
        }
    }
}

/// One signal of an engine's latency breakdown (per group for grouped signals).
#[derive(Debug, Serialize, JsonSchema)]
pub struct BreakdownRow {
    pub engine: String,
    pub signal: String,
    pub unit: String,
    /// The group's labels for a grouped signal (SGLang's `stage`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub group: BTreeMap<String, String>,
    pub stats: Stats,
}

/// One cross-backend quantity as this endpoint's engine measures it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EquivalentRow {
    /// `ttft`, `itl`, `tpot`, `e2e`, `queue_depth`, `kv_usage`, `prefix_hit_ratio`.
    pub id: String,
    pub engine: String,
    pub unit: String,
    /// The signal read, when the equivalent is one signal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<Stats>,
    /// The expression's value, when the equivalent is computed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expr: Option<String>,
}

pub(crate) fn type_name(kind: Option<MetricType>) -> String {
    match kind {
        Some(MetricType::Counter) => "counter",
        Some(MetricType::Gauge) => "gauge",
        Some(MetricType::Histogram) => "histogram",
        Some(MetricType::Summary) => "summary",
        Some(MetricType::Info) => "info",
        Some(MetricType::GaugeHistogram) => "gaugehistogram",
        Some(MetricType::StateSet) => "stateset",
        _ => "untyped",
    }
    .to_owned()
}

/// Engines on the latest scrape, their breakdowns and equivalents.
pub(super) fn engine_sections(
    registry: &Registry,
    latest: &SeriesIndex,
    e: &EndpointAcc,
    seconds: Option<f64>,
    out: &mut EndpointSummary,
) {
    for d in crate::eval::detect(registry, latest) {
        let Some(rule) = registry.engines.iter().find(|r| r.def.id == d.id) else {
            continue;
        };
        out.engines.push(d.id.clone());
        let forms = Forms {
            rule,
            latest,
            e,
            seconds,
        };
        for name in &rule.def.summary.breakdown {
            if let Some(spec) = rule.signals.iter().find(|s| &s.name == name) {
                out.breakdowns.extend(forms.breakdown(spec));
            }
        }
        for (id, eq) in &rule.def.summary.equivalents {
            out.equivalents.extend(forms.equivalent(registry, id, eq));
        }
    }
}

/// A signal's window forms computed from an endpoint's accumulators.
struct Forms<'a> {
    rule: &'a EngineRule,
    latest: &'a SeriesIndex<'a>,
    e: &'a EndpointAcc,
    seconds: Option<f64>,
}

impl Forms<'_> {
    /// The accumulated series a counter or histogram signal reads: those of the
    /// family it matches on the latest scrape, passing its label filter.
    fn series(&self, spec: &SignalSpec) -> Vec<&Series> {
        let Some(m) = matched_samples(spec, self.latest) else {
            return Vec::new();
        };
        self.e
            .series
            .iter()
            .filter(|s| s.family == m.family)
            .filter(|s| {
                spec.labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
            })
            .collect()
    }

    fn window(&self, spec: &SignalSpec, series: &[&Series]) -> Option<(WindowStats, bool)> {
        match spec.kind {
            SignalType::Gauge => {
                let key = (self.rule.def.id.clone(), spec.name.clone());
                self.e.signals.get(&key)?.stats()
            }
            SignalType::Counter => {
                let counters: Vec<_> = series
                    .iter()
                    .filter(|s| matches!(s.role, SampleRole::Total | SampleRole::Value))
                    .filter_map(|s| match &s.acc {
                        Acc::Counter(c) => Some(c),
                        Acc::Gauge(_) => None,
                    })
                    .collect();
                let w = counter_of(&counters, self.seconds);
                w.delta.map(|_| (w, false))
            }
            SignalType::Histogram => {
                let (w, any) = histogram_of(series);
                (any || w.count.is_some()).then_some((w, false))
            }
            SignalType::Info => None,
        }
    }

    fn breakdown(&self, spec: &SignalSpec) -> Vec<BreakdownRow> {
        let series = self.series(spec);
        let mut groups: BTreeMap<Vec<(String, String)>, Vec<&Series>> = BTreeMap::new();
        for s in &series {
            let key = spec
                .group_by
                .iter()
                .map(|k| {
                    let v = s
                        .labels
                        .iter()
                        .find(|(sk, _)| sk == k)
                        .map(|(_, v)| v.clone());
                    (k.clone(), v.unwrap_or_default())
                })
                .collect();
            groups.entry(key).or_default().push(s);
        }
        if groups.is_empty() && spec.kind == SignalType::Gauge {
            groups.insert(Vec::new(), Vec::new());
        }
        groups
            .into_iter()
            .filter_map(|(group, series)| {
                let (w, estimated) = self.window(spec, &series)?;
                Some(BreakdownRow {
                    engine: self.rule.def.id.clone(),
                    signal: spec.name.clone(),
                    unit: spec.unit.clone(),
                    group: group.into_iter().collect(),
                    stats: Stats::of(spec.kind, &w, estimated),
                })
            })
            .collect()
    }

    fn signal_window(&self, spec: &SignalSpec) -> Option<(WindowStats, bool)> {
        let series = self.series(spec);
        self.window(spec, &series)
    }

    fn equivalent(
        &self,
        registry: &Registry,
        id: &str,
        eq: &crate::pack::model::EquivalentDef,
    ) -> Option<EquivalentRow> {
        let mut row = EquivalentRow {
            id: id.to_owned(),
            engine: self.rule.def.id.clone(),
            unit: eq.unit.clone(),
            signal: eq.signal.clone(),
            stats: None,
            value: None,
            expr: eq.expr.clone(),
        };
        if let Some(name) = &eq.signal {
            let spec = self.rule.signals.iter().find(|s| &s.name == name)?;
            let (w, estimated) = self.signal_window(spec)?;
            row.stats = Some(Stats::of(spec.kind, &w, estimated));
            return Some(row);
        }
        let expr = eq.expr.as_deref()?;
        let mut vars: Vec<(String, Var)> = Vec::new();
        for v in crate::expr::identifiers(expr) {
            let (spec, suffix) = split_variable(self.rule, &v)?;
            let (w, _) = self.signal_window(spec)?;
            vars.push((v, w.variable(suffix)?.into()));
        }
        let names: Vec<&str> = vars.iter().map(|(k, _)| k.as_str()).collect();
        let compiled = registry.expr.compile(expr, &names).ok()?;
        let refs: Vec<(&str, Var)> = vars.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        row.value = registry.expr.eval(&compiled, &refs).ok().and_then(|d| {
            d.as_float()
                .ok()
                .or_else(|| d.as_int().ok().map(|i| i as f64))
        });
        row.value.map(|_| row)
    }
}

/// The CSV: one row per series of every family, then breakdown and equivalent
/// rows; statistics a type does not have are empty.
pub fn csv(summary: &Summary) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "section",
        "endpoint",
        "name",
        "type",
        "labels",
        "total",
        "rate",
        "resets",
        "count",
        "sum",
        "avg",
        "min",
        "max",
        "std",
        "p50",
        "p90",
        "p95",
        "p99",
        "estimated",
    ])?;
    for e in &summary.endpoints {
        for f in &e.families {
            for s in &f.series {
                w.write_record(row("family", e, &f.family, &f.kind, &s.labels, &s.stats))?;
            }
        }
        for b in &e.breakdowns {
            let name = format!("{}:{}", b.engine, b.signal);
            w.write_record(row("breakdown", e, &name, &b.unit, &b.group, &b.stats))?;
        }
        for q in &e.equivalents {
            let name = format!("{}:{}", q.engine, q.id);
            let stats = q.stats.as_ref();
            let fallback = Stats {
                avg: q.value,
                ..Stats::default()
            };
            let stats = stats.unwrap_or(&fallback);
            w.write_record(row(
                "equivalent",
                e,
                &name,
                &q.unit,
                &BTreeMap::new(),
                stats,
            ))?;
        }
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn row(
    section: &str,
    e: &EndpointSummary,
    name: &str,
    kind: &str,
    labels: &BTreeMap<String, String>,
    s: &Stats,
) -> Vec<String> {
    let n = |v: Option<f64>| v.map(|x| format!("{x}")).unwrap_or_default();
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    vec![
        section.to_owned(),
        e.endpoint.clone(),
        name.to_owned(),
        kind.to_owned(),
        labels.join(";"),
        n(s.total),
        n(s.rate),
        n(s.resets),
        n(s.count),
        n(s.sum),
        n(s.avg),
        n(s.min),
        n(s.max),
        n(s.std),
        n(s.p50.or(s.p50_estimate)),
        n(s.p90.or(s.p90_estimate)),
        n(s.p95_estimate),
        n(s.p99.or(s.p99_estimate)),
        if s.estimated { "true" } else { "" }.to_owned(),
    ]
}
