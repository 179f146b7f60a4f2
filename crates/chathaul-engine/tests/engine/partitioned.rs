//! Partitioned Parquet: the layout, replacement on re-run, carrying over what
//! a run does not cover, atomicity when a pull fails, and bounded memory
//! (few open partitions, a small budget, row groups ended by size).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use arrow::record_batch::RecordBatch;
use chathaul_engine::arrow::{conversations_from_batches, conversations_schema, messages_schema};
use chathaul_engine::sink::{self, ParquetSettings, PartitionBy, PartitionedParquetSink, Sink};
use chathaul_engine::{ProgressCounters, pull};
use connector_core::chrono::{Duration, TimeZone, Utc};
use connector_core::{Channel, Conversation, ErrorKind, Query};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::{FileReader, SerializedFileReader};

use crate::fake::{Fake, conversations, t0};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Pulls `query` from `fake` into `dir` the way the command line does: the
/// output is finished only when the pull succeeded.
fn pull_into(
    dir: &Path,
    by: PartitionBy,
    query: &Query,
    fake: &Fake,
) -> Result<Vec<PathBuf>, String> {
    let mut query = query.clone();
    query.include.messages = true;
    let mut out = sink::open_partitioned(dir, by, &query).unwrap();
    let report = runtime().block_on(pull(
        "fake",
        fake,
        &query,
        out.as_mut(),
        &ProgressCounters::default(),
    ));
    match report.error {
        Some(e) => Err(e),
        None => out.finish().map_err(|e| e.to_string()),
    }
}

/// Every file under `root`, as relative paths, sorted.
fn files_under(root: &Path) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Every file's bytes, by relative path.
fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    files_under(root)
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(root.join(&f)).unwrap();
            (f, bytes)
        })
        .collect()
}

/// A `%XX`-escaped path segment's value.
fn unescape(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&segment[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// A partition file's batches with `vendor` and `account` put back from its
/// path, as a reader with hive partitioning does; asserts the file itself
/// leaves them out.
fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let batches: Vec<RecordBatch> =
        ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
            .unwrap()
            .build()
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
    let value = |key: &str| {
        path.iter()
            .filter_map(|p| p.to_str()?.strip_prefix(&format!("{key}=")).map(unescape))
            .next()
            .unwrap()
    };
    let (vendor, account) = (value("vendor"), value("account"));
    let schema = if path.iter().any(|p| p == "conversations") {
        conversations_schema()
    } else {
        messages_schema()
    };
    batches
        .into_iter()
        .map(|b| {
            assert!(b.column_by_name("vendor").is_none() && b.column_by_name("account").is_none());
            assert_eq!(b.num_columns(), schema.fields().len() - 2);
            let n = b.num_rows();
            let columns: Vec<ArrayRef> = schema
                .fields()
                .iter()
                .map(|f| match f.name().as_str() {
                    "vendor" => Arc::new(StringArray::from(vec![vendor.as_str(); n])) as ArrayRef,
                    "account" => Arc::new(StringArray::from(vec![account.as_str(); n])) as ArrayRef,
                    name => b.column_by_name(name).unwrap().clone(),
                })
                .collect();
            RecordBatch::try_new(schema.clone(), columns).unwrap()
        })
        .collect()
}

/// The whole table in a partitioned folder, read back, sorted by id.
fn read_tree(root: &Path) -> Vec<Conversation> {
    let mut tables = [Vec::new(), Vec::new()];
    for f in files_under(root) {
        let batches = read_parquet(&root.join(&f));
        if f.starts_with("conversations/") {
            tables[0].extend(batches);
        } else if f.starts_with("messages/") {
            tables[1].extend(batches);
        } else {
            panic!("a file outside the two trees: {f}");
        }
    }
    let mut all = conversations_from_batches(&tables[0], &tables[1]).unwrap();
    all.sort_by(|a, b| a.id.cmp(&b.id));
    all
}

fn ids_in(path: &Path) -> Vec<String> {
    let mut ids: Vec<String> = conversations_from_batches(&read_parquet(path), &[])
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    ids.sort();
    ids
}

/// The same conversations, changed the way a vendor changes them: each one
/// has a new customer name (so a test can tell which version it holds).
fn changed(data: &[Conversation]) -> Vec<Conversation> {
    data.iter()
        .cloned()
        .map(|mut c| {
            c.customer.name = Some(format!("renamed {}", c.id));
            c
        })
        .collect()
}

fn version(c: &Conversation) -> &str {
    if c.customer
        .name
        .as_deref()
        .is_some_and(|n| n.starts_with("renamed"))
    {
        "new"
    } else {
        "old"
    }
}

fn day(d: u32) -> connector_core::chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, d, 0, 0, 0).unwrap()
}

