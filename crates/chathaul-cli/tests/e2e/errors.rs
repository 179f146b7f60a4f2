use crate::common::{chathaul, config_args, sim, text};

#[track_caller]
fn assert_one_line_exit_2(out: &std::process::Output, needles: &[&str]) {
    let (stdout, stderr) = text(out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line, got:\n{stderr}");
    assert!(stderr.starts_with("chathaul: error: "), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "`{n}` missing from: {stderr}");
    }
    assert!(stdout.is_empty(), "{stdout}");
}

#[test]
fn an_unknown_vendor_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = chathaul(dir.path())
        .args(["pull", "zendesk"])
        .output()
        .unwrap();
    assert_one_line_exit_2(
        &out,
        &["unknown vendor `zendesk`; known vendors: bangwo8, caresoft, kf5"],
    );

    std::fs::write(
        dir.path().join("chathaul.toml"),
        "[[source]]\nvendor = \"zendesk\"\n",
    )
    .unwrap();
    let out = chathaul(dir.path()).args(["sync"]).output().unwrap();
    assert_one_line_exit_2(&out, &["unknown vendor `zendesk`"]);
}

#[test]
fn a_missing_secret_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = chathaul(dir.path())
        .args([
            "pull",
            "bangwo8",
            "-c",
            "account=admin",
            "-c",
            "base_url=http://127.0.0.1:9/bangwo8",
        ])
        .output()
        .unwrap();
    assert_one_line_exit_2(
        &out,
        &[
            "bangwo8: config field `password`",
            "CHATHAUL_BANGWO8_PASSWORD",
        ],
    );

    // From a config file: the variable it names is not set.
    std::fs::write(
        dir.path().join("chathaul.toml"),
        "[[source]]\nname = \"cs\"\nvendor = \"caresoft\"\n[source.config]\ndomain = \"acme\"\ntoken = \"${CS_TOKEN}\"\n",
    )
    .unwrap();
    let out = chathaul(dir.path()).args(["sync"]).output().unwrap();
    assert_one_line_exit_2(
        &out,
        &["caresoft: config field `token`", "CS_TOKEN is not set"],
    );
    assert!(
        !dir.path().join("chathaul.sqlite").exists(),
        "nothing is created before the config is valid"
    );

    // Left out of the file and absent from the environment.
    std::fs::write(
        dir.path().join("chathaul.toml"),
        "[[source]]\nname = \"cs\"\nvendor = \"caresoft\"\n[source.config]\ndomain = \"acme\"\n",
    )
    .unwrap();
    let out = chathaul(dir.path()).args(["sync"]).output().unwrap();
    assert_one_line_exit_2(
        &out,
        &[
            "source cs: caresoft: config field `token`",
            "CHATHAUL_CARESOFT_TOKEN",
        ],
    );
}

#[test]
fn usage_mistakes_are_exit_2() {
    let sim = sim(5, 0);
    let dir = tempfile::tempdir().unwrap();
    let out = chathaul(dir.path())
        .args(["pull", "kf5", "--since", "last tuesday"])
        .args(config_args(&sim, "kf5"))
        .output()
        .unwrap();
    assert_one_line_exit_2(&out, &["--since", "RFC 3339"]);
    let out = chathaul(dir.path())
        .args([
            "pull",
            "kf5",
            "--since",
            "2024-02-01",
            "--until",
            "2024-01-01",
        ])
        .args(config_args(&sim, "kf5"))
        .output()
        .unwrap();
    assert_one_line_exit_2(&out, &["the window is empty"]);
    let out = chathaul(dir.path())
        .args(["pull", "kf5", "-o", "x.xlsx"])
        .args(config_args(&sim, "kf5"))
        .output()
        .unwrap();
    assert_one_line_exit_2(&out, &["x.xlsx: unknown output format"]);
    let out = chathaul(dir.path())
        .args(["pull", "kf5", "-c", "colour=blue"])
        .args(config_args(&sim, "kf5"))
        .output()
        .unwrap();
    assert_one_line_exit_2(&out, &["kf5: config field `colour`: unknown field"]);
    let out = chathaul(dir.path())
        .args(["sync", "--config", "nope.toml"])
        .output()
        .unwrap();
    assert_one_line_exit_2(&out, &["nope.toml"]);
    std::fs::write(dir.path().join("empty.toml"), "lookback = \"1d\"\n").unwrap();
    let out = chathaul(dir.path())
        .args(["sync", "--config", "empty.toml"])
        .output()
        .unwrap();
    assert_one_line_exit_2(&out, &["empty.toml: no [[source]] entries"]);
    let out = chathaul(dir.path())
        .args(["pull", "kf5", "--channel", ""])
        .args(config_args(&sim, "kf5"))
        .output()
        .unwrap();
    assert_one_line_exit_2(&out, &["--channel must not be empty"]);
}

