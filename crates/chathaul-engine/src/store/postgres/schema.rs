//! The tables in Postgres and their versions: a list of migrations, each
//! applied once, in order, in the transaction that opens the database.
//!
//! A migration's SQL is frozen once released (a later change is a new
//! migration); a test checks that the tables the list builds have exactly
//! the columns of [`crate::columns`].

use crate::columns::{CONVERSATION_COLUMNS, Kind, MESSAGE_COLUMNS};

/// One step of the schema.
pub(crate) struct Migration {
    /// The version the database has after it.
    pub version: u32,
    /// What it does (for errors and logs).
    pub what: &'static str,
    /// Its statements, run with the search path set to chathaul's schema.
    pub sql: &'static str,
}

/// The schema version this build writes: the one every backend writes.
pub const SCHEMA_VERSION: u32 = crate::store::SCHEMA_VERSION;

/// Every migration, in order; the last one's version is [`SCHEMA_VERSION`].
/// Postgres came with version 3 (change tracking, nothing stored twice), so
/// its first migration builds that version at once.
pub(crate) static MIGRATIONS: &[Migration] = &[
    Migration {
        version: 3,
        what: "conversations, messages, the conversations_json view, sync_state with change tracking, revisits, seen, rejects",
        sql: V3,
    },
    Migration {
        version: 4,
        what: "a message's kind may be absent (messages.kind nullable)",
        sql: V4,
    },
];

/// Version 4: a message whose vendor does not say what it is (a KF5
/// message without `type`) has no kind.
const V4: &str = "ALTER TABLE messages ALTER COLUMN kind DROP NOT NULL;";

const V3: &str = r#"
CREATE TABLE chathaul_meta (key text PRIMARY KEY, value text NOT NULL);
INSERT INTO chathaul_meta (key, value) VALUES ('application', 'chathaul'), ('schema_version', '0');

CREATE TABLE conversations (
    vendor text NOT NULL,
    account text NOT NULL,
    id text NOT NULL,
    channel text,
    status text,
    initiated_by text,
    ended_by text,
    created_at timestamptz,
    assigned_at timestamptz,
    answered_at timestamptz,
    ended_at timestamptz,
    customer_id text,
    customer_name text,
    customer_email text,
    customer_phone text,
    customer_ip text,
    customer_location text,
    customer_user_id text,
    agent_id text,
    agent_name text,
    agent_email text,
    agent_group text,
    agents jsonb NOT NULL,
    rating_satisfaction text,
    rating_score text,
    rating_comment text,
    rated_at timestamptz,
    wait_secs bigint,
    first_response_secs bigint,
    talk_secs bigint,
    duration_secs bigint,
    agent_messages bigint,
    customer_messages bigint,
    summary_template text,
    summary_fields jsonb,
    ticket_id text,
    ticket_number text,
    landing_page text,
    referrer text,
    messages_fetched boolean NOT NULL,
    message_count bigint NOT NULL,
    raw jsonb NOT NULL,
    synced_at timestamptz NOT NULL,
    PRIMARY KEY (vendor, account, id)
);
CREATE INDEX conversations_created ON conversations (vendor, account, created_at);

CREATE TABLE messages (
    vendor text NOT NULL,
    account text NOT NULL,
    conversation_id text NOT NULL,
    seq bigint NOT NULL,
    id text,
    sender_role text NOT NULL,
    sender_id text,
    sender_name text,
    kind text NOT NULL,
    text text,
    sent_at timestamptz,
    read boolean,
    attachments jsonb NOT NULL,
    raw jsonb NOT NULL,
    PRIMARY KEY (vendor, account, conversation_id, seq)
);

CREATE TABLE sync_state (
    source text PRIMARY KEY,
    vendor text NOT NULL,
    account text NOT NULL,
    cursor timestamptz,
    newest_seen timestamptz,
    last_window_since timestamptz,
    last_run_started timestamptz,
    last_run_finished timestamptz,
    last_status text NOT NULL,
    last_error text,
    rows_fetched bigint NOT NULL DEFAULT 0,
    messages_fetched bigint NOT NULL DEFAULT 0,
    reported_total bigint,
    reported_messages bigint,
    shortfalls jsonb NOT NULL DEFAULT '[]',
    -- change tracking: which time the cursor follows, the creation-time
    -- cursor, the last full re-read, the learned rate, the run's estimates
    cursor_field text NOT NULL DEFAULT 'created',
    created_cursor timestamptz,
    last_full_refresh timestamptz,
    learned_rate float8,
    per_day float8,
    changed_share float8,
    expired_total bigint NOT NULL DEFAULT 0,
    longest_secs bigint,
    last_run jsonb
);

