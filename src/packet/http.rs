//! LMCache HTTP evidence: GETs on the read-only routes of the route table (pack
//! data), current path first and legacy ones when it answers 404, each endpoint
//! classified healthy / unhealthy / unknown; routes the table marks destructive or
//! sensitive are never called and are listed as skipped.

use super::fetch::{get, FetchError, FetchLimits};
use crate::pack::model::{HttpRouteDef, Safety};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Serialize)]
pub struct HttpEvidence {
    pub schema_version: String,
    /// `measured` when at least one endpoint answered.
    pub claim_status: String,
    pub base_url: Option<String>,
    pub endpoints: BTreeMap<String, HttpEndpoint>,
    pub destructive_skipped: Vec<SkippedRoute>,
    pub sensitive_skipped: Vec<SkippedRoute>,
}

#[derive(Clone, Debug, Serialize)]
pub struct HttpEndpoint {
    /// `healthy`, `unhealthy` or `unknown`.
    pub status: String,
    /// The path (or file) that answered.
    pub path: Option<String>,
    pub tried: Vec<Tried>,
    pub http_status: Option<u16>,
    /// The answer, bounded (long lists and strings cut) and with secret-named
    /// values redacted; plain text answers are a string.
    pub fields: Option<Value>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Tried {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_class: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SkippedRoute {
    pub route: String,
    pub method: String,
    pub path: String,
    /// `destructive_skipped` or `sensitive_skipped`.
    pub status: String,
}

/// One failure, for the manifest's `scrape_errors`.
#[derive(Clone, Debug, Serialize)]
pub struct HttpError {
    pub route: String,
    pub source: String,
    pub error_class: String,
    pub error: String,
}

/// Where each route's answer comes from.
pub struct HttpSources<'a> {
    pub base_url: Option<&'a str>,
    pub thread_name: Option<&'a str>,
    /// `route id → file` answers saved earlier.
    pub files: &'a [(String, Vec<u8>, String)],
    /// `route id → URL` overriding the base URL.
    pub urls: &'a [(String, String)],
}

/// What the collection found: the evidence, the failures, and the raw answers by
/// route (the `metrics` answer is the LMCache scrape when none was given).
pub struct Collected {
    pub evidence: HttpEvidence,
    pub errors: Vec<HttpError>,
    pub bodies: Vec<(String, Vec<u8>)>,
}

/// The skipped-route lists of a route table and the shipped floor (a shipped
/// forbidden route an override pack dropped is still listed).
pub fn skipped(
    routes: &[HttpRouteDef],
    floor: &[HttpRouteDef],
) -> (Vec<SkippedRoute>, Vec<SkippedRoute>) {
    let forbidden = crate::pack::routes::forbidden_paths(routes, floor);
    let list = |safety: Safety, status: &str| {
        forbidden
            .iter()
            .filter(|(r, _)| r.safety == safety)
            .map(|(r, p)| SkippedRoute {
                route: r.id.clone(),
                method: r.method.clone(),
                path: (*p).to_owned(),
                status: status.to_owned(),
            })
            .collect::<Vec<_>>()
    };
    (
        list(Safety::Destructive, "destructive_skipped"),
        list(Safety::Sensitive, "sensitive_skipped"),
    )
}

/// `floor` is the shipped route table ([`crate::pack::Registry::http_route_floor`]).
pub fn collect(
    routes: &[HttpRouteDef],
    floor: &[HttpRouteDef],
    sources: &HttpSources,
    limits: &FetchLimits,
) -> Collected {
    let (destructive_skipped, sensitive_skipped) = skipped(routes, floor);
    let mut endpoints = BTreeMap::new();
    let mut errors = Vec::new();
    let mut bodies = Vec::new();
    // The loader already refuses a pack that loosens a shipped route; the one place
    // that sends requests checks again (GET, read_only, nothing stricter in the
    // floor), so no route table can get a forbidden route called.
    for route in routes
        .iter()
        .filter(|r| crate::pack::routes::may_call(r, floor))
    {
        if let Some((_, bytes, path)) = sources.files.iter().find(|(id, _, _)| *id == route.id) {
            let (status, fields, err) = classify(&route.id, 200, bytes);
            if let Some(e) = err {
                errors.push(HttpError {
                    route: route.id.clone(),
                    source: path.clone(),
                    error_class: e.0,
                    error: e.1,
                });
            }
            bodies.push((route.id.clone(), bytes.clone()));
            endpoints.insert(
                route.id.clone(),
                HttpEndpoint {
                    status,
                    path: Some(path.clone()),
                    tried: Vec::new(),
                    http_status: None,
                    fields,
                },
            );
            continue;
        }
        let candidates: Vec<String> = match sources.urls.iter().find(|(id, _)| *id == route.id) {
            Some((_, url)) => vec![url.clone()],
            None => {
                let Some(base) = sources.base_url else {
                    continue;
                };
                let paths: Vec<&String> =
                    std::iter::once(&route.path).chain(&route.legacy).collect();
                if paths.iter().any(|p| p.contains('{'))
                    && route.path.contains("{name}")
                    && sources.thread_name.is_none()
                {
                    continue;
                }
                paths
                    .iter()
                    .map(|p| {
                        format!(
                            "{}{}",
                            base.trim_end_matches('/'),
                            p.replace("{name}", sources.thread_name.unwrap_or(""))
                        )
                    })
                    .collect()
            }
        };
        let mut tried = Vec::new();
        let mut answered: Option<(String, u16, Vec<u8>)> = None;
        let mut last_error: Option<FetchError> = None;
        for url in &candidates {
            match get(url, limits) {
                Ok(r) if r.status == 404 => tried.push(Tried {
                    path: url.clone(),
                    http_status: Some(404),
                    error_class: None,
                }),
                Ok(r) => {
                    tried.push(Tried {
                        path: url.clone(),
                        http_status: Some(r.status),
                        error_class: None,
                    });
                    answered = Some((url.clone(), r.status, r.body));
                    break;
                }
                Err(e) => {
                    tried.push(Tried {
                        path: url.clone(),
                        http_status: None,
                        error_class: Some(e.class().to_owned()),
                    });
                    // A route that cannot be reached on its current path is not retried
                    // on an older one: only a 404 says the path moved.
                    last_error = Some(e);
                    break;
                }
            }
        }
        let endpoint = match (answered, last_error) {
            (Some((url, code, body)), _) => {
                let (status, fields, err) = classify(&route.id, code, &body);
                if let Some(e) = err {
                    errors.push(HttpError {
                        route: route.id.clone(),
                        source: url.clone(),
                        error_class: e.0,
                        error: e.1,
                    });
                }
                bodies.push((route.id.clone(), body));
                HttpEndpoint {
                    status,
                    path: Some(url),
                    tried,
                    http_status: Some(code),
                    fields,
                }
            }
            (None, Some(e)) => {
                errors.push(HttpError {
                    route: route.id.clone(),
                    source: candidates[tried.len() - 1].clone(),
                    error_class: e.class().to_owned(),
                    error: e.to_string(),
                });
                HttpEndpoint {
                    status: "unknown".to_owned(),
                    path: None,
                    tried,
                    http_status: None,
                    fields: None,
                }
            }
            (None, None) => HttpEndpoint {
                status: "unknown".to_owned(),
                path: None,
                tried,
                http_status: Some(404),
                fields: None,
            },
        };
        endpoints.insert(route.id.clone(), endpoint);
    }
    let answered = endpoints
        .values()
        .any(|e| e.http_status.is_some_and(|c| c != 404) || e.tried.is_empty() && e.path.is_some());
    Collected {
        evidence: HttpEvidence {
            schema_version: "inferguard.http-evidence/v1".to_owned(),
            claim_status: if answered { "measured" } else { "not_proven" }.to_owned(),
            base_url: sources.base_url.map(str::to_owned),
            endpoints,
            destructive_skipped,
            sensitive_skipped,
        },
        errors,
        bodies,
    }
}

const HEALTHY: &[&str] = &["ok", "healthy", "ready", "running", "success", "true"];
const UNHEALTHY: &[&str] = &["unhealthy", "failed", "error", "degraded", "false"];

/// Status, bounded fields, and an error `(class, message)` for one answer.
fn classify(
    route: &str,
    code: u16,
    body: &[u8],
) -> (String, Option<Value>, Option<(String, String)>) {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    if route == "metrics" {
        let status = if (200..300).contains(&code) {
            "healthy"
        } else {
            "unhealthy"
        };
        return (
            status.to_owned(),
            None,
            (!(200..300).contains(&code))
                .then(|| ("http_status".to_owned(), format!("HTTP {code}"))),
        );
    }
    let parsed: Option<Value> = serde_json::from_str(trimmed).ok();
    let looks_json = trimmed.starts_with('{') || trimmed.starts_with('[');
    let mut error = None;
    let fields = match (&parsed, looks_json) {
        (Some(v), _) => Some(bound(v, 0)),
        (None, true) => {
            error = Some((
                "invalid_json".to_owned(),
                format!("{route}: the answer is not valid JSON"),
            ));
            None
        }
        (None, false) if !trimmed.is_empty() => Some(Value::String(crate::evidence::redact_line(
            &trimmed.chars().take(500).collect::<String>(),
        ))),
        _ => None,
    };
    let said = parsed.as_ref().and_then(|v| {
        for key in ["healthy", "is_healthy"] {
            if let Some(b) = v.get(key).and_then(Value::as_bool) {
                return Some(b);
            }
        }
        let s = v
            .get("status")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)?;
        if HEALTHY.contains(&s.as_str()) {
            Some(true)
        } else if UNHEALTHY.contains(&s.as_str()) {
            Some(false)
        } else {
            None
        }
    });
    let status = if !(200..300).contains(&code) {
        if error.is_none() {
            error = Some(("http_status".to_owned(), format!("{route}: HTTP {code}")));
        }
        if code >= 500 || said == Some(false) {
            "unhealthy"
        } else {
            "unknown"
        }
    } else {
        match (said, error.is_some()) {
            (Some(false), _) => "unhealthy",
            (_, true) => "unknown",
            _ => "healthy",
        }
    };
    (status.to_owned(), fields, error)
}

