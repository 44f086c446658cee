//! Helpers shared by the integration tests. Each test binary uses the part it
//! needs, so unused-item warnings are expected per binary.
#![allow(dead_code)]

pub mod log_gen;

use std::path::Path;

/// Compares `actual` with `tests/golden/<name>` (the tool version redacted), or
/// writes it when `INFERGUARD_BLESS` is set. Goldens are reviewed files: bless,
/// then read the diff.
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    let actual = mask_mtimes(&actual.replace(env!("CARGO_PKG_VERSION"), "<version>"));
    if std::env::var_os("INFERGUARD_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("goldens live in a folder"))
            .expect("golden folder");
        std::fs::write(&path, &actual).expect("golden written");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing golden {}; bless with INFERGUARD_BLESS=1 cargo test",
            path.display()
        )
    });
    for (i, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
        assert_eq!(
            e,
            a,
            "golden {name} differs at line {} (bless with INFERGUARD_BLESS=1 after review)",
            i + 1
        );
    }
    assert_eq!(
        expected.lines().count(),
        actual.lines().count(),
        "golden {name} differs in length"
    );
}

/// A scrape time taken from a file's mtime is when the file was checked out, not
/// part of the report under test: `"time": <mtime>` in sorted JSON reports (the
/// `time` line comes right before its `"time_source": "file_mtime"`).
fn mask_mtimes(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::with_capacity(text.len());
    for (i, line) in lines.iter().enumerate() {
        let next = lines.get(i + 1).copied().unwrap_or_default();
        match line.split_once("\"time\": ") {
            Some((indent, _)) if next.contains("\"time_source\": \"file_mtime\"") => {
                out.push_str(&format!("{indent}\"time\": \"<mtime>\","));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// A deterministic generator for the never-panic loops (no randomness crate; the
/// same inputs every run, so a failure reproduces).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// A number in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// `base` with one to four random edits: a byte replaced, the tail cut, a run removed.
pub fn mutate(rng: &mut Lcg, base: &[u8]) -> Vec<u8> {
    let mut out = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        if out.is_empty() {
            break;
        }
        let at = rng.below(out.len());
        match rng.below(3) {
            0 => out[at] = rng.next() as u8,
            1 => out.truncate(at),
            _ => {
                let end = (at + rng.below(32)).min(out.len());
                out.drain(at..end);
            }
        }
    }
    out
}

/// Runs the binary from the repository root with no standard input, and kills it
/// when it has not finished within `limit` (`None` then): a test of an input that
/// used to hang (a FIFO, a dripping server) fails instead of hanging. Output goes
/// to anonymous files, so a chatty child never blocks on a full pipe.
pub fn run_bounded(args: &[&str], limit: std::time::Duration) -> Option<std::process::Output> {
    use std::io::{Read as _, Seek as _};
    let (mut out, mut err) = (
        tempfile::tempfile().expect("temp file"),
        tempfile::tempfile().expect("temp file"),
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_inferguard"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(err.try_clone().expect("dup"))
        .spawn()
        .expect("the binary runs");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let read = |f: &mut std::fs::File| {
        let mut v = Vec::new();
        f.rewind().expect("rewind");
        f.read_to_end(&mut v).expect("read back");
        v
    };
    Some(std::process::Output {
        status,
        stdout: read(&mut out),
        stderr: read(&mut err),
    })
}

/// Runs the pipeline over in-memory scrapes `(source, text)`, each its own file.
pub fn evaluate_scrapes(
    registry: &inferguard::pack::Registry,
    scrapes: &[(&str, &[u8])],
    options: &inferguard::eval::EvalOptions,
) -> inferguard::eval::pipeline::Evaluation {
    let inputs = scrapes
        .iter()
        .map(|(source, text)| inferguard::evidence::Input {
            source: (*source).to_owned(),
            endpoint: (*source).to_owned(),
            bytes: text.to_vec(),
            origin: inferguard::evidence::Origin::default(),
        })
        .collect();
    let deployment = inferguard::deployment::build(inputs, &Default::default());
    inferguard::eval::pipeline::evaluate(registry, &deployment, options)
}
