//! A small strict JSON reader (RFC 8259) and writer for the few shapes the client handles:
//! refresh responses, JWT payloads and stored sessions. It exists for size: serde_json and its
//! float parsing and printing cost the browser build several times the rest of the client.
//! Total: any input gives a value or `None`, never a panic; nesting is capped.

/// A parsed JSON value. Objects keep their members in order, duplicates included; `get`
/// answers with the last one, as `JSON.parse` does. Its `Debug` shows no string contents: a
/// parsed refresh response holds tokens.
#[derive(Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number (finite: literals beyond f64 are refused, as serde_json does).
    Number(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object.
    Object(Vec<(String, Json)>),
}

impl std::fmt::Debug for Json {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Number(n) => write!(f, "{n}"),
            Json::String(s) => write!(f, "String([{} bytes])", s.len()),
            Json::Array(items) => f.debug_list().entries(items).finish(),
            Json::Object(members) => f.debug_map().entries(members.iter().map(|(k, v)| (k, v))).finish(),
        }
    }
}

/// Containers nested deeper than this are refused (the reader recurses).
const MAX_DEPTH: usize = 64;

impl Json {
    /// Parses a whole document; whitespace around it is allowed, anything else is not.
    pub fn parse(text: &[u8]) -> Option<Json> {
        let text = std::str::from_utf8(text).ok()?;
        let mut reader = Reader { text, at: 0 };
        let value = reader.value(0)?;
        reader.skip_whitespace();
        (reader.at == text.len()).then_some(value)
    }

    /// An object member (the last of that name); `None` for non-objects.
    pub fn get(&self, name: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(n) => Some(*n),
            _ => None,
        }
    }
}

struct Reader<'a> {
    /// Valid UTF-8, read byte by byte: every byte the grammar looks at is ASCII.
    text: &'a str,
    at: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn literal(&mut self, word: &[u8], value: Json) -> Option<Json> {
        let end = self.at.checked_add(word.len())?;
        (self.text.as_bytes().get(self.at..end)? == word).then(|| {
            self.at = end;
            value
        })
    }

    fn value(&mut self, depth: usize) -> Option<Json> {
        if depth >= MAX_DEPTH {
            return None;
        }
        self.skip_whitespace();
        match self.peek()? {
            b'{' => {
                self.at += 1;
                let mut members = Vec::new();
                if !self.close(b'}') {
                    loop {
                        self.skip_whitespace();
                        if self.next()? != b'"' {
                            return None;
                        }
                        let key = self.string()?;
                        self.skip_whitespace();
                        if self.next()? != b':' {
                            return None;
                        }
                        members.push((key, self.value(depth + 1)?));
                        if !self.separator(b'}')? {
                            break;
                        }
                    }
                }
                Some(Json::Object(members))
            }
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                if !self.close(b']') {
                    loop {
                        items.push(self.value(depth + 1)?);
                        if !self.separator(b']')? {
                            break;
                        }
                    }
                }
                Some(Json::Array(items))
            }
            b'"' => {
                self.at += 1;
                self.string().map(Json::String)
            }
            b't' => self.literal(b"true", Json::Bool(true)),
            b'f' => self.literal(b"false", Json::Bool(false)),
            b'n' => self.literal(b"null", Json::Null),
            _ => {
                let start = self.at;
                while matches!(self.peek(), Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')) {
                    self.at += 1;
                }
                parse_number(self.text.as_bytes().get(start..self.at)?).map(Json::Number)
            }
        }
    }

    /// After `{` or `[`: consumes the closing bracket of an empty container.
    fn close(&mut self, bracket: u8) -> bool {
        self.skip_whitespace();
        let empty = self.peek() == Some(bracket);
        if empty {
            self.at += 1;
        }
        empty
    }

    /// After a member or item: `Some(true)` for a comma, `Some(false)` for the closing bracket.
    fn separator(&mut self, bracket: u8) -> Option<bool> {
        self.skip_whitespace();
        match self.next()? {
            b',' => Some(true),
            b if b == bracket => Some(false),
            _ => None,
        }
    }

    /// The rest of a string whose opening quote was consumed.
    fn string(&mut self) -> Option<String> {
        let mut out = String::new();
        let mut run = self.at;
        loop {
            let b = self.next()?;
            if b == b'"' || b == b'\\' {
                // Both are ASCII, so the run before them ends on a character boundary.
                out.push_str(self.text.get(run..self.at - 1)?);
            }
            match b {
                b'"' => return Some(out),
                b'\\' => {
                    out.push(match self.next()? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.escaped_char()?,
                        _ => return None,
                    });
                    run = self.at;
                }
                b if b < 0x20 => return None,
                _ => {}
            }
        }
    }

    /// `\uXXXX`, or a surrogate pair of them. A lone surrogate is refused (a Rust string
    /// cannot hold it).
    fn escaped_char(&mut self) -> Option<char> {
        let first = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&first) {
            if self.next()? != b'\\' || self.next()? != b'u' {
                return None;
            }
            let second = self.hex4()?;
            if !(0xDC00..0xE000).contains(&second) {
                return None;
            }
            0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else {
            first
        };
        char::from_u32(code)
    }

    fn hex4(&mut self) -> Option<u32> {
        let mut n = 0;
        for _ in 0..4 {
            n = n * 16 + (self.next()? as char).to_digit(16)?;
        }
        Some(n)
    }
}

