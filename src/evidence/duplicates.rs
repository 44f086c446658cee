//! Records read twice in file evidence: the same OTel span (trace id and span id) or
//! the same lookup-hash row, met again in one parse, whether a file was concatenated
//! with itself, passed twice, or passed beside the directory that holds it. The
//! parsers ([`super::otel`], [`super::lookup_hash`]) ask [`Seen`] before they count a
//! record; a record seen before is not counted again and is reported as damage in
//! the document's [`Duplicates`] section, so a repeated input never inflates counts.
//!
//! Memory stays bounded: an identity is remembered as a 64-bit hash with where it was
//! first read (16 bytes), never as the input's strings, and at most
//! [`MAX_REMEMBERED`] identities are remembered; records past that are counted
//! unchecked and said to be. Identities never reach a document, only locations, so
//! nothing read (a chunk hash, a request id) can leak through them.

use super::otel::{FileCursor, SourceLog};
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::hash_map::{Entry, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

/// Most duplicates a document lists; the rest are only counted.
pub const MAX_DUPLICATES_LISTED: usize = 10;

/// Identities remembered per parse: 7/8 of 2^22, the most a hash table of 2^22 slots
/// holds before it doubles, so the table stays at 2^22 slots of 17 bytes, about
/// 72 MB (a 1 GiB file of ~300-byte spans holds about 3.5 million spans).
pub const MAX_REMEMBERED: usize = (1 << 22) / 8 * 7;

/// Records read again in one parse, and records that could not be checked.
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
pub struct Duplicates {
    /// Records that repeat one already read: counted once, at their first reading.
    pub count: u64,
    /// The first [`MAX_DUPLICATES_LISTED`] repeats, in reading order.
    pub listed: Vec<Duplicate>,
    /// Records with nothing to tell them apart (an OTel span without both a trace id
    /// and a span id; a lookup-hash row without a usable `timestamp`): all counted,
    /// none checked, since two of them may be distinct events.
    pub without_identity: u64,
    /// Records read after [`MAX_REMEMBERED`] identities were remembered: counted
    /// without being checked.
    pub not_checked: u64,
}

/// One record read again.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Duplicate {
    pub path: String,
    /// 1-based line; `null` inside a document without line structure.
    pub line: Option<u64>,
    /// JSON pointer to the record within its line or document; `null` when the record
    /// is the whole line.
    pub pointer: Option<String>,
    /// The file where the record was first read.
    pub first_path: String,
    /// Its line there; `null` inside a document without line structure.
    pub first_line: Option<u64>,
}

/// The identities met so far in one parse, and the repeats found.
pub struct Seen {
    first: HashMap<u64, FirstAt, BuildHasherDefault<AsIs>>,
    /// Most identities remembered: [`MAX_REMEMBERED`], smaller in tests.
    limit: usize,
    count: u64,
    listed: Vec<Pending>,
    without_identity: u64,
    not_checked: u64,
}

impl Default for Seen {
    fn default() -> Self {
        Seen::with_limit(MAX_REMEMBERED)
    }
}

/// Where an identity was first read: the index of its file in `sources` and its
/// line (0 when it had none). 32 bits each is enough: files are at most 1 GiB.
#[derive(Clone, Copy)]
struct FirstAt {
    source: u32,
    line: u32,
}

/// The table's hasher: keys are already [`identity`] hashes, evenly spread, so hashing
/// them again would only cost time.
#[derive(Default)]
struct AsIs(u64);

impl Hasher for AsIs {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here; fold anything else in all the same.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A listed repeat; the first file's path is looked up at the end, when every file
/// read is in `sources`.
struct Pending {
    path: String,
    line: Option<u64>,
    pointer: Option<String>,
    first: FirstAt,
}

impl Seen {
    fn with_limit(limit: usize) -> Seen {
        Seen {
            first: HashMap::default(),
            limit,
            count: 0,
            listed: Vec::new(),
            without_identity: 0,
            not_checked: 0,
        }
    }

