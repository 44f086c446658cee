//! Runs the registry over normalized evidence: detects engines, computes their
//! signals, evaluates findings, and produces outcomes.
//!
//! Sits between `normalize` and `report`. A rule fires, passes, is not evaluable
//! (a required signal is missing, named in the outcome) or errors at run time; one
//! rule's failure never stops the others.

pub mod compat;
pub mod pipeline;
pub mod rule_tests;
pub mod trace;

use crate::expr::Var;
use crate::normalize::{is_window_suffix, RankVar, SeriesIndex, SignalValue};
use crate::pack::model::Scope;
use crate::pack::{FindingRule, Registry, VarKind};
use crate::report::{
    DetectionHit, EndpointReport, EngineDetection, EvidenceItem, FindingOutcome, Status,
};
use std::collections::BTreeMap;

/// What the operator told us about the evaluation.
#[derive(Clone, Debug, Default)]
pub struct EvalOptions {
    /// `--engine X`: skip detection and check the scrape looks like X, an engine id
    /// or a pack id naming all its engines (`lmcache`, `dynamo`, `llm-d`).
    pub forced_engine: Option<String>,
    /// Operator context and evidence files for the compatibility analysis.
    pub compat: compat::CompatContext,
    /// Also evaluate `scope: deployment` findings over this one endpoint, as when
    /// it is the whole deployment (rule test cases, `explain`).
    pub as_deployment: bool,
    /// Skip each endpoint's own findings: the caller reads only the deployment's
    /// (the compatibility report), so they would be computed and dropped.
    pub deployment_only: bool,
}

/// Detection of every engine in the registry over one index, highest confidence first;
/// engines below their `min_confidence` are left out.
pub fn detect(registry: &Registry, index: &SeriesIndex) -> Vec<EngineDetection> {
    let mut out: Vec<EngineDetection> = registry
        .engines
        .iter()
        .map(|e| score_engine(e, index))
        .filter(|d| {
            registry
                .engine(&d.id)
                .is_some_and(|e| d.confidence >= e.def.detection.min_confidence)
        })
        .collect();
    sort_detections(&mut out);
    out
}

/// Highest confidence first, then by id.
pub(crate) fn sort_detections(list: &mut [EngineDetection]) {
    list.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then_with(|| a.id.cmp(&b.id))
    });
}