/// A JSON answer made safe to store: lists cut at 20 items, objects at 50 keys,
/// strings at 500 characters, depth at 6, secret-named values redacted.
pub fn bound(v: &Value, depth: usize) -> Value {
    if depth > 6 {
        return Value::String("…".to_owned());
    }
    match v {
        Value::Array(items) => {
            Value::Array(items.iter().take(20).map(|i| bound(i, depth + 1)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .take(50)
                .map(|(k, v)| {
                    let value = if crate::evidence::launch::is_secret_name(k) {
                        Value::String("<redacted>".to_owned())
                    } else {
                        bound(v, depth + 1)
                    };
                    (k.clone(), value)
                })
                .collect(),
        ),
        Value::String(s) => Value::String(crate::evidence::redact_line(
            &s.chars().take(500).collect::<String>(),
        )),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_classify() {
        assert_eq!(
            classify("healthcheck", 200, br#"{"status":"healthy"}"#).0,
            "healthy"
        );
        assert_eq!(
            classify(
                "healthcheck",
                503,
                br#"{"status":"unhealthy","reason":"x"}"#
            )
            .0,
            "unhealthy"
        );
        let (s, _, e) = classify("version", 200, b"{not json");
        assert_eq!(
            (s.as_str(), e.unwrap().0.as_str()),
            ("unknown", "invalid_json")
        );
        assert_eq!(classify("version", 200, b"0.5.6").0, "healthy");
        assert_eq!(classify("status", 500, b"").0, "unhealthy");
    }

    #[test]
    fn secrets_in_answers_are_redacted() {
        let v: Value =
            serde_json::from_str(r#"{"hf_token":"hf_abc","nested":{"api_key":"k1","ok":[1,2]}}"#)
                .unwrap();
        let b = bound(&v, 0).to_string();
        assert!(!b.contains("hf_abc") && !b.contains("k1"), "{b}");
    }
}
