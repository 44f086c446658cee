//! The one pipeline every command runs: a [`Deployment`] in, per-endpoint and
//! deployment outcomes out. Each scrape's series index is built once; each
//! endpoint's signals have their instant (latest scrape) and window forms; the
//! deployment's signals combine the endpoints' by each signal's declared
//! aggregation. Commands differ only in which outcomes they render.

use super::{compat, core_facts, detect_over, evaluate_findings, par_map, EvalOptions, Observed};
use crate::deployment::{Deployment, Endpoint};
use crate::expr::Var;
use crate::normalize::window::TimedIndex;
use crate::normalize::{combine, compute_over, SeriesIndex, SignalSpec, SignalValue};
use crate::pack::model::Scope;
use crate::pack::Registry;
use crate::report::{
    DroppedLineReport, EndpointReport, FindingOutcome, InputReport, ScrapeReport, SystemTrace,
};
use std::collections::BTreeMap;

/// What one run of the pipeline found.
pub struct Evaluation {
    /// Every input, sorted by source, with what could not be read in it.
    pub inputs: Vec<InputReport>,
    pub endpoints: Vec<EndpointOutcome>,
    pub deployment: DeploymentOutcome,
    /// Scrapes left out by `--start`/`--end`.
    pub outside_window: usize,
}

/// One endpoint evaluated.
pub struct EndpointOutcome {
    pub report: EndpointReport,
    /// Per detected system, where its latency comes from (latest scrape).
    pub systems: Vec<SystemTrace>,
}

/// The whole deployment evaluated.
pub struct DeploymentOutcome {
    pub observed: Observed,
    pub analysis: compat::CompatAnalysis,
    pub findings: Vec<FindingOutcome>,
}

/// Runs detection, signals, compatibility and findings over every endpoint and
/// over the deployment as a whole. `options.as_deployment` also evaluates
/// endpoint-scope findings over the whole deployment (for `lmcache-compat`,
/// `rules test` and `explain`, which answer for the deployment).
pub fn evaluate(registry: &Registry, deployment: &Deployment, options: &EvalOptions) -> Evaluation {
    let indexes = index_scrapes(deployment);
    let pairs: Vec<(&Endpoint, &Indexed)> = deployment.endpoints.iter().zip(&indexes).collect();
    let (endpoints, observed_each): (Vec<EndpointOutcome>, Vec<Observed>) =
        par_map(&pairs, |(e, idx)| {
            evaluate_endpoint(registry, deployment, e, idx, options)
        })
        .into_iter()
        .unzip();
    // The deployment as it stands: every endpoint's latest scrape.
    let latest: Vec<&SeriesIndex> = indexes
        .iter()
        .filter_map(|i| i.last())
        .map(|(i, _)| i)
        .collect();
    let observed = combine_observed(registry, &observed_each, options);
    let compat = compat::analyze(registry, &latest, &observed.engine_ids(), &options.compat);
    let role = super::operator_role(registry, options, None);
    let mut facts = core_facts(&observed, &latest, role.as_deref());
    facts.extend(super::pattern_facts(registry, &latest));
    facts.extend(window_facts(indexes.iter().map(|i| timed(i))));
    facts.extend(compat.vars);
    let scopes: &[Scope] = if options.as_deployment {
        &[Scope::Endpoint, Scope::Deployment]
    } else {
        &[Scope::Deployment]
    };
    let findings = evaluate_findings(registry, &observed, &facts, scopes);
    Evaluation {
        inputs: par_map(&deployment.inputs, input_report),
        endpoints,
        deployment: DeploymentOutcome {
            observed,
            analysis: compat.analysis,
            findings,
        },
        outside_window: deployment.outside_window,
    }
}

pub type Indexed<'a> = Vec<(SeriesIndex<'a>, Option<f64>)>;
/// Per endpoint, per scrape: its index once built.
type Slots<'a> = Vec<Vec<Option<(SeriesIndex<'a>, Option<f64>)>>>;

