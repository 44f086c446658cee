//! Evidence parsers, one per input kind, and reading inputs from files, directories
//! and standard input. Each parser records where every item came from and what it
//! could not read; none of them knows about rules.

pub mod duplicates;
pub mod http;
pub mod launch;
pub mod lct;
pub mod log_rules;
pub mod logs;
pub mod lookup_hash;
pub mod metrics_export;
pub mod otel;
pub mod prometheus;
pub mod replay;
pub mod timeline;

use std::path::Path;

/// One input read into memory.
#[derive(Clone)]
pub struct Input {
    /// The path as the user gave it, `-` for standard input, a URL, or
    /// `FILE:ROW` for a timeline row.
    pub source: String,
    /// Endpoint name: the file stem, or `stdin`.
    pub endpoint: String,
    pub bytes: Vec<u8>,
    /// Where the bytes came from, for the endpoint's identity and the scrape's time.
    pub origin: Origin,
}

/// What is known about where and when an input was scraped, besides its content.
/// Times are Unix seconds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Origin {
    /// The part the endpoint plays, as the operator said (`engine`, `lmcache`).
    pub role: Option<String>,
    /// The URL of a live scrape.
    pub url: Option<String>,
    /// When a live scrape was fetched.
    pub fetched_at: Option<f64>,
    /// A timeline row's time and endpoint, and the timeline file (as given).
    pub row_time: Option<f64>,
    pub row_endpoint: Option<String>,
    pub row_file: Option<String>,
    /// The source and scrape time a packet manifest records for the file.
    pub manifest_source: Option<String>,
    pub manifest_time: Option<f64>,
    /// The file's modification time.
    pub mtime: Option<f64>,
    /// The file name (without folders), for a Unix time in it.
    pub file_name: Option<String>,
}

impl Origin {
    /// The origin of a file on disk: its name and modification time.
    pub fn of_file(path: &Path) -> Origin {
        let mtime = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64());
        Origin {
            mtime,
            file_name: path.file_name().and_then(|n| n.to_str()).map(str::to_owned),
            ..Origin::default()
        }
    }
}

/// How much of an input is looked at to tell what it is.
const SNIFF_BYTES: usize = 64 * 1024;

/// Why bytes that should be text (an exposition, a log) are something else, told
/// before any parsing so the error says what the file is and how to fix it:
/// compressed, UTF-16, binary, or text with CR-only line endings. `None` for text.
pub fn not_text(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
    // The common case, decided in one pass: printable ASCII, tabs and LF only.
    let plain = |b: &u8| (0x20..0x7f).contains(b) || *b == b'\n' || *b == b'\t';
    // Whole chunks without an early exit: the compiler turns the test into vector
    // code, and text (almost always) is read to its end anyway.
    let all_plain = |c: &[u8]| c.iter().fold(true, |ok, b| ok & plain(b));
    if head.chunks(256).all(all_plain) {
        return None;
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return Some("gzip-compressed data; decompress it first (gunzip)".to_owned());
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Some("zstd-compressed data; decompress it first (unzstd)".to_owned());
    }
    if head.starts_with(&[0xff, 0xfe]) || head.starts_with(&[0xfe, 0xff]) || utf16_shaped(head) {
        return Some("UTF-16 text; convert it to UTF-8 (iconv -f UTF-16 -t UTF-8)".to_owned());
    }
    let control = String::from_utf8_lossy(head)
        .chars()
        .filter(|c| *c == '\u{FFFD}' || (c.is_control() && !matches!(c, '\n' | '\r' | '\t')))
        .count();
    if control * 100 > head.len().max(1) || head.contains(&0) {
        return Some("binary data, not text".to_owned());
    }
    let cr_only = memchr::memchr(b'\r', head).is_some() && memchr::memchr(b'\n', bytes).is_none();
    if cr_only {
        return Some(
            "line endings are CR only (classic Mac); convert them to LF (tr '\\r' '\\n')"
                .to_owned(),
        );
    }
    None
}

/// Why bytes cannot be a Prometheus exposition at a glance: [`not_text`], or text
/// that is plainly JSON or an HTML page (an API answer or an error page where a
/// scrape was expected).
pub fn not_exposition(bytes: &[u8]) -> Option<String> {
    if let Some(why) = not_text(bytes) {
        return Some(why);
    }
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        Some(b'{' | b'[') => Some("JSON, not exposition text".to_owned()),
        Some(b'<') => Some("an HTML or XML page, not exposition text".to_owned()),
        _ => None,
    }
}

/// Why a scrape body cannot be used, after reading it: [`not_exposition`], or
/// text in which not one line reads as a sample or metadata (an error page
/// served as a 200, e.g. `upstream connect error …`).
pub fn unusable_scrape(bytes: &[u8]) -> Option<String> {
    if let Some(why) = not_exposition(bytes) {
        return Some(format!("not a Prometheus exposition: {why}"));
    }
    let expo = prometheus::parse(bytes, &prometheus::ParseOptions::default());
    prometheus::not_an_exposition(&expo)
}

/// ASCII text as UTF-16 has a NUL in every other byte.
fn utf16_shaped(head: &[u8]) -> bool {
    let pairs = head.len() / 2;
    let nul_odd = head
        .chunks_exact(2)
        .filter(|p| p[0] != 0 && p[1] == 0)
        .count();
    let nul_even = head
        .chunks_exact(2)
        .filter(|p| p[0] == 0 && p[1] != 0)
        .count();
    pairs >= 4 && (nul_odd.max(nul_even) * 10 >= pairs * 8)
}

/// Refuses what is not a regular file (a FIFO would block every read, a device
/// never ends) before opening it; `-` (stdin) is the one exception, handled by the
/// callers.
pub fn check_regular(path: &Path) -> std::io::Result<()> {
    let meta = std::fs::metadata(path)?;
    if meta.is_file() {
        return Ok(());
    }
    let what = if meta.is_dir() {
        "a directory"
    } else {
        "not a regular file (a FIFO, socket or device)"
    };
    Err(std::io::Error::other(what))
}

/// Reads a regular file whole; anything else is refused with a reason.
pub fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    check_regular(path)?;
    std::fs::read(path)
}
