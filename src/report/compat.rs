//! The outcome types of the LMCache compatibility analysis: what `eval::compat`
//! produces and every renderer reads. They live here, below the evaluator, so
//! reports never reach up into it.

use crate::normalize::Spelling;
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;

/// A pack-declared section of the analysis: field key to JSON value.
pub type ReportSection = BTreeMap<String, serde_json::Value>;

/// The whole analysis; part of the `lmcache-compat` report.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct CompatAnalysis {
    /// `mp`, `embedded`, `mixed` or `unknown`.
    pub detected_mode: String,
    /// The indicators that decided the mode.
    pub mode_evidence: Vec<String>,
    pub expected_mode: String,
    pub candidates: Vec<CandidateOutcome>,
    pub architecture: ArchitectureOutcome,
    /// Every indicator, observed or not, with what made it true.
    pub indicators: Vec<IndicatorOutcome>,
    /// Connector names read from labels or launch evidence, with their class.
    pub connectors: Vec<ConnectorOutcome>,
    pub surfaces: Vec<SurfaceReport>,
    /// Applicable required families that are missing, as `surface.family`.
    pub missing_required: Vec<String>,
    /// True when a surface shows only boot-time series: no traffic observed yet
    /// (the surfaces the modes pack's `observability.no_traffic` fact lists).
    pub no_traffic_yet: bool,
    /// Sections the modes pack declares (`observability.section` and `fields`),
    /// each an object of the declared fields, by section name.
    #[serde(flatten)]
    pub sections: BTreeMap<String, ReportSection>,
    /// LMCache series no family matched, with the pack file to edit.
    pub unmapped_series: Vec<UnmappedSeries>,
    /// HTTP, log, trace, OTel, replay, lookup-hash and launch evidence: support for
    /// findings, never a replacement for missing Prometheus families.
    pub evidence_surfaces: Vec<EvidenceSurface>,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct EvidenceSurface {
    /// `http`, `logs`, `trace`, `otel`, `trace_replay`, `lookup_hash`, `launch`.
    pub kind: String,
    /// `populated` (measured, or something counted), `zero` (given, nothing in it),
    /// `missing` (not given).
    pub status: FamilyStatus,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct IndicatorOutcome {
    pub id: String,
    pub description: String,
    pub observed: bool,
    /// What made it true: series names, `label=value`, `evidence:<file><pointer>`.
    pub evidence: Vec<String>,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ConnectorOutcome {
    pub name: String,
    /// The class from the modes pack (`embedded`, `mp`, `stale`, …); none when no
    /// class matches.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Where the name was read: `label <key>` or `launch evidence`.
    pub source: String,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct CandidateOutcome {
    pub candidate: String,
    /// Indicators of the rule that were observed.
    pub evidence: Vec<String>,
    #[serde(default)]
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ArchitectureOutcome {
    pub label: String,
    /// `measured`, `inferred` or `not_proven`.
    pub claim_status: String,
    pub evidence: Vec<String>,
}

/// Status of one family or surface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FamilyStatus {
    Populated,
    Zero,
    Missing,
    NotApplicable,
}

impl FamilyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FamilyStatus::Populated => "populated",
            FamilyStatus::Zero => "zero",
            FamilyStatus::Missing => "missing",
            FamilyStatus::NotApplicable => "not_applicable",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SurfaceStatus {
    Complete,
    Partial,
    Zero,
    Missing,
    NotApplicable,
}

impl SurfaceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SurfaceStatus::Complete => "complete",
            SurfaceStatus::Partial => "partial",
            SurfaceStatus::Zero => "zero",
            SurfaceStatus::Missing => "missing",
            SurfaceStatus::NotApplicable => "not_applicable",
        }
    }
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SurfaceReport {
    pub id: String,
    pub title: String,
    pub status: SurfaceStatus,
    pub applicable: bool,
    /// `current`, `legacy` or `none`: which spelling generation the scrape uses.
    pub generation: String,
    pub families: Vec<FamilyReport>,
    /// The pack file that declares the surface.
    pub pack_file: String,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct FamilyReport {
    pub id: String,
    pub description: String,
    pub status: FamilyStatus,
    pub required: bool,
    pub sampled: bool,
    pub traffic_dependent: bool,
    /// Exported from process start, before any traffic.
    pub boot: bool,
    /// Which spelling matched, when any did.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spelling: Option<Spelling>,
    /// Distinct matched names (at most 8 listed in `names`).
    pub series: usize,
    /// Distinct matched names with a non-zero sample.
    pub populated_series: usize,
    pub names: Vec<String>,
    /// Why the status is what it is, when it is not obvious.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default)]
    #[serde(skip_serializing_if = "String::is_empty")]
    pub since: String,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct UnmappedSeries {
    pub name: String,
    /// The pack file whose surface is closest by name; add a family there.
    pub suggested_pack_file: String,
}

#[cfg(test)]
mod tests {
    /// A pack-declared section may not take a key of the analysis itself; the
    /// loader's list of those keys is the struct's.
    #[test]
    fn the_loader_knows_every_key_of_the_analysis() {
        let schema = serde_json::to_value(schemars::schema_for!(super::CompatAnalysis))
            .expect("schemas serialize");
        let mut keys: Vec<&str> = schema["properties"]
            .as_object()
            .expect("the analysis is an object")
            .keys()
            .map(String::as_str)
            .collect();
        let mut listed = crate::pack::compat::ANALYSIS_KEYS.to_vec();
        keys.sort_unstable();
        listed.sort_unstable();
        assert_eq!(keys, listed);
    }
}
