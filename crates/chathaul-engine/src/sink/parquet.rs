//! Parquet: the two tables as `NAME.conversations.parquet` and
//! `NAME.messages.parquet` (zstd), with row groups sized by bytes so that
//! memory stays flat whatever the size of the pull.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use connector_core::{Conversation, Error, Result};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::Sink;
use super::tables::{BATCH_BYTES, TableFiles, TableFormat, TableWriter};

const FORMAT: &str = "parquet";

/// How a Parquet output sizes what it holds in memory.
///
/// A Parquet writer holds the row group it is building in memory; a row
/// group sized by rows (Parquet's default: about a million) makes memory
/// grow with the pull, and a conversation row is a hundred times the size of
/// a message row. So row groups end by their size in bytes, and every
/// buffer of an output is weighed against one budget. The defaults (2 MB row
/// groups, an 8 MB budget, 8 open partitions) keep a pull of 5 million
/// messages under 100 MB of resident memory: the allocator keeps about twice
/// what the writers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParquetSettings {
    /// A row group ends when its encoded size reaches this many bytes
    /// (Parquet's own estimate, before compression of the page in progress).
    pub row_group_bytes: usize,
    /// The most bytes an output holds in memory across all its tables and
    /// partitions (rows collected, row groups in progress); above it, the
    /// largest holder writes its rows out early, as a smaller row group.
    pub memory_budget: usize,
    /// Partitioned output: the most partitions open at once. When another
    /// is needed, the one used least recently is completed as a part file
    /// (a later row for it starts the next part file of the same run).
    pub max_open_partitions: usize,
}

impl Default for ParquetSettings {
    fn default() -> Self {
        Self {
            row_group_bytes: 2 * 1024 * 1024,
            memory_budget: 8 * 1024 * 1024,
            max_open_partitions: 8,
        }
    }
}

/// One Parquet table file.
pub(crate) struct ParquetWriter {
    path: PathBuf,
    inner: ArrowWriter<File>,
}

impl ParquetWriter {
    fn error(&self, action: &str, e: parquet::errors::ParquetError) -> Error {
        Error::sink(FORMAT, Some(self.path.clone()), action, e)
    }
}

impl TableWriter for ParquetWriter {
    type Settings = ParquetSettings;

    fn create(path: &Path, schema: SchemaRef, settings: ParquetSettings) -> Result<Self> {
        let file = File::create(path)
            .map_err(|e| Error::sink(FORMAT, Some(path.to_owned()), "cannot create", e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_max_row_group_row_count(None)
            .set_max_row_group_bytes(Some(settings.row_group_bytes.max(1)))
            .build();
        let inner = ArrowWriter::try_new(file, schema, Some(props))
            .map_err(|e| Error::sink(FORMAT, Some(path.to_owned()), "cannot start writing", e))?;
        Ok(Self {
            path: path.to_owned(),
            inner,
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.inner
            .write(batch)
            .map_err(|e| self.error("cannot write", e))
    }

    // Parquet ends a row group by the average row size of what it holds, and
    // cannot split the first batch of a row group: batches well under a row
    // group keep row groups near their size.
    fn batch_bytes(settings: ParquetSettings) -> usize {
        (settings.row_group_bytes / 8).clamp(1, BATCH_BYTES)
    }

    fn buffered_bytes(&self) -> usize {
        self.inner.memory_size()
    }

    fn flush(&mut self) -> Result<()> {
        self.inner
            .flush()
            .map_err(|e| self.error("cannot write a row group", e))
    }

    fn close(self) -> Result<()> {
        let path = self.path;
        self.inner
            .close()
            .map(|_| ())
            .map_err(|e| Error::sink(FORMAT, Some(path), "cannot complete", e))
    }
}

/// Writes the conversations and messages tables as two Parquet files (zstd,
/// row groups sized by bytes), under temporary names until [`Sink::finish`].
#[derive(Debug)]
pub struct ParquetSink {
    files: TableFiles<ParquetWriter>,
    settings: ParquetSettings,
}

impl ParquetSink {
    /// Creates the two files for `path` (see [`super::table_paths`]) with
    /// the default [`ParquetSettings`].
    ///
    /// # Errors
    /// [`Error::Sink`] naming the file that cannot be created.
    pub fn create(path: &Path) -> Result<Self> {
        Self::create_with(path, ParquetSettings::default())
    }

    /// As [`ParquetSink::create`], with the given settings.
    ///
    /// # Errors
    /// As [`ParquetSink::create`].
    pub fn create_with(path: &Path, settings: ParquetSettings) -> Result<Self> {
        Ok(Self {
            files: TableFiles::create(path, TableFormat::Parquet, settings)?,
            settings,
        })
    }
}

impl Sink for ParquetSink {
    fn write(&mut self, conversation: &Conversation) -> Result<()> {
        let tables = self.files.tables();
        tables.append(conversation)?;
        if tables.buffered_bytes() > self.settings.memory_budget {
            tables.flush()?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Vec<PathBuf>> {
        self.files.finish()
    }
}
