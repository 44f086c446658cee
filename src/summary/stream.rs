//! `summarize`'s inputs as a stream of scrapes. Timeline JSONL files (and AIPerf's
//! export) are read a batch of rows at a time, the rows of a batch parsed on every
//! core and added in file order, so a 1.3 GB timeline never sits in memory. Other
//! inputs (scrape files, folders, packets) are read as every command reads them.
//!
//! Statistics need each endpoint's scrapes in time order. Inputs are fed in the
//! order their times suggest (timeline rows as written, files by the time their
//! name, manifest or mtime gives); a scrape older than its endpoint's latest stops
//! nothing but marks the run, which is then read a second time, every input in the
//! order of the scrape times the first pass found.

use super::{Summarizer, SummaryOptions};
use crate::evidence::metrics_export::{Schemas, METADATA_FILE};
use crate::evidence::{timeline, Input, Origin};
use crate::pack::Registry;
use crate::packet::{self, InputError};
use std::io::{Read as _, Seek as _};
use std::ops::Range;
use std::path::Path;

/// Rows (or files) parsed in parallel before they are added in order.
const BATCH_INPUTS: usize = 64;
/// Bytes of text per batch, whatever the row count: memory stays bounded.
const BATCH_BYTES: usize = 16 << 20;
/// Bad timeline rows named one by one per file; the rest are counted.
const BAD_ROWS_NAMED: usize = 20;

/// One input of the stream: a timeline row (read again from its offset on a second
/// pass) or an input already in memory.
enum Unit {
    Row {
        file: usize,
        offset: u64,
        len: usize,
        line: usize,
    },
    Memory(Box<Input>),
}

/// A timeline file being streamed.
struct TimelineFile {
    path: String,
    origin: Origin,
    schemas: Schemas,
}

/// Summarizes every input; argument order never changes the result.
pub fn summarize(
    registry: &Registry,
    args: &[String],
    options: &SummaryOptions,
) -> Result<super::output::Summary, InputError> {
    let mut args: Vec<&String> = args.iter().collect();
    args.sort();
    args.dedup();
    let (timelines, others): (Vec<&String>, Vec<&String>) =
        args.into_iter().partition(|a| is_timeline_file(a));
    let read = if others.is_empty() {
        packet::Read::default()
    } else {
        packet::read_inputs(&others.into_iter().cloned().collect::<Vec<_>>())?
    };
    let files: Vec<TimelineFile> = timelines.iter().map(|p| timeline_file(p)).collect();
    let mut memory: Vec<Input> = read.scrapes;
    memory.sort_by(|a, b| hint(a).total_cmp(&hint(b)).then(a.source.cmp(&b.source)));

    let mut s = Summarizer::new(registry, options.clone());
    s.inputs = timelines.iter().map(|p| p.to_string()).collect();
    s.inputs.extend(memory.iter().map(|i| i.source.clone()));
    s.warnings.extend(read.warnings);
    let mut times: Vec<(f64, Unit)> = Vec::new();
    let mut memory = memory.into_iter().map(|i| Unit::Memory(Box::new(i)));
    feed(&mut s, &files, in_order(&mut memory, &files), &mut times)?;
    for (i, f) in files.iter().enumerate() {
        let mut rows = RowReader::open(i, &f.path)?;
        feed(&mut s, &files, |batch| rows.fill(batch), &mut times)?;
    }
    if !s.disordered {
        return Ok(s.finish());
    }
    // Second pass, every input in the order of its scrape time.
    let mut again = Summarizer::new(registry, options.clone());
    again.inputs = std::mem::take(&mut s.inputs);
    again
        .warnings
        .push("scrapes were not in time order: read a second time, in time order".to_owned());
    let mut units = times;
    units.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut units = units.into_iter().map(|u| u.1);
    feed(
        &mut again,
        &files,
        in_order(&mut units, &files),
        &mut Vec::new(),
    )?;
    Ok(again.finish())
}

