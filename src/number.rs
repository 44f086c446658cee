//! How numbers read in messages, templates and reports: the one formatting rule,
//! shared by the expression engine and every renderer (a leaf: it uses nothing).

/// A count as people read it: rounded to an integer, with thousands separators
/// (`1234567.4` → `1,234,567`); non-finite values as `format_number` writes them.
pub fn format_grouped(x: f64) -> String {
    if !x.is_finite() || x.abs() >= 1e15 {
        return format_number(x);
    }
    let digits = format!("{}", x.round().abs() as i64);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if x.round() < 0.0 {
        out.insert(0, '-');
    }
    out
}

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

#[cfg(test)]
mod tests {
    use super::format_grouped;

    #[test]
    fn grouped_counts_carry_thousands_separators() {
        assert_eq!(format_grouped(0.0), "0");
        assert_eq!(format_grouped(999.6), "1,000");
        assert_eq!(format_grouped(1_234_567.0), "1,234,567");
        assert_eq!(format_grouped(-45_000.0), "-45,000");
        assert_eq!(format_grouped(f64::NAN), "NaN");
    }
}
