//! Human durations for flags: `10s`, `1500ms`, `2m`, `1h`, or a bare number of seconds.

use std::time::Duration;

/// Parses a flag duration.
///
/// # Errors
/// A message naming the bad value and the accepted forms.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let bad = || format!("invalid duration {s:?}: expected e.g. 500ms, 10s, 2m or 1h");
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        let cases = [
            ("10s", 10_000),
            ("1500ms", 1500),
            ("2m", 120_000),
            ("1h", 3_600_000),
            ("3", 3000),
            ("0ms", 0),
            ("0.5s", 500),
        ];
        for (input, ms) in cases {
            assert_eq!(
                parse_duration(input),
                Ok(Duration::from_millis(ms)),
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_nonsense_with_the_value_named() {
        for bad in ["", "s", "10x", "-1s", "ten"] {
            let err = parse_duration(bad).expect_err(bad);
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }
}
