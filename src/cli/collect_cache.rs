//! The collect command of the cache system: builds a packet directory from files and live
//! endpoints, partial-first. Every source that fails is recorded in
//! `packet_manifest.json` and collection goes on; the command fails (exit 2) only
//! when nothing at all was collected. Secrets and raw lookup hashes never reach a
//! written file; every file is written atomically.

use super::cache_compat::ContextArgs;
use super::{load_registry, Outcome};
use crate::eval::compat::compat_report;
use crate::eval::EvalOptions;
use crate::evidence::Input;
use crate::pack::model::EvidenceKind;
use crate::pack::names::CACHE;
use crate::packet::fetch::{get_exposition, Deadline, FetchLimits};
use crate::packet::manifest::{
    Artifact, ManifestSource, PacketManifest, ScrapeError, ScrapeOrigin,
};
use crate::packet::{http, layout, write_atomic};
use crate::report::{to_sorted_json, EvidenceFileReport};
use anyhow::{bail, Context as _};
use const_format::concatcp;

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct CollectArgs {
    /// The packet directory to write.
    #[arg(long, value_name = "DIR")]
    pub output_dir: PathBuf,
    /// Write into a directory that already holds files.
    #[arg(long)]
    pub force: bool,
    #[arg(long, value_name = "FILE")]
    pub engine_metrics_file: Vec<PathBuf>,
    #[arg(long, value_name = "URL")]
    pub engine_metrics_url: Vec<String>,
    #[arg(long = concatcp!(CACHE, "-metrics-file"), value_name = "FILE")]
    pub cache_metrics_file: Vec<PathBuf>,
    #[arg(long = concatcp!(CACHE, "-metrics-url"), value_name = "URL")]
    pub cache_metrics_url: Vec<String>,
    /// The cache server's HTTP API, e.g. http://127.0.0.1:8080.
    #[arg(long = concatcp!(CACHE, "-http-base-url"), value_name = "URL")]
    pub cache_http_base_url: Option<String>,
    /// Thread for the `periodic_thread` route.
    #[arg(long = concatcp!(CACHE, "-http-thread-name"), value_name = "NAME")]
    pub cache_http_thread_name: Option<String>,
    /// A saved answer of one route: `ROUTE=FILE` (route ids as in rules/lmcache/http-routes.yaml).
    #[arg(long = concatcp!(CACHE, "-http-file"), value_name = "ROUTE=FILE")]
    pub cache_http_file: Vec<String>,
    /// One route from another URL: `ROUTE=URL`.
    #[arg(long = concatcp!(CACHE, "-http-url"), value_name = "ROUTE=URL")]
    pub cache_http_url: Vec<String>,
    /// Same as `--lmcache-http-file healthcheck=FILE` (the seed pages' spelling).
    #[arg(long = concatcp!(CACHE, "-health-file"), value_name = "FILE")]
    pub cache_health_file: Option<String>,
    /// Same as `--lmcache-http-url healthcheck=URL`.
    #[arg(long = concatcp!(CACHE, "-health-url"), value_name = "URL")]
    pub cache_health_url: Option<String>,
    /// Same as `--lmcache-http-file status=FILE`.
    #[arg(long = concatcp!(CACHE, "-status-file"), value_name = "FILE")]
    pub cache_status_file: Option<String>,
    /// Same as `--lmcache-http-url status=URL`.
    #[arg(long = concatcp!(CACHE, "-status-url"), value_name = "URL")]
    pub cache_status_url: Option<String>,
    /// Seconds one request to a live endpoint may take in all: connecting, the
    /// headers and the whole body.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub http_timeout: u64,
    /// Seconds the whole collection may spend on live endpoints; requests not yet
    /// made when it passes are recorded as `deadline` scrape errors.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub deadline: u64,
    /// Largest answer read from a live endpoint.
    #[arg(long, value_name = "BYTES", default_value_t = 256 * 1024 * 1024)]
    pub http_max_body: usize,
    #[arg(long, value_name = "FILE")]
    pub engine_log_file: Vec<PathBuf>,
    #[arg(long = concatcp!(CACHE, "-log-file"), value_name = "FILE")]
    pub cache_log_file: Vec<PathBuf>,
    /// OTel spans, JSONL or OTLP JSON.
    #[arg(long = concatcp!(CACHE, "-otel-file"), value_name = "FILE")]
    pub cache_otel_file: Option<PathBuf>,
    /// A `.lct` trace recording.
    #[arg(long = concatcp!(CACHE, "-trace-file"), value_name = "FILE")]
    pub cache_trace_file: Option<PathBuf>,
    /// Trace replay output, a file or a directory.
    #[arg(long = concatcp!(CACHE, "-trace-replay-output"), value_name = "PATH")]
    pub cache_trace_replay_output: Option<PathBuf>,
    /// Lookup-hash JSONL, a file or a directory of rotated files.
    #[arg(long = concatcp!(CACHE, "-lookup-hash-path"), value_name = "PATH")]
    pub cache_lookup_hash_path: Option<PathBuf>,
    /// Launch commands or configs (JSON, YAML, text).
    #[arg(long, value_name = "FILE")]
    pub launch_file: Vec<PathBuf>,
    #[command(flatten)]
    pub context: ContextArgs,
    /// Print the manifest as JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// The packet being written: every file goes through here, so the manifest lists
/// each with its size and digest.
struct Packet {
    dir: PathBuf,
    artifacts: Vec<Artifact>,
    errors: Vec<ScrapeError>,
    sources: Vec<ManifestSource>,
}

impl Packet {
    fn write(&mut self, rel: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("{}: cannot create", parent.display()))?;
        }
        write_atomic(&path, bytes).with_context(|| format!("{}: cannot write", path.display()))?;
        self.artifacts.push(Artifact {
            path: rel.to_owned(),
            bytes: bytes.len(),
            sha256: Sha256::digest(bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        });
        Ok(())
    }

    /// `write` for a file that `fill` produces as a stream (a log's redacted copy),
    /// so it never sits in memory: a temp file in the same folder, renamed into
    /// place when `fill` succeeds and removed when it fails (its error comes back).
    fn write_streamed<E>(
        &mut self,
        rel: &str,
        fill: impl FnOnce(&mut dyn std::io::Write) -> Result<(), E>,
    ) -> anyhow::Result<Result<(), E>> {
        let path = self.dir.join(rel);
        let parent = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(parent)
            .with_context(|| format!("{}: cannot create", parent.display()))?;
        let cannot = || format!("{}: cannot write", path.display());
        let tmp = tempfile::NamedTempFile::new_in(parent).with_context(cannot)?;
        let mut out = Digesting {
            inner: std::io::BufWriter::new(tmp),
            sha: Sha256::new(),
            bytes: 0,
        };
        if let Err(e) = fill(&mut out) {
            return Ok(Err(e));
        }
        let tmp = out
            .inner
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)
            .with_context(cannot)?;
        tmp.as_file().sync_all().with_context(cannot)?;
        tmp.persist(&path).with_context(cannot)?;
        self.artifacts.push(Artifact {
            path: rel.to_owned(),
            bytes: out.bytes,
            sha256: out
                .sha
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        });
        Ok(Ok(()))
    }

    /// Records an input and the artifact it became (`scrape`: where and when a
    /// scrape was taken).
    fn source(&mut self, kind: &str, source: &str, artifact: &str, scrape: Option<ScrapeOrigin>) {
        self.sources.push(ManifestSource {
            kind: kind.to_owned(),
            source: source.to_owned(),
            artifact: artifact.to_owned(),
            scrape,
        });
    }

    fn error(&mut self, name: &str, source: &str, class: &str, error: String) {
        self.errors.push(ScrapeError {
            source_name: name.to_owned(),
            source: source.to_owned(),
            error_class: class.to_owned(),
            error,
        });
    }
}

