//! LMCache compatibility analysis: what is observed (indicators, connector
//! classes), which mode and architecture that proves, the status of every family
//! and surface, the series no family knows, and the facts and report section the
//! modes pack derives from all that.
//!
//! Everything it knows about LMCache and vLLM comes from `modes` and `families`
//! packs; this module only evaluates them over one or more scrapes of a deployment
//! plus evidence files, hands the packs' expressions the analysis as generic maps,
//! and says which evidence decided each conclusion.

use crate::expr::{Compiled, Var};
use crate::normalize::{SeriesIndex, Spelling};
use crate::pack::compat::{FamilyRule, IndicatorRule, SurfaceRule};
use crate::pack::model::{
    EvidenceKind, EvidenceMatch, ObservabilityDef, ReportFieldDef, ReportFieldType,
};
use crate::pack::Registry;
pub use crate::report::compat::*;
use std::collections::{BTreeMap, BTreeSet};

/// What the operator told us (the `context` packs' flags, by id) and the evidence
/// files given. A flag missing from `values` takes its declared default.
#[derive(Clone, Debug, Default)]
pub struct CompatContext {
    pub values: BTreeMap<String, serde_json::Value>,
    pub evidence: BTreeMap<EvidenceKind, serde_json::Value>,
}

impl CompatContext {
    /// The context a rule test case asks for; evidence documents are read by the
    /// caller (they are fixture paths).
    pub fn from_case(
        registry: &Registry,
        case: &crate::pack::model::CaseContext,
        evidence: BTreeMap<EvidenceKind, serde_json::Value>,
    ) -> Self {
        CompatContext {
            values: registry.context.resolve(&case.values),
            evidence,
        }
    }

    /// `mode`, then every declared flag (given or default) and derived variable.
    fn vars(&self, registry: &Registry, mode: &str) -> Vec<(String, Var)> {
        let values = registry.context.resolve(&self.values);
        let mut out = vec![("mode".to_owned(), mode.into())];
        out.extend(registry.context.vars(&registry.expr, &values));
        out
    }
}

/// The analysis and the variables it gives findings.
pub struct Compat {
    pub analysis: CompatAnalysis,
    pub vars: Vec<(String, Var)>,
}

/// Runs the modes and families packs over the scrapes of one deployment:
/// indicators → connector classes → mode, candidates and architecture → surfaces
/// and families → the facts and report sections the modes pack declares.
pub fn analyze(
    registry: &Registry,
    indexes: &[&SeriesIndex],
    engine_ids: &[String],
    ctx: &CompatContext,
) -> Compat {
    let rules = &registry.modes;
    // Label values of every key anything reads, in one pass per scrape.
    let keys = rules.label_keys();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    // What the modes pack names beyond families (none: nothing more is read).
    let default_obs = ObservabilityDef::default();
    let obs = rules
        .observability
        .as_ref()
        .map_or(&default_obs, |(o, _)| o);
    // Every scrape is read once, the scrapes in parallel; the merge keeps scrape order.
    let scans = super::par_map(indexes, |idx| scan(registry, idx, &keys, obs));
    let labels = merge_labels(&scans);
    let indicators: Vec<IndicatorOutcome> = rules
        .indicators
        .iter()
        .enumerate()
        .map(|(n, ind)| observe(ind, n, &scans, &labels, &ctx.evidence))
        .collect();
    let connectors = classify_connectors(registry, &labels, ctx);
    let mode_vars = mode_variables(registry, &indicators, &connectors, engine_ids);
    let decided = decide_mode(registry, &mode_vars);
    let mut context = mode_vars;
    context.extend(ctx.vars(registry, &decided.mode));
    let (mut surfaces, mapped) = surface_reports(registry, &scans, &context);
    let missing_required: Vec<String> = surfaces
        .iter()
        .flat_map(|s| {
            s.families
                .iter()
                .filter(|r| r.required && r.status == FamilyStatus::Missing)
                .map(move |r| format!("{}.{}", s.id, r.id))
        })
        .collect();
    let unmapped = unmapped_series(registry, &scans, &mapped);
    let evidence_surfaces = evidence_surfaces(&ctx.evidence);
    let mut vars = context;
    vars.extend(analysis_facts(
        &missing_required,
        &unmapped,
        &surfaces,
        &evidence_surfaces,
        &ctx.evidence,
    ));
    vars.extend(analysis_maps(&surfaces, &labels, &keys, &scans));
    vars.push((
        "instance_family".to_owned(),
        obs.service_instance_family.as_str().into(),
    ));
    derive_facts(registry, &mut vars);
    let no_traffic_yet = mark_no_traffic(obs, &vars, &mut surfaces);
    let sections = report_sections(registry, obs, &vars);
    // The expectation the operator gave (a declared flag), as the report states it.
    let expected_mode = match vars.iter().find(|(k, _)| k == "expect_mode") {
        Some((_, Var::Str(m))) => m.clone(),
        _ => "auto".to_owned(),
    };
    Compat {
        analysis: CompatAnalysis {
            detected_mode: decided.mode,
            mode_evidence: decided.evidence,
            expected_mode,
            candidates: decided.candidates,
            architecture: decided.architecture,
            indicators,
            connectors,
            surfaces,
            missing_required,
            no_traffic_yet,
            sections,
            unmapped_series: unmapped,
            evidence_surfaces,
        },
        vars,
    }
}

