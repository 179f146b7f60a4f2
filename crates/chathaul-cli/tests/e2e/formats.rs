use std::fs::File;
use std::path::Path;

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use arrow::record_batch::RecordBatch;
use chathaul::arrow::{conversations_from_batches, conversations_schema, messages_schema};
use chathaul::sink::{TableFormat, table_paths};
use chathaul::{Conversation, SqliteStore, SyncStore};
use connector_testkit::assert_same_conversations;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::common::{assert_ok, chathaul, config_args, sim, text};

/// Pulls every vendor with messages and summaries into `file_name`, reads the
/// output back with `read`, and compares it with the simulator's truth.
fn each_vendor_to(file_name: &str, read: fn(&Path) -> Vec<Conversation>) {
    let sim = sim(40, 0);
    let dir = tempfile::tempdir().unwrap();
    for vendor in chathaul_sim::VENDORS {
        let out_path = dir.path().join(format!("{vendor}-{file_name}"));
        let out = chathaul(dir.path())
            .args(["pull", vendor, "--messages", "--summaries", "-o"])
            .arg(&out_path)
            .args(config_args(&sim, vendor))
            .output()
            .unwrap();
        assert_ok(&out);
        let (stdout, stderr) = text(&out);
        assert!(stdout.is_empty(), "{stdout}");
        assert!(
            stderr.contains(&format!("{vendor} ({vendor}/")) && stderr.contains("40 conversations"),
            "{stderr}"
        );
        let truth = sim.truth(vendor);
        assert_eq!(truth.len(), 40);
        assert_same_conversations(&read(&out_path), &truth);
    }
}

fn read_jsonl(path: &Path) -> Vec<Conversation> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn read_tables(path: &Path, format: TableFormat) -> Vec<Conversation> {
    let (c, m) = table_paths(path, format);
    assert!(!path.exists(), "only the two table files are written");
    let read = |p: &Path, schema| -> Vec<RecordBatch> {
        let file = File::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        match format {
            TableFormat::Csv => arrow::csv::ReaderBuilder::new(schema)
                .with_header(true)
                .build(file)
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap(),
            TableFormat::Parquet => ParquetRecordBatchReaderBuilder::try_new(file)
                .unwrap()
                .build()
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap(),
        }
    };
    conversations_from_batches(
        &read(&c, conversations_schema()),
        &read(&m, messages_schema()),
    )
    .unwrap()
}

#[test]
fn each_vendor_to_jsonl_equals_the_truth() {
    each_vendor_to("out.jsonl", read_jsonl);
}

#[test]
fn each_vendor_to_csv_equals_the_truth() {
    each_vendor_to("out.csv", |p| read_tables(p, TableFormat::Csv));
}

#[test]
fn each_vendor_to_parquet_equals_the_truth() {
    each_vendor_to("out.parquet", |p| read_tables(p, TableFormat::Parquet));
}

#[test]
fn each_vendor_to_sqlite_equals_the_truth() {
    each_vendor_to("out.sqlite", |p| {
        SqliteStore::open(p).unwrap().conversations().unwrap()
    });
}

#[test]
fn jsonl_on_stdout_with_a_window_and_a_limit() {
    let sim = sim(40, 0);
    let dir = tempfile::tempdir().unwrap();
    let truth = sim.truth("kf5");
    let mut created: Vec<_> = truth.iter().filter_map(|c| c.created_at).collect();
    created.sort();
    let (since, until) = (created[5], created[25]);
    let fmt = |t: chathaul::chrono::DateTime<chathaul::chrono::Utc>| t.to_rfc3339();
    let out = chathaul(dir.path())
        .args([
            "pull",
            "kf5",
            "--since",
            &fmt(since),
            "--until",
            &fmt(until),
        ])
        .args(config_args(&sim, "kf5"))
        .output()
        .unwrap();
    assert_ok(&out);
    let (stdout, _) = text(&out);
    let got: Vec<Conversation> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let expected: Vec<Conversation> = truth
        .iter()
        .filter(|c| c.created_at.is_some_and(|t| t >= since && t < until))
        .map(connector_testkit::without_messages)
        .map(|c| connector_testkit::without_summary(&c))
        .collect();
    assert_eq!(expected.len(), 20, "the window is half-open");
    assert_same_conversations(&got, &expected);

    let out = chathaul(dir.path())
        .args(["pull", "kf5", "--limit", "3", "-o", "-"])
        .args(config_args(&sim, "kf5"))
        .output()
        .unwrap();
    assert_ok(&out);
    let (stdout, stderr) = text(&out);
    assert_eq!(stdout.lines().count(), 3);
    assert!(stderr.contains("stopped at --limit"), "{stderr}");
}

