//! The one HTTP client of inferguard, on `ureq`: GET only, `http://` and `https://`
//! (rustls), one deadline per request that covers connecting, the headers and the
//! whole body, a body cap, no proxy taken from the environment (only the endpoints
//! the operator named are ever contacted), and redirects followed by hand, one hop at
//! a time, only to the same origin and only where the caller's [`RedirectPolicy`]
//! accepts the target. A refused redirect is never requested.
//!
//! ureq replaced a hand-written client whose timeout bounded each `read()`, so a
//! server dripping a byte a second could hold a collection for minutes (issue 10).

use std::io::Read as _;
use std::time::{Duration, Instant};
use ureq::http::Uri;

/// Limits for one request.
#[derive(Clone, Copy, Debug)]
pub struct FetchLimits {
    pub connect_timeout: Duration,
    /// Everything from connecting to the last byte of the body.
    pub request_timeout: Duration,
    pub max_body: usize,
}

impl Default for FetchLimits {
    fn default() -> Self {
        FetchLimits {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_body: 256 * 1024 * 1024,
        }
    }
}

/// When a whole collection must be over; every request gets the smaller of its own
/// timeout and what is left.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    pub const NONE: Deadline = Deadline(None);

    pub fn after(budget: Duration) -> Deadline {
        Deadline(Instant::now().checked_add(budget))
    }

    /// The time left, `None` when there is no deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.0.map(|t| t.saturating_duration_since(Instant::now()))
    }

    pub fn passed(&self) -> bool {
        self.remaining().is_some_and(|d| d.is_zero())
    }

    /// The earlier of two deadlines.
    pub fn earliest(self, other: Deadline) -> Deadline {
        match (self.0, other.0) {
            (Some(a), Some(b)) => Deadline(Some(a.min(b))),
            (a, b) => Deadline(a.or(b)),
        }
    }
}

/// An answer: status, the URL that gave it (after redirects), the body and the
/// headers that say what the body is.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub url: String,
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
}

/// Why a request failed, classified for manifests (`error_class`).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("unsupported URL `{0}` (only http:// or https://host[:port]/path, no user-info)")]
    BadUrl(String),
    #[error("cannot connect to {0}: {1}")]
    Connect(String, String),
    #[error("{0}: no complete answer within {1:?}")]
    Timeout(String, Duration),
    #[error("{0}: not requested, the collection deadline has passed")]
    DeadlinePassed(String),
    #[error("{0}: {1}")]
    Io(String, String),
    #[error("{0}: malformed HTTP response ({1})")]
    Protocol(String, String),
    #[error("{0}: response larger than {1} bytes (cap)")]
    TooLarge(String, usize),
    #[error("{0}: the body ended early, after {1} bytes{more}", more = announced(.2))]
    Truncated(String, usize, Option<u64>),
    #[error("{0}: redirect to another origin ({1}) not followed")]
    CrossHostRedirect(String, String),
    #[error("{0}: redirect to {1} refused: {2}")]
    RedirectRefused(String, String, String),
    #[error("{0}: too many redirects")]
    TooManyRedirects(String),
    #[error("{0}: HTTP {1}")]
    HttpStatus(String, u16),
    #[error("{0}: {1}")]
    NotExposition(String, String),
}

impl FetchError {
    /// A short stable class for manifests.
    pub fn class(&self) -> &'static str {
        match self {
            FetchError::BadUrl(_) => "bad_url",
            FetchError::Connect(..) => "connect",
            FetchError::Timeout(..) => "timeout",
            FetchError::DeadlinePassed(_) => "deadline",
            FetchError::Io(..) => "io",
            FetchError::Protocol(..) => "protocol",
            FetchError::TooLarge(..) => "too_large",
            FetchError::Truncated(..) => "truncated",
            FetchError::CrossHostRedirect(..) => "cross_host_redirect",
            FetchError::RedirectRefused(..) => "redirect_refused",
            FetchError::TooManyRedirects(_) => "too_many_redirects",
            FetchError::HttpStatus(..) => "http_status",
            FetchError::NotExposition(..) => "not_exposition",
        }
    }
}