/// A writer that counts and digests what passes through, for the manifest.
struct Digesting<W> {
    inner: W,
    sha: Sha256,
    bytes: usize,
}

impl<W: std::io::Write> std::io::Write for Digesting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.bytes += n;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(|| "input".to_owned(), |n| n.to_string_lossy().into_owned())
}

pub fn run(rules: &[PathBuf], args: CollectArgs) -> anyhow::Result<Outcome> {
    let registry = load_registry(rules)?;
    let dir = args.output_dir.clone();
    if let Some(name) = args.cache_http_thread_name.as_deref() {
        if !http::plain_segment(name) {
            bail!("--{CACHE}-http-thread-name {name}: must be one path segment (letters, digits, `_`, `-`, `.`), not `.` or `..`");
        }
    }
    refuse_forbidden_urls(&args, &registry)?;
    let old = previous_packet(&dir, args.force)?;
    let staging = crate::packet::Staging::new(&dir).with_context(|| {
        format!(
            "{}: cannot create a staging directory beside it",
            dir.display()
        )
    })?;
    let limits = FetchLimits {
        connect_timeout: Duration::from_secs(args.http_timeout.max(1)),
        request_timeout: Duration::from_secs(args.http_timeout.max(1)),
        max_body: args.http_max_body,
    };
    let deadline = Deadline::after(Duration::from_secs(args.deadline.max(1)));
    let mut packet = Packet {
        dir: staging.path().to_path_buf(),
        artifacts: Vec::new(),
        errors: Vec::new(),
        sources: Vec::new(),
    };
    let mut scrapes = read_metrics(&args, &mut packet, &limits, deadline);
    let mut evidence: BTreeMap<EvidenceKind, Value> = BTreeMap::new();
    let http = collect_http(
        &args,
        &registry,
        &mut packet,
        &mut scrapes,
        &mut evidence,
        &limits,
        deadline,
    )?;
    let inputs = write_metrics(&mut packet, &scrapes)?;
    collect_logs(&args, &registry, &mut packet, &mut evidence)?;
    collect_structured(&args, &registry, &mut packet, &mut evidence)?;

    let measured =
        |doc: &Value| doc.get("claim_status").and_then(Value::as_str) == Some("measured");
    let collected_any = !inputs.is_empty()
        || http.evidence.claim_status == "measured"
        || evidence
            .iter()
            .any(|(k, doc)| *k != EvidenceKind::Http && measured(doc));
    if !collected_any {
        return fail_with_manifest(&args, staging, packet, &http, old);
    }
    let scraped = !inputs.is_empty();
    let report = write_compat_report(&args, &registry, &mut packet, inputs, &evidence)?;
    let manifest = manifest_json(&args, &packet, &http, Some(&report.summary), scraped);
    let text = to_sorted_json(&manifest);
    write_atomic(&packet.dir.join(layout::MANIFEST), text.as_bytes())
        .with_context(|| format!("{}: cannot write the manifest", dir.display()))?;
    let mut new: Vec<String> = packet.artifacts.iter().map(|a| a.path.clone()).collect();
    new.push(layout::MANIFEST.to_owned());
    staging
        .install(&new, &old.unwrap_or_default())
        .with_context(|| format!("{}: cannot move the new packet into place", dir.display()))?;
    warn_errors(&packet);
    let out = if args.json {
        text
    } else {
        format!(
            "packet {}: {} artifact(s), {} scrape error(s), detected_mode={} failure_reasons={}\n",
            dir.display(),
            packet.artifacts.len() + 1,
            packet.errors.len(),
            report.summary.detected_mode,
            report.summary.failure_reasons
        )
    };
    super::output::emit(&out, None)?;
    Ok(Outcome::Ok)
}

