//! Reading the evidence files a rule test case names (`fixture:` and
//! `context.evidence`), for `rules validate` and `rules test` only: a normal run
//! loads packs without touching them.
//!
//! A pack is someone else's YAML, so a fixture path is confined before anything is
//! opened: relative, without `..`, resolved under the pack's project root
//! (`<pack>/../..`) and still inside it once symlinks are resolved; a regular file
//! (a FIFO would block, a device never ends) of at most [`MAX_FIXTURE_BYTES`]. The
//! shipped `fixtures/evidence/` embedded in the binary are the fallback, so a pack
//! copied anywhere still finds them.
//!
//! The checks run on metadata before the file is opened, because opening a FIFO
//! already blocks; the opened file is checked again and read through a cap, so one
//! swapped in between is refused or cut, not read without bound.

use include_dir::{include_dir, Dir};
use std::io::Read as _;
use std::path::{Component, Path, PathBuf};

static EMBEDDED_FIXTURES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/fixtures/evidence");

/// The largest fixture read; the shipped ones are a few kilobytes.
pub const MAX_FIXTURE_BYTES: u64 = 16 * 1024 * 1024;

/// The text of fixture `path` of a pack whose project root is `root` (`None` for a
/// pack embedded in the binary); the error says why it was refused or not found.
pub(super) fn read(root: Option<&Path>, path: &str) -> Result<String, String> {
    check_relative(path)?;
    let mut tried = Vec::new();
    if let Some(root) = root {
        match resolve(root, path) {
            Ok(real) => return read_capped(&real, path),
            Err(Lookup::Refused(why)) => return Err(why),
            Err(Lookup::Missing(what)) => tried.push(what),
        }
    }
    if let Some(text) = path
        .strip_prefix("fixtures/evidence/")
        .and_then(|rel| EMBEDDED_FIXTURES.get_file(rel))
        .and_then(|f| f.contents_utf8())
    {
        return Ok(text.to_owned());
    }
    tried.push("not among the shipped fixtures/evidence/".to_owned());
    Err(format!("fixture `{path}` not found ({})", tried.join("; ")))
}

enum Lookup {
    /// Not there (the embedded fixtures are tried next).
    Missing(String),
    /// There, but not to be read.
    Refused(String),
}

/// Only plain relative components: no root, drive prefix or `..`.
fn check_relative(path: &str) -> Result<(), String> {
    if path.trim().is_empty() {
        return Err("fixture path is empty".to_owned());
    }
    for c in Path::new(path).components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Err(format!(
                "fixture `{path}` climbs out with `..`: name it relative to the project root, without `..`"
            )),
            Component::RootDir | Component::Prefix(_) => return Err(format!(
                "fixture `{path}` is an absolute path: name it relative to the pack's project root (`<pack>/../..`)"
            )),
        }
    }
    Ok(())
}

/// The real path of `root/path`, once it is known to stay under `root` and to be a
/// regular file no larger than the cap.
fn resolve(root: &Path, path: &str) -> Result<PathBuf, Lookup> {
    let root = root
        .canonicalize()
        .map_err(|e| Lookup::Missing(format!("project root {}: {e}", root.display())))?;
    let full = root.join(path);
    let real = full
        .canonicalize()
        .map_err(|e| Lookup::Missing(format!("{}: {e}", full.display())))?;
    if !real.starts_with(&root) {
        return Err(Lookup::Refused(format!(
            "fixture `{path}` resolves to {}, outside the project root {}: a fixture must stay inside its pack's project (no symlink out)",
            real.display(),
            root.display()
        )));
    }
    let meta = std::fs::metadata(&real)
        .map_err(|e| Lookup::Missing(format!("{}: {e}", real.display())))?;
    if !meta.is_file() {
        return Err(Lookup::Refused(format!(
            "fixture `{path}` is not a regular file (it is a {}): name a plain file",
            file_kind(&meta.file_type())
        )));
    }
    if meta.len() > MAX_FIXTURE_BYTES {
        return Err(Lookup::Refused(too_large(path)));
    }
    Ok(real)
}

/// Reads at most the cap (a file that grew after the check is refused, not read
/// whole), after checking the opened file is still a regular one.
fn read_capped(real: &Path, path: &str) -> Result<String, String> {
    let cannot =
        |e: std::io::Error| format!("fixture `{path}`: cannot read {}: {e}", real.display());
    let file = std::fs::File::open(real).map_err(cannot)?;
    if !file.metadata().map_err(cannot)?.is_file() {
        return Err(format!(
            "fixture `{path}` changed into something other than a regular file while being read"
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FIXTURE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_FIXTURE_BYTES {
        return Err(too_large(path));
    }
    String::from_utf8(bytes).map_err(|e| format!("fixture `{path}` is not UTF-8 text: {e}"))
}

fn too_large(path: &str) -> String {
    format!(
        "fixture `{path}` is larger than {} MiB: keep test evidence small",
        MAX_FIXTURE_BYTES / (1024 * 1024)
    )
}

fn file_kind(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if t.is_fifo() {
            return "FIFO";
        }
        if t.is_block_device() || t.is_char_device() {
            return "device";
        }
        if t.is_socket() {
            return "socket";
        }
    }
    if t.is_dir() {
        "directory"
    } else {
        "special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// issue 10, item 4: refused before any file is opened.
    #[test]
    fn absolute_and_climbing_paths_are_refused() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for (path, why) in [
            ("/dev/zero", "absolute"),
            ("/etc/passwd", "absolute"),
            ("../../../etc/passwd", "`..`"),
            ("fixtures/../../etc/passwd", "`..`"),
            ("", "empty"),
        ] {
            for r in [Some(root), None] {
                let e = read(r, path).expect_err(path);
                assert!(e.contains(why), "{path}: {e}");
            }
        }
    }

    #[test]
    fn directories_are_refused_and_shipped_fixtures_read() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let e = read(Some(root), "fixtures/evidence").unwrap_err();
        assert!(e.contains("not a regular file (it is a directory)"), "{e}");
        let on_disk = read(Some(root), "fixtures/evidence/vllm/kv-pressure.prom").unwrap();
        let embedded = read(None, "fixtures/evidence/vllm/kv-pressure.prom").unwrap();
        assert_eq!(on_disk, embedded);
        assert!(on_disk.contains("vllm:"), "{on_disk}");
    }
}
