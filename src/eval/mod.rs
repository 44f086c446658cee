//! Runs the registry over normalized evidence: detects engines, computes their
//! signals, evaluates findings, and produces outcomes.
//!
//! Sits between `normalize` and `report`. A rule fires, passes, is not evaluable
//! (a required signal is missing, named in the outcome) or errors at run time; one
//! rule's failure never stops the others.

pub mod compat;
pub mod rule_tests;
pub mod trace;

use crate::evidence::prometheus::Exposition;
use crate::expr::Var;
use crate::normalize::{compute_signal, SeriesIndex, SignalValue};
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
}

/// One scrape to evaluate.
pub struct Endpoint<'a> {
    pub name: String,
    pub source: String,
    pub expo: &'a Exposition,
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
    out.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then_with(|| a.id.cmp(&b.id))
    });
    out
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

/// Evaluates everything over one endpoint.
pub fn evaluate_endpoint(
    registry: &Registry,
    endpoint: &Endpoint,
    options: &EvalOptions,
) -> EndpointReport {
    evaluate_index(
        registry,
        endpoint,
        &SeriesIndex::new(endpoint.expo),
        options,
    )
}

/// What detection and signal computation found on one or more scrapes.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    pub engines: Vec<EngineDetection>,
    pub signals: BTreeMap<String, BTreeMap<String, SignalValue>>,
    /// `--engine X` was given and nothing looks like X.
    pub mismatch: bool,
}

impl Observed {
    pub fn engine_ids(&self) -> Vec<String> {
        self.engines.iter().map(|e| e.id.clone()).collect()
    }

    /// Adds another scrape of the same deployment: engines not yet seen, and signals
    /// not yet computed.
    pub fn merge(&mut self, other: Observed) {
        for e in other.engines {
            if !self.engines.iter().any(|x| x.id == e.id) {
                self.engines.push(e);
            }
        }
        for (engine, sigs) in other.signals {
            let into = self.signals.entry(engine).or_default();
            for (k, v) in sigs {
                into.entry(k).or_insert(v);
            }
        }
        self.mismatch = self.mismatch && other.mismatch;
        self.engines.sort_by(|a, b| {
            b.confidence
                .total_cmp(&a.confidence)
                .then_with(|| a.id.cmp(&b.id))
        });
    }
}

/// Detects engines (or checks the forced one) and computes their signals.
pub fn observe(registry: &Registry, index: &SeriesIndex, options: &EvalOptions) -> Observed {
    let mut mismatch = false;
    let engines = match &options.forced_engine {
        Some(x) => {
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
            mismatch = !scored.iter().any(|(_, present)| *present);
            let single = scored.len() == 1;
            scored
                .into_iter()
                .filter(|(_, present)| *present || single)
                .map(|(d, _)| d)
                .collect()
        }
        None => detect(registry, index),
    };
    let mut signals: BTreeMap<String, BTreeMap<String, SignalValue>> = BTreeMap::new();
    for d in &engines {
        let Some(engine) = registry.engine(&d.id) else {
            continue;
        };
        let computed: BTreeMap<String, SignalValue> = engine
            .signals
            .iter()
            .filter_map(|spec| compute_signal(spec, index).map(|v| (spec.name.clone(), v)))
            .collect();
        signals.insert(d.id.clone(), computed);
    }
    Observed {
        engines,
        signals,
        mismatch,
    }
}

