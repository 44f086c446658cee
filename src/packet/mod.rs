//! The on-disk side of evidence: reading a packet directory's scrapes and writing
//! every output atomically (temp file in the same directory, then rename), so a
//! crash or Ctrl-C never leaves a half-written report.

pub mod fetch;
pub mod http;
pub mod manifest;

use crate::evidence::Input;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// File endings read as Prometheus expositions when a directory is given.
pub const SCRAPE_EXTENSIONS: &[&str] = &["prom", "metrics", "txt", "om"];

/// Writes `contents` to `path` atomically: a temp file with a random name created
/// exclusively in the same directory (so a planted symlink cannot redirect it),
/// fsync, then a rename that replaces `path` itself, never a file a symlink at
/// `path` points to.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".inferguard-")
        .suffix(".tmp")
        .tempfile_in(&dir)?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// A packet built in a private directory beside its destination (created with a
/// random name and mode 0700, so nothing can be planted in it) and moved into place
/// file by file only when it is complete: a collection killed half-way leaves the
/// previous packet as it was.
pub struct Staging {
    tmp: tempfile::TempDir,
    target: PathBuf,
}

impl Staging {
    pub fn new(target: &Path) -> std::io::Result<Staging> {
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent)?;
        let tmp = tempfile::Builder::new()
            .prefix(".inferguard-staging-")
            .tempdir_in(&parent)?;
        Ok(Staging {
            tmp,
            target: target.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Moves every `new` file (relative paths, the manifest last) into the target,
    /// then removes the `old` files the previous manifest listed that this packet
    /// does not replace. Files the tool never wrote are left alone; nothing is
    /// written through a symlink inside the target.
    pub fn install(self, new: &[String], old: &[String]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.target)?;
        let mut order: Vec<&String> = new.iter().filter(|r| *r != layout::MANIFEST).collect();
        order.extend(new.iter().filter(|r| *r == layout::MANIFEST));
        // Every folder is checked (no symlink, no file in the way) before the first
        // file moves, so a refusal leaves the previous packet whole.
        for rel in &order {
            ensure_parents(&self.target, rel)?;
        }
        for rel in order {
            std::fs::rename(self.tmp.path().join(rel), self.target.join(rel))?;
        }
        for rel in old.iter().filter(|r| !new.contains(r) && safe_relative(r)) {
            let path = self.target.join(rel);
            if no_symlink_parents(&self.target, rel)
                && std::fs::symlink_metadata(&path).is_ok_and(|m| !m.is_dir())
            {
                std::fs::remove_file(&path)?;
                remove_empty_parents(&self.target, rel);
            }
        }
        Ok(())
    }
}

/// A relative path of plain components: what a manifest may name.
pub fn safe_relative(rel: &str) -> bool {
    let p = Path::new(rel);
    !rel.is_empty()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// The artifact paths an existing manifest lists (only safe relative ones), plus
/// the manifest itself.
pub fn listed_artifacts(manifest: &[u8]) -> Vec<String> {
    let doc: serde_json::Value = serde_json::from_slice(manifest).unwrap_or_default();
    let mut out: Vec<String> = doc["artifacts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["path"].as_str())
        .filter(|p| safe_relative(p))
        .map(str::to_owned)
        .collect();
    out.push(layout::MANIFEST.to_owned());
    out
}

fn ensure_parents(root: &Path, rel: &str) -> std::io::Result<()> {
    let mut dir = root.to_path_buf();
    let parents: Vec<_> = Path::new(rel).components().collect();
    for c in &parents[..parents.len().saturating_sub(1)] {
        dir.push(c);
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(std::io::Error::other(format!(
                    "{}: not a directory (a symlink or file); refusing to write through it",
                    dir.display()
                )))
            }
            Err(_) => std::fs::create_dir(&dir)?,
        }
    }
    Ok(())
}

fn no_symlink_parents(root: &Path, rel: &str) -> bool {
    let mut dir = root.to_path_buf();
    let parents: Vec<_> = Path::new(rel).components().collect();
    parents[..parents.len().saturating_sub(1)].iter().all(|c| {
        dir.push(c);
        std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir())
    })
}

