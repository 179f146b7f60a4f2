//! The registry as a user of the facade sees it: every vendor crate in
//! `crates/` is registered (a crate nothing names would be dropped by the
//! linker), names are sorted, and config errors name the field.

use std::collections::BTreeSet;

#[test]
fn every_vendor_crate_in_the_workspace_is_registered() {
    let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let present: BTreeSet<String> = std::fs::read_dir(&crates)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|name| name.strip_prefix("connector-").map(str::to_owned))
        .filter(|v| v != "core" && v != "testkit")
        .collect();
    let registered: BTreeSet<String> = chathaul::connectors()
        .iter()
        .map(|f| f.name.to_owned())
        .collect();
    assert_eq!(
        registered, present,
        "registered vendors differ from the crates/connector-* vendor crates"
    );
    let linked: BTreeSet<String> = chathaul::LINKED_VENDORS
        .iter()
        .map(|v| v.to_string())
        .collect();
    assert_eq!(
        linked, present,
        "each vendor crate needs a default-on feature and an `extern crate` in the facade"
    );
    chathaul::registry::check_registry().unwrap();
}

#[test]
fn connectors_are_sorted_and_describe_themselves() {
    let all = chathaul::connectors();
    let names: Vec<&str> = all.iter().map(|f| f.name).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    for f in all {
        assert!(!f.description.is_empty(), "{} has no description", f.name);
        let fields: Vec<&str> = f.all_fields().map(|c| c.name).collect();
        for common in [
            "base_url",
            "timezone",
            "rate_limit",
            "concurrency",
            "adaptive_concurrency",
            "timeout_secs",
            "max_attempts",
        ] {
            assert!(
                fields.contains(&common),
                "{} does not take `{common}`",
                f.name
            );
        }
        assert!(
            f.all_fields().any(|c| c.secret),
            "{} has no secret field",
            f.name
        );
    }
}

#[test]
fn unknown_vendor_lists_the_known_ones() {
    let e = chathaul::connect("zendesk", [("a", "b")])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("unknown vendor `zendesk`; known vendors: "),
        "{e}"
    );
    for f in chathaul::connectors() {
        assert!(e.contains(f.name), "{e}");
    }
}

#[test]
fn config_errors_name_the_field_and_its_environment_variable() {
    for f in chathaul::connectors() {
        // Nothing given and an empty environment: the first required field is named.
        let no_env = |_: &str| None;
        if let Some(required) = f.fields.iter().find(|c| c.required) {
            let e = f
                .resolve_with_env(Vec::<(String, String)>::new(), no_env)
                .unwrap_err()
                .to_string();
            let var = format!(
                "CHATHAUL_{}_{}",
                f.name.to_uppercase(),
                required.name.to_uppercase()
            );
            assert!(
                e.contains(&format!("config field `{}`", required.name)) && e.contains(&var),
                "{e}"
            );
        }
        let e = f
            .resolve_with_env([("no_such_field", "1")], no_env)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`no_such_field`") && e.contains("unknown field"),
            "{e}"
        );
    }
}

#[test]
fn explicit_values_win_over_the_environment_and_secrets_stay_hidden() {
    for f in chathaul::connectors() {
        let env = |var: &str| Some(format!("from-env-{var}"));
        let secret = f.fields.iter().find(|c| c.secret).unwrap();
        let plain = f
            .fields
            .iter()
            .find(|c| !c.secret && c.name != "base_url" && c.name != "timezone");
        let mut given = vec![(secret.name.to_owned(), "hunter2-top-secret".to_owned())];
        if let Some(p) = plain {
            given.push((p.name.to_owned(), "explicit".to_owned()));
        }
        let cfg = f.resolve_with_env(given, env).unwrap();
        assert_eq!(cfg.expose(secret.name), Some("hunter2-top-secret"));
        if let Some(p) = plain {
            assert_eq!(cfg.get(p.name), Some("explicit"), "{}", f.name);
        }
        assert!(
            !format!("{cfg:?}").contains("hunter2"),
            "{} config Debug shows the secret",
            f.name
        );
    }
}
