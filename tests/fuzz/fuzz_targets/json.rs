//! The core's JSON reader and writer held to serde_json on values, not only on verdicts:
//! - reading: both accept the same documents (below the nesting caps) and read the same value:
//!   strings, booleans, nulls, nesting, numbers within one ulp, and for an object member named
//!   twice the last one (serde_json's `Value` keeps the last; `Json::get` answers with it);
//! - writing: an object written by `ObjectWriter` from the input's bytes (any UTF-8 names and
//!   strings, booleans, whole numbers) is read back by serde_json as exactly those members, and
//!   by the core's reader too.
#![no_main]
use std::collections::BTreeMap;

use ida_refresh::core::json::{Json, ObjectWriter};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Distance in ulps between two finite f64 of the same sign (or both zero).
fn ulps(a: f64, b: f64) -> u64 {
    if a == b {
        return 0;
    }
    if a.is_sign_negative() != b.is_sign_negative() {
        return u64::MAX;
    }
    a.abs().to_bits().abs_diff(b.abs().to_bits())
}

fn same(ours: &Json, reference: &Value, path: &str) {
    match (ours, reference) {
        (Json::Null, Value::Null) => {}
        (Json::Bool(a), Value::Bool(b)) => assert_eq!(a, b, "{path}"),
        (Json::String(a), Value::String(b)) => assert_eq!(a, b, "{path}"),
        (Json::Number(a), Value::Number(b)) => {
            let b = b.as_f64().expect("serde_json numbers are f64-representable");
            assert!(ulps(*a, b) <= 1, "{path}: {a:e} and serde_json's {b:e} are {} ulps apart", ulps(*a, b));
        }
        (Json::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: array lengths");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                same(x, y, &format!("{path}[{i}]"));
            }
        }
        (Json::Object(members), Value::Object(b)) => {
            // The last member of each name, as serde_json's map keeps it.
            let last: BTreeMap<&str, &Json> = members.iter().map(|(k, v)| (k.as_str(), v)).collect();
            assert_eq!(last.len(), b.len(), "{path}: member names");
            for (k, v) in last {
                let reference = b.get(k).unwrap_or_else(|| panic!("{path}: serde_json has no member {k:?}"));
                assert_eq!(ours.get(k), Some(v), "{path}: get({k:?}) is not the last member");
                same(v, reference, &format!("{path}.{k}"));
            }
        }
        (a, b) => panic!("{path}: kinds differ: ours {a:?}, serde_json {b}"),
    }
}

fn extreme(v: &Json) -> bool {
    match v {
        Json::Number(n) => n.abs() > 1e307,
        Json::Array(items) => items.iter().any(extreme),
        Json::Object(members) => members.iter().any(|(_, v)| extreme(v)),
        _ => false,
    }
}

/// One member per chunk of the input: its first byte picks the kind, the rest (lossy UTF-8)
/// splits into a name and a string value, or gives a number or boolean.
fn write_and_read_back(data: &[u8]) {
    let mut writer = ObjectWriter::default();
    let mut expected: BTreeMap<String, Value> = BTreeMap::new();
    for chunk in data.split(|&b| b == 0xff) {
        let Some((&kind, rest)) = chunk.split_first() else { continue };
        let text = String::from_utf8_lossy(rest);
        let (name, value) = text.split_at(text.char_indices().nth(text.chars().count() / 2).map_or(text.len(), |(i, _)| i));
        match kind % 3 {
            0 => {
                writer.string(name, value);
                expected.insert(name.to_owned(), Value::String(value.to_owned()));
            }
            1 => {
                writer.boolean(name, rest.len() % 2 == 0);
                expected.insert(name.to_owned(), Value::Bool(rest.len() % 2 == 0));
            }
            _ => {
                let mut bytes = [0u8; 8];
                bytes[..rest.len().min(8)].copy_from_slice(&rest[..rest.len().min(8)]);
                // Whole numbers within ±2^53 (times and counts: what the library writes).
                let n = (i64::from_le_bytes(bytes) >> 10) as f64 + f64::from(kind) / 256.0;
                writer.integer(name, n);
                expected.insert(name.to_owned(), Value::from(n.round() as i64));
            }
        }
    }
    let text = writer.finish();
    let reference: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("serde_json cannot read what we wrote ({e}): {text:?}"));
    let expected = Value::Object(expected.into_iter().collect());
    assert_eq!(reference, expected, "serde_json reads back other values");
    let ours = Json::parse(text.as_bytes()).expect("our reader reads what we wrote");
    same(&ours, &expected, "written");
}

fuzz_target!(|data: &[u8]| {
    let shallow = data.iter().filter(|b| matches!(b, b'[' | b'{')).count() <= 60;
    let parsed = Json::parse(data);
    let reference = serde_json::from_slice::<Value>(data);
    // Within a few ulps of f64::MAX one parser may overflow where the other does not.
    let extreme = parsed.as_ref().is_some_and(extreme);
    if shallow && !extreme {
        match (&parsed, &reference) {
            (Some(ours), Ok(reference)) => same(ours, reference, "$"),
            (None, Err(_)) => {}
            (ours, reference) => panic!("verdicts differ: ours {}, serde_json {reference:?}", ours.is_some()),
        }
    }
    write_and_read_back(data);
});
