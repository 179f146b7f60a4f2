//! CSV: the two tables as `NAME.conversations.csv` and `NAME.messages.csv`,
//! with a header row; instants as RFC 3339 UTC.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use connector_core::{Conversation, Error, Result};

use super::Sink;
use super::tables::{TableFiles, TableFormat, TableWriter};

const FORMAT: &str = "csv";

/// One CSV table file.
pub(crate) struct CsvWriter {
    path: PathBuf,
    inner: arrow::csv::Writer<BufWriter<File>>,
}

impl TableWriter for CsvWriter {
    type Settings = ();

    // CSV takes its header from each batch; the schema is the batches'.
    fn create(path: &Path, _schema: SchemaRef, _settings: ()) -> Result<Self> {
        let file = File::create(path)
            .map_err(|e| Error::sink(FORMAT, Some(path.to_owned()), "cannot create", e))?;
        let inner = arrow::csv::WriterBuilder::new()
            .with_header(true)
            .with_timestamp_tz_format("%Y-%m-%dT%H:%M:%S%.fZ".to_owned())
            .build(BufWriter::new(file));
        Ok(Self {
            path: path.to_owned(),
            inner,
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.inner
            .write(batch)
            .map_err(|e| Error::sink(FORMAT, Some(self.path.clone()), "cannot write", e))
    }

    fn close(self) -> Result<()> {
        let mut inner = self.inner.into_inner();
        inner
            .flush()
            .map_err(|e| Error::sink(FORMAT, Some(self.path), "cannot write", e))
    }
}

/// Writes the conversations and messages tables as two CSV files, under
/// temporary names until [`Sink::finish`].
#[derive(Debug)]
pub struct CsvSink {
    files: TableFiles<CsvWriter>,
}

impl CsvSink {
    /// Creates the two files for `path` (see [`super::table_paths`]).
    ///
    /// # Errors
    /// [`Error::Sink`] naming the file that cannot be created.
    pub fn create(path: &Path) -> Result<Self> {
        Ok(Self {
            files: TableFiles::create(path, TableFormat::Csv, ())?,
        })
    }
}

impl Sink for CsvSink {
    fn write(&mut self, conversation: &Conversation) -> Result<()> {
        self.files.tables().append(conversation)
    }

    fn finish(self: Box<Self>) -> Result<Vec<PathBuf>> {
        self.files.finish()
    }
}
