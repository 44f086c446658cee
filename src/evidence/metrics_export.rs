//! AIPerf's server-metrics export (`server_metrics_export.jsonl`): one JSON object
//! per scrape of one endpoint (`endpoint_url`, `timestamp_ns`, `metrics`), read by
//! turning each row back into the exposition text it was scraped from, so every
//! command reads it with the one Prometheus parser.
//!
//! Two row shapes exist. The full one gives each family its `type` and samples
//! with `labels` and a `value` or a `histogram` (`buckets` by upper bound, `sum`,
//! `count`). The slim one maps a family straight to its samples and gives a
//! histogram's bucket counts as an array in the order of the `bucket_labels` that
//! `server_metrics_metadata.json` (beside the export) records per endpoint; without
//! that file a slim histogram's buckets cannot be placed and only its `_sum` and
//! `_count` are kept. AIPerf names a counter family without `_total`; the sample is
//! written with it, as the exporter served it.

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Per endpoint URL, per family: the type and bucket upper bounds the metadata file
/// records.
#[derive(Debug, Default, Clone)]
pub struct Schemas(BTreeMap<String, BTreeMap<String, FamilySchema>>);

#[derive(Debug, Default, Clone)]
pub struct FamilySchema {
    pub kind: Option<String>,
    pub buckets: Vec<String>,
    pub quantiles: Vec<String>,
}

/// The file AIPerf writes beside the export.
pub const METADATA_FILE: &str = "server_metrics_metadata.json";

impl Schemas {
    /// Reads `server_metrics_metadata.json`: `{"endpoints": {url: {"metric_schemas":
    /// {family: {type, bucket_labels, quantile_labels}}}}}`.
    pub fn parse(bytes: &[u8]) -> Result<Schemas, String> {
        let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON: {e}"))?;
        let endpoints = doc
            .get("endpoints")
            .and_then(Value::as_object)
            .ok_or("no `endpoints` object")?;
        let mut out = BTreeMap::new();
        for (url, meta) in endpoints {
            let families = meta
                .get("metric_schemas")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), family_schema(v)))
                        .collect()
                })
                .unwrap_or_default();
            out.insert(url.clone(), families);
        }
        Ok(Schemas(out))
    }

    fn family(&self, url: &str, family: &str) -> Option<&FamilySchema> {
        self.0.get(url)?.get(family)
    }
}

fn family_schema(v: &Value) -> FamilySchema {
    let strings = |k: &str| -> Vec<String> {
        v.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    FamilySchema {
        kind: v.get("type").and_then(Value::as_str).map(str::to_owned),
        buckets: strings("bucket_labels"),
        quantiles: strings("quantile_labels"),
    }
}

/// Whether a parsed row is an AIPerf record (a `metrics` object, no `text`).
pub fn is_record(doc: &Value) -> bool {
    doc.get("text").is_none() && doc.get("metrics").is_some_and(Value::is_object)
}

/// The exposition text of one AIPerf record, and how many samples could not be
/// written (slim histograms without their bucket labels).
pub fn to_exposition(doc: &Value, schemas: &Schemas) -> Result<(String, usize), String> {
    let metrics = doc
        .get("metrics")
        .and_then(Value::as_object)
        .ok_or("no `metrics` object")?;
    let url = doc
        .get("endpoint_url")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut w = Writer::default();
    for (family, body) in metrics {
        let schema = schemas.family(url, family);
        match body {
            // Full shape: {type, help, samples: [...]}.
            Value::Object(f) => {
                let kind = f.get("type").and_then(Value::as_str);
                let samples = f.get("samples").and_then(Value::as_array);
                w.family(family, kind, samples.map_or(&[][..], Vec::as_slice), schema);
            }
            // Slim shape: the samples straight away.
            Value::Array(samples) => {
                let kind = schema.and_then(|s| s.kind.as_deref());
                w.family(family, kind, samples, schema);
            }
            _ => {
                return Err(format!(
                    "`metrics.{family}` is neither an object nor a list"
                ))
            }
        }
    }
    Ok((w.text, w.unplaced))
}

#[derive(Default)]
struct Writer {
    text: String,
    unplaced: usize,
}

impl Writer {
    fn family(
        &mut self,
        family: &str,
        kind: Option<&str>,
        samples: &[Value],
        schema: Option<&FamilySchema>,
    ) {
        if !valid_name(family) {
            self.unplaced += samples.len();
            return;
        }
        // Without a type (a slim row and no metadata), the samples' shape tells.
        let shaped = |k: &str| samples.iter().any(|s| s.get(k).is_some());
        let kind = kind.map(str::to_ascii_lowercase).or_else(|| {
            ["histogram", "summary"]
                .into_iter()
                .find(|k| shaped(k))
                .map(str::to_owned)
        });
        let known = |k: &&str| matches!(*k, "counter" | "gauge" | "histogram" | "summary" | "info");
        let declared = kind.as_deref().filter(known).unwrap_or("untyped");
        let _ = writeln!(self.text, "# TYPE {family} {declared}");
        for s in samples.iter().filter_map(Value::as_object) {
            let labels = labels_of(s);
            match declared {
                "histogram" => self.histogram(family, &labels, s, schema),
                "summary" => self.summary(family, &labels, s, schema),
                "counter" if !family.ends_with("_total") => {
                    self.sample(&format!("{family}_total"), &labels, s.get("value"))
                }
                _ => self.sample(family, &labels, s.get("value")),
            }
        }
    }

    fn histogram(
        &mut self,
        family: &str,
        labels: &str,
        s: &Map<String, Value>,
        schema: Option<&FamilySchema>,
    ) {
        let bucket = format!("{family}_bucket");
        match s.get("histogram") {
            // Full shape: {buckets: {le: count}, sum, count}.
            Some(Value::Object(h)) => {
                let mut buckets: Vec<(f64, &str, &Value)> = h
                    .get("buckets")
                    .and_then(Value::as_object)
                    .map(|b| {
                        b.iter()
                            .filter_map(|(le, v)| Some((parse_bound(le)?, le.as_str(), v)))
                            .collect()
                    })
                    .unwrap_or_default();
                buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                for (_, le, v) in buckets {
                    self.sample(&bucket, &with_le(labels, le), Some(v));
                }
                self.sample(&format!("{family}_sum"), labels, h.get("sum"));
                self.sample(&format!("{family}_count"), labels, h.get("count"));
                return;
            }
            // Slim shape: counts in the order of the schema's bucket labels.
            Some(Value::Array(counts)) => {
                match schema.filter(|s| s.buckets.len() == counts.len()) {
                    Some(schema) => {
                        for (le, v) in schema.buckets.iter().zip(counts) {
                            self.sample(&bucket, &with_le(labels, le), Some(v));
                        }
                    }
                    None => self.unplaced += counts.len(),
                }
            }
            _ => {}
        }
        self.sample(&format!("{family}_sum"), labels, s.get("sum"));
        self.sample(&format!("{family}_count"), labels, s.get("count"));
    }

    fn summary(
        &mut self,
        family: &str,
        labels: &str,
        s: &Map<String, Value>,
        schema: Option<&FamilySchema>,
    ) {
        let quantile = |l: &str, q: &str| with_key(l, "quantile", q);
        match s.get("summary") {
            Some(Value::Object(q)) => {
                let quantiles = q.get("quantiles").and_then(Value::as_object);
                for (k, v) in quantiles.into_iter().flatten() {
                    self.sample(family, &quantile(labels, k), Some(v));
                }
                self.sample(&format!("{family}_sum"), labels, q.get("sum"));
                self.sample(&format!("{family}_count"), labels, q.get("count"));
                return;
            }
            Some(Value::Array(values)) => {
                match schema.filter(|s| s.quantiles.len() == values.len()) {
                    Some(schema) => {
                        for (k, v) in schema.quantiles.iter().zip(values) {
                            self.sample(family, &quantile(labels, k), Some(v));
                        }
                    }
                    None => self.unplaced += values.len(),
                }
            }
            _ => {}
        }
        self.sample(&format!("{family}_sum"), labels, s.get("sum"));
        self.sample(&format!("{family}_count"), labels, s.get("count"));
    }

    fn sample(&mut self, name: &str, labels: &str, value: Option<&Value>) {
        let Some(v) = value.and_then(Value::as_f64) else {
            return;
        };
        let _ = if labels.is_empty() {
            writeln!(self.text, "{name} {v:?}")
        } else {
            writeln!(self.text, "{name}{{{labels}}} {v:?}")
        };
    }
}

/// `k="v",…` in the record's order, values escaped as the text format wants; keys
/// that are not valid label names are left out.
fn labels_of(s: &Map<String, Value>) -> String {
    let mut out = String::new();
    for (k, v) in s
        .get("labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let (true, Some(v)) = (valid_name(k), v.as_str()) {
            out = with_key(&out, k, v);
        }
    }
    out
}

