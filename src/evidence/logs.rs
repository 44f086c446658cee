//! Engine and LMCache log files: ANSI-stripped lines classified by the categories a
//! `logs` pack declares, with counts, the first line of each category, a few
//! redacted snippets, the values the pack extracts (the hash seed) and the mode
//! candidates the lines are evidence for.
//!
//! Logs are streamed ([`LogParser::add`] reads any `BufRead` line by line), so the
//! memory a log costs does not grow with its size: a line is kept up to
//! [`LINE_CAP`] bytes, and the evidence keeps counts plus capped snippets and
//! values. Each line is scanned once by the pack's compiled set ([`LogMatcher`]);
//! only the categories it hits run their excludes, only the values it hits their
//! captures. The same pass can write the redacted copy of the log.
//!
//! The categories arrive as data; this module knows no LMCache message.

use super::log_rules::{LogCategoryRule, LogMatcher, LogRules};
use schemars::JsonSchema;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};

/// Snippets kept per category, and their length.
const SNIPPETS: usize = 3;
const SNIPPET_CHARS: usize = 200;
/// Distinct values kept per value name, and their length: enough to show that
/// processes disagree, bounded when every line carries a new value.
pub const MAX_VALUES: usize = 16;
const VALUE_CHARS: usize = 200;
/// Longest line read whole; the rest of a longer line is skipped and counted.
pub const LINE_CAP: usize = 64 * 1024;

/// `schema_version` of the log evidence document.
pub const SCHEMA_VERSION: &str = "inferguard.log-evidence/v1";

