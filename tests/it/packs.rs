//! Rule packs end to end: broken packs report every mistake at `file:line:col`, the
//! shipped packs load and pass their own cases, a `--rules` pack overrides a shipped
//! one (and the report says so) but cannot loosen a shipped HTTP route, rule-test
//! fixtures are read only by `rules validate` / `rules test` and confined to the
//! pack's project, and an endless rule is stopped without stopping the others.
//!
//! The broken packs live in `fixtures/packs/invalid/<mistake>/`, each with an
//! `expected.txt` (format in that folder's README): adding a case is adding a folder.

use crate::common;

use inferguard::eval::rule_tests::run_rule_tests;
use inferguard::eval::EvalOptions;
use inferguard::pack::{Diagnostic, Registry};
use inferguard::report::Status;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the binary from the project root, so relative paths read as a user types them.
fn inferguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inferguard"))
        .current_dir(root())
        .args(args)
        .output()
        .expect("the inferguard binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("inferguard-packs-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One line of an `expected.txt`.
#[derive(Debug)]
struct Expected {
    file: String,
    line: u32,
    col: u32,
    /// Substrings the message must contain, in this order.
    parts: Vec<String>,
}

fn read_expected(path: &Path) -> Vec<Expected> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: cannot read: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut it = l.splitn(4, ':');
            let (Some(file), Some(line), Some(col), Some(message)) =
                (it.next(), it.next(), it.next(), it.next())
            else {
                panic!("{}: `{l}` is not `file:line:col: message`", path.display());
            };
            let number = |s: &str| {
                s.parse::<u32>()
                    .unwrap_or_else(|_| panic!("{}: bad number in `{l}`", path.display()))
            };
            Expected {
                file: file.to_owned(),
                line: number(line),
                col: number(col),
                parts: message.trim().split(" ... ").map(str::to_owned).collect(),
            }
        })
        .collect()
}

/// `d` in the `expected.txt` form, with its file relative to the pack folder.
fn relative(d: &Diagnostic, pack: &Path) -> String {
    let file = Path::new(&d.file)
        .strip_prefix(pack)
        .map_or_else(|_| d.file.clone(), |p| p.display().to_string());
    match d.pos {
        Some(p) => format!("{file}:{}:{}: {}", p.line, p.col, d.message),
        None => format!("{file}: {}", d.message),
    }
}

/// Why `d` does not match `e`, if it does not.
fn mismatch(d: &Diagnostic, e: &Expected, pack: &Path) -> Option<String> {
    let file = Path::new(&d.file)
        .strip_prefix(pack)
        .unwrap_or(Path::new(&d.file));
    let at = d.pos.map(|p| (p.line, p.col));
    if file != Path::new(&e.file) || at != Some((e.line, e.col)) {
        return Some(format!(
            "at {}:{}:{}, got {}",
            e.file,
            e.line,
            e.col,
            relative(d, pack)
        ));
    }
    let mut rest = d.message.as_str();
    for part in &e.parts {
        match rest.find(part.as_str()) {
            Some(i) => rest = &rest[i + part.len()..],
            None => {
                return Some(format!(
                    "{}:{}:{}: message `{}` lacks `{part}` (in order)",
                    e.file, e.line, e.col, d.message
                ))
            }
        }
    }
    None
}

fn invalid_packs() -> Vec<PathBuf> {
    let dir = root().join("fixtures/packs/invalid");
    let mut packs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    packs.sort();
    packs
}