/// Connector names from label values and launch evidence, classified first-match.
fn classify_connectors(
    registry: &Registry,
    labels: &BTreeMap<String, Vec<String>>,
    ctx: &CompatContext,
) -> Vec<ConnectorOutcome> {
    let rules = &registry.modes;
    let mut connectors: Vec<ConnectorOutcome> = Vec::new();
    let mut add = |name: &str, source: String| {
        if connectors.iter().any(|c| c.name == name) {
            return;
        }
        let class = rules
            .connectors
            .iter()
            .find(|c| c.pattern.matches(name))
            .map(|c| c.class.clone());
        connectors.push(ConnectorOutcome {
            name: name.to_owned(),
            class,
            source,
        });
    };
    for key in &rules.connector_keys {
        for value in labels.get(key.as_str()).into_iter().flatten() {
            add(value, format!("label {key}"));
        }
    }
    if let Some(list) = ctx
        .evidence
        .get(&EvidenceKind::Launch)
        .and_then(|l| l.pointer("/connectors"))
        .and_then(|c| c.as_array())
    {
        for name in list.iter().filter_map(|v| v.as_str()) {
            add(name, "launch evidence".to_owned());
        }
    }
    connectors
}

/// Mode variables: indicators, connector classes, engines.
fn mode_variables(
    registry: &Registry,
    indicators: &[IndicatorOutcome],
    connectors: &[ConnectorOutcome],
    engine_ids: &[String],
) -> Vec<(String, Var)> {
    let mut vars: Vec<(String, Var)> = indicators
        .iter()
        .map(|i| (i.id.clone(), i.observed.into()))
        .collect();
    for class in registry.modes.connector_classes() {
        let seen = connectors
            .iter()
            .any(|c| c.class.as_deref() == Some(class.as_str()));
        vars.push((format!("connector_{class}"), seen.into()));
    }
    for e in &registry.engines {
        vars.push((
            format!("engine_{}", e.def.id),
            engine_ids.contains(&e.def.id).into(),
        ));
    }
    vars
}

/// Whether a condition holds; only the variables it reads go into its scope.
fn holds(registry: &Registry, c: &Compiled, vars: &[(String, Var)]) -> bool {
    registry
        .expr
        .eval_bool(c, &scope_of(c, vars))
        .unwrap_or(false)
}

/// The variables of `vars` that `c` reads.
fn scope_of<'v>(c: &Compiled, vars: &'v [(String, Var)]) -> Vec<(&'v str, Var)> {
    vars.iter()
        .filter(|(k, _)| c.variables.iter().any(|v| v == k))
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect()
}

/// The mode, candidates and architecture the mode variables prove.
struct ModeDecision {
    mode: String,
    evidence: Vec<String>,
    candidates: Vec<CandidateOutcome>,
    architecture: ArchitectureOutcome,
}

fn decide_mode(registry: &Registry, mode_vars: &[(String, Var)]) -> ModeDecision {
    let rules = &registry.modes;
    let observed_in = |c: &Compiled| -> Vec<String> {
        c.variables
            .iter()
            .filter(|v| {
                mode_vars
                    .iter()
                    .any(|(k, val)| k == *v && *val == Var::Bool(true))
            })
            .cloned()
            .collect()
    };
    let (mode, evidence) = rules
        .modes
        .iter()
        .find(|(_, c)| holds(registry, c, mode_vars))
        .map_or(("unknown".to_owned(), Vec::new()), |(m, c)| {
            (m.clone(), observed_in(c))
        });
    let candidates = rules
        .candidates
        .iter()
        .filter(|(_, c)| holds(registry, c, mode_vars))
        .map(|(rule, c)| CandidateOutcome {
            candidate: rule.candidate.clone(),
            evidence: observed_in(c),
            note: rule.note.clone(),
        })
        .collect();
    let architecture = rules
        .architectures
        .iter()
        .find(|(_, w, _)| holds(registry, w, mode_vars))
        .map_or(
            ArchitectureOutcome {
                label: "unknown".to_owned(),
                claim_status: "not_proven".to_owned(),
                evidence: Vec::new(),
            },
            |(rule, w, m)| ArchitectureOutcome {
                label: rule.label.clone(),
                claim_status: if holds(registry, m, mode_vars) {
                    "measured"
                } else {
                    "inferred"
                }
                .to_owned(),
                evidence: observed_in(w),
            },
        );
    ModeDecision {
        mode,
        evidence,
        candidates,
        architecture,
    }
}

