//! Integration tests of the CareSoft connector: the conformance suite every
//! vendor runs, against the simulator; then what is CareSoft's own — the
//! vendor document's example and crafted quirk fixtures through the real
//! HTTP path with snapshots of the normalized output, its configuration,
//! and its listing of each conversation type, push-down and envelope
//! against a loopback stand-in.

mod config;
mod fixtures;
mod quirks;
mod server;

use connector_caresoft::{CaresoftConfig, CaresoftConnector, ConversationType};
use connector_core::http::HttpSettings;
use connector_core::{Connector, Conversation, Query, Result};
use futures::TryStreamExt;

connector_testkit::conformance!(connector_testkit::OnSimulator<connector_caresoft::Caresoft>);

/// A connector for a stand-in at `base_url`, listing `types`, with fast retries.
pub fn connector(base_url: &str, types: &[ConversationType]) -> CaresoftConnector {
    let http = HttpSettings {
        max_attempts: 3,
        min_backoff: std::time::Duration::from_millis(5),
        max_backoff: std::time::Duration::from_millis(20),
        ..HttpSettings::default()
    };
    let config = CaresoftConfig {
        domain: None,
        ..CaresoftConfig::new("unused", server::TOKEN)
    }
    .with_base_url(base_url)
    .with_conversation_types(types.iter().copied())
    .with_http(http);
    CaresoftConnector::new(config).unwrap()
}

/// Pulls everything the query selects.
pub async fn pull(c: &CaresoftConnector, q: &Query) -> Result<Vec<Conversation>> {
    c.conversations(q).try_collect().await
}

/// Pulls until the first error: what came before it, and the error.
pub async fn pull_until_error(
    c: &CaresoftConnector,
    q: &Query,
) -> (Vec<Conversation>, Option<connector_core::Error>) {
    let mut s = c.conversations(q);
    let mut got = Vec::new();
    while let Some(item) = futures::StreamExt::next(&mut s).await {
        match item {
            Ok(conv) => got.push(conv),
            Err(e) => {
                // A listing error ends the stream.
                assert!(
                    futures::StreamExt::next(&mut s).await.is_none(),
                    "the stream went on after {e}"
                );
                return (got, Some(e));
            }
        }
    }
    (got, None)
}
