//! LMCache compatibility analysis: what is observed (indicators, connector
//! classes), which mode and architecture that proves, the status of every family
//! and surface, the MP observability section and the series no family knows.
//!
//! Everything it knows about LMCache and vLLM comes from `modes` and `families`
//! packs; this module only evaluates them over one or more scrapes of a deployment
//! plus evidence files, and says which evidence decided each conclusion.

use crate::expr::{Compiled, Var};
use crate::normalize::{SeriesIndex, Spelling};
use crate::pack::compat::IndicatorRule;
use crate::pack::model::{EvidenceKind, EvidenceMatch};
use crate::pack::Registry;
pub use crate::report::compat::*;
use std::collections::{BTreeMap, BTreeSet};

/// What the operator told us (flags) and the evidence files given.
#[derive(Clone, Debug)]
pub struct CompatContext {
    pub expect_mode: String,
    pub l2_configured: bool,
    pub observability_disabled: bool,
    pub metrics_disabled: bool,
    pub logging_disabled: bool,
    pub tracing_enabled: bool,
    pub trace_recording_enabled: bool,
    pub sample_rate: f64,
    pub event_bus_queue_size: f64,
    pub prometheus_port: Option<u16>,
    pub service_instance_id: Option<String>,
    pub evidence: BTreeMap<EvidenceKind, serde_json::Value>,
}

impl Default for CompatContext {
    fn default() -> Self {
        CompatContext {
            expect_mode: "auto".to_owned(),
            l2_configured: false,
            observability_disabled: false,
            metrics_disabled: false,
            logging_disabled: false,
            tracing_enabled: false,
            trace_recording_enabled: false,
            sample_rate: 0.01,
            event_bus_queue_size: 10_000.0,
            prometheus_port: None,
            service_instance_id: None,
            evidence: BTreeMap::new(),
        }
    }
}

impl CompatContext {
    /// The context a rule test case asks for; evidence documents are read by the
    /// caller (they are fixture paths).
    pub fn from_case(
        case: &crate::pack::model::CaseContext,
        evidence: BTreeMap<EvidenceKind, serde_json::Value>,
    ) -> Self {
        let d = CompatContext::default();
        CompatContext {
            expect_mode: case.expect_mode.clone().unwrap_or(d.expect_mode),
            l2_configured: case.l2_configured,
            observability_disabled: case.mp_observability_disabled,
            metrics_disabled: case.mp_metrics_disabled,
            logging_disabled: case.mp_logging_disabled,
            tracing_enabled: case.mp_tracing_enabled,
            trace_recording_enabled: case.mp_trace_recording_enabled,
            sample_rate: case.mp_metrics_sample_rate.unwrap_or(d.sample_rate),
            event_bus_queue_size: case
                .mp_event_bus_queue_size
                .unwrap_or(d.event_bus_queue_size),
            prometheus_port: None,
            service_instance_id: None,
            evidence,
        }
    }

    fn metrics_enabled(&self) -> bool {
        !self.metrics_disabled && !self.observability_disabled
    }

    fn vars(&self, mode: &str) -> Vec<(String, Var)> {
        vec![
            ("mode".to_owned(), mode.into()),
            ("expect_mode".to_owned(), self.expect_mode.as_str().into()),
            ("l2_configured".to_owned(), self.l2_configured.into()),
            ("metrics_enabled".to_owned(), self.metrics_enabled().into()),
            (
                "observability_enabled".to_owned(),
                (!self.observability_disabled).into(),
            ),
            (
                "logging_enabled".to_owned(),
                (!self.logging_disabled).into(),
            ),
            ("tracing_enabled".to_owned(), self.tracing_enabled.into()),
            (
                "trace_recording_enabled".to_owned(),
                self.trace_recording_enabled.into(),
            ),
            ("sample_rate".to_owned(), self.sample_rate.into()),
            (
                "event_bus_queue_size".to_owned(),
                self.event_bus_queue_size.into(),
            ),
        ]
    }
}

