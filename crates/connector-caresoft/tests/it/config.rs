//! Configuration through the registry: keys, environment variables,
//! defaults, errors naming the field, and the token kept out of `Debug`.

use connector_caresoft::{CaresoftConfig, CaresoftConnector, ConversationType, VENDOR};
use connector_core::{Connector, registry};

fn resolve(
    values: &[(&str, &str)],
    env: &[(&str, &str)],
) -> connector_core::Result<CaresoftConnector> {
    let factory = registry::find(VENDOR)?;
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let cfg = factory.resolve_with_env(values.iter().copied(), |k| {
        env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    })?;
    CaresoftConnector::from_config(&cfg)
}

#[test]
fn registered_with_fields_and_capabilities() {
    let f = registry::find("caresoft").unwrap();
    let names: Vec<_> = f.fields.iter().map(|f| f.name).collect();
    assert_eq!(
        names,
        [
            "domain",
            "token",
            "base_url",
            "timezone",
            "conversation_types"
        ]
    );
    let token = f.fields.iter().find(|f| f.name == "token").unwrap();
    assert!(token.secret && token.required);
    let tz = f.fields.iter().find(|f| f.name == "timezone").unwrap();
    assert_eq!(tz.default, Some("Asia/Ho_Chi_Minh"));
    assert!(!f.capabilities.messages && !f.capabilities.summaries);
    assert!(f.capabilities.push_created && f.capabilities.push_ended && f.capabilities.push_agent);
    assert!(f.capabilities.push_customer && f.capabilities.push_channel);
    assert_eq!(f.capabilities.max_page_size, Some(500));
    assert_eq!(
        f.env_var("conversation_types"),
        "CHATHAUL_CARESOFT_CONVERSATION_TYPES"
    );
}

#[test]
fn domain_and_defaults() {
    let c = resolve(&[("domain", "acme"), ("token", "t")], &[]).unwrap();
    assert_eq!(c.info().account, "acme");
    assert_eq!(c.info().base_url, "https://api.caresoft.vn/acme");
    assert_eq!(c.config().timezone.name(), "Asia/Ho_Chi_Minh");
    assert_eq!(c.config().conversation_types, ConversationType::ALL);
}

#[test]
fn base_url_only_gives_the_host_as_account() {
    let c = resolve(
        &[
            ("base_url", "http://127.0.0.1:8080/caresoft"),
            ("token", "t"),
        ],
        &[],
    )
    .unwrap();
    assert_eq!(c.info().account, "127.0.0.1");
    assert_eq!(c.info().base_url, "http://127.0.0.1:8080/caresoft");
}

#[test]
fn values_from_the_environment() {
    let env = [
        ("CHATHAUL_CARESOFT_DOMAIN", "acme-vn"),
        ("CHATHAUL_CARESOFT_TOKEN", "env-token"),
        ("CHATHAUL_CARESOFT_CONVERSATION_TYPES", "zalo,facebook"),
        ("CHATHAUL_CARESOFT_TIMEZONE", "Asia/Bangkok"),
    ];
    let c = resolve(&[], &env).unwrap();
    assert_eq!(c.info().account, "acme-vn");
    assert_eq!(
        c.config().conversation_types,
        [ConversationType::Facebook, ConversationType::Zalo]
    );
    assert_eq!(c.config().timezone.name(), "Asia/Bangkok");
    // An explicit value wins over the environment.
    let c = resolve(&[("conversation_types", "0")], &env).unwrap();
    assert_eq!(c.config().conversation_types, [ConversationType::LiveChat]);
}

#[test]
fn errors_name_the_field() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("domain", "acme")],
            "caresoft: config field `token`: is required",
        ),
        (
            &[("token", "t")],
            "caresoft: config field `domain`: is required unless base_url is set",
        ),
        (
            &[
                ("domain", "acme"),
                ("token", "t"),
                ("conversation_types", "livechat,line"),
            ],
            "caresoft: config field `conversation_types`: `line` is not a conversation type",
        ),
        (
            &[
                ("domain", "acme"),
                ("token", "t"),
                ("conversation_types", "2"),
            ],
            "caresoft: config field `conversation_types`: `2` is not",
        ),
        (
            &[
                ("domain", "acme"),
                ("token", "t"),
                ("timezone", "Mars/Olympus"),
            ],
            "caresoft: config field `timezone`",
        ),
        (
            &[("domain", "a/b"), ("token", "t")],
            "caresoft: config field `domain`",
        ),
        (
            &[("base_url", "ftp://x"), ("token", "t")],
            "caresoft: config field `base_url`",
        ),
        (
            &[("domain", "acme"), ("token", "t"), ("pasword", "x")],
            "caresoft: config field `pasword`: unknown field",
        ),
    ];
    for (values, want) in cases {
        let e = resolve(values, &[]).unwrap_err().to_string();
        assert!(e.starts_with(want), "{values:?}: {e}");
    }
}

#[test]
fn token_never_in_debug() {
    let secret = "cs-live-9f8e7d6c5b4a";
    let c = resolve(&[("domain", "acme"), ("token", secret)], &[]).unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains(secret), "{debug}");
    assert!(debug.contains("[REDACTED]"), "{debug}");
    let config = CaresoftConfig::new("acme", secret);
    assert!(!format!("{config:?}").contains(secret));
    let resolved = registry::find(VENDOR)
        .unwrap()
        .resolve([("domain", "acme"), ("token", secret)])
        .unwrap();
    assert!(!format!("{resolved:?}").contains(secret));
}
