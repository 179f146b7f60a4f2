use std::path::PathBuf;

use connector_core::{Conversation, Result};

use super::Sink;
use crate::store::SyncStore;

/// A [`Sink`] that upserts into a database ([`SyncStore`]) in batches.
#[derive(Debug)]
pub struct StoreSink {
    store: Box<dyn SyncStore>,
    buffer: Vec<Conversation>,
}

/// Conversations per transaction.
const SINK_BATCH: usize = 200;

impl StoreSink {
    /// Writes into `store`.
    pub fn new(store: Box<dyn SyncStore>) -> Self {
        Self {
            store,
            buffer: Vec::new(),
        }
    }

    /// Opens (or creates) a SQLite database (see [`crate::store::SqliteStore::open`]).
    ///
    /// # Errors
    /// As [`crate::store::SqliteStore::open`].
    #[cfg(feature = "sqlite")]
    pub fn open(path: &std::path::Path) -> Result<Self> {
        Ok(Self::new(Box::new(crate::store::SqliteStore::open(path)?)))
    }
}

impl Sink for StoreSink {
    fn write(&mut self, conversation: &Conversation) -> Result<()> {
        self.buffer.push(conversation.clone());
        if self.buffer.len() >= SINK_BATCH {
            let batch = std::mem::take(&mut self.buffer);
            self.store.upsert(&batch)?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<PathBuf>> {
        let batch = std::mem::take(&mut self.buffer);
        self.store.upsert(&batch)?;
        Ok(self.store.path().map(PathBuf::from).into_iter().collect())
    }
}
