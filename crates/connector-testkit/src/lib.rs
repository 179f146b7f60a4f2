#![doc = include_str!("../README.md")]

use std::path::{Path, PathBuf};

pub mod conformance;
mod harness;
pub mod proxy;

pub use harness::{
    Dataset, Harness, OnSimulator, SimServer, TestServer, connector, fast_http, resolve, with_value,
};

use connector_core::Conversation;
use serde_json::Value;

/// insta settings every connector's snapshots use: sorted maps, the snapshot
/// folder beside the test, and no secret-bearing fields.
pub fn snapshot_settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_sort_maps(true);
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    s
}

/// A value as a JSON tree, for snapshots: `raw` records (`serde_json` raw
/// values, which other serializers see as a private wrapper) become
/// ordinary JSON, so a YAML snapshot shows them as the vendor sent them.
///
/// # Panics
/// When the value does not serialize (a test setup error).
pub fn snapshot_value<T: serde::Serialize + ?Sized>(value: &T) -> Value {
    serde_json::to_value(value).expect("the value serializes to JSON")
}

/// Reads a fixture file as text.
///
/// # Panics
/// When the file cannot be read (a test setup error).
pub fn fixture(dir: impl AsRef<Path>, name: &str) -> String {
    let path: PathBuf = dir.as_ref().join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
}

/// A conversation as JSON without its `raw` records (the truth of a
/// simulator is built from its own records, not from the wire), for comparison.
pub fn comparable(c: &Conversation) -> Value {
    let mut v = serde_json::to_value(c).expect("a conversation serializes");
    strip_raw(&mut v);
    v
}

fn strip_raw(v: &mut Value) {
    if let Value::Object(map) = v {
        map.remove("raw");
        if let Some(Value::Array(msgs)) = map.get_mut("messages") {
            for m in msgs {
                strip_raw(m);
            }
        }
    }
}

/// The first place two JSON values differ, as `path: left != right`.
pub fn first_difference(path: &str, a: &Value, b: &Value) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| {
                first_difference(
                    &format!("{path}.{k}"),
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                )
            })
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(format!("{path}: {} items != {} items", x.len(), y.len()));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (p, q))| first_difference(&format!("{path}[{i}]"), p, q))
        }
        _ if a == b => None,
        _ => Some(format!("{path}: {a} != {b}")),
    }
}

/// Asserts that two sets of conversations are equal field by field (`raw`
/// aside), whatever their order: both are sorted by vendor, account and id.
/// Duplicates count: a conversation pulled twice is a failure.
///
/// # Panics
/// With the count difference, or the first differing conversation and field.
pub fn assert_same_conversations(actual: &[Conversation], expected: &[Conversation]) {
    let key = |c: &Conversation| (c.vendor.clone(), c.account.clone(), c.id.clone());
    let mut a: Vec<&Conversation> = actual.iter().collect();
    let mut e: Vec<&Conversation> = expected.iter().collect();
    a.sort_by_key(|c| key(c));
    e.sort_by_key(|c| key(c));
    let ids = |v: &[&Conversation]| v.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    let mut seen = std::collections::HashSet::new();
    for c in &a {
        assert!(
            seen.insert(key(c)),
            "conversation {:?} was pulled more than once",
            key(c)
        );
    }
    if a.len() != e.len() {
        let got: std::collections::BTreeSet<_> = ids(&a).into_iter().collect();
        let want: std::collections::BTreeSet<_> = ids(&e).into_iter().collect();
        let missing: Vec<_> = want.difference(&got).take(10).collect();
        let extra: Vec<_> = got.difference(&want).take(10).collect();
        panic!(
            "pulled {} conversations, expected {}; missing (first 10): {missing:?}; unexpected: {extra:?}",
            a.len(),
            e.len()
        );
    }
    for (x, y) in a.iter().zip(&e) {
        if let Some(diff) = first_difference(
            &format!("conversation {}", x.id),
            &comparable(x),
            &comparable(y),
        ) {
            panic!("pulled conversation differs from the truth at {diff}");
        }
    }
}

/// The truth as a pull without messages would see it.
pub fn without_messages(c: &Conversation) -> Conversation {
    let mut c = c.clone();
    c.messages.clear();
    c.messages_fetched = false;
    c
}

/// The truth as a pull without summaries would see it.
pub fn without_summary(c: &Conversation) -> Conversation {
    let mut c = c.clone();
    c.summary = None;
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_are_located() {
        let mut a = Conversation::new("kf5", "acme", "1");
        let b = a.clone();
        a.customer.name = Some("张三".into());
        let d = first_difference("c", &comparable(&a), &comparable(&b)).unwrap();
        assert_eq!(d, "c.customer.name: \"张三\" != null");
        assert!(first_difference("c", &comparable(&b), &comparable(&b)).is_none());
    }

    #[test]
    #[should_panic(expected = "pulled more than once")]
    fn duplicates_fail() {
        let a = Conversation::new("kf5", "acme", "1");
        assert_same_conversations(&[a.clone(), a.clone()], &[a]);
    }

    #[test]
    #[should_panic(expected = "missing (first 10): [\"2\"]")]
    fn missing_fail() {
        let a = Conversation::new("kf5", "acme", "1");
        let b = Conversation::new("kf5", "acme", "2");
        assert_same_conversations(std::slice::from_ref(&a), &[a.clone(), b]);
    }
}
