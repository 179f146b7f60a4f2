use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use connector_core::{Conversation, Error, Result};

use super::{Sink, tmp_path};

const FORMAT: &str = "jsonl";

/// Writes one nested conversation a line (the JSON contract).
pub struct JsonlSink {
    out: BufWriter<Box<dyn Write + Send>>,
    path: Option<PathBuf>,
    tmp: Option<PathBuf>,
    /// The line being made, kept between conversations (one allocation for
    /// the whole output, not one per line).
    line: Vec<u8>,
}

/// The output buffer: large enough that a pull of many small records is not
/// a write call every few lines.
const BUFFER: usize = 256 * 1024;

impl std::fmt::Debug for JsonlSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonlSink")
            .field("path", &self.path)
            .finish()
    }
}

impl JsonlSink {
    /// Writes to standard output.
    pub fn stdout() -> Self {
        Self {
            out: BufWriter::with_capacity(BUFFER, Box::new(std::io::stdout())),
            path: None,
            tmp: None,
            line: Vec::new(),
        }
    }

    /// Writes to any writer (the output is flushed by [`Sink::finish`]).
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Self {
            out: BufWriter::with_capacity(BUFFER, out),
            path: None,
            tmp: None,
            line: Vec::new(),
        }
    }

    /// Writes to a file, under a temporary name until finished.
    ///
    /// # Errors
    /// [`Error::Sink`] naming the file.
    pub fn create(path: &Path) -> Result<Self> {
        let tmp = tmp_path(path);
        let file = File::create(&tmp)
            .map_err(|e| Error::sink(FORMAT, Some(tmp.clone()), "cannot create", e))?;
        Ok(Self {
            out: BufWriter::with_capacity(BUFFER, Box::new(file)),
            path: Some(path.to_owned()),
            tmp: Some(tmp),
            line: Vec::new(),
        })
    }

    /// An error writing the output (its file, or standard output).
    fn write_error(&self, e: std::io::Error) -> Error {
        Error::sink(FORMAT, self.path.clone(), "cannot write", e)
    }
}

impl Sink for JsonlSink {
    fn write(&mut self, conversation: &Conversation) -> Result<()> {
        // The whole line first, so a conversation that cannot be serialized
        // leaves no half line behind.
        self.line.clear();
        serde_json::to_writer(&mut self.line, conversation).map_err(|e| {
            Error::sink(
                FORMAT,
                self.path.clone(),
                format!("cannot serialize conversation {}", conversation.id),
                e,
            )
        })?;
        self.line.push(b'\n');
        let r = self.out.write_all(&self.line);
        r.map_err(|e| self.write_error(e))
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<PathBuf>> {
        self.out.flush().map_err(|e| self.write_error(e))?;
        match (self.tmp.take(), self.path.take()) {
            (Some(tmp), Some(path)) => {
                std::fs::rename(&tmp, &path).map_err(|e| {
                    Error::sink(
                        FORMAT,
                        Some(path.clone()),
                        format!("cannot rename {} to it", tmp.display()),
                        e,
                    )
                })?;
                Ok(vec![path])
            }
            _ => Ok(vec![]),
        }
    }
}
