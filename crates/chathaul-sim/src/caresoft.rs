//! CareSoft (Vietnam) chat history: live chat, Facebook and Zalo
//! conversations, the served JSON and the ground truth, as of the simulated
//! clock.
//!
//! The API is a history (lịch sử chat) and `chat_status` has two values, both
//! outcomes of a finished chat (met, missed): a conversation still going on
//! has nothing to show there, so the history lists a conversation once it
//! has ended, never before.

use std::sync::OnceLock;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use connector_core::RawJson;
use connector_core::model::{Agent, Channel, Conversation, Customer, Metrics, Status, TicketRef};
use connector_core::time::local_to_utc;
use rand::Rng;
use serde::Serialize;
use serde_json::{Value, json};

use crate::data::{self, AccountSpec, Ended, EndedCache, HOUR, Person, Timeline, stream};
use crate::http::{ApiResult, Params, Reply};

const TAG: u64 = 0xCA;
/// The page size when `count` is absent (the docs give none).
const DEFAULT_COUNT: u64 = 20;
/// The most `count` serves.
const MAX_COUNT: u64 = 500;
/// The vendor's wall clock.
const ZONE: chrono_tz::Tz = chrono_tz::Asia::Ho_Chi_Minh;
/// Longer than any conversation: a ring within 2 s of the start, a wait under
/// 2 min, then at most 30 min of talk (or 5 min until a missed chat ends).
const LONGEST: i64 = HOUR;

/// The API token of an account (`caresoft-demo-token` in the demo account).
pub(crate) fn token(account: &str) -> String {
    format!("caresoft-{account}-token")
}

/// One account's dataset.
#[derive(Debug)]
pub(crate) struct Data {
    account: AccountSpec,
    token: String,
    timeline: Timeline,
    agents: Vec<Person>,
    /// Each conversation's type, drawn once on first use: a listing filtered
    /// by type and start time only (what a pull asks) counts and pages
    /// through this instead of generating every record for every page.
    types: OnceLock<Vec<u8>>,
    ended: EndedCache,
}

/// One conversation as generated.
#[derive(Debug, Clone)]
pub(crate) struct Chat {
    conversation_id: String,
    /// 0 live chat, 1 Facebook, 3 Zalo.
    ctype: u8,
    /// 0 inbound, 1 outbound (not in the record; filterable).
    chat_type: u8,
    met: bool,
    ticket: Option<(u64, u64)>,
    customer_id: u64,
    cus_name: String,
    cus_email: String,
    cus_phone: String,
    start: NaiveDateTime,
    ring: NaiveDateTime,
    meet: Option<NaiveDateTime>,
    end: NaiveDateTime,
    agent: Option<usize>,
    /// The group a missed chat was queued in, if any.
    group: Option<usize>,
    landing_page: Option<String>,
    referrer: Option<String>,
    trigger: bool,
    facebook_page_id: Option<String>,
    service_id: u64,
}

const SURNAMES: &[&str] = &[
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ",
];
const GIVEN: &[&str] = &[
    "Thị Hương",
    "Văn Hùng",
    "Minh Châu",
    "Quỳnh Anh",
    "Đức Thắng",
    "Thu Trang",
    "Gia Bảo",
    "Ngọc Hân",
];
const PAGES: &[&str] = &[
    "https://shop.demo.vn/",
    "https://shop.demo.vn/san-pham/ao-thun-nam",
    "https://shop.demo.vn/gio-hang",
    "https://shop.demo.vn/khuyen-mai?utm_source=facebook",
];
const REFERRERS: &[&str] = &[
    "https://www.google.com/",
    "https://www.facebook.com/",
    "https://zalo.me/",
];

/// One served record, in the vendor's key order.
#[derive(Serialize)]
struct Record<'a> {
    ticket_id: Option<u64>,
    ticket_no: Option<u64>,
    customer_id: u64,
    group_name: &'a str,
    conversation_id: &'a str,
    cus_email: &'a str,
    cus_name: &'a str,
    cus_phone: &'a str,
    start_time: String,
    end_time: String,
    chat_duration: i64,
    agent_email: &'a str,
    agent_name: &'a str,
    ring_time: String,
    meet_time: Option<String>,
    #[serde(rename = "waitTime")]
    wait_time: String,
    answer_time: Option<String>,
    chat_status: &'static str,
    landing_page: Option<&'a str>,
    referrer: Option<&'a str>,
    is_trigger: &'static str,
    facebook_page_id: Option<&'a str>,
    service_id: u64,
}

