//! Time as GCE writes it: RFC 3339 with milliseconds in US Pacific standard time
//! (`2026-11-28T06:48:02.123-08:00`), the form Compute Engine uses for `creationTimestamp`,
//! `insertTime`, `startTime` and `endTime`.

use chrono::{FixedOffset, Offset, SecondsFormat, Utc};

/// Now, as GCE formats it.
pub fn rfc3339_now() -> String {
    rfc3339(Utc::now())
}

/// `at`, as GCE formats it.
pub fn rfc3339(at: chrono::DateTime<Utc>) -> String {
    let pacific = FixedOffset::west_opt(8 * 3600).unwrap_or_else(|| Utc.fix());
    at.with_timezone(&pacific)
        .to_rfc3339_opts(SecondsFormat::Millis, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_carry_millis_and_the_pacific_offset() {
        let s = rfc3339_now();
        assert!(s.ends_with("-08:00"), "{s}");
        assert_eq!(s.len(), "2026-11-28T06:48:02.123-08:00".len(), "{s}");
    }
}
