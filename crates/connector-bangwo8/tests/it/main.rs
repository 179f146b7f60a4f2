//! Integration tests of the bangwo8 connector: the vendor document's examples
//! and quirk fixtures (snapshotted), paging and errors over HTTP, config, and
//! end-to-end runs against the simulator.

mod config;
mod e2e;
mod fixtures;
mod http;
mod support;
