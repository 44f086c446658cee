//! `inferguard collect-lmcache` as an operator runs it, against a real HTTP/1.1
//! server on loopback written here with `std::net` (no test crates): it serves
//! LMCache-MP-shaped routes, fails some of them (500, a stall past the timeout,
//! garbage JSON, a 50 MB body, a cross-host redirect) and records every request
//! line, so the tests can prove that only read-only GETs were issued, that legacy
//! paths were tried only after the current path answered 404, and that every
//! failure is in the manifest.
//!
//! Every server is bounded: it accepts at most N connections, stops when the test
//! is done with it (or after `SERVER_LIFETIME` at the latest), and joins its own
//! worker threads. Every run of the binary is bounded by `RUN_LIMIT`.

mod hostile;

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_inferguard");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// A small LMCache 0.5.6 MP exposition (L1 only, after traffic).
const MP_PROM: &str = "fixtures/evidence/lmcache-compat/mp-l1-healthy.prom";
/// A vLLM scrape with `LMCacheMPConnector`.
const VLLM_PROM: &str = "fixtures/evidence/lmcache-mp/vllm-mp-connector.prom";

const SERVER_LIFETIME: Duration = Duration::from_secs(120);
const RUN_LIMIT: Duration = Duration::from_secs(180);

// ---------------------------------------------------------------------------
// A bounded HTTP/1.1 server that records every request line (`collect_metrics`
// serves its timelines with it too).
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub(crate) struct Request {
    pub(crate) method: String,
    /// The request target exactly as sent (path and any query).
    pub(crate) target: String,
}

