//! Evidence parsers, one per input kind, and reading inputs from files, directories
//! and standard input. Each parser records where every item came from and what it
//! could not read; none of them knows about rules.

pub mod duplicates;
pub mod launch;
pub mod lct;
pub mod logs;
pub mod lookup_hash;
pub mod otel;
pub mod prometheus;
pub mod replay;

use std::io::Read as _;
use std::path::Path;

/// One input read into memory.
pub struct Input {
    /// The path as the user gave it, `-` for standard input.
    pub source: String,
    /// Endpoint name: the file stem, or `stdin`.
    pub endpoint: String,
    pub bytes: Vec<u8>,
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

/// Reads files, directories (their scrape files) and `-`.
pub fn read_inputs(args: &[String]) -> Result<Vec<Input>, InputError> {
    let mut out = Vec::new();
    for arg in args {
        if arg == "-" {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|source| InputError::Read {
                    path: "-".to_owned(),
                    source,
                })?;
            out.push(Input {
                source: "-".to_owned(),
                endpoint: "stdin".to_owned(),
                bytes,
            });
            continue;
        }
        let path = Path::new(arg);
        if path.is_dir() {
            let files = crate::packet::scrape_files(path).map_err(|source| InputError::Read {
                path: arg.clone(),
                source,
            })?;
            if files.is_empty() {
                return Err(InputError::EmptyDir { path: arg.clone() });
            }
            for f in files {
                out.push(read_file(&f.display().to_string())?);
            }
        } else {
            out.push(read_file(arg)?);
        }
    }
    Ok(out)
}

fn read_file(path: &str) -> Result<Input, InputError> {
    let bytes = std::fs::read(path).map_err(|source| InputError::Read {
        path: path.to_owned(),
        source,
    })?;
    let endpoint = Path::new(path)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(path)
        .to_owned();
    Ok(Input {
        source: path.to_owned(),
        endpoint,
        bytes,
    })
}

/// A free-text line (a log snippet) with credentials replaced: URL passwords and
/// `Authorization` values (`launch::scrub`), `NAME=value` where the name is a
/// secret (`HF_TOKEN=…`, `API_KEY=…`), and the value after a secret flag
/// (`--api-key …`).
pub fn redact_line(line: &str) -> String {
    let (scrubbed, _) = launch::scrub(line);
    let mut out: Vec<String> = Vec::new();
    let mut redact_next = false;
    for word in scrubbed.split(' ') {
        if redact_next && !word.is_empty() {
            out.push("<redacted>".to_owned());
            redact_next = false;
            continue;
        }
        if let Some((name, value)) = word.split_once('=') {
            let bare = name.trim_start_matches('-');
            if launch::is_secret_name(bare) && !value.is_empty() {
                out.push(format!("{name}=<redacted>"));
                continue;
            }
        }
        if let Some(flag) = word.strip_prefix("--") {
            redact_next = launch::is_secret_name(flag);
        }
        out.push(word.to_owned());
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::redact_line;

    #[test]
    fn secrets_in_free_text_are_redacted() {
        let line =
            "launch: vllm serve m --api-key sk-SECRET1 HF_TOKEN=hf_SECRET2 url=http://u:pw3@host/x";
        let red = redact_line(line);
        for secret in ["sk-SECRET1", "hf_SECRET2", "pw3"] {
            assert!(!red.contains(secret), "{red}");
        }
        assert!(
            red.contains("--api-key <redacted>") && red.contains("HF_TOKEN=<redacted>"),
            "{red}"
        );
        assert_eq!(
            redact_line("Stored 256 tokens in 0.010 seconds"),
            "Stored 256 tokens in 0.010 seconds"
        );
    }
}
