//! What the CSV and Parquet sinks share: the two tables (`conversations`,
//! `messages`) of [`crate::columns`], their rows collected by a
//! [`BatchBuilder`] and handed as Arrow batches to one [`TableWriter`] per
//! table. A format supplies only its `TableWriter`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use connector_core::{Conversation, Error, Result};

use super::tmp_path;
use crate::arrow::{BatchBuilder, conversations_schema, messages_schema};

/// The on-disk format of a two-table output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    /// CSV with a header row; instants as RFC 3339 UTC.
    #[cfg(feature = "csv")]
    Csv,
    /// Parquet, zstd-compressed.
    #[cfg(feature = "parquet")]
    Parquet,
}

impl TableFormat {
    /// The format's name, which is also its files' extension.
    pub fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "csv")]
            TableFormat::Csv => "csv",
            #[cfg(feature = "parquet")]
            TableFormat::Parquet => "parquet",
        }
    }
}

/// The two files an output path stands for: `out.csv` →
/// (`out.conversations.csv`, `out.messages.csv`).
pub fn table_paths(path: &Path, format: TableFormat) -> (PathBuf, PathBuf) {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "chathaul".into());
    let dir = path.parent().unwrap_or_else(|| Path::new(""));
    (
        dir.join(format!("{stem}.conversations.{}", format.name())),
        dir.join(format!("{stem}.messages.{}", format.name())),
    )
}

/// One table's file, in one format. Errors name the file.
pub(crate) trait TableWriter: Sized + Send {
    /// The format's settings (Parquet: the row group size).
    type Settings: Copy;

    /// Creates the file (truncating one already there).
    fn create(path: &Path, schema: SchemaRef, settings: Self::Settings) -> Result<Self>;

    /// Writes a batch of rows.
    fn write(&mut self, batch: &RecordBatch) -> Result<()>;

    /// The most bytes of rows to collect before writing them as a batch.
    fn batch_bytes(_settings: Self::Settings) -> usize {
        BATCH_BYTES
    }

    /// Bytes this writer holds in memory (Parquet: the row group it is
    /// building). Zero for a format that streams.
    fn buffered_bytes(&self) -> usize {
        0
    }

    /// Writes out what it holds in memory (Parquet: ends the row group).
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }

    /// Completes the file.
    fn close(self) -> Result<()>;
}

/// Rows collected before they are handed to the writers as one batch: by
/// count, and by size so that long conversations do not make a large batch.
const BATCH_CONVERSATIONS: usize = 1024;
const BATCH_MESSAGES: usize = 16 * 1024;
pub(crate) const BATCH_BYTES: usize = 2 * 1024 * 1024;

/// The two tables of one output, each in its own file.
pub(crate) struct TablePair<W> {
    builder: BatchBuilder,
    conversations: W,
    messages: W,
    /// Whether any batch reached the writers (an empty output still gets
    /// one, so that a CSV file has its header row).
    written: bool,
    /// [`TableWriter::batch_bytes`].
    batch_bytes: usize,
    /// The writers' [`TableWriter::buffered_bytes`] as of their last write:
    /// asking Parquet costs a walk over every column, so it is asked once
    /// per batch, not once per conversation.
    writer_bytes: usize,
    /// The columns of each table the files keep, by index (`None`: all).
    kept: Option<[Vec<usize>; 2]>,
}

/// The indices of a schema's columns other than `left_out`.
fn kept_columns(schema: &SchemaRef, left_out: &[&str]) -> Vec<usize> {
    (0..schema.fields().len())
        .filter(|&i| !left_out.contains(&schema.field(i).name().as_str()))
        .collect()
}

impl<W: TableWriter> TablePair<W> {
    /// Creates both files.
    pub(crate) fn create(
        conversations: &Path,
        messages: &Path,
        settings: W::Settings,
    ) -> Result<Self> {
        Self::create_without(conversations, messages, settings, &[])
    }

    /// Creates both files, whose tables leave out the columns `left_out`
    /// (partitioned output: the values its folder names carry).
    pub(crate) fn create_without(
        conversations: &Path,
        messages: &Path,
        settings: W::Settings,
        left_out: &[&str],
    ) -> Result<Self> {
        let schemas = [conversations_schema(), messages_schema()];
        let kept =
            (!left_out.is_empty()).then(|| schemas.each_ref().map(|s| kept_columns(s, left_out)));
        let [c, m] = match &kept {
            None => schemas,
            Some([kc, km]) => [
                Arc::new(
                    schemas[0]
                        .project(kc)
                        .map_err(|e| Error::internal("leaving out columns", e))?,
                ),
                Arc::new(
                    schemas[1]
                        .project(km)
                        .map_err(|e| Error::internal("leaving out columns", e))?,
                ),
            ],
        };
        Ok(Self {
            builder: BatchBuilder::new(),
            conversations: W::create(conversations, c, settings)?,
            messages: W::create(messages, m, settings)?,
            written: false,
            batch_bytes: W::batch_bytes(settings),
            writer_bytes: 0,
            kept,
        })
    }