/// `chathaul sim --json` prints configs that `chathaul pull` takes as they are.
#[test]
fn the_sim_subcommand_feeds_pull_with_an_ended_window() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut sim = chathaul(dir.path())
        .args(["sim", "--json", "--conversations", "15", "--seed", "3"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(sim.stdout.take().unwrap()).lines();
    let configs: Vec<serde_json::Value> = (0..3)
        .map(|_| serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap())
        .collect();
    let kf5 = configs.iter().find(|c| c["vendor"] == "kf5").unwrap();
    let args: Vec<String> = kf5
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "vendor")
        .flat_map(|(k, v)| ["-c".to_owned(), format!("{k}={}", v.as_str().unwrap())])
        .collect();
    let truth: Vec<Conversation> = chathaul_sim::truth(
        &chathaul_sim::SimOptions {
            conversations: 15,
            seed: 3,
            ..Default::default()
        },
        "kf5",
    )
    .collect();
    let mut ended: Vec<_> = truth.iter().filter_map(|c| c.ended_at).collect();
    ended.sort();
    let since = ended[4];
    let out = chathaul(dir.path())
        .args([
            "pull",
            "kf5",
            "--by",
            "ended",
            "--since",
            &since.to_rfc3339(),
            "--messages",
        ])
        .args(&args)
        .output()
        .unwrap();
    sim.kill().unwrap();
    sim.wait().unwrap();
    assert_ok(&out);
    let got: Vec<Conversation> = text(&out)
        .0
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let expected: Vec<Conversation> = truth
        .iter()
        .filter(|c| c.ended_at.is_some_and(|t| t >= since))
        .map(connector_testkit::without_summary)
        .collect();
    assert_eq!(expected.len(), ended.len() - 4);
    assert_same_conversations(&got, &expected);
}

/// Every conversation and message of a partitioned folder, and the relative
/// path of each file.
fn read_partitioned(root: &Path) -> (Vec<Conversation>, Vec<String>) {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(root, &mut files);
    files.sort();
    let (mut convs, mut msgs) = (Vec::new(), Vec::new());
    for f in &files {
        let batches: Vec<RecordBatch> =
            ParquetRecordBatchReaderBuilder::try_new(File::open(f).unwrap())
                .unwrap()
                .build()
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
        let rel = f.strip_prefix(root).unwrap();
        let parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        // The files leave out what the path names; put it back as a hive reader does.
        let (vendor, account) = (
            parts[1].strip_prefix("vendor=").unwrap(),
            parts[2].strip_prefix("account=").unwrap(),
        );
        assert!(!vendor.contains('%') && !account.contains('%'));
        let schema = if rel.starts_with("conversations") {
            conversations_schema()
        } else {
            messages_schema()
        };
        let batches: Vec<RecordBatch> = batches
            .into_iter()
            .map(|b| {
                let n = b.num_rows();
                let columns: Vec<ArrayRef> = schema
                    .fields()
                    .iter()
                    .map(|field| match field.name().as_str() {
                        "vendor" => Arc::new(StringArray::from(vec![vendor; n])) as ArrayRef,
                        "account" => Arc::new(StringArray::from(vec![account; n])) as ArrayRef,
                        name => b.column_by_name(name).unwrap().clone(),
                    })
                    .collect();
                RecordBatch::try_new(schema.clone(), columns).unwrap()
            })
            .collect();
        if rel.starts_with("conversations") {
            // Every row is in the partition of its UTC creation date.
            for c in conversations_from_batches(&batches, &[]).unwrap() {
                let date = c.created_at.unwrap().format("%Y-%m-%d");
                assert_eq!(parts[3], format!("date={date}"), "{}", rel.display());
            }
            convs.extend(batches);
        } else {
            assert!(rel.starts_with("messages"), "{}", rel.display());
            msgs.extend(batches);
        }
    }
    let rel = files
        .iter()
        .map(|f| f.strip_prefix(root).unwrap().display().to_string())
        .collect();
    (conversations_from_batches(&convs, &msgs).unwrap(), rel)
}