fn announced(n: &Option<u64>) -> String {
    n.map(|n| format!(" of the {n} announced"))
        .unwrap_or_default()
}

/// Decides whether a same-origin redirect target (its path and query, e.g.
/// `/status` or `/loglevel?level=DEBUG`) may be requested; `Err` says why not.
pub type RedirectPolicy<'a> = &'a dyn Fn(&str) -> Result<(), String>;

/// A policy for a URL that names one resource (a `/metrics` scrape): the target
/// must be the same path, give or take a trailing slash, with the same query.
pub fn same_resource(url: &str) -> impl Fn(&str) -> Result<(), String> {
    let original = parse(url).map(|u| u.path_and_query).unwrap_or_default();
    move |target: &str| {
        if same_path(&original, target) {
            Ok(())
        } else {
            Err(format!(
                "`{target}` is not the resource asked for (`{original}`)"
            ))
        }
    }
}

/// `/metrics` and `/metrics/` are one path; the queries must match exactly.
pub fn same_path(a: &str, b: &str) -> bool {
    let split = |s: &str| -> (String, String) {
        let (p, q) = s.split_once('?').unwrap_or((s, ""));
        (p.trim_end_matches('/').to_owned(), q.to_owned())
    };
    split(a) == split(b)
}

struct Target {
    scheme: String,
    host: String,
    port: u16,
    path_and_query: String,
}

impl Target {
    fn origin(&self) -> (&str, &str, u16) {
        (&self.scheme, &self.host, self.port)
    }
}

fn parse(url: &str) -> Result<Target, FetchError> {
    let bad = || FetchError::BadUrl(url.to_owned());
    let uri: Uri = url.parse().map_err(|_| bad())?;
    let scheme = uri.scheme_str().ok_or_else(bad)?.to_ascii_lowercase();
    let authority = uri.authority().ok_or_else(bad)?;
    if authority.as_str().contains('@') || !matches!(scheme.as_str(), "http" | "https") {
        return Err(bad());
    }
    let default_port = if scheme == "https" { 443 } else { 80 };
    Ok(Target {
        host: authority.host().to_ascii_lowercase(),
        port: authority.port_u16().unwrap_or(default_port),
        path_and_query: uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
        scheme,
    })
}

/// Checks that `url` is one this client requests (`http://` or `https://`, a
/// host, no user-info), before anything is sent.
pub fn check_url(url: &str) -> Result<(), FetchError> {
    parse(url).map(|_| ())
}

/// `path` (and nothing of `url`'s path or query) on `url`'s scheme, host and port:
/// another resource of the same server, never another server.
pub fn on_same_origin(url: &str, path: &str) -> Result<String, FetchError> {
    let bad = || FetchError::BadUrl(url.to_owned());
    parse(url)?;
    let uri: Uri = url.parse().map_err(|_| bad())?;
    let (scheme, authority) = (
        uri.scheme_str().ok_or_else(bad)?,
        uri.authority().ok_or_else(bad)?,
    );
    if !path.starts_with('/') || path.starts_with("//") {
        return Err(FetchError::BadUrl(path.to_owned()));
    }
    Ok(format!("{scheme}://{authority}{path}"))
}

/// Where a `Location` header points, resolved against the URL that sent it.
fn resolve(current: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_owned();
    }
    let Ok(base) = parse(current) else {
        return location.to_owned();
    };
    let origin = format!("{}://{}:{}", base.scheme, base.host, base.port);
    if location.starts_with("//") {
        format!("{}:{location}", base.scheme)
    } else if location.starts_with('/') {
        format!("{origin}{location}")
    } else {
        let path = base.path_and_query.split('?').next().unwrap_or("/");
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        format!("{origin}{dir}{location}")
    }
}