pub(crate) enum Reply {
    /// Status, content type, body.
    Body(u16, &'static str, Vec<u8>),
    /// 200 announcing `n` bytes, streamed in 64 KiB chunks until done or the
    /// client hangs up.
    Huge(usize),
    /// Say nothing for this long, then close the connection.
    Stall(Duration),
    /// 302 to this location.
    Redirect(String),
    /// These exact bytes (status line, headers, body), then close: malformed
    /// status lines, short bodies, odd statuses and encodings.
    Raw(Vec<u8>),
    /// These bytes one at a time, `every` apart, until sent or the client hangs up.
    Drip(Vec<u8>, Duration),
}

pub(crate) fn json(status: u16, body: &str) -> Reply {
    Reply::Body(status, "application/json", body.as_bytes().to_vec())
}

fn not_found() -> Reply {
    json(404, r#"{"detail":"Not Found"}"#)
}

type Routes = Arc<dyn Fn(&str, &str) -> Reply + Send + Sync>;

pub(crate) struct Server {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `ip:0` and serves at most `max_connections` connections, one thread
    /// each (so a stalled route does not hold up the next request).
    pub(crate) fn start(
        ip: &str,
        max_connections: usize,
        routes: impl Fn(&str, &str) -> Reply + Send + Sync + 'static,
    ) -> std::io::Result<Server> {
        let listener = TcpListener::bind((ip, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let routes: Routes = Arc::new(routes);
        let accept = {
            let log = Arc::clone(&log);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let deadline = Instant::now() + SERVER_LIFETIME;
                let mut workers = Vec::new();
                let mut served = 0;
                while served < max_connections
                    && !stop.load(Ordering::SeqCst)
                    && Instant::now() < deadline
                {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            served += 1;
                            let log = Arc::clone(&log);
                            let routes = Arc::clone(&routes);
                            workers.push(std::thread::spawn(move || {
                                serve(stream, &log, routes.as_ref())
                            }));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
                drop(listener);
                for w in workers {
                    let _ = w.join();
                }
            })
        };
        Ok(Server {
            addr,
            log,
            stop,
            accept: Some(accept),
        })
    }

    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, waits for the workers and returns every request seen,
    /// in arrival order.
    pub(crate) fn finish(&mut self) -> Vec<Request> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.finish();
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn serve(
    mut stream: TcpStream,
    log: &Mutex<Vec<Request>>,
    routes: &(dyn Fn(&str, &str) -> Reply + Send + Sync),
) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut parts = text.lines().next().unwrap_or("").split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("").to_owned();
    if method.is_empty() {
        return; // a connection that sent nothing (e.g. a port probe)
    }
    log.lock().unwrap().push(Request {
        method: method.clone(),
        target: target.clone(),
    });
    match routes(&method, &target) {
        Reply::Body(status, content_type, body) => {
            let head = format!(
                "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                reason(status),
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
        Reply::Huge(n) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n"
            );
            if stream.write_all(head.as_bytes()).is_ok() {
                let chunk = vec![b' '; 64 * 1024];
                let mut left = n;
                while left > 0 {
                    let k = left.min(chunk.len());
                    if stream.write_all(&chunk[..k]).is_err() {
                        break; // the client gave up, as it should
                    }
                    left -= k;
                }
            }
        }
        Reply::Stall(d) => std::thread::sleep(d),
        Reply::Raw(bytes) => {
            let _ = stream.write_all(&bytes);
        }
        Reply::Drip(bytes, every) => {
            for b in bytes {
                if stream
                    .write_all(&[b])
                    .and_then(|()| stream.flush())
                    .is_err()
                {
                    break; // the client gave up, as it should
                }
                std::thread::sleep(every);
            }
        }
        Reply::Redirect(location) => {
            let head = format!(
                "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(head.as_bytes());
        }
    }
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Both);
}

/// A loopback port nobody listens on (bound, then released).
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------
// Running the binary.
// ---------------------------------------------------------------------------

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[String]) -> Run {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(ROOT)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn inferguard");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + RUN_LIMIT;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for inferguard") {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = String::from_utf8_lossy(&t_out.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&t_err.join().unwrap()).into_owned();
    let Some(status) = status else {
        panic!("inferguard {args:?} did not finish within {RUN_LIMIT:?}\nstderr:\n{stderr}");
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

fn collect(dir: &Path, extra: &[String]) -> Run {
    let mut args = strings(&["collect-lmcache", "--output-dir"]);
    args.push(dir.display().to_string());
    args.extend(extra.iter().cloned());
    run(&args)
}

/// A fresh, not yet existing directory under the temp dir for one test.
fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("ig-collect-lmcache-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Every file under `dir`, recursively, sorted.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: cannot read: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: invalid JSON: {e}", path.display()))
}

fn describe(r: &Run) -> String {
    format!(
        "exit {}\n--- stdout\n{}\n--- stderr\n{}",
        r.code, r.stdout, r.stderr
    )
}

// ---------------------------------------------------------------------------
// SHA-256 (FIPS 180-4), so artifact digests can be checked without a crate.
// ---------------------------------------------------------------------------

fn sha256_hex(data: &[u8]) -> String {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes(block[4 * i..4 * i + 4].try_into().unwrap());
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}

#[test]
fn sha256_matches_known_digests() {
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        sha256_hex(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    // 56 bytes: the padding spills into a second block.
    assert_eq!(
        sha256_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    );
}

// ---------------------------------------------------------------------------
// Packet checks shared by the tests.
// ---------------------------------------------------------------------------

/// Every artifact's size and SHA-256 match the file on disk, its path is
/// relative and inside DIR, and every file in DIR other than the manifest itself
/// is listed. Returns the problems found.
fn artifact_problems(dir: &Path, manifest: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(artifacts) = manifest["artifacts"].as_array() else {
        return vec!["manifest has no `artifacts` array".to_owned()];
    };
    if artifacts.is_empty() {
        problems.push("`artifacts` is empty".to_owned());
    }
    let mut listed = Vec::new();
    for a in artifacts {
        let Some(rel) = a["path"].as_str() else {
            problems.push(format!("artifact without a path: {a}"));
            continue;
        };
        if Path::new(rel).is_absolute() || rel.split(['/', '\\']).any(|c| c == "..") {
            problems.push(format!("artifact path `{rel}` is not relative to DIR"));
            continue;
        }
        let file = dir.join(rel);
        listed.push(file.clone());
        let Ok(bytes) = std::fs::read(&file) else {
            problems.push(format!("artifact `{rel}` does not exist"));
            continue;
        };
        if a["bytes"].as_u64() != Some(bytes.len() as u64) {
            problems.push(format!(
                "artifact `{rel}`: bytes {} in the manifest, {} on disk",
                a["bytes"],
                bytes.len()
            ));
        }
        let digest = sha256_hex(&bytes);
        if a["sha256"].as_str() != Some(digest.as_str()) {
            problems.push(format!(
                "artifact `{rel}`: sha256 {} in the manifest, {digest} on disk",
                a["sha256"]
            ));
        }
    }
    for f in walk(dir) {
        if f.file_name().is_some_and(|n| n == "packet_manifest.json") {
            continue;
        }
        if !listed.contains(&f) {
            problems.push(format!(
                "{} is in the packet but not in `artifacts`",
                f.strip_prefix(dir).unwrap().display()
            ));
        }
    }
    problems
}

/// Files (and directories) under `dir` whose name ends in `.tmp`.
fn leftover_temps(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().filter_map(Result::ok) {
            let p = e.path();
            if e.file_name().to_string_lossy().ends_with(".tmp") {
                out.push(p.display().to_string());
            }
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

/// The `scrape_errors` entry for an HTTP route: `source_name` is the route id
/// (possibly qualified, e.g. `lmcache_http.status` or `http:status`) or
/// `source` is a URL ending in the route's current path.
fn scrape_error<'m>(manifest: &'m Value, route: &str, path: &str) -> Option<&'m Value> {
    manifest["scrape_errors"].as_array()?.iter().find(|e| {
        let name = e["source_name"].as_str().unwrap_or("");
        let source = e["source"].as_str().unwrap_or("");
        name == route
            || [".", ":", "/"]
                .iter()
                .any(|sep| name.ends_with(&format!("{sep}{route}")))
            || source.ends_with(path)
    })
}

fn skipped<'m>(manifest: &'m Value, method: &str, path_prefix: &str) -> Option<&'m Value> {
    manifest["skipped_endpoints"].as_array()?.iter().find(|e| {
        e["path"]
            .as_str()
            .is_some_and(|p| p.starts_with(path_prefix))
            && (method.is_empty() || e["method"].as_str() == Some(method))
    })
}

// ---------------------------------------------------------------------------
// 1. Live HTTP routes: read-only, legacy fallback, failures recorded.
// ---------------------------------------------------------------------------

/// Paths the collector may request: the current and legacy paths of the pack's
/// read-only routes (`periodic_thread` with the thread name given below).
const ALLOWED: &[&str] = &[
    "/",
    "/healthcheck",
    "/api/healthcheck",
    "/status",
    "/api/status",
    "/config",
    "/conf",
    "/version",
    "/lmc_version",
    "/commit_id",
    "/threads",
    "/periodic-threads",
    "/periodic-threads/evict-loop",
    "/periodic-threads-health",
    "/quota",
    "/api/quota",
    "/metrics",
];

/// Mutating or sensitive routes (prefixes): none may ever be requested.
const FORBIDDEN: &[&str] = &[
    "/metrics/reset",
    "/cache",
    "/api/clear-cache",
    "/quota/",
    "/reconfigure",
    "/run_script",
    "/loglevel",
    "/env",
];

#[test]
fn live_routes_are_read_only_fall_back_to_legacy_paths_and_record_every_failure() {
    let metrics_text = std::fs::read(Path::new(ROOT).join(MP_PROM)).unwrap();
    let served_metrics = metrics_text.clone();
    let mut server = Server::start("127.0.0.1", 64, move |_method, target| match target {
        "/healthcheck" => json(200, r#"{"status":"healthy"}"#),
        "/status" => json(500, r#"{"detail":"Internal Server Error"}"#),
        "/config" => not_found(),
        "/conf" => json(
            200,
            r#"{"mp":{"host":"0.0.0.0","port":5555,"http_port":8080},"storage_manager":{"l1_size_gb":40,"eviction_policy":"LRU"},"observability":{"metrics_sample_rate":0.01,"event_bus_queue_size":10000}}"#,
        ),
        "/version" => json(200, "{not json"),
        "/threads" => Reply::Huge(50 * 1024 * 1024),
        "/periodic-threads" => Reply::Stall(Duration::from_secs(3)),
        "/periodic-threads/evict-loop" => json(
            200,
            r#"{"name":"evict-loop","is_alive":true,"interval_s":1.0,"last_run_ago_s":0.4}"#,
        ),
        "/quota" => not_found(),
        "/api/quota" => json(200, r#"{"quotas":[]}"#),
        "/metrics" => Reply::Body(200, "text/plain; version=0.0.4", served_metrics.clone()),
        _ => not_found(),
    })
    .unwrap();
    let base = server.base_url();
    let dir = scratch("live");
    let started = Instant::now();
    let r = collect(
        &dir,
        &strings(&[
            "--lmcache-http-base-url",
            &base,
            "--lmcache-http-thread-name",
            "evict-loop",
            "--http-timeout",
            "1",
            "--http-max-body",
            "1000000",
            "--json",
        ]),
    );
    let elapsed = started.elapsed();
    let requests = server.finish();
    let mut problems = Vec::new();
    if r.code != 0 {
        panic!(
            "collect-lmcache failed: {}\nrequests: {requests:?}",
            describe(&r)
        );
    }
    if serde_json::from_str::<Value>(&r.stdout).is_err() {
        problems.push(format!("--json: stdout is not JSON:\n{}", r.stdout));
    }
    if elapsed > Duration::from_secs(60) {
        problems.push(format!("took {elapsed:?}: --http-timeout 1 not honoured?"));
    }

    // What was requested.
    for q in &requests {
        if q.method != "GET" {
            problems.push(format!("non-GET request: {} {}", q.method, q.target));
        }
        if FORBIDDEN
            .iter()
            .any(|f| q.target == *f || q.target.starts_with(f))
        {
            problems.push(format!(
                "forbidden route requested: {} {}",
                q.method, q.target
            ));
        }
        if !ALLOWED.contains(&q.target.as_str()) {
            problems.push(format!("unexpected request: {} {}", q.method, q.target));
        }
    }
    let positions = |path: &str| -> Vec<usize> {
        requests
            .iter()
            .enumerate()
            .filter(|(_, q)| q.target == path)
            .map(|(i, _)| i)
            .collect()
    };
    for path in [
        "/",
        "/healthcheck",
        "/status",
        "/config",
        "/version",
        "/lmc_version",
        "/commit_id",
        "/threads",
        "/periodic-threads",
        "/periodic-threads/evict-loop",
        "/periodic-threads-health",
        "/quota",
        "/metrics",
    ] {
        if positions(path).is_empty() {
            problems.push(format!("read-only route {path} was never requested"));
        }
    }
    for (current, legacy) in [("/config", "/conf"), ("/quota", "/api/quota")] {
        let (c, l) = (positions(current), positions(legacy));
        if c.len() != 1 || l.len() != 1 {
            problems.push(format!(
                "{current} requested {} time(s), legacy {legacy} {} time(s); want once each",
                c.len(),
                l.len()
            ));
        } else if l[0] < c[0] {
            problems.push(format!(
                "legacy {legacy} requested before the current path {current} answered 404"
            ));
        }
    }
    // Legacy paths only after a 404: 200 and 500 on the current path do not count.
    for legacy in ["/api/healthcheck", "/api/status"] {
        if !positions(legacy).is_empty() {
            problems.push(format!(
                "{legacy} requested although its current path did not answer 404"
            ));
        }
    }

    // The manifest.
    let manifest = read_json(&dir.join("packet_manifest.json"));
    if manifest["schema_version"] != "inferguard.packet/v1" {
        problems.push(format!(
            "manifest schema_version {}",
            manifest["schema_version"]
        ));
    }
    if manifest["claim_status"] != "measured" {
        problems.push(format!(
            "claim_status {} although /metrics was captured",
            manifest["claim_status"]
        ));
    }
    for key in [
        "generated_at",
        "tool",
        "context",
        "sources",
        "compat_summary",
    ] {
        if manifest.get(key).is_none_or(Value::is_null) {
            problems.push(format!("manifest has no `{key}`"));
        }
    }
    for (route, path, class, mention) in [
        ("status", "/status", "http_status", Some("500")),
        ("version", "/version", "invalid_json", None),
        ("threads", "/threads", "too_large", None),
        ("periodic_threads", "/periodic-threads", "timeout", None),
    ] {
        match scrape_error(&manifest, route, path) {
            None => problems.push(format!("no scrape error for route {route} ({path})")),
            Some(e) => {
                if e["error_class"] != class {
                    problems.push(format!(
                        "scrape error for {route}: error_class {} (want {class}): {e}",
                        e["error_class"]
                    ));
                }
                if let Some(m) = mention {
                    if !e["error"].as_str().unwrap_or("").contains(m) {
                        problems.push(format!(
                            "scrape error for {route} does not mention {m}: {e}"
                        ));
                    }
                }
            }
        }
    }
    for (method, path, status) in [
        ("POST", "/metrics/reset", "destructive_skipped"),
        ("POST", "/cache/clear", "destructive_skipped"),
        ("POST", "/api/clear-cache", "destructive_skipped"),
        ("DELETE", "/cache/objects", "destructive_skipped"),
        ("POST", "/cache/prefetches", "destructive_skipped"),
        ("PUT", "/quota/", "destructive_skipped"),
        ("DELETE", "/quota/", "destructive_skipped"),
        ("POST", "/reconfigure/", "destructive_skipped"),
        ("POST", "/run_script", "destructive_skipped"),
        ("", "/loglevel", "destructive_skipped"),
        ("", "/env", "sensitive_skipped"),
    ] {
        match skipped(&manifest, method, path) {
            None => problems.push(format!("skipped_endpoints lacks {method} {path}")),
            Some(e) if e["status"] != status => problems.push(format!(
                "skipped {method} {path}: status {} (want {status})",
                e["status"]
            )),
            Some(_) => {}
        }
    }

    // The HTTP evidence.
    let http = read_json(&dir.join("lmcache_http_evidence.json"));
    if !http["schema_version"].is_string() {
        problems.push("lmcache_http_evidence.json has no schema_version".to_owned());
    }
    if http["base_url"].as_str().map(|u| u.trim_end_matches('/')) != Some(base.as_str()) {
        problems.push(format!("base_url {} (want {base})", http["base_url"]));
    }
    let ep = &http["endpoints"];
    // `path` and `tried[].path` are compared as paths; a full URL (base + path)
    // is accepted too, and noted.
    let rel = |v: &Value| -> Value {
        match v.as_str() {
            Some(s) if s.starts_with(base.as_str()) => {
                eprintln!("note: HTTP evidence path given as a full URL: {s}");
                Value::from(&s[base.len()..])
            }
            _ => v.clone(),
        }
    };
    let hc = &ep["healthcheck"];
    if hc["status"] != "healthy" || rel(&hc["path"]) != "/healthcheck" || hc["http_status"] != 200 {
        problems.push(format!("healthcheck endpoint: {hc}"));
    }
    if hc["fields"]["status"] != "healthy" {
        problems.push(format!("healthcheck fields: {}", hc["fields"]));
    }
    for (route, current, legacy) in [
        ("config", "/config", "/conf"),
        ("quota", "/quota", "/api/quota"),
    ] {
        let e = &ep[route];
        let tried: Vec<(Value, Value)> = e["tried"]
            .as_array()
            .map(|t| {
                t.iter()
                    .map(|x| (rel(&x["path"]), x["http_status"].clone()))
                    .collect()
            })
            .unwrap_or_default();
        let want = vec![
            (Value::from(current), Value::from(404)),
            (Value::from(legacy), Value::from(200)),
        ];
        if rel(&e["path"]) != legacy || tried != want || e["http_status"] != 200 {
            problems.push(format!(
                "{route} endpoint should have answered on {legacy} after {current} 404'd: {e}"
            ));
        }
    }
    if ep["status"]["status"] == "healthy" || ep["status"]["http_status"] != 500 {
        problems.push(format!("status endpoint (HTTP 500): {}", ep["status"]));
    }
    for route in ["version", "threads", "periodic_threads"] {
        if ep[route]["status"] == "healthy" {
            problems.push(format!(
                "{route} failed but is marked healthy: {}",
                ep[route]
            ));
        }
    }
    if ep["periodic_threads"]["tried"][0]["error_class"] != "timeout" {
        problems.push(format!(
            "periodic_threads tried: {}",
            ep["periodic_threads"]["tried"]
        ));
    }
    if rel(&ep["periodic_thread"]["path"]) != "/periodic-threads/evict-loop" {
        problems.push(format!(
            "periodic_thread endpoint: {}",
            ep["periodic_thread"]
        ));
    }
    let destructive = http["destructive_skipped"].to_string();
    let sensitive = http["sensitive_skipped"].to_string();
    if !destructive.contains("/cache/clear") || !destructive.contains("/metrics/reset") {
        problems.push(format!("http evidence destructive_skipped: {destructive}"));
    }
    if !sensitive.contains("/env") {
        problems.push(format!("http evidence sensitive_skipped: {sensitive}"));
    }

    // Files.
    match std::fs::read(dir.join("lmcache_metrics.prom")) {
        Ok(saved) if saved == metrics_text => {}
        Ok(_) => problems.push("lmcache_metrics.prom differs from what /metrics served".to_owned()),
        Err(e) => problems.push(format!("no lmcache_metrics.prom from /metrics: {e}")),
    }
    let report = read_json(&dir.join("lmcache_compat_report.json"));
    if report["detected_mode"] != "mp" {
        problems.push(format!(
            "compat report detected_mode {}",
            report["detected_mode"]
        ));
    }
    let total: u64 = walk(&dir)
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    if total > 5_000_000 {
        problems.push(format!(
            "packet holds {total} bytes: the 50 MB /threads body was not capped at 1000000"
        ));
    }
    problems.extend(artifact_problems(&dir, &manifest));
    problems.extend(
        leftover_temps(&dir)
            .into_iter()
            .map(|t| format!("temp file left behind: {t}")),
    );
    assert!(
        problems.is_empty(),
        "{} problem(s):\n  {}\nrequests: {:?}\nmanifest: {}",
        problems.len(),
        problems.join("\n  "),
        requests
            .iter()
            .map(|q| format!("{} {}", q.method, q.target))
            .collect::<Vec<_>>(),
        serde_json::to_string_pretty(&manifest).unwrap()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A redirect to another host is not followed: the other host sees nothing and
/// the route's failure is recorded.
#[test]
fn cross_host_redirects_are_not_followed() {
    // 127.0.0.2 is another host as far as URLs go (Linux answers all of 127/8).
    let mut elsewhere = Server::start("127.0.0.2", 8, |_, _| json(200, r#"{"status":"healthy"}"#))
        .or_else(|_| Server::start("127.0.0.1", 8, |_, _| json(200, r#"{"status":"healthy"}"#)))
        .unwrap();
    let other = if elsewhere.addr.ip().to_string() == "127.0.0.2" {
        format!("http://127.0.0.2:{}", elsewhere.addr.port())
    } else {
        format!("http://localhost:{}", elsewhere.addr.port())
    };
    let mut server = Server::start("127.0.0.1", 32, move |_, target| match target {
        "/healthcheck" => Reply::Redirect(format!("{other}/healthcheck")),
        _ => not_found(),
    })
    .unwrap();
    let dir = scratch("redirect");
    let r = collect(
        &dir,
        &strings(&[
            "--lmcache-http-base-url",
            &server.base_url(),
            "--lmcache-metrics-file",
            MP_PROM,
            "--http-timeout",
            "2",
        ]),
    );
    let requests = server.finish();
    let leaked = elsewhere.finish();
    assert_eq!(r.code, 0, "{}", describe(&r));
    assert!(
        leaked.is_empty(),
        "the redirect to another host was followed: {leaked:?}"
    );
    assert!(requests.iter().all(|q| q.method == "GET"), "{requests:?}");
    let manifest = read_json(&dir.join("packet_manifest.json"));
    assert!(
        scrape_error(&manifest, "healthcheck", "/healthcheck").is_some(),
        "refused cross-host redirect not recorded in scrape_errors: {}",
        manifest["scrape_errors"]
    );
    let http = read_json(&dir.join("lmcache_http_evidence.json"));
    assert_ne!(
        http["endpoints"]["healthcheck"]["status"], "healthy",
        "{}",
        http["endpoints"]["healthcheck"]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------
// 2. Partial-first.
// ---------------------------------------------------------------------------

#[test]
fn an_unreachable_url_is_recorded_and_collection_goes_on() {
    let url = format!("http://127.0.0.1:{}/metrics", closed_port());
    let dir = scratch("partial");
    let r = collect(
        &dir,
        &strings(&[
            "--lmcache-metrics-file",
            MP_PROM,
            "--engine-metrics-url",
            &url,
            "--http-timeout",
            "2",
        ]),
    );
    assert_eq!(r.code, 0, "{}", describe(&r));
    let manifest = read_json(&dir.join("packet_manifest.json"));
    let errors = manifest["scrape_errors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let e = errors
        .iter()
        .find(|e| e["source"].as_str().is_some_and(|s| s.contains(&url)))
        .unwrap_or_else(|| panic!("no scrape error for {url}: {}", manifest["scrape_errors"]));
    assert_eq!(e["error_class"], "connect", "{e}");
    assert!(
        e["source_name"].is_string() && e["error"].is_string(),
        "{e}"
    );
    assert_eq!(manifest["claim_status"], "measured");
    assert_eq!(
        std::fs::read(dir.join("lmcache_metrics.prom")).unwrap(),
        std::fs::read(Path::new(ROOT).join(MP_PROM)).unwrap()
    );
    assert!(
        !dir.join("engine_metrics.prom").exists(),
        "engine_metrics.prom written although the engine URL failed"
    );
    let problems = artifact_problems(&dir, &manifest);
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(leftover_temps(&dir).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn nothing_collectable_exits_2_naming_the_url() {
    let url = format!("http://127.0.0.1:{}/metrics", closed_port());
    let dir = scratch("nothing");
    let r = collect(
        &dir,
        &strings(&["--lmcache-metrics-url", &url, "--http-timeout", "2"]),
    );
    assert_eq!(r.code, 2, "{}", describe(&r));
    assert!(
        r.stderr
            .lines()
            .any(|l| l.starts_with("error:") && l.contains(&url)),
        "no `error:` line naming {url}:\n{}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------
// 3. An existing packet is not overwritten without --force.
// ---------------------------------------------------------------------------

#[test]
fn a_non_empty_output_dir_needs_force() {
    let dir = scratch("force");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("keep.txt"), b"operator's notes\n").unwrap();
    let args = strings(&["--lmcache-metrics-file", MP_PROM]);

    let r = collect(&dir, &args);
    assert_eq!(r.code, 2, "{}", describe(&r));
    assert!(
        r.stderr.lines().any(|l| l.starts_with("error:")),
        "no error line:\n{}",
        r.stderr
    );
    assert!(
        !dir.join("packet_manifest.json").exists() && !dir.join("lmcache_metrics.prom").exists(),
        "wrote into a non-empty DIR without --force"
    );
    assert_eq!(
        std::fs::read(dir.join("keep.txt")).unwrap(),
        b"operator's notes\n"
    );

    let mut forced = args.clone();
    forced.push("--force".into());
    let r = collect(&dir, &forced);
    assert_eq!(r.code, 0, "{}", describe(&r));
    assert!(dir.join("packet_manifest.json").is_file());
    assert!(leftover_temps(&dir).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();

    // An existing but empty DIR is fine without --force.
    std::fs::create_dir_all(&dir).unwrap();
    let r = collect(&dir, &args);
    assert_eq!(r.code, 0, "{}", describe(&r));
    assert!(dir.join("packet_manifest.json").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Re-collecting with `--force` must not leave evidence from the previous packet
/// behind: `--packet` reads evidence files by name, so a stale
/// `launch_evidence.json` would silently change the next report.
#[test]
fn force_does_not_keep_stale_evidence_from_the_previous_packet() {
    let dir = scratch("stale");
    let r = collect(
        &dir,
        &strings(&[
            "--lmcache-metrics-file",
            MP_PROM,
            "--launch-file",
            "fixtures/evidence/launch/mp-server-and-vllm.sh",
        ]),
    );
    assert_eq!(r.code, 0, "{}", describe(&r));
    assert!(dir.join("launch_evidence.json").is_file());
    let r = collect(
        &dir,
        &strings(&["--lmcache-metrics-file", MP_PROM, "--force"]),
    );
    assert_eq!(r.code, 0, "{}", describe(&r));
    assert!(
        !dir.join("launch_evidence.json").exists(),
        "launch_evidence.json from the previous packet survived --force"
    );
    let manifest = read_json(&dir.join("packet_manifest.json"));
    let problems = artifact_problems(&dir, &manifest);
    assert!(problems.is_empty(), "{problems:#?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------
// 4. A packet gives the same compat report as the direct flags.
// ---------------------------------------------------------------------------

/// Evidence file in a packet → the `lmcache-compat` flag that reads it directly.
const EVIDENCE_FLAGS: &[(&str, &str)] = &[
    ("lmcache_http_evidence.json", "--lmcache-http-evidence-file"),
    ("lmcache_log_evidence.json", "--lmcache-log-evidence-file"),
    (
        "lmcache_trace_evidence.json",
        "--lmcache-trace-evidence-file",
    ),
    ("lmcache_otel_evidence.json", "--lmcache-otel-evidence-file"),
    (
        "lmcache_trace_replay_evidence.json",
        "--lmcache-trace-replay-evidence-file",
    ),
    (
        "lmcache_lookup_hash_evidence.json",
        "--lmcache-lookup-hash-evidence-file",
    ),
    ("launch_evidence.json", "--launch-evidence-file"),
];

/// The only normalisation: `source` of each `inputs[]` and `evidence_files[]`
/// entry becomes `<source>`, and both arrays are then sorted. The source is where
/// the input was read from — the packet's `lmcache_metrics.prom` versus the
/// original fixture, or, in the report `collect-lmcache` writes itself, whatever
/// name it gives to evidence it held in memory — so it legitimately differs, and
/// the order in which the two code paths list their inputs is not part of the
/// contract. Everything else (counts of lines, samples, families, dropped lines,
/// evidence kinds and errors, and the whole analysis) must be identical.
fn normalise(mut report: Value) -> Value {
    for key in ["inputs", "evidence_files"] {
        if let Some(items) = report.get_mut(key).and_then(Value::as_array_mut) {
            for item in items.iter_mut() {
                if let Some(s) = item.get_mut("source") {
                    *s = Value::from("<source>");
                }
            }
            items.sort_by_key(|v| v.to_string());
        }
    }
    report
}

/// Up to 30 JSON pointers where `a` and `b` differ.
fn json_diff(a: &Value, b: &Value, at: &str, out: &mut Vec<String>) {
    if out.len() >= 30 {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = format!("{at}/{k}");
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => json_diff(u, v, &p, out),
                    (u, v) => out.push(format!("{p}: {u:?} vs {v:?}")),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                json_diff(u, v, &format!("{at}/{i}"), out);
            }
        }
        _ if a != b => {
            let clip = |v: &Value| v.to_string().chars().take(300).collect::<String>();
            out.push(format!("{at}: {} vs {}", clip(a), clip(b)));
        }
        _ => {}
    }
}

const LOG_LINES: &str = "\x1b[32m[2026-04-01 14:30:20,001] LMCache INFO:\x1b[0m Starting LMCache HTTP server on http://0.0.0.0:8080 \x1b[3m(http_server.py:88:lmcache.v1.multiprocess.http_server)\x1b[0m
\x1b[32m[2026-04-01 14:30:20,510] LMCache INFO:\x1b[0m OTel MeterProvider initialised with Prometheus fallback (standalone metrics HTTP server disabled; /metrics must be exposed by the caller), resource={'service.instance.id': 'lmc-node-a'} \x1b[3m(metrics.py:140:lmcache.v1.mp_observability.metrics)\x1b[0m
\x1b[32m[2026-04-01 14:30:25,123] LMCache INFO:\x1b[0m Stored 512 tokens in 0.014 seconds \x1b[3m(server.py:402:lmcache.v1.multiprocess.server)\x1b[0m
\x1b[32m[2026-04-01 14:30:26,456] LMCache INFO:\x1b[0m Retrieved 256 tokens in 0.006 seconds \x1b[3m(server.py:455:lmcache.v1.multiprocess.server)\x1b[0m
\x1b[33m[2026-04-01 14:30:40,000] LMCache WARNING:\x1b[0m Timeout raised (L2StoreTimeout): store did not finish in 5.0s \x1b[3m(timeout.py:31:lmcache.v1.timeout)\x1b[0m
";

#[test]
fn a_packet_gives_the_same_compat_report_as_the_direct_flags() {
    let mut server = Server::start("127.0.0.1", 64, |_, target| match target {
        "/healthcheck" => json(200, r#"{"status":"healthy"}"#),
        "/status" => json(
            200,
            r#"{"engine_type":"MPCacheEngine","l1":{"used_bytes":1073741824,"capacity_bytes":42949672960},"l2":[],"kv_events":{"enabled":true,"incarnation":1,"log_depth":3,"log_capacity":1024,"next_seq":42,"lost_markers":0,"unbound_stores":0,"subscribers":1}}"#,
        ),
        "/version" => json(200, r#""0.5.6""#),
        "/config" => json(200, r#"{"mp":{"port":5555},"observability":{"metrics_sample_rate":0.05}}"#),
        _ => not_found(),
    })
    .unwrap();
    let dir = scratch("same-report");
    let log_dir = scratch("same-report-inputs");
    std::fs::create_dir_all(&log_dir).unwrap();
    let log = log_dir.join("lmcache.log");
    std::fs::write(&log, LOG_LINES).unwrap();
    let context = strings(&[
        "--expect-mode",
        "mp",
        "--mp-metrics-sample-rate",
        "0.05",
        "--mp-event-bus-queue-size",
        "20000",
    ]);
    let mut args = strings(&[
        "--lmcache-metrics-file",
        MP_PROM,
        "--engine-metrics-file",
        VLLM_PROM,
        "--lmcache-http-base-url",
        &server.base_url(),
        "--http-timeout",
        "2",
        "--launch-file",
        "fixtures/evidence/launch/mp-server-and-vllm.sh",
        "--lmcache-log-file",
        &log.display().to_string(),
        "--lmcache-otel-file",
        "fixtures/evidence/otel/spans.jsonl",
        "--lmcache-trace-file",
        "fixtures/evidence/lct/storage.lct",
        "--lmcache-trace-replay-output",
        "fixtures/evidence/replay/out",
        "--lmcache-lookup-hash-path",
        "fixtures/evidence/lookup-hash/rotated",
    ]);
    args.extend(context.iter().cloned());
    let r = collect(&dir, &args);
    server.finish();
    assert_eq!(r.code, 0, "{}", describe(&r));
    let missing: Vec<&str> = EVIDENCE_FLAGS
        .iter()
        .map(|(f, _)| *f)
        .filter(|f| !dir.join(f).is_file())
        .collect();
    assert!(
        missing.is_empty(),
        "one *_evidence.json per kind given; missing {missing:?}"
    );

    // (a) the packet read back by lmcache-compat.
    let mut packet_args = strings(&["lmcache-compat", "--packet"]);
    packet_args.push(dir.display().to_string());
    packet_args.push("--json".into());
    packet_args.extend(context.iter().cloned());
    let from_packet = run(&packet_args);
    assert_eq!(from_packet.code, 0, "{}", describe(&from_packet));
    // Without the flags, the packet answers with the context it was collected with
    // (issue 11: `--packet` ignored `--expect-mode` and the MP settings).
    let bare = run(&packet_args[..packet_args.len() - context.len()]);
    assert_eq!(bare.code, 0, "{}", describe(&bare));
    assert_eq!(
        serde_json::from_str::<Value>(&bare.stdout).unwrap(),
        serde_json::from_str::<Value>(&from_packet.stdout).unwrap(),
        "lmcache-compat --packet without flags ignores the recorded context"
    );

    // (b) the same inputs as direct flags: the original scrapes and the packet's
    // evidence files.
    let mut direct_args = strings(&[
        "lmcache-compat",
        "--lmcache-metrics-file",
        MP_PROM,
        "--engine-metrics-file",
        VLLM_PROM,
        "--json",
    ]);
    for (file, flag) in EVIDENCE_FLAGS {
        direct_args.push((*flag).to_owned());
        direct_args.push(dir.join(file).display().to_string());
    }
    direct_args.extend(context.iter().cloned());
    let direct = run(&direct_args);
    assert_eq!(direct.code, 0, "{}", describe(&direct));

    let a = normalise(serde_json::from_str(&from_packet.stdout).expect("packet report JSON"));
    let b = normalise(serde_json::from_str(&direct.stdout).expect("direct report JSON"));
    let c = normalise(read_json(&dir.join("lmcache_compat_report.json")));
    let mut diffs = Vec::new();
    json_diff(&a, &b, "", &mut diffs);
    assert!(
        diffs.is_empty(),
        "lmcache-compat --packet differs from the direct flags (packet vs direct):\n  {}",
        diffs.join("\n  ")
    );
    let mut diffs = Vec::new();
    json_diff(&c, &b, "", &mut diffs);
    assert!(
        diffs.is_empty(),
        "the packet's lmcache_compat_report.json differs from lmcache-compat --json (packet file vs direct):\n  {}",
        diffs.join("\n  ")
    );
    assert_eq!(b["detected_mode"], "mp");
    let evidence_kinds = b["evidence_files"].as_array().map_or(0, Vec::len);
    assert_eq!(
        evidence_kinds,
        EVIDENCE_FLAGS.len(),
        "{}",
        b["evidence_files"]
    );

    // The report validates against its schema.
    let schema: Value =
        read_json(&Path::new(ROOT).join("schemas/lmcache-compat-report.schema.json"));
    let validator = jsonschema::validator_for(&schema).unwrap();
    let raw_c = read_json(&dir.join("lmcache_compat_report.json"));
    let errors: Vec<String> = validator
        .iter_errors(&raw_c)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "lmcache_compat_report.json: {errors:#?}");

    // The manifest says where every input came from.
    let manifest = read_json(&dir.join("packet_manifest.json"));
    let sources = manifest["sources"].to_string();
    let unlisted: Vec<&str> = args
        .windows(2)
        .filter(|w| w[0].starts_with("--") && !w[1].starts_with("--"))
        .filter(|w| {
            ![
                "--http-timeout",
                "--expect-mode",
                "--mp-metrics-sample-rate",
                "--mp-event-bus-queue-size",
            ]
            .contains(&w[0].as_str())
        })
        .map(|w| w[1].as_str())
        .filter(|input| !sources.contains(&serde_json::to_string(input).unwrap()))
        .collect();
    assert!(
        unlisted.is_empty(),
        "inputs missing from the manifest's `sources`: {unlisted:?}\nsources: {sources}"
    );
    let problems = artifact_problems(&dir, &manifest);
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(leftover_temps(&dir).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&log_dir).unwrap();
}

// ---------------------------------------------------------------------------
// 5. Privacy: no lookup hash and no secret reaches any file of the packet.
// ---------------------------------------------------------------------------

/// Lookup hashes fed in (format of upstream-metrics.md 1.10).
const HASHES: &[&str] = &[
    "0x7e57ab1ec0ffee00000000000000a001",
    "0x7e57ab1ec0ffee00000000000000a002",
    "0x7e57ab1ec0ffee00000000000000a003",
    "0x51dec0de7e57ab1e",
];

fn lookup_hash_lines() -> String {
    let rows = [
        (1775053825.125, "req-1", 256, 700, &HASHES[0..3]),
        (1775053826.5, "req-2", 256, 300, &HASHES[3..4]),
        (1775053827.0, "", 256, 10, &HASHES[0..0]),
    ];
    let mut out = String::new();
    for (ts, id, chunk, seq, hashes) in rows {
        let row = serde_json::json!({
            "timestamp": ts,
            "request_id": id,
            "model_name": "meta-llama/Llama-3.1-8B-Instruct",
            "chunk_size": chunk,
            "seq_len": seq,
            "dtypes": ["bfloat16"],
            "shapes": [[2, 32, 256, 8, 128]],
            "chunk_hashes": hashes,
        });
        out.push_str(&row.to_string());
        out.push('\n');
    }
    out
}

const LAUNCH: &str = "#!/usr/bin/env bash
export HF_TOKEN=hf_SECRETTOKEN456
export PYTHONHASHSEED=0
lmcache server --port 5555 --http-port 8080 --lookup-hash-log-dir /var/log/lmcache/lookup &
vllm serve meta-llama/Llama-3.1-8B-Instruct --api-key sk-SECRETVALUE123 \\
  --kv-transfer-config '{\"kv_connector\":\"LMCacheMPConnector\",\"kv_role\":\"kv_both\"}'
";

/// `(file relative to DIR, needle)` for every file under `dir` containing one of
/// `needles`.
fn leaks(dir: &Path, needles: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for f in walk(dir) {
        let bytes = std::fs::read(&f).unwrap();
        let text = String::from_utf8_lossy(&bytes).to_ascii_lowercase();
        for n in needles {
            if text.contains(&n.to_ascii_lowercase()) {
                out.push((
                    f.strip_prefix(dir).unwrap().display().to_string(),
                    n.clone(),
                ));
            }
        }
    }
    out
}

/// The raw hash values (with and without `0x`, and their common prefix) and the
/// secrets (whole, and without their `sk-`/`hf_` prefixes).
fn privacy_needles() -> Vec<String> {
    let mut needles: Vec<String> = HASHES.iter().map(|h| (*h).to_owned()).collect();
    needles.extend(HASHES.iter().map(|h| h.trim_start_matches("0x").to_owned()));
    needles.push("7e57ab1ec0ffee".to_owned());
    needles.extend(
        [
            "sk-SECRETVALUE123",
            "SECRETVALUE123",
            "hf_SECRETTOKEN456",
            "SECRETTOKEN456",
        ]
        .iter()
        .map(|s| (*s).to_owned()),
    );
    needles
}

#[test]
fn no_lookup_hash_or_launch_secret_reaches_the_packet() {
    let inputs = scratch("privacy-inputs");
    std::fs::create_dir_all(inputs.join("lookup")).unwrap();
    std::fs::write(
        inputs.join("lookup/lookup_hashes_20260401_143025_000000.jsonl"),
        lookup_hash_lines(),
    )
    .unwrap();
    std::fs::write(inputs.join("launch.sh"), LAUNCH).unwrap();
    let dir = scratch("privacy");
    let r = collect(
        &dir,
        &[
            "--lmcache-metrics-file".to_owned(),
            MP_PROM.to_owned(),
            "--lmcache-lookup-hash-path".to_owned(),
            inputs.join("lookup").display().to_string(),
            "--launch-file".to_owned(),
            inputs.join("launch.sh").display().to_string(),
            "--json".to_owned(),
        ],
    );
    assert_eq!(r.code, 0, "{}", describe(&r));
    assert!(dir.join("lmcache_lookup_hash_evidence.json").is_file());
    assert!(dir.join("launch_evidence.json").is_file());
    // The parsers did see the input: the evidence is not empty.
    let lh = std::fs::read_to_string(dir.join("lmcache_lookup_hash_evidence.json")).unwrap();
    assert!(lh.contains("meta-llama/Llama-3.1-8B-Instruct"), "{lh}");
    let launch = std::fs::read_to_string(dir.join("launch_evidence.json")).unwrap();
    assert!(launch.contains("LMCacheMPConnector"), "{launch}");

    let needles = privacy_needles();
    let mut found = leaks(&dir, &needles);
    for (stream, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        for n in &needles {
            if text.to_ascii_lowercase().contains(&n.to_ascii_lowercase()) {
                found.push((stream.to_owned(), n.clone()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "raw hashes or secrets written (file, value):\n  {}",
        found
            .iter()
            .map(|(f, n)| format!("{f}: {n}"))
            .collect::<Vec<_>>()
            .join("\n  ")
    );
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&inputs).unwrap();
}

/// Tokens in log lines are redacted too (SPEC: secrets are redacted before
/// anything is written) — in the log evidence snippets and in any raw copy.
#[test]
fn no_secret_in_log_lines_reaches_the_packet() {
    let inputs = scratch("privacy-log-inputs");
    std::fs::create_dir_all(&inputs).unwrap();
    let engine_log = inputs.join("vllm.log");
    std::fs::write(
        &engine_log,
        "INFO 04-01 14:30:20 [api_server.py:1600] vLLM API server version 0.33.0\n\
         INFO 04-01 14:30:20 [launcher.py:28] Launching: vllm serve meta-llama/Llama-3.1-8B-Instruct --api-key sk-SECRETVALUE123 --kv-transfer-config {\"kv_connector\":\"LMCacheMPConnector\",\"kv_role\":\"kv_both\"}\n\
         INFO 04-01 14:30:21 [http.py:12] GET /v1/models Authorization: Bearer sk-SECRETVALUE123\n\
         INFO 04-01 14:30:21 [env.py:40] HF_TOKEN=hf_SECRETTOKEN456\n",
    )
    .unwrap();
    let lmc_log = inputs.join("lmcache.log");
    std::fs::write(&lmc_log, LOG_LINES).unwrap();
    let dir = scratch("privacy-log");
    let r = collect(
        &dir,
        &[
            "--lmcache-metrics-file".to_owned(),
            MP_PROM.to_owned(),
            "--engine-log-file".to_owned(),
            engine_log.display().to_string(),
            "--lmcache-log-file".to_owned(),
            lmc_log.display().to_string(),
        ],
    );
    assert_eq!(r.code, 0, "{}", describe(&r));
    let needles = strings(&["SECRETVALUE123", "SECRETTOKEN456"]);
    let found = leaks(&dir, &needles);
    assert!(found.is_empty(), "secrets from logs written: {found:?}");
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&inputs).unwrap();
}

/// Raw copies are written too, and `.lct` and OTel inputs can carry secrets: an
/// L2 adapter password in the trace header's `sm_config_json`, and the launch
/// command in the OTel resource (`process.command_line`, `process.command_args`,
/// added by the SDK's process detector or a collector). SPEC: secrets are
/// redacted before anything is written.
#[test]
fn no_secret_in_trace_or_otel_inputs_reaches_the_packet() {
    let inputs = scratch("privacy-raw-inputs");
    std::fs::create_dir_all(&inputs).unwrap();
    let config = r#"{"l1":{"size_gb":4},"l2_adapters":[{"type":"resp","host":"redis","port":6379,"password":"SECRETL2PASSWORD789"}]}"#;
    let header = mp_map(&[
        ("type", mp_str("header")),
        ("magic", mp_bin(b"LMCT")),
        ("format_version", mp_uint(1)),
        ("level", mp_str("storage")),
        ("trace_schema_version", mp_uint(1)),
        ("t_mono_start", mp_f64(1000.0)),
        ("t_wall_start", mp_f64(1_775_053_825.0)),
        ("sm_config_json", mp_str(config)),
        ("sm_config_digest", mp_str(&sha256_hex(config.as_bytes()))),
    ]);
    let record = mp_map(&[
        ("type", mp_str("record")),
        ("t_mono", mp_f64(0.25)),
        ("t_wall", mp_f64(1_775_053_825.25)),
        (
            "qualname",
            mp_str("lmcache.v1.distributed.storage_manager.StorageManager.reserve_write"),
        ),
        ("args", mp_map(&[])),
    ]);
    let mut lct = Vec::new();
    for frame in [header, record] {
        lct.extend_from_slice(&(frame.len() as u32).to_be_bytes());
        lct.extend_from_slice(&frame);
    }
    std::fs::write(inputs.join("run.lct"), &lct).unwrap();
    let otlp = serde_json::json!({"resourceSpans": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "lmcache-mp"}},
            {"key": "process.command_line", "value": {"stringValue":
                "lmcache server --port 5555 --api-key sk-SECRETVALUE123"}},
            {"key": "process.command_args", "value": {"arrayValue": {"values": [
                {"stringValue": "lmcache"}, {"stringValue": "server"},
                {"stringValue": "--api-key"}, {"stringValue": "sk-SECRETVALUE123"}]}}}
        ]},
        "scopeSpans": [{"scope": {"name": "lmcache_mp.server"}, "spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": "eee19b7ec3c1b174",
            "name": "mp.store",
            "kind": 1,
            "startTimeUnixNano": "1767225600000000000",
            "endTimeUnixNano": "1767225600010000000",
            "attributes": [
                {"key": "session_id", "value": {"stringValue": "a"}},
                {"key": "http.request.header.authorization",
                 "value": {"stringValue": "Bearer sk-SECRETVALUE123"}}
            ]
        }]}]
    }]});
    std::fs::write(inputs.join("spans.json"), otlp.to_string()).unwrap();
    let dir = scratch("privacy-raw");
    let r = collect(
        &dir,
        &[
            "--lmcache-metrics-file".to_owned(),
            MP_PROM.to_owned(),
            "--lmcache-trace-file".to_owned(),
            inputs.join("run.lct").display().to_string(),
            "--lmcache-otel-file".to_owned(),
            inputs.join("spans.json").display().to_string(),
        ],
    );
    assert_eq!(r.code, 0, "{}", describe(&r));
    // The parsers did read the inputs.
    let trace = read_json(&dir.join("lmcache_trace_evidence.json")).to_string();
    assert!(trace.contains("reserve_write"), "{trace}");
    let otel = read_json(&dir.join("lmcache_otel_evidence.json")).to_string();
    assert!(otel.contains("mp.store"), "{otel}");
    let found = leaks(&dir, &strings(&["SECRETL2PASSWORD789", "SECRETVALUE123"]));
    assert!(
        found.is_empty(),
        "secrets from the trace / OTel inputs written (file, value): {found:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&inputs).unwrap();
}

// A minimal msgpack encoder (maps, strings, bytes, unsigned ints, doubles).
fn mp_str(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = match b.len() {
        n if n < 32 => vec![0xa0 | n as u8],
        n if n < 256 => vec![0xd9, n as u8],
        n => {
            let mut v = vec![0xda];
            v.extend_from_slice(&(n as u16).to_be_bytes());
            v
        }
    };
    out.extend_from_slice(b);
    out
}

fn mp_bin(b: &[u8]) -> Vec<u8> {
    let mut out = vec![0xc4, b.len() as u8];
    out.extend_from_slice(b);
    out
}

fn mp_uint(n: u32) -> Vec<u8> {
    let mut out = vec![0xce];
    out.extend_from_slice(&n.to_be_bytes());
    out
}

fn mp_f64(x: f64) -> Vec<u8> {
    let mut out = vec![0xcb];
    out.extend_from_slice(&x.to_be_bytes());
    out
}

fn mp_map(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![0x80 | entries.len() as u8];
    for (k, v) in entries {
        out.extend(mp_str(k));
        out.extend_from_slice(v);
    }
    out
}

// ---------------------------------------------------------------------------
// More partial-first: evidence inputs that cannot be read.
// ---------------------------------------------------------------------------

/// Every evidence flag pointed at a path that does not exist: beside a good
/// scrape the failure is a `scrape_errors` entry naming the path (exit 0); alone,
/// nothing was collected (exit 2).
#[test]
fn an_unreadable_evidence_input_is_a_scrape_error_and_alone_collects_nothing() {
    let missing = std::env::temp_dir()
        .join(format!("ig-collect-lmcache-absent-{}", std::process::id()))
        .join("no-such-input");
    let missing = missing.display().to_string();
    let mut problems = Vec::new();
    for flag in [
        "--engine-metrics-file",
        "--lmcache-metrics-file",
        "--engine-log-file",
        "--lmcache-log-file",
        "--lmcache-otel-file",
        "--lmcache-trace-file",
        "--lmcache-trace-replay-output",
        "--lmcache-lookup-hash-path",
        "--launch-file",
    ] {
        let dir = scratch("absent-with-scrape");
        let with_scrape = if flag == "--lmcache-metrics-file" {
            strings(&["--engine-metrics-file", VLLM_PROM, flag, &missing])
        } else {
            strings(&["--lmcache-metrics-file", MP_PROM, flag, &missing])
        };
        let r = collect(&dir, &with_scrape);
        if r.code != 0 {
            problems.push(format!("{flag} (beside a good scrape): {}", describe(&r)));
        } else {
            let manifest = read_json(&dir.join("packet_manifest.json"));
            let recorded = manifest["scrape_errors"].as_array().is_some_and(|errors| {
                errors
                    .iter()
                    .any(|e| e["source"].as_str().is_some_and(|s| s.contains(&missing)))
            });
            if !recorded {
                problems.push(format!(
                    "{flag}: unreadable input not in scrape_errors: {}",
                    manifest["scrape_errors"]
                ));
            }
        }
        let _ = std::fs::remove_dir_all(&dir);

        let dir = scratch("absent-alone");
        let r = collect(&dir, &strings(&[flag, &missing]));
        if r.code != 2 {
            problems.push(format!(
                "{flag} alone (nothing readable): exit {} (want 2)",
                r.code
            ));
        } else if !r
            .stderr
            .lines()
            .any(|l| l.starts_with("error:") && l.contains(&missing))
        {
            problems.push(format!(
                "{flag} alone: no error line naming the path:\n{}",
                r.stderr
            ));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

/// Two scrapes of one role (two engine endpoints) must survive the packet: the
/// report from `--packet` is the report from the two files given directly
/// (normalised as in `a_packet_gives_the_same_compat_report_as_the_direct_flags`).
#[test]
fn a_packet_with_two_scrapes_of_one_role_gives_the_same_report() {
    let second = "fixtures/evidence/vllm/healthy.prom";
    let dir = scratch("two-scrapes");
    let r = collect(
        &dir,
        &strings(&[
            "--engine-metrics-file",
            VLLM_PROM,
            "--engine-metrics-file",
            second,
            "--lmcache-metrics-file",
            MP_PROM,
        ]),
    );
    assert_eq!(r.code, 0, "{}", describe(&r));
    let mut packet_args = strings(&["lmcache-compat", "--json", "--packet"]);
    packet_args.push(dir.display().to_string());
    let from_packet = run(&packet_args);
    assert_eq!(from_packet.code, 0, "{}", describe(&from_packet));
    let direct = run(&strings(&[
        "lmcache-compat",
        "--json",
        "--engine-metrics-file",
        VLLM_PROM,
        "--engine-metrics-file",
        second,
        "--lmcache-metrics-file",
        MP_PROM,
    ]));
    assert_eq!(direct.code, 0, "{}", describe(&direct));
    let a = normalise(serde_json::from_str(&from_packet.stdout).unwrap());
    let b = normalise(serde_json::from_str(&direct.stdout).unwrap());
    let mut diffs = Vec::new();
    json_diff(&a, &b, "", &mut diffs);
    assert!(
        diffs.is_empty(),
        "two engine scrapes: --packet differs from the direct flags (packet vs direct):\n  {}",
        diffs.join("\n  ")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The seed pages' spellings `--lmcache-health-file` / `--lmcache-status-file` are
/// saved route answers; an unhealthy healthcheck fails `missing-required`.
#[test]
fn seed_spelled_route_files_are_read() {
    let dir = scratch("seed-flags");
    let inputs = scratch("seed-flags-inputs");
    std::fs::create_dir_all(&inputs).unwrap();
    let health = inputs.join("health.json");
    std::fs::write(
        &health,
        r#"{"status":"unhealthy","reason":"engine not initialized"}"#,
    )
    .unwrap();
    let status = inputs.join("status.json");
    std::fs::write(&status, r#"{"engine_type":"MPCacheEngine"}"#).unwrap();
    let r = collect(
        &dir,
        &strings(&[
            "--lmcache-health-file",
            health.to_str().unwrap(),
            "--lmcache-status-file",
            status.to_str().unwrap(),
            "--lmcache-metrics-file",
            "fixtures/evidence/lmcache-compat/mp-l1-healthy.prom",
        ]),
    );
    assert_eq!(r.code, 0, "{}", describe(&r));
    let http = read_json(&dir.join("lmcache_http_evidence.json"));
    assert_eq!(http["endpoints"]["healthcheck"]["status"], "unhealthy");
    assert_eq!(
        http["endpoints"]["status"]["fields"]["engine_type"],
        "MPCacheEngine"
    );
    let compat = run(&strings(&[
        "lmcache-compat",
        "--packet",
        dir.to_str().unwrap(),
        "--fail-on",
        "missing-required",
    ]));
    assert_eq!(compat.code, 1, "{}", describe(&compat));
    assert!(
        compat.stdout.contains("lmcache_http_unhealthy"),
        "{}",
        compat.stdout
    );
}

/// issue 10, item 10: logs are streamed into the packet. A log that opens but
/// cannot be read (a directory) is a scrape error and leaves no raw copy or temp
/// file behind; a readable CR-LF log is copied redacted with `\n` endings, listed
/// with its true size and digest, and classified; a 1 MB line is cut in the copy
/// and counted, not held whole.
#[test]
fn logs_are_streamed_and_an_unreadable_one_leaves_nothing_behind() {
    let inputs = scratch("streamed-log-inputs");
    std::fs::create_dir_all(inputs.join("not-a-file.log")).unwrap();
    let log = inputs.join("lmcache.log");
    let huge = format!("Stored 1 tokens {}\n", "word ".repeat(200_000));
    std::fs::write(
        &log,
        LOG_LINES.replace('\n', "\r\n") + "HF_TOKEN=hf_STREAMSECRET1\r\n" + huge.as_str(),
    )
    .unwrap();
    let dir = scratch("streamed-log");
    let r = collect(
        &dir,
        &strings(&[
            "--engine-log-file",
            &inputs.join("not-a-file.log").display().to_string(),
            "--lmcache-log-file",
            &log.display().to_string(),
        ]),
    );
    assert_eq!(r.code, 0, "{}", describe(&r));
    let manifest = read_json(&dir.join("packet_manifest.json"));
    let problems = artifact_problems(&dir, &manifest);
    assert!(problems.is_empty(), "{problems:?}");
    let errors = manifest["scrape_errors"].to_string();
    assert!(
        errors.contains("not-a-file.log") && errors.contains("cannot read"),
        "{errors}"
    );
    let raw: Vec<String> = walk(&dir.join("raw/logs"))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        raw,
        ["lmcache-lmcache.log"],
        "raw/logs holds only the readable log's copy"
    );
    let copy = std::fs::read_to_string(dir.join("raw/logs/lmcache-lmcache.log")).unwrap();
    let (head, cut) = copy.split_at(LOG_LINES.len() + "HF_TOKEN=<redacted>\n".len());
    assert_eq!(head, format!("{LOG_LINES}HF_TOKEN=<redacted>\n"));
    assert!(
        cut.starts_with("Stored 1 tokens word") && cut.len() < 70_000,
        "{}",
        cut.len()
    );
    let ev = read_json(&dir.join("lmcache_log_evidence.json"));
    assert_eq!(ev["line_count"], 7);
    assert_eq!(ev["sources"].as_array().unwrap().len(), 1);
    assert_eq!(ev["categories"]["store"]["count"], 3, "{ev}");
    assert!(ev["unreadable"][0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("1 line(s) longer"));
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&inputs).unwrap();
}

/// Issue 11: `check PACKET` read only the packet's scrapes and said architecture
/// `unknown` where `lmcache-compat --packet` used the launch evidence and said
/// `sglang_mp_lmcache_candidate`; both now read the whole packet.
#[test]
fn check_and_lmcache_compat_agree_on_a_packet() {
    let dir = scratch("check-agrees");
    let r = collect(
        &dir,
        &strings(&[
            "--engine-metrics-file",
            "fixtures/evidence/sglang/healthy.prom",
            "--launch-file",
            "fixtures/evidence/launch/sglang-enable-lmcache.sh",
        ]),
    );
    assert_eq!(r.code, 0, "{}", describe(&r));
    let packet = dir.display().to_string();
    let compat = run(&strings(&["lmcache-compat", "--json", "--packet", &packet]));
    let check = run(&strings(&["check", "--json", &packet]));
    assert_eq!(
        (compat.code, check.code),
        (0, 0),
        "{}\n{}",
        describe(&compat),
        describe(&check)
    );
    let compat: Value = serde_json::from_str(&compat.stdout).unwrap();
    let check: Value = serde_json::from_str(&check.stdout).unwrap();
    assert_eq!(
        compat["architecture"]["label"],
        "sglang_mp_lmcache_candidate"
    );
    assert_eq!(
        check["deployment"]["architecture"]["label"],
        compat["architecture"]["label"]
    );
    assert_eq!(
        check["deployment"]["detected_mode"],
        compat["detected_mode"]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