/// The log evidence document (`lmcache_log_evidence.json`).
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct LogEvidence {
    /// Always `inferguard.log-evidence/v1` for this layout.
    pub schema_version: String,
    /// `measured` when at least one line was read and classified, else `not_proven`.
    pub claim_status: String,
    pub sources: Vec<LogSource>,
    pub line_count: usize,
    /// Lines per category id (only categories that matched).
    #[schemars(extend("x-inferguard-keys" = "log_category"))]
    pub categories: BTreeMap<String, LogCategory>,
    /// Mode candidates the matching categories prove, sorted.
    pub mode_candidates: Vec<String>,
    /// Values the pack extracts, by name (distinct, in order of appearance; at most
    /// [`MAX_VALUES`] per name, each cut to 200 characters).
    #[schemars(extend("x-inferguard-keys" = "log_value"))]
    pub values: BTreeMap<String, Vec<String>>,
    /// More than one value of the hash seed (the value the logs pack names in
    /// `hash_seed_value`), or none while several logs were read: prefix hashes may
    /// differ between processes.
    pub hash_seed_risk: bool,
    /// Per file: undecodable bytes (replaced), and lines longer than [`LINE_CAP`]
    /// (only their start, up to its last space, was classified).
    pub unreadable: Vec<Unreadable>,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct LogSource {
    pub path: String,
    pub bytes: usize,
    pub lines: usize,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct LogCategory {
    pub count: usize,
    pub description: String,
    /// `file:line` of the first matching line.
    pub first: String,
    pub snippets: Vec<String>,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Unreadable {
    pub path: String,
    pub reason: String,
}

/// Why a log could not be streamed: reading it, or writing its redacted copy.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot read: {0}")]
    Read(std::io::Error),
    #[error("cannot write the redacted copy: {0}")]
    Write(std::io::Error),
}

/// Classifies every line of the given `(path, bytes)` logs (the in-memory form of
/// [`LogParser`]).
pub fn parse_logs(files: &[(String, Vec<u8>)], rules: &LogRules) -> LogEvidence {
    let mut parser = LogParser::new(rules);
    for (path, bytes) in files {
        parser
            .add(path, bytes.as_slice(), None)
            .expect("a slice cannot fail to read and there is no copy to write");
    }
    parser.finish()
}

/// Log evidence built one file at a time.
pub struct LogParser<'r> {
    rules: &'r LogRules,
    ev: LogEvidence,
}

impl<'r> LogParser<'r> {
    pub fn new(rules: &'r LogRules) -> Self {
        LogParser {
            rules,
            ev: LogEvidence {
                schema_version: SCHEMA_VERSION.to_owned(),
                claim_status: "not_proven".to_owned(),
                sources: Vec::new(),
                line_count: 0,
                categories: BTreeMap::new(),
                mode_candidates: Vec::new(),
                values: BTreeMap::new(),
                hash_seed_risk: false,
                unreadable: Vec::new(),
            },
        }
    }

    /// Files added so far.
    pub fn files(&self) -> usize {
        self.ev.sources.len()
    }

    /// Reads the log at `path` from `reader` to its end, classifying each line and,
    /// with `copy`, writing the line redacted (ANSI codes kept) to it. On an error
    /// nothing of this file reaches the evidence.
    pub fn add(
        &mut self,
        path: &str,
        reader: impl BufRead,
        copy: Option<&mut dyn Write>,
    ) -> Result<(), LogError> {
        let scan = scan(self.rules, path, reader, copy)?;
        self.merge(path, scan);
        Ok(())
    }

    /// Adds one file's scan: the same result as had the lines come in one stream.
    fn merge(&mut self, path: &str, scan: FileScan) {
        let ev = &mut self.ev;
        if scan.invalid_utf8 {
            ev.unreadable.push(Unreadable {
                path: path.to_owned(),
                reason: "not valid UTF-8; undecodable bytes were replaced".to_owned(),
            });
        }
        if scan.overlong > 0 {
            ev.unreadable.push(Unreadable {
                path: path.to_owned(),
                reason: format!(
                    "{} line(s) longer than {LINE_CAP} bytes; only their start was read",
                    scan.overlong
                ),
            });
        }
        for (i, cat) in scan.categories.into_iter().enumerate() {
            let Some(cat) = cat else { continue };
            let rule = &self.rules.categories[i];
            let entry = ev.categories.entry(rule.id.clone()).or_insert(LogCategory {
                count: 0,
                description: cat.description,
                first: cat.first,
                snippets: Vec::new(),
            });
            entry.count += cat.count;
            let room = SNIPPETS.saturating_sub(entry.snippets.len());
            entry.snippets.extend(cat.snippets.into_iter().take(room));
            for p in &rule.proves {
                if !ev.mode_candidates.contains(p) {
                    ev.mode_candidates.push(p.clone());
                }
            }
        }
        for (i, found) in scan.values.into_iter().enumerate() {
            if found.is_empty() {
                continue;
            }
            let list = ev.values.entry(self.rules.values[i].0.clone()).or_default();
            for v in found {
                push_distinct(list, v);
            }
        }
        ev.line_count += scan.lines;
        ev.sources.push(LogSource {
            path: path.to_owned(),
            bytes: scan.bytes,
            lines: scan.lines,
        });
    }

    pub fn finish(mut self) -> LogEvidence {
        let ev = &mut self.ev;
        ev.mode_candidates.sort();
        if let Some(seed) = &self.rules.hash_seed_value {
            let seeds = ev.values.get(seed).map_or(0, Vec::len);
            ev.hash_seed_risk = seeds > 1 || (seeds == 0 && ev.sources.len() > 1);
        }
        if ev.line_count > 0 {
            ev.claim_status = "measured".to_owned();
        }
        self.ev
    }
}

/// One file, line by line: what it contributes, holding one line at a time.
fn scan(
    rules: &LogRules,
    path: &str,
    mut reader: impl BufRead,
    mut copy: Option<&mut dyn Write>,
) -> Result<FileScan, LogError> {
    let mut scan = FileScan::new(rules);
    let mut line = LineReader::default();
    let mut scratch = Scratch::default();
    let matcher = rules.matcher();
    while line.read(&mut reader).map_err(LogError::Read)? {
        let text = line.text(&mut scan);
        if let Some(out) = copy.as_deref_mut() {
            write_redacted(out, &text, line.truncated).map_err(LogError::Write)?;
        }
        if let Some(m) = &matcher {
            scan.classify(rules, m, path, &text, &mut scratch);
        } else {
            scan.lines += 1;
        }
    }
    scan.bytes = line.bytes;
    Ok(scan)
}

/// Appends `v` unless present or the list is full.
fn push_distinct(list: &mut Vec<String>, v: String) {
    if list.len() < MAX_VALUES && !list.contains(&v) {
        list.push(v);
    }
}

/// What one file contributed, by category and value index of the rules.
struct FileScan {
    lines: usize,
    bytes: usize,
    invalid_utf8: bool,
    overlong: usize,
    categories: Vec<Option<LogCategory>>,
    values: Vec<Vec<String>>,
}

/// Buffers reused from line to line, so a line that matches nothing allocates
/// nothing.
#[derive(Default)]
struct Scratch {
    stripped: String,
    hits: Vec<bool>,
}

impl FileScan {
    fn new(rules: &LogRules) -> Self {
        FileScan {
            lines: 0,
            bytes: 0,
            invalid_utf8: false,
            overlong: 0,
            categories: vec![None; rules.categories.len()],
            values: vec![Vec::new(); rules.values.len()],
        }
    }

    /// Counts `raw` and records the categories and values it matches.
    fn classify(
        &mut self,
        rules: &LogRules,
        matcher: &LogMatcher,
        path: &str,
        raw: &str,
        scratch: &mut Scratch,
    ) {
        self.lines += 1;
        let line = strip_ansi_into(raw, &mut scratch.stripped);
        if !matcher.hits(line, &mut scratch.hits) {
            return;
        }
        let hits = &scratch.hits;
        for (c, rule) in rules.categories.iter().enumerate() {
            if hits[c] && !matcher.excluded(c, line) {
                self.record(c, rule, path, line);
            }
        }
        for v in 0..rules.values.len() {
            if !hits[rules.categories.len() + v] {
                continue;
            }
            if let Some(m) = matcher.capture(v, line) {
                push_distinct(&mut self.values[v], m.chars().take(VALUE_CHARS).collect());
            }
        }
    }

    fn record(&mut self, c: usize, rule: &LogCategoryRule, path: &str, line: &str) {
        let n = self.lines;
        let entry = self.categories[c].get_or_insert_with(|| LogCategory {
            count: 0,
            description: rule.description.clone(),
            first: format!("{path}:{n}"),
            snippets: Vec::new(),
        });
        entry.count += 1;
        if entry.snippets.len() < SNIPPETS {
            entry.snippets.push(
                crate::redact::line(line)
                    .chars()
                    .take(SNIPPET_CHARS)
                    .collect(),
            );
        }
    }
}

/// One line of the redacted copy; a cut line says so, since its tail is not there.
fn write_redacted(out: &mut dyn Write, line: &str, truncated: bool) -> std::io::Result<()> {
    if crate::redact::may_hold_secret(line) {
        out.write_all(crate::redact::line(line).as_bytes())?;
    } else {
        out.write_all(line.as_bytes())?;
    }
    if truncated {
        write!(
            out,
            " [line cut by inferguard: longer than {LINE_CAP} bytes]"
        )?;
    }
    out.write_all(b"\n")
}

/// Reads lines as `str::lines` splits them (`\n`, or `\r\n`; a last line without
/// an ending still counts), each at most [`LINE_CAP`] bytes.
#[derive(Default)]
struct LineReader {
    buf: Vec<u8>,
    /// The line was longer than the cap.
    truncated: bool,
    /// Bytes read so far, endings included.
    bytes: usize,
}

impl LineReader {
    /// The next line into `buf`; false at the end of the input.
    fn read(&mut self, r: &mut impl BufRead) -> std::io::Result<bool> {
        self.buf.clear();
        let (mut len, mut started, mut last) = (0usize, false, None);
        loop {
            let avail = match r.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                // End of input: a last line without `\n` keeps a `\r`, as in `lines()`.
                self.truncated = len > LINE_CAP;
                return Ok(started);
            }
            started = true;
            let (chunk, used, done) = match memchr::memchr(b'\n', avail) {
                Some(i) => (&avail[..i], i + 1, true),
                None => (avail, avail.len(), false),
            };
            let room = LINE_CAP.saturating_sub(self.buf.len());
            self.buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            len += chunk.len();
            last = chunk.last().copied().or(last);
            r.consume(used);
            self.bytes += used;
            if done {
                let content = len - usize::from(last == Some(b'\r'));
                if self.buf.len() > content {
                    self.buf.pop();
                }
                self.truncated = content > LINE_CAP;
                return Ok(true);
            }
        }
    }

    /// The line as text: invalid UTF-8 replaced (and noted in `scan`); a cut line
    /// ends at its last space, so no half word (a half secret) is kept.
    fn text(&self, scan: &mut FileScan) -> Cow<'_, str> {
        let mut bytes = self.buf.as_slice();
        if self.truncated {
            scan.overlong += 1;
            bytes = &bytes[..memchr::memrchr(b' ', bytes).unwrap_or(0)];
        }
        match std::str::from_utf8(bytes) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => {
                scan.invalid_utf8 = true;
                String::from_utf8_lossy(bytes)
            }
        }
    }
}

