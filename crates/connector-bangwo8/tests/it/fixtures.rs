//! The vendor document's own examples (verbatim) and crafted fixtures for
//! each quirk, served over HTTP and pinned as YAML snapshots of the
//! normalized output.

use connector_core::{Channel, Connector, Include, Party, Query, Role, Satisfaction, Status};
use serde_json::json;

use crate::snap;
use crate::support::*;

const HISTORIES: &str = "/api/v1/imchat/histories.json";

fn all() -> Query {
    Query::new().with_messages(true).with_summaries(true)
}

#[tokio::test]
async fn doc_session_message_and_summary_examples() {
    let fake = Fake::default();
    let session = fixture_json("session_doc_example.json");
    let message = fixture_json("message_doc_example.json");
    fake.on(
        HISTORIES,
        Reply::json(listing(vec![session], Some(1), false)),
    )
    .on(
        "/api/v1/imchat/chatrecords/122.json",
        Reply::json(records("122", vec![message], Some(1), false)),
    )
    .on(
        "/api/v1/servicesummary/122.json",
        Reply::json(fixture("summary_doc_example_200.json")),
    );
    let c = connector(&fake.start().await);
    let got = pull_ok(&c, &all()).await;
    assert_eq!(got.len(), 1);
    let s = &got[0];
    assert_eq!(s.id, "122");
    assert_eq!(s.channel, Some(Channel::Web));
    assert_eq!(s.initiated_by, Some(Party::Customer));
    assert_eq!(s.status, Some(Status::Closed));
    assert_eq!(s.ended_by, Some(Party::Customer));
    // 2017-8-23 12:23:12 in Shanghai is 04:23:12 UTC.
    assert_eq!(
        s.created_at.unwrap().to_rfc3339(),
        "2017-08-23T04:23:12+00:00"
    );
    assert_eq!(s.agent.as_ref().unwrap().name.as_deref(), Some("张三"));
    assert_eq!(s.customer.location.as_deref(), Some("归属地为北京市"));
    let rating = s.rating.as_ref().unwrap();
    assert_eq!(
        (
            rating.satisfaction,
            rating.score.as_deref(),
            rating.comment.as_deref()
        ),
        (Satisfaction::Satisfied, Some("1"), Some("服务态度很好"))
    );
    assert_eq!(
        (
            s.metrics.first_response_secs,
            s.metrics.agent_messages,
            s.metrics.customer_messages
        ),
        (Some(34), Some(23), Some(25))
    );
    assert_eq!(s.messages.len(), 1);
    assert_eq!(s.messages[0].sender.role, Role::Customer);
    assert_eq!(
        s.messages[0].sender.id.as_deref(),
        Some("u2_6_412696422494")
    );
    let summary = s.summary.as_ref().unwrap();
    assert_eq!(summary.template.as_deref(), Some("im服务总结模板"));
    let keys: Vec<_> = summary.fields.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(keys, ["field_1", "field_3", "field_2", "field_4"]);
    assert_eq!(s.raw, fixture_json("session_doc_example.json"));
    snap!("doc_session_message_summary", &got);
}

#[tokio::test]
async fn doc_histories_example_pages_on_the_configured_host() {
    let fake = Fake::default();
    fake.on(
        HISTORIES,
        Reply::json(fixture("histories_doc_example_elisions_removed.json")),
    )
    .on_page(HISTORIES, 2, Reply::json(empty_listing()));
    let c = connector(&fake.start().await);
    let got = pull_ok(&c, &Query::new()).await;
    let ids: Vec<_> = got.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["111", "112"]);
    assert_eq!(got[0].channel, Some(Channel::App));
    // The next link points at www.bangwo8.com: page 2 was asked of our server instead.
    assert_eq!(
        fake.requests(),
        [
            format!("{HISTORIES}?page=1&per_page=100"),
            format!("{HISTORIES}?page=2&per_page=100")
        ]
    );
    // The vendor said 42 and sent 2: the counters say so.
    let stats = c.stats();
    assert_eq!(
        (stats.pages, stats.listed, stats.reported_total),
        (2, 2, Some(42))
    );
    assert_eq!(
        stats.shortfalls,
        ["/api/v1/imchat/histories.json: the vendor reported 42 records, 2 were listed"]
    );
    snap!("doc_histories", &got);
}

