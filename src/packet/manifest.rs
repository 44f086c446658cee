//! `packet_manifest.json`: what a packet holds (every artifact with its size and
//! digest), where each input came from, what failed, which routes were never
//! called, and the context the operator gave. `collect-lmcache` writes it;
//! every command that reads a packet reads its `context` and `sources`.
//!
//! The tool and compatibility-summary types are the report layer's, which this
//! layer does not name: the manifest is generic over them, and `collect-lmcache`
//! fills them in (`schemas/packet-manifest.schema.json` is generated with the
//! report's types).

use crate::evidence::http::SkippedRoute;
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;

/// `schema_version` of the packet manifest.
pub const SCHEMA_VERSION: &str = "inferguard.packet/v1";

/// The packet manifest.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(rename = "PacketManifest")]
pub struct PacketManifest<Tool, Summary> {
    /// Always `inferguard.packet/v1` for this layout.
    pub schema_version: String,
    /// When the packet was written (RFC 3339, UTC).
    pub generated_at: String,
    pub tool: Tool,
    /// `measured` when at least one scrape was collected, else `not_proven`.
    pub claim_status: String,
    /// The operator context, by flag id (the `context` packs declare the flags):
    /// each as given, null when not given (booleans and choices: their default).
    pub context: BTreeMap<String, serde_json::Value>,
    pub sources: Vec<ManifestSource>,
    /// Every file of the packet, the manifest aside.
    pub artifacts: Vec<Artifact>,
    /// Every source that failed; collection went on without it.
    pub scrape_errors: Vec<ScrapeError>,
    /// Routes the route table forbids calling, never requested.
    pub skipped_endpoints: Vec<SkippedRoute>,
    /// The compatibility analysis of the packet; `null` when nothing was collected.
    pub compat_summary: Option<Summary>,
}

/// One input and the artifact it became.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ManifestSource {
    /// `<role>_metrics`, `<role>_log`, `http`, `launch`, or an evidence input's kind.
    pub kind: String,
    /// The path or URL as given.
    pub source: String,
    /// Its file in the packet.
    pub artifact: String,
    /// Scrapes only: where the answer came from and when.
    #[serde(flatten)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrape: Option<ScrapeOrigin>,
}

/// Where and when a scrape was taken.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ScrapeOrigin {
    /// The URL that answered after same-path redirects, when it differs.
    pub final_url: Option<String>,
    /// Unix seconds: fetch time, or the scrape file's own time.
    pub scraped_at: Option<f64>,
}

/// One file of the packet.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Artifact {
    /// Relative to the packet directory.
    pub path: String,
    pub bytes: usize,
    /// Hex SHA-256 of the file as written.
    pub sha256: String,
}

/// One source that could not be collected.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ScrapeError {
    /// What was being collected (`engine_metrics`, `http_status`, `lmcache_log`, …).
    pub source_name: String,
    pub source: String,
    /// `io`, `timeout`, `http_status`, `not_exposition`, `unreadable`, …
    pub error_class: String,
    pub error: String,
}