/// A regular file whose first non-blank byte opens a JSON object.
fn is_timeline_file(path: &str) -> bool {
    let p = Path::new(path);
    if path == "-" || !p.is_file() || crate::evidence::check_regular(p).is_err() {
        return false;
    }
    let mut head = [0u8; 4096];
    let n = std::fs::File::open(p)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    n > 0 && timeline::looks_like_timeline(&head[..n])
}

fn timeline_file(path: &str) -> TimelineFile {
    // AIPerf writes the schemas of its slim rows beside the export.
    let meta = Path::new(path).with_file_name(METADATA_FILE);
    let schemas = std::fs::read(&meta)
        .ok()
        .and_then(|b| Schemas::parse(&b).ok())
        .unwrap_or_default();
    TimelineFile {
        path: path.to_owned(),
        origin: Origin::of_file(Path::new(path)),
        schemas,
    }
}

/// Units read and waiting to be prepared, with their bytes in one buffer (a
/// row's bytes are a range of it; a memory input has none). The buffer is kept
/// from batch to batch.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    units: Vec<(Unit, Range<usize>)>,
}

impl Batch {
    /// Whether `bytes` bytes of units make a full batch.
    fn full(&self, bytes: usize) -> bool {
        self.units.len() >= BATCH_INPUTS || bytes >= BATCH_BYTES
    }
}

/// Bytes read from a timeline at a time, straight into a batch's buffer.
const BLOCK: usize = 1 << 20;

/// A timeline file's rows, a batch at a time: read in blocks into the batch's
/// buffer, every row a range of it, so no row has a buffer (or a copy) of its own.
struct RowReader {
    file: usize,
    path: String,
    reader: std::fs::File,
    /// Bytes read past the batch's last row: the start of the next batch.
    carry: Vec<u8>,
    /// Offset and line of the next row.
    offset: u64,
    line: usize,
}

impl RowReader {
    fn open(file: usize, path: &str) -> Result<Self, InputError> {
        let reader = std::fs::File::open(path).map_err(|source| InputError::Read {
            path: path.to_owned(),
            source,
        })?;
        Ok(RowReader {
            file,
            path: path.to_owned(),
            reader,
            carry: Vec::new(),
            offset: 0,
            line: 0,
        })
    }

    /// The next rows, up to a full batch (none at the end of the file). A row
    /// ends at a newline, or at the end of the file.
    fn fill(&mut self, batch: &mut Batch) -> Result<(), InputError> {
        batch.bytes.clear();
        batch.units.clear();
        batch.bytes.append(&mut self.carry);
        let (mut start, mut searched) = (0, 0);
        while !batch.full(start) {
            let end = match memchr::memchr(b'\n', &batch.bytes[searched..]) {
                Some(n) => searched + n + 1,
                None => {
                    searched = batch.bytes.len();
                    if self.read_block(&mut batch.bytes)? {
                        continue;
                    }
                    if start == batch.bytes.len() {
                        break;
                    }
                    batch.bytes.len()
                }
            };
            self.row(batch, start..end);
            (start, searched) = (end, end);
        }
        self.carry.extend_from_slice(&batch.bytes[start..]);
        batch.bytes.truncate(start);
        Ok(())
    }

    /// Appends a block of the file; `false` at its end.
    fn read_block(&mut self, bytes: &mut Vec<u8>) -> Result<bool, InputError> {
        bytes.reserve(BLOCK);
        let n = (&mut self.reader)
            .take(BLOCK as u64)
            .read_to_end(bytes)
            .map_err(|source| InputError::Read {
                path: self.path.clone(),
                source,
            })?;
        Ok(n > 0)
    }

    /// One line of the file; a blank one is counted, not kept.
    fn row(&mut self, batch: &mut Batch, range: Range<usize>) {
        let len = range.len();
        let (offset, line) = (self.offset, self.line + 1);
        (self.offset, self.line) = (offset + len as u64, line);
        if !batch.bytes[range.clone()]
            .iter()
            .all(u8::is_ascii_whitespace)
        {
            let unit = Unit::Row {
                file: self.file,
                offset,
                len,
                line,
            };
            batch.units.push((unit, range));
        }
    }
}

