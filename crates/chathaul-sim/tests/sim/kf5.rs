use std::collections::BTreeSet;

use chrono_tz::Asia::Shanghai;
use connector_core::{MessageKind, Role};
use serde_json::Value;

use crate::*;

const LIST: &str = "/apiv2/chats.json";

fn ids(body: &Value) -> Vec<u64> {
    body["chats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn auth_takes_password_or_api_token() {
    let sim = default_sim().await;
    let body = get_json(&sim, "kf5", LIST, Cred::None, 401).await;
    assert!(
        body["error"].is_string() && body["message"].is_string(),
        "{body}"
    );
    get_json(
        &sim,
        "kf5",
        LIST,
        Cred::Basic("agent@demo.kf5.com", "nope"),
        401,
    )
    .await;
    get_json(
        &sim,
        "kf5",
        LIST,
        Cred::Basic("agent@demo.kf5.com/token", "kf5-demo-password"),
        401,
    )
    .await;
    get_json(&sim, "kf5", LIST, CS, 401).await;
    get_json(&sim, "kf5", LIST, KF5, 200).await;
    get_json(
        &sim,
        "kf5",
        LIST,
        Cred::Basic("agent@demo.kf5.com/token", "kf5-demo-token"),
        200,
    )
    .await;
    let config = sim.config("kf5");
    assert_eq!(config[0], ("base_url".to_owned(), sim.base_url("kf5")));
    assert!(config.contains(&("subdomain".to_owned(), "demo".to_owned())));
    assert!(config.contains(&("email".to_owned(), "agent@demo.kf5.com".to_owned())));
    assert!(config.contains(&("password".to_owned(), "kf5-demo-password".to_owned())));
}

#[tokio::test]
async fn list_has_no_totals_and_caps_pages_at_100() {
    let sim = default_sim().await;
    let body = get_json(&sim, "kf5", LIST, KF5, 200).await;
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["chats"], "no count, no next link");
    assert_eq!(ids(&body).len(), 100);
    let big = get_json(&sim, "kf5", &format!("{LIST}?per_page=500"), KF5, 200).await;
    assert_eq!(ids(&big).len(), 100, "per_page is silently capped");
    assert_eq!(ids(&big), ids(&body));
    let page2 = get_json(
        &sim,
        "kf5",
        &format!("{LIST}?per_page=500&page=2"),
        KF5,
        200,
    )
    .await;
    assert_eq!(ids(&page2).len(), 100, "page 2 of the capped size");
    let page3 = get_json(
        &sim,
        "kf5",
        &format!("{LIST}?per_page=500&page=3"),
        KF5,
        200,
    )
    .await;
    assert!(ids(&page3).is_empty());

    // Pages of 30 until an empty page: every chat once, ascending, list items = truth raw.
    let truth = sim.truth("kf5");
    let mut all = Vec::new();
    for page in 1.. {
        let body = get_json(
            &sim,
            "kf5",
            &format!("{LIST}?per_page=30&page={page}"),
            KF5,
            200,
        )
        .await;
        let chats = body["chats"].as_array().unwrap();
        if chats.is_empty() {
            break;
        }
        for c in chats {
            assert_eq!(truth[all.len()].raw, *c);
            all.push(c["id"].as_u64().unwrap());
        }
    }
    let want: Vec<u64> = truth.iter().map(|c| c.id.parse().unwrap()).collect();
    assert!(want.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(all, want);
    get_json(&sim, "kf5", &format!("{LIST}?per_page=0"), KF5, 400).await;
}

#[tokio::test]
async fn messages_are_in_some_list_items_and_always_in_the_detail() {
    let sim = default_sim().await;
    let truth = sim.truth("kf5");
    let with = truth
        .iter()
        .filter(|c| c.raw.field("messages").is_some())
        .count();
    assert!(
        with > 20 && with < 180,
        "{with} of 200 list items carry messages"
    );
    for c in truth.iter().take(30) {
        let body = get_json(
            &sim,
            "kf5",
            &format!("/apiv2/chats/{}.json", c.id),
            KF5,
            200,
        )
        .await;
        let chat = &body["chat"];
        let messages = chat["messages"]
            .as_array()
            .expect("the detail always has messages");
        let raws: Vec<Value> = c.messages.iter().map(|m| m.raw.to_value()).collect();
        assert_eq!(*messages, raws);
        if let Some(listed) = c.raw.field("messages") {
            assert_eq!(listed, chat["messages"]);
        }
        let mut without = chat.clone();
        without.as_object_mut().unwrap().remove("messages");
        let mut raw = c.raw.to_value();
        raw.as_object_mut().unwrap().remove("messages");
        assert_eq!(without, raw);
    }
    let body = get_json(&sim, "kf5", "/apiv2/chats/1.json", KF5, 404).await;
    assert!(body["message"].as_str().unwrap().contains('1'));
}

#[tokio::test]
async fn uploads_ratings_and_roles() {
    let truth: Vec<_> = chathaul_sim::truth(&chathaul_sim::SimOptions::default(), "kf5").collect();
    let messages: Vec<_> = truth.iter().flat_map(|c| &c.messages).collect();
    let upload = messages
        .iter()
        .find(|m| m.raw.to_value()["upload"].is_object())
        .expect("an upload");
    let upload_raw = upload.raw.to_value();
    let keys: BTreeSet<&str> = upload_raw["upload"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["id", "name", "url", "size", "content_type"])
    );
    assert_eq!(
        upload.raw.to_value()["upload_id"],
        upload.raw.to_value()["upload"]["id"]
    );
    assert_eq!(upload.attachments.len(), 1);
    assert_eq!(
        upload.attachments[0].url.as_deref(),
        upload.raw.to_value()["upload"]["url"].as_str()
    );
    assert!(messages.iter().any(|m| m.raw.to_value()["upload"].is_null()
        && m.raw.to_value()["upload_id"].is_number()
        && m.attachments.is_empty()));
    let ratings: BTreeSet<String> = truth
        .iter()
        .map(|c| c.raw.to_value()["rating"].to_string())
        .collect();
    for r in ["null", "\"good\"", "\"bad\"", "\"\""] {
        assert!(ratings.contains(r), "rating {r} in {ratings:?}");
    }
    assert!(
        ratings
            .iter()
            .any(|r| !["null", "\"good\"", "\"bad\"", "\"\""].contains(&r.as_str())),
        "an odd rating"
    );
    let roles: BTreeSet<&str> = messages.iter().map(|m| m.sender.role.as_str()).collect();
    assert_eq!(roles, BTreeSet::from(["system", "unknown"]));
    assert!(
        messages
            .iter()
            .all(|m| m.sender.role != Role::System || m.kind == Some(MessageKind::Event))
    );
    assert!(
        messages
            .iter()
            .any(|m| matches!(&m.kind, Some(MessageKind::Other(k)) if k == "chat.transfer"))
    );
    assert!(messages.iter().any(|m| {
        m.text
            .as_deref()
            .is_some_and(|t| t.contains('ạ') || t.contains('ả'))
    }));
    assert!(
        messages
            .iter()
            .any(|m| m.text.as_deref().is_some_and(|t| t.contains('👍')))
    );
    assert!(
        truth
            .iter()
            .all(|c| c.channel == Some(connector_core::Channel::Web) && c.messages_fetched)
    );
    assert!(
        truth.iter().any(|c| c.messages.len() >= 100),
        "a chat with hundreds of messages"
    );
}