/// Every surface with its families' statuses, and every name a family knows (for
/// the unmapped list).
fn surface_reports(
    registry: &Registry,
    scans: &[Scan],
    context: &[(String, Var)],
) -> (Vec<SurfaceReport>, BTreeSet<String>) {
    let mut surfaces = Vec::new();
    let mut mapped: BTreeSet<String> = BTreeSet::new();
    let mut family_slot = 0;
    for surface in &registry.surfaces {
        let matches: Vec<FamilyMatch> = (0..surface.families.len())
            .map(|f| match_family(scans, family_slot, f))
            .collect();
        family_slot += surface.families.len();
        for m in &matches {
            mapped.extend(m.all.iter().cloned());
        }
        surfaces.push(surface_report(registry, surface, matches, context));
    }
    (surfaces, mapped)
}

fn surface_report(
    registry: &Registry,
    surface: &SurfaceRule,
    matches: Vec<FamilyMatch>,
    context: &[(String, Var)],
) -> SurfaceReport {
    // Only families that were renamed (have a legacy spelling) tell generations
    // apart; one whose name never changed matches in both.
    let voting = || {
        surface
            .families
            .iter()
            .zip(&matches)
            .filter(|(f, _)| !f.legacy.is_empty())
    };
    let generation = if voting().any(|(_, m)| m.spelling == Some(Spelling::Current)) {
        "current"
    } else if voting().any(|(_, m)| m.spelling == Some(Spelling::Legacy)) {
        "legacy"
    } else {
        "none"
    };
    let mut vars = context.to_vec();
    vars.push(("generation".to_owned(), generation.into()));
    let applicable = holds(registry, &surface.applies, &vars);
    let mut families: Vec<FamilyReport> = surface
        .families
        .iter()
        .zip(matches)
        .map(|(f, m)| family_report(registry, f, m, applicable, &vars))
        .collect();
    if !applicable {
        for r in &mut families {
            r.reason = Some("surface not applicable to the detected mode and flags".to_owned());
        }
    }
    SurfaceReport {
        id: surface.id.clone(),
        title: surface.title.clone(),
        status: surface_status(applicable, &families),
        applicable,
        generation: generation.to_owned(),
        families,
        pack_file: surface.file.clone(),
    }
}

fn family_report(
    registry: &Registry,
    f: &FamilyRule,
    m: FamilyMatch,
    applicable: bool,
    vars: &[(String, Var)],
) -> FamilyReport {
    let family_applies = applicable && holds(registry, &f.applies, vars);
    let required = family_applies && holds(registry, &f.required, vars);
    let status = if !family_applies {
        FamilyStatus::NotApplicable
    } else if m.names.is_empty() {
        FamilyStatus::Missing
    } else if m.populated > 0 {
        FamilyStatus::Populated
    } else {
        FamilyStatus::Zero
    };
    FamilyReport {
        id: f.def.id.clone(),
        description: f.def.description.clone(),
        status,
        required,
        sampled: f.def.sampled,
        traffic_dependent: f.def.traffic_dependent,
        boot: f.def.boot,
        spelling: m.spelling,
        series: m.names.len(),
        populated_series: m.populated,
        names: m.names.iter().take(8).cloned().collect(),
        reason: None,
        since: f.def.since.clone(),
    }
}

/// Series under an unmapped prefix that no family knows, with the file to edit.
fn unmapped_series(
    registry: &Registry,
    scans: &[Scan],
    mapped: &BTreeSet<String>,
) -> Vec<UnmappedSeries> {
    let mut unmapped: Vec<UnmappedSeries> = Vec::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for name in scans.iter().flat_map(|s| &s.unmapped) {
        if mapped.contains(name) || !seen.insert(name) {
            continue;
        }
        unmapped.push(UnmappedSeries {
            name: name.clone(),
            suggested_pack_file: suggest_file(registry, name),
        });
    }
    unmapped
}