/// Batches of units in the given order (memory inputs; every input of a second
/// pass), rows read again by their offsets.
fn in_order<'u>(
    units: &'u mut impl Iterator<Item = Unit>,
    files: &'u [TimelineFile],
) -> impl FnMut(&mut Batch) -> Result<(), InputError> + 'u {
    let mut open: Vec<Option<std::fs::File>> = files.iter().map(|_| None).collect();
    move |batch| {
        batch.bytes.clear();
        batch.units.clear();
        while !batch.full(batch.bytes.len()) {
            let Some(u) = units.next() else {
                break;
            };
            let start = batch.bytes.len();
            read_unit(&u, files, &mut open, &mut batch.bytes)?;
            let end = batch.bytes.len();
            batch.units.push((u, start..end));
        }
        Ok(())
    }
}

/// Reads, prepares (in parallel) and adds units in order, batch by batch (`fill`
/// gives the next, empty at the end); records each unit's scrape time for a
/// second pass.
fn feed(
    s: &mut Summarizer,
    files: &[TimelineFile],
    mut fill: impl FnMut(&mut Batch) -> Result<(), InputError>,
    times: &mut Vec<(f64, Unit)>,
) -> Result<(), InputError> {
    let mut bad: Vec<usize> = vec![0; files.len()];
    let preparer = s.preparer();
    // One batch is prepared on the other threads while the one before is added;
    // the buffer of a batch added is filled again.
    std::thread::scope(|scope| -> Result<(), InputError> {
        let mut spare = Batch::default();
        let mut pending: Option<std::thread::ScopedJoinHandle<(Batch, Vec<Outcome>)>> = None;
        loop {
            fill(&mut spare)?;
            let next = (!spare.units.is_empty()).then(|| {
                let (preparer, batch) = (&preparer, std::mem::take(&mut spare));
                scope.spawn(move || prepare_all(preparer, files, batch))
            });
            if let Some(done) = pending.take() {
                let (mut batch, outcomes) =
                    done.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
                let units = batch.units.drain(..).map(|(u, _)| u);
                add_prepared(s, files, units.zip(outcomes), times, &mut bad);
                spare = batch;
            }
            pending = next;
            if pending.is_none() {
                return Ok(());
            }
        }
    })?;
    for (f, n) in files.iter().zip(bad) {
        if n > BAD_ROWS_NAMED {
            let more = n - BAD_ROWS_NAMED;
            s.warnings
                .push(format!("{}: {more} more bad rows skipped", f.path));
        }
    }
    Ok(())
}

/// Adds prepared units in order; a bad row is named (the first few per file).
fn add_prepared(
    s: &mut Summarizer,
    files: &[TimelineFile],
    prepared: impl Iterator<Item = (Unit, Outcome)>,
    times: &mut Vec<(f64, Unit)>,
    bad: &mut [usize],
) {
    for (unit, p) in prepared {
        match p {
            Ok(p) => {
                times.push((p.first_time().unwrap_or(f64::NEG_INFINITY), unit));
                s.add(p);
            }
            Err((file, line, reason)) => {
                bad[file] += 1;
                if bad[file] <= BAD_ROWS_NAMED {
                    let path = &files[file].path;
                    s.warnings
                        .push(format!("{path}: line {line}: {reason} (row skipped)"));
                }
            }
        }
    }
}

