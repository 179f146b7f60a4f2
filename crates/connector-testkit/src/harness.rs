//! What the conformance suite runs a vendor against: a server for its API
//! with a known dataset, and the ground truth of that dataset.

use std::future::Future;
use std::marker::PhantomData;
use std::time::Duration;

use chathaul_sim::{SimOptions, Simulator};
use connector_core::http::HttpSettings;
use connector_core::listing::{ListingConnector, Vendor, VendorConfig};
use connector_core::registry::{ConnectorFactory, ResolvedConfig};
use connector_core::{Conversation, Error, Result};

/// The data a server is asked to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dataset {
    /// Seed of the generated data.
    pub seed: u64,
    /// Conversations.
    pub conversations: usize,
    /// Mean messages per conversation.
    pub messages: usize,
}

/// A running server of a vendor's API.
pub trait TestServer: Send + Sync {
    /// The connector's configuration for it: `base_url`, the account and
    /// the right credentials.
    fn config(&self) -> Vec<(String, String)>;

    /// What a perfect pull of everything returns, messages and summaries
    /// included, in any order (built from the server's own records, never
    /// by parsing what it served).
    fn truth(&self) -> Vec<Conversation>;
}

/// A vendor under test: its engine vendor type and a server for it.
pub trait Harness: 'static {
    /// The vendor.
    type Vendor: Vendor;
    /// Its server.
    type Server: TestServer + 'static;

    /// Starts a server with `dataset`, on 127.0.0.1.
    fn serve(dataset: Dataset) -> impl Future<Output = Self::Server> + Send;
}

/// A vendor of the simulator (`chathaul-sim`), served by it:
/// `connector_testkit::conformance!(OnSimulator<connector_kf5::Kf5>);`.
#[derive(Debug)]
pub struct OnSimulator<V>(PhantomData<V>);

/// The simulator, serving one vendor of it.
#[derive(Debug)]
pub struct SimServer {
    sim: Simulator,
    vendor: &'static str,
}

impl SimServer {
    /// Starts the simulator with `dataset` for `vendor`.
    ///
    /// # Panics
    /// When no loopback port can be bound (a test setup error).
    pub async fn start(vendor: &'static str, dataset: Dataset) -> Self {
        let sim = Simulator::start(SimOptions {
            seed: dataset.seed,
            conversations: dataset.conversations,
            messages: dataset.messages,
            ..SimOptions::default()
        })
        .await
        .expect("the simulator binds a loopback port");
        Self { sim, vendor }
    }
}

impl TestServer for SimServer {
    fn config(&self) -> Vec<(String, String)> {
        self.sim.config(self.vendor)
    }

    fn truth(&self) -> Vec<Conversation> {
        self.sim.truth(self.vendor)
    }
}

impl<V: Vendor> Harness for OnSimulator<V> {
    type Vendor = V;
    type Server = SimServer;

    fn serve(dataset: Dataset) -> impl Future<Output = SimServer> + Send {
        SimServer::start(V::NAME, dataset)
    }
}

/// HTTP settings for tests: millisecond backoffs, `attempts` attempts.
pub fn fast_http(attempts: u32) -> HttpSettings {
    HttpSettings {
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        max_attempts: attempts,
        min_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(2),
        ..HttpSettings::default()
    }
}

/// Resolves key/values against `V`'s fields, as the registry does (no
/// environment variables: a test must not depend on them).
///
/// # Errors
/// [`Error::Config`] naming the field.
pub fn resolve<V: Vendor>(values: &[(String, String)]) -> Result<ResolvedConfig> {
    let factory = ConnectorFactory {
        name: V::NAME,
        description: V::NAME,
        fields: <V::Config as VendorConfig>::FIELDS,
        capabilities: V::CAPABILITIES,
        build: |_| {
            Err(Error::Unsupported {
                vendor: "testkit",
                message: "only resolves".into(),
            })
        },
    };
    factory.resolve_with_env(values.iter().map(|(k, v)| (k, v)), |_| None)
}

/// `V`'s connector for `values`, with `http` settings.
///
/// # Errors
/// [`Error::Config`] naming the field.
pub fn connector<V: Vendor>(
    values: &[(String, String)],
    http: HttpSettings,
) -> Result<ListingConnector<V>> {
    let config = <V::Config as VendorConfig>::from_resolved(&resolve::<V>(values)?)?;
    ListingConnector::new(config.with_http(http))
}

/// `values` with `key` set to `value` (added when absent).
pub fn with_value(values: &[(String, String)], key: &str, value: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = values.iter().filter(|(k, _)| k != key).cloned().collect();
    out.push((key.to_owned(), value.to_owned()));
    out
}
