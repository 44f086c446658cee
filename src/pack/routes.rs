//! The collector's HTTP route table (`kind: http_routes`): the checks each route
//! passes at load, the safety floor the shipped packs set, and the questions the
//! collector asks before it sends a request.
//!
//! Safety classes are a floor. The routes of the packs embedded in the binary are
//! kept as [`crate::pack::Registry::http_route_floor`] even when a `--rules` pack with the same id
//! replaces the pack that declared them. A `--rules` pack may tighten a shipped route;
//! a looser class on a route that has a shipped route's id, or shares a path with a
//! stricter shipped route, is a load error. The collector checks the same rule again
//! ([`may_call`]) where it sends requests, and lists every forbidden path of the
//! table and the floor ([`forbidden_paths`]), so dropping a shipped route from an
//! override pack hides nothing.

use super::model::{HttpRouteDef, HttpRoutesFile, Safety};
use super::yaml::Node;
use super::{diag, Diagnostic};

/// Checks one `http_routes` file and appends its routes: unique ids, read-only
/// routes are GETs, plain paths, and, for a pack not embedded in the binary
/// (`floor` is `Some`), no route looser than a shipped route it matches.
pub fn add_http_routes_file(
    routes: &mut Vec<HttpRouteDef>,
    file: &str,
    node: &Node,
    hf: &HttpRoutesFile,
    floor: Option<&[HttpRouteDef]>,
    diags: &mut Vec<Diagnostic>,
) {
    for (i, r) in hf.routes.iter().enumerate() {
        let at = format!("/routes/{i}");
        if routes.iter().any(|x| x.id == r.id) {
            diags.push(diag(
                file,
                node.locate(&format!("{at}/id")),
                format!("route `{}` is declared twice", r.id),
            ));
        }
        if r.safety == Safety::ReadOnly && r.method != "GET" {
            diags.push(diag(
                file,
                node.locate(&format!("{at}/method")),
                format!(
                    "route `{}` is read_only but uses {}: only GET routes are read-only",
                    r.id, r.method
                ),
            ));
        }
        let legacy = r.legacy.iter().enumerate();
        let located = std::iter::once((format!("{at}/path"), &r.path))
            .chain(legacy.map(|(k, p)| (format!("{at}/legacy/{k}"), p)));
        for (pointer, p) in located {
            if let Some(why) = path_problem(p) {
                diags.push(diag(
                    file,
                    node.locate(&pointer),
                    format!("path `{p}` of route `{}` {why}", r.id),
                ));
            }
        }
        if let Some(shipped) = floor.and_then(|f| loosened(r, f)) {
            diags.push(diag(
                file,
                node.locate(&format!("{at}/safety")),
                format!(
                    "route `{}` is {} but the shipped route `{}` ({} {}) is {}: a pack can only tighten a shipped route's safety, never loosen it",
                    r.id,
                    r.safety.as_str(),
                    shipped.id,
                    shipped.method,
                    shipped.path,
                    shipped.safety.as_str()
                ),
            ));
        }
        routes.push(r.clone());
    }
}

/// Why a route path is refused, if it is: it must be a plain absolute path, with
/// nothing a client or server could rewrite into another route (a query, an escape,
/// a dot segment, an empty segment).
fn path_problem(p: &str) -> Option<&'static str> {
    if !p.starts_with('/') {
        Some("must start with `/`")
    } else if p.contains(['?', '#']) {
        Some("must not hold a query or fragment (`?`, `#`)")
    } else if p.contains(['%', '\\']) {
        Some("must not hold `%` escapes or `\\` (servers decode them into other paths)")
    } else if p.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("must not hold whitespace or control characters")
    } else if p.contains("//") {
        Some("must not hold an empty segment (`//`)")
    } else if p.split('/').any(|s| s == "." || s == "..") {
        Some("must not hold `.` or `..` segments")
    } else {
        None
    }
}

/// The strictest floor route stricter than `route` that has its id or shares one of
/// its paths (templates match any segment): the shipped route `route` would loosen.
pub fn loosened<'a>(route: &HttpRouteDef, floor: &'a [HttpRouteDef]) -> Option<&'a HttpRouteDef> {
    floor
        .iter()
        .filter(|f| f.safety > route.safety)
        .filter(|f| {
            f.id == route.id || paths(f).any(|fp| paths(route).any(|rp| templates_match(fp, rp)))
        })
        .max_by_key(|f| f.safety)
}