#[tokio::test]
async fn doc_agent_histories_example() {
    let fake = Fake::default();
    let path = "/api/v1/imchat/histories/12323.json";
    fake.on(
        path,
        Reply::json(fixture("histories_agent_doc_example_elisions_removed.json")),
    )
    .on_page(path, 2, Reply::json(empty_listing()));
    let c = connector(&fake.start().await);
    // The example's records carry no support_id, so the exact filter keeps none
    // of them: what matters here is that the agent's own listing was asked for.
    let q = Query {
        agent: Some("12323".into()),
        ..Query::new()
    };
    let got = pull_ok(&c, &q).await;
    assert!(got.is_empty());
    assert_eq!(
        fake.requests(),
        [
            format!("{path}?page=1&per_page=100"),
            format!("{path}?page=2&per_page=100")
        ]
    );
    assert_eq!(c.stats().listed, 2);
}

#[tokio::test]
async fn doc_chatrecords_example() {
    let fake = Fake::default();
    let records_path = "/api/v1/imchat/chatrecords/221.json";
    fake.on(
        HISTORIES,
        Reply::json(listing(
            vec![json!({"r_id": "221", "type": "2"})],
            Some(1),
            false,
        )),
    )
    .on(
        records_path,
        Reply::json(fixture("chatrecords_doc_example_elisions_removed.json")),
    )
    .on_page(
        records_path,
        2,
        Reply::json(records("221", vec![], Some(42), false)),
    );
    let c = connector(&fake.start().await);
    let got = pull_ok(&c, &Query::new().with_messages(true)).await;
    let m = &got[0].messages;
    assert_eq!(m.len(), 2);
    assert!(got[0].messages_fetched);
    assert_eq!(m[0].sender.role, Role::Agent);
    assert_eq!(
        (m[0].sender.id.as_deref(), m[0].sender.name.as_deref()),
        (None, Some("213"))
    );
    assert_eq!(m[1].sender.name.as_deref(), Some("234"));
    assert_eq!(
        m[0].sent_at.unwrap().to_rfc3339(),
        "2017-08-23T05:12:23+00:00"
    );
    let stats = c.stats();
    assert_eq!((stats.messages, stats.reported_messages), (2, Some(42)));
    assert_eq!(
        stats.shortfalls,
        ["conversation 221: the vendor reported 42 messages, 2 were fetched"]
    );
    snap!("doc_chatrecords", &got);
}

#[tokio::test]
async fn doc_summary_examples_200_120001_120002() {
    let fake = Fake::default();
    let chats = (1..=3).map(|i| json!({"r_id": i, "type": 2})).collect();
    fake.on(HISTORIES, Reply::json(listing(chats, Some(3), false)))
        .on(
            "/api/v1/servicesummary/1.json",
            Reply::json(fixture("summary_doc_example_200.json")),
        )
        .on(
            "/api/v1/servicesummary/2.json",
            Reply::json(fixture("summary_doc_example_120001.json")),
        )
        .on(
            "/api/v1/servicesummary/3.json",
            Reply::json(fixture("summary_doc_example_120002.json")),
        );
    let c = connector(&fake.start().await);
    let got = pull_ok(&c, &Query::new().with_summaries(true)).await;
    assert_eq!(got.len(), 3);
    let s = got[0].summary.as_ref().unwrap();
    assert_eq!(s.fields.len(), 4);
    assert_eq!(s.fields[3].value.as_deref(), Some("附件的下载地址"));
    assert_eq!(got[1].summary, None);
    assert_eq!(got[2].summary, None);
    assert!(got.iter().all(|c| !c.messages_fetched));
    for r in fake
        .requests()
        .iter()
        .filter(|r| r.contains("servicesummary"))
    {
        assert!(r.ends_with(".json?servicesummary_type=1"), "{r}");
    }
    let summaries: Vec<_> = got
        .iter()
        .map(|c| (c.id.clone(), c.summary.clone()))
        .collect();
    snap!("doc_summaries", &summaries);
}