/// The analysis and the variables it gives findings.
pub struct Compat {
    pub analysis: CompatAnalysis,
    pub vars: Vec<(String, Var)>,
}

/// Runs the modes and families packs over the scrapes of one deployment.
pub fn analyze(
    registry: &Registry,
    indexes: &[&SeriesIndex],
    engine_ids: &[String],
    ctx: &CompatContext,
) -> Compat {
    let rules = &registry.modes;
    // Label values of every key anything reads, in one pass per scrape.
    let mut keys: Vec<&str> = rules.connector_keys.iter().map(String::as_str).collect();
    for ind in &rules.indicators {
        if let Some(l) = &ind.def.labels {
            keys.extend(l.keys.iter().map(String::as_str));
        }
    }
    // The MP observability names come from the modes pack (none: an empty section).
    let default_obs = crate::pack::model::ObservabilityDef::default();
    let obs = registry
        .modes
        .observability
        .as_ref()
        .map_or(&default_obs, |(o, _)| o);
    keys.extend(obs.service_instance_labels.iter().map(String::as_str));
    keys.push(obs.cache_salt_label.as_str());
    keys.extend(obs.l2_adapter_labels.iter().map(String::as_str));
    keys.retain(|k| !k.is_empty());
    keys.sort_unstable();
    keys.dedup();
    // Every scrape is read once, the scrapes in parallel; the merge keeps scrape order.
    let scans = super::par_map(indexes, |idx| scan(registry, idx, &keys, obs));
    let labels = merge_labels(&scans);

    // Indicators.
    let indicators: Vec<IndicatorOutcome> = rules
        .indicators
        .iter()
        .enumerate()
        .map(|(n, ind)| observe(ind, n, &scans, &labels, &ctx.evidence))
        .collect();

    // Connectors: label values and launch evidence, classified first-match.
    let mut connectors: Vec<ConnectorOutcome> = Vec::new();
    let mut add_connector = |name: &str, source: String| {
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
            add_connector(value, format!("label {key}"));
        }
    }
    if let Some(list) = ctx
        .evidence
        .get(&EvidenceKind::Launch)
        .and_then(|l| l.pointer("/connectors"))
        .and_then(|c| c.as_array())
    {
        for name in list.iter().filter_map(|v| v.as_str()) {
            add_connector(name, "launch evidence".to_owned());
        }
    }

    // Mode variables: indicators, connector classes, engines.
    let mut mode_vars: Vec<(String, Var)> = indicators
        .iter()
        .map(|i| (i.id.clone(), i.observed.into()))
        .collect();
    for class in rules.connector_classes() {
        let seen = connectors
            .iter()
            .any(|c| c.class.as_deref() == Some(class.as_str()));
        mode_vars.push((format!("connector_{class}"), seen.into()));
    }
    for e in &registry.engines {
        mode_vars.push((
            format!("engine_{}", e.def.id),
            engine_ids.contains(&e.def.id).into(),
        ));
    }
    // Only the variables an expression reads go into its scope.
    let holds = |c: &Compiled, vars: &[(String, Var)]| -> bool {
        let refs: Vec<(&str, Var)> = vars
            .iter()
            .filter(|(k, _)| c.variables.iter().any(|v| v == k))
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        registry.expr.eval_bool(c, &refs).unwrap_or(false)
    };
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

    let (detected_mode, mode_evidence) = rules
        .modes
        .iter()
        .find(|(_, c)| holds(c, &mode_vars))
        .map_or(("unknown".to_owned(), Vec::new()), |(m, c)| {
            (m.clone(), observed_in(c))
        });
    let candidates: Vec<CandidateOutcome> = rules
        .candidates
        .iter()
        .filter(|(_, c)| holds(c, &mode_vars))
        .map(|(rule, c)| CandidateOutcome {
            candidate: rule.candidate.clone(),
            evidence: observed_in(c),
            note: rule.note.clone(),
        })
        .collect();
    let architecture = rules
        .architectures
        .iter()
        .find(|(_, w, _)| holds(w, &mode_vars))
        .map_or(
            ArchitectureOutcome {
                label: "unknown".to_owned(),
                claim_status: "not_proven".to_owned(),
                evidence: Vec::new(),
            },
            |(rule, w, m)| ArchitectureOutcome {
                label: rule.label.clone(),
                claim_status: if holds(m, &mode_vars) {
                    "measured"
                } else {
                    "inferred"
                }
                .to_owned(),
                evidence: observed_in(w),
            },
        );

    // Surfaces and families.
    let mut context = mode_vars.clone();
    context.extend(ctx.vars(&detected_mode));
    let mut surfaces = Vec::new();
    let mut missing_required = Vec::new();
    let mut mapped: BTreeSet<String> = BTreeSet::new();
    let mut no_traffic_yet = false;
    let mut family_slot = 0;
    for surface in &registry.surfaces {
        let matches: Vec<FamilyMatch> = (0..surface.families.len())
            .map(|f| match_family(&scans, family_slot, f))
            .collect();
        family_slot += surface.families.len();
        for m in &matches {
            mapped.extend(m.all.iter().cloned());
        }
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
        let mut vars = context.clone();
        vars.push(("generation".to_owned(), generation.into()));
        let applicable = holds(&surface.applies, &vars);
        let mut families: Vec<FamilyReport> = surface
            .families
            .iter()
            .zip(matches)
            .map(|(f, m)| {
                let family_applies = applicable && holds(&f.applies, &vars);
                let required = family_applies && holds(&f.required, &vars);
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
            })
            .collect();
        // No traffic yet: only boot-time families present, required others missing.
        let present =
            |r: &FamilyReport| matches!(r.status, FamilyStatus::Populated | FamilyStatus::Zero);
        let boot = |id: &str| {
            surface
                .families
                .iter()
                .any(|f| f.def.id == id && f.def.boot)
        };
        let fresh = applicable
            && families.iter().any(|r| present(r) && boot(&r.id))
            && families.iter().all(|r| !present(r) || boot(&r.id))
            && families
                .iter()
                .any(|r| r.required && r.status == FamilyStatus::Missing && !boot(&r.id));
        if fresh {
            no_traffic_yet = true;
            for r in families
                .iter_mut()
                .filter(|r| r.status == FamilyStatus::Missing && !boot(&r.id))
            {
                r.reason = Some(
                    "no traffic observed yet: these series appear with the first store or retrieve"
                        .to_owned(),
                );
            }
        }
        if !applicable {
            for r in &mut families {
                r.reason.get_or_insert_with(|| {
                    "surface not applicable to the detected mode and flags".to_owned()
                });
            }
        }
        for r in &families {
            if r.required && r.status == FamilyStatus::Missing {
                missing_required.push(format!("{}.{}", surface.id, r.id));
            }
        }
        surfaces.push(SurfaceReport {
            id: surface.id.clone(),
            title: surface.title.clone(),
            status: surface_status(applicable, &families),
            applicable,
            generation: generation.to_owned(),
            families,
            pack_file: surface.file.clone(),
        });
    }

    // MP observability.
    let values = |key: &str| labels.get(key).cloned().unwrap_or_default();
    let mut service_ids: BTreeSet<String> = BTreeSet::new();
    for scan in &scans {
        service_ids.extend(scan.service_ids.iter().cloned());
    }
    let from_target_info = !service_ids.is_empty();
    if let Some(id) = &ctx.service_instance_id {
        service_ids.insert(id.clone());
    }
    let salts = values(&obs.cache_salt_label);
    let mut l2_labels: Vec<String> = obs
        .l2_adapter_labels
        .iter()
        .flat_map(|k| values(k).into_iter().map(move |v| format!("{k}={v}")))
        .collect();
    l2_labels.sort();
    let event_bus = find_family(&surfaces, &obs.surface, &obs.event_bus_family);
    let mp_surface = surfaces.iter().find(|s| s.id == obs.surface);
    let event_bus_series: Vec<String> = event_bus.map(|f| f.names.clone()).unwrap_or_default();
    let sampled_with_data: Vec<String> = mp_surface
        .map(|s| {
            s.families
                .iter()
                .filter(|f| f.sampled && f.populated_series > 0)
                .flat_map(|f| f.names.clone())
                .collect()
        })
        .unwrap_or_default();

    // Unmapped LMCache series.
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

    let family_map: Vec<(String, String)> = surfaces
        .iter()
        .flat_map(|s| {
            s.families
                .iter()
                .map(move |f| (format!("{}.{}", s.id, f.id), f.status.as_str().to_owned()))
        })
        .collect();
    let evidence_surfaces = evidence_surfaces(&ctx.evidence);
    let unhealthy = unhealthy_http_endpoints(&ctx.evidence);
    let empty_salt = salts.iter().any(|s| s.is_empty());
    let mut vars = context;
    vars.extend([
        (
            "missing_required_count".to_owned(),
            (missing_required.len() as f64).into(),
        ),
        (
            "missing_required_families".to_owned(),
            missing_required.join(", ").into(),
        ),
        ("no_traffic_yet".to_owned(), no_traffic_yet.into()),
        ("empty_cache_salt".to_owned(), empty_salt.into()),
        (
            "unmapped_lmcache_series".to_owned(),
            (unmapped.len() as f64).into(),
        ),
        ("family".to_owned(), Var::Map(family_map)),
        (
            "evidence".to_owned(),
            Var::Map(
                evidence_surfaces
                    .iter()
                    .map(|e| (e.kind.clone(), e.status.as_str().to_owned()))
                    .collect(),
            ),
        ),
        (
            "http_unhealthy_count".to_owned(),
            (unhealthy.len() as f64).into(),
        ),
        (
            "http_unhealthy_endpoints".to_owned(),
            unhealthy.join(", ").into(),
        ),
    ]);
    vars.extend(analysis_maps(&surfaces, &labels, &keys));
    derive_facts(registry, &mut vars);
    let fact = |id: &str| vars.iter().any(|(k, v)| k == id && *v == Var::Bool(true));
    let observability = MpObservability {
        service_instance_id_source: match (from_target_info, ctx.service_instance_id.is_some()) {
            (true, true) => "target_info_and_flag",
            (true, false) => "target_info",
            (false, true) => "flag",
            (false, false) => "missing",
        }
        .to_owned(),
        service_instance_ids: service_ids.into_iter().collect(),
        cache_salt_cardinality: salts.len(),
        cache_salt_cardinality_risk: fact("cache_salt_cardinality_risk"),
        cache_salt_values: salts.iter().take(20).cloned().collect(),
        l2_adapter_labels: l2_labels,
        event_bus_queue_size: ctx.event_bus_queue_size,
        event_bus_series,
        event_bus_taildrop_risk: fact("event_bus_taildrop_risk"),
        sample_rate: ctx.sample_rate,
        sampled_histograms_with_data: sampled_with_data,
        sampled_histograms_sparse: fact("sampled_histograms_sparse"),
        metrics_disabled: ctx.metrics_disabled,
        observability_disabled: ctx.observability_disabled,
        logging_disabled: ctx.logging_disabled,
        tracing_enabled: ctx.tracing_enabled,
        trace_recording_enabled: ctx.trace_recording_enabled,
        prometheus_port: ctx.prometheus_port,
    };
    Compat {
        analysis: CompatAnalysis {
            detected_mode,
            mode_evidence,
            expected_mode: ctx.expect_mode.clone(),
            candidates,
            architecture,
            indicators,
            connectors,
            surfaces,
            missing_required,
            no_traffic_yet,
            lmcache_mp_observability: observability,
            unmapped_series: unmapped,
            evidence_surfaces,
        },
        vars,
    }
}

