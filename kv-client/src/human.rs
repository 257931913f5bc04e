//! Numbers as people read them: thousands grouped (`1,234,567`), a count
//! with its noun in the right number (`1 key`, `2 keys`), a rate without
//! false precision (`46,305/s`).

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n` and `noun`, plural unless `n` is 1: `1 key`, `1,000 keys`. The
/// plural adds an `s`, which holds for every noun the client counts.
pub fn count(n: u64, noun: &str) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{} {noun}{s}", thousands(n))
}

/// A rate per second: whole numbers from 10 up (`46,305/s`), one decimal
/// below (`2.5/s`).
pub fn rate(per_second: f64) -> String {
    if !per_second.is_finite() || per_second < 0.0 {
        return "-/s".into();
    }
    if per_second >= 10.0 {
        format!("{}/s", thousands(per_second.round() as u64))
    } else {
        format!("{per_second:.1}/s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(count(1, "key"), "1 key");
        assert_eq!(count(0, "key"), "0 keys");
        assert_eq!(count(46_305, "connection"), "46,305 connections");
        assert_eq!(rate(46_305.478_5), "46,305/s");
        assert_eq!(rate(2.46), "2.5/s");
    }
}