/// The facts of the analysis findings read directly.
fn analysis_facts(
    missing_required: &[String],
    unmapped: &[UnmappedSeries],
    surfaces: &[SurfaceReport],
    evidence_surfaces: &[EvidenceSurface],
    evidence: &BTreeMap<EvidenceKind, serde_json::Value>,
) -> Vec<(String, Var)> {
    let family_map: Vec<(String, String)> = surfaces
        .iter()
        .flat_map(|s| {
            s.families
                .iter()
                .map(move |f| (format!("{}.{}", s.id, f.id), f.status.as_str().to_owned()))
        })
        .collect();
    let evidence_map = evidence_surfaces
        .iter()
        .map(|e| (e.kind.clone(), e.status.as_str().to_owned()))
        .collect();
    let unhealthy = unhealthy_http_endpoints(evidence);
    let count = |n: usize| Var::Num(n as f64);
    vec![
        (
            "missing_required_count".to_owned(),
            count(missing_required.len()),
        ),
        (
            "missing_required_families".to_owned(),
            missing_required.join(", ").into(),
        ),
        ("unmapped_series".to_owned(), count(unmapped.len())),
        ("family".to_owned(), Var::Map(family_map)),
        ("evidence".to_owned(), Var::Map(evidence_map)),
        ("http_unhealthy_count".to_owned(), count(unhealthy.len())),
        (
            "http_unhealthy_endpoints".to_owned(),
            unhealthy.join(", ").into(),
        ),
    ]
}

/// The analysis as maps for derived facts and report fields: per family and per
/// surface counts, flags and names; distinct label values; service-instance ids.
fn analysis_maps(
    surfaces: &[SurfaceReport],
    labels: &BTreeMap<String, Vec<String>>,
    keys: &[&str],
    scans: &[Scan],
) -> Vec<(String, Var)> {
    let mut out = family_maps(surfaces);
    out.extend(surface_maps(surfaces));
    let values = |k: &str| labels.get(k).cloned().unwrap_or_default();
    let label_values = keys
        .iter()
        .map(|k| ((*k).to_owned(), values(k).len() as f64))
        .collect();
    let label_lists = keys
        .iter()
        .map(|k| ((*k).to_owned(), Var::from(values(k))))
        .collect();
    let ids: BTreeSet<&String> = scans.iter().flat_map(|s| &s.instance_ids).collect();
    out.extend([
        ("label_values".to_owned(), Var::Nums(label_values)),
        ("label_value_lists".to_owned(), Var::Table(label_lists)),
        (
            "instance_ids".to_owned(),
            Var::from(ids.into_iter().cloned().collect::<Vec<_>>()),
        ),
    ]);
    out
}

/// Per `surface.family`: series, populated series, listed names, boot and
/// required flags.
fn family_maps(surfaces: &[SurfaceReport]) -> Vec<(String, Var)> {
    let families = || {
        surfaces.iter().flat_map(|s| {
            s.families
                .iter()
                .map(move |f| (format!("{}.{}", s.id, f.id), f))
        })
    };
    let nums =
        |get: fn(&FamilyReport) -> f64| Var::Nums(families().map(|(k, f)| (k, get(f))).collect());
    let table =
        |get: fn(&FamilyReport) -> Var| Var::Table(families().map(|(k, f)| (k, get(f))).collect());
    vec![
        ("family_series".to_owned(), nums(|f| f.series as f64)),
        (
            "family_populated".to_owned(),
            nums(|f| f.populated_series as f64),
        ),
        (
            "family_names".to_owned(),
            table(|f| Var::from(f.names.clone())),
        ),
        ("family_boot".to_owned(), table(|f| Var::Bool(f.boot))),
        (
            "family_required".to_owned(),
            table(|f| Var::Bool(f.required)),
        ),
    ]
}

/// Per surface: series, moving counters (families neither sampled nor boot-time
/// with populated series), sampled families with data and their names, whether
/// it applies.
fn surface_maps(surfaces: &[SurfaceReport]) -> Vec<(String, Var)> {
    let sampled_with_data = |f: &&FamilyReport| f.sampled && f.populated_series > 0;
    let count = |s: &SurfaceReport, p: &dyn Fn(&&FamilyReport) -> bool| {
        s.families.iter().filter(|f| p(f)).count() as f64
    };
    let nums = |get: &dyn Fn(&SurfaceReport) -> f64| {
        Var::Nums(surfaces.iter().map(|s| (s.id.clone(), get(s))).collect())
    };
    let sampled_names = surfaces
        .iter()
        .map(|s| {
            let names: Vec<String> = s
                .families
                .iter()
                .filter(sampled_with_data)
                .flat_map(|f| f.names.clone())
                .collect();
            (s.id.clone(), Var::from(names))
        })
        .collect();
    let applicable = surfaces
        .iter()
        .map(|s| (s.id.clone(), Var::Bool(s.applicable)))
        .collect();
    vec![
        (
            "surface_series".to_owned(),
            nums(&|s| s.families.iter().map(|f| f.series as f64).sum()),
        ),
        (
            "surface_moving_counters".to_owned(),
            nums(&|s| count(s, &|f| !f.sampled && !f.boot && f.populated_series > 0)),
        ),
        (
            "surface_sampled_with_data".to_owned(),
            nums(&|s| count(s, &sampled_with_data)),
        ),
        (
            "surface_sampled_names".to_owned(),
            Var::Table(sampled_names),
        ),
        ("surface_applicable".to_owned(), Var::Table(applicable)),
    ]
}

