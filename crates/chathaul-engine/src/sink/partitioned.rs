//! Partitioned Parquet: the two tables as two hive-style trees in one
//! folder (see [`PartitionedParquetSink`]).

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, StringArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use connector_core::{Conversation, Error, Query, Result, TimeField};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::parquet::{ParquetSettings, ParquetWriter};
use super::tables::TablePair;
use super::{PartitionBy, Sink, escape_value};
use crate::arrow::{conversations_from_batches, conversations_schema, messages_schema};

const FORMAT: &str = "parquet";

/// The two trees, one per table.
const TABLES: [&str; 2] = ["conversations", "messages"];

/// The columns the folder names carry, left out of the files.
const SOURCE_COLUMNS: [&str; 2] = ["vendor", "account"];

/// One partition: a source and a date value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Partition {
    vendor: String,
    account: String,
    date: String,
}

impl Partition {
    fn of(c: &Conversation, by: PartitionBy) -> Self {
        Self {
            vendor: c.vendor.clone(),
            account: c.account.clone(),
            date: by.date_value(c.created_at),
        }
    }

    /// `vendor=…/account=…/date=…`.
    fn dir(&self) -> PathBuf {
        PathBuf::from(format!("vendor={}", escape_value(&self.vendor)))
            .join(format!("account={}", escape_value(&self.account)))
            .join(format!("date={}", escape_value(&self.date)))
    }
}

/// A partition being written.
struct OpenPartition {
    partition: Partition,
    tables: TablePair<ParquetWriter>,
}

/// The suffix of a file in staging until its partition is swapped in: a
/// reader that globs the whole folder never takes an unfinished file.
const STAGED: &str = ".partial";

/// Writes the two tables as two hive-style trees of Parquet in one
/// folder, partitioned by source and by the UTC date (or month) each
/// conversation was created:
///
/// ```text
/// out/conversations/vendor=kf5/account=acme/date=2024-03-01/part-00000.parquet
/// out/messages/vendor=kf5/account=acme/date=2024-03-01/part-00000.parquet
/// ```
///
/// Each tree reads as one table (DuckDB
/// `read_parquet('out/conversations/**/*.parquet', hive_partitioning = true)`,
/// Spark, Trino, `pandas.read_parquet('out/conversations')`). A message is in
/// the partition of its conversation. As in any hive-partitioned dataset, the
/// values the folders name are not repeated in the files: the files hold
/// every column of the table but `vendor` and `account`, and a reader adds
/// `vendor`, `account` and `date` from the path.
///
/// A run writes each partition it has rows for into a staging folder
/// (`out/.chathaul-staging-…`, outside both trees) and, when the pull is
/// complete, swaps each partition into place in one rename, so a reader sees
/// the partition as it was or as it is now, never half of it. A re-run over
/// the same window replaces the partitions it writes (the same files, no row
/// twice) and leaves every other partition alone. Where a run does not cover
/// a whole partition (its window starts or ends inside the day, it filters
/// by agent, customer or channel, it stops at a limit, or it windows on the
/// end time), the rows of the partition the run would not have fetched are
/// carried over into the new partition, so nothing outside the run's query
/// is lost. A pull that fails replaces nothing.
pub struct PartitionedParquetSink {
    root: PathBuf,
    by: PartitionBy,
    query: Query,
    settings: ParquetSettings,
    staging: PathBuf,
    /// Least recently written first.
    open: Vec<OpenPartition>,
    /// Every partition this run has rows for, and how many part files it
    /// has started.
    parts: BTreeMap<Partition, u32>,
    /// Whether the partitions were swapped in; until then, dropping the sink
    /// removes its staging folder and the output is as it was.
    committed: bool,
}

impl std::fmt::Debug for PartitionedParquetSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionedParquetSink")
            .field("root", &self.root)
            .field("by", &self.by)
            .field("open", &self.open.len())
            .field("partitions", &self.parts.len())
            .finish()
    }
}

fn io_error(path: &Path, action: &str, e: std::io::Error) -> Error {
    Error::sink(FORMAT, Some(path.to_owned()), action, e)
}

