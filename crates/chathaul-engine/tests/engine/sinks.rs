use std::fs::File;
use std::path::Path;

use arrow::record_batch::RecordBatch;
use chathaul_engine::arrow::{
    CONVERSATION_COLUMNS, MESSAGE_COLUMNS, conversations_from_batches, conversations_schema,
    messages_schema,
};
use chathaul_engine::sink::{self, ParquetSettings, ParquetSink, Sink, TableFormat, table_paths};
use chathaul_engine::store::{SqliteStore, SyncStore};
use connector_core::{Conversation, Error, ErrorKind};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::{FileReader, SerializedFileReader};

use crate::fake::conversations;

fn write_all(path: &Path, data: &[Conversation]) -> Vec<std::path::PathBuf> {
    let mut s = sink::open(Some(path)).unwrap();
    for c in data {
        s.write(c).unwrap();
    }
    s.finish().unwrap()
}

fn read_csv(path: &Path, schema: arrow::datatypes::SchemaRef) -> Vec<RecordBatch> {
    let reader = arrow::csv::ReaderBuilder::new(schema)
        .with_header(true)
        .build(File::open(path).unwrap())
        .unwrap();
    reader.collect::<Result<Vec<_>, _>>().unwrap()
}

fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    reader.collect::<Result<Vec<_>, _>>().unwrap()
}

#[test]
fn jsonl_reads_back_equal_raw_included() {
    let dir = tempfile::tempdir().unwrap();
    let data = conversations("fake", 25);
    let path = dir.path().join("out.jsonl");
    assert_eq!(write_all(&path, &data), vec![path.clone()]);
    let text = std::fs::read_to_string(&path).unwrap();
    let back: Vec<Conversation> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(back, data);
    assert!(!dir.path().join("out.jsonl.partial").exists());
}

#[test]
fn csv_reads_back_equal_through_the_one_schema() {
    let dir = tempfile::tempdir().unwrap();
    let data = conversations("fake", 25);
    let files = write_all(&dir.path().join("out.csv"), &data);
    let (c, m) = table_paths(&dir.path().join("out.csv"), TableFormat::Csv);
    assert_eq!(files, vec![c.clone(), m.clone()]);
    assert_eq!(c.file_name().unwrap(), "out.conversations.csv");
    assert_eq!(m.file_name().unwrap(), "out.messages.csv");
    // The header row is the schema's column names, in order.
    let text = std::fs::read_to_string(&c).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let names: Vec<&str> = CONVERSATION_COLUMNS.iter().map(|c| c.name).collect();
    assert_eq!(header, names);
    let convs = read_csv(&c, conversations_schema());
    let msgs = read_csv(&m, messages_schema());
    assert_eq!(convs.iter().map(|b| b.num_rows()).sum::<usize>(), 25);
    assert_eq!(msgs.iter().map(|b| b.num_rows()).sum::<usize>(), 75);
    assert_eq!(conversations_from_batches(&convs, &msgs).unwrap(), data);
    assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| {
        !e.unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".partial")
    }));
}

#[test]
fn parquet_reads_back_equal_with_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let data = conversations("fake", 25);
    write_all(&dir.path().join("out.parquet"), &data);
    let (c, m) = table_paths(&dir.path().join("out.parquet"), TableFormat::Parquet);
    let convs = read_parquet(&c);
    let msgs = read_parquet(&m);
    assert_eq!(convs[0].schema().fields(), conversations_schema().fields());
    assert_eq!(msgs[0].schema().fields(), messages_schema().fields());
    assert_eq!(conversations_from_batches(&convs, &msgs).unwrap(), data);
}

