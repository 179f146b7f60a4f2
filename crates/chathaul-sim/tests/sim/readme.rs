//! The README's curl examples work against a simulator with the default seed.

use serde_json::Value;

/// (credentials, URL) of every `curl` command in the README.
fn curl_examples() -> Vec<(String, String)> {
    let readme = include_str!("../../README.md");
    let joined = readme.replace("\\\n", " ");
    joined
        .lines()
        .filter(|l| l.trim_start().starts_with("curl "))
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