    /// A batch of a whole table with only the columns the files keep.
    fn kept_of(&self, table: usize, batch: &RecordBatch) -> Result<RecordBatch> {
        match &self.kept {
            None => Ok(batch.clone()),
            Some(kept) => batch
                .project(&kept[table])
                .map_err(|e| Error::internal("leaving out columns", e)),
        }
    }

    /// Adds one conversation and its messages; writes a batch when enough
    /// rows are collected.
    pub(crate) fn append(&mut self, conversation: &Conversation) -> Result<()> {
        self.builder.append(conversation);
        if self.builder.conversation_rows() >= BATCH_CONVERSATIONS
            || self.builder.message_rows() >= BATCH_MESSAGES
            || self.builder.buffered_bytes() >= self.batch_bytes
        {
            self.write_batch()?;
        }
        Ok(())
    }

    /// Hands the collected rows to the writers.
    fn write_batch(&mut self) -> Result<()> {
        let (c, m) = self.builder.finish()?;
        self.write_conversations(&c)?;
        self.write_messages(&m)
    }

    /// Writes conversation rows (with every column of the table) that are
    /// already a batch (read back from another file).
    pub(crate) fn write_conversations(&mut self, batch: &RecordBatch) -> Result<()> {
        let batch = self.kept_of(0, batch)?;
        self.conversations.write(&batch)?;
        self.written = true;
        self.writer_bytes = self.conversations.buffered_bytes() + self.messages.buffered_bytes();
        Ok(())
    }

    /// Writes message rows (with every column of the table) that are
    /// already a batch.
    pub(crate) fn write_messages(&mut self, batch: &RecordBatch) -> Result<()> {
        let batch = self.kept_of(1, batch)?;
        self.messages.write(&batch)?;
        self.written = true;
        self.writer_bytes = self.conversations.buffered_bytes() + self.messages.buffered_bytes();
        Ok(())
    }

    /// About how many bytes this pair holds in memory: the rows collected
    /// and what the writers buffer.
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    pub(crate) fn buffered_bytes(&self) -> usize {
        self.builder.buffered_bytes() + self.writer_bytes
    }

    /// Writes out everything held in memory (the rows collected, the row
    /// groups in progress), so that [`TablePair::buffered_bytes`] is about 0.
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    pub(crate) fn flush(&mut self) -> Result<()> {
        if self.builder.conversation_rows() > 0 {
            self.write_batch()?;
        }
        self.conversations.flush()?;
        self.messages.flush()?;
        self.writer_bytes = 0;
        Ok(())
    }

    /// Completes both files.
    pub(crate) fn close(mut self) -> Result<()> {
        if self.builder.conversation_rows() > 0 || !self.written {
            self.write_batch()?;
        }
        self.conversations.close()?;
        self.messages.close()
    }
}

/// A two-table output at one path (`out.csv` → `out.conversations.csv`,
/// `out.messages.csv`), written under temporary names and renamed when
/// complete.
pub(crate) struct TableFiles<W> {
    format: TableFormat,
    tables: TablePair<W>,
    paths: [PathBuf; 2],
    tmps: [PathBuf; 2],
}

impl<W> std::fmt::Debug for TableFiles<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableFiles")
            .field("format", &self.format)
            .field("paths", &self.paths)
            .finish()
    }
}

impl<W: TableWriter> TableFiles<W> {
    /// Creates the two files for `path` (see [`table_paths`]) under their
    /// temporary names.
    pub(crate) fn create(path: &Path, format: TableFormat, settings: W::Settings) -> Result<Self> {
        let (c, m) = table_paths(path, format);
        let tmps = [tmp_path(&c), tmp_path(&m)];
        Ok(Self {
            format,
            tables: TablePair::create(&tmps[0], &tmps[1], settings)?,
            paths: [c, m],
            tmps,
        })
    }

    pub(crate) fn tables(&mut self) -> &mut TablePair<W> {
        &mut self.tables
    }

    /// Completes both files and renames them into place.
    pub(crate) fn finish(self) -> Result<Vec<PathBuf>> {
        self.tables.close()?;
        for (tmp, path) in self.tmps.iter().zip(&self.paths) {
            std::fs::rename(tmp, path).map_err(|e| {
                Error::sink(
                    self.format.name(),
                    Some(path.clone()),
                    format!("cannot rename {} to it", tmp.display()),
                    e,
                )
            })?;
        }
        Ok(self.paths.to_vec())
    }
}