#[test]
fn sqlite_reads_back_equal_and_flat_columns_match() {
    let dir = tempfile::tempdir().unwrap();
    let data = conversations("fake", 25);
    let path = dir.path().join("out.sqlite");
    write_all(&path, &data);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.conversations().unwrap(), data);
    let conn = store.connection();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 75);
    let (name, created, sat): (String, String, Option<String>) = conn
        .query_row("SELECT customer_name, created_at, rating_satisfaction FROM conversations WHERE id = 'c002'", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(name, "Nguyễn Văn \"An\", 王小明 😀");
    assert_eq!(created, "2024-03-02T08:00:00Z");
    assert_eq!(sat.as_deref(), Some("satisfied"));
    let cols: i64 = conn
        .query_row(
            "SELECT count(*) FROM pragma_table_info('messages')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(cols as usize, MESSAGE_COLUMNS.len());
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn upsert_replaces_a_conversation_and_its_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let mut store = SqliteStore::open(&path).unwrap();
    let mut data = conversations("fake", 3);
    store.upsert(&data).unwrap();
    data[1].status = Some(connector_core::Status::Open);
    let kept = data[1].messages[..2].to_vec();
    data[1].set_messages(kept);
    store.upsert(&data[1..2]).unwrap();
    store.upsert(&data[1..2]).unwrap();
    assert_eq!(store.conversations().unwrap(), data);
    let n: i64 = store
        .connection()
        .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3 + 2 + 3);
}

#[test]
fn unknown_output_extension_is_refused() {
    let err = sink::open(Some(Path::new("out.xlsx")))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("out.xlsx: unknown output format"), "{err}");
}

#[test]
fn foreign_and_corrupt_databases_are_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    // Not SQLite at all.
    let text = dir.path().join("notes.sqlite");
    std::fs::write(&text, "my precious notes\n").unwrap();
    let err = SqliteStore::open(&text).unwrap_err().to_string();
    assert!(err.contains("not a SQLite database"), "{err}");
    assert_eq!(std::fs::read(&text).unwrap(), b"my precious notes\n");

    // Someone else's SQLite database.
    let foreign = dir.path().join("app.db");
    {
        let c = rusqlite::Connection::open(&foreign).unwrap();
        c.execute_batch("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users VALUES (1, 'ann');").unwrap();
    }
    let before = std::fs::read(&foreign).unwrap();
    let err = SqliteStore::open(&foreign).unwrap_err().to_string();
    assert!(
        err.contains("chathaul did not create") && err.contains("users"),
        "{err}"
    );
    assert_eq!(std::fs::read(&foreign).unwrap(), before);
    // Nor through a sink.
    assert!(sink::open(Some(&foreign)).is_err());

    // A SQLite header followed by garbage.
    let corrupt = dir.path().join("broken.sqlite");
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend(std::iter::repeat_n(0xA5u8, 4096));
    std::fs::write(&corrupt, &bytes).unwrap();
    let err = SqliteStore::open(&corrupt).unwrap_err().to_string();
    assert!(err.contains("broken.sqlite"), "{err}");
    assert_eq!(std::fs::read(&corrupt).unwrap(), bytes);
}

#[test]
fn a_database_failure_names_the_file_and_keeps_the_sqlite_error_as_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chats.sqlite");
    let mut store = SqliteStore::open(&path).unwrap();
    store
        .connection()
        .execute_batch("DROP TABLE messages")
        .unwrap();
    let err = store.upsert(&conversations("fake", 2)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store);
    assert_eq!(
        err.to_string(),
        format!(
            "database {}: cannot write a batch: no such table: messages",
            path.display()
        )
    );
    let Error::Store {
        backend, location, ..
    } = &err
    else {
        panic!("not a store error: {err:?}")
    };
    assert_eq!(
        (*backend, location.as_str()),
        ("sqlite", &*path.to_string_lossy())
    );
    let cause = std::error::Error::source(&err).expect("the SQLite error is kept");
    let sqlite = cause
        .downcast_ref::<rusqlite::Error>()
        .expect("as rusqlite's own error");
    assert!(
        matches!(sqlite, rusqlite::Error::SqliteFailure(_, Some(m)) if m == "no such table: messages"),
        "{sqlite:?}"
    );
}

