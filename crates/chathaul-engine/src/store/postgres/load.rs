//! One batch into Postgres: binary `COPY` into the session's staging
//! tables, then upserts from them, and the source's progress, in one
//! transaction.

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, Utc};
use connector_core::{Conversation, Error};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, GenericClient};

use super::schema::{column_type, conversation_columns, message_columns};
use crate::columns::{CONVERSATION_COLUMNS, ColumnValue, Kind, MESSAGE_COLUMNS, MessageRow};
use crate::incremental::{Rejected, RevisitChange, RunBatch, Seen};

/// The staging tables of a session: the columns of `conversations` and
/// `messages` plus `ord`, the position of the conversation in its batch
/// (the last copy of a conversation in a batch wins). Emptied at every commit.
pub(crate) fn staging_tables_sql() -> String {
    let cols = |columns: Vec<(&'static str, Kind)>| {
        columns
            .iter()
            .map(|(name, kind)| format!("{name} {}", column_type(*kind)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "DROP TABLE IF EXISTS pg_temp.stage_conversations, pg_temp.stage_messages;
         CREATE TEMP TABLE stage_conversations ({}, ord bigint NOT NULL) ON COMMIT DELETE ROWS;
         CREATE TEMP TABLE stage_messages ({}, ord bigint NOT NULL) ON COMMIT DELETE ROWS;",
        cols(conversation_columns()),
        cols(message_columns())
    )
}

/// What failed in a batch.
#[derive(Debug)]
pub(crate) enum BatchError {
    /// The server refused or the connection failed.
    Database(String, tokio_postgres::Error),
    /// A value that Postgres cannot hold.
    Value(String),
}

impl BatchError {
    pub(crate) fn into_error(self, backend: &'static str, location: &str) -> Error {
        match self {
            BatchError::Database(action, e) => {
                Error::store(backend, location, action, super::PgError(e))
            }
            BatchError::Value(action) => Error::Store {
                backend,
                location: location.to_owned(),
                action,
                source: None,
            },
        }
    }
}

fn db(action: &str) -> impl Fn(tokio_postgres::Error) -> BatchError + '_ {
    move |e| BatchError::Database(format!("cannot write a batch: {action}"), e)
}

/// One cell for binary COPY: a column value of its kind.
#[derive(Debug)]
struct Cell {
    value: ColumnValue,
    json: bool,
}

impl ToSql for Cell {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.value {
            ColumnValue::Text(None)
            | ColumnValue::UInt(None)
            | ColumnValue::Bool(None)
            | ColumnValue::Time(None) => Ok(IsNull::Yes),
            // jsonb's binary form: a version byte, then the JSON text, which
            // the server parses: the vendor's record is not parsed here.
            ColumnValue::Text(Some(s)) if self.json => {
                out.put_u8(1);
                out.put_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            ColumnValue::Text(Some(s)) => s.to_sql(ty, out),
            ColumnValue::UInt(Some(n)) => i64::try_from(*n)?.to_sql(ty, out),
            ColumnValue::Bool(Some(b)) => b.to_sql(ty, out),
            ColumnValue::Time(Some(t)) => t.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::TEXT | Type::INT8 | Type::BOOL | Type::TIMESTAMPTZ | Type::JSONB
        )
    }

    to_sql_checked!();
}

fn pg_type(kind: Kind) -> Type {
    match kind {
        Kind::Text => Type::TEXT,
        Kind::UInt => Type::INT8,
        Kind::Bool => Type::BOOL,
        Kind::Time => Type::TIMESTAMPTZ,
        Kind::Json => Type::JSONB,
    }
}

fn names(columns: &[(&'static str, Kind)]) -> Vec<&'static str> {
    columns.iter().map(|(n, _)| *n).collect()
}

fn types(columns: &[(&'static str, Kind)]) -> Vec<Type> {
    columns
        .iter()
        .map(|(_, k)| pg_type(*k))
        .chain([Type::INT8])
        .collect()
}

/// The UInt values a conversation or message row would put in a `bigint`
/// that cannot hold them, named.
fn check_range(values: &[ColumnValue], names: &[&str], row: &str) -> Result<(), BatchError> {
    for (v, name) in values.iter().zip(names) {
        if let ColumnValue::UInt(Some(n)) = v
            && i64::try_from(*n).is_err()
        {
            return Err(BatchError::Value(format!(
                "cannot write a batch: {row}: `{name}` = {n} is beyond a bigint"
            )));
        }
    }
    Ok(())
}

/// Writes one batch (and the source's progress) in one transaction.
pub(crate) async fn write_batch(
    client: &mut Client,
    conversations: &[Conversation],
    source: Option<(&str, &RunBatch)>,
) -> Result<(), BatchError> {
    let conv_cols = conversation_columns();
    let msg_cols = message_columns();
    let tx = client.transaction().await.map_err(db("begin"))?;

    let copy = format!(
        "COPY stage_conversations ({}, ord) FROM STDIN (FORMAT binary)",
        names(&conv_cols).join(", ")
    );
    let sink = tx.copy_in(&copy).await.map_err(db("copy conversations"))?;
    let writer = BinaryCopyInWriter::new(sink, &types(&conv_cols));
    futures::pin_mut!(writer);
    for (ord, c) in conversations.iter().enumerate() {
        let values: Vec<ColumnValue> = CONVERSATION_COLUMNS
            .iter()
            .map(|col| (col.get)(c))
            .collect();
        let row = format!("conversation {}/{}/{}", c.vendor, c.account, c.id);
        check_range(&values, &names(&conv_cols), &row)?;
        let mut cells: Vec<Cell> = values
            .into_iter()
            .zip(CONVERSATION_COLUMNS)
            .map(|(value, col)| Cell {
                value,
                json: col.kind == Kind::Json,
            })
            .collect();
        cells.push(Cell {
            value: ColumnValue::UInt(Some(ord as u64)),
            json: false,
        });
        let refs: Vec<&(dyn ToSql + Sync)> = cells.iter().map(|c| c as _).collect();
        writer
            .as_mut()
            .write(&refs)
            .await
            .map_err(|e| BatchError::Database(format!("cannot write a batch: copy {row}"), e))?;
    }
    writer.finish().await.map_err(db("copy conversations"))?;

    let copy = format!(
        "COPY stage_messages ({}, ord) FROM STDIN (FORMAT binary)",
        names(&msg_cols).join(", ")
    );
    let sink = tx.copy_in(&copy).await.map_err(db("copy messages"))?;
    let writer = BinaryCopyInWriter::new(sink, &types(&msg_cols));
    futures::pin_mut!(writer);
    for (ord, c) in conversations.iter().enumerate() {
        for (seq, message) in c.messages.iter().enumerate() {
            let row = MessageRow {
                conversation: c,
                seq,
                message,
            };
            let values: Vec<ColumnValue> =
                MESSAGE_COLUMNS.iter().map(|col| (col.get)(&row)).collect();
            let what = format!("message {seq} of {}/{}/{}", c.vendor, c.account, c.id);
            check_range(&values, &names(&msg_cols), &what)?;
            let mut cells: Vec<Cell> = values
                .into_iter()
                .zip(MESSAGE_COLUMNS)
                .map(|(value, col)| Cell {
                    value,
                    json: col.kind == Kind::Json,
                })
                .collect();
            cells.push(Cell {
                value: ColumnValue::UInt(Some(ord as u64)),
                json: false,
            });
            let refs: Vec<&(dyn ToSql + Sync)> = cells.iter().map(|c| c as _).collect();
            writer.as_mut().write(&refs).await.map_err(|e| {
                BatchError::Database(format!("cannot write a batch: copy {what}"), e)
            })?;
        }
    }
    writer.finish().await.map_err(db("copy messages"))?;

    let conv_names = names(&conv_cols);
    let updates: Vec<String> = conv_names
        .iter()
        .skip(3)
        .map(|n| format!("{n} = excluded.{n}"))
        .collect();
    let upsert = format!(
        "INSERT INTO conversations ({cols}, synced_at)
         SELECT DISTINCT ON (vendor, account, id) {cols}, now() FROM stage_conversations
         ORDER BY vendor, account, id, ord DESC
         ON CONFLICT (vendor, account, id) DO UPDATE SET {}, synced_at = excluded.synced_at",
        updates.join(", "),
        cols = conv_names.join(", ")
    );
    let msg_names = names(&msg_cols).join(", ");
    let statements = format!(
        "{upsert};
         DELETE FROM messages m USING (SELECT DISTINCT vendor, account, id FROM stage_conversations) s
         WHERE m.vendor = s.vendor AND m.account = s.account AND m.conversation_id = s.id;
         INSERT INTO messages ({msg_names})
         SELECT {msg_names} FROM stage_messages sm
         WHERE sm.ord = (SELECT max(sc.ord) FROM stage_conversations sc
                         WHERE sc.vendor = sm.vendor AND sc.account = sm.account AND sc.id = sm.conversation_id);"
    );
    tx.batch_execute(&statements)
        .await
        .map_err(db("upsert from the staging tables"))?;

    if let Some((source, batch)) = source {
        write_revisits(&tx, source, &batch.revisits).await?;
        upsert_seen(&tx, source, &batch.seen)
            .await
            .map_err(db("remember the conversations seen"))?;
        insert_rejects(&tx, source, &batch.rejects)
            .await
            .map_err(db("record the records set aside"))?;
        let rows = i64::try_from(conversations.len()).unwrap_or(i64::MAX);
        let messages = i64::try_from(batch.messages).unwrap_or(i64::MAX);
        tx.execute(
            "UPDATE sync_state SET rows_fetched = rows_fetched + $2,
                 messages_fetched = messages_fetched + $3
             WHERE source = $1",
            &[&source, &rows, &messages],
        )
        .await
        .map_err(db("record the source's progress"))?;
    }
    tx.commit().await.map_err(db("commit"))
}

/// Applies a batch's changes to the source's revisit set: the last change
/// of each conversation wins (each one sets or removes its whole row).
async fn write_revisits(
    tx: &tokio_postgres::Transaction<'_>,
    source: &str,
    changes: &[RevisitChange],
) -> Result<(), BatchError> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut last: std::collections::BTreeMap<&str, &RevisitChange> = Default::default();
    for change in changes {
        let id = match change {
            RevisitChange::Keep(id, _) | RevisitChange::Drop(id, _) => id.as_str(),
        };
        last.insert(id, change);
    }
    let mut dropped: Vec<&str> = Vec::new();
    let mut ids: Vec<&str> = Vec::new();
    let mut reasons: Vec<&str> = Vec::new();
    let mut created: Vec<Option<DateTime<Utc>>> = Vec::new();
    let mut ended: Vec<Option<DateTime<Utc>>> = Vec::new();
    let mut first_seen: Vec<DateTime<Utc>> = Vec::new();
    let mut last_checked: Vec<DateTime<Utc>> = Vec::new();
    let mut checks: Vec<i64> = Vec::new();
    let mut digests: Vec<&str> = Vec::new();
    for (id, change) in last {
        match change {
            RevisitChange::Drop(..) => dropped.push(id),
            RevisitChange::Keep(_, p) => {
                ids.push(id);
                reasons.push(p.reason.as_str());
                created.push(p.created_at);
                ended.push(p.ended_at);
                first_seen.push(p.first_seen);
                last_checked.push(p.last_checked);
                checks.push(i64::from(p.checks));
                digests.push(&p.digest);
            }
        }
    }
    if !dropped.is_empty() {
        tx.execute(
            "DELETE FROM revisits WHERE source = $1 AND id = ANY($2)",
            &[&source, &dropped],
        )
        .await
        .map_err(db("update the revisit set"))?;
    }
    if !ids.is_empty() {
        tx.execute(
            "INSERT INTO revisits (source, vendor, account, id, reason, created_at, ended_at,
                 first_seen, last_checked, checks, digest)
             SELECT $1, s.vendor, s.account, r.*
             FROM sync_state s,
                  unnest($2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[],
                         $6::timestamptz[], $7::timestamptz[], $8::bigint[], $9::text[]) AS r
             WHERE s.source = $1
             ON CONFLICT (source, id) DO UPDATE SET reason = excluded.reason,
                 created_at = excluded.created_at, ended_at = excluded.ended_at,
                 first_seen = excluded.first_seen, last_checked = excluded.last_checked,
                 checks = excluded.checks, digest = excluded.digest",
            &[
                &source,
                &ids,
                &reasons,
                &created,
                &ended,
                &first_seen,
                &last_checked,
                &checks,
                &digests,
            ],
        )
        .await
        .map_err(db("update the revisit set"))?;
    }
    Ok(())
}

/// Remembers final conversations listed within the look-back (the last
/// entry of an id in the list wins).
pub(crate) async fn upsert_seen(
    client: &impl GenericClient,
    source: &str,
    seen: &[(String, Seen)],
) -> Result<(), tokio_postgres::Error> {
    if seen.is_empty() {
        return Ok(());
    }
    let last: std::collections::BTreeMap<&str, &Seen> =
        seen.iter().map(|(id, s)| (id.as_str(), s)).collect();
    let ids: Vec<&str> = last.keys().copied().collect();
    let at: Vec<Option<DateTime<Utc>>> = last.values().map(|s| s.at).collect();
    let created: Vec<Option<DateTime<Utc>>> = last.values().map(|s| s.created_at).collect();
    let digests: Vec<&str> = last.values().map(|s| s.digest.as_str()).collect();
    client
        .execute(
            "INSERT INTO seen (source, id, at, created_at, digest)
             SELECT $1, * FROM unnest($2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[])
             ON CONFLICT (source, id) DO UPDATE SET at = excluded.at,
                 created_at = excluded.created_at, digest = excluded.digest",
            &[&source, &ids, &at, &created, &digests],
        )
        .await?;
    Ok(())
}

/// Records rejects: the same record (the same endpoint and text, or the
/// same conversation when there is no text) set aside again is counted on
/// its row.
pub(crate) async fn insert_rejects(
    client: &impl GenericClient,
    source: &str,
    rejects: &[Rejected],
) -> Result<(), tokio_postgres::Error> {
    if rejects.is_empty() {
        return Ok(());
    }
    let insert = client
        .prepare(
            "INSERT INTO rejects (source, vendor, account, endpoint, page, path, conversation_id, error,
                 raw, raw_digest, first_seen, last_seen, times)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now(), now(), 1)
             ON CONFLICT (source, endpoint, raw_digest) DO UPDATE SET page = excluded.page,
                 path = excluded.path, error = excluded.error, last_seen = excluded.last_seen,
                 times = rejects.times + 1",
        )
        .await?;
    for r in rejects {
        let key = if r.raw.is_empty() {
            format!("id:{}", r.id.as_deref().unwrap_or_default())
        } else {
            r.raw.clone()
        };
        let digest = format!("{:016x}", connector_core::paging::fingerprint_of(&key));
        client
            .execute(
                &insert,
                &[
                    &source,
                    &r.vendor,
                    &r.account,
                    &r.endpoint,
                    &i64::from(r.page),
                    &r.path,
                    &r.id,
                    &r.error,
                    &r.raw,
                    &digest,
                ],
            )
            .await?;
    }
    Ok(())
}