/// Every URL the operator gave is checked against the route table before anything
/// is sent: `--lmcache-status-url http://h/env` or a base URL ending in `#` is an
/// error, not a request.
fn refuse_forbidden_urls(
    args: &CollectArgs,
    registry: &crate::pack::Registry,
) -> anyhow::Result<()> {
    let (routes, floor) = (&registry.http_routes, &registry.http_route_floor);
    if let Some(base) = &args.cache_http_base_url {
        if base.contains('?') {
            bail!("--{CACHE}-http-base-url {base}: a base URL takes no query");
        }
    }
    let per_route = args
        .cache_http_url
        .iter()
        .filter_map(|s| s.split_once('=').map(|(_, u)| u.to_owned()));
    let urls = args
        .engine_metrics_url
        .iter()
        .chain(&args.cache_metrics_url)
        .chain(&args.cache_http_base_url)
        .chain(&args.cache_health_url)
        .chain(&args.cache_status_url)
        .cloned()
        .chain(per_route);
    for url in urls {
        if let Some(why) = http::refused_url(routes, floor, &url) {
            bail!("{why}");
        }
    }
    Ok(())
}

/// Checks the output directory before anything is collected and returns what the
/// previous packet there lists (to be removed once the new one is in place):
/// `None` for a new or empty directory; a non-empty one needs `--force`.
fn previous_packet(dir: &Path, force: bool) -> anyhow::Result<Option<Vec<String>>> {
    if !dir.exists() {
        return Ok(None);
    }
    let non_empty = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot read", dir.display()))?
        .next()
        .is_some();
    if !non_empty {
        return Ok(None);
    }
    if !force {
        bail!(
            "{}: the packet directory exists and is not empty; pass --force to replace the packet in it",
            dir.display()
        );
    }
    let manifest = crate::evidence::read_regular(&dir.join(layout::MANIFEST)).unwrap_or_default();
    Ok(Some(crate::packet::listed_artifacts(&manifest)))
}

