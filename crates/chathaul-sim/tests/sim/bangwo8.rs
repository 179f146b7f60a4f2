use std::collections::BTreeSet;

use chrono_tz::Asia::Shanghai;
use serde_json::Value;

use crate::*;

const LIST: &str = "/api/v1/imchat/histories.json";

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[tokio::test]
async fn auth_is_basic_account_and_password() {
    let sim = default_sim().await;
    let body = get_json(&sim, "bangwo8", LIST, Cred::None, 401).await;
    assert_eq!(body["status"], "401");
    get_json(
        &sim,
        "bangwo8",
        LIST,
        Cred::Basic("admin@demo", "wrong"),
        401,
    )
    .await;
    let (status, headers, _) = get_raw(
        &sim,
        "bangwo8",
        "/api/v1/imchat/chatrecords/1000.json",
        Cred::None,
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    get_json(&sim, "bangwo8", LIST, BW8, 200).await;
    // A non-administrator agent may read messages and summaries, not lists.
    let agent = Cred::Basic("agent@demo", "bangwo8-agent-password");
    let body = get_json(&sim, "bangwo8", LIST, agent, 403).await;
    assert_eq!(body["status"], "403");
    get_json(
        &sim,
        "bangwo8",
        "/api/v1/imchat/histories/2381.json",
        agent,
        403,
    )
    .await;
    let id = &sim.truth("bangwo8")[0].id;
    get_json(
        &sim,
        "bangwo8",
        &format!("/api/v1/imchat/chatrecords/{id}.json"),
        agent,
        200,
    )
    .await;
    get_json(
        &sim,
        "bangwo8",
        &format!("/api/v1/servicesummary/{id}.json?servicesummary_type=1"),
        agent,
        200,
    )
    .await;
    assert_eq!(
        sim.config("bangwo8"),
        vec![
            ("base_url".to_owned(), sim.base_url("bangwo8")),
            ("account".to_owned(), "admin@demo".to_owned()),
            ("password".to_owned(), "bangwo8-demo-password".to_owned()),
        ]
    );
}

#[tokio::test]
async fn lists_page_by_100_with_absolute_links() {
    let sim = default_sim().await;
    let p1 = get_json(&sim, "bangwo8", LIST, BW8, 200).await;
    assert_eq!(p1["chats"].as_array().unwrap().len(), 100);
    assert_eq!(p1["count"], 200);
    assert_eq!(
        p1["next_page"],
        "https://www.bangwo8.com/api/v1/imchat/histories.json?per_page=100&page=2"
    );
    assert_eq!(p1["previous_page"], Value::Null);
    let p2 = get_json(&sim, "bangwo8", &format!("{LIST}?page=2"), BW8, 200).await;
    assert_eq!(p2["chats"].as_array().unwrap().len(), 100);
    assert_eq!(p2["next_page"], Value::Null);
    assert_eq!(
        p2["previous_page"],
        "https://www.bangwo8.com/api/v1/imchat/histories.json?per_page=100&page=1"
    );
    let p3 = get_json(&sim, "bangwo8", &format!("{LIST}?page=3"), BW8, 200).await;
    assert_eq!(p3["chats"], Value::Array(vec![]));
    assert_eq!(p3["count"], 200);

    // Walking pages of 40 gives every session once, ascending, as in the truth.
    let truth = sim.truth("bangwo8");
    let mut ids = Vec::new();
    for page in 1.. {
        let body = get_json(
            &sim,
            "bangwo8",
            &format!("{LIST}?per_page=40&page={page}"),
            BW8,
            200,
        )
        .await;
        let chats = body["chats"].as_array().unwrap();
        for (c, t) in chats.iter().zip(&truth[ids.len()..]) {
            assert_eq!(
                t.raw, *c,
                "served record {} differs from the truth's raw",
                t.id
            );
        }
        ids.extend(
            chats
                .iter()
                .map(|c| text(&c["r_id"]).parse::<u64>().unwrap()),
        );
        if body["next_page"].is_null() {
            break;
        }
        assert!(
            body["next_page"]
                .as_str()
                .unwrap()
                .starts_with("https://www.bangwo8.com/")
        );
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids ascend");
    let want: Vec<u64> = truth.iter().map(|c| c.id.parse().unwrap()).collect();
    assert_eq!(ids, want);
}

#[tokio::test]
async fn quirks_mixed_numbers_unpadded_dates_empty_strings() {
    let sim = default_sim().await;
    let body = get_json(&sim, "bangwo8", &format!("{LIST}?per_page=200"), BW8, 200).await;
    let chats = body["chats"].as_array().unwrap();
    assert_eq!(chats.len(), 200);
    for field in [
        "r_id",
        "type",
        "evaluate",
        "servicer_msg_count",
        "client_msg_count",
    ] {
        assert!(
            chats.iter().any(|c| c[field].is_string()),
            "{field} as a string somewhere"
        );
        assert!(
            chats.iter().any(|c| c[field].is_number()),
            "{field} as a number somewhere"
        );
    }
    let unpadded = regex_like_unpadded;
    assert!(
        chats
            .iter()
            .any(|c| unpadded(c["start_time"].as_str().unwrap())),
        "some unpadded dates"
    );
    assert!(
        chats
            .iter()
            .any(|c| !unpadded(c["start_time"].as_str().unwrap())),
        "some padded dates"
    );
    assert!(
        chats
            .iter()
            .any(|c| c["support_id"] == "" && c["support_name"] == ""),
        "sessions without agent"
    );
    assert!(
        chats.iter().any(|c| c["end_time"] == ""),
        "open sessions have an empty end_time"
    );
    assert!(
        chats.iter().any(|c| c["evaluate_time"] == ""),
        "unrated sessions have an empty evaluate_time"
    );
    let types: BTreeSet<String> = chats.iter().map(|c| text(&c["type"])).collect();
    assert_eq!(
        types,
        ["1", "2", "3", "4", "5"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    let evaluations: BTreeSet<String> = chats.iter().map(|c| text(&c["evaluate"])).collect();
    assert_eq!(
        evaluations,
        ["0", "1", "2", "3"].iter().map(|s| s.to_string()).collect()
    );
    for c in chats {
        let id = text(&c["r_id"]);
        assert_eq!(
            c["contents"],
            format!("https://www.bangwo8.com/api/v1/imchat/chatrecords/{id}.json")
        );
    }
    // Messages: spokesman as a number (agent id) and as a string; identity both ways.
    let mut spokesmen = (false, false);
    let mut identities = (false, false);
    for c in chats.iter().take(60) {
        let id = text(&c["r_id"]);
        let recs = get_json(
            &sim,
            "bangwo8",
            &format!("/api/v1/imchat/chatrecords/{id}.json"),
            BW8,
            200,
        )
        .await;
        assert_eq!(recs["im_chatrecords"]["r_id"], id.as_str());
        for m in recs["im_chatrecords"]["contents"].as_array().unwrap() {
            spokesmen.0 |= m["spokesman"].is_number();
            spokesmen.1 |= m["spokesman"].is_string();
            identities.0 |= m["spokesman_identity"].is_number();
            identities.1 |= m["spokesman_identity"].is_string();
        }
    }
    assert_eq!(spokesmen, (true, true));
    assert_eq!(identities, (true, true));
}

/// `2024-1-5 …`: a month or day without its zero.
fn regex_like_unpadded(s: &str) -> bool {
    let date = s.split(' ').next().unwrap();
    date.split('-').skip(1).any(|part| part.len() == 1)
}

#[tokio::test]
async fn date_filters_are_local_days_with_the_end_day_inclusive() {
    let sim = default_sim().await;
    let truth = sim.truth("bangwo8");
    let day = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| local(t, Shanghai).date());
    let d1 = day(truth[50].created_at).unwrap();
    let d2 = d1 + chrono::Days::new(3);
    let want: Vec<&str> = truth
        .iter()
        .filter(|c| day(c.created_at).is_some_and(|d| d >= d1 && d <= d2))
        .map(|c| c.id.as_str())
        .collect();
    assert!(want.len() > 3);
    let path = format!("{LIST}?servicestart_start={d1}&servicestart_end={d2}");
    let body = get_json(&sim, "bangwo8", &path, BW8, 200).await;
    let got: Vec<String> = body["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| text(&c["r_id"]))
        .collect();
    assert_eq!(got, want);
    assert_eq!(body["count"], want.len());
    // The last day alone: all of it is included.
    let only_last: Vec<&str> = truth
        .iter()
        .filter(|c| day(c.created_at) == Some(d2))
        .map(|c| c.id.as_str())
        .collect();
    assert!(!only_last.is_empty());
    let body = get_json(
        &sim,
        "bangwo8",
        &format!("{LIST}?servicestart_start={d2}&servicestart_end={d2}"),
        BW8,
        200,
    )
    .await;
    assert_eq!(body["count"], only_last.len());
    // Unpadded dates are read too.
    let unpadded = format!("{}", d2.format("%Y-%-m-%-d"));
    let body = get_json(
        &sim,
        "bangwo8",
        &format!("{LIST}?servicestart_start={unpadded}&servicestart_end={unpadded}"),
        BW8,
        200,
    )
    .await;
    assert_eq!(body["count"], only_last.len());
    // End-time filter: open sessions never match.
    let want_end: Vec<&str> = truth
        .iter()
        .filter(|c| day(c.ended_at).is_some_and(|d| d >= d1 && d <= d2))
        .map(|c| c.id.as_str())
        .collect();
    let body = get_json(
        &sim,
        "bangwo8",
        &format!("{LIST}?serviceend_start={d1}&serviceend_end={d2}"),
        BW8,
        200,
    )
    .await;
    let got: Vec<String> = body["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| text(&c["r_id"]))
        .collect();
    assert_eq!(got, want_end);
    // A malformed date is a 400 naming the parameter.
    let body = get_json(
        &sim,
        "bangwo8",
        &format!("{LIST}?servicestart_start=2024/01/02"),
        BW8,
        400,
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("servicestart_start"),
        "{body}"
    );
    get_json(&sim, "bangwo8", &format!("{LIST}?page=0"), BW8, 400).await;
    get_json(&sim, "bangwo8", &format!("{LIST}?per_page=abc"), BW8, 400).await;
}

#[tokio::test]
async fn uname_and_per_agent_lists() {
    let sim = default_sim().await;
    let truth = sim.truth("bangwo8");
    // A customer with several sessions.
    let uname = truth
        .iter()
        .filter_map(|c| c.customer.id.clone())
        .find(|u| {
            truth
                .iter()
                .filter(|c| c.customer.id.as_ref() == Some(u))
                .count()
                > 1
        })
        .expect("a returning customer");
    let want: Vec<&str> = truth
        .iter()
        .filter(|c| c.customer.id.as_ref() == Some(&uname))
        .map(|c| c.id.as_str())
        .collect();
    let body = get_json(&sim, "bangwo8", &format!("{LIST}?uname={uname}"), BW8, 200).await;
    let got: Vec<String> = body["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| text(&c["r_id"]))
        .collect();
    assert_eq!(got, want);
    assert_eq!(body["count"], want.len());

    let agent = truth
        .iter()
        .find_map(|c| c.agent.as_ref()?.id.clone())
        .unwrap();
    let want: Vec<&str> = truth
        .iter()
        .filter(|c| c.agent.as_ref().and_then(|a| a.id.as_ref()) == Some(&agent))
        .map(|c| c.id.as_str())
        .collect();
    let path = format!("/api/v1/imchat/histories/{agent}.json?per_page=5");
    let mut got = Vec::new();
    for page in 1.. {
        let body = get_json(&sim, "bangwo8", &format!("{path}&page={page}"), BW8, 200).await;
        assert_eq!(body["count"], want.len());
        got.extend(
            body["chats"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| text(&c["r_id"])),
        );
        match body["next_page"].as_str() {
            Some(next) => assert_eq!(
                next,
                format!(
                    "https://www.bangwo8.com/api/v1/imchat/histories/{agent}.json?per_page=5&page={}",
                    page + 1
                )
            ),
            None => break,
        }
    }
    assert_eq!(got, want);
    let body = get_json(&sim, "bangwo8", "/api/v1/imchat/histories/1.json", BW8, 200).await;
    assert_eq!(body["count"], 0);
}

#[tokio::test]
async fn chat_records_page_and_filter_by_date() {
    let sim = default_sim().await;
    let truth = sim.truth("bangwo8");
    let long = truth
        .iter()
        .find(|c| c.messages.len() > 100)
        .expect("a session with hundreds of messages");
    let path = format!("/api/v1/imchat/chatrecords/{}.json", long.id);
    let p1 = get_json(&sim, "bangwo8", &path, BW8, 200).await;
    assert_eq!(p1["count"], long.messages.len());
    let first = p1["im_chatrecords"]["contents"].as_array().unwrap();
    assert_eq!(first.len(), 100);
    assert_eq!(
        p1["next_page"],
        format!(
            "https://www.bangwo8.com/api/v1/imchat/chatrecords/{}.json?per_page=100&page=2",
            long.id
        )
    );
    let mut served: Vec<Value> = first.clone();
    for page in 2.. {
        let body = get_json(&sim, "bangwo8", &format!("{path}?page={page}"), BW8, 200).await;
        served.extend(
            body["im_chatrecords"]["contents"]
                .as_array()
                .unwrap()
                .iter()
                .cloned(),
        );
        if body["next_page"].is_null() {
            break;
        }
    }
    let raws: Vec<Value> = long.messages.iter().map(|m| m.raw.to_value()).collect();
    assert_eq!(served, raws);

    let day = local(long.messages[0].sent_at.unwrap(), Shanghai).date();
    let on_day = long
        .messages
        .iter()
        .filter(|m| local(m.sent_at.unwrap(), Shanghai).date() == day)
        .count();
    let body = get_json(
        &sim,
        "bangwo8",
        &format!("{path}?time_start={day}&time_end={day}&per_page=1000"),
        BW8,
        200,
    )
    .await;
    assert_eq!(body["count"], on_day);
    let before = day - chrono::Days::new(1);
    let body = get_json(
        &sim,
        "bangwo8",
        &format!("{path}?time_start={before}&time_end={before}"),
        BW8,
        200,
    )
    .await;
    assert_eq!(body["count"], 0);
    assert_eq!(body["im_chatrecords"]["contents"], Value::Array(vec![]));

    let body = get_json(
        &sim,
        "bangwo8",
        "/api/v1/imchat/chatrecords/999999.json",
        BW8,
        404,
    )
    .await;
    assert_eq!(body["status"], "404");
}

#[tokio::test]
async fn summaries_have_three_cases() {
    let sim = default_sim().await;
    let truth = sim.truth("bangwo8");
    let mut statuses = BTreeSet::new();
    let mut multi_url = false;
    for c in truth.iter().take(40) {
        let path = format!("/api/v1/servicesummary/{}.json?servicesummary_type=1", c.id);
        let body = get_json(&sim, "bangwo8", &path, BW8, 200).await;
        let status = body["status"].as_str().unwrap().to_owned();
        match status.as_str() {
            "200" => {
                assert_eq!(body["message"], "Successful");
                let s = &body["data"]["serviceSummary"];
                let summary = c.summary.as_ref().expect("truth has the summary");
                assert_eq!(
                    s["ticketTemplateName"].as_str(),
                    summary.template.as_deref()
                );
                let fields = s["custom_fields"].as_array().unwrap();
                assert_eq!(fields.len(), summary.fields.len());
                for (f, t) in fields.iter().zip(&summary.fields) {
                    assert_eq!(f["key"], t.key.as_str());
                }
                multi_url |= fields.iter().any(|f| {
                    f["value"]
                        .as_str()
                        .is_some_and(|v| v.matches(",https://").count() >= 1)
                });
            }
            "120001" => {
                assert_eq!(
                    body,
                    serde_json::json!({"status": "120001", "message": "No service summary template"})
                );
                assert!(c.summary.is_none());
            }
            "120002" => {
                assert_eq!(
                    body,
                    serde_json::json!({"status": "120002", "message": "No service summary information"})
                );
                assert!(c.summary.is_none());
            }
            other => panic!("unexpected status {other}"),
        }
        statuses.insert(status);
    }
    assert_eq!(
        statuses,
        ["120001", "120002", "200"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    assert!(
        multi_url,
        "an attachment field with several comma-separated URLs"
    );
    get_json(
        &sim,
        "bangwo8",
        &format!("/api/v1/servicesummary/{}.json", truth[0].id),
        BW8,
        400,
    )
    .await;
}

#[tokio::test]
async fn truth_follows_the_mapping() {
    let truth: Vec<_> =
        chathaul_sim::truth(&chathaul_sim::SimOptions::default(), "bangwo8").collect();
    assert_eq!(truth.len(), 200);
    for c in &truth {
        assert_eq!(
            (c.vendor.as_str(), c.account.as_str()),
            ("bangwo8", "admin@demo")
        );
        assert!(c.messages_fetched);
        let ty = text(&c.raw.to_value()["type"]);
        match ty.as_str() {
            "5" => {
                assert_eq!(c.channel, Some(connector_core::Channel::Other("5".into())));
                assert_eq!(c.initiated_by, Some(connector_core::Party::Agent));
            }
            "4" => assert_eq!(c.channel, Some(connector_core::Channel::Bot)),
            _ => assert_eq!(c.initiated_by, Some(connector_core::Party::Customer)),
        }
        // Times are the local wall clock read in Asia/Shanghai.
        let raw = c.raw.to_value();
        let start = raw["start_time"].as_str().unwrap();
        let parsed = chrono::NaiveDateTime::parse_from_str(start, "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(local(c.created_at.unwrap(), Shanghai), parsed);
        assert!(c.messages.windows(2).all(|w| w[0].sent_at <= w[1].sent_at));
        assert_eq!(
            c.rating.as_ref().unwrap().score.as_deref(),
            Some(text(&c.raw.to_value()["evaluate"]).as_str())
        );
        let agents = c
            .messages
            .iter()
            .filter(|m| m.sender.role == connector_core::Role::Agent)
            .count() as u64;
        assert_eq!(c.metrics.agent_messages, Some(agents));
    }
    // Sessions without an end time are in the history too, closed.
    assert!(
        truth
            .iter()
            .any(|c| c.ended_at.is_none() && c.status == Some(connector_core::Status::Closed))
    );
    assert!(
        truth
            .iter()
            .any(|c| c.messages.iter().any(|m| m.text.is_none())),
        "an empty message"
    );
}

#[tokio::test]
async fn records_have_the_documented_fields_in_order() {
    let sim = default_sim().await;
    let body = get_json(&sim, "bangwo8", &format!("{LIST}?per_page=3"), BW8, 200).await;
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["chats", "count", "next_page", "previous_page"]);
    let documented = [
        "r_id",
        "type",
        "support_id",
        "support_name",
        "uname",
        "start_time",
        "end_time",
        "client_ip",
        "ip_info",
        "evaluate",
        "evaluate_time",
        "evaluate_remark",
        "end_type",
        "servicer_msg_count",
        "client_msg_count",
        "first_response",
        "contents",
    ];
    for c in body["chats"].as_array().unwrap() {
        let keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, documented);
    }
    let id = text(&body["chats"][0]["r_id"]);
    let recs = get_json(
        &sim,
        "bangwo8",
        &format!("/api/v1/imchat/chatrecords/{id}.json"),
        BW8,
        200,
    )
    .await;
    let keys: Vec<&str> = recs
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["im_chatrecords", "count", "next_page", "previous_page"]
    );
    for m in recs["im_chatrecords"]["contents"].as_array().unwrap() {
        let keys: Vec<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["spokesman", "spokesman_identity", "msg", "create_time"]
        );
    }
}