#[test]
fn conversations_and_messages_are_two_hive_trees_by_utc_creation_date() {
    let dir = tempfile::tempdir().unwrap();
    // One every 12 hours from 2024-03-01T08:00Z: two a day over three days.
    // (c001 at 20:00Z is already March 2 in Asia: the key is the UTC date.)
    let data = conversations("fake", 6);
    let files = pull_into(
        dir.path(),
        PartitionBy::Day,
        &Query::new(),
        &Fake::new("acme", data.clone()),
    )
    .unwrap();
    let expected: Vec<String> = ["conversations", "messages"]
        .iter()
        .flat_map(|t| {
            (1..=3).map(move |d| {
                format!("{t}/vendor=fake/account=acme/date=2024-03-0{d}/part-00000.parquet")
            })
        })
        .collect();
    assert_eq!(
        files_under(dir.path()),
        expected,
        "no staging folder is left"
    );
    let mut returned: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(dir.path()).unwrap().display().to_string())
        .collect();
    returned.sort();
    assert_eq!(returned, expected);
    assert_eq!(read_tree(dir.path()), data);
    let first_day = dir
        .path()
        .join("conversations/vendor=fake/account=acme/date=2024-03-01/part-00000.parquet");
    assert_eq!(ids_in(&first_day), ["c000", "c001"]);
    // A message goes with its conversation's partition.
    let messages = conversations_from_batches(
        &read_parquet(&first_day),
        &read_parquet(
            &dir.path()
                .join("messages/vendor=fake/account=acme/date=2024-03-01/part-00000.parquet"),
        ),
    )
    .unwrap();
    assert_eq!(messages.iter().map(|c| c.messages.len()).sum::<usize>(), 6);

    let by_month = tempfile::tempdir().unwrap();
    pull_into(
        by_month.path(),
        PartitionBy::Month,
        &Query::new(),
        &Fake::new("acme", data.clone()),
    )
    .unwrap();
    assert_eq!(
        files_under(by_month.path()),
        [
            "conversations/vendor=fake/account=acme/date=2024-03/part-00000.parquet",
            "messages/vendor=fake/account=acme/date=2024-03/part-00000.parquet"
        ]
    );
    assert_eq!(read_tree(by_month.path()), data);
}

#[test]
fn values_are_escaped_in_paths_and_no_creation_time_is_the_default_partition() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = conversations("fake", 2);
    for c in &mut data {
        c.account = "team/a=b".into();
    }
    data[1].created_at = None;
    pull_into(
        dir.path(),
        PartitionBy::Day,
        &Query::new(),
        &Fake::new("team/a=b", data.clone()),
    )
    .unwrap();
    assert_eq!(
        files_under(dir.path())
            .iter()
            .filter(|f| f.starts_with("conversations/"))
            .collect::<Vec<_>>(),
        [
            "conversations/vendor=fake/account=team%2Fa%3Db/date=2024-03-01/part-00000.parquet",
            "conversations/vendor=fake/account=team%2Fa%3Db/date=__HIVE_DEFAULT_PARTITION__/part-00000.parquet",
        ]
    );
    assert_eq!(read_tree(dir.path()), data);
}