/// GETs `url`; a redirect is followed only to the same origin and where `policy`
/// accepts the target, at most three times.
pub fn get(
    url: &str,
    limits: &FetchLimits,
    deadline: Deadline,
    policy: RedirectPolicy,
) -> Result<Response, FetchError> {
    let origin = parse(url)?;
    let mut current = url.to_owned();
    // One budget for the request and every redirect it takes.
    let budget = deadline.earliest(Deadline::after(limits.request_timeout));
    for _ in 0..4 {
        let response = get_once(&current, limits, budget).map_err(|e| match e {
            // The request's own budget ran out between hops, not the collection's.
            FetchError::DeadlinePassed(u) if !deadline.passed() => {
                FetchError::Timeout(u, limits.request_timeout)
            }
            other => other,
        })?;
        if !(300..400).contains(&response.status) {
            return Ok(response.into_response());
        }
        let Some(location) = response.location.clone() else {
            return Ok(response.into_response());
        };
        let next = resolve(&current, &location);
        let target = parse(&next)
            .map_err(|_| FetchError::CrossHostRedirect(current.clone(), next.clone()))?;
        if target.origin() != origin.origin() {
            return Err(FetchError::CrossHostRedirect(current, next));
        }
        policy(&target.path_and_query)
            .map_err(|why| FetchError::RedirectRefused(current.clone(), next.clone(), why))?;
        current = next;
    }
    Err(FetchError::TooManyRedirects(url.to_owned()))
}

/// GETs a `/metrics` URL: a 200 answer whose body is exposition text. A compressed
/// (`Content-Encoding`), binary or UTF-16 body is an error, never "0 samples".
pub fn get_exposition(
    url: &str,
    limits: &FetchLimits,
    deadline: Deadline,
) -> Result<Response, FetchError> {
    let r = get(url, limits, deadline, &same_resource(url))?;
    as_exposition(url, r)
}

/// An answer to a GET of `url` as a scrape: a 200 whose body is exposition text
/// (what [`get_exposition`] checks, for callers that look at the answer first).
pub fn as_exposition(url: &str, r: Response) -> Result<Response, FetchError> {
    // 204, 206 and the like are not a scrape either.
    if r.status != 200 {
        return Err(FetchError::HttpStatus(url.to_owned(), r.status));
    }
    let encoded = r
        .content_encoding
        .as_deref()
        .filter(|e| !e.eq_ignore_ascii_case("identity"));
    let why = encoded
        .map(|e| {
            format!("not a Prometheus exposition: the answer is {e}-encoded although identity was asked for")
        })
        .or_else(|| crate::evidence::unusable_scrape(&r.body));
    match why {
        Some(why) => Err(FetchError::NotExposition(url.to_owned(), why)),
        None => Ok(r),
    }
}

/// One exchange, its body read in full (and the `Location`, for redirects).
struct Exchange {
    status: u16,
    url: String,
    body: Vec<u8>,
    content_type: Option<String>,
    content_encoding: Option<String>,
    location: Option<String>,
}

impl Exchange {
    fn into_response(self) -> Response {
        Response {
            status: self.status,
            url: self.url,
            body: self.body,
            content_type: self.content_type,
            content_encoding: self.content_encoding,
        }
    }
}

