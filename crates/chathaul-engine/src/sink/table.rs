use std::fs::File;
#[cfg(feature = "csv")]
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use connector_core::{BoxedCause, Conversation, Error, Result};
#[cfg(feature = "parquet")]
use parquet::{
    arrow::ArrowWriter,
    basic::{Compression, ZstdLevel},
    file::properties::WriterProperties,
};

use super::{Sink, tmp_path};
use crate::arrow::{BatchBuilder, conversations_schema, messages_schema};

/// The on-disk format of a [`TableSink`].
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

/// One table's file writer.
enum TableWriter {
    #[cfg(feature = "csv")]
    Csv(Box<arrow::csv::Writer<BufWriter<File>>>),
    #[cfg(feature = "parquet")]
    Parquet(Box<ArrowWriter<File>>),
}

impl TableWriter {
    // The schema goes to Parquet's writer; CSV takes its header from each batch.
    #[cfg_attr(not(feature = "parquet"), allow(unused_variables))]
    fn create(path: &Path, format: TableFormat, schema: SchemaRef) -> Result<TableWriter> {
        let file = File::create(path)
            .map_err(|e| Error::sink(format.name(), Some(path.to_owned()), "cannot create", e))?;
        Ok(match format {
            #[cfg(feature = "csv")]
            TableFormat::Csv => TableWriter::Csv(Box::new(
                arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .with_timestamp_tz_format("%Y-%m-%dT%H:%M:%S%.fZ".to_owned())
                    .build(BufWriter::new(file)),
            )),
            #[cfg(feature = "parquet")]
            TableFormat::Parquet => {
                // Row groups of 64k rows: the writer buffers one row group
                // in memory, so the default (about a million rows) made
                // memory grow with the pull; this keeps it flat.
                let props = WriterProperties::builder()
                    .set_compression(Compression::ZSTD(ZstdLevel::default()))
                    .set_max_row_group_row_count(Some(64 * 1024))
                    .build();
                let w = ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| {
                    Error::sink(
                        format.name(),
                        Some(path.to_owned()),
                        "cannot start writing",
                        e,
                    )
                })?;
                TableWriter::Parquet(Box::new(w))
            }
        })
    }

    fn format(&self) -> TableFormat {
        match self {
            #[cfg(feature = "csv")]
            TableWriter::Csv(_) => TableFormat::Csv,
            #[cfg(feature = "parquet")]
            TableWriter::Parquet(_) => TableFormat::Parquet,
        }
    }

    fn write(&mut self, batch: &RecordBatch, path: &Path) -> Result<()> {
        let format = self.format().name();
        let failed = |e: BoxedCause| Error::sink(format, Some(path.to_owned()), "cannot write", e);
        match self {
            #[cfg(feature = "csv")]
            TableWriter::Csv(w) => w.write(batch).map_err(|e| failed(e.into())),
            #[cfg(feature = "parquet")]
            TableWriter::Parquet(w) => w.write(batch).map_err(|e| failed(e.into())),
        }
    }

    fn close(self, path: &Path) -> Result<()> {
        let format = self.format().name();
        let failed = |e: BoxedCause| Error::sink(format, Some(path.to_owned()), "cannot write", e);
        match self {
            #[cfg(feature = "csv")]
            TableWriter::Csv(w) => {
                let mut inner = w.into_inner();
                std::io::Write::flush(&mut inner).map_err(|e| failed(e.into()))
            }
            #[cfg(feature = "parquet")]
            TableWriter::Parquet(w) => w.close().map(|_| ()).map_err(|e| failed(e.into())),
        }
    }
}

/// Writes the conversations and messages tables as CSV or Parquet.
pub struct TableSink {
    format: TableFormat,
    builder: BatchBuilder,
    paths: [PathBuf; 2],
    tmps: [PathBuf; 2],
    writers: [TableWriter; 2],
}

impl std::fmt::Debug for TableSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableSink")
            .field("paths", &self.paths)
            .finish()
    }
}

/// Rows buffered before a batch is written.
const BATCH_CONVERSATIONS: usize = 1024;
const BATCH_MESSAGES: usize = 16 * 1024;

impl TableSink {
    /// Creates the two files for `path` (see [`table_paths`]).
    ///
    /// # Errors
    /// [`Error::Sink`] naming the file that cannot be created.
    pub fn create(path: &Path, format: TableFormat) -> Result<Self> {
        let (c, m) = table_paths(path, format);
        let tmps = [tmp_path(&c), tmp_path(&m)];
        let writers = [
            TableWriter::create(&tmps[0], format, conversations_schema())?,
            TableWriter::create(&tmps[1], format, messages_schema())?,
        ];
        Ok(Self {
            format,
            builder: BatchBuilder::new(),
            paths: [c, m],
            tmps,
            writers,
        })
    }

    fn flush_batch(&mut self) -> Result<()> {
        let (c, m) = self.builder.finish()?;
        self.writers[0].write(&c, &self.paths[0])?;
        self.writers[1].write(&m, &self.paths[1])
    }
}

impl Sink for TableSink {
    fn write(&mut self, conversation: &Conversation) -> Result<()> {
        self.builder.append(conversation);
        if self.builder.conversation_rows() >= BATCH_CONVERSATIONS
            || self.builder.message_rows() >= BATCH_MESSAGES
        {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<PathBuf>> {
        if self.builder.conversation_rows() > 0 || self.builder.message_rows() > 0 {
            self.flush_batch()?;
        }
        let TableSink {
            format,
            paths,
            tmps,
            writers,
            ..
        } = *self;
        let [conversations, messages] = writers;
        conversations.close(&paths[0])?;
        messages.close(&paths[1])?;
        for (tmp, path) in tmps.iter().zip(&paths) {
            std::fs::rename(tmp, path).map_err(|e| {
                Error::sink(
                    format.name(),
                    Some(path.clone()),
                    format!("cannot rename {} to it", tmp.display()),
                    e,
                )
            })?;
        }
        Ok(paths.to_vec())
    }
}
