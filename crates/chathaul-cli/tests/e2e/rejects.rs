//! A page with malformed records among good ones: under `skip` every good
//! record is stored, the bad ones are set aside in `rejects` with their
//! path and text, and the exit code and the report say so; under `fail`,
//! the error ends the run as it always did.

use chathaul::Conversation;
use chathaul_sim::Simulator;
use connector_testkit::assert_same_conversations;

use crate::common::{Backend, all_truth, chathaul, config_args, sim, text, three_source_config};

crate::suite!(sqlite, crate::common::Backend::Sqlite =>
    a_sync_sets_bad_records_aside_keeps_every_good_one_and_exits_4,
    under_fail_a_bad_record_ends_the_run_with_todays_error,
);
crate::suite!(postgres, crate::common::Backend::Postgres =>
    a_sync_sets_bad_records_aside_keeps_every_good_one_and_exits_4,
    under_fail_a_bad_record_ends_the_run_with_todays_error,
);

/// Corrupts two KF5 chats: one's creation time (the record does not
/// decode), and another's first message's time (its messages do not).
/// Returns (the first's index in the listing, the second's id).
fn corrupt(sim: &Simulator) -> (usize, String, String) {
    let truth = sim.truth("kf5");
    let bad_record = 7;
    let bad_id = truth[bad_record].id.clone();
    sim.corrupt("kf5", None, &bad_id, "created_at", "not a time")
        .unwrap();
    let bad_messages = truth
        .iter()
        .skip(20)
        .find(|c| !c.messages.is_empty())
        .unwrap()
        .id
        .clone();
    sim.corrupt("kf5", None, &bad_messages, "messages.0.created_at", "later")
        .unwrap();
    (bad_record, bad_id, bad_messages)
}

fn truth_without(sim: &Simulator, ids: &[&str]) -> Vec<Conversation> {
    all_truth(sim)
        .into_iter()
        .filter(|c| !(c.vendor == "kf5" && ids.contains(&c.id.as_str())))
        .collect()
}

fn a_sync_sets_bad_records_aside_keeps_every_good_one_and_exits_4(backend: Backend) {
    let sim = sim(40, 0);
    let (index, bad_id, bad_messages) = corrupt(&sim);
    let dir = tempfile::tempdir().unwrap();
    let tdb = backend.fresh(dir.path(), "r.sqlite");
    let env = three_source_config(&sim, &dir.path().join("chathaul.toml"), &[]);
    let out = chathaul(dir.path())
        .args(["sync", "--db", &tdb.arg])
        .envs(env.clone())
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr
            .contains("2 record(s) set aside (see `chathaul sync --status` and the rejects table)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("2 record(s) set aside (rejects): "),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "/apiv2/chats.json page 1 at chats[{index}].created_at"
        )),
        "{stderr}"
    );
    let store = tdb.open();
    // Every good record of every vendor, field by field.
    assert_same_conversations(
        &store.conversations().unwrap(),
        &truth_without(&sim, &[&bad_id, &bad_messages]),
    );
    let rejects = store.rejects(None).unwrap();
    assert_eq!(rejects.len(), 2, "{rejects:?}");
    let record = rejects.iter().find(|r| r.rejected.id.is_none()).unwrap();
    assert_eq!(record.source, "kf5-demo");
    assert_eq!(
        (
            record.rejected.vendor.as_str(),
            record.rejected.account.as_str(),
            record.rejected.endpoint.as_str(),
            record.rejected.page,
        ),
        ("kf5", "demo", "/apiv2/chats.json", 1)
    );
    assert_eq!(record.rejected.path, format!("chats[{index}].created_at"));
    assert!(
        record.rejected.error.contains("not a time"),
        "{}",
        record.rejected.error
    );
    let raw: serde_json::Value = serde_json::from_str(&record.rejected.raw).unwrap();
    assert_eq!(raw["created_at"], "not a time");
    assert_eq!(raw["id"].to_string().trim_matches('"'), bad_id);
    let messages = rejects
        .iter()
        .find(|r| r.rejected.id.as_deref() == Some(bad_messages.as_str()))
        .unwrap();
    assert!(
        messages.rejected.path.ends_with("messages[0].created_at"),
        "{:?}",
        messages.rejected
    );
    let raw: serde_json::Value = serde_json::from_str(&messages.rejected.raw).unwrap();
    assert_eq!(raw["messages"][0]["created_at"], "later");
    drop(store);

    // The status says so, in text and JSON.
    let status = chathaul(dir.path())
        .args(["sync", "--status", "--db", &tdb.arg])
        .output()
        .unwrap();
    let (stdout, _) = text(&status);
    // The table's row, then the lines that follow the table, each naming its source.
    let kf5 = stdout
        .lines()
        .filter(|l| l.starts_with("kf5-demo ") || l.starts_with("kf5-demo:"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(kf5.contains("2 rejected record(s)"), "{stdout}");
    assert!(kf5.contains("2 rejected"), "{stdout}");
    let status = chathaul(dir.path())
        .args(["sync", "--status", "--json", "--db", &tdb.arg])
        .output()
        .unwrap();
    let states: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let kf5 = states
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == "kf5-demo")
        .unwrap();
    assert_eq!(kf5["rejects"], 2);
    assert_eq!(kf5["last_run"]["rejects"], 2);

    // The run was complete: the cursor moved past them, the next run does
    // not list them again and sets nothing aside; the table keeps them.
    let again = chathaul(dir.path())
        .args(["sync", "--db", &tdb.arg])
        .envs(env.clone())
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", text(&again).1);
    let store = tdb.open();
    assert_eq!(store.rejects(Some("kf5-demo")).unwrap().len(), 2);
    drop(store);
    // A full re-read lists them again: set aside again, counted on their rows.
    let full = chathaul(dir.path())
        .args(["sync", "--db", &tdb.arg, "--full-refresh"])
        .envs(env)
        .output()
        .unwrap();
    assert_eq!(full.status.code(), Some(4), "{}", text(&full).1);
    let store = tdb.open();
    let rejects = store.rejects(Some("kf5-demo")).unwrap();
    assert_eq!(rejects.len(), 2);
    assert!(rejects.iter().all(|r| r.times == 2), "{rejects:?}");
}