#[tokio::test]
async fn quirks_mixed_numbers_unpadded_dates_empty_strings_unknown_codes() {
    let fake = Fake::default();
    fake.on(HISTORIES, Reply::json(fixture("histories_quirks.json")))
        .on(
            "/api/v1/imchat/chatrecords/301.json",
            Reply::json(fixture("chatrecords_quirks.json")),
        )
        .on(
            "/api/v1/imchat/chatrecords/302.json",
            Reply::json(fixture("chatrecords_empty_array.json")),
        )
        .on(
            "/api/v1/imchat/chatrecords/303.json",
            Reply::json(r#"{"im_chatrecords": null, "count": 0, "next_page": null}"#),
        )
        .on(
            "/api/v1/imchat/chatrecords/304.json",
            Reply::json(records("304", vec![], Some(0), false)),
        );
    let c = connector(&fake.start().await);
    let got = pull_ok(&c, &Query::new().with_messages(true)).await;
    let ids: Vec<_> = got.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["301", "302", "303", "304"]);
    let [a, b, d, e] = &got[..] else {
        unreachable!()
    };
    // Integers as numbers, unpadded dates.
    assert_eq!(a.agent.as_ref().unwrap().id.as_deref(), Some("2321"));
    assert_eq!(
        a.created_at.unwrap().to_rfc3339(),
        "2017-08-03T01:05:07+00:00"
    );
    assert_eq!(
        a.rating.as_ref().unwrap().rated_at.unwrap().to_rfc3339(),
        "2017-08-03T01:36:01+00:00"
    );
    assert_eq!(
        (a.rating.as_ref().unwrap().satisfaction, a.ended_by.clone()),
        (Satisfaction::Dissatisfied, Some(Party::Agent))
    );
    assert_eq!(a.metrics.first_response_secs, Some(0));
    // Empty strings are absent; type 5 (agent-initiated) is kept as the
    // vendor's own channel value; a history session is closed even without
    // an end time.
    assert_eq!(
        (b.channel.clone(), b.initiated_by.clone(), b.status.clone()),
        (
            Some(Channel::Other("5".into())),
            Some(Party::Agent),
            Some(Status::Closed)
        )
    );
    assert_eq!(
        (
            b.customer.id.clone(),
            b.customer.ip.clone(),
            b.ended_by.clone()
        ),
        (None, None, None)
    );
    assert_eq!(b.agent.as_ref().unwrap().name, None);
    assert_eq!(b.rating.as_ref().unwrap().score.as_deref(), Some("0"));
    assert_eq!(b.metrics.agent_messages, None);
    // Unknown type, evaluate and end_type values are kept, never errors.
    assert_eq!(d.channel, Some(Channel::Other("9".into())));
    assert_eq!(d.initiated_by, None);
    assert_eq!(d.ended_by, Some(Party::Other("3".into())));
    let r = d.rating.as_ref().unwrap();
    assert_eq!(
        (r.satisfaction, r.score.as_deref(), r.comment.as_deref()),
        (Satisfaction::Unrated, Some("7"), None)
    );
    assert_eq!(d.agent, None);
    assert!(d.agents.is_empty());
    // A record without `type` and with a field the docs do not name.
    assert_eq!((e.channel.clone(), e.initiated_by.clone()), (None, None));
    assert_eq!(
        e.raw.to_value()["new_field_not_in_the_docs"]["kept"],
        "in raw"
    );
    // Messages: time order, vendor order for equal times, a numeric spokesman,
    // unknown and missing identities, a message without a time last.
    let texts: Vec<_> = a
        .messages
        .iter()
        .map(|m| m.text.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        texts,
        [
            "猜您想问:如何退款",
            "你好,在吗?",
            "您好,请问有什么可以帮您 🙂",
            "会话已转接",
            "",
            "Cảm ơn bạn"
        ]
    );
    let roles: Vec<_> = a.messages.iter().map(|m| m.sender.role.clone()).collect();
    assert_eq!(
        roles,
        [
            Role::Bot,
            Role::Customer,
            Role::Agent,
            Role::Other("4".into()),
            Role::Unknown,
            Role::Customer
        ]
    );
    assert_eq!(a.messages[2].sender.name.as_deref(), Some("2321"));
    assert_eq!(a.messages[5].sent_at, None);
    // Sessions without messages: fetched, and empty.
    assert!(
        b.messages_fetched && b.messages.is_empty() && d.messages_fetched && e.messages_fetched
    );
    assert_eq!(c.stats().reported_total, Some(4));
    assert!(
        c.stats().shortfalls.is_empty(),
        "{:?}",
        c.stats().shortfalls
    );
    snap!("quirks", &got);
}