fn remove_empty_parents(root: &Path, rel: &str) {
    let mut p = root.join(rel);
    while p.pop() && p != root && p.starts_with(root) {
        if std::fs::remove_dir(&p).is_err() {
            break;
        }
    }
}

/// The path with symlinks, `.` and `..` resolved (as given when it cannot be):
/// what tells whether two inputs are one file.
pub fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// An input that could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: directory holds no scrape files (*.prom, *.metrics, *.txt, *.om)")]
    EmptyDir { path: String },
}

/// What a command's inputs hold: scrapes (with where and when each was taken),
/// and, from packets, evidence documents and the recorded context.
#[derive(Default)]
pub struct Read {
    pub scrapes: Vec<Input>,
    /// Evidence documents of packets, by kind: the first packet (by path) wins.
    pub documents: Vec<(crate::pack::model::EvidenceKind, PathBuf)>,
    /// The `context` each packet's manifest records, by packet path.
    pub contexts: Vec<(PathBuf, serde_json::Value)>,
    /// Lines that could not be read (timeline rows), with their location.
    pub warnings: Vec<String>,
    /// Files and folders read so far, by canonical path.
    seen: std::collections::HashSet<PathBuf>,
}

impl Read {
    /// Whether `path` is met for the first time. A file reached twice (`DIR` and
    /// `DIR/f.prom`, `./DIR`, a symlink) is read once, so it never counts twice.
    fn first_time(&mut self, path: &Path) -> bool {
        self.seen.insert(canonical(path))
    }

    /// Adds a file's scrapes unless it was read already; returns how many it added.
    pub fn add_file(&mut self, path: &str) -> Result<usize, InputError> {
        if !self.first_time(Path::new(path)) {
            return Ok(0);
        }
        let read = read_file(path)?;
        let added = read.scrapes.len();
        self.extend(read);
        Ok(added)
    }

    fn extend(&mut self, other: Read) {
        self.scrapes.extend(other.scrapes);
        for (k, p) in other.documents {
            if !self.documents.iter().any(|(d, _)| *d == k) {
                self.documents.push((k, p));
            }
        }
        self.contexts.extend(other.contexts);
        self.warnings.extend(other.warnings);
    }
}

/// Reads files, directories (a packet, or a folder of scrape files), timeline JSONL
/// files and `-`. Packets and documents are taken in path order, so the order of
/// arguments does not matter.
pub fn read_inputs(args: &[String]) -> Result<Read, InputError> {
    use std::io::Read as _;
    let mut out = Read::default();
    let mut sorted: Vec<&String> = args.iter().collect();
    sorted.sort();
    sorted.dedup();
    for arg in sorted {
        if arg == "-" {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|source| InputError::Read {
                    path: "-".to_owned(),
                    source,
                })?;
            out.extend(inputs_of_bytes(
                "-",
                bytes,
                crate::evidence::Origin::default(),
            ));
            continue;
        }
        let path = Path::new(arg);
        if path.is_dir() {
            out.add_dir(path)?;
        } else {
            out.add_file(arg)?;
        }
    }
    Ok(out)
}

/// A packet (a folder with a manifest) or a folder of scrape files.
pub fn read_dir(dir: &Path) -> Result<Read, InputError> {
    let mut out = Read::default();
    out.add_dir(dir)?;
    Ok(out)
}

impl Read {
    /// Adds a packet or a folder of scrape files, leaving out files read already.
    fn add_dir(&mut self, dir: &Path) -> Result<(), InputError> {
        if !self.first_time(dir) {
            return Ok(());
        }
        let read = read_dir_files(dir, |f| self.first_time(f))?;
        self.extend(read);
        Ok(())
    }
}

