//! Cookie rules for the gateway: reading a `Cookie` header defensively and writing
//! `__Host-` session cookies (Secure, HttpOnly, Path=/, no Domain).

use super::request::percent_encode;

/// Most cookies read from one header; the rest are ignored (a header with thousands of
/// cookies costs no more than this).
const MAX_COOKIES: usize = 256;

/// The value of cookie `name` in a `Cookie` header, percent-decoded. Malformed pairs are
/// skipped; a name that appears twice keeps its first value (RFC 6265 5.4 order).
pub fn read_cookie(header: &str, name: &str) -> Option<String> {
    header
        .split(';')
        .take(MAX_COOKIES)
        .filter_map(|pair| pair.split_once('='))
        .find(|(n, _)| n.trim() == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
        .and_then(percent_decode)
}

/// The `Cookie` header without the named cookies (the gateway's own cookies never reach the
/// origin). `None` when nothing is left.
pub fn strip_cookies(header: &str, names: &[&str]) -> Option<String> {
    let kept: Vec<&str> = header
        .split(';')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| !names.contains(&pair.split_once('=').map_or(*pair, |(n, _)| n.trim())))
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

/// SameSite values the gateway accepts.
pub const SAME_SITE: [&str; 3] = ["Strict", "Lax", "None"];

/// The longest Max-Age a browser honours (RFC 6265bis: 400 days); a longer one is cut to it
/// anyway, so writing more only misleads whoever reads the header.
pub const MAX_COOKIE_AGE_S: u64 = 400 * 24 * 3600;

/// A session cookie: `Name=value; Path=/; Secure; HttpOnly; SameSite=..; Max-Age=..`. A
/// `__Host-` name requires exactly these attributes (Secure, Path=/, no Domain). Max-Age is at
/// most 400 days whatever it is given.
pub fn session_cookie(name: &str, value: &str, same_site: &str, max_age_s: u64) -> String {
    let max_age_s = max_age_s.min(MAX_COOKIE_AGE_S);
    format!("{name}={}; Path=/; Secure; HttpOnly; SameSite={same_site}; Max-Age={max_age_s}", percent_encode(value, is_cookie_octet, false))
}

/// A cookie that deletes `name`.
pub fn clear_cookie(name: &str, same_site: &str) -> String {
    format!("{name}=; Path=/; Secure; HttpOnly; SameSite={same_site}; Max-Age=0")
}

/// Whether `name` is a valid cookie name (an RFC 7230 token).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether a request carrying the gateway's cookies as its credentials must be refused as a
/// cross-site request forgery: an unsafe method sent cross-site (`Sec-Fetch-Site`), or from an
/// `Origin` that is neither the request's own nor allowed. Bearer requests never come here: a
/// browser does not attach a header on its own.
pub fn forged(method: &str, sec_fetch_site: Option<&str>, origin: Option<&str>, own_origin: &str, allowed: &[String]) -> bool {
    if ["GET", "HEAD", "OPTIONS"].iter().any(|m| m.eq_ignore_ascii_case(method)) {
        return false;
    }
    if sec_fetch_site.is_some_and(|s| s.trim().eq_ignore_ascii_case("cross-site")) {
        return true;
    }
    origin.map(str::trim).is_some_and(|o| !o.eq_ignore_ascii_case(own_origin) && !allowed.iter().any(|a| a.eq_ignore_ascii_case(o)))
}

/// The origin (`scheme://host[:port]`) of an absolute http(s) URL.
pub fn origin_of(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    (end > 0).then(|| url.get(..url.len() - rest.len() + end)).flatten()
}

fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E) && b != b'%'
}