#[test]
fn a_rerun_replaces_the_partitions_it_writes_and_leaves_the_others_alone() {
    let dir = tempfile::tempdir().unwrap();
    let data = conversations("fake", 10); // March 1 to 5, two a day
    pull_into(
        dir.path(),
        PartitionBy::Day,
        &Query::new(),
        &Fake::new("acme", data.clone()),
    )
    .unwrap();
    let before = snapshot(dir.path());

    // The vendor changed everything; the re-run asks for March 2 and 3 only.
    let window = Query::new().created(Some(day(2)), Some(day(4)));
    let fake = Fake::new("acme", changed(&data));
    pull_into(dir.path(), PartitionBy::Day, &window, &fake).unwrap();
    let after = snapshot(dir.path());
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "the same file set"
    );
    for (file, bytes) in after
        .iter()
        .filter(|(f, _)| f.starts_with("conversations/"))
    {
        let inside = file.contains("date=2024-03-02") || file.contains("date=2024-03-03");
        assert_eq!(&before[file] == bytes, !inside, "{file}");
    }
    let all = read_tree(dir.path());
    assert_eq!(all.len(), 10, "no row twice");
    assert_eq!(all.iter().map(|c| c.messages.len()).sum::<usize>(), 30);
    let versions: Vec<(&str, &str)> = all.iter().map(|c| (c.id.as_str(), version(c))).collect();
    assert_eq!(
        versions,
        [
            ("c000", "old"),
            ("c001", "old"),
            ("c002", "new"),
            ("c003", "new"),
            ("c004", "new"),
            ("c005", "new"),
            ("c006", "old"),
            ("c007", "old"),
            ("c008", "old"),
            ("c009", "old")
        ]
    );

    // Once more: the same files, the same rows.
    pull_into(dir.path(), PartitionBy::Day, &window, &fake).unwrap();
    assert_eq!(
        snapshot(dir.path()).keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    assert_eq!(read_tree(dir.path()), all);
}

#[test]
fn a_window_that_starts_inside_a_day_keeps_the_rest_of_that_day() {
    let dir = tempfile::tempdir().unwrap();
    let data = conversations("fake", 10);
    pull_into(
        dir.path(),
        PartitionBy::Day,
        &Query::new(),
        &Fake::new("acme", data.clone()),
    )
    .unwrap();
    // Local midnight in Asia/Shanghai: 16:00Z the day before. The window
    // holds c001 (March 1, 20:00Z) but not c000 (March 1, 08:00Z).
    let window = Query::new().created(Some(t0() + Duration::hours(4)), Some(day(3)));
    pull_into(
        dir.path(),
        PartitionBy::Day,
        &window,
        &Fake::new("acme", changed(&data)),
    )
    .unwrap();
    let first_day = dir
        .path()
        .join("conversations/vendor=fake/account=acme/date=2024-03-01");
    let parts: Vec<PathBuf> = files_under(&first_day)
        .iter()
        .map(|f| first_day.join(f))
        .collect();
    let mut ids: Vec<String> = parts.iter().flat_map(|p| ids_in(p)).collect();
    ids.sort();
    assert_eq!(
        ids,
        ["c000", "c001"],
        "the day keeps c000, which the run did not ask for"
    );
    let all = read_tree(dir.path());
    assert_eq!(all.len(), 10);
    let new: Vec<&str> = all
        .iter()
        .filter(|c| version(c) == "new")
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(new, ["c001", "c002", "c003"]);
    // Its messages came along.
    assert_eq!(all.iter().map(|c| c.messages.len()).sum::<usize>(), 30);
}

#[test]
fn a_filtered_or_limited_run_replaces_only_what_it_fetched() {
    let dir = tempfile::tempdir().unwrap();
    let data = conversations("fake", 10);
    pull_into(
        dir.path(),
        PartitionBy::Day,
        &Query::new(),
        &Fake::new("acme", data.clone()),
    )
    .unwrap();

    let mut line_only = Query::new();
    line_only.channel = Some(Channel::Other("line".into()));
    pull_into(
        dir.path(),
        PartitionBy::Day,
        &line_only,
        &Fake::new("acme", changed(&data)),
    )
    .unwrap();
    let all = read_tree(dir.path());
    assert_eq!(all.len(), 10);
    let new: Vec<&str> = all
        .iter()
        .filter(|c| version(c) == "new")
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(
        new,
        ["c004", "c009"],
        "the line conversations, and no other"
    );

    let mut first_three = Query::new();
    first_three.limit = Some(3);
    let mut fresh = changed(&data);
    for c in &mut fresh {
        c.customer.name = Some(format!("renamed again {}", c.id));
    }
    pull_into(
        dir.path(),
        PartitionBy::Day,
        &first_three,
        &Fake::new("acme", fresh),
    )
    .unwrap();
    let all = read_tree(dir.path());
    assert_eq!(all.len(), 10);
    let again: Vec<&str> = all
        .iter()
        .filter(|c| {
            c.customer
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("renamed again"))
        })
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(again, ["c000", "c001", "c002"]);
    assert_eq!(all.iter().map(|c| c.messages.len()).sum::<usize>(), 30);
}

