//! Issue 10: inferguard against a hostile server of our own on loopback, and against
//! an unlucky operator's directory. Redirects into forbidden routes, a drip of
//! headers and body, short, gzip, binary and JSON answers, odd statuses, malformed
//! status lines, secrets in text and JSON answers, planted symlinks, a collection
//! killed half-way, a collection where everything fails. Each test fails on the code
//! before issue 10.

use super::*;

/// A whole HTTP answer as raw bytes.
fn raw(status_line: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut head = format!("{status_line}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    Reply::Raw(bytes)
}

fn text(status: u16, body: &str) -> Reply {
    Reply::Body(status, "text/plain", body.as_bytes().to_vec())
}

fn redirect(status: u16, location: &str) -> Reply {
    raw(
        &format!("HTTP/1.1 {status} Redirect"),
        &[("Location", location), ("Content-Length", "0")],
        b"",
    )
}

fn mp_prom() -> String {
    std::fs::read_to_string(Path::new(ROOT).join(MP_PROM)).unwrap()
}

/// Paths a collector must never request, whatever it is told.
const FORBIDDEN: &[&str] = &[
    "/env",
    "/loglevel",
    "/cache/clear",
    "/metrics/reset",
    "/run_script",
];

fn forbidden_requests(log: &[Request]) -> Vec<String> {
    log.iter()
        .filter(|r| r.method != "GET" || FORBIDDEN.iter().any(|f| r.target.starts_with(f)))
        .map(|r| format!("{} {}", r.method, r.target))
        .collect()
}

/// Every file under `dir` with its bytes.
fn contents(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    walk(dir)
        .into_iter()
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect()
}

fn errors_of<'m>(manifest: &'m Value, class: &str) -> Vec<&'m Value> {
    manifest["scrape_errors"]
        .as_array()
        .map(|a| a.iter().filter(|e| e["error_class"] == class).collect())
        .unwrap_or_default()
}

