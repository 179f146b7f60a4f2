//! KF5 (逸创云客服) Kchat history: chats, messages with uploads, the served
//! JSON (no totals, no links, capped pages) and the ground truth, as of the
//! simulated clock.
//!
//! The list shows every chat created by then. A chat still going on shows
//! as open: `status` `open`, no `end_at`, only the messages sent so far, no
//! rating; an agent only once assigned. A rating can come days after the end.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use connector_core::RawJson;
use connector_core::model::{
    Agent, Attachment, Channel, Conversation, Customer, Message, MessageKind, Party, Rating, Role,
    Satisfaction, Sender, Status,
};
use connector_core::time::local_to_utc;
use rand::Rng;
use serde_json::{Map, Value, json};

use crate::data::{self, AccountSpec, DAY, HOUR, Person, Timeline, stream};
use crate::http::{ApiResult, Params, Reply};

const TAG: u64 = 0xF5;
const FIRST_ID: u64 = 10_000;
/// Messages per chat at most (message ids are `chat id * 1000 + k`).
const MAX_MESSAGES: u32 = 999;
/// The page size KF5 serves when asked for none, and the most it serves.
const PER_PAGE: u64 = 100;
/// The vendor's wall clock.
const ZONE: chrono_tz::Tz = chrono_tz::Asia::Shanghai;
/// The longest chat: 2% stay open five to eight days (the vendor's own
/// example ran from 2015-04-25 to 2015-04-30); the ordinary ones last at most
/// 120 s plus 119 s per message, 999 messages at most (under two days).
pub(crate) const LONGEST: i64 = 8 * DAY;
/// The latest rating: up to six days after the end.
pub(crate) const LATEST_RATING: i64 = 6 * DAY;
/// The `status` of a chat still going on. The documents show only `close`;
/// `open` is our choice (docs: crates/chathaul-sim/README.md).
pub(crate) const OPEN: &str = "open";

/// The agent's e-mail in an account (`agent@demo.kf5.com` in the demo account).
pub(crate) fn email(account: &str) -> String {
    format!("agent@{account}.kf5.com")
}

/// The agent's password.
pub(crate) fn password(account: &str) -> String {
    format!("kf5-{account}-password")
}

/// The agent's API token (basic user `{email}/token`).
pub(crate) fn api_token(account: &str) -> String {
    format!("kf5-{account}-token")
}

/// One account's dataset.
#[derive(Debug)]
pub(crate) struct Data {
    account: AccountSpec,
    email: String,
    password: String,
    api_token: String,
    timeline: Timeline,
    agents: Vec<Person>,
}

/// One chat as generated, seen at an instant (`now`).
#[derive(Debug, Clone)]
pub(crate) struct Chat {
    index: u64,
    id: u64,
    /// The instant the chat is seen at (local wall clock).
    now: NaiveDateTime,
    started_by: &'static str,
    /// The status it ends with.
    status: &'static str,
    agent: Option<usize>,
    agent_id_text: bool,
    rating: Option<&'static str>,
    /// When the rating is given (`None` without one).
    rated: Option<NaiveDateTime>,
    visitor_id: u64,
    user_id: Option<u64>,
    created: NaiveDateTime,
    assigned: Option<NaiveDateTime>,
    /// When it ends (whether or not that is after `now`).
    end: NaiveDateTime,
    n: u32,
    /// Whether list items carry `messages` for this chat.
    listed_with_messages: bool,
}

impl Chat {
    /// Still going on at `now`.
    fn open(&self) -> bool {
        self.end > self.now
    }

    /// The agent, once assigned.
    fn agent_now(&self) -> Option<usize> {
        self.agent
            .filter(|_| self.assigned.is_some_and(|t| t <= self.now))
    }

    /// The rating, once given.
    fn rating_now(&self) -> Option<&'static str> {
        self.rating
            .filter(|_| self.rated.is_some_and(|t| t <= self.now))
    }
}

