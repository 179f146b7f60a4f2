//! The JSON form of the model is a public contract: the committed JSON Schema
//! must match the types. After an intended change, regenerate it with
//! `CHATHAUL_BLESS=1 cargo test -p connector-core --test schema` and commit it.

use connector_core::model::conversation_schema;

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/schema/conversation.schema.json"
);

#[test]
fn committed_schema_matches_the_types() {
    let generated = serde_json::to_string_pretty(&conversation_schema()).unwrap() + "\n";
    if std::env::var_os("CHATHAUL_BLESS").is_some() {
        std::fs::write(PATH, &generated).unwrap();
    }
    let committed =
        std::fs::read_to_string(PATH).expect("schema/conversation.schema.json is committed");
    assert!(
        committed == generated,
        "schema/conversation.schema.json is out of date with the model types; regenerate it with \
         CHATHAUL_BLESS=1 cargo test -p connector-core --test schema, review the diff and commit it"
    );
}

#[test]
fn schema_names_the_contract_fields() {
    let s = conversation_schema();
    let props = s["properties"].as_object().unwrap();
    for field in [
        "vendor",
        "account",
        "id",
        "channel",
        "status",
        "initiated_by",
        "ended_by",
        "created_at",
        "assigned_at",
        "answered_at",
        "ended_at",
        "customer",
        "agent",
        "rating",
        "metrics",
        "summary",
        "messages_fetched",
        "messages",
        "raw",
    ] {
        assert!(props.contains_key(field), "schema lacks `{field}`");
    }
    let defs = s["$defs"].as_object().unwrap();
    let sat = serde_json::to_string(&defs["Satisfaction"]).unwrap();
    for v in ["satisfied", "neutral", "dissatisfied", "unrated"] {
        assert!(sat.contains(v), "Satisfaction lacks {v}: {sat}");
    }
    for (def, fields) in [
        (
            "Customer",
            &["id", "name", "email", "phone", "ip", "location"][..],
        ),
        ("Agent", &["id", "name", "email", "group"]),
        (
            "Metrics",
            &[
                "wait_secs",
                "first_response_secs",
                "talk_secs",
                "duration_secs",
                "agent_messages",
                "customer_messages",
            ],
        ),
        (
            "Message",
            &[
                "id",
                "sender",
                "kind",
                "text",
                "sent_at",
                "read",
                "attachments",
                "raw",
            ],
        ),
        ("Attachment", &["name", "url", "mime", "size"]),
        ("Sender", &["role", "id", "name"]),
    ] {
        let p = defs[def]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{def} has no properties"));
        for f in fields {
            assert!(p.contains_key(*f), "{def} lacks `{f}`");
        }
    }
}