/// The analysis as maps for derived facts: series per family and surface, moving
/// counters and sampled histograms with data per surface, distinct label values.
fn analysis_maps(
    surfaces: &[SurfaceReport],
    labels: &BTreeMap<String, Vec<String>>,
    keys: &[&str],
) -> Vec<(String, Var)> {
    let mut family_series = Vec::new();
    let mut family_populated = Vec::new();
    let mut surface_series = Vec::new();
    let mut moving = Vec::new();
    let mut sampled = Vec::new();
    for s in surfaces {
        for f in &s.families {
            let id = format!("{}.{}", s.id, f.id);
            family_series.push((id.clone(), f.series as f64));
            family_populated.push((id, f.populated_series as f64));
        }
        let count =
            |p: &dyn Fn(&FamilyReport) -> bool| s.families.iter().filter(|f| p(f)).count() as f64;
        surface_series.push((
            s.id.clone(),
            s.families.iter().map(|f| f.series as f64).sum(),
        ));
        moving.push((
            s.id.clone(),
            count(&|f| !f.sampled && !f.boot && f.populated_series > 0),
        ));
        sampled.push((
            s.id.clone(),
            count(&|f| f.sampled && f.populated_series > 0),
        ));
    }
    let label_values = keys
        .iter()
        .map(|k| ((*k).to_owned(), labels.get(*k).map_or(0, Vec::len) as f64))
        .collect();
    vec![
        ("family_series".to_owned(), Var::Nums(family_series)),
        ("family_populated".to_owned(), Var::Nums(family_populated)),
        ("surface_series".to_owned(), Var::Nums(surface_series)),
        ("surface_moving_counters".to_owned(), Var::Nums(moving)),
        ("surface_sampled_with_data".to_owned(), Var::Nums(sampled)),
        ("label_values".to_owned(), Var::Nums(label_values)),
    ]
}