/// A JSON number (`-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`), without the standard
/// library's float parser (large tables). Exact for integers below 2^53 and for decimals of up
/// to 15 significant digits with exponents within 22; otherwise within one ulp (the `json`
/// fuzz target holds it to serde_json's correctly rounded reading). Numbers beyond f64 are
/// refused (`None`), as serde_json does.
pub fn parse_number(text: &[u8]) -> Option<f64> {
    let (negative, rest) = match text.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, text),
    };
    let int_len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let (int, rest) = rest.split_at(int_len);
    if int.is_empty() || (int.len() > 1 && int[0] == b'0') {
        return None;
    }
    let (frac, rest) = match rest.split_first() {
        Some((b'.', after)) => {
            let n = after.iter().take_while(|b| b.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            after.split_at(n)
        }
        _ => (&rest[..0], rest),
    };
    let exponent = match rest.split_first() {
        None => 0,
        Some((b'e' | b'E', after)) => {
            let (sign, digits) = match after.split_first()? {
                (b'-', d) => (-1, d),
                (b'+', d) => (1, d),
                _ => (1, after),
            };
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            // Saturates: 1e999999999999 is as infinite as 1e400.
            sign * digits.iter().fold(0i64, |n, d| (n * 10 + i64::from(d - b'0')).min(1 << 40))
        }
        _ => return None,
    };
    // Up to 19 significant digits fit a u64; the rest only shift the exponent.
    let mut mantissa: u64 = 0;
    let mut shift: i64 = 0;
    for (i, d) in int.iter().chain(frac).enumerate() {
        if mantissa < 1_000_000_000_000_000_000 {
            mantissa = mantissa * 10 + u64::from(d - b'0');
            if i >= int.len() {
                shift -= 1;
            }
        } else if i < int.len() {
            shift += 1;
        }
    }
    let value = scale(mantissa, exponent + shift);
    value.is_finite().then_some(if negative { -value } else { value })
}

/// `m * 10^e` within one ulp. With `m` below 2^53 and |e| <= 22 both are exact doubles and one
/// operation rounds once (the common case). Otherwise the product is carried as a 64-bit
/// mantissa and a binary exponent, multiplied by 10^19 (or 2^127 / 10^19) at a time: each step
/// truncates by less than 2^-63 of the value, so after the at most 45 steps of |e| <= 800 the
/// error is far below half an ulp of f64 and the final rounding is off by at most one ulp.
fn scale(m: u64, e: i64) -> f64 {
    if m == 0 {
        return 0.0;
    }
    if m < 1 << 53 && e.abs() <= 22 {
        let power = 10f64.powi(e.unsigned_abs() as i32);
        return if e >= 0 { m as f64 * power } else { m as f64 / power };
    }
    /// 10^19 (the largest power of ten in a u64; its top bit is set) and 2^127 / 10^19.
    const TEN_19: u64 = 10_000_000_000_000_000_000;
    const INV_TEN_19: u64 = ((1u128 << 127) / TEN_19 as u128) as u64;
    /// `a * 2^ea * b * 2^eb` for normalized mantissas (top bit set), normalized, truncated.
    fn mul((a, ea): (u64, i64), (b, eb): (u64, i64)) -> (u64, i64) {
        let p = u128::from(a) * u128::from(b);
        let shift = i64::from(p.leading_zeros());
        (((p << shift) >> 64) as u64, ea + eb + 64 - shift)
    }
    let normal = |n: u64| (n << n.leading_zeros(), -i64::from(n.leading_zeros()));
    let mut value = normal(m);
    let mut e = e.clamp(-800, 800);
    // A negative exponent becomes steps of 10^-19 and one exact positive rest.
    while e < 0 {
        value = mul(value, (INV_TEN_19, -127));
        e += 19;
    }
    while e >= 19 {
        value = mul(value, (TEN_19, 0));
        e -= 19;
    }
    value = mul(value, normal(10u64.pow(e as u32)));
    // One rounding to 53 bits, then exact scaling by powers of two (in two halves: 2^exp may
    // not be a double itself). Results below f64's normal range round a second time.
    let (mantissa, exp) = value;
    let half = 2f64.powi((exp / 2) as i32);
    mantissa as f64 * 2f64.powi((exp - exp / 2 * 2) as i32) * half * half
}