/// A pull with summaries of three sessions (`r_id` 1, 2, 3) whose summary
/// endpoints answer with these fixtures.
async fn with_summaries(
    fixtures: [&str; 3],
) -> Vec<Result<connector_core::Conversation, connector_core::Error>> {
    let fake = Fake::default();
    let chats = (1..=3)
        .map(|i| json!({"r_id": i.to_string(), "type": 2}))
        .collect();
    fake.on(HISTORIES, Reply::json(listing(chats, Some(3), false)));
    for (i, name) in fixtures.iter().enumerate() {
        fake.on(
            &format!("/api/v1/servicesummary/{}.json", i + 1),
            Reply::json(fixture(name)),
        );
    }
    let c = connector(&fake.start().await);
    pull(&c, &Query::new().with_summaries(true)).await
}

#[tokio::test]
async fn summary_numbers_attachments_and_other_status() {
    let got = with_summaries([
        "summary_numbers_and_attachments.json",
        "summary_other_status.json",
        "summary_doc_example_120002.json",
    ])
    .await;
    assert_eq!(
        got.len(),
        3,
        "an error about one session's summary takes its place; the stream goes on"
    );
    let first = got[0].as_ref().unwrap();
    let fields = &first.summary.as_ref().unwrap().fields;
    assert_eq!(fields[0].value.as_deref(), Some("4334"));
    assert_eq!(fields[1].value, None);
    assert_eq!(
        fields[2].value.as_deref(),
        Some("https://www.bangwo8.com/a/1.png,https://www.bangwo8.com/a/2.pdf")
    );
    let err = got[1].as_ref().unwrap_err();
    assert_eq!(
        err.to_string(),
        "bangwo8: /api/v1/servicesummary/2.json page 0: HTTP 200 code 100003: 会话不存在"
    );
    assert!(matches!(err, connector_core::Error::Api { code: Some(code), .. } if code == "100003"));
    assert_eq!(got[2].as_ref().unwrap().summary, None);
    snap!("summary_numbers_and_attachments", &first.summary);
}

/// Summaries as a PHP server may shape them: `custom_fields` as an object
/// keyed by index (or `{}` when empty), a checkbox's values as an array, a
/// region as an object, `data: []` beside a "no summary" status.
#[tokio::test]
async fn summaries_shaped_by_php_are_read() {
    let got = with_summaries([
        "summary_php_shapes.json",
        "summary_empty_php_arrays.json",
        "summary_120002_data_empty_array.json",
    ])
    .await;
    let got: Vec<_> = got.into_iter().map(|r| r.unwrap()).collect();
    let first = got[0].summary.as_ref().unwrap();
    let fields: Vec<_> = first
        .fields
        .iter()
        .map(|f| (f.key.as_str(), f.value.as_deref()))
        .collect();
    assert_eq!(
        fields,
        [
            ("field_2", Some(r#"["1","3"]"#)),
            ("field_3", Some(r#"{"province":"广东","city":"深圳"}"#)),
            ("field_6", Some("true")),
        ]
    );
    let second = got[1].summary.as_ref().unwrap();
    assert_eq!(
        (second.template.as_deref(), second.fields.len()),
        (Some("空模板"), 0)
    );
    assert_eq!(got[2].summary, None);
}

#[tokio::test]
async fn one_conversation_by_id_walks_the_listing() {
    let fake = Fake::default();
    let chats = (1..=3).map(|i| json!({"r_id": i, "type": 2})).collect();
    fake.on(HISTORIES, Reply::json(listing(chats, Some(5), true)))
        .on_page(
            HISTORIES,
            2,
            Reply::json(listing(
                vec![json!({"r_id": 4}), json!({"r_id": 6})],
                Some(5),
                false,
            )),
        )
        .on(
            "/api/v1/imchat/chatrecords/4.json",
            Reply::json(fixture("chatrecords_empty_array.json")),
        );
    let c = connector(&fake.start().await);
    let four = c
        .conversation(
            "4",
            Include {
                messages: true,
                summaries: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(four.id, "4");
    assert!(four.messages_fetched);
    let e = c.conversation("5", Include::NONE).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "bangwo8: /api/v1/imchat/histories.json page 0: HTTP 404: no session with r_id `5` in the listing"
    );
}