/// Evaluates the packs' derived facts in order, each seeing the ones before it; a
/// fact whose expression fails (a map key the scrape lacks) is left out.
fn derive_facts(registry: &Registry, vars: &mut Vec<(String, Var)>) {
    for (id, c) in &registry.modes.derived {
        let refs: Vec<(&str, Var)> = vars
            .iter()
            .filter(|(k, _)| c.variables.iter().any(|v| v == k))
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let Ok(value) = registry.expr.eval(c, &refs) else {
            continue;
        };
        let var = if let Ok(b) = value.as_bool() {
            Var::Bool(b)
        } else if let Ok(x) = value.as_float() {
            Var::Num(x)
        } else if let Ok(n) = value.as_int() {
            Var::Num(n as f64)
        } else {
            continue;
        };
        vars.push((id.clone(), var));
    }
}

fn find_family<'s>(
    surfaces: &'s [SurfaceReport],
    surface: &str,
    family: &str,
) -> Option<&'s FamilyReport> {
    surfaces
        .iter()
        .find(|s| s.id == surface)?
        .families
        .iter()
        .find(|f| f.id == family)
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
    service_ids: BTreeSet<String>,
    /// Family names under an unmapped prefix, in name order.
    unmapped: Vec<String>,
}

/// Family names a pattern list matches, and those with a non-zero sample.
#[derive(Default)]
struct NameSets {
    names: BTreeSet<String>,
    populated: BTreeSet<String>,
}

fn scan(
    registry: &Registry,
    idx: &SeriesIndex,
    keys: &[&str],
    obs: &crate::pack::model::ObservabilityDef,
) -> Scan {
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
    let mut service_ids = BTreeSet::new();
    for key in &obs.service_instance_labels {
        let values = idx.label_values(&obs.service_instance_family, key);
        service_ids.extend(values.into_iter().map(str::to_owned));
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
        service_ids,
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

const EVIDENCE_KINDS: [EvidenceKind; 7] = [
    EvidenceKind::Http,
    EvidenceKind::Logs,
    EvidenceKind::Trace,
    EvidenceKind::Otel,
    EvidenceKind::TraceReplay,
    EvidenceKind::LookupHash,
    EvidenceKind::Launch,
];

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
) -> crate::report::LmcacheCompatReport {
    use crate::report::{
        CompatSummary, FailureReason, LmcacheCompatReport, Status, ToolInfo,
        LMCACHE_COMPAT_SCHEMA_VERSION,
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
    LmcacheCompatReport {
        schema_version: LMCACHE_COMPAT_SCHEMA_VERSION.to_owned(),
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
