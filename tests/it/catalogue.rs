//! Metric catalogues: an upstream rename is one edit in one catalogue, and no full
//! upstream name is spelled in more than one file under `rules/`.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_inferguard");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(ROOT)
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
}

fn json(args: &[&str]) -> Value {
    let out = run(args);
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A copy of `rules/` where `old` is renamed to `new` in `<pack>/catalogue.yaml`
/// only (every other file byte for byte the shipped one), and a scrape made from
/// `fixture` with the same rename.
fn renamed_tree(tag: &str, pack: &str, old: &str, new: &str, fixture: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("ig-catalogue-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let rules = dir.join("rules");
    copy_dir(&Path::new(ROOT).join("rules"), &rules);
    let file = rules.join(pack).join("catalogue.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let quoted = format!("name: \"{old}\"");
    assert_eq!(
        text.matches(&quoted).count(),
        1,
        "{old} in {pack}/catalogue.yaml"
    );
    std::fs::write(&file, text.replace(&quoted, &format!("name: \"{new}\""))).unwrap();
    let scrape = dir.join("renamed.prom");
    let base = std::fs::read_to_string(Path::new(ROOT).join(fixture)).unwrap();
    assert!(base.contains(old), "{fixture} has no {old}");
    std::fs::write(&scrape, base.replace(old, new)).unwrap();
    (rules, scrape)
}

fn family<'a>(report: &'a Value, surface: &str, id: &str) -> &'a Value {
    let s = report["surfaces"].as_array().unwrap().iter();
    let s = s
        .clone()
        .find(|s| s["id"] == surface)
        .unwrap_or_else(|| panic!("no surface {surface}"));
    s["families"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap()
}

fn finding<'a>(findings: &'a Value, code: &str) -> &'a Value {
    let all = findings.as_array().unwrap();
    all.iter()
        .find(|f| f["code"] == code)
        .unwrap_or_else(|| panic!("{code} not evaluated: {findings}"))
}

/// The done-when case of the catalogue: renaming the MP lookup-hit counter in the
/// catalogue alone moves the family, the signal and the hit-ratio finding with it.
#[test]
fn lmcache_rename_in_the_catalogue_only_is_followed_everywhere() {
    let (old, new) = (
        "lmcache_mp_lookup_hit_tokens_total",
        "lmcache_mp_lookup_hits_in_tokens_total",
    );
    let fixture = "fixtures/evidence/lmcache-compat/mp-l1-healthy.prom";
    let (rules, scrape) = renamed_tree("lmcache", "lmcache", old, new, fixture);
    let args = |rules: Option<&str>| {
        let mut a: Vec<String> = Vec::new();
        if let Some(r) = rules {
            a.extend(["--rules".into(), r.into()]);
        }
        a.extend(["lmcache-compat", "--lmcache-metrics-file"].map(String::from));
        a.extend([scrape.display().to_string(), "--json".into()]);
        a
    };
    let with = args(Some(rules.to_str().unwrap()));
    let report = json(&with.iter().map(String::as_str).collect::<Vec<_>>());
    let lookup = family(&report, "lmcache_mp", "lookup_tokens");
    assert_eq!(lookup["status"], "populated", "{lookup}");
    assert_eq!(lookup["spelling"], "current", "{lookup}");
    assert!(
        lookup["names"]
            .as_array()
            .unwrap()
            .contains(&Value::from(new)),
        "{lookup}"
    );
    assert_eq!(report["unmapped_series"], serde_json::json!([]), "{report}");
    let hit = finding(&report["findings"], "lmcache_mp_low_hit_rate");
    assert!(
        hit["status"] == "passed" || hit["status"] == "fired",
        "{hit}"
    );

    // The shipped packs do not know the new spelling: the same scrape is unmapped.
    let without = args(None);
    let shipped = json(&without.iter().map(String::as_str).collect::<Vec<_>>());
    let names: Vec<&Value> = shipped["unmapped_series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| &u["name"])
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.as_str().is_some_and(|n| new.starts_with(n))),
        "{names:?}"
    );
    let hit = finding(&shipped["findings"], "lmcache_mp_low_hit_rate");
    assert_eq!(hit["status"], "not_evaluable", "{hit}");
}

fn check_endpoint(rules: Option<&Path>, scrape: &Path) -> Value {
    let mut a: Vec<&str> = Vec::new();
    if let Some(r) = rules {
        a.extend(["--rules", r.to_str().unwrap()]);
    }
    a.extend(["check", "--json", scrape.to_str().unwrap()]);
    json(&a)["endpoints"][0].clone()
}

