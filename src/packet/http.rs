//! LMCache HTTP evidence: GETs on the read-only routes of the route table (pack
//! data), current path first and legacy ones when it answers 404, each endpoint
//! classified healthy / unhealthy / unknown; routes the table marks destructive or
//! sensitive are never called and are listed as skipped.

use super::fetch::{get, same_path, Deadline, FetchLimits, Response};
pub use crate::evidence::http::{
    bound, HealthWords, HttpEndpoint, HttpEvidence, SkippedRoute, Tried,
};
use crate::evidence::http::{classify, SCHEMA_VERSION};
use crate::pack::model::{HttpRouteDef, Safety};
use serde::Serialize;
use std::collections::BTreeMap;

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
/// the shipped route table ([`crate::pack::Registry::http_route_floor`]); `health`
/// says which answers mean healthy ([`crate::pack::Registry::http_health`]).
pub fn collect(
    routes: &[HttpRouteDef],
    floor: &[HttpRouteDef],
    health: &HealthWords,
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
            Some((_, bytes, path)) => Some(from_file(route, health, bytes, path)),
            None => candidates(route, sources)
                .map(|urls| fetch_route(route, health, &urls, limits, deadline)),
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
            schema_version: SCHEMA_VERSION.to_owned(),
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

fn from_file(route: &HttpRouteDef, health: &HealthWords, bytes: &[u8], path: &str) -> RouteAnswer {
    let (status, fields, err) = classify(&route.id, route.exposition, 200, bytes, health);
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
    health: &HealthWords,
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
                return answered(route, health, url, r, tried);
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

fn answered(
    route: &HttpRouteDef,
    health: &HealthWords,
    url: &str,
    r: Response,
    tried: Vec<Tried>,
) -> RouteAnswer {
    let (status, fields, err) = classify(&route.id, route.exposition, r.status, &r.body, health);
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