fn score_engine(engine: &crate::pack::EngineRule, index: &SeriesIndex) -> EngineDetection {
    let mut miss = 1.0;
    let mut evidence = Vec::new();
    for (pattern, ev) in &engine.evidence {
        let names = index.matching(pattern);
        if let Some(first) = names.first() {
            miss *= 1.0 - ev.weight;
            evidence.push(DetectionHit {
                pattern: ev.pattern.clone(),
                weight: ev.weight,
                legacy: ev.legacy,
                matched: names.len(),
                example: (*first).to_owned(),
                note: ev.note.clone(),
            });
        }
    }
    EngineDetection {
        id: engine.def.id.clone(),
        name: engine.def.name.clone(),
        role: engine.def.role,
        confidence: round4(1.0 - miss),
        forced: false,
        evidence,
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// What detection and signal computation found on one or more scrapes.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    pub engines: Vec<EngineDetection>,
    pub signals: BTreeMap<String, BTreeMap<String, SignalValue>>,
    /// `--engine X` was given and nothing looks like X.
    pub mismatch: bool,
    /// What detection finds on the latest scrape whatever `--engine` says (the
    /// engines themselves when nothing was forced).
    pub seen: Vec<EngineDetection>,
}

impl Observed {
    pub fn engine_ids(&self) -> Vec<String> {
        self.engines.iter().map(|e| e.id.clone()).collect()
    }
}

/// Detects engines (or checks the forced one) on an endpoint's latest scrape, and
/// computes their signals over its scrapes (instant and window forms).
pub fn detect_over(
    registry: &Registry,
    scrapes: &[crate::normalize::window::TimedIndex],
    options: &EvalOptions,
) -> Observed {
    // What runs is what the latest scrape shows (the instant), as for values.
    let (mut engines, mismatch) = match scrapes.last() {
        Some((latest, _)) => detect_one(registry, latest, options),
        None => (Vec::new(), options.forced_engine.is_some()),
    };
    let seen = match scrapes.last() {
        Some((latest, _)) if options.forced_engine.is_some() => detect(registry, latest),
        _ => Vec::new(),
    };
    sort_detections(&mut engines);
    let signals = engines
        .iter()
        .map(|d| {
            (
                d.id.clone(),
                pipeline::signals_over(registry, &d.id, scrapes),
            )
        })
        .collect();
    let seen = match options.forced_engine {
        Some(_) => seen,
        None => engines.clone(),
    };
    Observed {
        engines,
        signals,
        mismatch,
        seen,
    }
}

/// Detection on one scrape: the engines found, and whether `--engine X` was given
/// and nothing looks like X.
fn detect_one(
    registry: &Registry,
    index: &SeriesIndex,
    options: &EvalOptions,
) -> (Vec<EngineDetection>, bool) {
    let Some(x) = &options.forced_engine else {
        return (detect(registry, index), false);
    };
    // Every engine X names, scored; those that look present are kept, and when
    // none does the scrape does not look like X at all.
    let scored: Vec<(EngineDetection, bool)> = registry
        .engines_for(x)
        .into_iter()
        .map(|e| {
            let mut d = score_engine(e, index);
            d.forced = true;
            let present = d.confidence >= e.def.detection.min_confidence;
            (d, present)
        })
        .collect();
    let mismatch = !scored.iter().any(|(_, present)| *present);
    let single = scored.len() == 1;
    let found = scored
        .into_iter()
        .filter(|(_, present)| *present || single)
        .map(|(d, _)| d)
        .collect();
    (found, mismatch)
}

/// The facts every endpoint has, for findings. `operator_role` is the part the
/// operator said the endpoint plays (see [`operator_role`]).
pub fn core_facts(
    observed: &Observed,
    indexes: &[&SeriesIndex],
    operator_role: Option<&str>,
) -> Vec<(String, Var)> {
    let samples: usize = indexes.iter().map(|i| i.sample_count()).sum();
    let families: usize = indexes.iter().map(|i| i.family_count()).sum();
    let dropped: usize = indexes.iter().map(|i| i.expo.dropped.len()).sum();
    let detected = if observed.mismatch {
        0
    } else {
        observed.engines.len()
    };
    let mut facts = vec![
        ("engines_detected".to_owned(), (detected as f64).into()),
        (
            "engine_forced_mismatch".to_owned(),
            f64::from(u8::from(observed.mismatch)).into(),
        ),
        ("series_count".to_owned(), (samples as f64).into()),
        ("family_count".to_owned(), (families as f64).into()),
        ("dropped_lines".to_owned(), (dropped as f64).into()),
    ];
    facts.extend(exposition_facts(indexes));
    facts.extend(seen_facts(observed, operator_role));
    facts
}

/// The fact key of a finding's pattern list (`patterns:`): not a variable name,
/// so no rule reads another's list.
pub fn pattern_key(code: &str, list: &str) -> String {
    format!("{code}/{list}")
}

/// Every finding's pattern lists over the scrapes: how many families match one
/// pattern of the list (summed over the scrapes).
pub fn pattern_facts(registry: &Registry, indexes: &[&SeriesIndex]) -> Vec<(String, Var)> {
    let mut out = Vec::new();
    for rule in registry.findings.iter().filter(|r| !r.patterns.is_empty()) {
        for (name, patterns) in &rule.patterns {
            let mut count = 0usize;
            for index in indexes {
                let mut hit: std::collections::BTreeSet<&str> = Default::default();
                for p in patterns {
                    hit.extend(index.matching_families(p));
                }
                count += hit.len();
            }
            out.push((pattern_key(&rule.def.code, name), (count as f64).into()));
        }
    }
    out
}

/// How many families listed by name in `declared_without_samples_names`.
pub const DECLARED_NAMES_SHOWN: usize = 5;

/// Families declared without samples, and what the body was (the first scrape
/// that is no exposition decides, else the first).
fn exposition_facts(indexes: &[&SeriesIndex]) -> Vec<(String, Var)> {
    let mut declared = 0usize;
    let mut names: Vec<&str> = Vec::new();
    for index in indexes {
        for m in &index.expo.metadata {
            match index.family(&m.name) {
                Some(f) if !f.samples.is_empty() => declared += 1,
                Some(_) => {
                    declared += 1;
                    names.push(&m.name);
                }
                None => {}
            }
        }
    }
    let body = indexes
        .iter()
        .map(|i| &i.expo.body)
        .find(|b| b.kind != crate::evidence::prometheus::BodyKind::Exposition)
        .or_else(|| indexes.first().map(|i| &i.expo.body));
    let (kind, excerpt, last, text) = body.map_or(("exposition", "", "", ""), |b| {
        (
            b.kind.as_str(),
            b.excerpt.as_str(),
            b.last_line.as_str(),
            b.text.as_str(),
        )
    });
    let shown: Vec<&str> = names.iter().take(DECLARED_NAMES_SHOWN).copied().collect();
    vec![
        ("declared_families".to_owned(), (declared as f64).into()),
        (
            "declared_without_samples".to_owned(),
            (names.len() as f64).into(),
        ),
        (
            "declared_without_samples_names".to_owned(),
            Var::Str(shown.join(", ")),
        ),
        ("body_kind".to_owned(), Var::Str(kind.to_owned())),
        ("body_excerpt".to_owned(), Var::Str(excerpt.to_owned())),
        ("body_last_line".to_owned(), Var::Str(last.to_owned())),
        ("body_text".to_owned(), Var::Str(text.to_owned())),
    ]
}

/// The part the operator said an endpoint plays: the role of the system `--engine`
/// names (the first, for a pack id naming several), else the role its input was
/// recorded under (a packet's `engine_metrics`).
pub fn operator_role(
    registry: &Registry,
    options: &EvalOptions,
    recorded: Option<&str>,
) -> Option<String> {
    let forced = options.forced_engine.as_deref().and_then(|x| {
        let first = registry.engines_for(x).into_iter().next()?;
        serde_json::to_value(first.def.role)
            .ok()?
            .as_str()
            .map(str::to_owned)
    });
    forced.or_else(|| recorded.map(str::to_owned))
}

/// The role the operator gave, and the roles and names of what detection finds
/// whatever it says.
fn seen_facts(observed: &Observed, operator_role: Option<&str>) -> Vec<(String, Var)> {
    let role = |d: &EngineDetection| {
        serde_json::to_value(d.role)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    let mut roles: Vec<String> = observed.seen.iter().map(role).collect();
    roles.sort();
    roles.dedup();
    let names: Vec<&str> = observed.seen.iter().map(|d| d.name.as_str()).collect();
    vec![
        (
            "operator_role".to_owned(),
            Var::Str(operator_role.unwrap_or_default().to_owned()),
        ),
        (
            "detected_roles".to_owned(),
            Var::List(roles.into_iter().map(Var::Str).collect()),
        ),
        ("detected_names".to_owned(), Var::Str(names.join(", "))),
    ]
}

/// Evaluates every finding of the given scopes: engine-specific ones once per
/// detected engine they name, the others once over the signals of every engine.
pub fn evaluate_findings(
    registry: &Registry,
    observed: &Observed,
    facts: &[(String, Var)],
    scopes: &[Scope],
) -> Vec<FindingOutcome> {
    let mut findings = Vec::new();
    let empty = BTreeMap::new();
    for rule in registry
        .findings
        .iter()
        .filter(|r| scopes.contains(&r.def.scope))
    {
        let listed = |id: &str| rule.def.engines.iter().any(|e| e == id);
        if rule.def.engines.is_empty() {
            let merged = merged_signals(observed, |_| true);
            findings.push(evaluate_rule(registry, rule, None, &merged, facts));
        } else if rule.def.scope == Scope::Deployment {
            // Once, over the signals of the listed engines that were detected on
            // any endpoint (a comparison across systems), when any was.
            if observed.engines.iter().any(|d| listed(&d.id)) {
                let merged = merged_signals(observed, listed);
                findings.push(evaluate_rule(registry, rule, None, &merged, facts));
            }
        } else {
            for d in &observed.engines {
                if rule.def.engines.contains(&d.id) {
                    let s = observed.signals.get(&d.id).unwrap_or(&empty);
                    findings.push(evaluate_rule(registry, rule, Some(&d.id), s, facts));
                }
            }
        }
    }
    mark_explained(registry, &mut findings);
    findings
}

/// Marks every fired finding that another fired one `explains` (on the same engine,
/// or either engine-free), so reports can name the cause first.
fn mark_explained(registry: &Registry, findings: &mut [FindingOutcome]) {
    let fired: Vec<(&[String], String, Option<String>)> = findings
        .iter()
        .filter(|f| f.status == Status::Fired)
        .filter_map(|f| {
            let rule = registry.findings.iter().find(|r| r.def.code == f.code)?;
            (!rule.def.explains.is_empty()).then(|| {
                (
                    rule.def.explains.as_slice(),
                    f.code.clone(),
                    f.engine.clone(),
                )
            })
        })
        .collect();
    for f in findings.iter_mut().filter(|f| f.status == Status::Fired) {
        f.explained_by = fired
            .iter()
            .filter(|(explains, _, engine)| {
                explains.contains(&f.code)
                    && (engine.is_none() || f.engine.is_none() || *engine == f.engine)
            })
            .map(|(_, code, _)| code.clone())
            .collect();
    }
}

/// Signals of the detected engines `keep` accepts, the most confident last so
/// its value wins a shared name.
fn merged_signals(
    observed: &Observed,
    keep: impl Fn(&str) -> bool,
) -> BTreeMap<String, SignalValue> {
    let mut merged: BTreeMap<String, SignalValue> = BTreeMap::new();
    for d in observed.engines.iter().rev().filter(|d| keep(&d.id)) {
        if let Some(s) = observed.signals.get(&d.id) {
            merged.extend(s.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    merged
}

/// Why a window form on one scrape cannot be computed.
pub const NEEDS_TWO_SCRAPES: &str = "needs two scrapes of this endpoint";

/// Why a window form is absent although the endpoint has a window.
fn window_gap(sv: Option<&SignalValue>, suffix: &str) -> &'static str {
    match sv.and_then(|s| s.window.as_ref()) {
        None => "not in two scrapes of any endpoint",
        Some(w) if suffix == "_rate" && w.seconds.is_none() => "scrape times unknown",
        Some(w) if suffix == "_rate" && w.seconds == Some(0.0) => "zero-length window",
        Some(w) if suffix.contains("_p") && !ends_in_inf(&w.buckets) => {
            "no `+Inf` bucket in two scrapes"
        }
        Some(_) if suffix.contains("_p") || suffix.ends_with("_avg") => {
            "no observations in the window"
        }
        Some(_) => "no series in two scrapes",
    }
}

/// Whether cumulative buckets end in `+Inf`, without which no quantile exists.
fn ends_in_inf(buckets: &[(f64, f64)]) -> bool {
    buckets.last().is_some_and(|b| b.0 == f64::INFINITY)
}

/// Why a variable of a signal that is there has no value: a histogram quantile
/// without a `+Inf` bucket, else no observations.
fn empty_gap(sv: &SignalValue, suffix: &str) -> &'static str {
    if crate::normalize::RANK_VARIABLES
        .iter()
        .any(|(s, _)| *s == suffix)
    {
        return "ranks of several endpoints are not comparable";
    }
    match &sv.histogram {
        Some(h) if suffix.starts_with("_p") && !ends_in_inf(&h.buckets) => "no `+Inf` bucket",
        _ => "no observations",
    }
}

/// Evaluates one rule with the given signals, facts and context.
pub fn evaluate_rule(
    registry: &Registry,
    rule: &FindingRule,
    engine: Option<&str>,
    signals: &BTreeMap<String, SignalValue>,
    facts: &[(String, Var)],
) -> FindingOutcome {
    let mut vars: Vec<(&str, Var)> = Vec::new();
    let mut evidence = Vec::new();
    let mut reason: Option<String> = None;
    let single_scrape = facts
        .iter()
        .any(|(n, v)| n == "scrape_count" && v.as_f64().is_some_and(|c| c < 2.0));
    let mut missing: Vec<String> = rule
        .required
        .iter()
        .filter(|s| !signals.contains_key(*s))
        .cloned()
        .collect();
    for var in &rule.variables {
        let item =
            |kind: &'static str, value: Option<&Var>, sv: Option<&SignalValue>| EvidenceItem {
                variable: var.clone(),
                kind,
                value: value.and_then(Var::as_f64),
                text: value.filter(|v| v.as_f64().is_none()).map(Var::render),
                family: sv.map(|s| s.family.clone()),
                line: sv.filter(|s| !s.absent_as_zero).map(|s| s.line),
                spelling: sv.map(|s| s.spelling),
                absent_as_zero: sv.is_some_and(|s| s.absent_as_zero),
            };
        match registry.var_kind(rule, var) {
            Some(VarKind::Param) => {
                let v = Var::Num(rule.def.params[var]);
                evidence.push(item("param", Some(&v), None));
                vars.push((var, v));
            }
            Some(VarKind::Patterns) => {
                let key = pattern_key(&rule.def.code, var);
                match facts.iter().find(|(n, _)| *n == key) {
                    Some((_, v)) => {
                        evidence.push(item("patterns", Some(v), None));
                        vars.push((var, v.clone()));
                    }
                    None => missing.push(var.clone()),
                }
            }
            Some(kind @ (VarKind::Fact | VarKind::Context)) => {
                let label = if kind == VarKind::Fact {
                    "fact"
                } else {
                    "context"
                };
                match facts.iter().find(|(n, _)| n == var) {
                    Some((_, v)) => {
                        // A map is context for the expression, not evidence to list.
                        if v.is_scalar() {
                            evidence.push(item(label, Some(v), None));
                        }
                        vars.push((var, v.clone()));
                    }
                    None => {
                        if var == "window_seconds" && single_scrape {
                            reason = Some(NEEDS_TWO_SCRAPES.to_owned());
                        }
                        missing.push(var.clone());
                    }
                }
            }
            Some(VarKind::Signal(name, "_by")) => {
                let sv = signals.get(&name);
                match sv {
                    Some(s) => {
                        let by = by_labels(s);
                        evidence.push(EvidenceItem {
                            text: Some(render_by(&by)),
                            ..item("signal", None, sv)
                        });
                        vars.push((var, by));
                    }
                    None if !missing.contains(&name) => missing.push(name.clone()),
                    None => {}
                }
            }
            Some(VarKind::Signal(name, suffix)) => {
                let sv = signals.get(&name);
                let window = registry
                    .signal_types
                    .get(&name)
                    .is_some_and(|k| is_window_suffix(*k, suffix));
                let value = sv.and_then(|s| match s.rank_variable(suffix) {
                    Some(RankVar::Num(x)) => Some(Var::Num(x)),
                    Some(RankVar::Text(t)) => Some(Var::Str(t)),
                    Some(RankVar::Map(m)) => Some(Var::Nums(m)),
                    None => s.variable(suffix).map(Var::Num),
                });
                match value {
                    Some(v) => {
                        evidence.push(item("signal", Some(&v), sv));
                        vars.push((var, v));
                    }
                    None => {
                        if window && single_scrape {
                            missing.push(var.clone());
                            reason = Some(NEEDS_TWO_SCRAPES.to_owned());
                        } else if window && sv.is_some() {
                            missing.push(format!("{var} ({})", window_gap(sv, suffix)));
                        } else if let Some(sv) = sv.filter(|_| !missing.contains(var)) {
                            // Present but empty: a histogram with no observations.
                            missing.push(format!("{var} ({})", empty_gap(sv, suffix)));
                        } else if !missing.contains(&name) {
                            missing.push(name.clone());
                        }
                        evidence.push(item("signal", None, sv));
                    }
                }
            }
            None => {}
        }
    }
    let base = |status: Status, evidence: Vec<EvidenceItem>| FindingOutcome {
        code: rule.def.code.clone(),
        title: rule.def.title.clone(),
        severity: rule.def.severity,
        evidence_level: rule.def.evidence_level,
        status,
        engine: engine.map(str::to_owned),
        message: None,
        remediation: None,
        missing: Vec::new(),
        reason: None,
        error: None,
        evidence,
        fail_on: rule.def.fail_on.clone(),
        pack: rule.pack.clone(),
        explained_by: Vec::new(),
    };
    if let Some(applies) = &rule.applies {
        match applicable(registry, rule, applies, signals, facts) {
            Some(Ok(false)) => {
                return FindingOutcome {
                    reason: Some(format!(
                        "does not apply: `{}` is false",
                        applies.source.trim()
                    )),
                    ..base(Status::NotApplicable, evidence)
                }
            }
            Some(Err(e)) => {
                return FindingOutcome {
                    error: Some(format!("applies_when: {}", e.message)),
                    ..base(Status::Errored, evidence)
                }
            }
            Some(Ok(true)) | None => {}
        }
    }
    if !missing.is_empty() {
        missing.sort();
        missing.dedup();
        return FindingOutcome {
            missing,
            reason,
            ..base(Status::NotEvaluable, evidence)
        };
    }
    match registry.expr.eval_bool(&rule.when, &vars) {
        Ok(true) => FindingOutcome {
            message: Some(rule.message.render(&registry.expr, &vars)),
            remediation: Some(rule.def.remediation.trim().to_owned()),
            ..base(Status::Fired, evidence)
        },
        Ok(false) => base(Status::Passed, evidence),
        Err(e) => FindingOutcome {
            error: Some(e.message),
            ..base(Status::Errored, evidence)
        },
    }
}

/// `applies_when` over the values at hand; `None` when one of its variables is
/// missing (applicability unknown: the finding is judged as usual).
fn applicable(
    registry: &Registry,
    rule: &FindingRule,
    applies: &crate::expr::Compiled,
    signals: &BTreeMap<String, SignalValue>,
    facts: &[(String, Var)],
) -> Option<Result<bool, crate::expr::ExprError>> {
    let mut vars: Vec<(&str, Var)> = Vec::new();
    for var in &applies.variables {
        let value = match registry.var_kind(rule, var)? {
            VarKind::Param => Var::Num(rule.def.params[var]),
            VarKind::Patterns => {
                let key = pattern_key(&rule.def.code, var);
                facts
                    .iter()
                    .find(|(n, _)| *n == key)
                    .map(|(_, v)| v.clone())?
            }
            VarKind::Fact | VarKind::Context => facts
                .iter()
                .find(|(n, _)| n == var)
                .map(|(_, v)| v.clone())?,
            VarKind::Signal(name, "_by") => by_labels(signals.get(&name)?),
            VarKind::Signal(name, suffix) => Var::Num(signals.get(&name)?.variable(suffix)?),
        };
        vars.push((var, value));
    }
    Some(registry.expr.eval_bool(applies, &vars))
}

/// A grouped signal as a map from its `group_by` label values (joined by `,`) to
/// the value per group, for `<signal>_by` and `nonzero()`.
fn by_labels(sv: &SignalValue) -> Var {
    Var::Table(
        sv.groups
            .iter()
            .filter_map(|g| {
                let key: Vec<&str> = g.labels.iter().map(|(_, v)| v.as_str()).collect();
                Some((key.join(","), Var::Num(g.value?)))
            })
            .collect(),
    )
}

fn render_by(by: &Var) -> String {
    let Var::Table(entries) = by else {
        return by.render();
    };
    let parts: Vec<String> = entries
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.render()))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Pack provenance for reports.
pub fn pack_infos(registry: &Registry) -> Vec<crate::report::PackInfo> {
    registry
        .packs
        .iter()
        .map(|p| crate::report::PackInfo {
            id: p.manifest.id.clone(),
            version: p.manifest.version.clone(),
            origin: p.origin.to_string(),
        })
        .collect()
}

/// The `check` report: every endpoint, and the deployment as a whole.
pub fn check_report(registry: &Registry, e: pipeline::Evaluation) -> crate::report::CheckReport {
    use crate::report::{CheckReport, Summary, ToolInfo, CHECK_SCHEMA_VERSION};
    let endpoints: Vec<EndpointReport> = e.endpoints.into_iter().map(|o| o.report).collect();
    let d = e.deployment;
    let deployment = crate::report::DeploymentReport {
        detected_mode: d.analysis.detected_mode.clone(),
        architecture: d.analysis.architecture.clone(),
        engines: d.observed.engine_ids(),
        signals: d.observed.signals,
        scrapes_outside_window: e.outside_window,
        findings: d.findings,
    };
    CheckReport {
        schema_version: CHECK_SCHEMA_VERSION.to_owned(),
        tool: ToolInfo::current(),
        packs: pack_infos(registry),
        inputs: e.inputs,
        summary: Summary::from_reports(&endpoints, &deployment.findings),
        endpoints,
        deployment,
    }
}

/// `items.iter().map(f)` on every core, in order: endpoints and inputs are
/// independent, and the machines this runs on have a few cores.
pub(crate) fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() < 32 {
        return items.iter().map(f).collect();
    }
    // Asked once: the answer reads cgroup files, and `summarize` maps every batch.
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let threads =
        *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if threads < 2 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let workers: Vec<_> = items
            .chunks(chunk)
            .map(|c| s.spawn(|| c.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::window::WindowStats;
    use crate::normalize::{HistogramStats, SignalType, Spelling};

    fn histogram(buckets: Vec<(f64, f64)>, window: Vec<(f64, f64)>) -> SignalValue {
        SignalValue {
            kind: SignalType::Histogram,
            value: Some(0.2),
            family: "h".to_owned(),
            spelling: Spelling::Current,
            series: 1,
            line: 1,
            histogram: Some(HistogramStats {
                buckets,
                count: 10.0,
                sum: 2.0,
                p50: None,
                p90: None,
                p95: None,
                p99: None,
            }),
            groups: Vec::new(),
            ranks: None,
            ranks_missing: Vec::new(),
            window: Some(WindowStats {
                scrapes: 2,
                count: Some(4.0),
                buckets: window,
                ..WindowStats::default()
            }),
            absent_as_zero: false,
        }
    }

    /// A histogram without a `+Inf` bucket has observations but no quantile: the
    /// reason says so rather than "no observations".
    #[test]
    fn a_quantile_without_an_inf_bucket_says_so() {
        let cut = histogram(vec![(0.5, 10.0)], vec![(0.5, 4.0)]);
        assert_eq!(empty_gap(&cut, "_p99"), "no `+Inf` bucket");
        assert_eq!(
            window_gap(Some(&cut), "_window_p99"),
            "no `+Inf` bucket in two scrapes"
        );
        let quiet = histogram(
            vec![(0.5, 0.0), (f64::INFINITY, 0.0)],
            vec![(f64::INFINITY, 0.0)],
        );
        assert_eq!(empty_gap(&quiet, "_p99"), "no observations");
        assert_eq!(
            window_gap(Some(&quiet), "_window_p99"),
            "no observations in the window"
        );
    }
}