fn with_le(labels: &str, le: &str) -> String {
    with_key(labels, "le", le)
}

fn with_key(labels: &str, key: &str, value: &str) -> String {
    let escaped = value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    if labels.is_empty() {
        format!("{key}=\"{escaped}\"")
    } else {
        format!("{labels},{key}=\"{escaped}\"")
    }
}

fn parse_bound(le: &str) -> Option<f64> {
    match le {
        "+Inf" | "Inf" | "inf" => Some(f64::INFINITY),
        _ => le.parse().ok(),
    }
}

fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_and_slim_records_become_exposition_text() {
        let full: Value = serde_json::from_str(
            r#"{"endpoint_url":"http://h:8000/metrics","timestamp_ns":1765000000000000000,"metrics":{
              "vllm:prompt_tokens":{"type":"counter","help":"","samples":[{"labels":{"model_name":"m"},"value":10}]},
              "vllm:e2e_request_latency_seconds":{"type":"histogram","help":"","samples":[{"labels":{"model_name":"m"},
                 "histogram":{"buckets":{"1.0":2,"+Inf":3,"0.5":1},"sum":2.5,"count":3}}]}}}"#,
        )
        .unwrap();
        let (text, unplaced) = to_exposition(&full, &Schemas::default()).unwrap();
        assert_eq!(unplaced, 0);
        assert!(text.contains("vllm:prompt_tokens_total{model_name=\"m\"} 10.0\n"));
        let b = text.find("le=\"0.5\"").unwrap();
        assert!(
            b < text.find("le=\"1.0\"").unwrap() && text.contains("_count{model_name=\"m\"} 3.0")
        );

        let meta = br#"{"endpoints":{"http://h:8000/metrics":{"metric_schemas":{"lat":{"type":"histogram","bucket_labels":["0.5","+Inf"]}}}}}"#;
        let slim: Value = serde_json::from_str(
            r#"{"endpoint_url":"http://h:8000/metrics","timestamp_ns":1,"metrics":{"lat":[{"histogram":[1,4],"sum":3.0,"count":4}]}}"#,
        )
        .unwrap();
        let (text, _) = to_exposition(&slim, &Schemas::parse(meta).unwrap()).unwrap();
        assert!(text.contains("lat_bucket{le=\"+Inf\"} 4.0\n"), "{text}");
        // Without the metadata the buckets cannot be placed: counted, not guessed.
        let (text, unplaced) = to_exposition(&slim, &Schemas::default()).unwrap();
        assert_eq!((unplaced, text.contains("_bucket")), (2, false));
    }
}