/// One index per scrape, per endpoint in deployment order: an input read by one
/// whole scrape is indexed alone; the targets of a fleet dump share one pass.
pub fn index_scrapes(deployment: &Deployment) -> Vec<Indexed<'_>> {
    let mut out: Slots = deployment
        .endpoints
        .iter()
        .map(|e| e.scrapes.iter().map(|_| None).collect())
        .collect();
    let mut by_input: BTreeMap<usize, Vec<(usize, usize)>> = BTreeMap::new();
    for (ei, e) in deployment.endpoints.iter().enumerate() {
        for (si, s) in e.scrapes.iter().enumerate() {
            by_input.entry(s.input).or_default().push((ei, si));
        }
    }
    let jobs: Vec<(usize, Vec<(usize, usize)>)> = by_input.into_iter().collect();
    let built = par_map(&jobs, |(input, users)| {
        index_input(deployment, *input, users)
    });
    for ((_, users), indexes) in jobs.iter().zip(built) {
        for (u, index) in users.iter().zip(indexes) {
            out[u.0][u.1] = Some((index, deployment.endpoints[u.0].scrapes[u.1].time));
        }
    }
    crate::normalize::share_matches(
        out.iter_mut()
            .flatten()
            .filter_map(|slot| slot.as_mut().map(|(index, _)| index)),
    );
    out.into_iter()
        .map(|v| v.into_iter().flatten().collect())
        .collect()
}

/// The indexes of one input's scrapes (`users`: endpoint and scrape positions): the
/// whole input, or one part per target of a fleet dump.
fn index_input<'d>(
    deployment: &'d Deployment,
    input: usize,
    users: &[(usize, usize)],
) -> Vec<SeriesIndex<'d>> {
    let Some(expo) = deployment.inputs[input].expo.as_ref() else {
        return Vec::new();
    };
    let scrape = |&(ei, si): &(usize, usize)| &deployment.endpoints[ei].scrapes[si];
    if let [only] = users {
        if scrape(only).samples.is_none() {
            return vec![SeriesIndex::new(expo)];
        }
    }
    let parts: Vec<Vec<u32>> = users
        .iter()
        .map(|u| scrape(u).samples.clone().unwrap_or_default())
        .collect();
    let keys = deployment.inputs[input].target_keys.clone();
    SeriesIndex::parts(expo, parts, keys)
}

fn timed<'s, 'a>(indexed: &'s Indexed<'a>) -> Vec<TimedIndex<'s, 'a>> {
    indexed.iter().map(|(i, t)| (i, *t)).collect()
}

fn evaluate_endpoint(
    registry: &Registry,
    deployment: &Deployment,
    endpoint: &Endpoint,
    indexed: &Indexed,
    options: &EvalOptions,
) -> (EndpointOutcome, Observed) {
    let scrapes = timed(indexed);
    let observed = detect_over(registry, &scrapes, options);
    let refs: Vec<&SeriesIndex> = scrapes.iter().map(|(i, _)| *i).collect();
    let recorded = endpoint
        .scrapes
        .last()
        .and_then(|s| deployment.inputs.get(s.input))
        .and_then(|p| p.input.origin.role.as_deref());
    let role = super::operator_role(registry, options, recorded);
    let mut facts = core_facts(
        &observed,
        refs.last().map(std::slice::from_ref).unwrap_or(&[]),
        role.as_deref(),
    );
    facts.extend(super::pattern_facts(
        registry,
        refs.last().map(std::slice::from_ref).unwrap_or(&[]),
    ));
    // Endpoint-scope rules cannot read mode, family or context facts (the loader
    // refuses them), so the compatibility analysis runs once, for the deployment.
    facts.extend(window_facts(std::iter::once(scrapes.clone())));
    let scopes: &[Scope] = if options.deployment_only {
        &[]
    } else {
        &[Scope::Endpoint]
    };
    let findings = evaluate_findings(registry, &observed, &facts, scopes);
    let systems = match refs.last() {
        Some(latest) => super::trace::trace_systems(registry, latest, &observed.engines),
        None => Vec::new(),
    };
    let scrape_reports: Vec<ScrapeReport> = endpoint
        .scrapes
        .iter()
        .map(|s| ScrapeReport {
            source: deployment.source(s).to_owned(),
            time: s.time,
            time_source: s.time_source,
        })
        .collect();
    let report = EndpointReport {
        endpoint: endpoint.id.clone(),
        identity: endpoint.identity,
        target: endpoint.target.iter().cloned().collect(),
        source: scrape_reports
            .last()
            .map(|s| s.source.clone())
            .unwrap_or_default(),
        window_seconds: window_seconds(&scrapes),
        scrapes: scrape_reports,
        engine_unidentified: observed.engines.is_empty() || observed.mismatch,
        engines: observed.engines.clone(),
        signals: observed.signals.clone(),
        findings,
    };
    (EndpointOutcome { report, systems }, observed)
}

