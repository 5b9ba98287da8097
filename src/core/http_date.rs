//! HTTP dates (RFC 9110 5.6.7: IMF-fixdate, and the obsolete RFC 850 and asctime forms) and
//! the Retry-After header built on them.

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/// Parses an HTTP date into milliseconds since the epoch. `None` for anything else.
pub fn parse_http_date(value: &str) -> Option<f64> {
    let (mut day, mut month, mut year, mut time) = (None, None, None, None);
    for part in value.split([' ', ',', '-']).filter(|p| !p.is_empty()) {
        if part.contains(':') {
            time = Some(parse_time(part)?);
        } else if let Some(m) = MONTHS.iter().position(|m| part.eq_ignore_ascii_case(m)) {
            month = Some(m as u32 + 1);
        } else if part.bytes().all(|b| b.is_ascii_digit()) {
            let n: i64 = part.parse().ok()?;
            match (part.len(), day) {
                (1 | 2, None) => day = Some(n as u32),
                (2, Some(_)) => year = Some(if n < 70 { 2000 + n } else { 1900 + n }),
                (4, _) => year = Some(n),
                _ => return None,
            }
        } else if !(part.eq_ignore_ascii_case("GMT") || is_day_name(part)) {
            return None;
        }
    }
    let (day, month, year, (h, m, s)) = (day?, month?, year?, time?);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 86_400 + i64::from(h * 3600 + m * 60 + s)) * 1000) as f64)
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

fn is_day_name(part: &str) -> bool {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    part.as_bytes().get(..3).is_some_and(|p| DAYS.iter().any(|d| p.eq_ignore_ascii_case(d.as_bytes())))
}

fn parse_time(part: &str) -> Option<(u32, u32, u32)> {
    let mut it = part.split(':').map(|n| if n.len() == 2 { n.parse::<u32>().ok() } else { None });
    let t = (it.next()??, it.next()??, it.next()??);
    it.next().is_none().then_some(t)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
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
        for v in ["", "soon", "Sun, 06 Nov 1994", "Sun, 32 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
                  "06 Nov 1994 8:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 GMT extra", "ééé, 06 Nov 1994 08:49:37 GMT",
                  "1 2 3 1994 00:00:00", "Sun, 06 Nov 19945 08:49:37 GMT"] {
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
