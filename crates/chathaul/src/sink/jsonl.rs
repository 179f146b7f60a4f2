use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use connector_core::{Conversation, Result};

use super::{Sink, io_error};

/// Writes one nested conversation a line (the JSON contract).
pub struct JsonlSink {
    out: BufWriter<Box<dyn Write + Send>>,
    path: Option<PathBuf>,
    tmp: Option<PathBuf>,
}

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
            out: BufWriter::new(Box::new(std::io::stdout())),
            path: None,
            tmp: None,
        }
    }

    /// Writes to any writer (the output is flushed by [`Sink::finish`]).
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Self {
            out: BufWriter::new(out),
            path: None,
            tmp: None,
        }
    }

    /// Writes to a file, under a temporary name until finished.
    ///
    /// # Errors
    /// [`connector_core::Error::Io`] naming the file.
    pub fn create(path: &Path) -> Result<Self> {
        let tmp = super::table::tmp_path(path);
        let file = File::create(&tmp)
            .map_err(|e| io_error(format!("cannot create {}", tmp.display()), e))?;
        Ok(Self {
            out: BufWriter::new(Box::new(file)),
            path: Some(path.to_owned()),
            tmp: Some(tmp),
        })
    }

    fn context(&self) -> String {
        self.path
            .as_ref()
            .map_or_else(|| "standard output".to_owned(), |p| p.display().to_string())
    }
}

impl Sink for JsonlSink {
    fn write(&mut self, conversation: &Conversation) -> Result<()> {
        let line = serde_json::to_string(conversation).map_err(|e| {
            connector_core::Error::Other(format!(
                "cannot serialize conversation {}: {e}",
                conversation.id
            ))
        })?;
        let r = self
            .out
            .write_all(line.as_bytes())
            .and_then(|()| self.out.write_all(b"\n"));
        r.map_err(|e| io_error(format!("cannot write to {}", self.context()), e))
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<PathBuf>> {
        let ctx = format!("cannot write to {}", self.context());
        self.out.flush().map_err(|e| io_error(ctx.clone(), e))?;
        match (self.tmp.take(), self.path.take()) {
            (Some(tmp), Some(path)) => {
                std::fs::rename(&tmp, &path).map_err(|e| io_error(ctx, e))?;
                Ok(vec![path])
            }
            _ => Ok(vec![]),
        }
    }
}
