//! The README's curl examples work against a simulator with the default seed.

use serde_json::Value;

/// Every `curl` command line in the README (continued lines joined).
fn curl_lines() -> Vec<String> {
    let readme = include_str!("../../README.md");
    readme
        .replace("\\\n", " ")
        .lines()
        .filter(|l| l.trim_start().starts_with("curl "))
        .map(str::to_owned)
        .collect()
}

/// (credentials, URL) of every vendor `curl` command in the README.
fn curl_examples() -> Vec<(String, String)> {
    curl_lines()
        .iter()
        .filter(|l| !l.contains("/_sim/"))
        .map(|l| {
            let quoted: Vec<&str> = l.split('\'').collect();
            let url = quoted
                .iter()
                .find(|q| q.starts_with("http://"))
                .expect("a quoted URL")
                .to_string();
            let cred = if let Some(h) = quoted.iter().find(|q| q.starts_with("Authorization: ")) {
                h.to_string()
            } else {
                l.split_whitespace()
                    .skip_while(|w| *w != "-u")
                    .nth(1)
                    .expect("-u user:password")
                    .to_owned()
            };
            (cred, url)
        })
        .collect()
}

#[tokio::test]
async fn readme_curl_examples_answer_with_data() {
    let sim = crate::default_sim().await;
    let examples = curl_examples();
    assert_eq!(examples.len(), 8);
    for (cred, url) in examples {
        let url = url.replace("http://127.0.0.1:8080", &format!("http://{}", sim.addr()));
        let req = crate::client().get(&url);
        let req = match cred.strip_prefix("Authorization: Bearer ") {
            Some(token) => req.bearer_auth(token),
            None => {
                let (user, pass) = cred.split_once(':').unwrap();
                req.basic_auth(user, Some(pass))
            }
        };
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200, "{url}");
        let body: Value = res.json().await.unwrap();
        let non_empty = |v: &Value| v.as_array().is_some_and(|a| !a.is_empty());
        let ok = non_empty(&body["chats"])
            || non_empty(&body["im_chatrecords"]["contents"])
            || body["status"] == "200"
            || non_empty(&body["chat"]["messages"]);
        assert!(ok, "{url}: {body}");
    }
}

#[tokio::test]
async fn readme_control_examples_answer() {
    let sim = crate::sim(chathaul_sim::SimOptions {
        accounts: 2,
        ..Default::default()
    })
    .await;
    let control: Vec<String> = curl_lines()
        .into_iter()
        .filter(|l| l.contains("/_sim/"))
        .collect();
    assert_eq!(control.len(), 5);
    for line in control {
        let url = line.split('\'').find(|q| q.starts_with("http://")).unwrap();
        let url = url.replace("http://127.0.0.1:8080", &format!("http://{}", sim.addr()));
        let req = if line.contains("-X POST") {
            crate::client().post(&url)
        } else {
            crate::client().get(&url)
        };
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200, "{line}");
        let body: Value = res.json().await.unwrap();
        assert!(
            body["now"].is_string() || body["armed"] == 3 || body["corrupt"]["id"] == "10003",
            "{line}: {body}"
        );
    }
    // The clock was set to 09:00 in Shanghai, then moved six hours on.
    assert_eq!(
        sim.now(),
        "2024-01-15T07:00:00Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    );
    // Three failures were armed for KF5's account 1, none for account 0.
    let statuses = |account: usize| {
        let sim = &sim;
        async move {
            let config = sim.config_for("kf5", account);
            let url = format!("{}/apiv2/chats.json", sim.base_url_for("kf5", account));
            let mut out = Vec::new();
            for _ in 0..4 {
                out.push(crate::get_url(&url, crate::cred_of("kf5", &config)).await.0);
            }
            out
        }
    };
    assert_eq!(statuses(0).await, [200, 200, 200, 200]);
    assert_eq!(statuses(1).await, [500, 500, 500, 200]);
    // KF5's chat 10003 is served with a created_at that is not a time.
    let (_, _, body) = crate::get_raw(&sim, "kf5", "/apiv2/chats/10003.json", crate::KF5).await;
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["chat"]["created_at"], "not-a-time");
}
