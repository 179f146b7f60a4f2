//! The fake vendor passes the conformance suite against its own server.

mod server;

use connector_testkit::{Dataset, Harness};

/// The fake vendor, served by [`server::FakeServer`].
struct FakeHarness;

impl Harness for FakeHarness {
    type Vendor = fake_vendor::Fake;
    type Server = server::FakeServer;

    fn serve(dataset: Dataset) -> impl Future<Output = server::FakeServer> + Send {
        server::FakeServer::start(dataset)
    }
}

connector_testkit::conformance!(FakeHarness);
