//! The vendor document's examples (verbatim) and crafted quirk fixtures,
//! served over HTTP; the normalized output is pinned with YAML snapshots.

use connector_core::{Connector, Include, MessageKind, Query, Role, Satisfaction};
use serde_json::Value;

use crate::server::{Listing, Server, fixture_details, fixtures_dir, read_fixture};
use crate::{pull, pull_ok, render};

/// The fixture file names, sorted.
fn fixture_names(keep: impl Fn(&str) -> bool) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json") && keep(n))
        .collect();
    names.sort();
    names
}

/// Each listing fixture (`chats_*.json`, not the `chats_id_*` details) served
/// as page 1, pulled with messages: items without `messages` get theirs from
/// the detail fixtures; an error stands in its conversation's place.
#[tokio::test]
async fn listing_fixtures() {
    let settings = settings();
    let names = fixture_names(|n| n.starts_with("chats_") && !n.starts_with("chats_id_"));
    assert!(names.len() >= 8, "{names:?}");
    for name in names {
        let server = Server::builder(Listing::Pages(vec![read_fixture(&name)]))
            .details(fixture_details())
            .start()
            .await;
        let out = pull(&server.connector(), &Query::new().with_messages(true)).await;
        settings.bind(|| insta::assert_yaml_snapshot!(format!("listing__{name}"), render(&out)));
    }
}

