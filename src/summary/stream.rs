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
use crate::evidence::aiperf::{Schemas, METADATA_FILE};
use crate::evidence::{timeline, Input, Origin};
use crate::pack::Registry;
use crate::packet::{self, InputError};
use std::io::{BufRead, Read as _, Seek as _};
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
    feed(
        &mut s,
        &files,
        memory
            .into_iter()
            .map(|i| (Unit::Memory(Box::new(i)), None)),
        &mut times,
    )?;
    for (i, f) in files.iter().enumerate() {
        let rows = rows_of(i, &f.path)?;
        feed(&mut s, &files, rows, &mut times)?;
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
    feed(
        &mut again,
        &files,
        units.into_iter().map(|u| (u.1, None)),
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

/// The rows of a timeline file, lazily: offset, length and line of each, with the
/// bytes read on the way (a second pass reads them again by offset).
fn rows_of(
    file: usize,
    path: &str,
) -> Result<impl Iterator<Item = (Unit, Option<Vec<u8>>)>, InputError> {
    let f = std::fs::File::open(path).map_err(|source| InputError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, f);
    let mut offset = 0u64;
    let mut line = 0usize;
    // Rows of one timeline are alike in size: the last one's length sizes the next
    // buffer, so a 200 KB row is not grown (and copied) a dozen times.
    let mut hint = 4096;
    Ok(std::iter::from_fn(move || loop {
        let mut buf = Vec::with_capacity(hint);
        let n = reader.read_until(b'\n', &mut buf).ok()?;
        hint = hint.max(n + n / 8);
        if n == 0 {
            return None;
        }
        line += 1;
        let at = offset;
        offset += n as u64;
        if !buf.iter().all(u8::is_ascii_whitespace) {
            let unit = Unit::Row {
                file,
                offset: at,
                len: n,
                line,
            };
            return Some((unit, Some(buf)));
        }
    }))
}

/// Reads, prepares (in parallel) and adds units in order, batch by batch;
/// records each unit's scrape time for a second pass.
fn feed(
    s: &mut Summarizer,
    files: &[TimelineFile],
    units: impl Iterator<Item = (Unit, Option<Vec<u8>>)>,
    times: &mut Vec<(f64, Unit)>,
) -> Result<(), InputError> {
    let mut open: Vec<Option<std::fs::File>> = files.iter().map(|_| None).collect();
    let mut bad: Vec<usize> = vec![0; files.len()];
    let mut units = units.peekable();
    let preparer = s.preparer();
    // One batch is prepared on the other threads while the one before is added.
    std::thread::scope(|scope| -> Result<(), InputError> {
        let mut pending: Option<std::thread::ScopedJoinHandle<Vec<(Unit, Outcome)>>> = None;
        loop {
            let batch = next_batch(&mut units, files, &mut open)?;
            let next = (!batch.is_empty()).then(|| {
                let preparer = &preparer;
                scope.spawn(move || prepare_all(preparer, files, batch))
            });
            let Some(done) = pending.take() else {
                if next.is_none() {
                    return Ok(());
                }
                pending = next;
                continue;
            };
            let prepared = done.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            add_prepared(s, files, prepared, times, &mut bad);
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

/// The next units to prepare: up to [`BATCH_INPUTS`] or [`BATCH_BYTES`].
fn next_batch(
    units: &mut std::iter::Peekable<impl Iterator<Item = (Unit, Option<Vec<u8>>)>>,
    files: &[TimelineFile],
    open: &mut [Option<std::fs::File>],
) -> Result<Vec<(Unit, Vec<u8>)>, InputError> {
    let mut batch = Vec::new();
    let mut bytes = 0;
    while let Some((u, data)) = units.next_if(|_| batch.len() < BATCH_INPUTS && bytes < BATCH_BYTES)
    {
        let data = match data {
            Some(data) => data,
            None => read_unit(&u, files, open)?,
        };
        bytes += data.len();
        batch.push((u, data));
    }
    Ok(batch)
}

/// Adds prepared units in order; a bad row is named (the first few per file).
fn add_prepared(
    s: &mut Summarizer,
    files: &[TimelineFile],
    prepared: Vec<(Unit, Outcome)>,
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

/// A row's bytes (a memory input has its own).
fn read_unit(
    u: &Unit,
    files: &[TimelineFile],
    open: &mut [Option<std::fs::File>],
) -> Result<Vec<u8>, InputError> {
    let Unit::Row {
        file, offset, len, ..
    } = u
    else {
        return Ok(Vec::new());
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
    let mut data = vec![0; *len];
    f.read_exact(&mut data).map_err(err)?;
    Ok(data)
}

type Outcome = Result<super::Prepared, (usize, usize, String)>;

/// Each unit parsed and prepared, on every core, in order.
fn prepare_all(
    s: &super::Preparer,
    files: &[TimelineFile],
    batch: Vec<(Unit, Vec<u8>)>,
) -> Vec<(Unit, Outcome)> {
    let outcomes = crate::eval::par_map(&batch, |(u, data)| match u {
        Unit::Row { file, line, .. } => row_input(&files[*file], *line, data)
            .map(|input| s.prepare(input))
            .map_err(|reason| (*file, *line, reason)),
        Unit::Memory(input) => Ok(s.prepare((**input).clone())),
    });
    batch.into_iter().map(|(u, _)| u).zip(outcomes).collect()
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