/// Item 1: a read-only route that redirects to `/env`, `/loglevel?…` or
/// `/cache/clear` is refused, never requested; a redirect within the route is
/// followed and its final URL recorded.
#[test]
fn redirects_into_forbidden_routes_are_refused_and_recorded() {
    let prom = mp_prom();
    let mut server = Server::start("127.0.0.1", 64, move |_, target| match target {
        "/healthcheck" => redirect(302, "/env"),
        "/status" => redirect(307, "/loglevel?level=DEBUG&logger=root"),
        "/config" => redirect(302, "/cache/clear"),
        "/quota" => redirect(302, "http://127.0.0.1:1/quota"),
        "/version" => redirect(301, "/version/"),
        "/version/" => text(200, "0.5.6"),
        "/metrics" => redirect(301, "/metrics/"),
        "/metrics/" => text(200, &prom),
        "/env" | "/cache/clear" => json(200, r#"{"HF_TOKEN":"hf_LEAKED"}"#),
        t if t.starts_with("/loglevel") => json(200, r#"{"ok":true}"#),
        _ => not_found(),
    })
    .unwrap();
    let dir = scratch("hostile-redirect");
    let base = server.base_url();
    let scrape = format!("{base}/metrics");
    let r = collect(
        &dir,
        &strings(&[
            "--lmcache-http-base-url",
            &base,
            "--engine-metrics-url",
            &scrape,
            "--http-timeout",
            "5",
        ]),
    );
    let log = server.finish();
    assert_eq!(r.code, 0, "{}", describe(&r));
    assert!(
        forbidden_requests(&log).is_empty(),
        "{:?}",
        forbidden_requests(&log)
    );
    let manifest = read_json(&dir.join("packet_manifest.json"));
    let refused: Vec<&str> = errors_of(&manifest, "redirect_refused")
        .iter()
        .filter_map(|e| e["source_name"].as_str())
        .collect();
    for route in ["http_healthcheck", "http_status", "http_config"] {
        assert!(refused.contains(&route), "{route} not refused: {refused:?}");
    }
    assert_eq!(
        errors_of(&manifest, "cross_host_redirect").len(),
        1,
        "{manifest:#}"
    );
    let http = read_json(&dir.join("lmcache_http_evidence.json"));
    assert_eq!(
        http["endpoints"]["healthcheck"]["status"], "unknown",
        "{http:#}"
    );
    let version = &http["endpoints"]["version"];
    assert_eq!(version["status"], "healthy", "{http:#}");
    assert!(
        version["final_url"]
            .as_str()
            .unwrap()
            .ends_with("/version/"),
        "{http:#}"
    );
    assert!(leaks(&dir, &["hf_LEAKED".to_owned()]).is_empty());
    let engine = manifest["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "engine_metrics")
        .unwrap();
    assert_eq!(engine["final_url"], format!("{scrape}/"), "{manifest:#}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Item 2: a secret planted in every input kind appears in no output file, nor on
/// stdout or stderr of `collect-lmcache`, `lmcache-compat` and `check`.
#[test]
fn planted_secrets_never_reach_any_output() {
    let metrics = format!(
        "{}# api_key=SECRET-E1\nlmcache_build_info{{api_key=\"SECRET-D1\",conn=\"AccountKey=SECRET-D2;x=1\"}} 1\nbroken line api_key=SECRET-F1 {{\n",
        mp_prom()
    );
    let mut server = Server::start("127.0.0.1", 64, move |_, target| match target {
        "/config" => text(200, "chunk_size: 256\napi_key: SECRET-A1\nauth_token = SECRET-B1\n"),
        "/status" => json(
            200,
            r#"{"status":"ok","l2":{"conn":"DefaultEndpointsProtocol=https;AccountName=a;AccountKey=SECRET-C1;EndpointSuffix=x","password":"SECRET-C2"}}"#,
        ),
        "/metrics" => text(200, &metrics),
        "/healthcheck" => json(200, r#"{"status":"healthy"}"#),
        _ => not_found(),
    })
    .unwrap();
    let files = scratch("hostile-secret-inputs");
    std::fs::create_dir_all(&files).unwrap();
    let engine = files.join("engine.prom");
    std::fs::write(
        &engine,
        format!(
            "{}\nbad{{ line password=SECRET-G1\n",
            std::fs::read_to_string(Path::new(ROOT).join(VLLM_PROM)).unwrap()
        ),
    )
    .unwrap();
    let log = files.join("engine.log");
    std::fs::write(
        &log,
        "INFO start\nERROR connect failed password=SECRET-H1 AccountKey=SECRET-H2;\n",
    )
    .unwrap();
    let launch = files.join("launch.sh");
    std::fs::write(&launch, "vllm serve m --api-key SECRET-I1\n").unwrap();
    let dir = scratch("hostile-secret");
    let base = server.base_url();
    let mut args = strings(&["--lmcache-http-base-url", &base, "--engine-metrics-file"]);
    args.push(engine.display().to_string());
    args.extend(strings(&[
        "--engine-log-file",
        &log.display().to_string(),
        "--launch-file",
        &launch.display().to_string(),
        "--json",
    ]));
    let mut runs = vec![collect(&dir, &args)];
    let url = format!("{base}/metrics");
    for format in ["json", "human", "markdown"] {
        runs.push(run(&strings(&[
            "lmcache-compat",
            "--format",
            format,
            "--lmcache-metrics-url",
            &url,
            "--engine-metrics-file",
            &engine.display().to_string(),
        ])));
        runs.push(run(&strings(&[
            "check",
            "--format",
            format,
            &engine.display().to_string(),
        ])));
    }
    server.finish();
    let secret = |s: &str| s.contains("SECRET-");
    assert_eq!(runs[0].code, 0, "{}", describe(&runs[0]));
    for r in &runs {
        assert!(!secret(&r.stdout) && !secret(&r.stderr), "{}", describe(r));
    }
    let needles: Vec<String> = [
        "A1", "B1", "C1", "C2", "D1", "D2", "E1", "F1", "G1", "H1", "H2", "I1",
    ]
    .iter()
    .map(|s| format!("SECRET-{s}"))
    .collect();
    assert_eq!(leaks(&dir, &needles), Vec::<(String, String)>::new());
    // The redacted copies still carry what was read: names, structure, samples.
    let stored = std::fs::read_to_string(dir.join("lmcache_metrics.prom")).unwrap();
    assert!(
        stored.contains("lmcache_build_info{api_key=\"<redacted>\""),
        "{stored}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&files).unwrap();
}

/// Item 5: a server dripping headers or body a byte at a time, or sending an
/// endless body, cannot hold a collection past its deadline. The margin is wide
/// (this guards a hang of minutes, not a speed): before issue 10 the same run took
/// over eight minutes.
#[test]
fn a_dripping_server_cannot_hold_a_collection_past_its_deadline() {
    let slow = Duration::from_millis(300);
    let mut server = Server::start("127.0.0.1", 64, move |_, target| {
        let head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n"
            .to_vec();
        match target {
            "/healthcheck" => Reply::Drip(head, slow),
            "/status" => {
                let mut bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n".to_vec();
                bytes.extend(std::iter::repeat_n(b'x', 200));
                Reply::Drip(bytes, slow)
            }
            _ => Reply::Drip(head, slow),
        }
    })
    .unwrap();
    let dir = scratch("hostile-drip");
    let started = Instant::now();
    let r = collect(
        &dir,
        &strings(&[
            "--lmcache-http-base-url",
            &server.base_url(),
            "--http-timeout",
            "2",
            "--deadline",
            "6",
        ]),
    );
    let took = started.elapsed();
    server.finish();
    assert!(
        took < Duration::from_secs(30),
        "took {took:?}\n{}",
        describe(&r)
    );
    assert_eq!(r.code, 2, "{}", describe(&r));
    let manifest = read_json(&dir.join("packet_manifest.json"));
    assert_eq!(manifest["claim_status"], "not_proven");
    let timeouts = errors_of(&manifest, "timeout").len();
    let skipped = errors_of(&manifest, "deadline").len();
    assert!(timeouts >= 2 && timeouts + skipped >= 12, "{manifest:#}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Item 5: short, compressed, binary and JSON answers, odd statuses and malformed
/// status lines are classified scrape errors, never a silently short or empty scrape.
#[test]
fn answers_that_are_not_scrapes_are_classified() {
    let gz: &[u8] = &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4];
    let mut server = Server::start("127.0.0.1", 64, move |_, target| match target {
        "/short" => raw(
            "HTTP/1.1 200 OK",
            &[("Content-Length", "5000")],
            b"vllm:num_requests_running 1\n",
        ),
        "/gzip" => raw(
            "HTTP/1.1 200 OK",
            &[
                ("Content-Encoding", "gzip"),
                ("Content-Length", &gz.len().to_string()),
            ],
            gz,
        ),
        "/binary" => Reply::Body(
            200,
            "application/octet-stream",
            vec![0, 159, 146, 150, 0, 1, 2, 3, 0, 255],
        ),
        "/json" => json(200, r#"{"vllm:num_requests_running": 1}"#),
        "/nocontent" => raw("HTTP/1.1 204 No Content", &[], b""),
        "/notmodified" => raw("HTTP/1.1 304 Not Modified", &[], b""),
        "/error" => text(500, "boom"),
        "/garbled" => Reply::Raw(b"HTTP/1.1 abc OK\r\n\r\nvllm:x 1\n".to_vec()),
        "/nonsense" => Reply::Raw(b"SSH-2.0-OpenSSH_9.6\r\n".to_vec()),
        "/errorpage" => text(
            200,
            "upstream connect error or disconnect/reset before headers",
        ),
        // Each hop is slow but within --http-timeout; together they are not.
        "/hops" | "/hops/" => {
            let to = if target == "/hops" { "/hops/" } else { "/hops" };
            let head = format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n");
            Reply::Drip(head.into_bytes(), Duration::from_millis(25))
        }
        _ => not_found(),
    })
    .unwrap();
    let base = server.base_url();
    let cases = [
        ("/short", "truncated"),
        ("/gzip", "not_exposition"),
        ("/binary", "not_exposition"),
        ("/json", "not_exposition"),
        ("/nocontent", "http_status"),
        ("/notmodified", "http_status"),
        ("/error", "http_status"),
        ("/garbled", "protocol"),
        ("/nonsense", "protocol"),
        ("/errorpage", "not_exposition"),
        ("/hops", "timeout"),
    ];
    let mut args = strings(&["--lmcache-metrics-file", MP_PROM, "--http-timeout", "5"]);
    for (path, _) in cases {
        args.extend(strings(&["--engine-metrics-url", &format!("{base}{path}")]));
    }
    let dir = scratch("hostile-answers");
    let r = collect(&dir, &args);
    server.finish();
    assert_eq!(r.code, 0, "{}", describe(&r));
    let manifest = read_json(&dir.join("packet_manifest.json"));
    for (path, class) in cases {
        let e = scrape_error(&manifest, "", path)
            .unwrap_or_else(|| panic!("{path}: no scrape error\n{manifest:#}"));
        assert_eq!(e["error_class"], class, "{path}: {e}");
    }
    assert!(
        !dir.join("engine_metrics.prom").exists(),
        "a failed answer was stored as a scrape"
    );
    let short = scrape_error(&manifest, "", "/short").unwrap();
    assert!(
        short["error"]
            .as_str()
            .unwrap()
            .contains("of the 5000 announced"),
        "{short}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Item 6: symlinks planted in an existing packet cannot redirect a write outside it.
#[test]
fn planted_symlinks_cannot_redirect_writes() {
    let dir = scratch("hostile-symlink");
    let outside = scratch("hostile-symlink-outside");
    std::fs::create_dir_all(&outside).unwrap();
    let victim = outside.join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    let r = collect(&dir, &strings(&["--lmcache-metrics-file", MP_PROM]));
    assert_eq!(r.code, 0, "{}", describe(&r));
    let report = dir.join("lmcache_compat_report.json");
    std::fs::remove_file(&report).unwrap();
    std::os::unix::fs::symlink(&victim, &report).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("raw")).unwrap();
    let log = dir.join("in.log");
    std::fs::write(&log, "INFO hello\n").unwrap();
    let r = collect(
        &dir,
        &strings(&[
            "--lmcache-metrics-file",
            MP_PROM,
            "--engine-metrics-file",
            VLLM_PROM,
            "--engine-log-file",
            &log.display().to_string(),
            "--force",
        ]),
    );
    assert!(
        !dir.join("engine_metrics.prom").exists(),
        "a refused install moved part of the new packet in"
    );
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "precious",
        "{}",
        describe(&r)
    );
    let outside_files: Vec<_> = walk(&outside);
    assert_eq!(outside_files, vec![victim.clone()], "{}", describe(&r));
    assert_eq!(
        r.code,
        2,
        "writing through raw/ must be refused: {}",
        describe(&r)
    );
    assert!(
        r.stderr.contains("refusing to write through it"),
        "{}",
        describe(&r)
    );
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&outside).unwrap();
}

/// Item 7: `--force` keeps the previous packet whole until the new one is complete
/// (a collection killed half-way changes nothing), then removes only what the old
/// manifest listed.
#[test]
fn force_replaces_the_packet_only_when_the_new_one_is_complete() {
    // The packet's own parent, so the staging directories seen are this test's.
    let root = scratch("hostile-force");
    let dir = root.join("packet");
    let launch = "fixtures/evidence/launch/mp-server-and-vllm.sh";
    let r = collect(
        &dir,
        &strings(&["--lmcache-metrics-file", MP_PROM, "--launch-file", launch]),
    );
    assert_eq!(r.code, 0, "{}", describe(&r));
    std::fs::create_dir_all(dir.join("raw")).unwrap();
    std::fs::write(dir.join("raw/notes.txt"), "mine").unwrap();
    std::fs::write(dir.join("operator-notes.md"), "mine").unwrap();
    let before = contents(&dir);

    // Killed while a live endpoint stalls: nothing in the directory changes.
    let server =
        Server::start("127.0.0.1", 4, |_, _| Reply::Stall(Duration::from_secs(5))).unwrap();
    let mut child = Command::new(BIN)
        .current_dir(ROOT)
        .args([
            "collect-lmcache",
            "--output-dir",
            dir.to_str().unwrap(),
            "--force",
            "--lmcache-metrics-file",
            MP_PROM,
        ])
        .args([
            "--engine-metrics-url",
            &format!("{}/metrics", server.base_url()),
            "--http-timeout",
            "30",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let waited = Instant::now();
    while server.log.lock().unwrap().is_empty() && waited.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(server);
    let after = contents(&dir);
    assert_eq!(
        before, after,
        "a killed --force collection changed the packet"
    );

    // Completed: the old launch evidence goes, the operator's files stay.
    let r = collect(
        &dir,
        &strings(&["--lmcache-metrics-file", MP_PROM, "--force"]),
    );
    assert_eq!(r.code, 0, "{}", describe(&r));
    assert!(!dir.join("launch_evidence.json").exists());
    assert!(dir.join("raw/notes.txt").is_file() && dir.join("operator-notes.md").is_file());
    let manifest = read_json(&dir.join("packet_manifest.json"));
    let problems: Vec<String> = artifact_problems(&dir, &manifest)
        .into_iter()
        .filter(|p| !p.contains("notes"))
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");
    // The killed run may leave its own staging directory; a completed run never does.
    let staging: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".inferguard-staging-"))
        .collect();
    assert!(staging.len() <= 1, "{staging:?}");
    std::fs::remove_dir_all(&root).unwrap();
}

/// Item 8: when nothing can be collected, the manifest still lists every failure;
/// an existing packet is kept and the failure manifest goes beside it.
#[test]
fn a_failed_collection_still_writes_its_manifest() {
    let dir = scratch("hostile-failed");
    let url = format!("http://127.0.0.1:{}/metrics", closed_port());
    let failing = strings(&[
        "--engine-metrics-url",
        &url,
        "--lmcache-metrics-file",
        "no/such.prom",
        "--http-timeout",
        "2",
    ]);
    let r = collect(&dir, &failing);
    assert_eq!(r.code, 2, "{}", describe(&r));
    assert!(
        r.stderr.contains("2 failure(s)") && r.stderr.contains("packet_manifest.json"),
        "{}",
        describe(&r)
    );
    let manifest = read_json(&dir.join("packet_manifest.json"));
    assert_eq!(manifest["claim_status"], "not_proven");
    assert_eq!(
        manifest["scrape_errors"].as_array().unwrap().len(),
        2,
        "{manifest:#}"
    );

    std::fs::remove_dir_all(&dir).unwrap();
    let r = collect(&dir, &strings(&["--lmcache-metrics-file", MP_PROM]));
    assert_eq!(r.code, 0, "{}", describe(&r));
    let good = std::fs::read(dir.join("packet_manifest.json")).unwrap();
    let mut forced = failing.clone();
    forced.push("--force".to_owned());
    let r = collect(&dir, &forced);
    assert_eq!(r.code, 2, "{}", describe(&r));
    assert_eq!(
        std::fs::read(dir.join("packet_manifest.json")).unwrap(),
        good
    );
    let failed = read_json(&dir.join("packet_manifest.failed.json"));
    assert_eq!(
        failed["scrape_errors"].as_array().unwrap().len(),
        2,
        "{failed:#}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Item 1 and 5 through `lmcache-compat --…-url`: a scrape URL that redirects to
/// `/env` is refused, and a dripping one ends within its timeout.
#[test]
fn lmcache_compat_urls_refuse_redirects_and_honour_timeouts() {
    let mut server = Server::start("127.0.0.1", 16, |_, target| match target {
        "/metrics" => redirect(302, "/env"),
        "/slow" => Reply::Drip(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".to_vec(),
            Duration::from_millis(300),
        ),
        _ => json(200, r#"{"HF_TOKEN":"hf_x"}"#),
    })
    .unwrap();
    let base = server.base_url();
    let started = Instant::now();
    let r = run(&strings(&[
        "lmcache-compat",
        "--lmcache-metrics-url",
        &format!("{base}/metrics"),
        "--engine-metrics-url",
        &format!("{base}/slow"),
    ]));
    let took = started.elapsed();
    let log = server.finish();
    assert!(forbidden_requests(&log).is_empty(), "{log:?}");
    assert_eq!(r.code, 2, "{}", describe(&r));
    assert!(
        r.stderr.contains("refused") && r.stderr.contains("no complete answer"),
        "{}",
        describe(&r)
    );
    assert!(took < Duration::from_secs(40), "took {took:?}");
}

/// A thread name is one path segment: `../env` would make `/periodic-threads/../env`.
#[test]
fn a_thread_name_cannot_climb_out_of_its_route() {
    let dir = scratch("hostile-thread");
    for name in ["../env", "..", "a/b", "x?level=DEBUG"] {
        let r = collect(
            &dir,
            &strings(&[
                "--lmcache-http-base-url",
                "http://127.0.0.1:1",
                "--lmcache-http-thread-name",
                name,
            ]),
        );
        assert_eq!(r.code, 2, "{name}: {}", describe(&r));
        assert!(
            r.stderr.contains("one path segment"),
            "{name}: {}",
            describe(&r)
        );
    }
    assert!(!dir.exists());
}

/// Review of issue 10: URLs the operator gives are checked against the route
/// table too: a base URL ending in `#`, a per-route URL, a status URL or a metrics
/// URL naming a forbidden route is an error, and nothing is requested.
#[test]
fn operator_urls_into_forbidden_routes_are_refused() {
    let mut server = Server::start("127.0.0.1", 16, |_, _| json(200, r#"{"ok":true}"#)).unwrap();
    let base = server.base_url();
    let dir = scratch("hostile-operator-urls");
    let cases: Vec<Vec<String>> = vec![
        strings(&["--lmcache-http-base-url", &format!("{base}/env#")]),
        strings(&["--lmcache-status-url", &format!("{base}/env")]),
        strings(&[
            "--lmcache-http-url",
            &format!("healthcheck={base}/loglevel?level=DEBUG"),
        ]),
        strings(&["--engine-metrics-url", &format!("{base}/%65nv")]),
        strings(&[
            "--lmcache-metrics-url",
            &format!("{base}/status/../cache/clear"),
        ]),
    ];
    for args in &cases {
        let r = collect(&dir, args);
        assert_eq!(r.code, 2, "{args:?}: {}", describe(&r));
        assert!(
            r.stderr.contains("never requests it") || r.stderr.contains("fragment"),
            "{}",
            describe(&r)
        );
        assert!(!dir.exists(), "{args:?} created the packet");
    }
    let url = format!("{base}/loglevel?level=DEBUG");
    let r = run(&strings(&["lmcache-compat", "--lmcache-metrics-url", &url]));
    assert_eq!(r.code, 2, "{}", describe(&r));
    assert!(r.stderr.contains("never requests it"), "{}", describe(&r));
    let log = server.finish();
    assert!(log.is_empty(), "requests were sent: {log:?}");
}