/// A listing page.
#[derive(Serialize)]
struct Page<'a> {
    code: &'static str,
    #[serde(rename = "numFound")]
    num_found: u64,
    chats: Vec<Record<'a>>,
}

impl Data {
    pub(crate) fn new(account: AccountSpec) -> Self {
        let groups = ["CSKH", "Kinh doanh", "Kỹ thuật", "AGENT"];
        Self {
            token: token(&account.name),
            timeline: Timeline::new(&account, TAG),
            agents: data::agent_pool(
                account.seed,
                TAG,
                data::VIETNAMESE_NAMES,
                &groups,
                &format!("{}.caresoft.vn", account.name),
                9_000_000,
            ),
            types: OnceLock::new(),
            ended: EndedCache::default(),
            account,
        }
    }

    /// The agent pool.
    pub(crate) fn agents(&self) -> &[Person] {
        &self.agents
    }

    /// The domain (the truth's `account`).
    pub(crate) fn domain(&self) -> &str {
        &self.account.name
    }

    /// The API token.
    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    fn len(&self) -> u64 {
        self.account.conversations
    }

    /// The conversations in the history at `now`: those ended by then.
    fn ended(&self, now: NaiveDateTime) -> std::sync::Arc<Ended> {
        self.ended.get(now, || {
            Ended::new(&self.timeline, now, Duration::seconds(LONGEST), |i| {
                self.chat(i).end <= now
            })
        })
    }

    /// The type of conversation `i`: the first draw of its record.
    fn draw_type(r: &mut impl Rng) -> u8 {
        match r.random_range(0..100) {
            0..60 => 0,
            60..85 => 1,
            _ => 3,
        }
    }

    /// Every conversation's type, in index order.
    fn types(&self) -> &[u8] {
        self.types.get_or_init(|| {
            (0..self.len())
                .map(|i| Self::draw_type(&mut data::rng(self.account.seed, TAG, i, stream::RECORD)))
                .collect()
        })
    }

    /// Generates conversation `i`.
    pub(crate) fn chat(&self, i: u64) -> Chat {
        let mut r = data::rng(self.account.seed, TAG, i, stream::RECORD);
        let start = self.timeline.at(i);
        let ctype = Self::draw_type(&mut r);
        let chat_type = u8::from(r.random_bool(0.1));
        let met = r.random_bool(0.85);
        let ring = start + Duration::seconds(r.random_range(0..3));
        let wait = r.random_range(2..120);
        let meet = met.then(|| ring + Duration::seconds(wait));
        let end = match meet {
            Some(m) => m + Duration::seconds(r.random_range(20..1800)),
            None => ring + Duration::seconds(wait + r.random_range(30..300)),
        };
        let agent = met.then(|| r.random_range(0..self.agents.len()));
        let group = if met {
            agent
        } else {
            r.random_bool(0.6)
                .then(|| r.random_range(0..self.agents.len()))
        };
        let customer_id = 165_000_000 + r.random_range(0..(self.len() / 3).max(1)) * 13;
        let cus_name = if r.random_bool(0.9) {
            format!(
                "{} {}",
                data::pick(&mut r, SURNAMES),
                data::pick(&mut r, GIVEN)
            )
        } else {
            (*data::pick(&mut r, &["cstest", "Khách 🌸", ""])).to_owned()
        };
        let cus_email = if r.random_bool(0.4) {
            format!("khach{}@gmail.com", customer_id % 100_000)
        } else {
            String::new()
        };
        let cus_phone = if r.random_bool(0.5) {
            format!("09{:08}", r.random_range(0..100_000_000u64))
        } else {
            String::new()
        };
        let ticket = r
            .random_bool(0.7)
            .then(|| (387_000_000 + i * 17, 7_000 + i));
        let landing_page = (ctype == 0).then(|| data::pick(&mut r, PAGES).to_string());
        let referrer =
            (ctype == 0 && r.random_bool(0.5)).then(|| data::pick(&mut r, REFERRERS).to_string());
        let facebook_page_id =
            (ctype == 1).then(|| format!("10438{:010}", r.random_range(0..10_000_000_000u64)));
        const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let letters: String = (0..8)
            .map(|_| char::from(*data::pick(&mut r, ALPHA)))
            .collect();
        let conversation_id = format!(
            "{}-{letters}-{}",
            start.format("%Y%m%d%H%M%S"),
            r.random_range(100_000..1_000_000)
        );
        Chat {
            conversation_id,
            ctype,
            chat_type,
            met,
            ticket,
            customer_id,
            cus_name,
            cus_email,
            cus_phone,
            start,
            ring,
            meet,
            end,
            agent,
            group,
            landing_page,
            referrer,
            trigger: r.random_bool(0.2),
            facebook_page_id,
            service_id: 60_047_000 + u64::from(ctype) * 10 + r.random_range(0..5),
        }
    }