/// Removes ANSI escape sequences (CSI `ESC [ … letter` and two-byte escapes).
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    strip_ansi_to(line, &mut out);
    out
}

/// `line` without ANSI escapes, borrowed when it has none (most log lines).
fn strip_ansi_into<'a>(line: &'a str, scratch: &'a mut String) -> &'a str {
    if memchr::memchr(0x1b, line.as_bytes()).is_none() {
        return line;
    }
    scratch.clear();
    strip_ansi_to(line, scratch);
    scratch
}

/// Works on bytes: every byte an escape sequence ends on is ASCII, so the text
/// between sequences is copied whole, as `char`s would have been.
fn strip_ansi_to(line: &str, out: &mut String) {
    let b = line.as_bytes();
    let mut at = 0;
    while let Some(i) = memchr::memchr(0x1b, &b[at..]).map(|i| at + i) {
        out.push_str(&line[at..i]);
        at = match line[i + 1..].chars().next() {
            // CSI: up to and including its final byte (`@` to `~`), or the end.
            Some('[') => b[i + 2..]
                .iter()
                .position(|d| (b'@'..=b'~').contains(d))
                .map_or(b.len(), |j| i + 2 + j + 1),
            // A two-character escape drops the character after ESC.
            Some(c) => i + 1 + c.len_utf8(),
            None => b.len(),
        };
    }
    out.push_str(&line[at..]);
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
        let mut scratch = String::new();
        assert_eq!(strip_ansi_into("\u{1b}[1mbold", &mut scratch), "bold");
        assert_eq!(strip_ansi_into("plain", &mut scratch), "plain");
    }

    /// issue 10, item 10: a file's scan holds bounded snippets and values however
    /// many lines match (the merged evidence is capped again, so this is where an
    /// unbounded list would hide), and the line buffer stays within the cap.
    #[test]
    fn a_file_scan_is_bounded() {
        let rules = crate::pack::Registry::load_strict(&[])
            .expect("shipped packs load")
            .logs;
        let mut log = Vec::new();
        for i in 0..20_000 {
            log.extend_from_slice(
                format!("Stored {i} tokens via nixl PYTHONHASHSEED={i}\n").as_bytes(),
            );
        }
        log.extend(std::iter::repeat_n(b'x', 5 * LINE_CAP));
        let s = scan(&rules, "many.log", log.as_slice(), None).unwrap();
        let hit: Vec<&LogCategory> = s.categories.iter().flatten().collect();
        assert!(
            hit.len() >= 2
                && hit
                    .iter()
                    .all(|c| c.count == 20_000 && c.snippets.len() == SNIPPETS)
        );
        assert!(s.values.iter().all(|v| v.len() <= MAX_VALUES));
        assert_eq!(s.values.iter().map(Vec::len).max(), Some(MAX_VALUES));
        let mut reader = LineReader::default();
        let mut input = &log[log.len() - 5 * LINE_CAP..];
        assert!(reader.read(&mut input).unwrap() && reader.truncated);
        assert!(
            reader.buf.capacity() <= 2 * LINE_CAP,
            "{}",
            reader.buf.capacity()
        );
    }

    /// The stripper as it was, on `char`s: the byte version must agree with it
    /// (issue 10, item 10 keeps ANSI stripping exactly).
    fn strip_ansi_chars(line: &str) -> String {
        let mut out = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c != '\u{1b}' {
                out.push(c);
            } else if chars.next() == Some('[') {
                for d in chars.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn byte_stripper_agrees_with_the_char_stripper() {
        let alphabet: Vec<char> = "\u{1b}[;0123mé€ x@~]".chars().collect();
        let mut x: u64 = 5;
        for _ in 0..50_000 {
            let mut line = String::new();
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            for _ in 0..(x >> 60) + 1 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                line.push(alphabet[(x >> 33) as usize % alphabet.len()]);
            }
            assert_eq!(strip_ansi(&line), strip_ansi_chars(&line), "{line:?}");
        }
    }
}
