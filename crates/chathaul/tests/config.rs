//! The sync configuration file, parsed against the vendors the facade links
//! (their fields, secrets and time zones).

use std::path::Path;

use chathaul::Include;
use chathaul::config::parse;

fn env(k: &str) -> Option<String> {
    match k {
        "KF5_PW" => Some("kf5-secret".into()),
        "CS_TOKEN" => Some("cs-secret".into()),
        _ => None,
    }
}

#[test]
fn a_file_with_three_sources_parses_with_secrets_from_the_environment() {
    let text = r#"
        db = "all.sqlite"
        lookback = "2h"

        [[source]]
        name = "kf5-main"
        vendor = "kf5"
        since = "2024-03-01"
        messages = false
        [source.config]
        subdomain = "acme"
        email = "ops@acme.example"
        password = "${KF5_PW}"

        [[source]]
        vendor = "caresoft"
        lookback = "1d"
        [source.config]
        domain = "acme"
        token = "${CS_TOKEN}"

        [[source]]
        vendor = "bangwo8"
        [source.config]
        account = "admin"
    "#;
    let cfg = parse(text, Path::new("chathaul.toml"), env).unwrap();
    assert_eq!(
        cfg.db.as_ref().and_then(|d| d.path()),
        Some(Path::new("all.sqlite"))
    );
    let names: Vec<&str> = cfg.sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["kf5-main", "caresoft", "bangwo8"]);
    let kf5 = &cfg.sources[0];
    assert!(
        kf5.config
            .contains(&("password".to_owned(), "kf5-secret".to_owned()))
    );
    // A date is local midnight in the connector's zone (Asia/Shanghai for KF5).
    assert_eq!(kf5.since.unwrap().to_rfc3339(), "2024-02-29T16:00:00+00:00");
    assert_eq!(kf5.lookback, chathaul::chrono::Duration::hours(2));
    assert_eq!(
        kf5.include,
        Include {
            messages: false,
            summaries: true
        }
    );
    assert_eq!(cfg.sources[1].lookback, chathaul::chrono::Duration::days(1));
    // Debug shows config keys, never values.
    let dbg = format!("{:?}", cfg.sources);
    assert!(
        !dbg.contains("kf5-secret") && !dbg.contains("cs-secret"),
        "{dbg}"
    );
}

