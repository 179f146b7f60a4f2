//! Configuration through the registry: keys, environment variables, defaults,
//! errors naming the field, and the registration itself.

use connector_bangwo8::{Bangwo8Connector, CAPABILITIES, VENDOR};
use connector_core::Connector;
use connector_core::registry::find;

use crate::support::{ACCOUNT, SECRET};

#[test]
fn registered_with_its_fields_and_capabilities() {
    let f = find(VENDOR).unwrap();
    let names: Vec<_> = f
        .fields
        .iter()
        .map(|f| (f.name, f.required, f.secret, f.default))
        .collect();
    assert_eq!(
        names,
        [
            ("account", true, false, None),
            ("password", true, true, None),
            ("base_url", false, false, Some("https://www.bangwo8.com")),
            ("timezone", false, false, Some("Asia/Shanghai")),
        ]
    );
    assert!(f.capabilities.messages && f.capabilities.summaries);
    assert!(
        f.capabilities.push_created
            && f.capabilities.push_ended
            && f.capabilities.push_agent
            && f.capabilities.push_customer
    );
    assert!(!f.capabilities.push_channel);
    assert_eq!(f.capabilities, CAPABILITIES);
}

#[test]
fn values_come_from_keys_then_env_then_defaults() {
    let f = find(VENDOR).unwrap();
    let env = |k: &str| match k {
        "CHATHAUL_BANGWO8_PASSWORD" => Some(SECRET.to_owned()),
        "CHATHAUL_BANGWO8_TIMEZONE" => Some("Asia/Ho_Chi_Minh".to_owned()),
        "CHATHAUL_BANGWO8_ACCOUNT" => Some("from-env".to_owned()),
        _ => None,
    };
    let cfg = f.resolve_with_env([("account", ACCOUNT)], env).unwrap();
    let c = Bangwo8Connector::from_config(&cfg).unwrap();
    assert_eq!(c.info().account, ACCOUNT);
    assert_eq!(c.info().base_url, "https://www.bangwo8.com/");
    let dbg = format!("{c:?}");
    assert!(dbg.contains("Asia/Ho_Chi_Minh"), "{dbg}");
    assert!(!dbg.contains(SECRET), "{dbg}");
    assert!(!format!("{cfg:?}").contains(SECRET));

    let built = (f.build)(
        &f.resolve_with_env(
            [
                ("account", "a"),
                ("password", "p"),
                ("base_url", "http://127.0.0.1:1/x"),
            ],
            |_| None,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(built.info().base_url, "http://127.0.0.1:1/x");
}

#[test]
fn errors_name_the_field() {
    let f = find(VENDOR).unwrap();
    let e = f
        .resolve_with_env([("account", "a")], |_| None)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "bangwo8: config field `password`: is required: pass `password=...` or set CHATHAUL_BANGWO8_PASSWORD"
    );
    let cfg = f
        .resolve_with_env(
            [
                ("account", "a"),
                ("password", SECRET),
                ("timezone", "Mars/Olympus"),
            ],
            |_| None,
        )
        .unwrap();
    let e = Bangwo8Connector::from_config(&cfg).unwrap_err().to_string();
    assert!(e.starts_with("bangwo8: config field `timezone`"), "{e}");
    let cfg = f
        .resolve_with_env(
            [
                ("account", "a"),
                ("password", SECRET),
                ("base_url", "ftp://x"),
            ],
            |_| None,
        )
        .unwrap();
    let e = Bangwo8Connector::from_config(&cfg).unwrap_err().to_string();
    assert!(
        e.starts_with("bangwo8: config field `base_url`") && !e.contains(SECRET),
        "{e}"
    );
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let c = crate::support::connector("http://127.0.0.1:9/b8");
    assert!(!format!("{c:?}").contains(SECRET));
    let cfg = connector_bangwo8::Bangwo8Config::new(ACCOUNT, SECRET);
    let dbg = format!("{cfg:?}");
    assert!(
        !dbg.contains(SECRET) && dbg.contains("[REDACTED]") && dbg.contains(ACCOUNT),
        "{dbg}"
    );
}
