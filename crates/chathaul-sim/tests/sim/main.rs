//! The simulators as a client sees them: paths, auth, paging, filters,
//! quirks, adversity, determinism and ground truth.

mod adversity;
mod bangwo8;
mod caresoft;
mod cli;
mod determinism;
mod kf5;
mod readme;

use chathaul_sim::{SimOptions, Simulator};
use serde_json::Value;

/// How a test authenticates.
#[derive(Clone, Copy)]
pub enum Cred<'a> {
    None,
    Basic(&'a str, &'a str),
    Bearer(&'a str),
}

pub const BW8: Cred<'static> = Cred::Basic("admin@demo", "bangwo8-demo-password");
pub const KF5: Cred<'static> = Cred::Basic("agent@demo.kf5.com", "kf5-demo-password");
pub const CS: Cred<'static> = Cred::Bearer("caresoft-demo-token");

pub async fn sim(opts: SimOptions) -> Simulator {
    Simulator::start(opts).await.expect("the simulator starts")
}

pub async fn default_sim() -> Simulator {
    sim(SimOptions::default()).await
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// GETs `path` (after the vendor's base URL) and returns status, headers and body.
pub async fn get_raw(
    sim: &Simulator,
    vendor: &str,
    path: &str,
    cred: Cred<'_>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let url = format!("{}{path}", sim.base_url(vendor));
    let mut req = client().get(&url);
    req = match cred {
        Cred::None => req,
        Cred::Basic(u, p) => req.basic_auth(u, Some(p)),
        Cred::Bearer(t) => req.bearer_auth(t),
    };
    let res = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.text().await.unwrap())
}

/// GETs `path` and parses the JSON body, asserting the status.
pub async fn get_json(
    sim: &Simulator,
    vendor: &str,
    path: &str,
    cred: Cred<'_>,
    status: u16,
) -> Value {
    let (got, _, body) = get_raw(sim, vendor, path, cred).await;
    assert_eq!(got, status, "GET {vendor}{path}: {body}");
    serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("GET {vendor}{path}: not JSON ({e}): {body}"))
}

/// The local wall-clock string of a UTC instant in `zone` (`2024-01-03 09:11:52`).
pub fn local(t: chrono::DateTime<chrono::Utc>, zone: chrono_tz::Tz) -> chrono::NaiveDateTime {
    t.with_timezone(&zone).naive_local()
}