#[tokio::test]
async fn filters_visitor_user_and_inclusive_dates() {
    let sim = default_sim().await;
    let truth = sim.truth("kf5");
    let visitor = truth[10].customer.id.clone().unwrap();
    let want: Vec<u64> = truth
        .iter()
        .filter(|c| c.customer.id.as_ref() == Some(&visitor))
        .map(|c| c.id.parse().unwrap())
        .collect();
    let body = get_json(
        &sim,
        "kf5",
        &format!("{LIST}?visitor_id={visitor}"),
        KF5,
        200,
    )
    .await;
    assert_eq!(ids(&body), want);

    let user = truth
        .iter()
        .find_map(|c| c.customer.user_id.clone())
        .unwrap();
    let want: Vec<u64> = truth
        .iter()
        .filter(|c| c.customer.user_id.as_ref() == Some(&user))
        .map(|c| c.id.parse().unwrap())
        .collect();
    let body = get_json(&sim, "kf5", &format!("{LIST}?user_id={user}"), KF5, 200).await;
    assert_eq!(ids(&body), want);

    let day = |c: &connector_core::Conversation| local(c.created_at.unwrap(), Shanghai).date();
    let (d1, d2) = (day(&truth[100]), day(&truth[100]) + chrono::Days::new(2));
    let want: Vec<u64> = truth
        .iter()
        .filter(|c| day(c) >= d1 && day(c) <= d2)
        .map(|c| c.id.parse().unwrap())
        .collect();
    assert!(
        want.iter()
            .any(|&id| truth.iter().any(|c| c.id == id.to_string() && day(c) == d2)),
        "end day has chats"
    );
    let body = get_json(
        &sim,
        "kf5",
        &format!("{LIST}?start={d1}&end={d2}"),
        KF5,
        200,
    )
    .await;
    assert_eq!(ids(&body), want);
    get_json(&sim, "kf5", &format!("{LIST}?start=yesterday"), KF5, 400).await;
    get_json(&sim, "kf5", &format!("{LIST}?visitor_id=abc"), KF5, 400).await;
}

#[tokio::test]
async fn records_have_the_documented_fields() {
    let sim = default_sim().await;
    let truth = sim.truth("kf5");
    let body = get_json(
        &sim,
        "kf5",
        &format!("/apiv2/chats/{}.json", truth[0].id),
        KF5,
        200,
    )
    .await;
    let chat = body["chat"].as_object().unwrap();
    let keys: Vec<&str> = chat.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id",
            "type",
            "started_by",
            "status",
            "agent_id",
            "rating",
            "visitor_id",
            "user_id",
            "created_at",
            "assigned_at",
            "end_at",
            "messages"
        ]
    );
    assert_eq!(chat["type"], "chat");
    for m in chat["messages"].as_array().unwrap() {
        let keys: Vec<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "id",
                "chat_id",
                "type",
                "name",
                "msg",
                "upload_id",
                "is_read",
                "created_at",
                "upload"
            ]
        );
        assert_eq!(m["chat_id"], chat["id"]);
    }
}