#[test]
fn a_refused_login_names_source_vendor_and_endpoint_and_exits_1() {
    let sim = sim(5, 0);
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<String> = config_args(&sim, "caresoft")
        .into_iter()
        .map(|a| {
            if a.starts_with("token=") {
                "token=wrong-token-123".to_owned()
            } else {
                a
            }
        })
        .collect();
    let out = chathaul(dir.path())
        .args(["pull", "caresoft", "-o", "x.jsonl"])
        .args(&args)
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("FAILED: source caresoft: caresoft: authentication failed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("/api/v1/"),
        "the endpoint is named: {stderr}"
    );
    assert!(!stderr.contains("wrong-token-123"));
    assert!(
        !dir.path().join("x.jsonl").exists(),
        "a failed pull leaves no file that looks complete"
    );
}

#[test]
fn a_foreign_database_is_refused_and_left_alone() {
    let sim = sim(5, 0);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.db"), "not a database").unwrap();
    let out = chathaul(dir.path())
        .args(["pull", "kf5", "-o", "notes.db"])
        .args(config_args(&sim, "kf5"))
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("notes.db: not a SQLite database"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes.db")).unwrap(),
        "not a database"
    );
}

#[test]
fn connectors_lists_every_vendor_with_fields_and_completions_print() {
    let dir = tempfile::tempdir().unwrap();
    let out = chathaul(dir.path())
        .args(["connectors", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bangwo8", "caresoft", "kf5"]);
    let kf5 = &list[2];
    let password = kf5["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "password")
        .unwrap();
    assert_eq!(password["secret"], true);
    assert_eq!(password["env"], "CHATHAUL_KF5_PASSWORD");
    assert_eq!(kf5["capabilities"]["messages"], true);

    let out = chathaul(dir.path())
        .args(["completions", "bash"])
        .output()
        .unwrap();
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("_chathaul()") && stdout.contains("--summaries"),
        "{stdout}"
    );
}

/// docs/cli.md lists exactly the columns of the one schema, in order, with
/// their types and nullability.
#[test]
fn the_documented_columns_are_the_schema() {
    use chathaul::arrow::{Column, Kind};
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/cli.md")).unwrap();
    let table = |heading: &str| -> Vec<String> {
        let start = doc
            .find(heading)
            .unwrap_or_else(|| panic!("no {heading} in docs/cli.md"));
        doc[start..]
            .lines()
            .skip_while(|l| !l.starts_with("| column"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                format!("{} {}", cells[1].trim_matches('`'), cells[2])
            })
            .collect()
    };
    fn described<G>(cols: &[Column<G>]) -> Vec<String> {
        cols.iter()
            .map(|c| {
                let kind = match c.kind {
                    Kind::Text | Kind::Json => "text",
                    Kind::UInt => "uint64",
                    Kind::Bool => "bool",
                    Kind::Time => "timestamp",
                };
                format!(
                    "{} {kind}{}",
                    c.name,
                    if c.nullable { "" } else { ", not null" }
                )
            })
            .collect()
    }
    assert_eq!(
        table("### `conversations`"),
        described(chathaul::arrow::CONVERSATION_COLUMNS)
    );
    assert_eq!(
        table("### `messages`"),
        described(chathaul::arrow::MESSAGE_COLUMNS)
    );
}

#[test]
fn sync_now_takes_the_time_forms_of_since_read_in_utc() {
    let sim = sim(5, 0);
    let dir = tempfile::tempdir().unwrap();
    let env = crate::common::three_source_config(&sim, &dir.path().join("chathaul.toml"), &[]);
    let out = chathaul(dir.path())
        .args(["sync", "--db", "n.sqlite", "--now", "yesterday"])
        .envs(env.clone())
        .output()
        .unwrap();
    assert_one_line_exit_2(
        &out,
        &[
            "--now: `yesterday` is not a time: use RFC 3339",
            "local times read in UTC",
        ],
    );
    // A date is midnight UTC (the first run is a full re-read, stamped `now`).
    let out = chathaul(dir.path())
        .args(["sync", "--db", "n.sqlite", "--now", "2030-01-01"])
        .envs(env)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let store = chathaul::SqliteStore::open(&dir.path().join("n.sqlite")).unwrap();
    let kf5 = chathaul::SyncStore::state(&store, "kf5-demo")
        .unwrap()
        .unwrap();
    assert_eq!(
        kf5.last_full_refresh.map(|t| t.to_rfc3339()).as_deref(),
        Some("2030-01-01T00:00:00+00:00")
    );
}
