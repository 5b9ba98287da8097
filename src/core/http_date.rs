//! HTTP dates (RFC 9110 5.6.7: IMF-fixdate, and the obsolete RFC 850 and asctime forms) and
//! the Retry-After header built on them.

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const LONG_DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Parses an HTTP date into milliseconds since the epoch. `None` for anything else: each form
/// exactly as RFC 9110 spells it (names are case-sensitive), a day the month has, the weekday
/// of that date, years 1970 to 9999. Held to the httpdate crate by the `http_date` fuzz target
/// (the crate itself would cost the browser build 1.8 KB gzip).
pub fn parse_http_date(value: &str) -> Option<f64> {
    if !value.is_ascii() {
        return None;
    }
    let s = value.trim();
    let at = |i: usize| s.as_bytes().get(i).copied();
    let field = |from: usize, to: usize| s.get(from..to).unwrap_or("");
    let (weekday, day, month, year, time) = if let Some((name, rest)) = s.split_once(',').and_then(|(name, rest)| Some((name, rest.strip_prefix(' ')?))) {
        if let Some(weekday) = DAYS.iter().position(|d| *d == name) {
            // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
            if s.len() != 29 || at(7) != Some(b' ') || at(11) != Some(b' ') || at(16) != Some(b' ') || !s.ends_with(" GMT") {
                return None;
            }
            (weekday, number(field(5, 7))?, month_of(field(8, 11))?, number(field(12, 16))?, field(17, 25))
        } else {
            // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
            let weekday = LONG_DAYS.iter().position(|d| *d == name)?;
            let r = |from: usize, to: usize| rest.get(from..to).unwrap_or("");
            let b = rest.as_bytes();
            if b.len() != 22 || b[2] != b'-' || b[6] != b'-' || b[9] != b' ' || !rest.ends_with(" GMT") {
                return None;
            }
            let yy = number(r(7, 9))?;
            (weekday, number(r(0, 2))?, month_of(r(3, 6))?, if yy < 70 { 2000 + yy } else { 1900 + yy }, r(10, 18))
        }
    } else {
        // asctime: Sun Nov  6 08:49:37 1994
        if s.len() != 24 || at(3) != Some(b' ') || at(7) != Some(b' ') || at(10) != Some(b' ') || at(19) != Some(b' ') {
            return None;
        }
        let day = if at(8) == Some(b' ') { field(9, 10) } else { field(8, 10) };
        (DAYS.iter().position(|d| *d == field(0, 3))?, number(day)?, month_of(field(4, 7))?, number(field(20, 24))?, field(11, 19))
    };
    let (h, m, sec) = parse_time(time)?;
    let days_in_month = match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    let days = days_from_civil(year, month, day);
    let valid = (1..=days_in_month).contains(&day) && (1970..=9999).contains(&year) && h < 24 && m < 60 && sec < 60;
    // 1970-01-01 was a Thursday (index 3 from Monday).
    (valid && (days + 3).rem_euclid(7) == weekday as i64).then(|| ((days * 86_400 + i64::from(h * 3600 + m * 60 + sec)) * 1000) as f64)
}

/// A run of ASCII digits (no sign, no space) as a number.
fn number(text: &str) -> Option<i64> {
    let digits = text.bytes().try_fold(0, |n: i64, b| b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0')));
    digits.filter(|_| !text.is_empty() && text.len() <= 4)
}

fn month_of(name: &str) -> Option<u32> {
    MONTHS.iter().position(|m| *m == name).map(|m| m as u32 + 1)
}

/// How long a `Retry-After` value asks to wait, in milliseconds from `now_ms`: either
/// delay-seconds or an HTTP date (a date in the past means "now").
pub fn parse_retry_after(value: &str, now_ms: f64) -> Option<f64> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Grows to infinity instead of overflowing for absurd values; the caller caps the wait.
        return Some(value.bytes().fold(0.0, |n, d| n * 10.0 + f64::from(d - b'0')) * 1000.0);
    }
    parse_http_date(value).map(|at| (at - now_ms).max(0.0))
}

/// `HH:MM:SS`, two digits each.
fn parse_time(time: &str) -> Option<(u32, u32, u32)> {
    let b = time.as_bytes();
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let two = |i: usize| number(time.get(i..i + 2)?).map(|n| n as u32);
    Some((two(0)?, two(3)?, two(6)?))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: f64 = 784_111_777_000.0; // Sun, 06 Nov 1994 08:49:37 GMT

    #[test]
    fn the_three_forms() {
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(T));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(T));
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(T));
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0.0));
        assert_eq!(parse_http_date("Tue, 29 Feb 2028 23:59:59 GMT"), Some(1_835_481_599_000.0));
    }

    #[test]
    fn rejects_garbage() {
        for v in [
            "",
            "soon",
            "Sun, 06 Nov 1994",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "06 Nov 1994 8:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
            "ééé, 06 Nov 1994 08:49:37 GMT",
            "1 2 3 1994 00:00:00",
            "Sun, 06 Nov 19945 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(v), None, "{v:?}");
        }
    }

    #[test]
    fn rejects_impossible_days_wrong_weekdays_and_reordered_tokens() {
        for v in [
            "Sat, 31 Feb 2026 00:00:00 GMT",
            "Thu, 29 Feb 2027 00:00:00 GMT",
            "Thu, 31 Apr 2026 00:00:00 GMT",
            "Mon, 06 Nov 1994 08:49:37 GMT",
            "Monday, 06-Nov-94 08:49:37 GMT",
            "Mon Nov  6 08:49:37 1994",
            "Sun, Nov 06 1994 08:49:37 GMT",
            "Sun, 06 1994 Nov 08:49:37 GMT",
            "Sun, 06 Nov 08:49:37 1994 GMT",
            "06 Nov 1994 08:49:37 GMT Sun",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 06 Nov 1994 08:49:60 GMT",
            "sun, 06 nov 1994 08:49:37 gmt",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
            "Sunday, 06-Nov-94X08:49:37 GMT",
            "Sun, +6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:+9:37 GMT",
            "Wed, 31 Dec 1969 23:59:59 GMT",
        ] {
            assert_eq!(parse_http_date(v), None, "{v:?}");
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("7", 0.0), Some(7000.0));
        assert_eq!(parse_retry_after(" 0 ", 0.0), Some(0.0));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", T), Some(10_000.0));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:27 GMT", T), Some(0.0));
        assert_eq!(parse_retry_after("99999999999999999999999", 0.0).map(|v| v > 1e22), Some(true));
        for v in ["-1", "1.5", "", "later"] {
            assert_eq!(parse_retry_after(v, 0.0), None, "{v:?}");
        }
    }
}