/// Nothing could be collected: the manifest still records every failure
/// (`claim_status: not_proven`), then the command fails. An existing packet is kept
/// as it was; the failure manifest goes beside it as `packet_manifest.failed.json`.
fn fail_with_manifest(
    args: &CollectArgs,
    staging: crate::packet::Staging,
    packet: Packet,
    http: &http::Collected,
    old: Option<Vec<String>>,
) -> anyhow::Result<Outcome> {
    let dir = &args.output_dir;
    let manifest = manifest_json(args, &packet, http, None, false);
    let text = to_sorted_json(&manifest);
    let name = if old.is_some() {
        FAILED_MANIFEST
    } else {
        layout::MANIFEST
    };
    write_atomic(&packet.dir.join(name), text.as_bytes())
        .with_context(|| format!("{}: cannot write the manifest", dir.display()))?;
    staging
        .install(&[name.to_owned()], &[])
        .with_context(|| format!("{}: cannot write the manifest", dir.display()))?;
    warn_errors(&packet);
    let first = packet
        .errors
        .first()
        .map(|e| format!("; first: {}: {}", e.source, e.error))
        .unwrap_or_default();
    bail!(
        "nothing could be collected: {} failure(s), each in {}{first}",
        packet.errors.len(),
        dir.join(name).display()
    )
}

/// Where a failed run's manifest goes when a packet already stands in the directory.
const FAILED_MANIFEST: &str = "packet_manifest.failed.json";

fn warn_errors(packet: &Packet) {
    for e in &packet.errors {
        // Fetch errors already start with their URL.
        match e.error.starts_with(&e.source) {
            true => super::output::warn(&e.error),
            false => super::output::warn(&format!("{}: {}", e.source, e.error)),
        }
    }
}

fn manifest_json(
    args: &CollectArgs,
    packet: &Packet,
    http: &http::Collected,
    summary: Option<&crate::report::CompatSummary>,
    measured: bool,
) -> PacketManifest<crate::report::ToolInfo, crate::report::CompatSummary> {
    let e = &http.evidence;
    PacketManifest {
        schema_version: crate::packet::manifest::SCHEMA_VERSION.to_owned(),
        generated_at: now_rfc3339(),
        tool: crate::report::ToolInfo::current(),
        claim_status: if measured { "measured" } else { "not_proven" }.to_owned(),
        context: args.context.recorded(),
        sources: packet.sources.clone(),
        artifacts: packet.artifacts.clone(),
        scrape_errors: packet.errors.clone(),
        skipped_endpoints: e
            .destructive_skipped
            .iter()
            .chain(&e.sensitive_skipped)
            .cloned()
            .collect(),
        compat_summary: summary.cloned(),
    }
}