#[test]
fn a_pull_that_fails_midway_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = conversations("fake", 10);
    pull_into(
        dir.path(),
        PartitionBy::Day,
        &Query::new(),
        &Fake::new("acme", data.clone()),
    )
    .unwrap();
    let before = snapshot(dir.path());

    let mut failing = Fake::new("acme", changed(&data));
    failing.fail_after = Some(5);
    let err = pull_into(dir.path(), PartitionBy::Day, &Query::new(), &failing).unwrap_err();
    assert!(err.contains("connection reset"), "{err}");
    assert_eq!(
        snapshot(dir.path()),
        before,
        "every partition as it was, no staging folder left"
    );
    assert_eq!(read_tree(dir.path()), data);
}

#[test]
fn few_open_partitions_and_a_tiny_budget_still_write_every_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = conversations("fake", 20); // ten days
    // Days interleaved: 0, 5, 10, 15, 1, 6, … so partitions close and reopen.
    let mut order: Vec<Conversation> = Vec::new();
    for start in 0..5 {
        order.extend(data.iter().skip(start).step_by(5).cloned());
    }
    let mut settings = ParquetSettings::default();
    settings.max_open_partitions = 2;
    settings.memory_budget = 1;
    let write = |root: &Path| {
        let mut out =
            PartitionedParquetSink::create(root, PartitionBy::Day, &Query::new(), settings)
                .unwrap();
        for c in &order {
            out.write(c).unwrap();
        }
        Box::new(out).finish().unwrap()
    };
    write(dir.path());
    assert_eq!(read_tree(dir.path()), data);
    let files = files_under(dir.path());
    assert!(
        files.iter().any(|f| f.ends_with("part-00001.parquet")),
        "a partition reopened gets its next part file: {files:?}"
    );
    // The budget ends a row group after every conversation.
    let one = dir
        .path()
        .join("conversations/vendor=fake/account=acme/date=2024-03-01/part-00000.parquet");
    let reader = SerializedFileReader::new(File::open(&one).unwrap()).unwrap();
    assert_eq!(
        reader.metadata().num_row_groups() as i64,
        reader.metadata().file_metadata().num_rows()
    );

    // The same pull again: the same files, the same rows.
    write(dir.path());
    assert_eq!(files_under(dir.path()), files);
    assert_eq!(read_tree(dir.path()), data);
}

#[test]
fn a_file_is_not_a_partitioned_output() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.parquet");
    std::fs::write(&file, b"mine").unwrap();
    let err = sink::open_partitioned(&file, PartitionBy::Day, &Query::new())
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::Sink);
    assert_eq!(
        err.to_string(),
        format!(
            "{}: partitioned output (by day) is a folder, not a file: name a folder such as out/",
            file.display()
        )
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"mine");
}

#[test]
fn the_partitions_left_behind_give_memory_back_first() {
    // Six days in time order, each busier than the one before, with a
    // budget two or three open partitions fill: the days left behind end
    // their row groups, and the day being written keeps one whole row group.
    let dir = tempfile::tempdir().unwrap();
    let mut data = Vec::new();
    for day in 0..6u32 {
        for k in 0..8 * (day + 1) {
            let mut c = conversations("fake", 1).remove(0);
            c.id = format!("d{day}-{k:02}");
            c.created_at = Some(t0() + Duration::days(day.into()) + Duration::minutes(k.into()));
            c.raw = serde_json::json!({ "blob": noise(day * 100 + k, 20_000) }).into();
            data.push(c);
        }
    }
    let mut settings = ParquetSettings::default();
    settings.row_group_bytes = 1024 * 1024;
    settings.memory_budget = 3 * 1024 * 1024;
    let mut out =
        PartitionedParquetSink::create(dir.path(), PartitionBy::Day, &Query::new(), settings)
            .unwrap();
    for c in &data {
        out.write(c).unwrap();
    }
    Box::new(out).finish().unwrap();
    assert_eq!(read_tree(dir.path()), data);
    let files = files_under(dir.path());
    assert_eq!(files.len(), 12, "{files:?}");
    for f in &files {
        let reader = SerializedFileReader::new(File::open(dir.path().join(f)).unwrap()).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 1, "{f}");
    }
}

/// Long pseudo-random text (zstd cannot shrink it much).
fn noise(seed: u32, len: usize) -> String {
    let mut x = u64::from(seed) * 2_654_435_761 + 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect()
}