/// Signals of every detected engine over an endpoint's scrapes.
pub(super) fn signals_over(
    registry: &Registry,
    engine: &str,
    scrapes: &[TimedIndex],
) -> BTreeMap<String, SignalValue> {
    let Some(engine) = registry.engine(engine) else {
        return BTreeMap::new();
    };
    let mut signals: BTreeMap<String, SignalValue> = engine
        .signals
        .iter()
        .filter_map(|spec| compute_over(spec, scrapes).map(|v| (spec.name.clone(), v)))
        .collect();
    let zeros: Vec<(String, SignalValue)> = engine
        .signals
        .iter()
        .filter(|spec| absent_means_zero(spec, &signals))
        .map(|spec| (spec.name.clone(), SignalValue::absent_zero(spec, scrapes)))
        .collect();
    signals.extend(zeros);
    crate::normalize::mark_missing_ranks(&mut signals);
    signals
}

/// A counter with no series whose declared siblings moved (one is present with a
/// non-zero value): its exporter has not created it yet, so it reads as 0.
fn absent_means_zero(spec: &SignalSpec, found: &BTreeMap<String, SignalValue>) -> bool {
    !found.contains_key(&spec.name)
        && spec.absent_is_zero_when.iter().any(|sibling| {
            found
                .get(sibling)
                .is_some_and(|v| !v.absent_as_zero && v.value.is_some_and(|x| x != 0.0))
        })
}

fn window_seconds(scrapes: &[TimedIndex]) -> Option<f64> {
    match (scrapes.first()?.1, scrapes.last()?.1) {
        (Some(a), Some(b)) if scrapes.len() >= 2 && b >= a => Some(b - a),
        _ => None,
    }
}

/// `scrape_count` (most scrapes of any endpoint) and `window_seconds` (longest
/// window), the latter only when some endpoint has a window.
fn window_facts<'s, 'a: 's>(
    endpoints: impl Iterator<Item = Vec<TimedIndex<'s, 'a>>>,
) -> Vec<(String, Var)> {
    let mut count = 0usize;
    let mut seconds: Option<f64> = None;
    for scrapes in endpoints {
        count = count.max(scrapes.len());
        if let Some(s) = window_seconds(&scrapes) {
            seconds = Some(seconds.map_or(s, |x: f64| x.max(s)));
        }
    }
    let mut out = vec![("scrape_count".to_owned(), (count as f64).into())];
    if let Some(s) = seconds {
        out.push(("window_seconds".to_owned(), s.into()));
    }
    out
}

/// The deployment's view: engines seen on any endpoint (highest confidence), and
/// each signal combined over the endpoints that have it.
fn combine_observed(registry: &Registry, each: &[Observed], options: &EvalOptions) -> Observed {
    let mut out = Observed {
        mismatch: options.forced_engine.is_some() && each.iter().all(|o| o.mismatch),
        ..Observed::default()
    };
    for o in each {
        for e in &o.engines {
            match out.engines.iter_mut().find(|x| x.id == e.id) {
                Some(x) if x.confidence < e.confidence => *x = e.clone(),
                Some(_) => {}
                None => out.engines.push(e.clone()),
            }
        }
    }
    super::sort_detections(&mut out.engines);
    for o in each {
        for e in &o.seen {
            if !out.seen.iter().any(|x| x.id == e.id) {
                out.seen.push(e.clone());
            }
        }
    }
    for d in &out.engines {
        let Some(engine) = registry.engine(&d.id) else {
            continue;
        };
        let mut signals = BTreeMap::new();
        for spec in &engine.signals {
            let values: Vec<&SignalValue> = each
                .iter()
                .filter_map(|o| o.signals.get(&d.id)?.get(&spec.name))
                .collect();
            if let Some(v) = combine(spec.kind, spec.aggregate, &values) {
                signals.insert(spec.name.clone(), v);
            }
        }
        out.signals.insert(d.id.clone(), signals);
    }
    out
}

fn input_report(p: &crate::deployment::Parsed) -> InputReport {
    use crate::evidence::prometheus::Format;
    let expo = p.expo.as_ref();
    InputReport {
        source: p.input.source.clone(),
        format: match expo.map(|e| e.format) {
            Some(Format::OpenMetrics) => "openmetrics",
            _ => "prometheus",
        }
        .to_owned(),
        lines: expo.map_or(0, |e| e.lines),
        samples: expo.map_or(0, |e| e.samples.len()),
        families: expo.map_or(0, |e| e.family_count()),
        dropped_lines: expo.map_or(0, |e| e.dropped.len()),
        dropped: expo
            .into_iter()
            .flat_map(|e| e.dropped.iter().take(20))
            .map(|d| DroppedLineReport {
                line: d.line,
                reason: d.reason.to_string(),
                excerpt: d.excerpt.clone(),
            })
            .collect(),
        error: p.error.clone(),
    }
}