fn get_once(url: &str, limits: &FetchLimits, deadline: Deadline) -> Result<Exchange, FetchError> {
    let budget = match deadline.remaining() {
        Some(left) if left.is_zero() => return Err(FetchError::DeadlinePassed(url.to_owned())),
        Some(left) => left.min(limits.request_timeout),
        None => limits.request_timeout,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .timeout_global(Some(budget))
        .timeout_connect(Some(limits.connect_timeout.min(budget)))
        .user_agent(concat!("inferguard/", env!("CARGO_PKG_VERSION")))
        .accept_encoding("identity")
        .build()
        .into();
    let mut response = agent
        .get(url)
        .call()
        .map_err(|e| classify(url, e, budget))?;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (content_type, content_encoding) = (header("content-type"), header("content-encoding"));
    let location = header("location");
    let announced: Option<u64> = header("content-length").and_then(|v| v.parse().ok());
    let status = response.status().as_u16();
    let reader = response.body_mut().as_reader();
    let body = read_body(url, reader, limits.max_body, budget).map_err(|e| match e {
        FetchError::Truncated(u, got, None) => FetchError::Truncated(u, got, announced),
        other => other,
    })?;
    if let Some(n) = announced.filter(|n| (body.len() as u64) < *n) {
        return Err(FetchError::Truncated(url.to_owned(), body.len(), Some(n)));
    }
    Ok(Exchange {
        status,
        url: url.to_owned(),
        body,
        content_type,
        content_encoding,
        location,
    })
}

/// The body, never more than `cap` bytes kept: one byte over is an error.
fn read_body(
    url: &str,
    reader: impl std::io::Read,
    cap: usize,
    budget: Duration,
) -> Result<Vec<u8>, FetchError> {
    let mut body = Vec::new();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    match reader.take(limit).read_to_end(&mut body) {
        Ok(_) if body.len() > cap => Err(FetchError::TooLarge(url.to_owned(), cap)),
        Ok(_) => Ok(body),
        Err(e) => Err(io_error(url, e, body.len(), budget)),
    }
}

/// A read error while the body streams in: ureq's own errors (timeouts, protocol)
/// arrive wrapped in `io::Error`; an early end is a truncated body.
fn io_error(url: &str, e: std::io::Error, got: usize, budget: Duration) -> FetchError {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            return FetchError::Truncated(url.to_owned(), got, None)
        }
        std::io::ErrorKind::TimedOut => return FetchError::Timeout(url.to_owned(), budget),
        _ => {}
    }
    let text = e.to_string();
    match e.into_inner().map(|inner| inner.downcast::<ureq::Error>()) {
        Some(Ok(inner)) => classify(url, *inner, budget),
        _ => FetchError::Io(url.to_owned(), text),
    }
}

fn classify(url: &str, e: ureq::Error, budget: Duration) -> FetchError {
    let url = url.to_owned();
    match e {
        ureq::Error::Timeout(_) => FetchError::Timeout(url, budget),
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => FetchError::BadUrl(url),
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => {
            FetchError::Connect(url, e.to_string())
        }
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            FetchError::Connect(url, io.to_string())
        }
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            FetchError::Truncated(url, 0, None)
        }
        ureq::Error::Io(io) => FetchError::Io(url, io.to_string()),
        ureq::Error::BodyExceedsLimit(n) => {
            FetchError::TooLarge(url, usize::try_from(n).unwrap_or(usize::MAX))
        }
        ureq::Error::TooManyRedirects => FetchError::TooManyRedirects(url),
        other => FetchError::Protocol(url, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse("http://127.0.0.1:8080/metrics").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path_and_query.as_str()),
            ("127.0.0.1", 8080, "/metrics")
        );
        let u = parse("https://Example.org").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path_and_query.as_str()),
            ("example.org", 443, "/")
        );
        assert!(parse("ftp://x/").is_err());
        assert!(parse("http://user:pw@x/").is_err());
        assert!(parse("/metrics").is_err());
    }

    #[test]
    fn another_path_stays_on_the_same_origin() {
        let on = |u, p| on_same_origin(u, p).map_err(|e| e.class());
        assert_eq!(
            on("http://h:1/metrics?x=1", "/prometheus/metrics"),
            Ok("http://h:1/prometheus/metrics".to_owned())
        );
        assert_eq!(
            on("https://[::1]:8/m", "/p"),
            Ok("https://[::1]:8/p".to_owned())
        );
        assert_eq!(on("http://h:1/metrics", "//evil/x"), Err("bad_url"));
        assert_eq!(on("http://h:1/metrics", "http://evil/x"), Err("bad_url"));
        assert_eq!(on("ftp://h/metrics", "/p"), Err("bad_url"));
    }

    #[test]
    fn locations_resolve_against_the_current_url() {
        let base = "http://h:1/a/b?x=1";
        assert_eq!(resolve(base, "/env"), "http://h:1/env");
        assert_eq!(resolve(base, "c"), "http://h:1/a/c");
        assert_eq!(resolve(base, "//other:2/x"), "http://other:2/x");
        assert_eq!(resolve(base, "http://o/x"), "http://o/x");
    }

    #[test]
    fn one_resource_policy() {
        let p = same_resource("http://h:1/metrics");
        assert!(p("/metrics/").is_ok() && p("/metrics").is_ok());
        assert!(
            p("/env").is_err() && p("/metrics?x=1").is_err() && p("/loglevel?level=DEBUG").is_err()
        );
    }
}
