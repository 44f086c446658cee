//! How numbers read in messages, templates and reports: the one formatting rule,
//! shared by the expression engine and every renderer (a leaf: it uses nothing).

/// Numbers as people read them: integers without `.0`, others with up to 4
/// significant decimals.
pub fn format_number(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            "+Inf".to_owned()
        } else {
            "-Inf".to_owned()
        };
    }
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{}", x as i64);
    }
    let s = format!("{x:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}