#[test]
fn an_output_that_cannot_be_created_names_the_file_and_keeps_the_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    for (name, format) in [
        ("out.jsonl", "jsonl"),
        ("out.csv", "csv"),
        ("out.parquet", "parquet"),
    ] {
        let err = sink::open(Some(&missing.join(name))).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::Sink, "{err}");
        let Error::Sink {
            format: f, path, ..
        } = &err
        else {
            panic!("not a sink error: {err:?}")
        };
        assert_eq!(f, format);
        let tmp = path.as_deref().unwrap();
        assert!(tmp.starts_with(&missing), "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("{}: cannot create: ", tmp.display())),
            "{err}"
        );
        let io = std::error::Error::source(&err)
            .and_then(|c| c.downcast_ref::<std::io::Error>())
            .expect("the I/O error is kept");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    }
    // Nothing was left behind.
    assert!(!missing.exists());
}

#[test]
fn a_table_that_does_not_fit_the_schema_names_the_column() {
    let (c, _) = chathaul_engine::arrow::to_record_batches(&conversations("fake", 1)).unwrap();
    let without_id = c.project(&[0, 1]).unwrap();
    let err = conversations_from_batches(&[without_id], &[]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Sink);
    assert_eq!(
        err.to_string(),
        "arrow output: cannot read the table back: no column `id`"
    );
}

#[test]
fn an_empty_pull_still_writes_both_tables() {
    let dir = tempfile::tempdir().unwrap();
    write_all(&dir.path().join("none.parquet"), &[]);
    let (c, m) = table_paths(&dir.path().join("none.parquet"), TableFormat::Parquet);
    let convs = read_parquet(&c);
    let msgs = read_parquet(&m);
    assert_eq!(convs.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
    assert!(
        conversations_from_batches(&convs, &msgs)
            .unwrap()
            .is_empty()
    );
}

/// Long pseudo-random text (zstd cannot shrink it much).
fn noise(seed: usize, len: usize) -> String {
    let mut x = seed as u64 * 2_654_435_761 + 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect()
}

#[test]
fn parquet_row_groups_end_by_size_not_by_row_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.parquet");
    let mut data = conversations("fake", 120);
    // The first half has short messages, the second half long ones.
    for (i, c) in data.iter_mut().enumerate() {
        let len = if i < 60 { 20 } else { 4000 };
        let mut messages = c.messages.clone();
        for (k, m) in messages.iter_mut().enumerate() {
            m.text = Some(noise(i * 10 + k, len));
        }
        c.set_messages(messages);
    }
    let limit = 128 * 1024;
    let mut settings = ParquetSettings::default();
    settings.row_group_bytes = limit;
    let mut out: Box<dyn Sink> = Box::new(ParquetSink::create_with(&path, settings).unwrap());
    for c in &data {
        out.write(c).unwrap();
    }
    out.finish().unwrap();
    let (c, m) = table_paths(&path, TableFormat::Parquet);
    assert_eq!(
        conversations_from_batches(&read_parquet(&c), &read_parquet(&m)).unwrap(),
        data
    );
    let reader = SerializedFileReader::new(File::open(&m).unwrap()).unwrap();
    let groups: Vec<(i64, i64)> = reader
        .metadata()
        .row_groups()
        .iter()
        .map(|g| (g.num_rows(), g.compressed_size()))
        .collect();
    assert!(groups.len() >= 3, "{groups:?}");
    for (rows, bytes) in &groups {
        assert!(
            *bytes as usize <= limit + limit / 4,
            "{rows} rows in {bytes} bytes: {groups:?}"
        );
    }
    // Rows of 4 kB fill a row group in fewer rows than rows of 20 bytes.
    let last = groups.last().unwrap().0;
    assert!(groups[0].0 > 4 * last, "{groups:?}");
}