#[test]
fn every_kind_of_mistake_has_a_broken_pack() {
    let names: Vec<String> = invalid_packs()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for needed in [
        "unknown-field",
        "bad-enum",
        "yaml-syntax",
        "unknown-signal",
        "duplicate-code",
        "missing-fixture",
        "bad-pattern",
        "bad-manifest",
        "unsatisfiable-requires",
        "unknown-kind",
        "many-errors",
        "bad-message",
        "route-env-read-only",
        "route-clear-new-id",
        "route-loglevel-read-only",
        "route-bad-path",
        // issue 12: an alternative exposition path stays on the scraped server.
        "scrape-bad-path",
        // issue 10, item 10: log patterns are matched as one set, which has its own
        // size limit; outgrowing it is a located load error.
        "log-set-too-large",
        // issue 13, item 2: a launch setting that writes to a field the launch
        // document does not declare (or of another type) is a located load error.
        "launch-bad-pointer",
        // issue 13, item 3: context flags, gates and test-case context are checked.
        "context-mistakes",
        // "One upstream name, one place", item 3: a named condition that clashes,
        // loops, comes too late or is read where its variables are not, and a
        // multi-endpoint rule case written wrong, are located load errors.
        "condition-errors",
        // issue 14: `explains` names findings that exist, never itself.
        "explains-unknown",
        // issue 14: `absent_is_zero_when` on a gauge or naming no sibling, an
        // `applies_when` that does not compile, `_by` of an ungrouped signal.
        "absent-zero-mistakes",
    ] {
        assert!(
            names.iter().any(|n| n == needed),
            "no fixtures/packs/invalid/{needed}"
        );
    }
    for pack in invalid_packs() {
        let manifest = std::fs::read_to_string(pack.join("pack.yaml")).unwrap();
        assert!(
            manifest.starts_with("# written for inferguard's loader tests: "),
            "{}: pack.yaml must open with its provenance line",
            pack.display()
        );
    }
}