/// Writes a JSON object member by member: every object the library sends or stores is built
/// with it, so escaping lives in one place.
pub struct ObjectWriter(String);

impl Default for ObjectWriter {
    fn default() -> Self {
        Self(String::from("{"))
    }
}

impl ObjectWriter {
    fn key(&mut self, name: &str) -> &mut String {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        write_string(&mut self.0, name);
        self.0.push(':');
        &mut self.0
    }

    /// A string member.
    pub fn string(&mut self, name: &str, value: &str) -> &mut Self {
        write_string(self.key(name), value);
        self
    }

    /// A number member, written as a whole number (times and counts; see `write_integer`).
    pub fn integer(&mut self, name: &str, value: f64) -> &mut Self {
        write_integer(self.key(name), value);
        self
    }

    /// A boolean member.
    pub fn boolean(&mut self, name: &str, value: bool) -> &mut Self {
        self.key(name).push_str(if value { "true" } else { "false" });
        self
    }

    /// A member whose value is already JSON.
    pub fn raw(&mut self, name: &str, json: &str) -> &mut Self {
        self.key(name).push_str(json);
        self
    }

    /// The object's text.
    pub fn finish(&mut self) -> String {
        let mut out = std::mem::take(&mut self.0);
        out.push('}');
        out
    }
}

