//! Integration tests of the kf5 connector: the conformance suite every
//! vendor runs, against the simulator; then what is KF5's own — the vendor
//! document's examples and crafted quirk fixtures served over HTTP with
//! snapshots of the normalized output, and KF5's paging, push-down and
//! detail behaviours against a counting stand-in server.

mod fixtures;
mod quirks;
mod server;

use connector_core::{Connector, Conversation, Query, Result};
use futures::StreamExt;
use serde_json::{Value, json};

connector_testkit::conformance!(connector_testkit::OnSimulator<connector_kf5::Kf5>);

/// Everything a pull yields, errors included, in order.
pub async fn pull(c: &dyn Connector, q: &Query) -> Vec<Result<Conversation>> {
    c.conversations(q).collect().await
}

/// A pull that must not fail.
pub async fn pull_ok(c: &dyn Connector, q: &Query) -> Vec<Conversation> {
    pull(c, q)
        .await
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// Results as JSON for snapshots: the conversation, or `{error: text}` in its place.
pub fn render(results: &[Result<Conversation>]) -> Vec<Value> {
    results
        .iter()
        .map(|r| match r {
            Ok(c) => serde_json::to_value(c).unwrap(),
            Err(e) => json!({ "error": e.to_string() }),
        })
        .collect()
}
