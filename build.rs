// Packs and rule-test fixtures are embedded with include_dir; rebuild when they change.
//
// The embedded packs are also converted here from YAML to JSON, once, so a normal
// run parses JSON (about 1 ms for every pack) instead of YAML (about 15 ms): the
// `check` bar is 20 ms for a whole run. `rules validate`, `rules test` and the tests
// still read the YAML with positions and check it against the schema.
use std::fmt::Write as _;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=rules");
    println!("cargo:rerun-if-changed=fixtures/evidence");
    let mut out = String::from("/// `(path under rules/, JSON)` of every embedded pack file; `None` when the YAML\n/// does not parse (strict loading reports it with its position).\npub static EMBEDDED_JSON: &[(&str, Option<&str>)] = &[\n");
    let mut files = Vec::new();
    collect(Path::new("rules"), &mut files);
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut options = serde_saphyr::Options::default();
        options.strict_booleans = true;
        options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
        let json = serde_saphyr::from_str_with_options::<serde_json::Value>(&text, options)
            .ok()
            .map(|v| serde_json::to_string(&v).unwrap_or_default());
        let rel = path
            .strip_prefix("rules")
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        let _ = writeln!(out, "    ({rel:?}, {json:?}),");
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("embedded_rules_json.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}
