//! Invariants over the shipped registry, in the spirit of ripgrep's flag tests and
//! cargo-deny's `codes_unique`: every finding is well-formed, documented and tested,
//! every fixture is used, and the full list of codes is a reviewed snapshot, so adding
//! or renaming a code shows up as a diff of `tests/snapshots/finding-codes.txt`.

use inferguard::pack::Registry;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shipped() -> Registry {
    Registry::load_strict(&[]).unwrap_or_else(|e| {
        let all: Vec<String> = e.0.iter().map(ToString::to_string).collect();
        panic!("shipped packs do not load:\n{}", all.join("\n"))
    })
}

fn is_snake(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('_')
        && !s.contains("__")
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `file:line:col code` of a finding, for failure messages.
fn at(rule: &inferguard::pack::FindingRule) -> String {
    format!("{}:{} {}", rule.file, rule.pos, rule.def.code)
}

#[test]
fn codes_are_unique_and_snake_case() {
    let registry = shipped();
    let mut seen = BTreeSet::new();
    for rule in &registry.findings {
        assert!(
            is_snake(&rule.def.code),
            "{}: code is not snake_case",
            at(rule)
        );
        assert!(
            seen.insert(rule.def.code.as_str()),
            "{}: code used twice",
            at(rule)
        );
    }
    assert!(!seen.is_empty());
}

#[test]
fn findings_are_documented() {
    let registry = shipped();
    for rule in &registry.findings {
        let d = &rule.def;
        for (field, text) in [
            ("title", &d.title),
            ("message", &d.message),
            ("remediation", &d.remediation),
            ("docs", &d.docs),
        ] {
            assert!(!text.trim().is_empty(), "{}: empty `{field}`", at(rule));
        }
    }
}

#[test]
fn findings_have_a_fires_and_a_quiet_case() {
    use inferguard::pack::model::Expect;
    let registry = shipped();
    for rule in &registry.findings {
        for needed in [Expect::Fires, Expect::Quiet] {
            assert!(
                rule.def.tests.iter().any(|t| t.expect == needed),
                "{}: no `{}` test case",
                at(rule),
                needed.as_str()
            );
        }
        let mut names = BTreeSet::new();
        for t in &rule.def.tests {
            assert!(
                names.insert(t.name.as_str()),
                "{}: two cases named `{}`",
                at(rule),
                t.name
            );
        }
    }
}

#[test]
fn findings_name_loaded_engines_and_use_their_params() {
    let registry = shipped();
    for rule in &registry.findings {
        for engine in &rule.def.engines {
            assert!(
                registry.engine(engine).is_some(),
                "{}: unknown engine `{engine}`",
                at(rule)
            );
        }
        // A param nothing reads is a threshold that silently does nothing.
        for param in rule.def.params.keys() {
            assert!(
                rule.variables.contains(param),
                "{}: param `{param}` is read by neither `when` nor `message`",
                at(rule)
            );
        }
    }
}

#[test]
fn engine_ids_and_signal_names_are_well_formed() {
    let registry = shipped();
    let mut ids = BTreeSet::new();
    for engine in &registry.engines {
        assert!(
            ids.insert(engine.def.id.as_str()),
            "{}: engine id used twice",
            engine.file
        );
        for (name, signal) in &engine.def.signals {
            assert!(
                is_snake(name),
                "{}: signal `{name}` is not snake_case",
                engine.file
            );
            assert!(
                !signal.description.trim().is_empty(),
                "{}: signal `{name}` has no description",
                engine.file
            );
        }
    }
    assert!(!ids.is_empty());
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Every fixture under `fixtures/evidence/` is read by a rule case or named by a test
/// file in `tests/`; an unused fixture is either dead or a test someone forgot.
#[test]
fn no_orphan_fixtures() {
    let registry = shipped();
    let used: BTreeSet<String> = registry
        .findings
        .iter()
        .flat_map(|r| r.def.tests.iter())
        .flat_map(|t| {
            // A case reads its fixture and the evidence files of its context.
            let evidence = t.context.iter().flat_map(|c| c.evidence.values().cloned());
            t.fixture.clone().into_iter().chain(evidence)
        })
        .collect();
    let test_text: String = files_under(&root().join("tests"))
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let fixtures = files_under(&root().join("fixtures/evidence"));
    assert!(!fixtures.is_empty());
    let mut orphans = Vec::new();
    for path in fixtures {
        let rel = path
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if rel.ends_with("README.md") {
            continue;
        }
        if !used.contains(&rel) && !test_text.contains(&rel) {
            orphans.push(rel);
        }
    }
    assert!(
        orphans.is_empty(),
        "fixtures no rule case or test reads: {orphans:?}"
    );
}

/// Adding, removing or re-grading a finding is a reviewed diff of the snapshot.
#[test]
fn finding_codes_snapshot() {
    let registry = shipped();
    let mut lines: Vec<String> = registry
        .findings
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {}",
                r.def.code,
                r.def.severity.as_str(),
                r.def.evidence_level.as_str(),
                r.pack
            )
        })
        .collect();
    lines.sort();
    let actual = lines.join("\n") + "\n";
    let path = root().join("tests/snapshots/finding-codes.txt");
    if std::env::var_os("INFERGUARD_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "{} is stale; review the change and run \
         `INFERGUARD_BLESS=1 cargo test --release --test registry finding_codes_snapshot`\n\
         --- snapshot\n{expected}+++ registry\n{actual}",
        path.display()
    );
}