#[test]
fn vllm_rename_in_the_catalogue_only_is_followed_everywhere() {
    let (old, new) = ("vllm:prefix_cache_hits", "vllm:prefix_cache_hit_tokens");
    let (rules, scrape) = renamed_tree(
        "vllm",
        "vllm",
        old,
        new,
        "fixtures/evidence/vllm/healthy.prom",
    );
    let endpoint = check_endpoint(Some(&rules), &scrape);
    let signal = &endpoint["signals"]["vllm"]["prefix_cache_hits"];
    assert_eq!(signal["family"], new, "{signal}");
    assert_eq!(signal["spelling"], "current", "{signal}");
    let ratio = finding(&endpoint["findings"], "vllm_prefix_cache_low_hit_ratio");
    assert!(
        ratio["status"] == "passed" || ratio["status"] == "fired",
        "{ratio}"
    );

    let mut a = vec!["--rules", rules.to_str().unwrap(), "lmcache-compat"];
    a.extend(["--engine-metrics-file", scrape.to_str().unwrap(), "--json"]);
    let report = json(&a);
    let local = family(&report, "vllm_prefix_cache", "local_prefix_cache");
    assert_eq!(local["spelling"], "current", "{local}");
    assert!(
        local["names"]
            .as_array()
            .unwrap()
            .contains(&Value::from(new)),
        "{local}"
    );

    let shipped = check_endpoint(None, &scrape);
    let ratio = finding(&shipped["findings"], "vllm_prefix_cache_low_hit_ratio");
    assert_eq!(ratio["status"], "not_evaluable", "{ratio}");
}

#[test]
fn sglang_rename_in_the_catalogue_only_is_followed_everywhere() {
    let (old, new) = ("sglang:token_usage", "sglang:kv_token_usage_ratio");
    let (rules, scrape) = renamed_tree(
        "sglang",
        "sglang",
        old,
        new,
        "fixtures/evidence/sglang/healthy.prom",
    );
    let endpoint = check_endpoint(Some(&rules), &scrape);
    let signal = &endpoint["signals"]["sglang"]["kv_cache_usage"];
    assert_eq!(signal["family"], new, "{signal}");
    assert_eq!(signal["spelling"], "current", "{signal}");
    let shipped = check_endpoint(None, &scrape);
    assert!(
        shipped["signals"]["sglang"].get("kv_cache_usage").is_none(),
        "{shipped}"
    );
}

/// Every string of a YAML document outside rule test cases (their `prom:` is sample
/// data, like a fixture file), with its JSON-pointer-ish path.
fn strings(v: &serde_json::Value, path: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter().filter(|(k, _)| *k != "tests") {
                strings(x, &format!("{path}/{k}"), out);
            }
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| strings(x, &format!("{path}/{i}"), out)),
        Value::String(s) => out.push((path.to_owned(), s.clone())),
        _ => {}
    }
}

fn yaml_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in std::fs::read_dir(Path::new(ROOT).join("rules"))
        .unwrap()
        .flatten()
    {
        for f in std::fs::read_dir(p.path()).unwrap().flatten() {
            if f.path().extension().is_some_and(|e| e == "yaml") {
                out.push(f.path());
            }
        }
    }
    out.sort();
    out
}

/// Every catalogued spelling (names and aliases, `_total` toggled) to its entry.
fn catalogued(files: &[PathBuf]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for f in files.iter().filter(|f| f.ends_with("catalogue.yaml")) {
        let doc: Value = serde_saphyr_like(f);
        for e in doc["metrics"].as_array().unwrap() {
            let mut names = vec![e["name"].as_str().unwrap().to_owned()];
            for a in e["aliases"].as_array().into_iter().flatten() {
                names.push(a["name"].as_str().unwrap().to_owned());
            }
            for n in names {
                let base = n.strip_suffix("_total").unwrap_or(&n).to_owned();
                out.insert(format!("{base}_total"), base.clone());
                out.insert(base.clone(), base);
            }
        }
    }
    out
}

fn serde_saphyr_like(f: &Path) -> Value {
    let text = std::fs::read_to_string(f).unwrap();
    inferguard::pack::yaml::parse(&text)
        .unwrap_or_else(|e| panic!("{}: {e:?}", f.display()))
        .to_json()
}

/// The count: full upstream names (every catalogued spelling, as a whole
/// token, with or without a sample suffix) spelled in more than one file under
/// `rules/`, outside rule test cases. Zero since the catalogues.
#[test]
fn no_upstream_name_is_spelled_in_more_than_one_file() {
    let files = yaml_files();
    let names = catalogued(&files);
    assert!(
        names.len() > 400,
        "catalogues hold {} spellings",
        names.len()
    );
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let mut all = Vec::new();
        strings(&serde_saphyr_like(f), "", &mut all);
        let shown = f.strip_prefix(ROOT).unwrap().display().to_string();
        for (_, s) in all {
            for token in s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
                let t = ["_bucket", "_sum", "_count", "_created"]
                    .iter()
                    .find_map(|x| token.strip_suffix(x).filter(|b| names.contains_key(*b)))
                    .unwrap_or(token);
                if let Some(base) = names.get(t) {
                    seen.entry(base.clone()).or_default().insert(shown.clone());
                }
            }
        }
    }
    let spread: Vec<String> = seen
        .iter()
        .filter(|(_, f)| f.len() > 1)
        .map(|(n, f)| format!("{n}: {f:?}"))
        .collect();
    assert!(
        spread.is_empty(),
        "spelled in more than one file:\n{}",
        spread.join("\n")
    );
    assert!(
        seen.values()
            .all(|f| f.iter().all(|f| f.ends_with("catalogue.yaml"))),
        "{seen:?}"
    );
}