    /// The served record, as a tree.
    pub(crate) fn render(&self, c: &Chat) -> Value {
        serde_json::to_value(self.record(c)).expect("a record serializes")
    }

    /// The served record, serialized straight from the generated chat (no
    /// tree: pages of 500 are built for every request).
    fn record<'a>(&'a self, c: &'a Chat) -> Record<'a> {
        let agent = c.agent.map(|a| &self.agents[a]);
        Record {
            ticket_id: c.ticket.map(|t| t.0),
            ticket_no: c.ticket.map(|t| t.1),
            customer_id: c.customer_id,
            group_name: c.group.map_or("", |g| self.agents[g].group),
            conversation_id: &c.conversation_id,
            cus_email: &c.cus_email,
            cus_name: &c.cus_name,
            cus_phone: &c.cus_phone,
            start_time: data::padded(c.start),
            end_time: data::padded(c.end),
            chat_duration: (c.end - c.start).num_seconds(),
            agent_email: agent.map_or("", |a| a.email.as_str()),
            agent_name: agent.map_or("", |a| a.name),
            ring_time: data::padded(c.ring),
            meet_time: c.meet.map(data::padded),
            wait_time: hms((c.meet.unwrap_or(c.end) - c.ring).num_seconds()),
            answer_time: c.meet.map(|t| hms((c.end - t).num_seconds())),
            chat_status: if c.met {
                "LBL_CHAT_STATUS_MEET"
            } else {
                "LBL_CHAT_STATUS_MISS"
            },
            landing_page: c.landing_page.as_deref(),
            referrer: c.referrer.as_deref(),
            is_trigger: if c.trigger {
                "LBL_CHAT_CUSTOMER_REQUEST_TRIGGER"
            } else {
                "LBL_CHAT_CUSTOMER_REQUEST_NORMAL"
            },
            facebook_page_id: c.facebook_page_id.as_deref(),
            service_id: c.service_id,
        }
    }