fn read_dir_files(dir: &Path, mut first: impl FnMut(&Path) -> bool) -> Result<Read, InputError> {
    let display = dir.display().to_string();
    let files = scrape_files(dir).map_err(|source| InputError::Read {
        path: display.clone(),
        source,
    })?;
    let manifest_path = dir.join(layout::MANIFEST);
    let has_manifest = manifest_path.is_file();
    let has_documents = layout::EVIDENCE.iter().any(|(_, n)| dir.join(n).is_file());
    if files.is_empty() && !has_manifest && !has_documents {
        return Err(InputError::EmptyDir { path: display });
    }
    let root = canonical(dir);
    let mut out = Read::default();
    let manifest: serde_json::Value = Some(&manifest_path)
        .filter(|m| has_manifest && inside(&root, m, &mut out.warnings))
        .and_then(|m| crate::evidence::read_regular(m).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    for f in files {
        if !inside(&root, &f, &mut out.warnings) || !first(&f) {
            continue;
        }
        let mut read = read_file(&f.display().to_string())?;
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        for input in &mut read.scrapes {
            recorded_origin(&manifest, name, &mut input.origin);
        }
        out.extend(read);
    }
    for (kind, name) in layout::EVIDENCE {
        let p = dir.join(name);
        if p.is_file() && inside(&root, &p, &mut out.warnings) {
            out.documents.push((kind, p));
        }
    }
    if has_manifest {
        out.contexts
            .push((dir.to_path_buf(), manifest["context"].clone()));
    }
    Ok(out)
}

/// Whether a file of a folder resolves inside it. A symlink planted in a received
/// packet that leads out (to `~/.netrc`) is not read, so nothing of it reaches a
/// report; a warning names it.
fn inside(root: &Path, file: &Path, warnings: &mut Vec<String>) -> bool {
    let target = canonical(file);
    let ok = target.starts_with(root);
    if !ok {
        warnings.push(format!(
            "{}: a symlink out of {} (to {}): not read",
            file.display(),
            root.display(),
            target.display()
        ));
    }
    ok
}

/// What a manifest records about one of its scrape files: the role, the source
/// it was collected from and when.
fn recorded_origin(
    manifest: &serde_json::Value,
    artifact: &str,
    origin: &mut crate::evidence::Origin,
) {
    let sources = manifest["sources"].as_array().into_iter().flatten();
    for s in sources.filter(|s| s["artifact"].as_str() == Some(artifact)) {
        origin.manifest_source = s["source"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        origin.manifest_time = s["scraped_at"].as_f64();
        origin.role = s["kind"]
            .as_str()
            .and_then(|k| k.strip_suffix("_metrics"))
            .map(str::to_owned);
    }
    if origin.role.is_none() {
        origin.role = ["engine", crate::pack::names::CACHE]
            .into_iter()
            .find(|r| artifact.starts_with(&format!("{r}_metrics")))
            .map(str::to_owned);
    }
}

/// One file: an exposition, or a timeline JSONL file (one input per row).
pub fn read_file(path: &str) -> Result<Read, InputError> {
    let bytes =
        crate::evidence::read_regular(Path::new(path)).map_err(|source| InputError::Read {
            path: path.to_owned(),
            source,
        })?;
    Ok(inputs_of_bytes(
        path,
        bytes,
        crate::evidence::Origin::of_file(Path::new(path)),
    ))
}

/// One input, or one per row of a timeline JSONL file.
pub(crate) fn inputs_of_bytes(path: &str, bytes: Vec<u8>, origin: crate::evidence::Origin) -> Read {
    use crate::evidence::timeline;
    let endpoint = match path {
        "-" => "stdin".to_owned(),
        _ => Path::new(path)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(path)
            .to_owned(),
    };
    let mut out = Read::default();
    let (rows, bad) = if timeline::looks_like_timeline(&bytes) {
        timeline::parse(&bytes)
    } else {
        (Vec::new(), Vec::new())
    };
    // A JSON object per line is a timeline even when no row is usable: say why.
    if !rows.is_empty() || bad.iter().any(|b| !b.reason.starts_with("invalid JSON")) {
        out.warnings = bad_row_warnings(path, &bad);
    }
    if rows.is_empty() {
        // Not a timeline: the exposition parser says what it is.
        out.scrapes.push(Input {
            source: path.to_owned(),
            endpoint,
            bytes,
            origin,
        });
        return out;
    }
    for row in rows {
        out.scrapes.push(Input {
            source: format!("{path}:{}", row.line),
            endpoint: endpoint.clone(),
            bytes: row.text.into_bytes(),
            origin: crate::evidence::Origin {
                row_time: row.time,
                row_endpoint: row.endpoint,
                row_file: Some(path.to_owned()),
                ..origin.clone()
            },
        });
    }
    out
}

/// The first 20 bad rows of a timeline, each with its line, then how many more.
fn bad_row_warnings(path: &str, bad: &[crate::evidence::timeline::BadRow]) -> Vec<String> {
    let mut out: Vec<String> = bad
        .iter()
        .take(20)
        .map(|b| format!("{path}: line {}: {} (row skipped)", b.line, b.reason))
        .collect();
    if bad.len() > 20 {
        out.push(format!("{path}: {} more bad rows skipped", bad.len() - 20));
    }
    out
}

/// The scrape files of a packet directory, sorted by name.
pub fn scrape_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| SCRAPE_EXTENSIONS.contains(&e))
        })
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 10, item 6: the old temp name `.NAME.PID.tmp` was predictable and
    /// `File::create` followed a symlink planted there.
    #[test]
    fn atomic_write_never_follows_a_planted_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let target = dir.path().join("r.json");
        let planted = dir
            .path()
            .join(format!(".r.json.{}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        std::os::unix::fs::symlink(&victim, &target).unwrap();
        write_atomic(&target, b"new").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert!(!std::fs::symlink_metadata(&target).unwrap().is_symlink());
    }

    /// A timeline whose rows are JSON objects but none usable (`body` for `text`)
    /// says why row by row, not only that it is no exposition.
    #[test]
    fn a_timeline_without_a_usable_row_says_why() {
        let text = b"{\"ts_ms\":1,\"body\":\"a 1\"}\n{\"ts_ms\":2,\"body\":\"a 2\"}\n";
        let read = inputs_of_bytes("t.jsonl", text.to_vec(), Default::default());
        assert_eq!(read.scrapes.len(), 1);
        assert_eq!(
            read.warnings[0],
            "t.jsonl: line 1: no `text` (the exposition) in the row (collect-metrics writes it with --keep-raw) (row skipped)"
        );
        // An exposition with a quoted first name is not a timeline: no warnings.
        let quoted = b"{\"a.b\"} 1\n";
        assert!(
            inputs_of_bytes("q.prom", quoted.to_vec(), Default::default())
                .warnings
                .is_empty()
        );
    }

    #[test]
    fn manifests_name_only_plain_relative_paths() {
        let m = br#"{"artifacts":[{"path":"raw/a.txt"},{"path":"../x"},{"path":"/etc/passwd"},{"path":"ok.json"}]}"#;
        assert_eq!(
            listed_artifacts(m),
            ["raw/a.txt", "ok.json", layout::MANIFEST]
        );
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = std::env::temp_dir().join(format!("ig-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("r.json");
        write_atomic(&target, b"one").unwrap();
        write_atomic(&target, b"two").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"two");
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// File names inside a packet directory: the contract between `collect-lmcache`
/// (which writes them) and every command that reads `--packet DIR`.
pub mod layout {
    use crate::pack::model::EvidenceKind;

    pub const MANIFEST: &str = "packet_manifest.json";
    pub const COMPAT_REPORT: &str = "lmcache_compat_report.json";
    /// The packet file of the `index`-th scrape of a role (`engine`, `lmcache`):
    /// `engine_metrics.prom`, then `engine_metrics_2.prom`, …
    pub fn metrics_file(role: &str, index: usize) -> String {
        match index {
            0 => format!("{role}_metrics.prom"),
            n => format!("{role}_metrics_{}.prom", n + 1),
        }
    }

    pub const EVIDENCE: [(EvidenceKind, &str); 7] = [
        (EvidenceKind::Http, "lmcache_http_evidence.json"),
        (EvidenceKind::Logs, "lmcache_log_evidence.json"),
        (EvidenceKind::Trace, "lmcache_trace_evidence.json"),
        (EvidenceKind::Otel, "lmcache_otel_evidence.json"),
        (
            EvidenceKind::TraceReplay,
            "lmcache_trace_replay_evidence.json",
        ),
        (
            EvidenceKind::LookupHash,
            "lmcache_lookup_hash_evidence.json",
        ),
        (EvidenceKind::Launch, "launch_evidence.json"),
    ];
}