impl PartitionedParquetSink {
    /// Prepares to write into the folder `root` (created if missing), for a
    /// pull of `query`: the query decides which rows of a partition already
    /// there this run replaces (see [`PartitionedParquetSink`]).
    ///
    /// # Errors
    /// [`Error::Sink`] naming the folder that cannot be created.
    pub fn create(
        root: &Path,
        by: PartitionBy,
        query: &Query,
        settings: ParquetSettings,
    ) -> Result<Self> {
        std::fs::create_dir_all(root)
            .map_err(|e| io_error(root, "cannot create the output folder", e))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let staging = root.join(format!(".chathaul-staging-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&staging)
            .map_err(|e| io_error(&staging, "cannot create the staging folder", e))?;
        Ok(Self {
            root: root.to_owned(),
            by,
            query: query.clone(),
            settings: ParquetSettings {
                max_open_partitions: settings.max_open_partitions.max(1),
                ..settings
            },
            staging,
            open: Vec::new(),
            parts: BTreeMap::new(),
            committed: false,
        })
    }

    /// The folder a table's partition is staged in.
    fn staged_dir(&self, table: &str, partition: &Partition) -> PathBuf {
        self.staging.join(table).join(partition.dir())
    }

    /// Opens the next part file of a partition, completing the least
    /// recently written partition first if too many are open.
    fn open_partition(&mut self, partition: Partition) -> Result<()> {
        if self.open.len() >= self.settings.max_open_partitions {
            let oldest = self.open.remove(0);
            oldest.tables.close()?;
        }
        let next = self.parts.entry(partition.clone()).or_insert(0);
        let name = format!("part-{:05}.parquet{STAGED}", *next);
        *next += 1;
        let mut paths = Vec::with_capacity(2);
        for table in TABLES {
            let dir = self.staged_dir(table, &partition);
            std::fs::create_dir_all(&dir)
                .map_err(|e| io_error(&dir, "cannot create the partition folder", e))?;
            paths.push(dir.join(&name));
        }
        let tables =
            TablePair::create_without(&paths[0], &paths[1], self.settings, &SOURCE_COLUMNS)?;
        self.open.push(OpenPartition { partition, tables });
        Ok(())
    }

    /// Writes out buffers, the partitions written least recently first,
    /// until the whole sink holds no more than its memory budget. A listing
    /// mostly moves on from a partition for good (it comes in time order,
    /// or near it): the partitions left behind end their row groups and
    /// free their writers' buffers, while the one being written keeps
    /// filling whole row groups.
    fn keep_within_budget(&mut self) -> Result<()> {
        let mut total: usize = self.open.iter().map(|p| p.tables.buffered_bytes()).sum();
        for open in &mut self.open {
            if total <= self.settings.memory_budget {
                break;
            }
            let held = open.tables.buffered_bytes();
            if held > 0 {
                open.tables.flush()?;
                total = total - held + open.tables.buffered_bytes();
            }
        }
        Ok(())
    }

    /// Whether this run's query asks for every conversation of a partition,
    /// so that the partition's new rows replace all of its old ones.
    fn covers(&self, partition: &Partition) -> bool {
        let q = &self.query;
        if q.agent.is_some() || q.customer.is_some() || q.channel.is_some() || q.limit.is_some() {
            return false;
        }
        if !q.window.is_bounded() {
            return true;
        }
        if q.window.field != TimeField::Created {
            return false;
        }
        self.by.bounds(&partition.date).is_some_and(|(start, end)| {
            q.window.since.is_none_or(|s| s <= start) && q.window.until.is_none_or(|u| end <= u)
        })
    }

    /// Carries the rows of a partition already in place that this run does
    /// not replace into a new part file of the run's partition: those its
    /// query would not have fetched (and, for a pull with a limit, every row
    /// it did not fetch again).
    fn carry_over(&mut self, partition: &Partition) -> Result<()> {
        let old_dirs = TABLES.map(|t| self.root.join(t).join(partition.dir()));
        let old_conversations = parquet_files(&old_dirs[0], ".parquet")?;
        if old_conversations.is_empty() {
            return Ok(());
        }
        let mut fetched = HashSet::new();
        for file in parquet_files(&self.staged_dir(TABLES[0], partition), STAGED)? {
            for batch in read_batches(&file, Some("id"))? {
                let batch = batch?;
                let ids = string_column(&batch, "id", &file)?;
                fetched.extend(ids.iter().flatten().map(str::to_owned));
            }
        }
        let all_unfetched = self.query.limit.is_some();
        let mut kept: HashSet<String> = HashSet::new();
        let mut tables: Option<TablePair<ParquetWriter>> = None;
        for file in &old_conversations {
            for batch in read_batches(file, None)? {
                let batch = with_source_columns(&batch?, conversations_schema(), partition, file)?;
                let rows = conversations_from_batches(std::slice::from_ref(&batch), &[])
                    .map_err(|e| carry_error(file, e))?;
                let keep: BooleanArray = rows
                    .iter()
                    .map(|c| {
                        Some(!fetched.contains(&c.id) && (all_unfetched || !self.query.matches(c)))
                    })
                    .collect();
                let batch = filter_record_batch(&batch, &keep)
                    .map_err(|e| Error::internal("filtering the rows carried over", e))?;
                if batch.num_rows() == 0 {
                    continue;
                }
                kept.extend(
                    rows.into_iter()
                        .zip(keep.iter())
                        .filter(|(_, k)| *k == Some(true))
                        .map(|(c, _)| c.id),
                );
                self.carry_tables(&mut tables, partition)?
                    .write_conversations(&batch)?;
            }
        }
        let Some(mut tables) = tables else {
            return Ok(());
        };
        for file in parquet_files(&old_dirs[1], ".parquet")? {
            for batch in read_batches(&file, None)? {
                let batch = with_source_columns(&batch?, messages_schema(), partition, &file)?;
                let ids = string_column(&batch, "conversation_id", &file)?;
                let keep: BooleanArray = ids
                    .iter()
                    .map(|id| Some(id.is_some_and(|id| kept.contains(id))))
                    .collect();
                let batch = filter_record_batch(&batch, &keep)
                    .map_err(|e| Error::internal("filtering the rows carried over", e))?;
                if batch.num_rows() > 0 {
                    tables.write_messages(&batch)?;
                }
            }
        }
        tables.close()
    }

    /// The part file rows carried over go to, opened on first use.
    fn carry_tables<'a>(
        &mut self,
        tables: &'a mut Option<TablePair<ParquetWriter>>,
        partition: &Partition,
    ) -> Result<&'a mut TablePair<ParquetWriter>> {
        if tables.is_none() {
            let next = self.parts.entry(partition.clone()).or_insert(0);
            let name = format!("part-{:05}.parquet{STAGED}", *next);
            *next += 1;
            let paths = TABLES.map(|t| self.staged_dir(t, partition).join(&name));
            *tables = Some(TablePair::create_without(
                &paths[0],
                &paths[1],
                self.settings,
                &SOURCE_COLUMNS,
            )?);
        }
        Ok(tables.as_mut().expect("opened above"))
    }

