//! Path tracing: for each system detected on an endpoint, where its latency comes
//! from (TTFT and TPOT/ITL source families), whether those families identify
//! requests (`per_session`), only aggregate (`aggregate_only`) or are absent
//! (`unsupported`), which identity labels it carries and which KV-transfer
//! connector its labels name. All names come from engine packs.

use crate::normalize::SeriesIndex;
use crate::pack::model::SystemRole;
use crate::pack::{EngineRule, Registry};
use crate::report::{ConnectorLabel, EngineDetection, SupportLevel, SystemTrace};

/// Signals whose families are TTFT sources, and TPOT sources in preference order.
const TTFT_SIGNALS: &[&str] = &["ttft"];
const TPOT_SIGNALS: &[&str] = &["tpot", "itl"];

/// Traces every detected system of one endpoint.
pub fn trace_systems(
    registry: &Registry,
    index: &SeriesIndex,
    detections: &[EngineDetection],
) -> Vec<SystemTrace> {
    detections
        .iter()
        .filter_map(|d| registry.engine(&d.id).map(|e| trace_system(e, index, d)))
        .collect()
}

fn trace_system(
    engine: &EngineRule,
    index: &SeriesIndex,
    detection: &EngineDetection,
) -> SystemTrace {
    let ttft_sources = source_families(engine, index, TTFT_SIGNALS);
    let tpot_sources = source_families(engine, index, TPOT_SIGNALS);
    let latency: Vec<&String> = ttft_sources.iter().chain(&tpot_sources).collect();
    let mut session_labels: Vec<String> = Vec::new();
    for family in &latency {
        for key in index.label_keys(family) {
            if engine.def.session_labels.iter().any(|s| s == key)
                && !session_labels.iter().any(|s| s == key)
            {
                session_labels.push(key.to_owned());
            }
        }
    }
    let serves_requests = matches!(
        engine.def.role,
        SystemRole::Engine
            | SystemRole::Frontend
            | SystemRole::Gateway
            | SystemRole::InferenceServer
    );
    let support_level = if latency.is_empty() && !serves_requests {
        SupportLevel::NotApplicable
    } else if latency.is_empty() {
        SupportLevel::Unsupported
    } else if session_labels.is_empty() {
        SupportLevel::AggregateOnly
    } else {
        SupportLevel::PerSession
    };
    // Identity and connector labels over every family the system's signals read.
    let families: Vec<String> = signal_families(engine, index);
    let mut identity_labels: Vec<String> = Vec::new();
    let mut connectors: Vec<ConnectorLabel> = Vec::new();
    let mut seen: std::collections::HashSet<(&str, &str)> = Default::default();
    for family in &families {
        for key in index.label_keys(family) {
            if engine.def.identity_labels.iter().any(|l| l == key)
                && !identity_labels.iter().any(|l| l == key)
            {
                identity_labels.push(key.to_owned());
            }
            if engine.def.connector_labels.iter().any(|l| l == key) {
                for value in index.label_values(family, key) {
                    if seen.insert((key, value)) {
                        connectors.push(ConnectorLabel {
                            label: key.to_owned(),
                            value: value.to_owned(),
                            family: family.clone(),
                        });
                    }
                }
            }
        }
    }
    identity_labels.sort();
    session_labels.sort();
    SystemTrace {
        id: detection.id.clone(),
        name: detection.name.clone(),
        role: detection.role,
        confidence: detection.confidence,
        forced: detection.forced,
        support_level,
        ttft_sources,
        tpot_sources,
        identity_labels,
        session_labels,
        connectors,
    }
}

/// Families present for the first of `signals` the engine declares and the scrape has.
fn source_families(engine: &EngineRule, index: &SeriesIndex, signals: &[&str]) -> Vec<String> {
    for name in signals {
        let Some(spec) = engine.signals.iter().find(|s| s.name == *name) else {
            continue;
        };
        let found: Vec<String> = spec
            .current
            .iter()
            .chain(&spec.legacy)
            .flat_map(|p| index.matching_families(p))
            .map(str::to_owned)
            .collect();
        if !found.is_empty() {
            let mut found = found;
            found.sort();
            found.dedup();
            return found;
        }
    }
    Vec::new()
}

fn signal_families(engine: &EngineRule, index: &SeriesIndex) -> Vec<String> {
    let mut out: Vec<String> = engine
        .signals
        .iter()
        .flat_map(|s| s.current.iter().chain(&s.legacy))
        .flat_map(|p| index.matching_families(p))
        .map(str::to_owned)
        .collect();
    out.sort();
    out.dedup();
    out
}