/// Metrics files and URLs, per role; every failure is a scrape error.
fn read_metrics(
    args: &CollectArgs,
    packet: &mut Packet,
    limits: &FetchLimits,
    deadline: Deadline,
) -> Scrapes {
    let mut scrapes = Scrapes::new();
    // A file given twice (or under two spellings) is one scrape.
    let mut seen = std::collections::HashSet::new();
    for (role, files, urls) in [
        (
            "engine",
            &args.engine_metrics_file,
            &args.engine_metrics_url,
        ),
        (CACHE, &args.cache_metrics_file, &args.cache_metrics_url),
    ] {
        let name = format!("{role}_metrics");
        for f in files
            .iter()
            .filter(|f| seen.insert(crate::packet::canonical(f)))
        {
            let source = f.display().to_string();
            match crate::evidence::read_regular(f) {
                Ok(bytes) => match crate::evidence::unusable_scrape(&bytes) {
                    None => scrapes.entry(role).or_default().push(Scrape {
                        at: file_time(f),
                        source,
                        final_url: None,
                        bytes,
                    }),
                    Some(why) => packet.error(&name, &source, "not_exposition", why),
                },
                Err(e) => packet.error(&name, &source, "io", format!("cannot read: {e}")),
            }
        }
        for u in urls {
            match get_exposition(u, limits, deadline) {
                Ok(r) => scrapes.entry(role).or_default().push(Scrape {
                    at: Some(super::now_unix()),
                    source: u.clone(),
                    final_url: (r.url != *u).then_some(r.url),
                    bytes: r.body,
                }),
                Err(e) => packet.error(&name, u, e.class(), e.to_string()),
            }
        }
    }
    scrapes
}

/// One scrape: where it was asked for, where the answer came from after same-path
/// redirects (when that differs), and the bytes.
struct Scrape {
    source: String,
    final_url: Option<String>,
    bytes: Vec<u8>,
    /// When it was scraped (Unix seconds): fetch time, or the file's own time.
    at: Option<f64>,
}

/// A scrape file's time as the deployment model reads it: a Unix time in its
/// name, else its mtime; recorded in the manifest because the packet copy has
/// neither.
fn file_time(path: &Path) -> Option<f64> {
    let origin = crate::evidence::Origin::of_file(path);
    origin
        .file_name
        .as_deref()
        .and_then(crate::deployment::time_in_file_name)
        .or(origin.mtime)
}

/// Scrapes by role.
type Scrapes = BTreeMap<&'static str, Vec<Scrape>>;

/// One packet file per scrape (`engine_metrics.prom`, `engine_metrics_2.prom`, …),
/// so `--packet` evaluates exactly what the direct flags would; the stored copy is
/// redacted, the evaluation reads the same redacted bytes.
fn write_metrics(packet: &mut Packet, scrapes: &Scrapes) -> anyhow::Result<Vec<Input>> {
    let mut inputs: Vec<Input> = Vec::new();
    for role in ["engine", CACHE] {
        let Some(list) = scrapes.get(role) else {
            continue;
        };
        for (
            i,
            Scrape {
                source,
                final_url,
                bytes,
                at,
            },
        ) in list.iter().enumerate()
        {
            let name = layout::metrics_file(role, i);
            let stored = crate::redact::exposition(bytes);
            packet.write(&name, &stored)?;
            let scrape = ScrapeOrigin {
                final_url: final_url.clone(),
                scraped_at: *at,
            };
            packet.source(&format!("{role}_metrics"), source, &name, Some(scrape));
            inputs.push(Input {
                origin: crate::evidence::Origin {
                    role: Some(role.to_owned()),
                    manifest_source: Some(source.clone()),
                    manifest_time: *at,
                    file_name: Some(name.clone()),
                    ..Default::default()
                },
                source: name,
                endpoint: role.to_owned(),
                bytes: stored,
            });
        }
    }
    Ok(inputs)
}

