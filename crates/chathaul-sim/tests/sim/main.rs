//! The simulators as a client sees them: paths, auth, paging, filters,
//! quirks, adversity, determinism and ground truth.

mod accounts;
mod adversity;
mod bangwo8;
mod caresoft;
mod cli;
mod clock;
mod determinism;
mod kf5;
mod modes;
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
    get_url(&format!("{}{path}", sim.base_url(vendor)), cred).await
}

/// GETs `url` and returns status, headers and body.
pub async fn get_url(url: &str, cred: Cred<'_>) -> (u16, reqwest::header::HeaderMap, String) {
    let url = url.to_owned();
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

/// The credentials of a vendor config (`Simulator::config_for`).
pub fn cred_of<'a>(vendor: &str, config: &'a [(String, String)]) -> Cred<'a> {
    let field = |k: &str| {
        config
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{vendor} config has {k}"))
    };
    match vendor {
        "bangwo8" => Cred::Basic(field("account"), field("password")),
        "kf5" => Cred::Basic(field("email"), field("password")),
        _ => Cred::Bearer(field("token")),
    }
}

/// GETs `url` and parses the JSON body, asserting the status.
pub async fn url_json(url: &str, cred: Cred<'_>, status: u16) -> Value {
    let (got, _, body) = get_url(url, cred).await;
    assert_eq!(got, status, "GET {url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {body}"))
}

/// Every record a vendor account lists, walking its pages as the vendor's
/// documents say (Bangwo8 until no `next_page`, KF5 until an empty page,
/// CareSoft every type until `numFound`), in the order served; CareSoft
/// lists type 0, then 1, then 3.
pub async fn list_all(base_url: &str, vendor: &str, cred: Cred<'_>) -> Vec<Value> {
    let mut out = Vec::new();
    match vendor {
        "bangwo8" => {
            for page in 1.. {
                let url =
                    format!("{base_url}/api/v1/imchat/histories.json?per_page=37&page={page}");
                let body = url_json(&url, cred, 200).await;
                out.extend(body["chats"].as_array().unwrap().iter().cloned());
                if body["next_page"].is_null() {
                    assert_eq!(body["count"], out.len(), "{url}");
                    break;
                }
            }
        }
        "kf5" => {
            for page in 1.. {
                let url = format!("{base_url}/apiv2/chats.json?per_page=41&page={page}");
                let body = url_json(&url, cred, 200).await;
                let chats = body["chats"].as_array().unwrap();
                if chats.is_empty() {
                    break;
                }
                out.extend(chats.iter().cloned());
            }
        }
        _ => {
            for ctype in [0, 1, 3] {
                let mut seen = 0;
                for page in 1.. {
                    let url = format!(
                        "{base_url}/api/v1/chats?conversation_type={ctype}&count=43&page={page}"
                    );
                    let body = url_json(&url, cred, 200).await;
                    let chats = body["chats"].as_array().unwrap();
                    seen += chats.len();
                    out.extend(chats.iter().cloned());
                    if chats.is_empty() || seen as u64 >= body["numFound"].as_u64().unwrap() {
                        assert_eq!(seen as u64, body["numFound"].as_u64().unwrap(), "{url}");
                        break;
                    }
                }
            }
        }
    }
    out
}

/// The truth's records (`raw`) in the order the vendor lists them.
pub fn listed_raws(vendor: &str, truth: &[connector_core::Conversation]) -> Vec<Value> {
    let mut raws: Vec<(u8, Value)> = truth
        .iter()
        .map(|c| {
            let order = match (vendor, c.channel.as_ref().map(|ch| ch.as_str())) {
                ("caresoft", Some("facebook")) => 1,
                ("caresoft", Some("zalo")) => 3,
                _ => 0,
            };
            (order, c.raw.to_value())
        })
        .collect();
    // Stable: the truth is sorted by id, as each listing is.
    raws.sort_by_key(|(order, _)| *order);
    raws.into_iter().map(|(_, v)| v).collect()
}