fn under_fail_a_bad_record_ends_the_run_with_todays_error(backend: Backend) {
    let sim = sim(40, 0);
    let (index, _, _) = corrupt(&sim);
    let dir = tempfile::tempdir().unwrap();
    let tdb = backend.fresh(dir.path(), "f.sqlite");
    let env = three_source_config(&sim, &dir.path().join("chathaul.toml"), &[]);
    let out = chathaul(dir.path())
        .args(["sync", "--db", &tdb.arg, "--on-bad-record", "fail"])
        .envs(env)
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "FAILED: source kf5-demo: kf5: cannot decode /apiv2/chats.json page 1: at chats[{index}].created_at"
        )),
        "{stderr}"
    );
    let store = tdb.open();
    let kf5 = store.state("kf5-demo").unwrap().unwrap();
    assert_eq!((kf5.last_status.as_str(), kf5.cursor), ("error", None));
    assert_eq!(store.rejects(None).unwrap().len(), 0);
}

#[test]
fn a_pull_under_skip_writes_the_rejects_beside_its_output() {
    let sim = sim(40, 0);
    let (index, bad_id, bad_messages) = corrupt(&sim);
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = ["pull", "kf5", "--messages", "-o", "k.jsonl"]
        .map(String::from)
        .to_vec();
    args.extend(config_args(&sim, "kf5"));
    // Pull's default is fail: today's error.
    let out = chathaul(dir.path()).args(&args).output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("at chats[{index}].created_at")),
        "{stderr}"
    );
    args.extend(["--on-bad-record".to_owned(), "skip".to_owned()]);
    let out = chathaul(dir.path()).args(&args).output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("2 record(s) could not be decoded and were set aside:"),
        "{stderr}"
    );
    let got: Vec<Conversation> = std::fs::read_to_string(dir.path().join("k.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let want: Vec<Conversation> = sim
        .truth("kf5")
        .into_iter()
        .filter(|c| c.id != bad_id && c.id != bad_messages)
        .collect();
    assert_same_conversations(&got, &want);
    let rejects: Vec<serde_json::Value> =
        std::fs::read_to_string(dir.path().join("k.rejects.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    assert_eq!(rejects.len(), 2);
    let path = |r: &serde_json::Value| r["path"].as_str().unwrap().to_owned();
    let record = rejects
        .iter()
        .find(|r| path(r) == format!("chats[{index}].created_at"))
        .unwrap();
    assert!(record["raw"].as_str().unwrap().contains("\"not a time\""));
    let messages = rejects
        .iter()
        .find(|r| path(r).ends_with("messages[0].created_at"))
        .unwrap();
    assert!(messages["raw"].as_str().unwrap().contains("\"later\""));
}