#[allow(clippy::too_many_arguments)]
fn collect_http(
    args: &CollectArgs,
    registry: &crate::pack::Registry,
    packet: &mut Packet,
    scrapes: &mut Scrapes,
    evidence: &mut BTreeMap<EvidenceKind, Value>,
    limits: &FetchLimits,
    deadline: Deadline,
) -> anyhow::Result<http::Collected> {
    let pairs = |list: &[String], flag: &str| -> anyhow::Result<Vec<(String, String)>> {
        list.iter()
            .map(|s| {
                s.split_once('=')
                    .map(|(a, b)| (a.to_owned(), b.to_owned()))
                    .with_context(|| format!("{flag} {s}: expected ROUTE=VALUE"))
            })
            .collect()
    };
    let mut file_flags = args.cache_http_file.clone();
    file_flags.extend(
        args.cache_health_file
            .iter()
            .map(|f| format!("healthcheck={f}")),
    );
    file_flags.extend(args.cache_status_file.iter().map(|f| format!("status={f}")));
    let mut url_flags = args.cache_http_url.clone();
    url_flags.extend(
        args.cache_health_url
            .iter()
            .map(|u| format!("healthcheck={u}")),
    );
    url_flags.extend(args.cache_status_url.iter().map(|u| format!("status={u}")));
    let http_files: Vec<(String, Vec<u8>, String)> =
        pairs(&file_flags, concatcp!("--", CACHE, "-http-file"))?
            .into_iter()
            .filter_map(
                |(route, path)| match crate::evidence::read_regular(Path::new(&path)) {
                    Ok(b) => Some((route, b, path)),
                    Err(e) => {
                        packet.error(
                            &format!("http_{route}"),
                            &path,
                            "io",
                            format!("cannot read: {e}"),
                        );
                        None
                    }
                },
            )
            .collect();
    let http_urls = pairs(&url_flags, concatcp!("--", CACHE, "-http-url"))?;
    for route in http_urls
        .iter()
        .map(|(r, _)| r)
        .chain(http_files.iter().map(|(r, _, _)| r))
    {
        if !registry
            .http_routes
            .iter()
            .any(|r| &r.id == route && crate::pack::routes::may_call(r, &registry.http_route_floor))
        {
            bail!(
                "unknown or not read-only HTTP route `{route}` (see the `http_routes` pack file)"
            );
        }
    }
    let sources = http::HttpSources {
        base_url: args.cache_http_base_url.as_deref(),
        thread_name: args.cache_http_thread_name.as_deref(),
        files: &http_files,
        urls: &http_urls,
    };
    let collected = http::collect(
        &registry.http_routes,
        &registry.http_route_floor,
        &registry.http_health,
        &sources,
        limits,
        deadline,
    );
    for e in &collected.errors {
        packet.error(
            &format!("http_{}", e.route),
            &e.source,
            &e.error_class,
            e.error.clone(),
        );
    }
    for (route, body) in &collected.bodies {
        let exposition = registry
            .http_routes
            .iter()
            .any(|r| r.id == *route && r.exposition);
        if exposition {
            if let Some(why) = crate::evidence::unusable_scrape(body) {
                let (name, source) = (format!("http_{route}"), format!("http {route}"));
                packet.error(&name, &source, "not_exposition", why);
            } else if !scrapes.contains_key(CACHE) {
                let answered = collected.evidence.endpoints.get(route.as_str());
                scrapes.entry(CACHE).or_default().push(Scrape {
                    at: Some(super::now_unix()),
                    source: format!("http {route}"),
                    final_url: answered.and_then(|e| e.final_url.clone()),
                    bytes: body.clone(),
                });
            }
            continue;
        }
        // Answers may carry configuration secrets: stored bounded and redacted.
        let stored = match serde_json::from_slice::<Value>(body) {
            Ok(v) => to_sorted_json(http::bound(&v, 0)).into_bytes(),
            Err(_) => crate::redact::text_bytes(&body[..body.len().min(64 * 1024)]),
        };
        packet.write(&format!("raw/http/{route}.txt"), &stored)?;
    }
    // HTTP evidence exists only when HTTP was asked for; the skipped routes are in
    // the manifest either way.
    if args.cache_http_base_url.is_some() || !http_files.is_empty() || !http_urls.is_empty() {
        let http_doc = serde_json::to_value(&collected.evidence)?;
        if let Some(base) = &args.cache_http_base_url {
            packet.source("http", base, layout::EVIDENCE[0].1, None);
        }
        packet.write(layout::EVIDENCE[0].1, to_sorted_json(&http_doc).as_bytes())?;
        evidence.insert(EvidenceKind::Http, http_doc);
    }

    Ok(collected)
}

