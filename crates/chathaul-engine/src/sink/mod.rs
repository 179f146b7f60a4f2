//! Where pulled conversations go: one [`Sink`] trait, one file per format.
//!
//! | format | sink | file | feature |
//! |---|---|---|---|
//! | `.jsonl` (or `-` / no path: standard output): one nested conversation a line, in the JSON contract of [`Conversation`] | [`JsonlSink`] | `jsonl.rs` | — |
//! | `.csv`: two tables, `NAME.conversations.csv` and `NAME.messages.csv`, with the columns of [`crate::columns`] | [`CsvSink`] | `csv.rs` | `csv` |
//! | `.parquet`: the same two tables as Parquet | [`ParquetSink`] | `parquet.rs` | `parquet` |
//! | a folder of hive-partitioned Parquet (`--partition-by`) | [`PartitionedParquetSink`] | `partitioned.rs` | `parquet` |
//! | `.sqlite`, `.db`: a database of [`crate::store`], upserted | [`StoreSink`] over any [`crate::store::SyncStore`] | `store.rs` | `sqlite` for the file |
//!
//! [`open`] picks the sink by the path's extension; [`open_partitioned`]
//! opens a partitioned folder. CSV and Parquet share their Arrow batching
//! (`tables.rs`). Files are written under a temporary name and renamed when
//! complete, so a failed pull never leaves a file that looks whole; a
//! partitioned folder swaps each partition in when the pull is complete.

#[cfg(feature = "csv")]
mod csv;
mod jsonl;
#[cfg(feature = "parquet")]
mod parquet;
mod partition_by;
#[cfg(feature = "parquet")]
mod partitioned;
mod store;
#[cfg(any(feature = "csv", feature = "parquet"))]
mod tables;

use std::path::{Path, PathBuf};

use connector_core::{Conversation, Error, Query, Result};

#[cfg(feature = "csv")]
pub use csv::CsvSink;
pub use jsonl::JsonlSink;
#[cfg(feature = "parquet")]
pub use parquet::{ParquetSettings, ParquetSink};
pub use partition_by::{NO_VALUE, PartitionBy, escape_value};
#[cfg(feature = "parquet")]
pub use partitioned::PartitionedParquetSink;
pub use store::StoreSink;
#[cfg(any(feature = "csv", feature = "parquet"))]
pub use tables::{TableFormat, table_paths};

/// A destination for conversations.
pub trait Sink: Send {
    /// Writes one conversation.
    ///
    /// # Errors
    /// [`Error::Sink`] (or [`Error::Store`]) naming the file and what failed.
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
    /// mean JSONL on standard output. A format this build leaves out is
    /// still recognized ([`open`] says which feature it needs).
    ///
    /// # Errors
    /// [`Error::Sink`] for an extension that names no format.
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
            _ => Err(Error::Sink {
                format: ext.unwrap_or_default(),
                path: Some(path.to_owned()),
                action: "unknown output format; use .jsonl, .csv, .parquet, .sqlite or .db (or - for JSONL on stdout)".to_owned(),
                source: None,
            }),
        }
    }

    /// The format's name (`jsonl`, `csv`, `parquet`, `sqlite`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Parquet => "parquet",
            Format::Sqlite => "sqlite",
        }
    }
}

/// Opens the sink an output path asks for (see [`Format::of`]).
///
/// # Errors
/// An unknown extension, a format this build leaves out
/// ([`Error::FeatureDisabled`]), or a file or database that cannot be opened
/// (a foreign or corrupt database file is refused, never overwritten).
pub fn open(path: Option<&Path>) -> Result<Box<dyn Sink>> {
    let format = Format::of(path)?;
    let Some(path) = path.filter(|p| p.as_os_str() != "-") else {
        return Ok(Box::new(JsonlSink::stdout()));
    };
    match format {
        Format::Jsonl => Ok(Box::new(JsonlSink::create(path)?)),
        #[cfg(feature = "csv")]
        Format::Csv => Ok(Box::new(CsvSink::create(path)?)),
        #[cfg(feature = "parquet")]
        Format::Parquet => Ok(Box::new(ParquetSink::create(path)?)),
        #[cfg(feature = "sqlite")]
        Format::Sqlite => Ok(Box::new(StoreSink::open(path)?)),
        #[allow(unreachable_patterns)]
        left_out => Err(Error::FeatureDisabled {
            feature: left_out.name(),
            what: format!("writing {}", path.display()),
        }),
    }
}

/// Opens a folder of hive-partitioned Parquet for a pull of `query` (see
/// [`PartitionedParquetSink`]): `dir/conversations/vendor=…/account=…/date=…/`
/// and the same under `dir/messages/`, partitioned `by` the UTC day or month
/// each conversation was created.
///
/// # Errors
/// [`Error::FeatureDisabled`] in a build without Parquet; [`Error::Sink`]
/// when `dir` names a file, or a folder that cannot be created.
#[cfg_attr(not(feature = "parquet"), allow(unused_variables))]
pub fn open_partitioned(dir: &Path, by: PartitionBy, query: &Query) -> Result<Box<dyn Sink>> {
    if dir.as_os_str() == "-" || dir.is_file() {
        return Err(Error::Sink {
            format: "parquet".to_owned(),
            path: Some(dir.to_owned()),
            action: format!(
                "partitioned output (by {by}) is a folder, not a file: name a folder such as out/"
            ),
            source: None,
        });
    }
    #[cfg(feature = "parquet")]
    {
        Ok(Box::new(PartitionedParquetSink::create(
            dir,
            by,
            query,
            ParquetSettings::default(),
        )?))
    }
    #[cfg(not(feature = "parquet"))]
    Err(Error::FeatureDisabled {
        feature: "parquet",
        what: format!("writing partitioned Parquet into {}", dir.display()),
    })
}

/// A temporary name beside `path` (`out.csv` → `out.csv.partial`): an
/// output is written there and renamed when complete.
pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    path.with_file_name(name)
}