    /// Whether the record at `line` / `pointer` of `file` is met for the first time
    /// and is to be counted. A record with no `identity` is always counted (and
    /// tallied); a repeat is recorded and is not.
    pub fn first_time(
        &mut self,
        file: &FileCursor<'_>,
        line: Option<u64>,
        pointer: &str,
        identity: Option<u64>,
    ) -> bool {
        let Some(identity) = identity else {
            self.without_identity += 1;
            return true;
        };
        // Full: only look up. (`entry` would grow the table even for a key it then
        // does not insert.)
        if self.first.len() >= self.limit {
            return match self.first.get(&identity) {
                Some(first) => self.repeat(file, line, pointer, *first),
                None => {
                    self.not_checked += 1;
                    true
                }
            };
        }
        match self.first.entry(identity) {
            Entry::Occupied(first) => {
                let first = *first.get();
                self.repeat(file, line, pointer, first)
            }
            Entry::Vacant(slot) => {
                slot.insert(FirstAt {
                    source: u32::try_from(file.source_index()).unwrap_or(u32::MAX),
                    line: line.and_then(|l| u32::try_from(l).ok()).unwrap_or(0),
                });
                true
            }
        }
    }

    /// Records a repeat; always `false` (not to be counted).
    fn repeat(
        &mut self,
        file: &FileCursor<'_>,
        line: Option<u64>,
        pointer: &str,
        first: FirstAt,
    ) -> bool {
        self.count += 1;
        if self.listed.len() < MAX_DUPLICATES_LISTED {
            self.listed.push(Pending {
                path: file.path.to_owned(),
                line,
                pointer: (!pointer.is_empty()).then(|| pointer.to_owned()),
                first,
            });
        }
        false
    }

    /// The report, once every file is in `log.sources`.
    pub fn finish(self, log: &SourceLog) -> Duplicates {
        let listed = self
            .listed
            .into_iter()
            .map(|p| Duplicate {
                path: p.path,
                line: p.line,
                pointer: p.pointer,
                first_path: log
                    .sources
                    .get(p.first.source as usize)
                    .map_or_else(String::new, |s| s.path.clone()),
                first_line: (p.first.line > 0).then_some(u64::from(p.first.line)),
            })
            .collect();
        Duplicates {
            count: self.count,
            listed,
            without_identity: self.without_identity,
            not_checked: self.not_checked,
        }
    }
}

/// A 64-bit identity for a record made of `parts`. Two different records share one
/// with a chance of about n²/2^65 among n records (under 1 in 2 million at
/// [`MAX_REMEMBERED`]); the cost of such a collision is one record reported as a
/// repeat and not counted, visible in the document, against 16 bytes per record
/// instead of the ids themselves. `DefaultHasher::new` has fixed keys, so a parse is
/// reproducible.
pub fn identity(parts: &[&[u8]]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    for part in parts {
        // The length keeps `ab|c` and `a|bc` apart.
        h.write_usize(part.len());
        h.write(part);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Past its limit the table is only read: known identities are still found,
    /// new ones are counted unchecked, and the table does not grow.
    #[test]
    fn a_full_table_still_finds_repeats_and_does_not_grow() {
        let mut seen = Seen::with_limit(3);
        let mut log = SourceLog::default();
        let mut verdicts = Vec::new();
        let mut full_capacity = 0;
        log.read_bytes("ids", b"x", |file, _| {
            for (line, id) in [1u64, 2, 3, 4, 1, 4, 5].into_iter().enumerate() {
                if line == 3 {
                    full_capacity = seen.first.capacity();
                }
                let id = Some(identity(&[&id.to_le_bytes()]));
                verdicts.push(seen.first_time(file, Some(line as u64 + 1), "", id));
            }
            verdicts.push(seen.first_time(file, Some(8), "/0", None));
        });
        assert_eq!(verdicts, [true, true, true, true, false, true, true, true]);
        assert_eq!(seen.first.len(), 3);
        assert_eq!(seen.first.capacity(), full_capacity);
        let report = seen.finish(&log);
        assert_eq!(
            (report.count, report.not_checked, report.without_identity),
            (1, 3, 1)
        );
        let repeat = &report.listed[0];
        assert_eq!((repeat.line, repeat.first_line), (Some(5), Some(1)));
        assert_eq!(repeat.first_path, "ids");
    }

    #[test]
    fn identity_keeps_part_boundaries() {
        assert_ne!(identity(&[b"ab", b"c"]), identity(&[b"a", b"bc"]));
        assert_eq!(identity(&[b"ab", b"c"]), identity(&[b"ab", b"c"]));
    }
}