fn collect_logs(
    args: &CollectArgs,
    registry: &crate::pack::Registry,
    packet: &mut Packet,
    evidence: &mut BTreeMap<EvidenceKind, Value>,
) -> anyhow::Result<()> {
    // Logs, streamed: each file is read once, classified and copied redacted.
    let mut logs = crate::evidence::logs::LogParser::new(&registry.logs);
    for (role, files) in [
        ("engine", &args.engine_log_file),
        (CACHE, &args.cache_log_file),
    ] {
        for f in files {
            use crate::evidence::logs::LogError;
            let source = f.display().to_string();
            let rel = format!("raw/logs/{role}-{}", file_name(f));
            let read = match crate::evidence::check_regular(f).and_then(|()| std::fs::File::open(f))
            {
                Ok(file) => packet.write_streamed(&rel, |out| {
                    let reader = std::io::BufReader::with_capacity(1 << 16, file);
                    logs.add(&source, reader, Some(out))
                })?,
                Err(e) => Err(LogError::Read(e)),
            };
            match read {
                Ok(()) => packet.source(&format!("{role}_log"), &source, &rel, None),
                Err(LogError::Read(e)) => packet.error(
                    &format!("{role}_log"),
                    &source,
                    "io",
                    format!("cannot read: {e}"),
                ),
                Err(e) => return Err(anyhow::Error::new(e).context(rel)),
            }
        }
    }
    if logs.files() > 0 {
        let doc = serde_json::to_value(logs.finish())?;
        packet.write(
            concatcp!(CACHE, "_log_evidence.json"),
            to_sorted_json(&doc).as_bytes(),
        )?;
        evidence.insert(EvidenceKind::Logs, doc);
    }

    Ok(())
}

