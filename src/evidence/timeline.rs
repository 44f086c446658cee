//! Timeline JSONL: one JSON object per line, each one scrape of one endpoint —
//! a time (`ts_ms`, `timestamp_ms`, `timestamp_ns` or `time` in seconds), an endpoint
//! (`endpoint`, `endpoint_url` or `url`) and the exposition text (`text`).
//! `gen_exposition.py --timeline K --jsonl` writes this shape. AIPerf's
//! `server_metrics_export.jsonl` rows (`endpoint_url`, `timestamp_ns`, `metrics`)
//! are read too, their metrics written back as exposition text ([`super::aiperf`]).

use serde_json::Value;

/// One timeline row: a scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// 1-based line number in the file.
    pub line: usize,
    /// Unix seconds.
    pub time: Option<f64>,
    pub endpoint: Option<String>,
    pub text: String,
    /// Samples of an AIPerf row that could not be written back (slim histograms
    /// without their bucket labels).
    pub unplaced: usize,
}

/// A line that is not a usable row, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRow {
    pub line: usize,
    pub reason: String,
}

/// Whether a file looks like a timeline (its first non-blank byte opens a JSON
/// object).
pub fn looks_like_timeline(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// Reads every row; bad lines are reported and skipped.
pub fn parse(bytes: &[u8]) -> (Vec<Row>, Vec<BadRow>) {
    let mut rows = Vec::new();
    let mut bad = Vec::new();
    for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse_row(line, &super::metrics_export::Schemas::default()) {
            Ok(mut r) => {
                r.line = n + 1;
                rows.push(r);
            }
            Err(reason) => bad.push(BadRow {
                line: n + 1,
                reason,
            }),
        }
    }
    (rows, bad)
}

/// One row (its `line` left 0); `schemas` places the buckets of AIPerf's slim rows.
pub fn parse_row(line: &[u8], schemas: &super::metrics_export::Schemas) -> Result<Row, String> {
    let mut doc: Value = serde_json::from_slice(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let (text, unplaced) = if super::metrics_export::is_record(&doc) {
        super::metrics_export::to_exposition(&doc, schemas)?
    } else {
        match doc.get_mut("text").map(Value::take) {
            Some(Value::String(t)) => (t, 0),
            _ => return Err(no_text(&doc)),
        }
    };
    let time = time_of(&doc)?;
    let endpoint = ["endpoint", "endpoint_url", "url"]
        .iter()
        .find_map(|k| {
            doc.get(*k)
                .and_then(Value::as_str)
                .filter(|e| !e.is_empty())
        })
        .map(str::to_owned);
    Ok(Row {
        line: 0,
        time,
        endpoint,
        text,
        unplaced,
    })
}

/// Why a row has no exposition: a scrape that failed (its `error` class, as
/// `collect-metrics` records it), or a timeline written without the text.
fn no_text(doc: &Value) -> String {
    match doc.get("error").and_then(Value::as_str) {
        Some(class) => format!("a failed scrape (`error`: {class}), no exposition text"),
        None => "no `text` (the exposition) in the row (collect-metrics writes it with --keep-raw)"
            .to_owned(),
    }
}

/// The row's time in seconds from the first time field it has; a field that is
/// there but not a number is an error, not a row without a time.
fn time_of(doc: &Value) -> Result<Option<f64>, String> {
    const FIELDS: [(&str, f64, &str); 4] = [
        ("ts_ms", 1e3, "milliseconds"),
        ("timestamp_ms", 1e3, "milliseconds"),
        ("timestamp_ns", 1e9, "nanoseconds"),
        ("time", 1.0, "seconds"),
    ];
    let Some((key, scale, unit)) = FIELDS.into_iter().find(|f| doc.get(f.0).is_some()) else {
        return Ok(None);
    };
    match doc[key].as_f64() {
        Some(t) => Ok(Some(t / scale)),
        None => Err(format!("`{key}` is not a number of {unit}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_bad_lines() {
        let text = b"{\"scrape\":0,\"ts_ms\":1765000000000,\"endpoint\":\"10.0.0.1:8000\",\"text\":\"a 1\\n\"}\n\nnot json\n{\"time\":5}\n";
        let (rows, bad) = parse(text);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].time, Some(1_765_000_000.0));
        assert_eq!(rows[0].endpoint.as_deref(), Some("10.0.0.1:8000"));
        assert_eq!((rows[0].line, rows[0].text.as_str()), (1, "a 1\n"));
        assert_eq!(bad.iter().map(|b| b.line).collect::<Vec<_>>(), [3, 4]);
    }

    /// A failed scrape's row says so instead of "no text".
    #[test]
    fn a_failed_scrape_row_names_its_error() {
        let (_, bad) = parse(b"{\"ts_ms\":1,\"endpoint\":\"e\",\"error\":\"timeout\"}\n");
        assert_eq!(
            bad[0].reason,
            "a failed scrape (`error`: timeout), no exposition text"
        );
    }

    /// An empty endpoint names nothing: the next field, else none.
    #[test]
    fn an_empty_endpoint_is_no_endpoint() {
        let (rows, _) = parse(b"{\"endpoint\":\"\",\"url\":\"http://h:1/metrics\",\"text\":\"a 1\"}\n{\"endpoint\":\"\",\"text\":\"a 1\"}\n");
        assert_eq!(rows[0].endpoint.as_deref(), Some("http://h:1/metrics"));
        assert_eq!(rows[1].endpoint, None);
    }

    /// A time that is there but not a number is a bad row, not a row without a
    /// time (which would take the file's mtime, silently).
    #[test]
    fn a_time_that_is_not_a_number_is_a_bad_row() {
        let (rows, bad) = parse(b"{\"ts_ms\":\"NaN\",\"text\":\"a 1\"}\n{\"time\":null,\"text\":\"a 1\"}\n{\"text\":\"a 1\"}\n");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].line, 3);
        assert_eq!(bad[0].reason, "`ts_ms` is not a number of milliseconds");
        assert_eq!(bad[1].reason, "`time` is not a number of seconds");
    }
}