-- What can still change, per source: revisited by each run until final or expired.
CREATE TABLE revisits (
    source text NOT NULL,
    vendor text NOT NULL,
    account text NOT NULL,
    id text NOT NULL,
    reason text NOT NULL,
    created_at timestamptz,
    ended_at timestamptz,
    first_seen timestamptz NOT NULL,
    last_checked timestamptz NOT NULL,
    checks bigint NOT NULL DEFAULT 0,
    digest text NOT NULL DEFAULT '',
    PRIMARY KEY (source, id)
);

-- The final conversations within the next run's look-back, per source: one
-- listed again exactly as stored (the same digest) is not fetched again.
CREATE TABLE seen (
    source text NOT NULL,
    id text NOT NULL,
    at timestamptz,
    created_at timestamptz,
    digest text NOT NULL,
    PRIMARY KEY (source, id)
);

-- Records set aside because they could not be decoded (raw: the text as
-- sent, which need not be JSON). The same record again is counted on its row.
CREATE TABLE rejects (
    source text NOT NULL,
    vendor text NOT NULL,
    account text NOT NULL,
    endpoint text NOT NULL,
    page bigint NOT NULL,
    path text NOT NULL,
    conversation_id text,
    error text NOT NULL,
    raw text NOT NULL,
    raw_digest text NOT NULL,
    first_seen timestamptz NOT NULL,
    last_seen timestamptz NOT NULL,
    times bigint NOT NULL DEFAULT 1,
    PRIMARY KEY (source, endpoint, raw_digest)
);

-- An instant as the JSON contract writes it: UTC, `Z`, whole seconds unless
-- there is a fraction (then milliseconds, or microseconds when needed).
CREATE FUNCTION instant_text(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN t IS NULL THEN NULL
        WHEN extract(microseconds FROM t)::bigint % 1000000 = 0
            THEN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
        WHEN extract(microseconds FROM t)::bigint % 1000 = 0
            THEN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
        ELSE to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    END
$$;

-- Each conversation in the JSON contract (as `pull` writes JSONL), built
-- from the columns and the messages: nothing is stored twice.
CREATE VIEW conversations_json AS
SELECT c.vendor, c.account, c.id, jsonb_build_object(
    'vendor', c.vendor,
    'account', c.account,
    'id', c.id,
    'channel', c.channel,
    'status', c.status,
    'initiated_by', c.initiated_by,
    'ended_by', c.ended_by,
    'created_at', instant_text(c.created_at),
    'assigned_at', instant_text(c.assigned_at),
    'answered_at', instant_text(c.answered_at),
    'ended_at', instant_text(c.ended_at),
    'customer', jsonb_build_object(
        'id', c.customer_id, 'name', c.customer_name, 'email', c.customer_email,
        'phone', c.customer_phone, 'ip', c.customer_ip, 'location', c.customer_location,
        'user_id', c.customer_user_id),
    'agent', CASE WHEN num_nonnulls(c.agent_id, c.agent_name, c.agent_email, c.agent_group) = 0
        THEN NULL
        ELSE jsonb_build_object('id', c.agent_id, 'name', c.agent_name, 'email', c.agent_email,
                                'group', c.agent_group) END,
    'agents', c.agents,
    'rating', CASE WHEN c.rating_satisfaction IS NULL THEN NULL
        ELSE jsonb_build_object('satisfaction', c.rating_satisfaction, 'score', c.rating_score,
                                'comment', c.rating_comment, 'rated_at', instant_text(c.rated_at)) END,
    'metrics', jsonb_build_object(
        'wait_secs', c.wait_secs, 'first_response_secs', c.first_response_secs,
        'talk_secs', c.talk_secs, 'duration_secs', c.duration_secs,
        'agent_messages', c.agent_messages, 'customer_messages', c.customer_messages),
    'summary', CASE WHEN c.summary_template IS NULL AND c.summary_fields IS NULL THEN NULL
        ELSE jsonb_build_object('template', c.summary_template,
                                'fields', coalesce(c.summary_fields, '[]'::jsonb)) END,
    'ticket', CASE WHEN c.ticket_id IS NULL AND c.ticket_number IS NULL THEN NULL
        ELSE jsonb_build_object('id', c.ticket_id, 'number', c.ticket_number) END,
    'landing_page', c.landing_page,
    'referrer', c.referrer,
    'messages_fetched', c.messages_fetched,
    'messages', coalesce((
        SELECT jsonb_agg(jsonb_build_object(
            'id', m.id,
            'sender', jsonb_build_object('role', m.sender_role, 'id', m.sender_id, 'name', m.sender_name),
            'kind', m.kind,
            'text', m.text,
            'sent_at', instant_text(m.sent_at),
            'read', m.read,
            'attachments', m.attachments,
            'raw', m.raw) ORDER BY m.seq)
        FROM messages m
        WHERE m.vendor = c.vendor AND m.account = c.account AND m.conversation_id = c.id
    ), '[]'::jsonb),
    'raw', c.raw
) AS conversation
FROM conversations c;
"#;

/// The name of a column in Postgres: a JSON column is `jsonb` and loses
/// the `_json` its text form has elsewhere (`raw_json` → `raw`).
pub(crate) fn column_name(name: &'static str, kind: Kind) -> &'static str {
    match kind {
        Kind::Json => name.strip_suffix("_json").unwrap_or(name),
        _ => name,
    }
}

/// The Postgres type of a column.
pub(crate) fn column_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "text",
        Kind::UInt => "bigint",
        Kind::Bool => "boolean",
        Kind::Time => "timestamptz",
        Kind::Json => "jsonb",
    }
}