/// Appends a row's bytes, read again by offset (a memory input has its own).
fn read_unit(
    u: &Unit,
    files: &[TimelineFile],
    open: &mut [Option<std::fs::File>],
    bytes: &mut Vec<u8>,
) -> Result<(), InputError> {
    let Unit::Row {
        file, offset, len, ..
    } = u
    else {
        return Ok(());
    };
    let path = &files[*file].path;
    let err = |source| InputError::Read {
        path: path.clone(),
        source,
    };
    if open[*file].is_none() {
        open[*file] = Some(std::fs::File::open(path).map_err(err)?);
    }
    let f = open[*file].as_mut().expect("opened above");
    f.seek(std::io::SeekFrom::Start(*offset)).map_err(err)?;
    let start = bytes.len();
    bytes.resize(start + len, 0);
    f.read_exact(&mut bytes[start..]).map_err(err)?;
    Ok(())
}

type Outcome = Result<super::Prepared, (usize, usize, String)>;

/// Each unit of a batch parsed and prepared, on every core, in order.
fn prepare_all(s: &super::Preparer, files: &[TimelineFile], batch: Batch) -> (Batch, Vec<Outcome>) {
    let outcomes = crate::eval::par_map(&batch.units, |(u, range)| match u {
        Unit::Row { file, line, .. } => {
            row_input(&files[*file], *line, &batch.bytes[range.clone()])
                .map(|input| s.prepare(input))
                .map_err(|reason| (*file, *line, reason))
        }
        Unit::Memory(input) => Ok(s.prepare((**input).clone())),
    });
    (batch, outcomes)
}

/// A timeline row as the input every command makes of it.
fn row_input(f: &TimelineFile, line: usize, data: &[u8]) -> Result<Input, String> {
    let row = timeline::parse_row(data, &f.schemas)?;
    let endpoint = Path::new(&f.path)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(&f.path)
        .to_owned();
    Ok(Input {
        source: format!("{}:{line}", f.path),
        endpoint,
        bytes: row.text.into_bytes(),
        origin: Origin {
            row_time: row.time,
            row_endpoint: row.endpoint,
            row_file: Some(f.path.clone()),
            ..f.origin.clone()
        },
    })
}

/// The time an input's origin suggests, before it is parsed.
fn hint(i: &Input) -> f64 {
    let o = &i.origin;
    o.row_time
        .or_else(|| {
            o.file_name
                .as_deref()
                .and_then(crate::deployment::time_in_file_name)
        })
        .or(o.manifest_time)
        .or(o.fetched_at)
        .or(o.mtime)
        .unwrap_or(f64::NEG_INFINITY)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows come out whole and in order across block and batch boundaries: a row
    /// longer than a block, more rows than a batch, blank lines counted but not
    /// kept, a last row without a newline; each one's offset reads it again.
    #[test]
    fn rows_span_blocks_and_batches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let mut lines: Vec<String> = (0..150).map(|i| format!("{{\"n\":{i}}}")).collect();
        lines.insert(3, format!("{{\"long\":\"{}\"}}", "x".repeat(BLOCK * 3 / 2)));
        lines.insert(70, "  ".to_owned());
        lines.insert(71, String::new());
        let text = lines.join("\n");
        std::fs::write(&path, &text).unwrap();

        let path = path.display().to_string();
        let mut reader = RowReader::open(0, &path).unwrap();
        let mut batch = Batch::default();
        let mut rows = Vec::new();
        loop {
            reader.fill(&mut batch).unwrap();
            if batch.units.is_empty() {
                break;
            }
            assert!(batch.units.len() <= BATCH_INPUTS);
            for (unit, range) in batch.units.drain(..) {
                let Unit::Row {
                    offset, len, line, ..
                } = unit
                else {
                    panic!("a row");
                };
                assert_eq!(range.len(), len);
                let again = &text.as_bytes()[offset as usize..offset as usize + len];
                assert_eq!(&batch.bytes[range], again);
                let row = std::str::from_utf8(again).unwrap();
                rows.push((line, row.trim_end_matches('\n').to_owned()));
            }
        }
        let want: Vec<(usize, String)> = (1..)
            .zip(lines)
            .filter(|(_, l)| !l.trim().is_empty())
            .collect();
        assert_eq!(rows, want);
    }
}
