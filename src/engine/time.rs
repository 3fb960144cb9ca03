//! RFC 3339 timestamps as Go's `time` package reads and writes them, without a date library.

use std::cmp::Ordering;

/// An instant read from an RFC 3339 string, keeping the UTC offset it was written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub unix: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
    /// The offset from UTC the string was written with, in minutes.
    pub offset_minutes: i32,
}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timestamp {
    /// Instants compare as instants, whatever offset they were written with.
    fn cmp(&self, other: &Self) -> Ordering {
        (self.unix, self.nanos).cmp(&(other.unix, other.nanos))
    }
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let s = b.get(at..at.checked_add(n)?)?;
    s.iter().try_fold(0i64, |acc, &c| {
        if c.is_ascii_digit() {
            acc.checked_mul(10)?
                .checked_add(i64::from(c.saturating_sub(b'0')))
        } else {
            None
        }
    })
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date. Callers pass a parsed 4-digit year,
/// a month in 1..=12 and a day in 1..=31, so no step can overflow.
#[allow(clippy::arithmetic_side_effects)]
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01. `z` is a Unix time in seconds divided by
/// 86 400, so |z| < 2^47 and no step can overflow an i64.
#[allow(clippy::arithmetic_side_effects)]
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

impl Timestamp {
    /// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` with Go's range checks (`time.RFC3339`
    /// parsing, which also accepts any number of fraction digits).
    // Every value here is bounded by the fixed layout it was parsed from (a 4-digit year,
    // two-digit fields, indexes below the string's length), so no step can overflow.
    #[allow(clippy::arithmetic_side_effects)]
    pub fn parse(s: &str) -> Option<Timestamp> {
        let b = s.as_bytes();
        let year = digits(b, 0, 4)?;
        let month = digits(b, 5, 2)?;
        let day = digits(b, 8, 2)?;
        let hour = digits(b, 11, 2)?;
        let min = digits(b, 14, 2)?;
        let sec = digits(b, 17, 2)?;
        if b.get(4) != Some(&b'-')
            || b.get(7) != Some(&b'-')
            || !matches!(b.get(10), Some(b'T' | b't'))
            || b.get(13) != Some(&b':')
            || b.get(16) != Some(&b':')
            || !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || min > 59
            || sec > 59
        {
            return None;
        }
        let mut i = 19;
        let mut nanos = 0u32;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                if i - start < 9 {
                    nanos = nanos * 10 + u32::from(b.get(i).copied().unwrap_or(b'0') - b'0');
                }
                i += 1;
            }
            let n = i - start;
            if n == 0 {
                return None;
            }
            for _ in n..9 {
                nanos *= 10;
            }
        }
        let offset_minutes = match b.get(i) {
            Some(b'Z' | b'z') if i + 1 == b.len() => 0,
            Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && b.get(i + 3) == Some(&b':') => {
                let h = digits(b, i + 1, 2)?;
                let m = digits(b, i + 4, 2)?;
                if h > 23 || m > 59 {
                    return None;
                }
                let off = i32::try_from(h * 60 + m).ok()?;
                if sign == b'-' {
                    -off
                } else {
                    off
                }
            }
            _ => return None,
        };
        let local = days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec;
        Some(Timestamp {
            unix: local - i64::from(offset_minutes) * 60,
            nanos,
            offset_minutes,
        })
    }

    /// Go's `time.RFC3339Nano` layout: the offset it was written with (`Z` for UTC), and the
    /// fraction without trailing zeros (none at all when it is zero).
    pub fn to_rfc3339_nano(&self) -> String {
        let local = self
            .unix
            .saturating_add(i64::from(self.offset_minutes).saturating_mul(60));
        let (y, mo, d) = civil_from_days(local.div_euclid(86_400));
        let rem = local.rem_euclid(86_400);
        let mut s = format!(
            "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
            rem.div_euclid(3600),
            rem.rem_euclid(3600).div_euclid(60),
            rem.rem_euclid(60)
        );
        if self.nanos > 0 {
            let frac = format!("{:09}", self.nanos);
            s.push('.');
            s.push_str(frac.trim_end_matches('0'));
        }
        if self.offset_minutes == 0 {
            s.push('Z');
        } else {
            let sign = if self.offset_minutes < 0 { '-' } else { '+' };
            let off = self.offset_minutes.unsigned_abs();
            s.push_str(&format!("{sign}{:02}:{:02}", off / 60, off % 60));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_like_go() {
        let t = Timestamp::parse("2018-02-23T19:10:48.522474467Z").unwrap();
        assert_eq!(t.unix, 1_519_413_048);
        assert_eq!(t.nanos, 522_474_467);
        assert_eq!(t.to_rfc3339_nano(), "2018-02-23T19:10:48.522474467Z");
        let t = Timestamp::parse("2020-01-01T10:00:00.500+02:00").unwrap();
        assert_eq!(t.unix, 1_577_865_600);
        assert_eq!(t.to_rfc3339_nano(), "2020-01-01T10:00:00.5+02:00");
        let e = Timestamp::parse("1970-01-01T00:00:00Z").unwrap();
        assert_eq!(
            (e.unix, e.to_rfc3339_nano().as_str()),
            (0, "1970-01-01T00:00:00Z")
        );
        let old = Timestamp::parse("0001-01-01T00:00:00Z").unwrap();
        assert_eq!(old.unix, -62_135_596_800);
        assert_eq!(old.to_rfc3339_nano(), "0001-01-01T00:00:00Z");
        let neg = Timestamp::parse("1969-12-31T23:59:59.25-00:30").unwrap();
        assert_eq!(neg.unix, 1799);
        assert_eq!(neg.to_rfc3339_nano(), "1969-12-31T23:59:59.25-00:30");
        assert_eq!(
            Timestamp::parse("2016-02-29T00:00:00.1234567891Z").map(|t| t.nanos),
            Some(123_456_789)
        );
        assert!(
            Timestamp::parse("2016-02-29T00:00:00Z")
                < Timestamp::parse("2016-02-29T01:00:00+00:30")
        );
        for bad in [
            "2015-02-29T00:00:00Z",
            "2015-13-01T00:00:00Z",
            "2015-01-01T24:00:00Z",
            "2015-01-01T00:00:60Z",
            "2015-01-01T00:00:00",
            "2015-01-01T00:00:00.Z",
            "2015-01-01 00:00:00Z",
            "2015-01-01T00:00:00+0200",
            "yesterday",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad}");
        }
    }
}