/// Evaluates the packs' derived facts in order, each seeing the ones before it; a
/// fact whose expression fails (a map key the scrape lacks) is left out.
fn derive_facts(registry: &Registry, vars: &mut Vec<(String, Var)>) {
    for (id, c) in &registry.modes.derived {
        let Ok(value) = registry.expr.eval(c, &scope_of(c, vars)) else {
            continue;
        };
        if let Some(var) = Var::from_dynamic(&value) {
            vars.push((id.clone(), var));
        }
    }
}

/// Gives the missing families that are not boot-time, of each surface the
/// pack's no-traffic fact lists, the pack's reason; true when it lists any.
fn mark_no_traffic(
    obs: &ObservabilityDef,
    vars: &[(String, Var)],
    surfaces: &mut [SurfaceReport],
) -> bool {
    let Some(nt) = &obs.no_traffic else {
        return false;
    };
    let Some((_, Var::List(listed))) = vars.iter().find(|(k, _)| *k == nt.surfaces) else {
        return false;
    };
    for s in surfaces.iter_mut() {
        if !listed.contains(&Var::Str(s.id.clone())) {
            continue;
        }
        for r in s
            .families
            .iter_mut()
            .filter(|r| r.status == FamilyStatus::Missing && !r.boot)
        {
            r.reason = Some(nt.reason.clone());
        }
    }
    !listed.is_empty()
}

/// The report section the modes pack declares: each field's value written as its
/// type; a field whose value fails or has another type is left out.
fn report_sections(
    registry: &Registry,
    obs: &ObservabilityDef,
    vars: &[(String, Var)],
) -> BTreeMap<String, ReportSection> {
    let mut section = ReportSection::new();
    for (field, c) in &registry.modes.fields {
        let value = registry.expr.eval(c, &scope_of(c, vars)).ok();
        let value = value.as_ref().and_then(Var::from_dynamic);
        if field.optional && matches!(value, Some(Var::Unset)) {
            continue;
        }
        if let Some(json) = value.and_then(|v| field_json(field, v)) {
            section.insert(field.key.clone(), json);
        }
    }
    if obs.section.is_empty() || registry.modes.fields.is_empty() {
        return BTreeMap::new();
    }
    BTreeMap::from([(obs.section.clone(), section)])
}

/// A value as the JSON its field's type says, or none when it is not of that type.
fn field_json(field: &ReportFieldDef, value: Var) -> Option<serde_json::Value> {
    use serde_json::Value;
    match (field.ty, value) {
        (ReportFieldType::Integer, Var::Num(x)) if x.is_finite() && x.fract() == 0.0 => {
            Some(Value::from(x as i64))
        }
        (ReportFieldType::Number, Var::Num(x)) => {
            serde_json::Number::from_f64(x).map(Value::Number)
        }
        (ReportFieldType::Bool, Var::Bool(b)) => Some(Value::Bool(b)),
        (ReportFieldType::String, Var::Str(s)) => Some(Value::String(s)),
        (ReportFieldType::StringList, Var::List(items)) => {
            let limit = field.limit.unwrap_or(usize::MAX);
            let strings = items.into_iter().take(limit).map(|v| match v {
                Var::Str(s) => Some(Value::String(s)),
                _ => None,
            });
            strings.collect::<Option<Vec<_>>>().map(Value::Array)
        }
        _ => None,
    }
}

/// Surface status from the applicable required families, a `zero` family counting
/// as present: all present with some data → `complete`; some present, others
/// missing → `partial`; all present and all zero → `zero`; none present →
/// `missing`. With no required family, the present ones decide (some data →
/// `complete`, only zeros → `zero`, none → `missing`), so absent optional families
/// never make a surface look broken.
fn surface_status(applicable: bool, families: &[FamilyReport]) -> SurfaceStatus {
    if !applicable
        || families
            .iter()
            .all(|f| f.status == FamilyStatus::NotApplicable)
    {
        return SurfaceStatus::NotApplicable;
    }
    let required: Vec<FamilyStatus> = families
        .iter()
        .filter(|f| f.required)
        .map(|f| f.status)
        .collect();
    let pool: Vec<FamilyStatus> = if required.is_empty() {
        families
            .iter()
            .map(|f| f.status)
            .filter(|s| matches!(s, FamilyStatus::Populated | FamilyStatus::Zero))
            .collect()
    } else {
        required
    };
    let populated = pool
        .iter()
        .filter(|s| **s == FamilyStatus::Populated)
        .count();
    let zero = pool.iter().filter(|s| **s == FamilyStatus::Zero).count();
    let present = populated + zero;
    if present == 0 {
        SurfaceStatus::Missing
    } else if present < pool.len() {
        SurfaceStatus::Partial
    } else if populated > 0 {
        SurfaceStatus::Complete
    } else {
        SurfaceStatus::Zero
    }
}