/// Each detail fixture (`chats_id_*.json` and the bare `chat_*.json` records,
/// which the server wraps in `{"chat": ...}`) fetched with `conversation(id)`.
#[tokio::test]
async fn detail_fixtures() {
    let settings = settings();
    let names = fixture_names(|n| n.starts_with("chats_id_") || n.starts_with("chat_"));
    assert!(names.len() >= 4, "{names:?}");
    let server = Server::builder(Listing::Pages(vec![]))
        .details(fixture_details())
        .start()
        .await;
    let c = server.connector();
    for name in names {
        let doc = read_fixture(&name);
        let chat = if name.starts_with("chats_id_") {
            &doc["chat"]
        } else {
            &doc
        };
        let id = match &chat["id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let got = c
            .conversation(
                &id,
                Include {
                    messages: true,
                    summaries: false,
                },
            )
            .await
            .unwrap();
        // `raw` is the record as it came, messages included, whether the
        // messages are pulled or not.
        assert_eq!(&got.raw, chat, "raw is the detail's chat record");
        let without = c.conversation(&id, Include::default()).await.unwrap();
        assert_eq!(&without.raw, chat, "raw is the detail's chat record");
        settings.bind(|| {
            insta::assert_yaml_snapshot!(
                format!("detail__{name}"),
                connector_testkit::snapshot_value(&got)
            )
        });
    }
}

/// The chat example of the docs, checked by hand beside its snapshot.
#[tokio::test]
async fn doc_chat_example_maps_as_documented() {
    let server = Server::builder(Listing::Pages(vec![]))
        .details(fixture_details())
        .start()
        .await;
    let connector = server.connector();
    let c = connector
        .conversation(
            "290",
            Include {
                messages: true,
                summaries: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (c.vendor.as_str(), c.account.as_str(), c.id.as_str()),
        ("kf5", "acme", "290")
    );
    assert_eq!(c.channel.as_ref().map(|c| c.as_str()), Some("web"));
    assert_eq!(c.status.as_ref().map(|s| s.as_str()), Some("closed"));
    assert_eq!(
        c.initiated_by.as_ref().map(|p| p.as_str()),
        Some("customer")
    );
    assert_eq!(c.agent.as_ref().and_then(|a| a.id.as_deref()), Some("2192"));
    assert_eq!(
        (c.customer.id.as_deref(), c.customer.user_id.as_deref()),
        (Some("547"), Some("45190"))
    );
    // 08:04:12 in Shanghai (UTC+8).
    assert_eq!(
        c.created_at.unwrap().to_rfc3339(),
        "2015-04-25T00:04:12+00:00"
    );
    assert_eq!(
        c.ended_at.unwrap().to_rfc3339(),
        "2015-04-30T01:55:01+00:00"
    );
    assert_eq!(
        c.rating.as_ref().map(|r| (r.satisfaction, r.score.clone())),
        Some((Satisfaction::Unrated, None))
    );
    assert!(c.messages_fetched);
    let m: Vec<_> = c
        .messages
        .iter()
        .map(|m| {
            (
                m.id.as_deref(),
                m.kind.clone(),
                m.sender.role.clone(),
                m.text.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        m,
        [
            (
                Some("2619"),
                Some(MessageKind::Event),
                Role::Unknown,
                Some("你好")
            ),
            (
                Some("2620"),
                Some(MessageKind::Text),
                Role::Unknown,
                Some("你好,在吗?")
            ),
        ]
    );
    assert_eq!(connector.stats().messages, 2);
}

/// The quirks, checked by hand beside their snapshots.
#[tokio::test]
async fn quirks_map_as_documented() {
    let serve = |name: &str| {
        Server::builder(Listing::Pages(vec![read_fixture(name)]))
            .details(fixture_details())
            .start()
    };
    let q = Query::new().with_messages(true);

    let s = serve("chats_rating_strings.json").await;
    let got = pull_ok(&s.connector(), &q).await;
    let ratings: Vec<_> = got
        .iter()
        .map(|c| c.rating.clone().map(|r| (r.satisfaction, r.score)))
        .collect();
    let r = |s: Satisfaction, score: Option<&str>| Some((s, score.map(str::to_owned)));
    assert_eq!(
        ratings,
        [
            r(Satisfaction::Satisfied, Some("good")),
            r(Satisfaction::Dissatisfied, Some("bad")),
            r(Satisfaction::Unrated, Some("非常满意")),
            r(Satisfaction::Unrated, Some("5")),
            r(Satisfaction::Unrated, None),
        ]
    );

    let s = serve("chats_ids_as_strings.json").await;
    let got = pull_ok(&s.connector(), &q).await;
    assert_eq!(got[0].id, "1401");
    assert_eq!(got[0].status.as_ref().map(|s| s.as_str()), Some("chatting"));
    // Unpadded dates, and messages sorted by time whatever the vendor order.
    let ids: Vec<_> = got[0]
        .messages
        .iter()
        .map(|m| m.id.clone().unwrap())
        .collect();
    assert_eq!(ids, ["5401", "5402"]);
    assert_eq!(
        got[0].messages[0].sent_at.unwrap().to_rfc3339(),
        "2020-03-06T01:05:07+00:00"
    );

    let s = serve("chats_unknown_message_type.json").await;
    let got = pull_ok(&s.connector(), &q).await;
    let kinds: Vec<_> = got[0]
        .messages
        .iter()
        .map(|m| (m.kind.clone(), m.sender.role.clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            (Some(MessageKind::Event), Role::System),
            (
                Some(MessageKind::Other("chat.transfer".into())),
                Role::Unknown
            ),
            (
                Some(MessageKind::Other("chat.rating".into())),
                Role::Unknown
            )
        ]
    );

    let s = serve("chats_upload_object.json").await;
    let got = pull_ok(&s.connector(), &q).await;
    let files: Vec<_> = got[0]
        .messages
        .iter()
        .map(|m| m.attachments.clone())
        .collect();
    assert_eq!(files[0][0].name.as_deref(), Some("截图.png"));
    assert_eq!(
        (files[0][0].size, files[0][0].mime.as_deref()),
        (Some(20480), Some("image/png"))
    );
    assert_eq!(
        files[1][0].url.as_deref(),
        Some("https://acme.kf5.com/attachments/download/78/")
    );
    assert_eq!(
        (files[1][0].size, files[1][0].mime.as_deref()),
        (Some(1_048_576), Some("application/pdf"))
    );
    assert!(files[2].is_empty(), "a bare upload_id makes no attachment");
    assert_eq!(got[0].messages[2].raw.to_value()["upload_id"], 79);

    let s = serve("chats_null_agent.json").await;
    let got = pull_ok(&s.connector(), &q).await;
    assert!(got.iter().all(|c| c.agent.is_none() && c.agents.is_empty()));
    assert_eq!(
        (
            got[1].assigned_at,
            got[1].ended_at,
            got[1].customer.user_id.clone()
        ),
        (None, None, None)
    );
    assert!(got[1].messages_fetched && got[1].messages.is_empty());

    let s = serve("chats_without_messages.json").await;
    let c = s.connector();
    let got = pull_ok(&c, &q).await;
    assert_eq!(
        got.iter().map(|c| c.messages.len()).collect::<Vec<_>>(),
        [3, 1]
    );
    // `raw` stays the list item, without the detail's messages.
    assert!(got[0].raw.field("messages").is_none());
    let details: Vec<_> = s
        .log()
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.starts_with("/apiv2/chats/"))
        .collect();
    assert_eq!(details.len(), 2, "{details:?}");
    let stats = c.stats();
    assert_eq!(
        (stats.listed, stats.messages, stats.reported_total),
        (2, 4, None)
    );
    // Without messages, no detail is fetched.
    let s = serve("chats_without_messages.json").await;
    let got = pull_ok(&s.connector(), &Query::new()).await;
    assert!(got.iter().all(|c| !c.messages_fetched));
    assert!(s.log().iter().all(|(p, _)| p == "/apiv2/chats.json"));
}

/// The shared snapshot settings, with the snapshots in `tests/snapshots/`.
fn settings() -> insta::Settings {
    let mut s = connector_testkit::snapshot_settings();
    s.set_snapshot_path("../snapshots");
    s
}
