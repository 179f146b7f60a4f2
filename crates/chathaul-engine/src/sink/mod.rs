//! Where pulled conversations go: JSONL, CSV, Parquet or a SQLite database,
//! chosen by the output path's extension.
//!
//! - `.jsonl` (or `-` / no path: standard output): one nested conversation a
//!   line, in the JSON contract of [`Conversation`].
//! - `.csv`, `.parquet`: two tables, `NAME.conversations.EXT` and
//!   `NAME.messages.EXT`, with the columns of [`crate::arrow`]. Files are
//!   written under a temporary name and renamed when complete, so a failed
//!   pull never leaves a file that looks whole.
//! - `.sqlite`, `.db`: the database of [`crate::store`], upserted.

mod jsonl;
mod table;

use std::path::{Path, PathBuf};

use connector_core::{Conversation, Error, Result};

pub use jsonl::JsonlSink;
pub use table::{TableFormat, TableSink, table_paths};

/// A destination for conversations.
pub trait Sink: Send {
    /// Writes one conversation.
    ///
    /// # Errors
    /// [`Error::Io`] (or a database error) naming the file.
    fn write(&mut self, conversation: &Conversation) -> Result<()>;

    /// Completes the output; returns the files written.
    ///
    /// # Errors
    /// As [`Sink::write`].
    fn finish(self: Box<Self>) -> Result<Vec<PathBuf>>;
}

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON conversation a line.
    Jsonl,
    /// Two CSV tables.
    Csv,
    /// Two Parquet tables.
    Parquet,
    /// A SQLite database.
    Sqlite,
}

impl Format {
    /// The format an output path asks for, by its extension; `None` and `-`
    /// mean JSONL on standard output.
    ///
    /// # Errors
    /// [`Error::Other`] for an extension that names no format.
    pub fn of(path: Option<&Path>) -> Result<Format> {
        let Some(path) = path.filter(|p| p.as_os_str() != "-") else {
            return Ok(Format::Jsonl);
        };
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("jsonl" | "ndjson") => Ok(Format::Jsonl),
            Some("csv") => Ok(Format::Csv),
            Some("parquet") => Ok(Format::Parquet),
            Some("sqlite" | "sqlite3" | "db") => Ok(Format::Sqlite),
            _ => Err(Error::Other(format!(
                "{}: unknown output format; use .jsonl, .csv, .parquet, .sqlite or .db (or - for JSONL on stdout)",
                path.display()
            ))),
        }
    }
}

/// Opens the sink an output path asks for (see [`Format::of`]).
///
/// # Errors
/// An unknown extension, or a file or database that cannot be opened (a
/// foreign or corrupt database file is refused, never overwritten).
pub fn open(path: Option<&Path>) -> Result<Box<dyn Sink>> {
    let format = Format::of(path)?;
    let path = path.filter(|p| p.as_os_str() != "-");
    Ok(match (format, path) {
        (Format::Jsonl, None) => Box::new(JsonlSink::stdout()),
        (Format::Jsonl, Some(p)) => Box::new(JsonlSink::create(p)?),
        (Format::Csv, Some(p)) => Box::new(TableSink::create(p, TableFormat::Csv)?),
        (Format::Parquet, Some(p)) => Box::new(TableSink::create(p, TableFormat::Parquet)?),
        (Format::Sqlite, Some(p)) => Box::new(crate::store::StoreSink::open(p)?),
        (_, None) => unreachable!("only JSONL has no path"),
    })
}

pub(crate) fn io_error(context: impl Into<String>, source: std::io::Error) -> Error {
    Error::Io {
        context: context.into(),
        source,
    }
}
