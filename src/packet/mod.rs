//! The on-disk side of evidence: reading a packet directory's scrapes and writing
//! every output atomically (temp file in the same directory, then rename), so a
//! crash or Ctrl-C never leaves a half-written report.

pub mod fetch;
pub mod http;

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// File endings read as Prometheus expositions when a directory is given.
pub const SCRAPE_EXTENSIONS: &[&str] = &["prom", "metrics", "txt", "om"];

/// Writes `contents` to `path` atomically: a sibling temp file, fsync, rename.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("output");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
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