/// The facts every endpoint has, for findings.
pub fn core_facts(observed: &Observed, indexes: &[&SeriesIndex]) -> Vec<(String, Var)> {
    let samples: usize = indexes.iter().map(|i| i.expo.samples.len()).sum();
    let families: usize = indexes.iter().map(|i| i.family_count()).sum();
    let dropped: usize = indexes.iter().map(|i| i.expo.dropped.len()).sum();
    let detected = if observed.mismatch {
        0
    } else {
        observed.engines.len()
    };
    vec![
        ("engines_detected".to_owned(), (detected as f64).into()),
        (
            "engine_forced_mismatch".to_owned(),
            f64::from(u8::from(observed.mismatch)).into(),
        ),
        ("series_count".to_owned(), (samples as f64).into()),
        ("family_count".to_owned(), (families as f64).into()),
        ("dropped_lines".to_owned(), (dropped as f64).into()),
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
        if rule.def.engines.is_empty() {
            // Signals of every detected engine, the most confident first.
            let mut merged: BTreeMap<String, SignalValue> = BTreeMap::new();
            for d in observed.engines.iter().rev() {
                if let Some(s) = observed.signals.get(&d.id) {
                    merged.extend(s.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
            findings.push(evaluate_rule(registry, rule, None, &merged, facts));
        } else {
            for d in &observed.engines {
                if rule.def.engines.contains(&d.id) {
                    let s = observed.signals.get(&d.id).unwrap_or(&empty);
                    findings.push(evaluate_rule(registry, rule, Some(&d.id), s, facts));
                }
            }
        }
    }
    findings
}

/// [`evaluate_endpoint`] over an index the caller already built.
pub fn evaluate_index(
    registry: &Registry,
    endpoint: &Endpoint,
    index: &SeriesIndex,
    options: &EvalOptions,
) -> EndpointReport {
    let observed = observe(registry, index, options);
    let compat = compat::analyze(registry, &[index], &observed.engine_ids(), &options.compat);
    let mut facts = core_facts(&observed, &[index]);
    facts.extend(compat.vars);
    let scopes: &[Scope] = if options.as_deployment {
        &[Scope::Endpoint, Scope::Deployment]
    } else {
        &[Scope::Endpoint]
    };
    let findings = evaluate_findings(registry, &observed, &facts, scopes);
    EndpointReport {
        endpoint: endpoint.name.clone(),
        source: endpoint.source.clone(),
        engine_unidentified: observed.engines.is_empty() || observed.mismatch,
        engines: observed.engines,
        signals: observed.signals,
        findings,
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
    let mut missing: Vec<String> = rule
        .required
        .iter()
        .filter(|s| !signals.contains_key(*s))
        .cloned()
        .collect();
    for var in &rule.variables {
        let item = |kind: &str, value: Option<&Var>, sv: Option<&SignalValue>| EvidenceItem {
            variable: var.clone(),
            kind: kind.to_owned(),
            value: value.and_then(Var::as_f64),
            text: value.filter(|v| v.as_f64().is_none()).map(Var::render),
            family: sv.map(|s| s.family.clone()),
            line: sv.map(|s| s.line),
            spelling: sv.map(|s| s.spelling),
        };
        match registry.var_kind(rule, var) {
            Some(VarKind::Param) => {
                let v = Var::Num(rule.def.params[var]);
                evidence.push(item("param", Some(&v), None));
                vars.push((var, v));
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
                        if !matches!(v, Var::Map(_)) {
                            evidence.push(item(label, Some(v), None));
                        }
                        vars.push((var, v.clone()));
                    }
                    None => missing.push(var.clone()),
                }
            }
            Some(VarKind::Signal(name, suffix)) => {
                let sv = signals.get(&name);
                match sv.and_then(|s| s.variable(suffix)) {
                    Some(v) => {
                        let v = Var::Num(v);
                        evidence.push(item("signal", Some(&v), sv));
                        vars.push((var, v));
                    }
                    None => {
                        if sv.is_some() && !missing.contains(var) {
                            // Present but empty: a histogram with no observations.
                            missing.push(format!("{var} (no observations)"));
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
    let base = |status: Status| FindingOutcome {
        code: rule.def.code.clone(),
        title: rule.def.title.clone(),
        severity: rule.def.severity,
        evidence_level: rule.def.evidence_level,
        status,
        engine: engine.map(str::to_owned),
        message: None,
        remediation: None,
        missing: Vec::new(),
        error: None,
        evidence: evidence.clone(),
        fail_on: rule.def.fail_on.clone(),
        pack: rule.pack.clone(),
    };
    if !missing.is_empty() {
        missing.sort();
        missing.dedup();
        return FindingOutcome {
            missing,
            ..base(Status::NotEvaluable)
        };
    }
    match registry.expr.eval_bool(&rule.when, &vars) {
        Ok(true) => FindingOutcome {
            message: Some(rule.message.render(&registry.expr, &vars)),
            remediation: Some(rule.def.remediation.trim().to_owned()),
            ..base(Status::Fired)
        },
        Ok(false) => base(Status::Passed),
        Err(e) => FindingOutcome {
            error: Some(e.message),
            ..base(Status::Errored)
        },
    }
}

/// One input parsed, with its report row; `expo` is `None` when the input is not an
/// exposition at all (the row says why).
pub struct ParsedInput<'a> {
    pub input: &'a crate::evidence::Input,
    pub report: crate::report::InputReport,
    pub expo: Option<Exposition>,
}

/// Parses every input and describes what could and could not be read in each.
pub fn parse_inputs(inputs: &[crate::evidence::Input]) -> Vec<ParsedInput<'_>> {
    use crate::evidence::prometheus::{parse, Format, ParseOptions};
    use crate::report::{DroppedLineReport, InputReport};
    inputs
        .iter()
        .map(|input| {
            // Compressed, UTF-16 or binary input is said as such, not scanned.
            let sniffed = crate::evidence::not_text(&input.bytes);
            let empty: &[u8] = &[];
            let bytes = if sniffed.is_some() {
                empty
            } else {
                &input.bytes
            };
            let expo = parse(bytes, &ParseOptions::default());
            let error = sniffed
                .map(|why| format!("not a Prometheus exposition: {why}"))
                .or_else(|| crate::evidence::prometheus::not_an_exposition(&expo));
            let report = InputReport {
                source: input.source.clone(),
                format: match expo.format {
                    Format::OpenMetrics => "openmetrics",
                    Format::Text004 => "prometheus",
                }
                .to_owned(),
                lines: expo.lines,
                samples: expo.samples.len(),
                families: expo.families().len(),
                dropped_lines: expo.dropped.len(),
                dropped: expo
                    .dropped
                    .iter()
                    .take(20)
                    .map(|d| DroppedLineReport {
                        line: d.line,
                        reason: d.reason.to_string(),
                        excerpt: d.excerpt.clone(),
                    })
                    .collect(),
                error: error.clone(),
            };
            ParsedInput {
                input,
                report,
                expo: error.is_none().then_some(expo),
            }
        })
        .collect()
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

/// Parses inputs, evaluates every endpoint and assembles the check report. Inputs
/// that are not expositions at all are reported with an error and skipped.
pub fn check_inputs(
    registry: &Registry,
    inputs: &[crate::evidence::Input],
    options: &EvalOptions,
) -> crate::report::CheckReport {
    use crate::report::{CheckReport, Summary, ToolInfo, CHECK_SCHEMA_VERSION};
    let parsed = parse_inputs(inputs);
    let endpoints: Vec<EndpointReport> = parsed
        .iter()
        .filter_map(|p| {
            let expo = p.expo.as_ref()?;
            let endpoint = Endpoint {
                name: p.input.endpoint.clone(),
                source: p.input.source.clone(),
                expo,
            };
            Some(evaluate_endpoint(registry, &endpoint, options))
        })
        .collect();
    // The inputs together are one deployment: its findings compare endpoints.
    let indexes: Vec<SeriesIndex> = parsed
        .iter()
        .filter_map(|p| p.expo.as_ref())
        .map(SeriesIndex::new)
        .collect();
    let refs: Vec<&SeriesIndex> = indexes.iter().collect();
    let d = compat::evaluate_deployment(registry, &refs, options, &[Scope::Deployment]);
    let deployment = crate::report::DeploymentReport {
        detected_mode: d.analysis.detected_mode.clone(),
        architecture: d.analysis.architecture.clone(),
        engines: d.observed.engine_ids(),
        findings: d.findings,
    };
    CheckReport {
        schema_version: CHECK_SCHEMA_VERSION.to_owned(),
        tool: ToolInfo::current(),
        packs: pack_infos(registry),
        inputs: parsed.into_iter().map(|p| p.report).collect(),
        summary: Summary::from_reports(&endpoints, &deployment.findings),
        endpoints,
        deployment,
    }
}