/// `%XX` escapes decoded; `None` when the result is not UTF-8 or an escape is malformed (the
/// percent-encoding crate would keep a malformed one as text; a value written by
/// `session_cookie` never has one).
fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let escapes_well_formed =
        bytes.iter().enumerate().filter(|(_, &b)| b == b'%').all(|(i, _)| bytes.get(i + 1..i + 3).is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)));
    escapes_well_formed.then(|| percent_encoding::percent_decode_str(value).decode_utf8().ok().map(|v| v.into_owned()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cookies_defensively() {
        let h = "a=1; __Host-ida-at=eyJ.x.y ; junk; =v; __Host-ida-rt=\"rt%3Bz\"; a=2";
        assert_eq!(read_cookie(h, "__Host-ida-at").as_deref(), Some("eyJ.x.y"));
        assert_eq!(read_cookie(h, "__Host-ida-rt").as_deref(), Some("rt;z"));
        assert_eq!(read_cookie(h, "a").as_deref(), Some("1"));
        assert_eq!(read_cookie(h, "missing"), None);
        assert_eq!(read_cookie("x=%G1", "x"), None, "bad escape");
        assert_eq!(read_cookie("x=%", "x"), None);
        for signed in ["x=%+F", "x=%-F", "x=%+0", "x=a%+Fb"] {
            assert_eq!(read_cookie(signed, "x"), None, "{signed}: a sign is not a hex digit");
        }
        assert_eq!(read_cookie("x=%4", "x"), None);
        assert_eq!(read_cookie("x=%4a%4A", "x").as_deref(), Some("JJ"));
        assert_eq!(read_cookie("x=%FF", "x"), None, "not UTF-8");
        assert_eq!(read_cookie("", "x"), None);
        let many = "c=1; ".repeat(10_000) + "x=late";
        assert_eq!(read_cookie(&many, "x"), None, "past the cap");
    }

    #[test]
    fn cross_site_requests_with_cookies_are_forged() {
        let own = "https://app.example";
        let allowed = vec!["https://admin.example".to_owned()];
        let forged = |method, site, origin| forged(method, site, origin, own, &allowed);
        for method in ["GET", "HEAD", "OPTIONS", "get"] {
            assert!(!forged(method, Some("cross-site"), Some("https://evil.example")), "{method} is safe");
        }
        assert!(forged("POST", Some("cross-site"), None));
        assert!(forged("DELETE", Some(" Cross-Site "), Some(own)), "the browser's word wins");
        assert!(forged("POST", None, Some("https://evil.example")));
        assert!(forged("POST", Some("same-site"), Some("https://other.app.example")), "same site, other origin");
        assert!(forged("PUT", None, Some("null")), "opaque origin");
        assert!(!forged("POST", Some("same-origin"), Some(own)));
        assert!(!forged("POST", None, Some("HTTPS://APP.EXAMPLE")));
        assert!(!forged("POST", Some("same-site"), Some("https://admin.example")), "allowed");
        assert!(!forged("POST", None, None), "no browser signal at all: not a browser's forgery");
        assert!(!forged("PATCH", Some("none"), None), "typed into the address bar");
    }

    #[test]
    fn origins_of_urls() {
        assert_eq!(origin_of("https://app.example/x?y#z"), Some("https://app.example"));
        assert_eq!(origin_of("http://127.0.0.1:8787"), Some("http://127.0.0.1:8787"));
        assert_eq!(origin_of("http://h:1?q"), Some("http://h:1"));
        for bad in ["ftp://x/", "https:///x", "app.example/x", ""] {
            assert_eq!(origin_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn strips_own_cookies() {
        assert_eq!(strip_cookies("a=1; __Host-ida-at=x; b=2; __Host-ida-rt=y", &["__Host-ida-at", "__Host-ida-rt"]).as_deref(), Some("a=1; b=2"));
        assert_eq!(strip_cookies("__Host-ida-at=x", &["__Host-ida-at"]), None);
    }

    #[test]
    fn writes_host_cookies_and_round_trips_odd_values() {
        let c = session_cookie("__Host-ida-rt", "rt; \"x\"%", "Lax", 60);
        assert_eq!(c, "__Host-ida-rt=rt%3B%20%22x%22%25; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=60");
        let value = c.split_once('=').unwrap().1.split(';').next().unwrap();
        assert_eq!(read_cookie(&format!("__Host-ida-rt={value}"), "__Host-ida-rt").as_deref(), Some("rt; \"x\"%"));
        assert_eq!(clear_cookie("__Host-ida-at", "Strict"), "__Host-ida-at=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
        assert!(valid_name("__Host-ida-at") && !valid_name("a b") && !valid_name("") && !valid_name("a;b"));
    }

    #[test]
    fn max_age_is_at_most_400_days() {
        let age = |s: u64| session_cookie("__Host-ida-rt", "v", "Lax", s).rsplit_once("Max-Age=").map(|(_, a)| a.to_owned());
        assert_eq!(age(34_560_000).as_deref(), Some("34560000"));
        assert_eq!(age(34_560_001).as_deref(), Some("34560000"));
        assert_eq!(age(u64::MAX).as_deref(), Some("34560000"));
        assert_eq!(age(0).as_deref(), Some("0"));
    }
}
