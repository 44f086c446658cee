//! LMCache HTTP evidence: GETs on the read-only routes of the route table (pack
//! data), current path first and legacy ones when it answers 404, each endpoint
//! classified healthy / unhealthy / unknown; routes the table marks destructive or
//! sensitive are never called and are listed as skipped.

use super::fetch::{get, same_path, Deadline, FetchLimits, Response};
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
    /// The URL (or file) that answered, as requested.
    pub path: Option<String>,
    /// The URL that gave the answer after same-route redirects, when requested live.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_url: Option<String>,
    pub tried: Vec<Tried>,
    pub http_status: Option<u16>,
    /// The answer, bounded (long lists and strings cut) and with secret-named
    /// values redacted; plain text answers are a string.
    pub fields: Option<Value>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Tried {
    pub path: String,
    /// Where the answer came from when a redirect was followed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_url: Option<String>,
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

/// Collects every read-only GET route of the table: from a saved file, a per-route
/// URL or the base URL, current path first and legacy ones after a 404. `floor` is
/// the shipped route table ([`crate::pack::Registry::http_route_floor`]).
pub fn collect(
    routes: &[HttpRouteDef],
    floor: &[HttpRouteDef],
    sources: &HttpSources,
    limits: &FetchLimits,
    deadline: Deadline,
) -> Collected {
    let (destructive_skipped, sensitive_skipped) = skipped(routes, floor);
    let mut endpoints = BTreeMap::new();
    let mut errors = Vec::new();
    let mut bodies = Vec::new();
    // The loader already refuses a pack that loosens a shipped route; the one place
    // that sends requests checks again (GET, read_only, nothing stricter in the
    // floor), so no route table can get a forbidden route called.
    let callable = routes
        .iter()
        .filter(|r| crate::pack::routes::may_call(r, floor));
    for route in callable {
        let answer = match sources.files.iter().find(|(id, _, _)| *id == route.id) {
            Some((_, bytes, path)) => Some(from_file(route, bytes, path)),
            None => {
                candidates(route, sources).map(|urls| fetch_route(route, &urls, limits, deadline))
            }
        };
        let Some(answer) = answer else { continue };
        errors.extend(answer.error);
        bodies.extend(answer.body.map(|b| (route.id.clone(), b)));
        endpoints.insert(route.id.clone(), answer.endpoint);
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

/// One route's outcome: the endpoint entry, a failure, the body to store.
struct RouteAnswer {
    endpoint: HttpEndpoint,
    error: Option<HttpError>,
    body: Option<Vec<u8>>,
}

fn from_file(route: &HttpRouteDef, bytes: &[u8], path: &str) -> RouteAnswer {
    let (status, fields, err) = classify(&route.id, 200, bytes);
    RouteAnswer {
        endpoint: HttpEndpoint {
            status,
            path: Some(path.to_owned()),
            final_url: None,
            tried: Vec::new(),
            http_status: None,
            fields,
        },
        error: err.map(|(class, error)| HttpError {
            route: route.id.clone(),
            source: path.to_owned(),
            error_class: class,
            error,
        }),
        body: Some(bytes.to_vec()),
    }
}

/// The URLs to try for a route, or `None` when the route is not asked for.
fn candidates(route: &HttpRouteDef, sources: &HttpSources) -> Option<Vec<String>> {
    if let Some((_, url)) = sources.urls.iter().find(|(id, _)| *id == route.id) {
        return Some(vec![url.clone()]);
    }
    let base = sources.base_url?;
    if route.path.contains("{name}") && sources.thread_name.is_none() {
        return None;
    }
    let name = sources.thread_name.unwrap_or("");
    if route.path.contains("{name}") && !plain_segment(name) {
        return None;
    }
    Some(
        std::iter::once(&route.path)
            .chain(&route.legacy)
            .map(|p| {
                format!(
                    "{}{}",
                    base.trim_end_matches('/'),
                    p.replace("{name}", name)
                )
            })
            .collect(),
    )
}

/// A value that may fill a `{name}` path segment: letters, digits, `_`, `-`, `.`,
/// and not `.` or `..` (which a server would resolve into another route).
pub fn plain_segment(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Why a URL must not be requested: it carries a fragment (a base URL ending in
/// `#` would turn every route into the path before it), or its path —
/// percent-decoded, dot segments resolved — is a route the table or the shipped
/// floor marks sensitive or destructive. Every URL the operator gives (`--*-url`,
/// the base URL) passes here before anything is sent.
pub fn refused_url(routes: &[HttpRouteDef], floor: &[HttpRouteDef], url: &str) -> Option<String> {
    if url.contains('#') {
        return Some(format!(
            "{url}: a URL with a fragment (`#`) is not requested"
        ));
    }
    let path = path_of(url);
    match crate::pack::routes::path_safety(routes, floor, &path) {
        Some(s @ (Safety::Sensitive | Safety::Destructive)) => Some(format!(
            "{url}: `{path}` is a {} route of the route table; inferguard never requests it",
            s.as_str()
        )),
        _ => None,
    }
}

/// Tries each URL in turn until one answers with something other than 404. A
/// redirect is followed only to a path of this same route: a read-only route that
/// redirects to `/env` or `/loglevel?…` is refused, never requested.
fn fetch_route(
    route: &HttpRouteDef,
    urls: &[String],
    limits: &FetchLimits,
    deadline: Deadline,
) -> RouteAnswer {
    let own: Vec<String> = urls.iter().map(|u| path_of(u)).collect();
    let policy = |target: &str| -> Result<(), String> {
        if own.iter().any(|p| same_path(p, target)) {
            Ok(())
        } else {
            Err(format!("`{target}` is not a path of route `{}`", route.id))
        }
    };
    let mut tried = Vec::new();
    for url in urls {
        match get(url, limits, deadline, &policy) {
            Ok(r) if r.status == 404 => tried.push(Tried::answer(url, &r)),
            Ok(r) => {
                tried.push(Tried::answer(url, &r));
                return answered(route, url, r, tried);
            }
            Err(e) => {
                tried.push(Tried {
                    path: url.clone(),
                    final_url: None,
                    http_status: None,
                    error_class: Some(e.class().to_owned()),
                });
                // Only a 404 says the path moved: a failure is not retried elsewhere.
                return RouteAnswer {
                    endpoint: HttpEndpoint::unknown(tried, None),
                    error: Some(HttpError {
                        route: route.id.clone(),
                        source: url.clone(),
                        error_class: e.class().to_owned(),
                        error: e.to_string(),
                    }),
                    body: None,
                };
            }
        }
    }
    RouteAnswer {
        endpoint: HttpEndpoint::unknown(tried, Some(404)),
        error: None,
        body: None,
    }
}

fn answered(route: &HttpRouteDef, url: &str, r: Response, tried: Vec<Tried>) -> RouteAnswer {
    let (status, fields, err) = classify(&route.id, r.status, &r.body);
    RouteAnswer {
        endpoint: HttpEndpoint {
            status,
            path: Some(url.to_owned()),
            final_url: Some(r.url.clone()),
            tried,
            http_status: Some(r.status),
            fields,
        },
        error: err.map(|(class, error)| HttpError {
            route: route.id.clone(),
            source: r.url.clone(),
            error_class: class,
            error,
        }),
        body: Some(r.body),
    }
}

/// The path and query of a URL built from the base URL (`http://h:1/status` →
/// `/status`).
fn path_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/')
        .map_or_else(|| "/".to_owned(), |i| rest[i..].to_owned())
}

impl Tried {
    fn answer(url: &str, r: &Response) -> Tried {
        Tried {
            path: url.to_owned(),
            final_url: (r.url != url).then(|| r.url.clone()),
            http_status: Some(r.status),
            error_class: None,
        }
    }
}

impl HttpEndpoint {
    fn unknown(tried: Vec<Tried>, http_status: Option<u16>) -> HttpEndpoint {
        HttpEndpoint {
            status: "unknown".to_owned(),
            path: None,
            final_url: None,
            tried,
            http_status,
            fields: None,
        }
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
        (None, false) if !trimmed.is_empty() => Some(Value::String(crate::redact::line(
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
                    let value = if crate::redact::is_secret_name(k) {
                        Value::String("<redacted>".to_owned())
                    } else {
                        bound(v, depth + 1)
                    };
                    (k.clone(), value)
                })
                .collect(),
        ),
        Value::String(s) => Value::String(crate::redact::line(
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