/// Appends `value` as a JSON string literal.
fn write_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                out.push_str("\\u00");
                out.push(hex_digit(c as u32 >> 4));
                out.push(hex_digit(c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a whole number (the value rounded; integers beyond 2^53 are not exact anyway).
fn write_integer(out: &mut String, value: f64) {
    let rounded = value.round();
    // Saturating cast: NaN becomes 0, infinities the i64 bounds; callers pass finite times.
    push_decimal(out, rounded as i64);
}

/// Appends an integer in decimal, without core::fmt.
pub fn push_decimal(out: &mut String, value: i64) {
    if value < 0 {
        out.push('-');
    }
    let mut digits = [0u8; 20];
    let mut n = value.unsigned_abs();
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(d as char);
    }
}

/// An uppercase hex digit of the low four bits.
pub fn hex_digit(n: u32) -> char {
    char::from(b"0123456789ABCDEF"[(n & 15) as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Option<Json> {
        Json::parse(s.as_bytes())
    }

    #[test]
    fn reads_documents() {
        let v = parse(r#" {"a": [1, -2.5, true, false, null], "s": "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", "o": {}, "e": []} "#).unwrap();
        assert_eq!(v.get("a"), Some(&Json::Array(vec![Json::Number(1.0), Json::Number(-2.5), Json::Bool(true), Json::Bool(false), Json::Null])));
        assert_eq!(v.get("s").and_then(Json::as_str), Some("x\"\\/\u{8}\u{c}\n\r\té😀"));
        assert_eq!(v.get("o"), Some(&Json::Object(vec![])));
        assert_eq!(v.get("e"), Some(&Json::Array(vec![])));
        assert_eq!(parse(r#"{"k":1,"k":2}"#).unwrap().get("k"), Some(&Json::Number(2.0)), "last wins, as JSON.parse");
        assert_eq!(parse("\"é\"").unwrap().as_str(), Some("é"));
    }

    #[test]
    fn refuses_what_json_parse_refuses() {
        for bad in [
            "",
            " ",
            "{",
            "}",
            "[1,]",
            "{\"a\":1,}",
            "{a:1}",
            "'x'",
            "01",
            "1.",
            ".5",
            "-",
            "+1",
            "1e",
            "1e+",
            "0x10",
            "NaN",
            "Infinity",
            "tru",
            "nul",
            "\"\t\"",
            "\"\\x\"",
            "\"\\u12\"",
            "\"abc",
            "[1 2]",
            "{\"a\" 1}",
            "\u{feff}{}",
            "1 2",
            "{}x",
            "1e400",
            "-1e400",
            "\"\\ud800\"",
            "\"\\ud800\\u0041\"",
            "\"\\udc00\"",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert_eq!(Json::parse(b"\"\xff\""), None, "invalid UTF-8");
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert_eq!(parse(&deep), None, "nesting is capped");
        let ok = "[".repeat(60) + &"]".repeat(60);
        assert!(parse(&ok).is_some());
    }

    #[test]
    fn numbers() {
        for (text, value) in [
            ("0", 0.0),
            ("-0", -0.0),
            ("7", 7.0),
            ("1700000060", 1_700_000_060.0),
            ("1700000060.9", 1_700_000_060.9),
            ("1.5e3", 1500.0),
            ("15E-1", 1.5),
            ("1e+2", 100.0),
            ("0.1", 0.1),
            ("9007199254740993", 9_007_199_254_740_992.0),
            ("1e-400", 0.0),
            ("2.5e-5", 2.5e-5),
        ] {
            assert_eq!(parse_number(text.as_bytes()), Some(value), "{text}");
        }
        // Beyond 19 digits or 22 powers of ten the result is within one ulp, not necessarily
        // the nearest double.
        for (text, value) in [
            ("123456789012345678901234", 1.2345678901234568e23_f64),
            ("1e300", 1e300),
            ("1.5e-300", 1.5e-300),
            ("86327290903154567e-281", 8.632_729_090_315_457e-265),
            ("1.2345678901234567890e-321", 1.235e-321),
            ("0.7976931348623151e305", 7.976931348623151e304),
            ("2.2250738585072011e-308", 2.225073858507201e-308),
        ] {
            let n: f64 = parse_number(text.as_bytes()).unwrap();
            assert!(n.to_bits().abs_diff(value.to_bits()) <= 1, "{text}: {n:e}, not within one ulp of {value:e}");
        }
        // The edges of f64: the largest and smallest values are read, beyond them is refused.
        for text in ["1.7976931348623157e308", "17976931348623157e292", "1.79769313486231580e308", "-1.7976931348623157e308"] {
            let n = parse_number(text.as_bytes()).unwrap_or_else(|| panic!("{text} is refused"));
            assert_eq!(n.abs(), f64::MAX, "{text}");
        }
        assert_eq!(parse_number(b"5e-324"), Some(5e-324));
        assert_eq!(parse_number(b"1.8e308"), None);
    }

    #[test]
    fn debug_shows_no_string_contents() {
        let v = parse(r#"{"accessToken":"SECRET","n":[1,true,null]}"#).unwrap();
        let shown = format!("{v:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("accessToken") && shown.contains("6 bytes"), "{shown}");
    }

    #[test]
    fn writes_objects() {
        let text = ObjectWriter::default().string("a\"", "x\ny").integer("n", 1.6).boolean("b", false).raw("o", "[1]").finish();
        assert_eq!(text, r#"{"a\"":"x\ny","n":2,"b":false,"o":[1]}"#);
        assert_eq!(ObjectWriter::default().finish(), "{}");
        assert!(Json::parse(text.as_bytes()).is_some());
    }

    #[test]
    fn writes_strings_and_integers() {
        let mut out = String::new();
        write_string(&mut out, "a\"b\\c\n\u{1}é");
        assert_eq!(out, r#""a\"b\\c\n\u0001é""#);
        assert_eq!(parse(&out).unwrap().as_str(), Some("a\"b\\c\n\u{1}é"));
        let mut out = String::new();
        for v in [0.0, -12.0, 1_700_000_000_123.4, 9e15] {
            write_integer(&mut out, v);
            out.push(' ');
        }
        assert_eq!(out, "0 -12 1700000000123 9000000000000000 ");
        let mut out = String::new();
        push_decimal(&mut out, i64::MIN);
        assert_eq!(out, "-9223372036854775808");
    }
}
