//! Integration tests of the bangwo8 connector: the conformance suite every
//! vendor runs, against the simulator; then what is Bangwo8's own — the
//! vendor document's examples and crafted quirk fixtures served over HTTP
//! with snapshots of the normalized output, its paging, push-down and
//! error behaviours against a scripted server, and its configuration.

mod config;
mod fixtures;
mod quirks;
mod support;

connector_testkit::conformance!(connector_testkit::OnSimulator<connector_bangwo8::Bangwo8>);
