//! A small, strict HTTP/1.1 GET client for live endpoints the operator named:
//! `http://` only, connect and read timeouts, a body-size cap, chunked transfer
//! decoding, and redirects followed only to the same host and port (at most three).
//!
//! It exists so collection needs no TLS stack or async runtime; inference metrics
//! endpoints are plain HTTP inside the cluster.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Limits for one fetch.
#[derive(Clone, Copy, Debug)]
pub struct FetchLimits {
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub max_body: usize,
}

impl Default for FetchLimits {
    fn default() -> Self {
        FetchLimits {
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(10),
            max_body: 256 * 1024 * 1024,
        }
    }
}

/// A response with its final URL.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub url: String,
    pub body: Vec<u8>,
}

/// Why a fetch failed, classified for manifests (`error_class`).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("unsupported URL `{0}` (only http://host[:port]/path)")]
    BadUrl(String),
    #[error("cannot connect to {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("timed out talking to {0}")]
    Timeout(String),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("{0}: malformed HTTP response ({1})")]
    Protocol(String, String),
    #[error("{0}: response larger than {1} bytes (cap)")]
    TooLarge(String, usize),
    #[error("{0}: redirect to another host ({1}) not followed")]
    CrossHostRedirect(String, String),
    #[error("{0}: too many redirects")]
    TooManyRedirects(String),
}

impl FetchError {
    /// A short stable class for manifests and timelines.
    pub fn class(&self) -> &'static str {
        match self {
            FetchError::BadUrl(_) => "bad_url",
            FetchError::Connect(..) => "connect",
            FetchError::Timeout(_) => "timeout",
            FetchError::Io(..) => "io",
            FetchError::Protocol(..) => "protocol",
            FetchError::TooLarge(..) => "too_large",
            FetchError::CrossHostRedirect(..) => "cross_host_redirect",
            FetchError::TooManyRedirects(_) => "too_many_redirects",
        }
    }
}

struct Url {
    host: String,
    port: u16,
    path: String,
}

fn parse_url(url: &str) -> Result<Url, FetchError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| FetchError::BadUrl(url.to_owned()))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(FetchError::BadUrl(url.to_owned()));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (
            h.to_owned(),
            p.parse::<u16>()
                .map_err(|_| FetchError::BadUrl(url.to_owned()))?,
        ),
        _ => (authority.to_owned(), 80),
    };
    Ok(Url {
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port,
        path: path.to_owned(),
    })
}

/// GETs `url`, following same-host redirects.
pub fn get(url: &str, limits: &FetchLimits) -> Result<Response, FetchError> {
    let mut current = url.to_owned();
    let origin = parse_url(url)?;
    for _ in 0..4 {
        let u = parse_url(&current)?;
        let (status, headers, body) = get_once(&current, &u, limits)?;
        if (300..400).contains(&status) {
            let Some(location) = header(&headers, "location") else {
                return Ok(Response {
                    status,
                    url: current,
                    body,
                });
            };
            let next = if location.starts_with('/') {
                format!("http://{}:{}{}", u.host, u.port, location)
            } else {
                location.to_owned()
            };
            let n = parse_url(&next)
                .map_err(|_| FetchError::CrossHostRedirect(current.clone(), next.clone()))?;
            if n.host != origin.host || n.port != origin.port {
                return Err(FetchError::CrossHostRedirect(current, next));
            }
            current = next;
            continue;
        }
        return Ok(Response {
            status,
            url: current,
            body,
        });
    }
    Err(FetchError::TooManyRedirects(url.to_owned()))
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn io_err(url: &str, e: std::io::Error) -> FetchError {
    if matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    ) {
        FetchError::Timeout(url.to_owned())
    } else {
        FetchError::Io(url.to_owned(), e)
    }
}

fn get_once(
    url: &str,
    u: &Url,
    limits: &FetchLimits,
) -> Result<(u16, Vec<(String, String)>, Vec<u8>), FetchError> {
    let addr = (u.host.as_str(), u.port)
        .to_socket_addrs()
        .map_err(|e| FetchError::Connect(url.to_owned(), e))?
        .next()
        .ok_or_else(|| FetchError::BadUrl(url.to_owned()))?;
    let mut stream = TcpStream::connect_timeout(&addr, limits.connect_timeout).map_err(|e| {
        if e.kind() == std::io::ErrorKind::TimedOut {
            FetchError::Timeout(url.to_owned())
        } else {
            FetchError::Connect(url.to_owned(), e)
        }
    })?;
    stream
        .set_read_timeout(Some(limits.read_timeout))
        .map_err(|e| io_err(url, e))?;
    stream
        .set_write_timeout(Some(limits.read_timeout))
        .map_err(|e| io_err(url, e))?;
    let host_header = if u.port == 80 {
        u.host.clone()
    } else {
        format!("{}:{}", u.host, u.port)
    };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: inferguard/{}\r\nAccept: */*\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n",
        u.path,
        env!("CARGO_PKG_VERSION")
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| io_err(url, e))?;
    // Read until close, never more than the cap plus the headers.
    let cap = limits.max_body.saturating_add(64 * 1024);
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut buf).map_err(|e| io_err(url, e))?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if raw.len() > cap {
            return Err(FetchError::TooLarge(url.to_owned(), limits.max_body));
        }
    }
    let head_end = memchr::memmem::find(&raw, b"\r\n\r\n")
        .ok_or_else(|| FetchError::Protocol(url.to_owned(), "no end of headers".to_owned()))?;
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| {
            FetchError::Protocol(url.to_owned(), format!("bad status line `{status_line}`"))
        })?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect();
    let mut body = raw[head_end + 4..].to_vec();
    if header(&headers, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        body = dechunk(&body).ok_or_else(|| {
            FetchError::Protocol(url.to_owned(), "bad chunked encoding".to_owned())
        })?;
    } else if let Some(len) =
        header(&headers, "content-length").and_then(|v| v.parse::<usize>().ok())
    {
        body.truncate(len);
    }
    if body.len() > limits.max_body {
        return Err(FetchError::TooLarge(url.to_owned(), limits.max_body));
    }
    Ok((status, headers, body))
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = memchr::memmem::find(data, b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("http://127.0.0.1:8080/metrics").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 8080, "/metrics")
        );
        let u = parse_url("http://localhost").unwrap();
        assert_eq!((u.port, u.path.as_str()), (80, "/"));
        assert!(parse_url("https://x/").is_err());
        assert!(parse_url("http://user@x/").is_err());
    }

    #[test]
    fn chunked_bodies() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde"
        );
        assert!(dechunk(b"zz\r\n").is_none());
    }
}