/// Whether the collector may request `route`: a GET the table marks read_only,
/// with plain paths, that no floor route marks stricter by id or path.
///
/// The loader already refuses a pack that would loosen a shipped route; this is the
/// same rule again where requests are sent, so a route table built any other way
/// cannot get a forbidden route called.
pub fn may_call(route: &HttpRouteDef, floor: &[HttpRouteDef]) -> bool {
    route.method == "GET"
        && route.safety == Safety::ReadOnly
        && paths(route).all(|p| path_problem(p).is_none())
        && loosened(route, floor).is_none()
}

/// Every path the collector must not call, with the route that names it: the
/// table's sensitive and destructive routes first, then the floor's, so a shipped
/// forbidden route an override pack dropped is still listed. Each method and path
/// is listed once, under the first route that names it.
pub fn forbidden_paths<'a>(
    table: &'a [HttpRouteDef],
    floor: &'a [HttpRouteDef],
) -> Vec<(&'a HttpRouteDef, &'a str)> {
    let mut out: Vec<(&HttpRouteDef, &str)> = Vec::new();
    for r in table.iter().chain(floor) {
        if r.safety == Safety::ReadOnly {
            continue;
        }
        for p in paths(r) {
            if !out
                .iter()
                .any(|(q, seen)| *seen == p && q.method == r.method)
            {
                out.push((r, p));
            }
        }
    }
    out
}

/// The strictest safety class of any route of the table or the floor that matches
/// the request path `path`; `None` when no route matches.
///
/// For vetting a path before it is requested (a redirect target, a path built from
/// operator input): treat `None` as "not a known route" and do not follow it, and
/// anything but `Some(Safety::ReadOnly)` as forbidden. `path` is the path of the
/// request, as sent on the wire; it is read the way a permissive server would route
/// it, so a disguised path cannot pass for a harmless one:
///
/// - a `?query` or `#fragment` is ignored;
/// - `%XX` escapes are decoded (once, as a server does) and `\` counts as `/`;
/// - empty and `.` segments are dropped and `..` removes the segment before it, so
///   `/a//b/`, `/a/../c` and `/%63` reach the routes `/a/b`, `/c` and `/c`;
/// - a route's `{name}` segment matches any one segment; segments compare
///   case-sensitively.
///
/// A path no route of the table or the floor matches is `None` (examples with the
/// shipped packs in the tests below; the crate runs no doctests).
pub fn path_safety(routes: &[HttpRouteDef], floor: &[HttpRouteDef], path: &str) -> Option<Safety> {
    let request = request_segments(path);
    routes
        .iter()
        .chain(floor)
        .filter(|r| paths(r).any(|p| template_fits(p, &request)))
        .map(|r| r.safety)
        .max()
}

/// A route's current path and its legacy ones.
fn paths(r: &HttpRouteDef) -> impl Iterator<Item = &str> {
    std::iter::once(r.path.as_str()).chain(r.legacy.iter().map(String::as_str))
}

fn is_template(segment: &str) -> bool {
    segment.len() >= 2 && segment.starts_with('{') && segment.ends_with('}')
}

/// The non-empty segments of a route path (a trailing slash does not count).
fn segments(p: &str) -> impl Iterator<Item = &str> {
    p.split('/').filter(|s| !s.is_empty())
}

/// Two route paths can name the same request: same number of segments, each pair
/// equal or one of them a `{template}`.
fn templates_match(a: &str, b: &str) -> bool {
    segments(a).count() == segments(b).count()
        && segments(a)
            .zip(segments(b))
            .all(|(x, y)| x == y || is_template(x) || is_template(y))
}

/// The route path `route` names the request whose segments are `request`.
fn template_fits(route: &str, request: &[String]) -> bool {
    segments(route).count() == request.len()
        && segments(route)
            .zip(request)
            .all(|(x, y)| x == y || is_template(x))
}

/// The segments a server routes a request path to (see [`path_safety`]).
fn request_segments(path: &str) -> Vec<String> {
    let end = path.find(['?', '#']).unwrap_or(path.len());
    let decoded = percent_decode(&path[..end]).replace('\\', "/");
    let mut out: Vec<String> = Vec::new();
    for s in decoded.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            _ => out.push(s.to_owned()),
        }
    }
    out
}

