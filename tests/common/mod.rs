//! Helpers shared by the integration tests.

use std::path::Path;

/// Compares `actual` with `tests/golden/<name>` (the tool version redacted), or
/// writes it when `INFERGUARD_BLESS` is set. Goldens are reviewed files: bless,
/// then read the diff.
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    let actual = actual.replace(env!("CARGO_PKG_VERSION"), "<version>");
    if std::env::var_os("INFERGUARD_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("goldens live in a folder"))
            .expect("golden folder");
        std::fs::write(&path, &actual).expect("golden written");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing golden {}; bless with INFERGUARD_BLESS=1 cargo test",
            path.display()
        )
    });
    for (i, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
        assert_eq!(
            e,
            a,
            "golden {name} differs at line {} (bless with INFERGUARD_BLESS=1 after review)",
            i + 1
        );
    }
    assert_eq!(
        expected.lines().count(),
        actual.lines().count(),
        "golden {name} differs in length"
    );
}