#[test]
fn a_secret_in_clear_is_refused_without_echoing_it() {
    let text = r#"
        [[source]]
        vendor = "caresoft"
        [source.config]
        domain = "acme"
        token = "hunter2-literal"
    "#;
    let err = parse(text, Path::new("chathaul.toml"), env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("config field `token`") && err.contains("must come from the environment"),
        "{err}"
    );
    assert!(err.contains("CHATHAUL_CARESOFT_TOKEN"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn an_unset_variable_and_an_unknown_vendor_are_named() {
    let text = "[[source]]\nvendor = \"caresoft\"\n[source.config]\ndomain = \"a\"\ntoken = \"${NOPE_TOKEN}\"\n";
    let err = parse(text, Path::new("c.toml"), env).unwrap_err();
    assert_eq!(err.kind(), "config");
    assert!(
        err.to_string()
            .contains("the environment variable NOPE_TOKEN is not set"),
        "{err}"
    );

    let err = parse(
        "[[source]]\nvendor = \"zendesk\"\n",
        Path::new("c.toml"),
        env,
    )
    .unwrap_err();
    assert_eq!(err.kind(), "config");
    assert!(
        err.to_string()
            .contains("unknown vendor `zendesk`; known vendors: bangwo8, caresoft, kf5"),
        "{err}"
    );

    let err = parse("[[source]]\nvendr = \"kf5\"\n", Path::new("c.toml"), env).unwrap_err();
    assert_eq!(err.kind(), "config");
    let text = err.to_string();
    assert!(
        text.starts_with("c.toml: ") && text.contains("vendr"),
        "{text}"
    );
    // The TOML parser's own error is kept, with the line it points at.
    let cause = std::error::Error::source(&err).expect("the parser's error is the source");
    assert!(cause.to_string().contains("line 2"), "{cause}");
}

#[test]
fn a_bad_duration_and_a_file_without_sources_are_config_errors_naming_the_file() {
    let err = parse(
        "lookback = \"a while\"\n[[source]]\nvendor = \"kf5\"\n",
        Path::new("c.toml"),
        env,
    )
    .unwrap_err();
    assert_eq!(err.kind(), "config");
    assert_eq!(
        err.to_string(),
        "c.toml: lookback: `a while` is not a duration (like 1d, 12h, 30m, 90s)"
    );
    let err = parse("db = \"x.sqlite\"\n", Path::new("c.toml"), env).unwrap_err();
    assert_eq!(
        (err.kind(), err.to_string()),
        (
            chathaul::ErrorKind::Config,
            "c.toml: no [[source]] entries".to_owned()
        )
    );
}

#[test]
fn two_sources_with_one_name_are_a_config_error_naming_it() {
    let config = |sub: &str| {
        [("subdomain", sub), ("email", "e@x"), ("password", "pw")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .to_vec()
    };
    let sources = vec![
        chathaul::Source::new("kf5", config("a")),
        chathaul::Source::new("kf5", config("b")),
    ];
    let (name, err) = chathaul::sync::prepare(sources).unwrap_err();
    assert_eq!(name, "kf5");
    assert_eq!(err.kind(), chathaul::ErrorKind::Config);
    assert_eq!(
        err.to_string(),
        "source `kf5` is the name of two sources: give each its own name"
    );
}

#[test]
fn change_tracking_keys_have_file_defaults_and_per_source_values() {
    use chathaul::BadRecord;
    use chathaul::chrono::Duration;
    let text = r#"
        revisit_for = "21d"
        full_refresh_every = "30d"
        on_bad_record = "fail"

        [[source]]
        vendor = "kf5"
        rating_window = "10d"
        [source.config]
        subdomain = "acme"
        email = "ops@acme.example"
        password = "${KF5_PW}"

        [[source]]
        vendor = "caresoft"
        revisit_for = "2d"
        full_refresh_every = "1w"
        on_bad_record = "skip"
        [source.config]
        domain = "acme"
        token = "${CS_TOKEN}"
    "#;
    let cfg = parse(text, Path::new("chathaul.toml"), env).unwrap();
    let (kf5, cs) = (&cfg.sources[0], &cfg.sources[1]);
    assert_eq!(kf5.revisit_for, Duration::days(21));
    assert_eq!(kf5.full_refresh_every, Some(Duration::days(30)));
    assert_eq!(kf5.rating_window, Some(Duration::days(10)));
    assert_eq!(kf5.on_bad_record, BadRecord::Fail);
    assert_eq!(cs.revisit_for, Duration::days(2));
    assert_eq!(cs.full_refresh_every, Some(Duration::weeks(1)));
    assert_eq!(cs.rating_window, None, "the vendor's own");
    assert_eq!(cs.on_bad_record, BadRecord::Skip);

    // Without them: 14 days, never, the vendor's window, skip.
    let plain = r#"
        [[source]]
        vendor = "caresoft"
        [source.config]
        domain = "acme"
        token = "${CS_TOKEN}"
    "#;
    let cfg = parse(plain, Path::new("chathaul.toml"), env).unwrap();
    let s = &cfg.sources[0];
    assert_eq!(
        (
            s.revisit_for,
            s.full_refresh_every,
            s.rating_window,
            s.on_bad_record
        ),
        (Duration::days(14), None, None, BadRecord::Skip)
    );

    for (bad, needle) in [
        (
            r#"on_bad_record = "maybe""#,
            "on_bad_record: `maybe` is not `skip` or `fail`",
        ),
        (
            r#"revisit_for = "0d""#,
            "revisit_for: must be longer than zero",
        ),
        (
            r#"rating_window = "soon""#,
            "rating_window: `soon` is not a duration",
        ),
    ] {
        let text = format!(
            "[[source]]\nname = \"cs\"\nvendor = \"caresoft\"\n{bad}\n[source.config]\ndomain = \"acme\"\ntoken = \"${{CS_TOKEN}}\"\n"
        );
        let e = parse(&text, Path::new("chathaul.toml"), env).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("source `cs`") && msg.contains(needle), "{msg}");
    }
}