    /// The ground truth of a conversation, following docs/vendors/caresoft.md.
    pub(crate) fn truth_of(&self, c: &Chat) -> Conversation {
        let utc = |t: NaiveDateTime| local_to_utc(t, ZONE);
        let text = |s: &str| (!s.trim().is_empty()).then(|| s.to_owned());
        let mut conv = Conversation::new("caresoft", &self.account.name, c.conversation_id.clone());
        conv.channel = Some(match c.ctype {
            0 => Channel::Web,
            1 => Channel::Facebook,
            _ => Channel::Zalo,
        });
        conv.status = Some(if c.met {
            Status::Closed
        } else {
            Status::Missed
        });
        conv.customer = Customer {
            id: Some(c.customer_id.to_string()),
            name: text(&c.cus_name),
            email: text(&c.cus_email),
            phone: text(&c.cus_phone),
            ..Customer::default()
        };
        let agent = c.agent.map(|a| &self.agents[a]);
        let group = c.group.map(|g| self.agents[g].group);
        conv.agent = (agent.is_some() || group.is_some()).then(|| Agent {
            id: None,
            name: agent.map(|a| a.name.to_owned()),
            email: agent.map(|a| a.email.clone()),
            group: group.map(str::to_owned),
        });
        conv.agents = conv.agent.iter().cloned().collect();
        conv.created_at = Some(utc(c.start));
        conv.assigned_at = Some(utc(c.ring));
        conv.answered_at = c.meet.map(utc);
        conv.ended_at = Some(utc(c.end));
        conv.metrics = Metrics {
            wait_secs: Some((c.meet.unwrap_or(c.end) - c.ring).num_seconds() as u64),
            talk_secs: c.meet.map(|m| (c.end - m).num_seconds() as u64),
            duration_secs: Some((c.end - c.start).num_seconds() as u64),
            ..Metrics::default()
        };
        conv.ticket = c.ticket.map(|(id, no)| TicketRef {
            id: Some(id.to_string()),
            number: Some(no.to_string()),
        });
        conv.landing_page = c.landing_page.clone();
        conv.referrer = c.referrer.clone();
        conv.raw = RawJson::from(self.render(c));
        conv
    }
}

/// `HH:MM:SS`.
fn hms(secs: i64) -> String {
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

// ---------------------------------------------------------------------------
// HTTP handler.

fn error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(status, &json!({"code": code, "message": message}))
}

/// Checks the bearer token of `d`'s account.
pub(crate) fn check_auth(d: &Data, headers: &axum::http::HeaderMap) -> Option<Reply> {
    match crate::http::bearer(headers) {
        Some(t) if t == d.token => None,
        _ => Some(error(
            401,
            "UNAUTHORIZED",
            "Token không hợp lệ hoặc đã hết hạn (invalid or expired token)",
        )),
    }
}

fn instant(p: &Params, name: &str) -> ApiResult<Option<DateTime<Utc>>> {
    match p.get(name) {
        None | Some("") => Ok(None),
        Some(v) => NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%SZ")
            .map(|t| Some(t.and_utc()))
            .map_err(|_| {
                error(
                    400,
                    "BAD_REQUEST",
                    &format!("Tham số {name} sai định dạng yyyy-MM-ddTHH:mm:ssZ (got `{v}`)"),
                )
            }),
    }
}

fn ints(p: &Params, name: &str) -> ApiResult<Vec<u64>> {
    // Both `assignees[]=1` and `assignees=1` name the array.
    let bracket = format!("{name}[]");
    p.all(&bracket)
        .chain(p.all(name))
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse().map_err(|_| {
                error(
                    400,
                    "BAD_REQUEST",
                    &format!("Tham số {name} phải là số nguyên (got `{v}`)"),
                )
            })
        })
        .collect()
}

fn int(p: &Params, name: &str) -> ApiResult<Option<u64>> {
    match p.get(name) {
        None | Some("") => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            error(
                400,
                "BAD_REQUEST",
                &format!("Tham số {name} phải là số nguyên (got `{v}`)"),
            )
        }),
    }
}