const RATINGS: &[Option<&str>] = &[
    None,
    None,
    None,
    Some("good"),
    Some("good"),
    Some("bad"),
    Some(""),
    Some("5"),
];
const FILES: &[(&str, &str)] = &[
    ("截图.png", "image/png"),
    ("发票.pdf", "application/pdf"),
    ("IMG_2024😀.jpg", "image/jpeg"),
    (
        "hóa đơn.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
];

impl Data {
    pub(crate) fn new(account: AccountSpec) -> Self {
        let groups = ["默认组", "售后组", "大客户组"];
        Self {
            email: email(&account.name),
            password: password(&account.name),
            api_token: api_token(&account.name),
            timeline: Timeline::new(&account, TAG),
            agents: data::agent_pool(
                account.seed,
                TAG,
                data::CHINESE_NAMES,
                &groups,
                &format!("{}.kf5.com", account.name),
                2190,
            ),
            account,
        }
    }

    /// The agent pool.
    pub(crate) fn agents(&self) -> &[Person] {
        &self.agents
    }

    /// The subdomain (the truth's `account`).
    pub(crate) fn subdomain(&self) -> &str {
        &self.account.name
    }

    /// The agent's e-mail.
    pub(crate) fn email(&self) -> &str {
        &self.email
    }

    /// The agent's password.
    pub(crate) fn password(&self) -> &str {
        &self.password
    }

    fn len(&self) -> u64 {
        self.account.conversations
    }

    fn ids(&self) -> data::SparseIds {
        data::SparseIds {
            seed: self.account.seed,
            vendor: TAG,
            first: FIRST_ID,
            stride: 2,
            len: self.len(),
        }
    }

    fn id(&self, i: u64) -> u64 {
        self.ids().id(i)
    }

    fn index_of(&self, id: u64) -> Option<u64> {
        self.ids().index_of(id)
    }

    /// How many chats have been created by `now` (they are the first ones).
    fn created(&self, now: NaiveDateTime) -> u64 {
        self.timeline.partition(|t| t <= now)
    }

    /// Generates chat `i` as seen at `now`.
    pub(crate) fn chat(&self, i: u64, now: NaiveDateTime) -> Chat {
        let seed = self.account.seed;
        let mut r = data::rng(seed, TAG, i, stream::RECORD);
        let mut life = data::rng(seed, TAG, i, stream::LIFE);
        let created = self.timeline.at(i);
        let n = data::message_count(&mut r, self.account.messages, MAX_MESSAGES);
        let started_by = if r.random_bool(0.9) {
            "visitor"
        } else {
            "agent"
        };
        let answered = started_by == "agent" || r.random_bool(0.92);
        let agent = answered.then(|| r.random_range(0..self.agents.len()));
        let assigned = agent.map(|_| created + Duration::seconds(r.random_range(0..90)));
        let status = match r.random_range(0..100) {
            0..2 => "timeout",
            2..5 => "closed",
            _ => "close",
        };
        let short = 120 + i64::from(n) * r.random_range(15..120);
        // Most chats are over in minutes; some stay open for hours or days
        // (the visitor comes back), so a later look finds more messages.
        let span = match life.random_range(0..100) {
            0..2 => life.random_range(5 * DAY..=LONGEST),
            2..5 => life.random_range(DAY..5 * DAY),
            5..12 => life.random_range(HOUR..=12 * HOUR),
            _ => short,
        };
        let late = life.random_bool(0.3);
        let delay = if late {
            life.random_range(2 * DAY..=LATEST_RATING)
        } else {
            life.random_range(5..600)
        };
        let end = created + Duration::seconds(span);
        let visitor_id = 500 + r.random_range(0..(self.len() / 3).max(1));
        let user_id = r.random_bool(0.4).then(|| 45_000 + visitor_id * 7);
        let agent_id_text = r.random_bool(0.25);
        let rating = if agent.is_some() {
            *data::pick(&mut r, RATINGS)
        } else {
            None
        };
        Chat {
            index: i,
            id: self.id(i),
            now,
            started_by,
            status,
            agent,
            agent_id_text,
            rating,
            rated: rating.map(|_| end + Duration::seconds(delay)),
            visitor_id,
            user_id,
            created,
            assigned,
            end,
            n,
            listed_with_messages: r.random_bool(0.5),
        }
    }

    fn visitor_name(c: &Chat) -> String {
        format!("访客{}", c.visitor_id)
    }

    /// The messages of a chat sent by the instant it is seen at, in vendor
    /// order, with their local times.
    pub(crate) fn messages(&self, c: &Chat) -> Vec<(Value, NaiveDateTime)> {
        let mut r = data::rng(self.account.seed, TAG, c.index, stream::MESSAGES);
        let visitor = Self::visitor_name(c);
        let agent = c.agent.map(|a| self.agents[a].name);
        let span = (c.end - c.created).num_seconds();
        // Spread over the whole life of the chat, then cut at the clock: the
        // messages a later look finds are the same plus the newer ones.
        let offsets = data::sorted_offsets(&mut r, c.n as usize, 0, span);
        let mut out = Vec::with_capacity(c.n as usize);
        for (k, off) in offsets.into_iter().enumerate() {
            let at = c.created + Duration::seconds(off);
            if at > c.now {
                break;
            }
            let id = c.id * 1000 + k as u64 + 1;
            let roll = r.random_range(0..100);
            // The first message is the visitor joining (as in the vendor's example).
            let (ty, name, msg): (&str, Value, &str) = if k == 0 {
                (
                    "chat.memberjoin",
                    Value::from(visitor.clone()),
                    *data::pick(&mut r, &["你好", ""]),
                )
            } else if k == 1 && agent.is_some() {
                (
                    "chat.memberjoin",
                    Value::from(agent.unwrap_or_default()),
                    "",
                )
            } else if roll < 3 {
                // A platform notice: nobody named.
                (
                    "chat.memberjoin",
                    if roll == 0 {
                        Value::Null
                    } else {
                        Value::from("")
                    },
                    "系统已为您分配客服",
                )
            } else if roll < 5 {
                (
                    "chat.transfer",
                    Value::from(agent.unwrap_or("系统")),
                    "对话已转接",
                )
            } else if agent.is_some() && roll % 2 == 0 {
                (
                    "chat.msg",
                    Value::from(agent.unwrap_or_default()),
                    *data::pick(&mut r, data::AGENT_TEXT),
                )
            } else {
                (
                    "chat.msg",
                    Value::from(visitor.clone()),
                    *data::pick(&mut r, data::CUSTOMER_TEXT),
                )
            };
            let upload_roll = r.random_range(0..100);
            let (upload_id, upload, msg) = if ty == "chat.msg" && upload_roll < 8 {
                let (file, mime) = *data::pick(&mut r, FILES);
                let uid = 70_000 + id % 100_000;
                let upload = json!({
                    "id": uid,
                    "name": file,
                    "url": format!("https://{}.kf5.com/attachments/download/{uid}/{}", self.account.name, url::form_urlencoded::byte_serialize(file.as_bytes()).collect::<String>()),
                    "size": r.random_range(1_000..5_000_000u64),
                    "content_type": mime,
                });
                (Value::from(uid), upload, "")
            } else if ty == "chat.msg" && upload_roll == 8 {
                // A file that no longer exists: the id stays, the object is gone.
                (Value::from(70_000 + id % 100_000), Value::Null, "")
            } else {
                (Value::Null, Value::Null, msg)
            };
            let m = json!({
                "id": id,
                "chat_id": c.id,
                "type": ty,
                "name": name,
                "msg": msg,
                "upload_id": upload_id,
                "is_read": u8::from(r.random_bool(0.85)),
                "created_at": data::padded(at),
                "upload": upload,
            });
            out.push((m, at));
        }
        out
    }

    /// The chat object; `with_messages` adds `messages` (the detail endpoint
    /// always does, the list only for some chats).
    pub(crate) fn render(&self, c: &Chat, with_messages: bool) -> Value {
        let mut m = Map::with_capacity(13);
        m.insert("id".into(), c.id.into());
        m.insert("type".into(), "chat".into());
        m.insert("started_by".into(), c.started_by.into());
        m.insert(
            "status".into(),
            if c.open() { OPEN } else { c.status }.into(),
        );
        let agent_id = c.agent_now().map(|a| self.agents[a].id);
        m.insert(
            "agent_id".into(),
            match agent_id {
                Some(a) if c.agent_id_text => a.to_string().into(),
                Some(a) => a.into(),
                None => Value::Null,
            },
        );
        m.insert(
            "rating".into(),
            c.rating_now().map_or(Value::Null, Value::from),
        );
        m.insert("visitor_id".into(), c.visitor_id.into());
        m.insert("user_id".into(), c.user_id.map_or(Value::Null, Value::from));
        m.insert("created_at".into(), data::padded(c.created).into());
        m.insert(
            "assigned_at".into(),
            c.assigned
                .filter(|_| c.agent_now().is_some())
                .map_or(Value::Null, |t| data::padded(t).into()),
        );
        m.insert(
            "end_at".into(),
            if c.open() {
                Value::Null
            } else {
                data::padded(c.end).into()
            },
        );
        if with_messages {
            m.insert(
                "messages".into(),
                Value::Array(self.messages(c).into_iter().map(|(m, _)| m).collect()),
            );
        }
        Value::Object(m)
    }

    /// The ground truth of chat `i` as seen at `now`, following
    /// docs/vendors/kf5.md (and `open` → `open`).
    pub(crate) fn truth(&self, i: u64, now: NaiveDateTime) -> Conversation {
        let c = self.chat(i, now);
        let utc = |t: NaiveDateTime| local_to_utc(t, ZONE);
        let mut conv = Conversation::new("kf5", &self.account.name, c.id.to_string());
        conv.channel = Some(Channel::Web);
        conv.initiated_by = Some(match c.started_by {
            "visitor" => Party::Customer,
            "agent" => Party::Agent,
            other => Party::Other(other.to_owned()),
        });
        conv.status = Some(match c.status {
            _ if c.open() => Status::Open,
            "close" | "closed" => Status::Closed,
            other => Status::Other(other.to_owned()),
        });
        let agent = c.agent_now().map(|a| Agent {
            id: Some(self.agents[a].id.to_string()),
            name: None,
            email: None,
            group: None,
        });
        conv.agents = agent.iter().cloned().collect();
        conv.agent = agent;
        conv.customer = Customer {
            id: Some(c.visitor_id.to_string()),
            user_id: c.user_id.map(|u| u.to_string()),
            ..Customer::default()
        };
        conv.rating = Some(match c.rating_now() {
            None | Some("") => Rating::unrated(),
            Some("good") => Rating {
                satisfaction: Satisfaction::Satisfied,
                score: Some("good".into()),
                ..Rating::unrated()
            },
            Some("bad") => Rating {
                satisfaction: Satisfaction::Dissatisfied,
                score: Some("bad".into()),
                ..Rating::unrated()
            },
            Some(other) => Rating {
                score: Some(other.to_owned()),
                ..Rating::unrated()
            },
        });
        conv.created_at = Some(utc(c.created));
        conv.assigned_at = c.assigned.filter(|_| c.agent_now().is_some()).map(utc);
        conv.ended_at = (!c.open()).then(|| utc(c.end));
        let generated = self.messages(&c);
        // The list item as served: with the same messages for some chats.
        let mut raw = self.render(&c, false);
        if c.listed_with_messages {
            let listed = generated.iter().map(|(m, _)| m.clone()).collect();
            raw.as_object_mut()
                .expect("a chat renders as an object")
                .insert("messages".into(), Value::Array(listed));
        }
        let messages = generated
            .into_iter()
            .map(|(raw, at)| {
                // No `type` (or a blank one): no kind.
                let kind =
                    raw["type"]
                        .as_str()
                        .filter(|t| !t.trim().is_empty())
                        .map(|ty| match ty {
                            "chat.memberjoin" => MessageKind::Event,
                            "chat.msg" => MessageKind::Text,
                            other => MessageKind::Other(other.to_owned()),
                        });
                let name = raw["name"]
                    .as_str()
                    .filter(|n| !n.trim().is_empty())
                    .map(str::to_owned);
                let role = if kind == Some(MessageKind::Event) && name.is_none() {
                    Role::System
                } else {
                    Role::Unknown
                };
                let attachments = match &raw["upload"] {
                    Value::Object(u) => vec![Attachment {
                        name: u["name"].as_str().map(str::to_owned),
                        url: u["url"].as_str().map(str::to_owned),
                        mime: u["content_type"].as_str().map(str::to_owned),
                        size: u["size"].as_u64(),
                    }],
                    _ => Vec::new(),
                };
                Message {
                    id: raw["id"].as_u64().map(|v| v.to_string()),
                    sender: Sender {
                        role,
                        id: None,
                        name,
                    },
                    kind,
                    text: raw["msg"]
                        .as_str()
                        .filter(|t| !t.trim().is_empty())
                        .map(str::to_owned),
                    sent_at: Some(utc(at)),
                    read: raw["is_read"].as_u64().map(|r| r == 1),
                    attachments,
                    raw: RawJson::from(raw),
                }
            })
            .collect();
        conv.set_messages(messages);
        conv.raw = RawJson::from(raw);
        conv
    }
}

// ---------------------------------------------------------------------------
// HTTP handlers.

fn error(status: u16, message: &str) -> Reply {
    let code = match status {
        401 => "Unauthorized",
        404 => "NotFound",
        _ => "InvalidParameter",
    };
    Reply::json(status, &json!({"error": code, "message": message}))
}

/// Checks basic credentials of `d`'s account: the password, or the API
/// token as `{email}/token`.
pub(crate) fn check_auth(d: &Data, headers: &axum::http::HeaderMap) -> Option<Reply> {
    match crate::http::basic_auth(headers) {
        Some((user, pass)) if user == d.email && pass == d.password => None,
        Some((user, pass))
            if user.strip_suffix("/token") == Some(d.email.as_str()) && pass == d.api_token =>
        {
            None
        }
        _ => Some(error(
            401,
            "认证失败:邮箱、密码或 API token 错误 (authentication failed)",
        )),
    }
}

/// The vendor's wall clock at `now`.
fn local(now: DateTime<Utc>) -> NaiveDateTime {
    now.with_timezone(&ZONE).naive_local()
}

fn date_param(p: &Params, name: &str) -> ApiResult<Option<NaiveDate>> {
    match p.get(name) {
        None | Some("") => Ok(None),
        Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| {
                error(
                    400,
                    &format!("参数 {name} 格式错误,应为 2016-01-01 (got `{v}`)"),
                )
            }),
    }
}