    /// Swaps a table's staged partition into place; returns its files.
    fn swap_in(&self, table: &str, partition: &Partition) -> Result<Vec<PathBuf>> {
        let staged = self.staged_dir(table, partition);
        let target = self.root.join(table).join(partition.dir());
        let mut files = Vec::new();
        for file in parquet_files(&staged, STAGED)? {
            let done = file.with_extension("");
            std::fs::rename(&file, &done).map_err(|e| {
                io_error(&done, &format!("cannot rename {} to it", file.display()), e)
            })?;
            files.push(target.join(done.file_name().unwrap_or_default()));
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| io_error(parent, "cannot create the partition folder", e))?;
        }
        replace_dir(&staged, &target).map_err(|e| {
            io_error(
                &target,
                &format!("cannot swap {} into place", staged.display()),
                e,
            )
        })?;
        files.sort();
        Ok(files)
    }
}

/// Puts the folder `staged` at `target`, replacing a folder there; the one
/// replaced ends up at `staged`. On Linux the two are exchanged in one
/// system call, so a reader sees one or the other, never neither.
fn replace_dir(staged: &Path, target: &Path) -> std::io::Result<()> {
    if !target.exists() {
        return std::fs::rename(staged, target);
    }
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        match renameat_with(CWD, staged, CWD, target, RenameFlags::EXCHANGE) {
            Ok(()) => return Ok(()),
            // A file system without the exchange: two renames below.
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut aside_name = staged.file_name().unwrap_or_default().to_os_string();
    aside_name.push(".replaced");
    let aside = staged.with_file_name(aside_name);
    std::fs::rename(target, &aside)?;
    if let Err(e) = std::fs::rename(staged, target) {
        // Put the old partition back rather than leave none.
        let _ = std::fs::rename(&aside, target);
        return Err(e);
    }
    std::fs::rename(&aside, staged)
}

/// The files in `dir` whose names end with `suffix`, sorted; none when
/// `dir` does not exist.
fn parquet_files(dir: &Path, suffix: &str) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(io_error(dir, "cannot list the partition folder", e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error(dir, "cannot list the partition folder", e))?;
        let path = entry.path();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(suffix))
        {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The record batches of a Parquet file (only `column`, when given).
///
/// The batches are read one at a time as the iterator is consumed: an old
/// partition can be larger than memory.
fn read_batches(
    path: &Path,
    column: Option<&str>,
) -> Result<impl Iterator<Item = Result<RecordBatch>> + use<>> {
    let failed = |e: parquet::errors::ParquetError| {
        Error::sink(FORMAT, Some(path.to_owned()), "cannot read", e)
    };
    let file = File::open(path).map_err(|e| io_error(path, "cannot open", e))?;
    let mut builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(failed)?;
    if let Some(column) = column {
        let mask = ProjectionMask::columns(builder.parquet_schema(), [column]);
        builder = builder.with_projection(mask);
    }
    let reader = builder.build().map_err(failed)?;
    let path = path.to_owned();
    Ok(reader.map(move |batch| {
        batch.map_err(|e| Error::sink(FORMAT, Some(path.clone()), "cannot read", e))
    }))
}

/// A batch read from a partition's file with the columns its folder names
/// put back, in the table's order.
fn with_source_columns(
    batch: &RecordBatch,
    schema: SchemaRef,
    partition: &Partition,
    path: &Path,
) -> Result<RecordBatch> {
    let rows = batch.num_rows();
    let columns = schema
        .fields()
        .iter()
        .map(|field| match field.name().as_str() {
            "vendor" => {
                Ok(Arc::new(StringArray::from(vec![partition.vendor.as_str(); rows])) as ArrayRef)
            }
            "account" => {
                Ok(Arc::new(StringArray::from(vec![partition.account.as_str(); rows])) as ArrayRef)
            }
            name => batch
                .column_by_name(name)
                .cloned()
                .ok_or_else(|| Error::Sink {
                    format: FORMAT.into(),
                    path: Some(path.to_owned()),
                    action: format!("has no column `{name}`: not a chathaul table"),
                    source: None,
                }),
        })
        .collect::<Result<Vec<_>>>()?;
    RecordBatch::try_new(schema, columns)
        .map_err(|e| Error::sink(FORMAT, Some(path.to_owned()), "does not fit the table", e))
}

fn string_column<'a>(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a StringArray> {
    batch
        .column_by_name(name)
        .and_then(|a| a.as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| Error::Sink {
            format: FORMAT.into(),
            path: Some(path.to_owned()),
            action: format!("has no text column `{name}`: not a chathaul table"),
            source: None,
        })
}

fn carry_error(path: &Path, e: Error) -> Error {
    Error::sink(
        FORMAT,
        Some(path.to_owned()),
        "cannot carry over the rows this run does not replace",
        e,
    )
}

impl Sink for PartitionedParquetSink {
    fn write(&mut self, conversation: &Conversation) -> Result<()> {
        let partition = Partition::of(conversation, self.by);
        match self.open.iter().rposition(|p| p.partition == partition) {
            Some(i) if i + 1 == self.open.len() => {}
            Some(i) => {
                let used = self.open.remove(i);
                self.open.push(used);
            }
            None => self.open_partition(partition)?,
        }
        if let Some(last) = self.open.last_mut() {
            last.tables.append(conversation)?;
        }
        self.keep_within_budget()
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<PathBuf>> {
        for open in std::mem::take(&mut self.open) {
            open.tables.close()?;
        }
        let partitions: Vec<Partition> = self.parts.keys().cloned().collect();
        for partition in &partitions {
            if !self.covers(partition) {
                self.carry_over(partition)?;
            }
        }
        let mut files = Vec::new();
        for partition in &partitions {
            for table in TABLES {
                files.extend(self.swap_in(table, partition)?);
            }
        }
        self.committed = true;
        if let Err(e) = std::fs::remove_dir_all(&self.staging) {
            tracing::warn!(
                "cannot remove the staging folder {}: {e}",
                self.staging.display()
            );
        }
        Ok(files)
    }
}

impl Drop for PartitionedParquetSink {
    fn drop(&mut self) {
        if !self.committed {
            // Nothing was swapped in: the output stays as it was.
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}