#[test]
fn every_vendor_into_one_partitioned_folder_equals_the_truth_and_a_rerun_replaces_it() {
    let sim = sim(40, 0);
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let pull = |vendor: &str| {
        let out = chathaul(dir.path())
            .args([
                "pull",
                vendor,
                "--messages",
                "--summaries",
                "--partition-by",
                "day",
                "-o",
            ])
            .arg(&lake)
            .args(config_args(&sim, vendor))
            .output()
            .unwrap();
        assert_ok(&out);
        let (stdout, stderr) = text(&out);
        assert!(stdout.is_empty(), "{stdout}");
        assert!(
            stderr.contains("partitions by day into")
                && stderr.contains(&format!("{}", lake.display())),
            "{stderr}"
        );
    };
    for vendor in chathaul_sim::VENDORS {
        pull(vendor);
    }
    let (mut got, files) = read_partitioned(&lake);
    got.sort_by(|a, b| (&a.vendor, &a.id).cmp(&(&b.vendor, &b.id)));
    assert_same_conversations(&got, &crate::common::all_truth(&sim));
    // A listing that is not in time order reopens a partition as its next
    // part file (CareSoft's here): part-00000.parquet, part-00001.parquet, …
    assert!(
        files.iter().all(|f| {
            let name = f.rsplit('/').next().unwrap();
            name.len() == "part-00000.parquet".len()
                && name.starts_with("part-")
                && name.ends_with(".parquet")
                && name[5..10].bytes().all(|b| b.is_ascii_digit())
        }),
        "{files:?}"
    );

    // The same pull again: the same files, every row once.
    pull("kf5");
    let (again, files_again) = read_partitioned(&lake);
    assert_eq!(files_again, files);
    assert_eq!(again.len(), got.len());
}

#[test]
fn partitioned_output_must_be_a_folder() {
    let sim = sim(1, 0);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("taken"), "mine").unwrap();
    for target in ["taken", "-"] {
        let out = chathaul(dir.path())
            .args(["pull", "kf5", "--partition-by", "day", "-o", target])
            .args(config_args(&sim, "kf5"))
            .output()
            .unwrap();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "chathaul: error: {target}: partitioned output (by day) is a folder, not a file"
            )),
            "{stderr}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("taken")).unwrap(),
        "mine"
    );
}

#[test]
fn a_partitioned_pull_under_skip_keeps_its_rejects_beside_the_folder() {
    let sim = sim(30, 0);
    let bad = sim.truth("kf5")[5].id.clone();
    sim.corrupt("kf5", None, &bad, "created_at", "not a time")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = chathaul(dir.path())
        .args(["pull", "kf5", "--messages", "--partition-by", "day"])
        .args(["--on-bad-record", "skip", "-o", "lake/"])
        .args(config_args(&sim, "kf5"))
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("1 record(s) could not be decoded and were set aside:")
            && stderr.contains("lake.rejects.jsonl"),
        "{stderr}"
    );
    // Every good record is in its partition; the bad one is beside the folder.
    let (got, _) = read_partitioned(&dir.path().join("lake"));
    let want: Vec<Conversation> = sim
        .truth("kf5")
        .into_iter()
        .filter(|c| c.id != bad)
        .map(|c| connector_testkit::without_summary(&c))
        .collect();
    assert_same_conversations(&got, &want);
    let rejects: Vec<serde_json::Value> =
        std::fs::read_to_string(dir.path().join("lake.rejects.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    assert!(
        rejects[0]["path"]
            .as_str()
            .unwrap()
            .ends_with(".created_at")
    );
    assert!(
        rejects[0]["raw"]
            .as_str()
            .unwrap()
            .contains("\"not a time\"")
    );
}
