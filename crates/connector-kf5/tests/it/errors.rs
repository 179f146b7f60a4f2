//! Errors: malformed pages end the stream naming vendor, endpoint, page and
//! field; a conversation's failed detail stands in its place; bad
//! credentials never leak; retries; the api_token form of basic auth.

use connector_core::{Connector, Error, Include, Query};
use connector_kf5::{Kf5Config, Kf5Connector};
use serde_json::json;

use crate::server::{
    EMAIL, Listing, PASSWORD, Server, basic, fast_http, fixture_details, read_fixture,
};
use crate::{pull, pull_ok};

#[tokio::test]
async fn a_malformed_created_at_ends_the_stream_naming_field_page_and_endpoint() {
    let page1 = read_fixture("chats_null_agent.json");
    let page2 = read_fixture("chats_malformed_created_at.json");
    let page3 = read_fixture("chats_rating_strings.json");
    let server = Server::builder(Listing::Pages(vec![page1, page2, page3]))
        .start()
        .await;
    let out = pull(
        &server.connector(),
        &Query {
            page_size: Some(2),
            ..Query::new()
        },
    )
    .await;
    assert_eq!(
        out.len(),
        3,
        "two chats of page 1, then the error, then nothing"
    );
    assert_eq!(out[0].as_ref().unwrap().id, "1201");
    let e = out[2].as_ref().unwrap_err();
    assert!(matches!(e, Error::Decode { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.starts_with("kf5: cannot decode /apiv2/chats.json page 2: at chats[1].created_at: expected a date-time"),
        "{text}"
    );
    assert_eq!(server.list_pages(), [1, 2]);
}

#[tokio::test]
async fn a_chat_without_id_is_a_field_error() {
    let server = Server::builder(Listing::Pages(vec![
        json!({"chats": [{"id": 1}, {"id": "", "type": "chat"}]}),
    ]))
    .start()
    .await;
    let out = pull(&server.connector(), &Query::new()).await;
    let e = out.last().unwrap().as_ref().unwrap_err().to_string();
    assert_eq!(
        e,
        "kf5: /apiv2/chats.json page 1: field `chats[1].id`: missing"
    );
}

#[tokio::test]
async fn a_failed_detail_stands_in_its_conversations_place_and_the_stream_goes_on() {
    // Chat 1 has a detail fixture; chat 2 answers 404; chat 3 carries its messages.
    let page = json!({"chats": [{"id": 1, "type": "chat"}, {"id": 2, "type": "chat"}, {"id": 3, "type": "chat", "messages": []}]});
    let server = Server::builder(Listing::Pages(vec![page]))
        .details(fixture_details())
        .start()
        .await;
    let out = pull(&server.connector(), &Query::new().with_messages(true)).await;
    assert_eq!(out.len(), 3);
    assert_eq!(out[0].as_ref().unwrap().id, "1");
    let e = out[1].as_ref().unwrap_err();
    assert!(matches!(e, Error::Api { status: 404, .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("kf5: /apiv2/chats/2.json page 0: HTTP 404"),
        "{e}"
    );
    assert_eq!(out[2].as_ref().unwrap().id, "3");
    let e = server
        .connector()
        .conversation("2", Include::NONE)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Api { status: 404, .. }), "{e:?}");
}

#[tokio::test]
async fn a_detail_for_another_chat_is_an_error() {
    let page = json!({"chats": [{"id": 7, "type": "chat"}]});
    let details = [("7".to_owned(), json!({"id": 8, "messages": []}))].into();
    let server = Server::builder(Listing::Pages(vec![page]))
        .details(details)
        .start()
        .await;
    let out = pull(&server.connector(), &Query::new().with_messages(true)).await;
    let e = out[0].as_ref().unwrap_err().to_string();
    assert_eq!(
        e,
        "kf5: /apiv2/chats/7.json page 0: field `chat.id`: is `8`, expected `7`"
    );
}

#[tokio::test]
async fn bad_credentials_are_an_authentication_error_without_the_secret() {
    let server = Server::builder(Listing::Pages(vec![]))
        .authorization(basic(EMAIL, "the-right-one"))
        .start()
        .await;
    let config = server.config();
    let c = Kf5Connector::new(config.clone()).unwrap();
    let out = pull(&c, &Query::new()).await;
    assert_eq!(out.len(), 1);
    let e = out[0].as_ref().unwrap_err();
    assert!(
        matches!(
            e,
            Error::Unauthenticated {
                vendor: "kf5",
                status: 401,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.kind(), "auth");
    let text = e.to_string();
    assert!(
        text.starts_with("kf5: authentication failed (/apiv2/chats.json, HTTP 401)"),
        "{text}"
    );
    for shown in [
        text,
        format!("{e:?}"),
        format!("{c:?}"),
        format!("{config:?}"),
    ] {
        assert!(!shown.contains(PASSWORD), "the secret leaked: {shown}");
    }
    assert_eq!(server.list_pages(), [1], "no retry on 401");
    let e = c.conversation("1", Include::NONE).await.unwrap_err();
    assert!(matches!(e, Error::Unauthenticated { .. }) && !e.to_string().contains(PASSWORD));
}

#[tokio::test]
async fn the_api_token_authenticates_as_email_slash_token() {
    let token = "tok-0123456789abcdef";
    let server = Server::builder(Listing::Pages(vec![read_fixture(
        "chats_rating_strings.json",
    )]))
    .authorization(basic(&format!("{EMAIL}/token"), token))
    .start()
    .await;
    let c = Kf5Connector::new(
        Kf5Config::new("acme", EMAIL, "unused")
            .with_api_token(token)
            .with_base_url(&server.url)
            .with_http(fast_http()),
    )
    .unwrap();
    assert_eq!(pull_ok(&c, &Query::new()).await.len(), 5);
    assert!(!format!("{c:?}").contains(token));
    // Through the registry, with the token from key/values.
    let factory = connector_core::registry::find("kf5").unwrap();
    let cfg = factory
        .resolve([
            ("base_url", server.url.as_str()),
            ("email", EMAIL),
            ("api_token", token),
            ("max_attempts", "1"),
        ])
        .unwrap();
    let c = (factory.build)(&cfg).unwrap();
    assert_eq!(c.info().account, "127.0.0.1");
    assert_eq!(pull_ok(c.as_ref(), &Query::new()).await.len(), 5);
}

#[tokio::test]
async fn server_errors_are_retried() {
    let server = Server::builder(Listing::Pages(vec![read_fixture(
        "chats_rating_strings.json",
    )]))
    .fail_first(3)
    .start()
    .await;
    let c = server.connector();
    assert_eq!(pull_ok(&c, &Query::new()).await.len(), 5);
    let stats = c.stats();
    assert_eq!(
        (stats.http.retries, stats.http.requests, stats.pages),
        (3, 4, 1),
        "one short page, after 3 failures"
    );
}

#[tokio::test]
async fn a_malformed_message_stands_in_its_conversations_place() {
    let page = read_fixture("chats_malformed_message.json");
    let server = Server::builder(Listing::Pages(vec![page])).start().await;
    let c = server.connector();
    let out = pull(&c, &Query::new().with_messages(true)).await;
    assert_eq!(out.len(), 2);
    let e = out[0].as_ref().unwrap_err().to_string();
    assert!(
        e.starts_with("kf5: cannot decode /apiv2/chats.json page 1: at chats[0].messages[1].created_at: expected a date-time"),
        "{e}"
    );
    assert_eq!(out[1].as_ref().unwrap().messages.len(), 1);
    // Without messages the chat is fine: messages are only read when asked for.
    let out = pull_ok(&c, &Query::new()).await;
    assert_eq!(out.len(), 2);
}