struct FamilyMatch {
    /// Names the status is read from: the current spelling when any matched,
    /// otherwise the legacy one.
    names: Vec<String>,
    populated: usize,
    spelling: Option<Spelling>,
    /// Every name the family knows in this scrape, both spellings (for unmapped).
    all: Vec<String>,
}

/// What one scrape holds for the compatibility analysis, read in one pass.
struct Scan {
    /// Distinct values of the label keys anything reads.
    labels: BTreeMap<String, BTreeSet<String>>,
    /// Per indicator, the first five distinct series names it matches.
    indicators: Vec<Vec<String>>,
    /// Per family of every surface in order: (current, legacy) matches.
    families: Vec<[NameSets; 2]>,
    /// Values of the service-instance labels on the service-instance family.
    instance_ids: BTreeSet<String>,
    /// Family names under an unmapped prefix, in name order.
    unmapped: Vec<String>,
}

/// Family names a pattern list matches, and those with a non-zero sample.
#[derive(Default)]
struct NameSets {
    names: BTreeSet<String>,
    populated: BTreeSet<String>,
}

fn scan(registry: &Registry, idx: &SeriesIndex, keys: &[&str], obs: &ObservabilityDef) -> Scan {
    let indicators = registry
        .modes
        .indicators
        .iter()
        .map(|ind| indicator_series(ind, idx))
        .collect();
    let families = registry
        .surfaces
        .iter()
        .flat_map(|s| &s.families)
        .map(|f| [name_sets(&f.current, idx), name_sets(&f.legacy, idx)])
        .collect();
    let mut instance_ids = BTreeSet::new();
    for key in &obs.service_instance_labels {
        let values = idx.label_values(&obs.service_instance_family, key);
        instance_ids.extend(values.into_iter().map(str::to_owned));
    }
    let unmapped = idx
        .names()
        .iter()
        .filter(|name| {
            let prefixed = obs
                .unmapped_prefixes
                .iter()
                .any(|p| name.starts_with(p.as_str()));
            // Families are listed, not their sample names (`_bucket`, `_total`).
            prefixed
                && !crate::evidence::prometheus::is_created(name)
                && idx.expo.family_of(name).0 == **name
        })
        .cloned()
        .collect();
    Scan {
        labels: scrape_label_values(idx, keys),
        indicators,
        families,
        instance_ids,
        unmapped,
    }
}

fn name_sets(list: &[crate::normalize::pattern::Pattern], idx: &SeriesIndex) -> NameSets {
    let mut out = NameSets::default();
    for pattern in list {
        for fam in idx.matching_families(pattern) {
            if crate::evidence::prometheus::is_created(fam) {
                continue;
            }
            let Some(entry) = idx.family(fam) else {
                continue;
            };
            out.names.insert(fam.to_owned());
            let nonzero = entry.samples.iter().any(|&i| {
                let s = &idx.expo.samples[i as usize];
                s.value != 0.0
                    && !s.value.is_nan()
                    && !crate::evidence::prometheus::is_created(idx.expo.name(s))
            });
            if nonzero {
                out.populated.insert(fam.to_owned());
            }
        }
    }
    out
}

/// The family at `slot + f` over every scrape: the current spelling when any
/// scrape has it, otherwise the legacy one.
fn match_family(scans: &[Scan], slot: usize, f: usize) -> FamilyMatch {
    let merged = |which: usize| {
        let mut out = NameSets::default();
        for sets in scans.iter().map(|s| &s.families[slot + f][which]) {
            out.names.extend(sets.names.iter().cloned());
            out.populated.extend(sets.populated.iter().cloned());
        }
        out
    };
    let (current, legacy) = (merged(0), merged(1));
    let all: Vec<String> = current.names.union(&legacy.names).cloned().collect();
    let (chosen, spelling) = if !current.names.is_empty() {
        (current, Some(Spelling::Current))
    } else if !legacy.names.is_empty() {
        (legacy, Some(Spelling::Legacy))
    } else {
        (NameSets::default(), None)
    };
    FamilyMatch {
        populated: chosen.populated.len(),
        names: chosen.names.into_iter().collect(),
        spelling,
        all,
    }
}

/// Distinct values per label key over every sample of one scrape. Keys are
/// compared by their interned id, not by text, on each sample.
fn scrape_label_values(idx: &SeriesIndex, keys: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let ids: Vec<(u32, &str)> = keys
        .iter()
        .filter_map(|k| idx.expo.key_id(k).map(|id| (id, *k)))
        .collect();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    if ids.is_empty() {
        return out;
    }
    for i in idx.sample_ids() {
        for (id, v) in idx.expo.label_ids(&idx.expo.samples[i as usize]) {
            if let Some((_, k)) = ids.iter().find(|(k, _)| *k == id) {
                let set = out.entry((*k).to_owned()).or_default();
                if !set.contains(v) {
                    set.insert(v.to_owned());
                }
            }
        }
    }
    out
}