#[test]
fn published_schemas_are_fresh() {
    let out = Command::new(env!("CARGO_BIN_EXE_inferguard"))
        .current_dir(root())
        .args(["rules", "schemas", "--out", "schemas", "--check"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The README's supported-systems table names every engine and pack, so a new
/// engine pack cannot ship undocumented.
#[test]
fn readme_lists_every_engine() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let registry = shipped();
    for e in &registry.engines {
        assert!(
            readme.contains(&format!("`{}`", e.def.id)),
            "README.md's supported-systems table lacks engine `{}` (pack `{}`)",
            e.def.id,
            e.pack
        );
        assert!(
            readme.contains(&format!("| `{}` |", e.pack)),
            "README.md lacks pack `{}`",
            e.pack
        );
    }
}

/// The layers of `src/` (DESIGN.md, "The pipeline"): each module and the modules
/// below it that it may name. Data flows one way; a module never reaches up, and
/// there is no circle. `cli` sits on top of everything.
const LAYERS: &[(&str, &[&str])] = &[
    ("redact", &[]),
    ("number", &[]),
    ("evidence", &["redact"]),
    ("normalize", &["evidence"]),
    ("deployment", &["evidence"]),
    ("expr", &["number"]),
    ("pack", &["evidence", "expr", "normalize"]),
    ("packet", &["evidence", "pack", "redact"]),
    (
        "report",
        &["deployment", "normalize", "number", "pack", "redact"],
    ),
    (
        "eval",
        &[
            "deployment",
            "evidence",
            "expr",
            "normalize",
            "number",
            "pack",
            "report",
        ],
    ),
    (
        "summary",
        &[
            "deployment",
            "eval",
            "evidence",
            "expr",
            "normalize",
            "pack",
            "packet",
            "report",
            "redact",
        ],
    ),
];

/// Every `crate::module` a file names outside its test module (tests may use the
/// whole crate), with its line number.
fn crate_references(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let name: String = rest[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            out.push((n + 1, name));
            rest = &rest[i + 7..];
        }
    }
    out
}

/// Issue 11: layering is a test. An upward `use` (a parser naming the pack layer,
/// the expression engine naming reports) fails here with the file and line.
#[test]
fn modules_only_use_the_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap();
            let first = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            let module = first.trim_end_matches(".rs").to_owned();
            if matches!(module.as_str(), "cli" | "lib" | "main") {
                continue;
            }
            let Some((_, allowed)) = LAYERS.iter().find(|(m, _)| *m == module) else {
                problems.push(format!(
                    "src/{}: module `{module}` is not in LAYERS",
                    rel.display()
                ));
                continue;
            };
            let text = std::fs::read_to_string(&path).unwrap();
            for (line, target) in crate_references(&text) {
                if target != module && !allowed.contains(&target.as_str()) {
                    problems.push(format!(
                        "src/{}:{line}: `{module}` uses `{target}`",
                        rel.display()
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "upward or unlisted uses:\n{}",
        problems.join("\n")
    );
    // The table itself has no circle: each module's allowed modules come before it.
    for (i, (module, allowed)) in LAYERS.iter().enumerate() {
        for a in *allowed {
            let below = LAYERS[..i].iter().any(|(m, _)| m == a);
            assert!(
                below,
                "LAYERS: `{module}` may use `{a}`, which is not below it"
            );
        }
    }
}

/// Every `.rs` file under `src/`.
fn rust_sources() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = stack.pop() {
        for path in std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
        {
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Vendor vocabulary: every pack id and every upstream project a pack names in
/// `upstream:`, plus the knowledge words the issue lists (connector and config
/// words, span and variable names, the benchmark tool).
fn vendor_words() -> Vec<String> {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut words: BTreeSet<String> = [
        "tensorrt",
        "llm-d",
        "nixl",
        "mooncake",
        "kv_transfer",
        "kv_offloading",
        "cache_salt",
        "pythonhashseed",
        "aiperf",
        "event_bus",
        "eventbus",
    ]
    .iter()
    .map(|w| (*w).to_owned())
    .collect();
    for dir in std::fs::read_dir(&rules).unwrap().filter_map(Result::ok) {
        let manifest = dir.path().join("pack.yaml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let mut in_upstream = false;
        for line in text.lines() {
            if let Some(id) = line.strip_prefix("id:").map(str::trim) {
                if id != "core" {
                    words.insert(id.to_lowercase());
                }
            }
            if !line.starts_with(' ') {
                in_upstream = line.starts_with("upstream:");
            } else if in_upstream {
                if let Some((key, _)) = line.trim().split_once(':') {
                    let key = key.trim_matches('"').to_lowercase();
                    if key.len() > 3
                        && !key.starts_with("prometheus")
                        && !key.starts_with("opentelemetry")
                    {
                        words.insert(key);
                    }
                }
            }
        }
    }
    words.into_iter().collect()
}

/// Issue 13: Rust product code names no vendor. Outside test modules and comments,
/// at most 3 lines carry a vendor word, and each says why (`// vendor: …`).
#[test]
fn product_code_names_no_vendor() {
    let words = vendor_words();
    assert!(
        words.len() > 10 && words.iter().any(|w| w == "vllm"),
        "{words:?}"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut hits = Vec::new();
    for path in rust_sources() {
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("#[cfg(test)]") {
                break;
            }
            if trimmed.starts_with("//") {
                continue;
            }
            let (code, comment) = line.split_once("//").unwrap_or((line, ""));
            let lower = code.to_lowercase();
            if let Some(w) = words.iter().find(|w| lower.contains(w.as_str())) {
                let at = format!("{}:{}", path.strip_prefix(root).unwrap().display(), n + 1);
                hits.push((at, w.clone(), comment.trim().starts_with("vendor:")));
            }
        }
    }
    let unexplained: Vec<_> = hits.iter().filter(|(_, _, why)| !why).collect();
    assert!(
        hits.len() <= 3 && unexplained.is_empty(),
        "{} vendor-word line(s) in product code (at most 3, each `// vendor: why`):\n{}",
        hits.len(),
        hits.iter()
            .map(|(at, w, _)| format!("{at}: `{w}`"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
