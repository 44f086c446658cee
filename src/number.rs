//! How numbers read in messages, templates and reports: the formatting rules,
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

/// A count with thousands separators: `1,234,567`; a fraction keeps up to 4
/// decimals (`1,234.5`).
pub fn format_count(x: f64) -> String {
    if !x.is_finite() || x.abs() >= 1e15 {
        return format_number(x);
    }
    let plain = format_number(x.abs());
    let (int, frac) = plain.split_once('.').unwrap_or((&plain, ""));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    if x < 0.0 && plain != "0" {
        out.insert(0, '-');
    }
    out
}

/// A 0..1 fraction as a percentage with one decimal (`97.3%`); a share too small
/// for that keeps two significant digits (`0.04%`), so a rare failure never reads
/// as `0.0%`.
pub fn format_percent(x: f64) -> String {
    let p = x * 100.0;
    if !p.is_finite() {
        return format!("{}%", format_number(p));
    }
    if p != 0.0 && p.abs() < 0.05 {
        let decimals = (-p.abs().log10()).ceil() as usize + 1;
        let text = format!("{p:.decimals$}");
        return format!("{}%", text.trim_end_matches('0').trim_end_matches('.'));
    }
    format!("{p:.1}%")
}

/// Seconds as people read them: `850 µs`, `12.5 ms`, `1.25 s`, `2.5 min`, `3 h`.
pub fn format_duration(seconds: f64) -> String {
    if !seconds.is_finite() {
        return format!("{} s", format_number(seconds));
    }
    let a = seconds.abs();
    let (value, unit, decimals) = match a {
        _ if a == 0.0 => (0.0, "s", 0),
        _ if a < 1e-3 => (seconds * 1e6, "µs", 1),
        _ if a < 1.0 => (seconds * 1e3, "ms", 1),
        _ if a < 60.0 => (seconds, "s", 2),
        _ if a < 3600.0 => (seconds / 60.0, "min", 1),
        _ => (seconds / 3600.0, "h", 1),
    };
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    format!("{} {unit}", format_count(text.parse().unwrap_or(value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_have_thousands_separators() {
        assert_eq!(format_count(0.0), "0");
        assert_eq!(format_count(999.0), "999");
        assert_eq!(format_count(1000.0), "1,000");
        assert_eq!(format_count(1_234_567.0), "1,234,567");
        assert_eq!(format_count(-65536.0), "-65,536");
        assert_eq!(format_count(1234.5), "1,234.5");
    }

    #[test]
    fn percentages_keep_rare_shares_visible() {
        assert_eq!(format_percent(0.973), "97.3%");
        assert_eq!(format_percent(0.0), "0.0%");
        assert_eq!(format_percent(0.0004), "0.04%");
        assert_eq!(format_percent(0.000_012_3), "0.0012%");
        assert_eq!(format_percent(1.0), "100.0%");
    }

    #[test]
    fn durations_pick_a_unit() {
        assert_eq!(format_duration(0.0), "0 s");
        assert_eq!(format_duration(0.000_85), "850 µs");
        assert_eq!(format_duration(0.0125), "12.5 ms");
        assert_eq!(format_duration(0.85), "850 ms");
        assert_eq!(format_duration(1.25), "1.25 s");
        assert_eq!(format_duration(120.0), "2 min");
        assert_eq!(format_duration(90.0), "1.5 min");
        assert_eq!(format_duration(7200.0), "2 h");
        assert_eq!(format_duration(45_000.0), "12.5 h");
    }
}