/// OTel spans, trace recording, replay outputs, lookup hashes, launch.
fn collect_structured(
    args: &CollectArgs,
    registry: &crate::pack::Registry,
    packet: &mut Packet,
    evidence: &mut BTreeMap<EvidenceKind, Value>,
) -> anyhow::Result<()> {
    // OTel spans, trace recording, replay outputs, lookup hashes, launch.
    if let Some(f) = &args.cache_otel_file {
        let groups = &registry.otel_groups;
        let doc = serde_json::to_value(crate::evidence::otel::parse_otel(&[f], groups))?;
        source_only(packet, f, "otel", layout::EVIDENCE[3].1, &doc);
        packet.write(
            concatcp!(CACHE, "_otel_evidence.json"),
            to_sorted_json(&doc).as_bytes(),
        )?;
        evidence.insert(EvidenceKind::Otel, doc);
    }
    if let Some(f) = &args.cache_trace_file {
        let bytes = crate::evidence::read_regular(f).unwrap_or_else(|e| {
            packet.error(
                "trace",
                &f.display().to_string(),
                "io",
                format!("cannot read: {e}"),
            );
            Vec::new()
        });
        // A malformed or truncated trace is recorded as not proven, never aborts.
        let doc = serde_json::to_value(crate::evidence::lct::parse(
            &f.display().to_string(),
            &bytes,
        ))?;
        if !bytes.is_empty() {
            source_only(packet, f, "trace", layout::EVIDENCE[2].1, &doc);
        }
        packet.write(
            concatcp!(CACHE, "_trace_evidence.json"),
            to_sorted_json(&doc).as_bytes(),
        )?;
        evidence.insert(EvidenceKind::Trace, doc);
    }
    if let Some(p) = &args.cache_trace_replay_output {
        let doc = serde_json::to_value(crate::evidence::replay::parse_replay(&[p]))?;
        source_only(packet, p, "trace_replay", layout::EVIDENCE[4].1, &doc);
        packet.write(
            concatcp!(CACHE, "_trace_replay_evidence.json"),
            to_sorted_json(&doc).as_bytes(),
        )?;
        evidence.insert(EvidenceKind::TraceReplay, doc);
    }
    if let Some(p) = &args.cache_lookup_hash_path {
        // Raw hashes never leave the parser: no raw copy, only the evidence.
        let doc = serde_json::to_value(crate::evidence::lookup_hash::parse_lookup_hashes(&[p]))?;
        source_only(packet, p, "lookup_hash", layout::EVIDENCE[5].1, &doc);
        packet.write(
            concatcp!(CACHE, "_lookup_hash_evidence.json"),
            to_sorted_json(&doc).as_bytes(),
        )?;
        evidence.insert(EvidenceKind::LookupHash, doc);
    }
    if !args.launch_file.is_empty() {
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for f in &args.launch_file {
            match crate::evidence::read_regular(f) {
                Ok(b) => files.push((f.display().to_string(), b)),
                Err(e) => packet.error(
                    "launch",
                    &f.display().to_string(),
                    "io",
                    format!("cannot read: {e}"),
                ),
            }
        }
        if !files.is_empty() {
            let refs: Vec<(&str, &[u8])> = files
                .iter()
                .map(|(p, b)| (p.as_str(), b.as_slice()))
                .collect();
            let doc =
                serde_json::to_value(crate::evidence::launch::parse(&refs, &registry.launch))?;
            for (path, _) in &files {
                packet.source("launch", path, layout::EVIDENCE[6].1, None);
            }
            packet.write(layout::EVIDENCE[6].1, to_sorted_json(&doc).as_bytes())?;
            evidence.insert(EvidenceKind::Launch, doc);
        }
    }

    Ok(())
}

fn write_compat_report(
    args: &CollectArgs,
    registry: &crate::pack::Registry,
    packet: &mut Packet,
    inputs: Vec<Input>,
    evidence: &BTreeMap<EvidenceKind, Value>,
) -> anyhow::Result<crate::report::CompatReport> {
    let evidence_files: Vec<EvidenceFileReport> = layout::EVIDENCE
        .iter()
        .filter(|(k, _)| evidence.contains_key(k))
        .map(|(k, name)| EvidenceFileReport {
            kind: crate::eval::compat::evidence_name(*k).to_owned(),
            source: (*name).to_owned(),
            error: None,
        })
        .collect();
    let options = EvalOptions {
        forced_engine: None,
        compat: args.context.context(evidence.clone()),
        as_deployment: true,
        deployment_only: true,
    };
    let evaluation = super::evaluate(
        registry,
        inputs,
        &super::DeploymentArgs::default(),
        &options,
    )?;
    let report = compat_report(registry, evaluation, evidence_files);
    packet.write(layout::COMPAT_REPORT, to_sorted_json(&report).as_bytes())?;
    Ok(report)
}

/// Records a structured evidence input (OTel, trace, replay, lookup hashes) by
/// its path and the evidence written from it. The input itself is not copied:
/// span attributes, trace configs and hash logs can carry secrets or raw hashes,
/// which never reach a packet. An input whose parser read nothing is a scrape error.
fn source_only(packet: &mut Packet, path: &Path, kind: &str, artifact: &str, doc: &Value) {
    let source = path.display().to_string();
    if !path.exists() {
        packet.error(
            kind,
            &source,
            "io",
            "cannot read: no such file or directory".to_owned(),
        );
    } else if doc.get("claim_status").and_then(Value::as_str) != Some("measured") {
        let reason = doc
            .pointer("/unreadable/0/reason")
            .or_else(|| doc.get("reason"))
            .and_then(Value::as_str)
            .unwrap_or("nothing could be read from it");
        packet.error(kind, &source, "unreadable", reason.to_owned());
    }
    packet.source(kind, &source, artifact, None);
}

/// UTC now as RFC 3339, from the system clock (civil-from-days, no time crate).
fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