/// `GET /api/v1/chats`: `{"code":"OK","numFound":N,"chats":[...]}`, the
/// conversations ended by `now`.
pub(crate) fn list(d: &Data, now: DateTime<Utc>, p: &Params) -> ApiResult<Reply> {
    let invalid = |m: String| error(200, "INVALID_PARAMETER", &m);
    let (ss, st) = (
        instant(p, "start_time_since")?,
        instant(p, "start_time_to")?,
    );
    let (es, et) = (instant(p, "end_time_since")?, instant(p, "end_time_to")?);
    let (assignees, groups) = (ints(p, "assignees")?, ints(p, "groups")?);
    let (customers, services) = (ints(p, "customers")?, ints(p, "services")?);
    let ctype = int(p, "conversation_type")?.unwrap_or(0);
    if ![0, 1, 3].contains(&ctype) {
        return Err(invalid(format!(
            "conversation_type không hợp lệ: {ctype} (0, 1, 3)"
        )));
    }
    let status = int(p, "chat_status")?;
    if status.is_some_and(|s| s > 1) {
        return Err(invalid(format!(
            "chat_status không hợp lệ: {} (0, 1)",
            status.unwrap_or_default()
        )));
    }
    let chat_type = int(p, "chat_type")?;
    if chat_type.is_some_and(|s| s > 1) {
        return Err(invalid(format!(
            "chat_type không hợp lệ: {} (0, 1)",
            chat_type.unwrap_or_default()
        )));
    }
    let ticket_no = int(p, "ticket_no")?;
    let conversation_id = p.get("conversation_id").filter(|v| !v.is_empty());
    let page = p
        .positive("page", 1)
        .map_err(|m| error(400, "BAD_REQUEST", &m))?;
    let count = p
        .positive("count", DEFAULT_COUNT)
        .map_err(|m| error(400, "BAD_REQUEST", &m))?
        .min(MAX_COUNT);
    let ended = d.ended(now.with_timezone(&ZONE).naive_local());
    let utc = |t: NaiveDateTime| local_to_utc(t, ZONE);
    // Start times follow the index: narrow the scan by binary search.
    let lo = ss.map_or(0, |s| d.timeline.partition(|t| utc(t) < s));
    let hi = st
        .map_or(d.len(), |s| d.timeline.partition(|t| utc(t) <= s))
        .max(lo);
    let skip = (page - 1).saturating_mul(count);
    let mut found = 0u64;
    let mut items = Vec::new();
    let by_type_only = es.is_none()
        && et.is_none()
        && assignees.is_empty()
        && groups.is_empty()
        && customers.is_empty()
        && services.is_empty()
        && status.is_none()
        && chat_type.is_none()
        && ticket_no.is_none()
        && conversation_id.is_none();
    if by_type_only {
        // Only the page's own records are generated.
        let types = d.types();
        let mut chats = Vec::new();
        for i in ended.iter(lo, hi) {
            if u64::from(types[usize::try_from(i).unwrap_or(usize::MAX)]) == ctype {
                if found >= skip && found < skip.saturating_add(count) {
                    chats.push(d.chat(i));
                }
                found += 1;
            }
        }
        let page = Page {
            code: "OK",
            num_found: found,
            chats: chats.iter().map(|c| d.record(c)).collect(),
        };
        return Ok(Reply::json_of(200, &page));
    }
    for i in ended.iter(lo, hi) {
        let c = d.chat(i);
        let agent = c.agent.map(|a| &d.agents[a]);
        let group = c.group.map(|g| d.agents[g].group_id);
        let end = utc(c.end);
        let ok = u64::from(c.ctype) == ctype
            && es.is_none_or(|s| end >= s)
            && et.is_none_or(|s| end <= s)
            && (assignees.is_empty() || agent.is_some_and(|a| assignees.contains(&a.id)))
            && (groups.is_empty() || group.is_some_and(|g| groups.contains(&g)))
            && (customers.is_empty() || customers.contains(&c.customer_id))
            && (services.is_empty() || services.contains(&c.service_id))
            && status.is_none_or(|s| (s == 1) == c.met)
            && chat_type.is_none_or(|t| t == u64::from(c.chat_type))
            && ticket_no.is_none_or(|t| c.ticket.is_some_and(|(_, no)| no == t))
            && conversation_id.is_none_or(|id| id == c.conversation_id);
        if ok {
            if found >= skip && found < skip.saturating_add(count) {
                items.push(d.render(&c));
            }
            found += 1;
        }
    }
    Ok(Reply::json(
        200,
        &json!({"code": "OK", "numFound": found, "chats": items}),
    ))
}

/// The ground truth at `now`, lazily: every conversation ended by then.
pub(crate) fn truth_iter(d: Data, now: DateTime<Utc>) -> impl Iterator<Item = Conversation> {
    let now = now.with_timezone(&ZONE).naive_local();
    let created = d.timeline.partition(|t| t <= now);
    (0..created).filter_map(move |i| {
        let c = d.chat(i);
        (c.end <= now).then(|| d.truth_of(&c))
    })
}