/// The conversations table's columns in Postgres, in order (without `synced_at`).
pub(crate) fn conversation_columns() -> Vec<(&'static str, Kind)> {
    CONVERSATION_COLUMNS
        .iter()
        .map(|c| (column_name(c.name, c.kind), c.kind))
        .collect()
}

/// The messages table's columns in Postgres, in order.
pub(crate) fn message_columns() -> Vec<(&'static str, Kind)> {
    MESSAGE_COLUMNS
        .iter()
        .map(|c| (column_name(c.name, c.kind), c.kind))
        .collect()
}

#[cfg(test)]
mod tests {
    use chathaul_test_postgres::PostgresServer;
    use connector_core::{Conversation, Message, MessageKind, RawJson, Role, Sender};

    use super::*;
    use crate::store::SyncStore;
    use crate::store::postgres::{PostgresStore, PostgresUrl};

    fn message(seq: u32, kind: Option<MessageKind>) -> Message {
        Message {
            id: Some(format!("m{seq}")),
            sender: Sender {
                role: Role::Agent,
                id: None,
                name: None,
            },
            kind,
            text: Some(format!("message {seq}")),
            sent_at: None,
            read: None,
            attachments: vec![],
            raw: RawJson::from(serde_json::json!({"id": seq})),
        }
    }

    #[test]
    fn a_version_3_schema_gets_a_nullable_message_kind_and_keeps_its_rows() {
        let server = PostgresServer::shared();
        let pg = server.create_database();
        // The schema as version 3 built it (its SQL is frozen), with a message in it.
        server
            .psql(
                &pg.name,
                &format!(
                    "CREATE SCHEMA chathaul; SET search_path TO chathaul; {V3}
                     UPDATE chathaul_meta SET value = '3' WHERE key = 'schema_version';
                     INSERT INTO messages (vendor, account, conversation_id, seq, sender_role, kind, attachments, raw)
                     VALUES ('kf5', 'acme', '7', 0, 'agent', 'text', '[]', '{{}}');"
                ),
            )
            .unwrap();
        let nullable = |server: &PostgresServer| {
            server
                .psql(
                    &pg.name,
                    "SELECT is_nullable FROM information_schema.columns
                     WHERE table_schema = 'chathaul' AND table_name = 'messages' AND column_name = 'kind'",
                )
                .unwrap()
        };
        assert_eq!(nullable(server), "NO");

        let mut store = PostgresStore::open(&PostgresUrl::parse(&pg.url()).unwrap()).unwrap();
        assert_eq!(nullable(server), "YES");
        assert_eq!(
            server
                .psql(
                    &pg.name,
                    "SELECT value FROM chathaul.chathaul_meta WHERE key = 'schema_version'"
                )
                .unwrap(),
            "4"
        );
        assert_eq!(
            server
                .psql(
                    &pg.name,
                    "SELECT vendor || '|' || conversation_id || '|' || kind FROM chathaul.messages"
                )
                .unwrap(),
            "kf5|7|text"
        );

        // A message without a kind is stored as NULL and read back absent.
        let mut c = Conversation::new("kf5", "acme", "8");
        c.messages = vec![message(0, None), message(1, Some(MessageKind::Event))];
        store.upsert(std::slice::from_ref(&c)).unwrap();
        assert_eq!(
            server
                .psql(
                    &pg.name,
                    "SELECT seq || ':' || coalesce(kind, 'NULL') FROM chathaul.messages
                     WHERE conversation_id = '8' ORDER BY seq"
                )
                .unwrap(),
            "0:NULL\n1:event"
        );
        let back = store.conversations().unwrap();
        let back = back.iter().find(|b| b.id == "8").unwrap();
        assert_eq!(
            back.messages
                .iter()
                .map(|m| m.kind.clone())
                .collect::<Vec<_>>(),
            [None, Some(MessageKind::Event)]
        );
        drop(store);
        // Opened again: nothing more to migrate.
        PostgresStore::open(&PostgresUrl::parse(&pg.url()).unwrap()).unwrap();
        assert_eq!(nullable(server), "YES");
    }
}
