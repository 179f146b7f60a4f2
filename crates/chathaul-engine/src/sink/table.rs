use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use connector_core::{Conversation, Error, Result};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::{Sink, io_error};
use crate::arrow::{BatchBuilder, conversations_schema, messages_schema};

/// The on-disk format of a [`TableSink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    /// CSV with a header row; instants as RFC 3339 UTC.
    Csv,
    /// Parquet, zstd-compressed.
    Parquet,
}

impl TableFormat {
    fn ext(self) -> &'static str {
        match self {
            TableFormat::Csv => "csv",
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
        dir.join(format!("{stem}.conversations.{}", format.ext())),
        dir.join(format!("{stem}.messages.{}", format.ext())),
    )
}

pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    path.with_file_name(name)
}

enum Writer {
    Csv(Box<arrow::csv::Writer<BufWriter<File>>>),
    Parquet(Box<ArrowWriter<File>>),
}

impl Writer {
    fn create(
        path: &Path,
        format: TableFormat,
        schema: arrow::datatypes::SchemaRef,
    ) -> Result<Writer> {
        let file = File::create(path)
            .map_err(|e| io_error(format!("cannot create {}", path.display()), e))?;
        Ok(match format {
            TableFormat::Csv => Writer::Csv(Box::new(
                arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .with_timestamp_tz_format("%Y-%m-%dT%H:%M:%S%.fZ".to_owned())
                    .build(BufWriter::new(file)),
            )),
            TableFormat::Parquet => {
                // Row groups of 64k rows: the writer buffers one row group
                // in memory, so the default (about a million rows) made
                // memory grow with the pull; this keeps it flat.
                let props = WriterProperties::builder()
                    .set_compression(Compression::ZSTD(ZstdLevel::default()))
                    .set_max_row_group_row_count(Some(64 * 1024))
                    .build();
                let w = ArrowWriter::try_new(file, schema, Some(props))
                    .map_err(|e| Error::Other(format!("cannot write {}: {e}", path.display())))?;
                Writer::Parquet(Box::new(w))
            }
        })
    }

    fn write(&mut self, batch: &RecordBatch, path: &Path) -> Result<()> {
        let r = match self {
            Writer::Csv(w) => w.write(batch).map_err(|e| e.to_string()),
            Writer::Parquet(w) => w.write(batch).map_err(|e| e.to_string()),
        };
        r.map_err(|e| Error::Other(format!("cannot write {}: {e}", path.display())))
    }

    fn close(self, path: &Path) -> Result<()> {
        let r = match self {
            Writer::Csv(w) => {
                let mut inner = w.into_inner();
                std::io::Write::flush(&mut inner).map_err(|e| e.to_string())
            }
            Writer::Parquet(w) => w.close().map(|_| ()).map_err(|e| e.to_string()),
        };
        r.map_err(|e| Error::Other(format!("cannot write {}: {e}", path.display())))
    }
}

/// Writes the conversations and messages tables as CSV or Parquet.
pub struct TableSink {
    builder: BatchBuilder,
    paths: [PathBuf; 2],
    tmps: [PathBuf; 2],
    writers: Option<[Writer; 2]>,
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
    /// [`Error::Io`] naming the file that cannot be created.
    pub fn create(path: &Path, format: TableFormat) -> Result<Self> {
        let (c, m) = table_paths(path, format);
        let tmps = [tmp_path(&c), tmp_path(&m)];
        let writers = [
            Writer::create(&tmps[0], format, conversations_schema())?,
            Writer::create(&tmps[1], format, messages_schema())?,
        ];
        Ok(Self {
            builder: BatchBuilder::new(),
            paths: [c, m],
            tmps,
            writers: Some(writers),
        })
    }

    fn flush_batch(&mut self) -> Result<()> {
        let (c, m) = self.builder.finish()?;
        let writers = self
            .writers
            .as_mut()
            .ok_or_else(|| Error::Other("the table sink is closed".into()))?;
        writers[0].write(&c, &self.paths[0])?;
        writers[1].write(&m, &self.paths[1])
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
        let [wc, wm] = self
            .writers
            .take()
            .ok_or_else(|| Error::Other("the table sink is closed".into()))?;
        wc.close(&self.paths[0])?;
        wm.close(&self.paths[1])?;
        for (tmp, path) in self.tmps.iter().zip(&self.paths) {
            std::fs::rename(tmp, path)
                .map_err(|e| io_error(format!("cannot write {}", path.display()), e))?;
        }
        Ok(self.paths.to_vec())
    }
}