fn merge_labels(scans: &[Scan]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (k, values) in scans.iter().flat_map(|s| &s.labels) {
        out.entry(k.clone())
            .or_default()
            .extend(values.iter().cloned());
    }
    out.into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect()
}

/// The first five distinct series names an indicator matches in one scrape.
fn indicator_series(ind: &IndicatorRule, idx: &SeriesIndex) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for pattern in &ind.series {
        for name in idx.matching(pattern) {
            if found.len() == 5 {
                return found;
            }
            if !ind.exclude.iter().any(|x| x.matches(name)) && !found.iter().any(|f| f == name) {
                found.push(name.to_owned());
            }
        }
    }
    found
}

fn observe(
    ind: &IndicatorRule,
    n: usize,
    scans: &[Scan],
    labels: &BTreeMap<String, Vec<String>>,
    evidence: &BTreeMap<EvidenceKind, serde_json::Value>,
) -> IndicatorOutcome {
    let mut found: Vec<String> = Vec::new();
    for name in scans.iter().flat_map(|s| &s.indicators[n]) {
        if found.len() < 5 && !found.contains(name) {
            found.push(name.clone());
        }
    }
    if let Some(l) = &ind.def.labels {
        for key in &l.keys {
            for value in labels.get(key).into_iter().flatten() {
                if ind.label_values.is_empty() || ind.label_values.iter().any(|p| p.matches(value))
                {
                    found.push(format!("{key}={value}"));
                }
            }
        }
    }
    for m in &ind.def.evidence {
        if let Some(doc) = evidence.get(&m.file) {
            if evidence_holds(doc, m) {
                found.push(format!("evidence:{}{}", evidence_name(m.file), m.pointer));
            }
        }
    }
    IndicatorOutcome {
        id: ind.def.id.clone(),
        description: ind.def.description.clone(),
        observed: !found.is_empty(),
        evidence: found,
    }
}

pub fn evidence_name(kind: EvidenceKind) -> &'static str {
    match kind {
        EvidenceKind::Http => "http",
        EvidenceKind::Logs => "logs",
        EvidenceKind::Trace => "trace",
        EvidenceKind::Otel => "otel",
        EvidenceKind::TraceReplay => "trace_replay",
        EvidenceKind::LookupHash => "lookup_hash",
        EvidenceKind::Launch => "launch",
    }
}

fn evidence_holds(doc: &serde_json::Value, m: &EvidenceMatch) -> bool {
    use serde_json::Value;
    let Some(v) = doc.pointer(&m.pointer) else {
        return false;
    };
    if let Some(want) = &m.equals {
        // A number or flag compares by its JSON text (`equals: "3"`).
        let text = v.to_string();
        return v.as_str() == Some(want.as_str()) || text == *want;
    }
    if let Some(want) = &m.contains {
        return match v {
            Value::Array(items) => items.iter().any(|i| i.as_str() == Some(want.as_str())),
            Value::String(s) => s.contains(want.as_str()),
            _ => false,
        };
    }
    if m.positive {
        return v.as_f64().is_some_and(|x| x > 0.0);
    }
    match v {
        Value::Null | Value::Bool(false) => false,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Bool(true) => true,
    }
}

/// The file of the surface whose family patterns share the longest literal prefix
/// with `name`.
fn suggest_file(registry: &Registry, name: &str) -> String {
    let mut best: (usize, &str) = (0, "");
    for s in &registry.surfaces {
        for f in &s.families {
            for p in f.current.iter().chain(&f.legacy) {
                let literal = p.as_str().split(['*', '?']).next().unwrap_or("");
                let literal = literal.strip_prefix("re:^").unwrap_or(literal);
                let common = literal
                    .bytes()
                    .zip(name.bytes())
                    .take_while(|(a, b)| a == b)
                    .count();
                if common > best.0 {
                    best = (common, &s.file);
                }
            }
        }
    }
    best.1.to_owned()
}

use crate::pack::pointers::EVIDENCE_KINDS;

/// Keys under which evidence documents count what they hold.
const EVIDENCE_COUNTS: &[&str] = &[
    "record_count",
    "row_count",
    "total_records",
    "span_count",
    "line_count",
    "file_count",
];

