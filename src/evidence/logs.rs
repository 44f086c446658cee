//! Engine and LMCache log files: ANSI-stripped lines classified by the categories a
//! `logs` pack declares, with counts, the first line of each category, a few
//! redacted snippets, the values the pack extracts (`PYTHONHASHSEED`) and the mode
//! candidates the lines are evidence for.
//!
//! The categories arrive as data; this module knows no LMCache message.

use crate::pack::compat::LogRules;
use serde::Serialize;
use std::collections::BTreeMap;

/// Snippets kept per category, and their length.
const SNIPPETS: usize = 3;
const SNIPPET_CHARS: usize = 200;

#[derive(Clone, Debug, Serialize)]
pub struct LogEvidence {
    pub schema_version: String,
    /// `measured` when at least one line was read and classified, else `not_proven`.
    pub claim_status: String,
    pub sources: Vec<LogSource>,
    pub line_count: usize,
    /// Lines per category id (only categories that matched).
    pub categories: BTreeMap<String, LogCategory>,
    /// Mode candidates the matching categories prove, sorted.
    pub mode_candidates: Vec<String>,
    /// Values the pack extracts, by name (distinct, in order of appearance).
    pub values: BTreeMap<String, Vec<String>>,
    /// More than one `PYTHONHASHSEED` value, or none while several logs were read:
    /// prefix hashes may differ between processes.
    pub hash_seed_risk: bool,
    pub unreadable: Vec<Unreadable>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LogSource {
    pub path: String,
    pub bytes: usize,
    pub lines: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct LogCategory {
    pub count: usize,
    pub description: String,
    /// `file:line` of the first matching line.
    pub first: String,
    pub snippets: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Unreadable {
    pub path: String,
    pub reason: String,
}

/// Classifies every line of the given `(path, bytes)` logs.
pub fn parse_logs(files: &[(String, Vec<u8>)], rules: &LogRules) -> LogEvidence {
    let mut ev = LogEvidence {
        schema_version: "inferguard.log-evidence/v1".to_owned(),
        claim_status: "not_proven".to_owned(),
        sources: Vec::new(),
        line_count: 0,
        categories: BTreeMap::new(),
        mode_candidates: Vec::new(),
        values: BTreeMap::new(),
        hash_seed_risk: false,
        unreadable: Vec::new(),
    };
    for (path, bytes) in files {
        // Logs are text; bytes that are not UTF-8 are replaced, never a reason to stop.
        let text = String::from_utf8_lossy(bytes);
        if text.contains('\u{FFFD}') && !bytes.is_empty() {
            ev.unreadable.push(Unreadable {
                path: path.clone(),
                reason: "not valid UTF-8; undecodable bytes were replaced".to_owned(),
            });
        }
        let mut lines = 0;
        for (n, raw) in text.lines().enumerate() {
            lines += 1;
            let line = strip_ansi(raw);
            for cat in &rules.categories {
                if cat.patterns.iter().any(|r| r.is_match(&line))
                    && !cat.exclude.iter().any(|r| r.is_match(&line))
                {
                    let entry =
                        ev.categories
                            .entry(cat.def.id.clone())
                            .or_insert_with(|| LogCategory {
                                count: 0,
                                description: cat.def.description.clone(),
                                first: format!("{path}:{}", n + 1),
                                snippets: Vec::new(),
                            });
                    entry.count += 1;
                    if entry.snippets.len() < SNIPPETS {
                        entry.snippets.push(
                            crate::redact::line(&line)
                                .chars()
                                .take(SNIPPET_CHARS)
                                .collect(),
                        );
                    }
                    for p in &cat.def.proves {
                        if !ev.mode_candidates.contains(p) {
                            ev.mode_candidates.push(p.clone());
                        }
                    }
                }
            }
            for (name, re) in &rules.values {
                if let Some(v) = re.captures(&line).and_then(|c| c.get(1)) {
                    let list = ev.values.entry(name.clone()).or_default();
                    if !list.iter().any(|x| x == v.as_str()) {
                        list.push(v.as_str().to_owned());
                    }
                }
            }
        }
        ev.line_count += lines;
        ev.sources.push(LogSource {
            path: path.clone(),
            bytes: bytes.len(),
            lines,
        });
    }
    ev.mode_candidates.sort();
    let seeds = ev.values.get("python_hash_seed").map_or(0, Vec::len);
    ev.hash_seed_risk = seeds > 1 || (seeds == 0 && files.len() > 1);
    if ev.line_count > 0 {
        ev.claim_status = "measured".to_owned();
    }
    ev
}

/// Removes ANSI escape sequences (CSI `ESC [ … letter` and two-byte escapes).
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                for d in chars.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            }
            Some(_) | None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_is_stripped() {
        assert_eq!(
            strip_ansi("\u{1b}[32m[t] LMCache INFO:\u{1b}[0m Stored 256 tokens"),
            "[t] LMCache INFO: Stored 256 tokens"
        );
        assert_eq!(strip_ansi("plain"), "plain");
        assert_eq!(strip_ansi("\u{1b}"), "");
    }
}
