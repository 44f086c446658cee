//! `rules diff`: the semver class of a pack change, on fixture trees written for
//! it, and the working tree's packs against the last released copy.

use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_inferguard");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const TREES: &str = "fixtures/packs/diff";

fn diff(old: &str, new: &str) -> (Option<i32>, String) {
    let out: Output = Command::new(BIN)
        .args(["rules", "diff", old, new, "--check"])
        .current_dir(ROOT)
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &*String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

fn tree(name: &str) -> String {
    format!("{TREES}/{name}")
}

/// Each fixture tree against the base: its class, what changed, and a bump that fits.
#[test]
fn each_change_class_is_recognised() {
    let cases: [(&str, &str, &[&str]); 3] = [
        (
            "patch",
            "patch",
            &[
                "param `min_waiting` 10 -> 20 (looser)",
                "prose changed (docs",
            ],
        ),
        (
            "minor",
            "minor",
            &[
                "spelling `demo:queue_length` added",
                "finding demo_idle: added",
            ],
        ),
        (
            "major",
            "major",
            &[
                "spelling `demo:requests_waiting` removed",
                "severity \"warning\" -> \"info\"",
                "(stricter)",
            ],
        ),
    ];
    for (name, class, lines) in cases {
        let (code, text) = diff(&tree("base"), &tree(name));
        assert_eq!(code, Some(0), "{name}: {text}");
        assert!(
            text.contains(&format!("smallest bump that fits: {class}")),
            "{name}: {text}"
        );
        for line in lines {
            assert!(text.contains(line), "{name}: no `{line}` in\n{text}");
        }
        // No other class sneaks in above the expected one.
        let above = match class {
            "patch" => vec!["  minor  ", "  major  "],
            "minor" => vec!["  major  "],
            _ => vec![],
        };
        assert!(above.iter().all(|a| !text.contains(a)), "{name}: {text}");
    }
}

/// "One upstream name, one place", item 3: a clause moved into a named condition
/// is compared expanded, so the findings that read it have not changed; only the
/// condition is new. Changing what a condition says is a changed condition.
#[test]
fn moving_a_clause_into_a_named_condition_is_minor() {
    let (code, text) = diff(&tree("inlined"), &tree("named"));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("smallest bump that fits: minor"), "{text}");
    assert!(text.contains("condition has_requests: added"), "{text}");
    assert!(!text.contains("finding demo_"), "{text}");
    let (_, back) = diff(&tree("named"), &tree("inlined"));
    assert!(
        back.contains("major  condition has_requests: removed"),
        "{back}"
    );
}

#[test]
fn check_fails_when_the_version_bump_is_too_small() {
    let (code, text) = diff(&tree("base"), &tree("minor-unbumped"));
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("needs minor (1.1.0), bumped: none  <- too small"),
        "{text}"
    );
    // The reverse direction removes a finding and a spelling: major, and 1.0.0 -> 1.0.0 is too small.
    let (code, text) = diff(&tree("minor-unbumped"), &tree("base"));
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("major  finding demo_idle: removed or renamed"),
        "{text}"
    );
}

#[test]
fn identical_trees_need_nothing_and_bad_input_is_a_clear_error() {
    let (code, text) = diff(&tree("base"), &tree("base"));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("no change"), "{text}");
    let (code, text) = diff(&tree("base"), "fixtures/packs/invalid/yaml-syntax");
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("yaml-syntax/findings.yaml:10:"), "{text}");
    let (code, text) = diff(&tree("base"), "fixtures/evidence");
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("fixtures/evidence: no rule pack here"),
        "{text}"
    );
}

/// CI: the working tree's packs against the last released copy; a pack change
/// without the version bump it needs fails here.
#[test]
fn working_tree_packs_are_bumped_enough_against_the_released_copy() {
    let (code, text) = diff("fixtures/packs/released", "rules");
    assert_eq!(
        code,
        Some(0),
        "rules/ changed beyond its pack.yaml versions:\n{text}"
    );
}