fn evidence_surfaces(evidence: &BTreeMap<EvidenceKind, serde_json::Value>) -> Vec<EvidenceSurface> {
    EVIDENCE_KINDS
        .iter()
        .map(|kind| {
            let status = match evidence.get(kind) {
                None => FamilyStatus::Missing,
                Some(doc) => {
                    // A document that states its claim is believed; counts decide only
                    // for documents written without one.
                    let counted = EVIDENCE_COUNTS.iter().any(|k| {
                        doc.get(*k)
                            .and_then(|v| v.as_f64())
                            .is_some_and(|x| x > 0.0)
                    });
                    let healthy = doc
                        .get("endpoints")
                        .and_then(|e| e.as_object())
                        .is_some_and(|eps| {
                            eps.values().any(|ep| {
                                ep.get("status").and_then(|s| s.as_str()) == Some("healthy")
                            })
                        });
                    let populated = match doc.get("claim_status").and_then(|c| c.as_str()) {
                        Some(claim) => claim == "measured",
                        None => counted || healthy,
                    };
                    if populated {
                        FamilyStatus::Populated
                    } else {
                        FamilyStatus::Zero
                    }
                }
            };
            EvidenceSurface {
                kind: evidence_name(*kind).to_owned(),
                status,
            }
        })
        .collect()
}

/// HTTP evidence endpoints whose status is `unhealthy`.
fn unhealthy_http_endpoints(evidence: &BTreeMap<EvidenceKind, serde_json::Value>) -> Vec<String> {
    evidence
        .get(&EvidenceKind::Http)
        .and_then(|d| d.get("endpoints"))
        .and_then(|e| e.as_object())
        .map(|eps| {
            eps.iter()
                .filter(|(_, ep)| ep.get("status").and_then(|s| s.as_str()) == Some("unhealthy"))
                .map(|(name, _)| name.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// The `lmcache-compat` report: the deployment as a whole (engine and LMCache
/// endpoints together) with the operator context and evidence files.
pub fn compat_report(
    registry: &Registry,
    evaluation: super::pipeline::Evaluation,
    evidence_files: Vec<crate::report::EvidenceFileReport>,
) -> crate::report::CompatReport {
    use crate::report::{
        CompatReport, CompatSummary, FailureReason, Status, ToolInfo, COMPAT_SCHEMA_VERSION,
    };
    let super::pipeline::DeploymentOutcome {
        observed,
        analysis,
        findings,
    } = evaluation.deployment;
    let failure_reasons: Vec<FailureReason> = findings
        .iter()
        .filter(|f| f.status == Status::Fired && !f.fail_on.is_empty())
        .map(|f| FailureReason {
            code: f.code.clone(),
            message: f.message.clone().unwrap_or_default(),
            fail_on: f.fail_on.clone(),
        })
        .collect();
    let upstream_questions: Vec<crate::report::UpstreamQuestion> = findings
        .iter()
        .filter(|f| f.status == Status::Fired)
        .filter_map(|f| {
            let rule = registry.finding(&f.code)?;
            Some(crate::report::UpstreamQuestion {
                code: f.code.clone(),
                question: rule.def.upstream_question.clone()?.trim().to_owned(),
            })
        })
        .collect();
    let summary_of = |prefix: &str| -> BTreeMap<String, f64> {
        if prefix.is_empty() {
            return BTreeMap::new();
        }
        observed
            .signals
            .values()
            .flat_map(|sigs| sigs.iter())
            .filter(|(name, _)| name.starts_with(prefix))
            .filter_map(|(name, v)| v.value.map(|x| (name.clone(), x)))
            .collect()
    };
    let mut surfaces: BTreeMap<String, usize> = BTreeMap::new();
    for s in &analysis.surfaces {
        *surfaces.entry(s.status.as_str().to_owned()).or_default() += 1;
    }
    let summary = CompatSummary {
        detected_mode: analysis.detected_mode.clone(),
        expected_mode: analysis.expected_mode.clone(),
        architecture: analysis.architecture.label.clone(),
        surfaces,
        failure_reasons: failure_reasons.len(),
        findings_fired: findings
            .iter()
            .filter(|f| f.status == Status::Fired)
            .count(),
        unmapped_series: analysis.unmapped_series.len(),
    };
    CompatReport {
        schema_version: COMPAT_SCHEMA_VERSION.to_owned(),
        tool: ToolInfo::current(),
        packs: super::pack_infos(registry),
        inputs: evaluation.inputs,
        evidence_files,
        engines: observed.engines.clone(),
        l2_summary: registry
            .modes
            .observability
            .as_ref()
            .map(|(o, _)| summary_of(&o.l2_signal_prefix))
            .unwrap_or_default(),
        cacheblend_summary: registry
            .modes
            .observability
            .as_ref()
            .map(|(o, _)| summary_of(&o.cacheblend_signal_prefix))
            .unwrap_or_default(),
        analysis,
        failure_reasons,
        findings,
        upstream_questions,
        summary,
    }
}