fn id_param(p: &Params, name: &str) -> ApiResult<Option<u64>> {
    match p.get(name) {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| error(400, &format!("参数 {name} 必须是数字 (got `{v}`)"))),
    }
}

/// `GET /apiv2/chats.json`: `{"chats": [...]}`, no total, no links; `per_page`
/// silently capped at 100. Every chat created by `now`, as it is then.
pub(crate) fn list(d: &Data, now: DateTime<Utc>, p: &Params) -> ApiResult<Reply> {
    let now = local(now);
    let visitor = id_param(p, "visitor_id")?;
    let user = id_param(p, "user_id")?;
    let (start, end) = (date_param(p, "start")?, date_param(p, "end")?);
    let page = p.positive("page", 1).map_err(|m| error(400, &m))?;
    let per_page = p
        .positive("per_page", PER_PAGE)
        .map_err(|m| error(400, &m))?
        .min(PER_PAGE);
    let (lo, hi) = d.timeline.range_for_dates(start, end);
    let hi = hi.min(d.created(now)).max(lo);
    let skip = (page - 1).saturating_mul(per_page);
    let mut items = Vec::new();
    if visitor.is_none() && user.is_none() {
        let from = lo.saturating_add(skip).min(hi);
        let to = from.saturating_add(per_page).min(hi);
        items.extend((from..to).map(|i| {
            let c = d.chat(i, now);
            d.render(&c, c.listed_with_messages)
        }));
    } else {
        let mut seen = 0u64;
        for i in lo..hi {
            let c = d.chat(i, now);
            if visitor.is_none_or(|v| c.visitor_id == v)
                && user.is_none_or(|u| c.user_id == Some(u))
            {
                if seen >= skip {
                    items.push(d.render(&c, c.listed_with_messages));
                    if items.len() as u64 == per_page {
                        break;
                    }
                }
                seen += 1;
            }
        }
    }
    Ok(Reply::json(200, &json!({"chats": items})))
}

/// `GET /apiv2/chats/{id}.json`: `{"chat": {...}}` with its messages, for a
/// chat created by `now`.
pub(crate) fn detail(d: &Data, now: DateTime<Utc>, file: &str) -> ApiResult<Reply> {
    let now = local(now);
    let id = file.strip_suffix(".json").unwrap_or(file);
    let c = id
        .parse::<u64>()
        .ok()
        .and_then(|v| d.index_of(v))
        .filter(|&i| d.timeline.at(i) <= now)
        .map(|i| d.chat(i, now))
        .ok_or_else(|| error(404, &format!("对话 {id} 不存在 (chat not found)")))?;
    Ok(Reply::json(200, &json!({"chat": d.render(&c, true)})))
}

/// The ground truth at `now`, lazily: every chat created by then, as it is then.
pub(crate) fn truth_iter(d: Data, now: DateTime<Utc>) -> impl Iterator<Item = Conversation> {
    let now = local(now);
    (0..d.created(now)).map(move |i| d.truth(i, now))
}