#[test]
fn broken_packs_report_every_mistake_at_its_place() {
    let mut failures = Vec::new();
    for pack in invalid_packs() {
        let expected = read_expected(&pack.join("expected.txt"));
        assert!(
            !expected.is_empty(),
            "{}: expected.txt lists nothing",
            pack.display()
        );
        let diags = match Registry::load_dir_over_embedded(&pack) {
            Ok(_) => {
                failures.push(format!("{}: loaded without a problem", pack.display()));
                continue;
            }
            Err(e) => e.0,
        };
        let problems: Vec<String> = diags
            .iter()
            .zip(&expected)
            .filter_map(|(d, e)| mismatch(d, e, &pack))
            .collect();
        if diags.len() != expected.len() || !problems.is_empty() {
            let got: Vec<String> = diags.iter().map(|d| relative(d, &pack)).collect();
            failures.push(format!(
                "{}: {} diagnostic(s), {} expected\n    {}\n  got:\n    {}",
                pack.display(),
                diags.len(),
                expected.len(),
                problems.join("\n    "),
                got.join("\n    ")
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn rules_validate_exits_2_and_prints_every_location() {
    for pack in invalid_packs() {
        let shown = pack
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let out = inferguard(&["rules", "validate", &shown]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{shown}: {err}");
        for e in read_expected(&pack.join("expected.txt")) {
            let location = format!("{shown}/{}:{}:{}: ", e.file, e.line, e.col);
            assert!(
                err.contains(&location),
                "{shown}: no `{location}` in\n{err}"
            );
            assert!(
                err.contains(&e.parts[0]),
                "{shown}: no `{}` in\n{err}",
                e.parts[0]
            );
        }
    }
}

#[test]
fn shipped_packs_load_and_validate() {
    let registry = Registry::load_strict(&[]).unwrap_or_else(|e| {
        let all: Vec<String> = e.0.iter().map(ToString::to_string).collect();
        panic!("shipped packs do not load:\n{}", all.join("\n"))
    });
    assert!(registry.packs.iter().any(|p| p.manifest.id == "vllm"));
    assert!(!registry.findings.is_empty());
    let out = inferguard(&["rules", "validate"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let expected = format!(
        "ok: {} pack(s), {} engine(s), {} finding(s) valid",
        registry.packs.len(),
        registry.engines.len(),
        registry.findings.len()
    );
    assert_eq!(stdout(&out).trim(), expected);
}

/// `cargo test` runs every case every shipped finding carries.
#[test]
fn every_shipped_rule_case_passes() {
    let registry = Registry::load_strict(&[]).unwrap();
    let results = run_rule_tests(&registry, &[]);
    let cases = results.iter().filter(|r| r.case.is_some()).count();
    assert!(cases > 0, "no rule cases ran");
    let failures: Vec<String> = results
        .iter()
        .filter_map(|r| {
            r.failure.as_ref().map(|f| {
                format!(
                    "{}: {} :: {}: {f}",
                    r.location,
                    r.code,
                    r.case.as_deref().unwrap_or("(rule)")
                )
            })
        })
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn rules_test_passes_and_writes_junit() {
    let registry = Registry::load_strict(&[]).unwrap();
    let cases = run_rule_tests(&registry, &[]).len();
    let tmp = TempDir::new("junit");
    let xml_path = tmp.0.join("rules.xml");
    let out = inferguard(&["rules", "test", "--junit", xml_path.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l == format!("{cases} passed, 0 failed")),
        "no `{cases} passed, 0 failed` in\n{text}"
    );
    let xml = std::fs::read_to_string(&xml_path).unwrap();
    assert!(xml.starts_with("<?xml version=\"1.0\""), "{xml}");
    assert!(xml.trim_end().ends_with("</testsuites>"), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), cases, "{xml}");
    assert_eq!(
        xml.matches("<testsuite ").count(),
        xml.matches("</testsuite>").count(),
        "{xml}"
    );
    assert!(!xml.contains("<failure"), "{xml}");
}

#[test]
fn rules_test_fails_on_a_pack_whose_cases_fail() {
    let out = inferguard(&["rules", "test", "fixtures/packs/looping"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    assert!(text.contains("0 passed, 2 failed"), "{text}");
    assert!(text.contains("operation limit"), "{text}");
}

/// A pack whose rule cases hold two endpoints, written to a temp folder: one
/// endpoint-scope and one deployment-scope finding over vLLM's queue gauges.
const TWO_ENDPOINT_FINDINGS: &str = r#"kind: findings
findings:
  - code: two_endpoint_queue
    title: Queue on one endpoint
    severity: warning
    evidence_level: supported
    engines: [vllm]
    when: queue_waiting >= 10
    message: "{queue_waiting} waiting"
    remediation: None.
    docs: Endpoint scope.
    tests:
      - name: fires on b only
        scrapes:
          - { endpoint: a, at: 0, prom: "vllm:num_requests_waiting 6\n" }
          - { endpoint: b, at: 0, prom: "vllm:num_requests_waiting 12\n" }
        expect: fires
        endpoints: [b]
      - name: said to fire on a
        scrapes:
          - { endpoint: a, at: 0, prom: "vllm:num_requests_waiting 6\n" }
          - { endpoint: b, at: 0, prom: "vllm:num_requests_waiting 12\n" }
        expect: fires
        endpoints: [a]
      - name: six and six is quiet on each endpoint
        scrapes:
          - { endpoint: a, at: 0, prom: "vllm:num_requests_waiting 6\n" }
          - { endpoint: b, at: 0, prom: "vllm:num_requests_waiting 6\n" }
        expect: quiet
      - name: b grows over two scrapes, a stays
        scrapes:
          - { endpoint: a, at: 0, prom: "vllm:num_requests_waiting 12\n" }
          - { endpoint: a, at: 30, prom: "vllm:num_requests_waiting 1\n" }
          - { endpoint: b, at: 0, prom: "vllm:num_requests_waiting 1\n" }
          - { endpoint: b, at: 30, prom: "vllm:num_requests_waiting 12\n" }
        expect: fires
        endpoints: [b]
  - code: two_endpoint_total
    scope: deployment
    title: Queue over the deployment
    severity: warning
    evidence_level: supported
    when: queue_waiting >= 10
    message: "{queue_waiting} waiting"
    remediation: None.
    docs: Deployment scope; the signal sums over endpoints.
    tests:
      - name: six and six fire for the deployment
        scrapes:
          - { endpoint: a, at: 0, prom: "vllm:num_requests_waiting 6\n" }
          - { endpoint: b, at: 0, prom: "vllm:num_requests_waiting 6\n" }
        expect: fires
      - name: six alone is quiet
        scrapes:
          - { endpoint: a, at: 0, prom: "vllm:num_requests_waiting 6\n" }
        expect: quiet
"#;

/// "One upstream name, one place", item 3: a rule case's scrapes name endpoints,
/// built into endpoints as real inputs are. An endpoint-scope finding is judged on
/// each endpoint (`endpoints:` says which fired; the latest scrape of each is its
/// instant), a deployment-scope one on all of them together.
#[test]
fn rule_cases_hold_several_endpoints() {
    let tmp = TempDir::new("two-endpoints");
    let pack = tmp.0.join("two-endpoints");
    std::fs::create_dir_all(&pack).unwrap();
    std::fs::write(
        pack.join("pack.yaml"),
        "id: two-endpoints\nversion: 0.1.0\nrequires:\n  inferguard: \">=0.1.0\"\ndescription: Two endpoints per case.\n",
    )
    .unwrap();
    std::fs::write(pack.join("findings.yaml"), TWO_ENDPOINT_FINDINGS).unwrap();
    let (registry, packs) = Registry::load_dir_over_embedded(&pack).unwrap_or_else(|e| {
        let all: Vec<String> = e.0.iter().map(ToString::to_string).collect();
        panic!("the pack does not load:\n{}", all.join("\n"))
    });
    let results = run_rule_tests(&registry, &packs);
    let outcome = |case: &str| {
        results
            .iter()
            .find(|r| r.case.as_deref() == Some(case))
            .unwrap_or_else(|| panic!("no case `{case}`"))
            .failure
            .clone()
    };
    for passing in [
        "fires on b only",
        "six and six is quiet on each endpoint",
        "b grows over two scrapes, a stays",
        "six and six fire for the deployment",
        "six alone is quiet",
    ] {
        assert_eq!(outcome(passing), None, "{passing}");
    }
    let wrong = outcome("said to fire on a").expect("firing on b is not firing on a");
    assert!(
        wrong.contains("expected to fire on a, fired on b"),
        "{wrong}"
    );
}

/// `rules explain` shows the named conditions a finding reads, expanded.
#[test]
fn explain_shows_a_findings_conditions_expanded() {
    let out = inferguard(&[
        "rules",
        "explain",
        "vllm_lmcache_offload_flag_without_metrics",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("when: offload_to_lmcache && !embedded_series"),
        "{text}"
    );
    assert!(
        text.contains(
            "  condition offload_to_lmcache = vllm_offload_lmcache || launch_offload_lmcache"
        ),
        "{text}"
    );
    let registry = Registry::load(&[]).unwrap();
    let rule = registry
        .finding("vllm_lmcache_offload_flag_without_metrics")
        .unwrap();
    // Evaluated as written out: the condition's variables are the rule's evidence.
    assert!(rule.variables.iter().any(|v| v == "launch_offload_lmcache"));
    assert!(!rule.variables.iter().any(|v| v == "offload_to_lmcache"));
}

const RENAMED_SCRAPE: &str = "\
# TYPE vllm:kv_cache_usage_ratio gauge
vllm:kv_cache_usage_ratio{model_name=\"m\",engine=\"0\"} 0.98
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name=\"m\",engine=\"0\"} 8
";

/// `check --json` on the renamed scrape, with the given extra arguments first.
fn check_renamed(tmp: &TempDir, rules: &[&str]) -> Value {
    let scrape = tmp.0.join("engine.prom");
    std::fs::write(&scrape, RENAMED_SCRAPE).unwrap();
    let mut args: Vec<&str> = rules.to_vec();
    args.extend(["check", "--json", scrape.to_str().unwrap()]);
    let out = inferguard(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn kv_saturated(report: &Value) -> &Value {
    report["endpoints"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "vllm_kv_cache_saturated")
        .unwrap_or_else(|| panic!("vllm_kv_cache_saturated not evaluated: {report}"))
}

/// A metric rename upstream is a one-line edit of a pack given with `--rules`.
#[test]
fn override_pack_reads_a_renamed_metric_and_says_where_it_came_from() {
    let tmp = TempDir::new("override");
    let pack = "fixtures/packs/override/vllm-rename";
    let report = check_renamed(&tmp, &["--rules", pack]);
    let finding = kv_saturated(&report);
    assert_eq!(finding["status"], "fired", "{finding}");
    let usage = finding["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["variable"] == "kv_cache_usage")
        .unwrap_or_else(|| panic!("no kv_cache_usage evidence: {finding}"));
    assert_eq!(usage["family"], "vllm:kv_cache_usage_ratio", "{usage}");
    assert_eq!(usage["value"], 0.98, "{usage}");
    let packs = report["packs"].as_array().unwrap();
    let origin = |id: &str| {
        packs
            .iter()
            .find(|p| p["id"] == id)
            .map(|p| p["origin"].clone())
    };
    assert_eq!(origin("vllm"), Some(Value::from(pack)), "{packs:?}");
    assert_eq!(origin("core"), Some(Value::from("embedded")), "{packs:?}");
    assert_eq!(
        packs.iter().filter(|p| p["id"] == "vllm").count(),
        1,
        "{packs:?}"
    );

    let shipped = check_renamed(&tmp, &[]);
    let finding = kv_saturated(&shipped);
    assert_eq!(finding["status"], "not_evaluable", "{finding}");
    assert_eq!(
        finding["missing"],
        serde_json::json!(["kv_cache_usage"]),
        "{finding}"
    );
    let shipped_packs = shipped["packs"].as_array().unwrap();
    assert!(
        shipped_packs.iter().all(|p| p["origin"] == "embedded"),
        "{shipped_packs:?}"
    );
}

/// The override stays a copy of the shipped pack but for the one renamed line, so it
/// keeps proving the rename is a one-line edit as `rules/vllm/` changes.
#[test]
fn override_pack_differs_from_the_shipped_one_by_one_line() {
    let shipped = root().join("rules/vllm");
    let copy = root().join("fixtures/packs/override/vllm-rename");
    let read = |p: PathBuf| std::fs::read_to_string(&p).unwrap();
    let stale = "refresh it from rules/vllm/ (see the commands in the test)";

    let (a, b) = (
        read(shipped.join("catalogue.yaml")),
        read(copy.join("catalogue.yaml")),
    );
    let changed: Vec<(&str, &str)> = a.lines().zip(b.lines()).filter(|(x, y)| x != y).collect();
    assert_eq!(
        a.lines().count(),
        b.lines().count(),
        "catalogue.yaml: {stale}"
    );
    assert_eq!(changed.len(), 1, "catalogue.yaml: {stale}: {changed:?}");
    assert!(
        changed[0]
            .1
            .contains(r#"name: "vllm:kv_cache_usage_ratio""#)
            && changed[0]
                .1
                .contains(r#"{ name: "vllm:kv_cache_usage_perc", renamed_in: test rename }"#),
        "catalogue.yaml: the one changed line renames the entry: {changed:?}"
    );
    assert_eq!(
        read(copy.join("engine.yaml")),
        read(shipped.join("engine.yaml")),
        "engine.yaml: {stale}"
    );
    // Unchanged: a copied pack still finds the shipped fixtures it names.
    assert_eq!(
        read(copy.join("findings.yaml")),
        read(shipped.join("findings.yaml")),
        "findings.yaml: {stale}"
    );
    let manifest = read(copy.join("pack.yaml"));
    let (provenance, rest) = manifest.split_once('\n').unwrap();
    assert!(provenance.starts_with("# written for inferguard's loader tests: "));
    assert_eq!(rest, read(shipped.join("pack.yaml")), "pack.yaml: {stale}");
}

#[test]
fn endless_rule_is_stopped_and_the_others_still_run() {
    let registry = Registry::load(&[root().join("fixtures/packs/looping")]).unwrap();
    let text = std::fs::read(root().join("fixtures/evidence/vllm/kv-pressure.prom")).unwrap();
    let evaluation = common::evaluate_scrapes(
        &registry,
        &[("fixtures/evidence/vllm/kv-pressure.prom", &text)],
        &EvalOptions::default(),
    );
    let report = &evaluation.endpoints[0].report;
    let outcome = |code: &str| {
        report
            .findings
            .iter()
            .find(|f| f.code == code)
            .unwrap_or_else(|| panic!("{code} not evaluated"))
    };
    let looping = outcome("looping_endless");
    assert_eq!(looping.status, Status::Errored, "{looping:?}");
    assert_eq!(looping.pack, "looping");
    let error = looping.error.as_deref().unwrap_or_default();
    assert!(error.contains("operation limit"), "{error}");
    assert_eq!(outcome("vllm_kv_cache_saturated").status, Status::Fired);
    let errored: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.status == Status::Errored)
        .map(|f| f.code.as_str())
        .collect();
    assert_eq!(errored, ["looping_endless"]);
}

/// The observability section's expressions must index the analysis maps with
/// declared surfaces and families: a rename there is a located load error, not a
/// silently empty field.
#[test]
fn observability_names_a_declared_family() {
    let dir = std::env::temp_dir().join(format!("ig-obs-{}", std::process::id()));
    let pack = dir.join("packs/lmcache");
    std::fs::create_dir_all(&pack).unwrap();
    for e in std::fs::read_dir(root().join("rules/lmcache"))
        .unwrap()
        .flatten()
    {
        std::fs::copy(e.path(), pack.join(e.file_name())).unwrap();
    }
    let modes = std::fs::read_to_string(pack.join("modes.yaml")).unwrap();
    std::fs::write(
        pack.join("modes.yaml"),
        modes.replace(
            "family_names[\"lmcache_mp.event_bus\"]",
            "family_names[\"lmcache_mp.eventbus\"]",
        ),
    )
    .unwrap();
    let err = match Registry::load_dir_over_embedded(&pack) {
        Ok(_) => panic!("a missing observability family must not load"),
        Err(e) => e,
    };
    let line = modes
        .lines()
        .position(|l| l.contains("family_names[\"lmcache_mp.event_bus\"]"))
        .unwrap()
        + 1;
    assert!(
        err.0
            .iter()
            .any(|d| d.message.contains("lmcache_mp.eventbus")
                && d.message.contains("names no family")
                && d.to_string().contains(&format!("modes.yaml:{line}:"))),
        "{:?}",
        err.0
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// issue 10, item 3: a `--rules` pack that loosens a shipped route stops even a plain
/// `check`, with the located error, before anything runs.
#[test]
fn check_refuses_a_pack_that_loosens_a_shipped_route() {
    for name in [
        "route-env-read-only",
        "route-clear-new-id",
        "route-loglevel-read-only",
    ] {
        let pack = format!("fixtures/packs/invalid/{name}");
        let out = inferguard(&[
            "--rules",
            &pack,
            "check",
            "fixtures/evidence/vllm/kv-pressure.prom",
        ]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        let e = &read_expected(&root().join(&pack).join("expected.txt"))[0];
        let location = format!("{pack}/{}:{}:{}: ", e.file, e.line, e.col);
        assert!(err.contains(&location), "{name}: no `{location}` in\n{err}");
        assert!(err.contains("can only tighten"), "{name}: {err}");
    }
}

/// issue 10, item 3: the collector calls only what the table and the shipped floor
/// both allow, and lists a shipped forbidden route an override pack dropped.
#[test]
fn collector_keeps_the_shipped_floor() {
    use inferguard::packet::fetch::FetchLimits;
    use inferguard::packet::http::{collect, HttpSources};
    let tmp = TempDir::new("floor");
    let pack = tmp.0.join("lmcache");
    std::fs::create_dir_all(&pack).unwrap();
    std::fs::copy(
        root().join("rules/lmcache/pack.yaml"),
        pack.join("pack.yaml"),
    )
    .unwrap();
    // Tightens `status`, drops every forbidden route.
    std::fs::write(
        pack.join("http-routes.yaml"),
        "kind: http_routes\nroutes:\n  - { id: status, method: GET, path: /status, safety: sensitive }\n  - { id: version, method: GET, path: /version, safety: read_only }\n",
    )
    .unwrap();
    let mut registry = Registry::load(&[pack]).unwrap_or_else(|e| panic!("{e}"));
    assert!(!registry.http_routes.iter().any(|r| r.id == "env"));
    // A table that got past the loader some other way still cannot call /env.
    let mut env = registry
        .http_route_floor
        .iter()
        .find(|r| r.id == "env")
        .unwrap()
        .clone();
    env.safety = inferguard::pack::model::Safety::ReadOnly;
    registry.http_routes.push(env);
    let answers: Vec<(String, Vec<u8>, String)> = ["env", "status", "version"]
        .iter()
        .map(|id| {
            (
                (*id).to_owned(),
                b"{\"status\":\"ok\"}".to_vec(),
                format!("{id}.json"),
            )
        })
        .collect();
    let sources = HttpSources {
        base_url: None,
        thread_name: None,
        files: &answers,
        urls: &[],
    };
    let got = collect(
        &registry.http_routes,
        &registry.http_route_floor,
        &registry.http_health,
        &sources,
        &FetchLimits::default(),
        inferguard::packet::fetch::Deadline::NONE,
    );
    let called: Vec<&String> = got.evidence.endpoints.keys().collect();
    assert_eq!(called, ["version"], "{:?}", got.evidence.endpoints);
    let listed = |list: &[inferguard::packet::http::SkippedRoute], path: &str| {
        list.iter().filter(|s| s.path == path).count()
    };
    assert_eq!(listed(&got.evidence.sensitive_skipped, "/env"), 1);
    assert_eq!(listed(&got.evidence.sensitive_skipped, "/status"), 1);
    assert_eq!(listed(&got.evidence.destructive_skipped, "/cache/clear"), 1);
    assert_eq!(listed(&got.evidence.destructive_skipped, "/loglevel"), 1);
}

/// Runs the binary with a bounded wait: a command that would block (a FIFO
/// fixture) is killed, and the test fails saying so instead of hanging.
fn inferguard_bounded(args: &[&str]) -> (Option<i32>, String) {
    let o = common::run_bounded(args, Duration::from_secs(60)).unwrap_or_else(|| {
        panic!("inferguard {args:?} did not finish within 60 s (blocked on a fixture?)")
    });
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The fixtures of the hostile pack: `(test name, fixture, why refused)`.
const HOSTILE: &[(&str, &str, &str)] = &[
    ("device", "/dev/zero", "is an absolute path"),
    ("climbing", "../../../etc/passwd", "climbs out with `..`"),
    ("absolute", "/etc/hostname", "is an absolute path"),
    ("fifo", "pipe.prom", "not a regular file (it is a FIFO)"),
    ("oversized", "big.prom", "larger than 16 MiB"),
    ("symlink out", "out.prom", "outside the project root"),
];

/// A project `<tmp>/proj` holding pack `packs/hostile`, whose rule tests name the
/// fixtures of [`HOSTILE`] (and one `context.evidence` file outside the project).
fn hostile_project(tmp: &TempDir) -> PathBuf {
    let proj = tmp.0.join("proj");
    let pack = proj.join("packs/hostile");
    std::fs::create_dir_all(&pack).unwrap();
    std::fs::write(
        tmp.0.join("outside.prom"),
        "vllm:kv_cache_usage_perc 0.99\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(tmp.0.join("outside.prom"), proj.join("out.prom")).unwrap();
    let big = std::fs::File::create(proj.join("big.prom")).unwrap();
    big.set_len(inferguard::pack::MAX_FIXTURE_BYTES + 1)
        .unwrap();
    let made = Command::new("mkfifo")
        .arg(proj.join("pipe.prom"))
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo failed");
    std::fs::write(
        pack.join("pack.yaml"),
        "id: hostile\nversion: 0.1.0\nrequires:\n  inferguard: \">=0.1.0\"\ndescription: fixtures a pack must not make inferguard read\n",
    )
    .unwrap();
    let mut findings = String::from(
        "kind: findings\nfindings:\n  - code: hostile_kv\n    title: KV cache full\n    severity: warning\n    evidence_level: supported\n    engines: [vllm]\n    when: kv_cache_usage > 0.9\n    message: \"KV cache at {kv_cache_usage:pct}\"\n    remediation: Add memory.\n    docs: Reads kv_cache_usage.\n    tests:\n",
    );
    for (name, fixture, _) in HOSTILE {
        findings.push_str(&format!(
            "      - {{ name: {name}, fixture: \"{fixture}\", expect: fires }}\n"
        ));
    }
    findings.push_str("      - { name: quiet, prom: \"vllm:kv_cache_usage_perc 0.1\\n\", expect: quiet, context: { evidence: { http: ../outside.prom } } }\n");
    std::fs::write(pack.join("findings.yaml"), findings).unwrap();
    pack
}

/// issue 10, item 4: a normal run never reads the fixtures a `--rules` pack names
/// (`/dev/zero` grew without bound, a FIFO hung every command); `rules validate`
/// reads them confined to the pack's project and refuses each at its place.
#[test]
fn fixtures_are_read_only_by_rules_commands_and_confined() {
    let tmp = TempDir::new("hostile");
    let pack = hostile_project(&tmp);
    let pack_arg = pack.to_str().unwrap();
    let (code, err) = inferguard_bounded(&[
        "--rules",
        pack_arg,
        "check",
        "fixtures/evidence/vllm/kv-pressure.prom",
    ]);
    assert_eq!(code, Some(0), "check read the fixtures: {err}");

    let (code, err) = inferguard_bounded(&["rules", "validate", pack_arg]);
    assert_eq!(code, Some(2), "{err}");
    let file = pack.join("findings.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    for (name, fixture, why) in HOSTILE {
        let line = line_of(&format!("name: {name},"));
        let col = text
            .lines()
            .nth(line - 1)
            .unwrap()
            .find(&format!("\"{fixture}\""))
            .unwrap()
            + 1;
        let location = format!("{}:{line}:{col}: fixture `{fixture}`", file.display());
        let at = err.lines().find(|l| l.starts_with(&location));
        assert!(
            at.is_some_and(|l| l.contains(why)),
            "{name}: no `{location}` … `{why}` in\n{err}"
        );
    }
    let line = line_of("name: quiet,");
    let col = text
        .lines()
        .nth(line - 1)
        .unwrap()
        .find("../outside.prom")
        .unwrap()
        + 1;
    let location = format!(
        "{}:{line}:{col}: fixture `../outside.prom` climbs out",
        file.display()
    );
    assert!(err.contains(&location), "no `{location}` in\n{err}");
    assert!(
        err.contains(&format!("{} problem(s)", HOSTILE.len() + 1)),
        "{err}"
    );

    let (code, err) = inferguard_bounded(&["rules", "test", pack_arg]);
    assert_eq!(code, Some(2), "{err}");
}

/// Issue 13, item 3: a context flag and a `--fail-on` gate are declared once, in a
/// pack, and the command line, the evaluator and the exit code follow.
#[test]
fn a_pack_declares_a_context_flag_and_a_gate() {
    let tmp = TempDir::new("context-flag");
    let pack = tmp.0.join("toyctx");
    std::fs::create_dir_all(&pack).unwrap();
    let write = |name: &str, text: &str| std::fs::write(pack.join(name), text).unwrap();
    write(
        "pack.yaml",
        "id: toyctx\nversion: 0.1.0\nrequires:\n  inferguard: \">=0.1.0\"\ndescription: t\n",
    );
    write("context.yaml", "kind: context\nflags:\n  - id: toy_strict\n    help: Be strict.\n    type: bool\ngates:\n  - id: toy_gate\n    description: strictness\n");
    write("findings.yaml", "kind: findings\nfindings:\n  - code: toy_strict_on\n    scope: deployment\n    title: t\n    severity: info\n    evidence_level: supported\n    fail_on: [toy_gate]\n    when: toy_strict\n    message: strict\n    remediation: r\n    docs: d\n");
    let dir = pack.to_str().unwrap();
    let help = inferguard(&["--rules", dir, "lmcache-compat", "--help"]);
    assert!(stdout(&help).contains("--toy-strict"), "{}", stdout(&help));
    assert!(stdout(&help).contains("toy-gate"), "{}", stdout(&help));
    let scrape = "fixtures/evidence/lmcache-compat/mp-l1-healthy.prom";
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--rules",
            dir,
            "lmcache-compat",
            "--lmcache-metrics-file",
            scrape,
            "--json",
        ];
        args.extend(extra);
        inferguard(&args)
    };
    let strict = run(&["--toy-strict", "--fail-on", "toy-gate"]);
    assert_eq!(strict.status.code(), Some(1), "{}", stderr(&strict));
    let report: Value = serde_json::from_str(&stdout(&strict)).unwrap();
    let reasons = report["failure_reasons"].as_array().unwrap();
    assert!(reasons
        .iter()
        .any(|r| r["code"] == "toy_strict_on" && r["fail_on"][0] == "toy_gate"));
    let lax = run(&["--fail-on", "toy-gate"]);
    assert_eq!(lax.status.code(), Some(0), "{}", stderr(&lax));
    // Without the pack neither the flag nor the gate exists.
    let plain = inferguard(&[
        "lmcache-compat",
        "--lmcache-metrics-file",
        scrape,
        "--toy-strict",
    ]);
    assert_eq!(plain.status.code(), Some(2));
    let unknown = inferguard(&[
        "lmcache-compat",
        "--lmcache-metrics-file",
        scrape,
        "--fail-on",
        "toy-gate",
    ]);
    assert!(
        stderr(&unknown).contains("possible values: never, mode-mismatch, missing-required"),
        "{}",
        stderr(&unknown)
    );
    // A pack flag can never take over a built-in one: the run stops and says which.
    write(
        "context.yaml",
        "kind: context\nflags:\n  - id: toy_strict\n    help: s\n    type: bool\n  - id: fail_on\n    help: clash\n    type: bool\ngates:\n  - id: toy_gate\n    description: strictness\n",
    );
    let clash = inferguard(&["--rules", dir, "lmcache-compat", "--help"]);
    assert_eq!(clash.status.code(), Some(2));
    assert!(
        stderr(&clash).contains("context flag --fail-on"),
        "{}",
        stderr(&clash)
    );
}