/// `%XX` escapes decoded once; a malformed escape stays as written.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::Registry;

    fn registry() -> Registry {
        Registry::load(&[]).expect("the shipped packs load")
    }

    /// issue 10, item 3: the safety of a concrete request path, as a redirect
    /// target would be vetted.
    #[test]
    fn route_safety_of_request_paths() {
        let r = registry();
        for (path, want) in [
            ("/env", Some(Safety::Sensitive)),
            ("/env/", Some(Safety::Sensitive)),
            ("/env?x=1", Some(Safety::Sensitive)),
            ("/%65nv", Some(Safety::Sensitive)),
            ("/status/../env", Some(Safety::Sensitive)),
            ("/loglevel", Some(Safety::Destructive)),
            ("/cache/clear", Some(Safety::Destructive)),
            ("//cache//clear/", Some(Safety::Destructive)),
            ("/api/clear-cache", Some(Safety::Destructive)),
            ("/quota/tenant-a", Some(Safety::Destructive)),
            ("/quota", Some(Safety::ReadOnly)),
            ("/periodic-threads/foo", Some(Safety::ReadOnly)),
            ("/status", Some(Safety::ReadOnly)),
            ("/", Some(Safety::ReadOnly)),
            ("/Env", None),
            ("/no-such-route", None),
            ("/periodic-threads/foo/bar", None),
        ] {
            assert_eq!(
                path_safety(&r.http_routes, &r.http_route_floor, path),
                want,
                "{path}"
            );
        }
    }

    /// issue 10, item 3: the floor still answers when the table lost a route.
    #[test]
    fn route_safety_reads_the_floor_when_the_table_dropped_a_route() {
        let mut r = registry();
        r.http_routes
            .retain(|x| x.id != "env" && x.id != "cache_clear");
        assert_eq!(
            path_safety(&r.http_routes, &r.http_route_floor, "/env"),
            Some(Safety::Sensitive)
        );
        assert_eq!(
            path_safety(&r.http_routes, &r.http_route_floor, "/cache/clear"),
            Some(Safety::Destructive)
        );
    }

    fn route(id: &str, method: &str, path: &str, safety: Safety) -> HttpRouteDef {
        HttpRouteDef {
            id: id.to_owned(),
            method: method.to_owned(),
            path: path.to_owned(),
            legacy: Vec::new(),
            safety,
            exposition: false,
            description: String::new(),
        }
    }

    /// issue 10, item 3: whatever a route table says, only a plain read-only GET
    /// no shipped route forbids is callable.
    #[test]
    fn only_read_only_gets_the_floor_allows_are_callable() {
        let floor = registry().http_route_floor;
        let ro = Safety::ReadOnly;
        assert!(may_call(&route("status", "GET", "/status", ro), &floor));
        assert!(may_call(&route("mine", "GET", "/mine", ro), &floor));
        for denied in [
            route("env", "GET", "/env", ro),
            route("mine", "GET", "/env/", ro),
            route("wipe", "GET", "/cache/clear", ro),
            route("q", "GET", "/quota/{salt}", ro),
            route("loglevel", "GET", "/loglevel", ro),
            route("mine", "POST", "/mine", ro),
            route("mine", "GET", "/mine", Safety::Sensitive),
            route("mine", "GET", "/mine?x=1", ro),
            route("mine", "GET", "/x/../env", ro),
        ] {
            assert!(!may_call(&denied, &floor), "{denied:?}");
        }
    }

    #[test]
    fn route_paths_are_plain() {
        for ok in [
            "/",
            "/status",
            "/periodic-threads/{name}",
            "/api/clear-cache",
        ] {
            assert_eq!(path_problem(ok), None, "{ok}");
        }
        for bad in [
            "status", "/a?b", "/a#b", "/a/../b", "/./a", "/a//b", "/a b", "/a\tb", "/%65nv",
            "/a\\b",
        ] {
            assert!(path_problem(bad).is_some(), "{bad}");
        }
    }

    /// issue 10, item 3: a dropped shipped route is still listed, each path once.
    #[test]
    fn forbidden_paths_come_from_table_and_floor() {
        let floor = registry().http_route_floor;
        let table = vec![route("env", "GET", "/env", Safety::Destructive)];
        let listed = forbidden_paths(&table, &floor);
        let at = |p: &str| listed.iter().filter(|(_, x)| *x == p).collect::<Vec<_>>();
        assert_eq!(at("/env").len(), 1);
        assert_eq!(at("/env")[0].0.safety, Safety::Destructive);
        assert_eq!(at("/cache/clear")[0].0.id, "cache_clear");
        assert_eq!(at("/api/clear-cache").len(), 1);
        assert!(at("/status").is_empty());
        let quota: Vec<&str> = at("/quota/{cache_salt}")
            .iter()
            .map(|(r, _)| r.method.as_str())
            .collect();
        assert_eq!(quota, ["PUT", "DELETE"]);
    }
}
