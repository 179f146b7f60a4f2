//! Bangwo8 (帮我吧) IM chat history: records, messages, summaries, the
//! served JSON (quirks included) and the ground truth, as of the simulated
//! clock.
//!
//! The history (历史会话记录) holds ended sessions only: a session is listed
//! once it has ended, with its final counts. Its rating can come later
//! (`evaluate_time` says when); until then the record shows none. The
//! messages of a session still going on can be read by id, as far as they
//! have been sent; its summary is filled in when it ends.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use connector_core::RawJson;
use connector_core::model::{
    Agent, Channel, Conversation, Customer, Message, MessageKind, Metrics, Party, Rating, Role,
    Satisfaction, Sender, Status, Summary, SummaryField,
};
use connector_core::time::local_to_utc;
use rand::Rng;
use serde_json::{Map, Value, json};

use crate::data::{self, AccountSpec, DAY, Ended, EndedCache, HOUR, Person, Timeline, stream};
use crate::http::{ApiResult, Params, Reply};

/// The vendor's tag in the random streams.
const TAG: u64 = 0xB0;
/// The host every absolute link points at, whatever host served the response.
pub(crate) const LINK_HOST: &str = "https://www.bangwo8.com";
const FIRST_ID: u64 = 1000;
/// Bangwo8's default page size.
const DEFAULT_PER_PAGE: u64 = 100;
/// The vendor's wall clock.
const ZONE: chrono_tz::Tz = chrono_tz::Asia::Shanghai;
/// The longest session: the long ones last from a day and an hour to three
/// days (longer than a sync's one-day look-back); the others at most 60 s
/// plus 89 s per message, 900 messages at most (under a day).
pub(crate) const LONGEST: i64 = 3 * DAY;
/// The latest rating: up to six days after the end.
pub(crate) const LATEST_RATING: i64 = 6 * DAY;

/// The demo account's login (account 0; account k is `admin@demo{k}`).
pub(crate) fn login(account: &str) -> String {
    format!("admin@{account}")
}

/// The password of an account's login.
pub(crate) fn password(account: &str) -> String {
    format!("bangwo8-{account}-password")
}

/// A non-administrator agent of the account: its list requests answer 403.
pub(crate) fn agent_login(account: &str) -> String {
    format!("agent@{account}")
}

/// That agent's password (`bangwo8-agent-password` in the demo account).
pub(crate) fn agent_password(account: &str) -> String {
    if account == "demo" {
        "bangwo8-agent-password".to_owned()
    } else {
        format!("bangwo8-{account}-agent-password")
    }
}

/// One account's dataset: everything needed to generate any record on demand.
#[derive(Debug)]
pub(crate) struct Data {
    account: AccountSpec,
    login: String,
    password: String,
    agent_login: String,
    agent_password: String,
    timeline: Timeline,
    agents: Vec<Person>,
    ended: EndedCache,
}

/// How a summary request for a session is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SummaryCase {
    Filled,
    NoTemplate,
    NotFilled,
}

/// One session as generated, seen at an instant (`now`): a rating given
/// after it is not there yet.
#[derive(Debug, Clone)]
pub(crate) struct Chat {
    index: u64,
    r_id: u64,
    /// The instant the session is seen at (local wall clock).
    now: NaiveDateTime,
    ty: u8,
    agent: Option<usize>,
    uname: String,
    start: NaiveDateTime,
    /// When the session really ended (it is in the history from then on).
    ended: NaiveDateTime,
    /// The end time the record shows (a few sessions have none recorded).
    end: Option<NaiveDateTime>,
    duration: i64,
    client_ip: String,
    ip_info: String,
    evaluate: u8,
    evaluate_time: Option<NaiveDateTime>,
    evaluate_remark: String,
    end_type: Option<u8>,
    counts: [u32; 3], // agent, customer, robot
    first_response: Option<i64>,
    /// Bit k set: numeric field k is sent as a number rather than a string.
    numeric: u32,
    padded: bool,
    /// Agent messages name the agent by numeric id rather than by name.
    spokesman_id: bool,
    summary: SummaryCase,
}

const IP_INFO: &[&str] = &[
    "归属地为北京市",
    "归属地为上海市",
    "广东省深圳市 电信",
    "浙江省杭州市 移动",
    "",
    "越南 胡志明市",
];
const REMARKS: &[&str] = &[
    "服务态度很好",
    "解决得很快,点赞👍",
    "",
    "一般般吧",
    "等了太久了😤",
    "Rất hài lòng!",
];

impl Data {
    pub(crate) fn new(account: AccountSpec) -> Self {
        let groups = ["售前咨询", "售后服务", "技术支持", "VIP客服"];
        Self {
            login: login(&account.name),
            password: password(&account.name),
            agent_login: agent_login(&account.name),
            agent_password: agent_password(&account.name),
            timeline: Timeline::new(&account, TAG),
            agents: data::agent_pool(
                account.seed,
                TAG,
                data::CHINESE_NAMES,
                &groups,
                &format!("{}.bangwo8.com", account.name),
                2300,
            ),
            ended: EndedCache::default(),
            account,
        }
    }

    /// The agent pool.
    pub(crate) fn agents(&self) -> &[Person] {
        &self.agents
    }

    /// The account's login (the truth's `account`).
    pub(crate) fn login(&self) -> &str {
        &self.login
    }

    /// The password of the account's login.
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
            stride: 3,
            len: self.len(),
        }
    }

    fn r_id(&self, i: u64) -> u64 {
        self.ids().id(i)
    }

    /// The index of a session id, if it exists.
    fn index_of(&self, r_id: u64) -> Option<u64> {
        self.ids().index_of(r_id)
    }

    /// The sessions in the history at `now`: those ended by then.
    fn ended(&self, now: NaiveDateTime) -> std::sync::Arc<Ended> {
        self.ended.get(now, || {
            Ended::new(&self.timeline, now, Duration::seconds(LONGEST), |i| {
                self.chat(i, now).ended <= now
            })
        })
    }

    /// Generates session `i` as seen at `now`.
    pub(crate) fn chat(&self, i: u64, now: NaiveDateTime) -> Chat {
        let seed = self.account.seed;
        let mut r = data::rng(seed, TAG, i, stream::RECORD);
        let mut life = data::rng(seed, TAG, i, stream::LIFE);
        let ty = match r.random_range(0..100) {
            0..20 => 1,
            20..65 => 2,
            65..85 => 3,
            85..93 => 4,
            _ => 5,
        };
        let start = self.timeline.at(i);
        let n = data::message_count(&mut r, self.account.messages, 900);
        let assigned = r.random_bool(0.95);
        let has_agent = ty == 5 || (ty != 4 && assigned);
        let agent = has_agent.then(|| r.random_range(0..self.agents.len()));
        let counts = if ty == 4 {
            let bot = n.div_ceil(2);
            [0, n - bot, bot]
        } else if agent.is_some() {
            let a = (n / 2).max(u32::from(n > 0));
            [a, n - a, 0]
        } else {
            [0, n, 0]
        };
        let short = 60 + i64::from(n) * r.random_range(10..90);
        // Every draw of the life stream is made whatever its outcome, so
        // each record's draws stay where they are.
        let long = life.random_bool(0.04);
        let long_secs = life.random_range(DAY + HOUR..=LONGEST);
        let late = life.random_bool(0.3);
        let late_secs = life.random_range(2 * DAY..=LATEST_RATING);
        let duration = if long { long_secs } else { short };
        let ended = start + Duration::seconds(duration);
        let unrecorded = r.random_bool(0.03);
        let end = (!unrecorded).then_some(ended);
        let first_response =
            (counts[0] > 0).then(|| if ty == 5 { 0 } else { r.random_range(2..120) });
        let customer = r.random_range(0..(self.len() / 3).max(1));
        let uname = customer_uname(seed, customer);
        let evaluate = if end.is_none() {
            0
        } else {
            *data::pick(&mut r, &[0, 0, 1, 1, 1, 1, 2, 3])
        };
        let evaluate_time = (evaluate != 0).then(|| {
            let soon = r.random_range(1..300);
            ended + Duration::seconds(if late { late_secs } else { soon })
        });
        let evaluate_remark = if evaluate != 0 {
            data::pick(&mut r, REMARKS).to_string()
        } else {
            String::new()
        };
        // Not rated yet at `now`: the record shows no rating.
        let rated = evaluate_time.is_some_and(|t| t <= now);
        let (evaluate, evaluate_time, evaluate_remark) = if rated {
            (evaluate, evaluate_time, evaluate_remark)
        } else {
            (0, None, String::new())
        };
        let end_type = end.map(|_| r.random_range(1..=2));
        let client_ip = if r.random_bool(0.9) {
            format!(
                "{}.{}.{}.{}",
                r.random_range(1..224),
                r.random_range(0..256),
                r.random_range(0..256),
                r.random_range(1..255)
            )
        } else {
            String::new()
        };
        let ip_info = if client_ip.is_empty() {
            String::new()
        } else {
            data::pick(&mut r, IP_INFO).to_string()
        };
        let summary = match r.random_range(0..100) {
            0..55 => SummaryCase::Filled,
            55..75 => SummaryCase::NoTemplate,
            _ => SummaryCase::NotFilled,
        };
        Chat {
            index: i,
            r_id: self.r_id(i),
            now,
            ty,
            agent,
            uname,
            start,
            ended,
            end,
            duration,
            client_ip,
            ip_info,
            evaluate,
            evaluate_time,
            evaluate_remark,
            end_type,
            counts,
            first_response,
            numeric: r.random::<u32>(),
            padded: r.random_bool(0.6),
            spokesman_id: r.random_bool(0.2),
            summary,
        }
    }

    /// The served list item of a session.
    pub(crate) fn render(&self, c: &Chat) -> Value {
        let date = |t: Option<NaiveDateTime>| match t {
            Some(t) if c.padded => Value::from(data::padded(t)),
            Some(t) => Value::from(data::unpadded(t)),
            None => Value::from(""),
        };
        // Field k as a number or a string, as the record's quirk bits say.
        let num = |k: u32, v: Option<u64>| match v {
            Some(v) if c.numeric & (1 << k) != 0 => Value::from(v),
            Some(v) => Value::from(v.to_string()),
            None => Value::from(""),
        };
        let agent = c.agent.map(|a| &self.agents[a]);
        let mut m = Map::with_capacity(17);
        m.insert("r_id".into(), num(0, Some(c.r_id)));
        m.insert("type".into(), num(1, Some(u64::from(c.ty))));
        m.insert("support_id".into(), num(2, agent.map(|a| a.id)));
        m.insert("support_name".into(), agent.map_or("", |a| a.name).into());
        m.insert("uname".into(), c.uname.clone().into());
        m.insert("start_time".into(), date(Some(c.start)));
        m.insert("end_time".into(), date(c.end));
        m.insert("client_ip".into(), c.client_ip.clone().into());
        m.insert("ip_info".into(), c.ip_info.clone().into());
        m.insert("evaluate".into(), num(3, Some(u64::from(c.evaluate))));
        m.insert("evaluate_time".into(), date(c.evaluate_time));
        m.insert("evaluate_remark".into(), c.evaluate_remark.clone().into());
        m.insert("end_type".into(), num(4, c.end_type.map(u64::from)));
        m.insert(
            "servicer_msg_count".into(),
            num(5, Some(u64::from(c.counts[0]))),
        );
        m.insert(
            "client_msg_count".into(),
            num(6, Some(u64::from(c.counts[1]))),
        );
        m.insert(
            "first_response".into(),
            num(7, c.first_response.map(|s| s as u64)),
        );
        m.insert(
            "contents".into(),
            format!("{LINK_HOST}/api/v1/imchat/chatrecords/{}.json", c.r_id).into(),
        );
        Value::Object(m)
    }

    /// The messages of a session sent by the instant it is seen at, in
    /// vendor order, as (served object, local time).
    pub(crate) fn messages(&self, c: &Chat) -> Vec<(Value, NaiveDateTime)> {
        let mut r = data::rng(self.account.seed, TAG, c.index, stream::MESSAGES);
        let first = if c.ty == 5 && c.counts[0] > 0 {
            Some(0)
        } else if c.counts[1] > 0 {
            Some(1)
        } else {
            None
        };
        let roles = data::role_sequence(&mut r, &c.counts, first);
        // Messages before the first agent message fall in [0, first_response],
        // the first agent message at first_response, the rest after it.
        let fr = c.first_response.unwrap_or(0);
        let split = roles.iter().position(|&k| k == 0).unwrap_or(roles.len());
        let offsets = if split < roles.len() {
            let mut v = data::sorted_offsets(&mut r, split, 0, fr);
            v.push(fr);
            v.extend(data::sorted_offsets(
                &mut r,
                roles.len() - split - 1,
                fr,
                c.duration,
            ));
            v
        } else {
            data::sorted_offsets(&mut r, roles.len(), 0, c.duration)
        };
        let agent = c.agent.map(|a| &self.agents[a]);
        roles
            .iter()
            .zip(offsets)
            .map(|(&role, off)| {
                let at = c.start + Duration::seconds(off);
                let (spokesman, text): (Value, &str) = match role {
                    0 => {
                        let a = agent.expect("agent messages only in chats with an agent");
                        let who = if c.spokesman_id { Value::from(a.id) } else { Value::from(a.name) };
                        (who, *data::pick(&mut r, data::AGENT_TEXT))
                    }
                    1 => (Value::from(c.uname.clone()), *data::pick(&mut r, data::CUSTOMER_TEXT)),
                    _ => (Value::from("智能客服小帮"), *data::pick(&mut r, data::BOT_TEXT)),
                };
                let identity = [1u64, 2, 3][role];
                let identity = if r.random_bool(0.5) { Value::from(identity) } else { Value::from(identity.to_string()) };
                let when = if r.random_bool(0.5) { data::padded(at) } else { data::unpadded(at) };
                let msg = json!({"spokesman": spokesman, "spokesman_identity": identity, "msg": text, "create_time": when});
                (msg, at)
            })
            // Generated whole, then cut at the clock: a message's draws do
            // not depend on when the session is looked at.
            .take_while(|(_, at)| *at <= c.now)
            .collect()
    }

    /// The summary response body of a session: the agent fills it in when
    /// the session ends, so until then a filled one answers "not filled".
    pub(crate) fn summary_body(&self, c: &Chat) -> Value {
        let case = match c.summary {
            SummaryCase::Filled if c.ended > c.now => SummaryCase::NotFilled,
            other => other,
        };
        match case {
            SummaryCase::NoTemplate => {
                json!({"status": "120001", "message": "No service summary template"})
            }
            SummaryCase::NotFilled => {
                json!({"status": "120002", "message": "No service summary information"})
            }
            SummaryCase::Filled => {
                let mut r = data::rng(self.account.seed, TAG, c.index, stream::SUMMARY);
                let template = data::pick(
                    &mut r,
                    &["im服务总结模板", "售后服务总结", "VIP 客户回访模板"],
                );
                let amount = r.random_range(10..10_000u64);
                let amount = if r.random_bool(0.5) {
                    Value::from(amount)
                } else {
                    Value::from(amount.to_string())
                };
                let checkbox = data::pick(&mut r, &["1", "0"]);
                let dropdown = data::pick(
                    &mut r,
                    &["下拉菜单的某一项", "产品咨询", "退换货", "投诉建议", "Khác"],
                );
                let files = r.random_range(0..4);
                let attachments: Vec<String> = (0..files)
                    .map(|k| {
                        format!(
                            "{LINK_HOST}/attachments/{}/{}_{k}.png",
                            c.r_id,
                            r.random_range(1000..9999)
                        )
                    })
                    .collect();
                let mut fields = vec![
                    json!({"key": "field_1", "value": amount}),
                    json!({"key": "field_3", "value": checkbox}),
                    json!({"key": "field_2", "value": dropdown}),
                    json!({"key": "field_4", "value": attachments.join(",")}),
                ];
                if r.random_bool(0.3) {
                    fields
                        .push(json!({"key": "field_5", "value": "客户要求回电📞 Gọi lại sau 17h"}));
                }
                json!({
                    "status": "200",
                    "message": "Successful",
                    "data": {"serviceSummary": {"ticketTemplateName": template, "custom_fields": fields}}
                })
            }
        }
    }

    /// The ground truth of a session as it is seen, following
    /// docs/vendors/bangwo8.md.
    pub(crate) fn truth_of(&self, c: Chat) -> Conversation {
        let utc = |t: NaiveDateTime| local_to_utc(t, ZONE);
        let mut conv = Conversation::new("bangwo8", &self.login, c.r_id.to_string());
        conv.channel = match c.ty {
            1 => Some(Channel::App),
            2 => Some(Channel::Web),
            3 => Some(Channel::Wechat),
            4 => Some(Channel::Bot),
            other => Some(Channel::Other(other.to_string())),
        };
        conv.initiated_by = Some(if c.ty == 5 {
            Party::Agent
        } else {
            Party::Customer
        });
        // History: every session is over, end time recorded or not.
        conv.status = Some(Status::Closed);
        conv.ended_by = c.end_type.map(|t| {
            if t == 1 {
                Party::Customer
            } else {
                Party::Agent
            }
        });
        conv.created_at = Some(utc(c.start));
        conv.ended_at = c.end.map(utc);
        let agent = c.agent.map(|a| {
            let a = &self.agents[a];
            Agent {
                id: Some(a.id.to_string()),
                name: Some(a.name.to_owned()),
                email: None,
                group: None,
            }
        });
        conv.agents = agent.iter().cloned().collect();
        conv.agent = agent;
        conv.customer = Customer {
            id: Some(c.uname.clone()),
            ip: non_empty(&c.client_ip),
            location: non_empty(&c.ip_info),
            ..Customer::default()
        };
        conv.rating = Some(Rating {
            satisfaction: match c.evaluate {
                1 => Satisfaction::Satisfied,
                2 => Satisfaction::Neutral,
                3 => Satisfaction::Dissatisfied,
                _ => Satisfaction::Unrated,
            },
            score: Some(c.evaluate.to_string()),
            comment: non_empty(&c.evaluate_remark),
            rated_at: c.evaluate_time.map(utc),
        });
        conv.metrics = Metrics {
            first_response_secs: c.first_response.map(|s| s as u64),
            agent_messages: Some(u64::from(c.counts[0])),
            customer_messages: Some(u64::from(c.counts[1])),
            ..Metrics::default()
        };
        conv.summary = summary_truth(&self.summary_body(&c));
        let messages = self
            .messages(&c)
            .into_iter()
            .map(|(raw, at)| {
                let role = match raw["spokesman_identity"]
                    .as_u64()
                    .or_else(|| raw["spokesman_identity"].as_str()?.parse().ok())
                {
                    Some(1) => Role::Agent,
                    Some(2) => Role::Customer,
                    _ => Role::Bot,
                };
                let name = scalar_text(&raw["spokesman"]);
                Message {
                    id: None,
                    sender: Sender {
                        id: if role == Role::Customer {
                            name.clone()
                        } else {
                            None
                        },
                        role,
                        name,
                    },
                    kind: Some(MessageKind::Text),
                    text: raw["msg"].as_str().and_then(non_empty),
                    sent_at: Some(utc(at)),
                    read: None,
                    attachments: Vec::new(),
                    raw: RawJson::from(raw),
                }
            })
            .collect();
        conv.set_messages(messages);
        conv.raw = RawJson::from(self.render(&c));
        conv
    }
}

/// The customer identifier of customer number `k`, as Bangwo8 spells them.
fn customer_uname(seed: u64, k: u64) -> String {
    let mut r = data::rng(seed, TAG, k, stream::CUSTOMER);
    const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let tail: String = (0..r.random_range(12..26))
        .map(|_| char::from(*data::pick(&mut r, ALPHA)))
        .collect();
    format!("u{}_o{}_{tail}", r.random_range(1..9), r.random_range(1..9))
}

fn non_empty(s: &str) -> Option<String> {
    (!s.trim().is_empty()).then(|| s.to_owned())
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => non_empty(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The model summary of a served summary body (it is the generator's own
/// object, not a parsed response).
fn summary_truth(body: &Value) -> Option<Summary> {
    let s = body.get("data")?.get("serviceSummary")?;
    Some(Summary {
        template: s["ticketTemplateName"].as_str().and_then(non_empty),
        fields: s["custom_fields"]
            .as_array()?
            .iter()
            .map(|f| SummaryField {
                key: f["key"].as_str().unwrap_or_default().to_owned(),
                value: scalar_text(&f["value"]),
            })
            .collect(),
    })
}

// ---------------------------------------------------------------------------
// HTTP handlers.

fn error(status: u16, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({"status": status.to_string(), "message": message}),
    )
}

/// Checks the basic credentials of `d`'s account; `None` when they are
/// right. Listing needs the administrator; messages and summaries are open to
/// every agent (调用者权限: 管理员 / 所有客服).
pub(crate) fn check_auth(
    d: &Data,
    headers: &axum::http::HeaderMap,
    admin_only: bool,
) -> Option<Reply> {
    match crate::http::basic_auth(headers) {
        Some((user, pass)) if user == d.login && pass == d.password => None,
        Some((user, pass)) if user == d.agent_login && pass == d.agent_password => {
            admin_only.then(|| {
                error(
                    403,
                    "Forbidden: 权限不足,只有管理员可以查看会话列表 (administrator only)",
                )
            })
        }
        _ => Some(
            error(
                401,
                "Unauthorized: 帐号或密码错误 (account or password is wrong)",
            )
            .with_header("www-authenticate", "Basic realm=\"bangwo8\""),
        ),
    }
}

/// The vendor's wall clock at `now`.
pub(crate) fn local(now: DateTime<Utc>) -> NaiveDateTime {
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
                    &format!("参数 {name} 格式错误,应为 2012-01-01 (got `{v}`)"),
                )
            }),
    }
}

fn paging(p: &Params) -> ApiResult<(u64, u64)> {
    let page = p.positive("page", 1).map_err(|m| error(400, &m))?;
    let per_page = p
        .positive("per_page", DEFAULT_PER_PAGE)
        .map_err(|m| error(400, &m))?;
    Ok((page, per_page))
}

/// The absolute link to page `page` of `path`, keeping the request's other parameters.
fn link(path: &str, p: &Params, per_page: u64, page: u64) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in p.iter().filter(|(k, _)| *k != "page" && *k != "per_page") {
        q.append_pair(k, v);
    }
    q.append_pair("per_page", &per_page.to_string());
    q.append_pair("page", &page.to_string());
    format!("{LINK_HOST}{path}?{}", q.finish())
}

fn envelope(
    items_key: &str,
    items: Value,
    path: &str,
    p: &Params,
    count: u64,
    page: u64,
    per_page: u64,
) -> Value {
    let next = (page.saturating_mul(per_page) < count).then(|| link(path, p, per_page, page + 1));
    let prev = (page > 1).then(|| link(path, p, per_page, page - 1));
    json!({items_key: items, "count": count, "next_page": next, "previous_page": prev})
}

/// `GET /api/v1/imchat/histories.json` and `/histories/{agent_id}.json`: the
/// sessions ended by `now`, filtered on what they show at `now`.
pub(crate) fn list(
    d: &Data,
    now: DateTime<Utc>,
    agent_id: Option<&str>,
    p: &Params,
) -> ApiResult<Reply> {
    let now = local(now);
    let path = match agent_id {
        Some(a) => format!("/api/v1/imchat/histories/{a}.json"),
        None => "/api/v1/imchat/histories.json".to_owned(),
    };
    let agent = match agent_id {
        None => None,
        Some(a) => match a.parse::<u64>() {
            Ok(id) => Some(id),
            Err(_) => return Err(error(404, &format!("客服 {a} 不存在 (no such agent)"))),
        },
    };
    let uname = p.get("uname").filter(|u| !u.is_empty());
    let (ss, se) = (
        date_param(p, "servicestart_start")?,
        date_param(p, "servicestart_end")?,
    );
    let (es, ee) = (
        date_param(p, "serviceend_start")?,
        date_param(p, "serviceend_end")?,
    );
    let (page, per_page) = paging(p)?;
    let (lo, hi) = d.timeline.range_for_dates(ss, se);
    let ended = d.ended(now);
    let skip = (page - 1).saturating_mul(per_page);
    let scan = agent.is_some() || uname.is_some() || es.is_some() || ee.is_some();
    let mut items = Vec::new();
    let count = if !scan {
        items.extend(
            ended
                .page(lo, hi, skip, per_page)
                .into_iter()
                .map(|i| d.render(&d.chat(i, now))),
        );
        ended.count(lo, hi)
    } else {
        let mut count = 0u64;
        for i in ended.iter(lo, hi) {
            let c = d.chat(i, now);
            let ok = agent.is_none_or(|a| c.agent.is_some_and(|k| d.agents[k].id == a))
                && uname.is_none_or(|u| c.uname == u)
                && (es.is_none() && ee.is_none()
                    || c.end.is_some_and(|e| {
                        es.is_none_or(|s| e.date() >= s) && ee.is_none_or(|x| e.date() <= x)
                    }));
            if ok {
                if count >= skip && count < skip.saturating_add(per_page) {
                    items.push(d.render(&c));
                }
                count += 1;
            }
        }
        count
    };
    Ok(Reply::json(
        200,
        &envelope(
            "chats",
            Value::Array(items),
            &path,
            p,
            count,
            page,
            per_page,
        ),
    ))
}

/// The session of a `{r_id}.json` path segment, if it has started by `now`.
fn session(d: &Data, now: NaiveDateTime, file: &str) -> ApiResult<Chat> {
    let id = file.strip_suffix(".json").unwrap_or(file);
    id.parse::<u64>()
        .ok()
        .and_then(|r| d.index_of(r))
        .filter(|&i| d.timeline.at(i) <= now)
        .map(|i| d.chat(i, now))
        .ok_or_else(|| error(404, &format!("会话 {id} 不存在 (no such session)")))
}

/// `GET /api/v1/imchat/chatrecords/{r_id}.json`: the messages sent by `now`.
pub(crate) fn chatrecords(
    d: &Data,
    now: DateTime<Utc>,
    file: &str,
    p: &Params,
) -> ApiResult<Reply> {
    let c = session(d, local(now), file)?;
    let (ts, te) = (date_param(p, "time_start")?, date_param(p, "time_end")?);
    let (page, per_page) = paging(p)?;
    let all: Vec<Value> = d
        .messages(&c)
        .into_iter()
        .filter(|(_, at)| ts.is_none_or(|s| at.date() >= s) && te.is_none_or(|e| at.date() <= e))
        .map(|(m, _)| m)
        .collect();
    let count = all.len() as u64;
    let skip = (page - 1).saturating_mul(per_page).min(count) as usize;
    let take = per_page.min(count) as usize;
    let contents: Vec<Value> = all.into_iter().skip(skip).take(take).collect();
    // r_id is a string here, as in the vendor's example.
    let items = json!({"r_id": c.r_id.to_string(), "contents": contents});
    let path = format!("/api/v1/imchat/chatrecords/{}.json", c.r_id);
    Ok(Reply::json(
        200,
        &envelope("im_chatrecords", items, &path, p, count, page, per_page),
    ))
}

/// `GET /api/v1/servicesummary/{r_id}.json?servicesummary_type=1`.
pub(crate) fn summary(d: &Data, now: DateTime<Utc>, file: &str, p: &Params) -> ApiResult<Reply> {
    match p.get("servicesummary_type") {
        Some("1") => {}
        Some("2" | "3") => {
            return Ok(Reply::json(
                200,
                &json!({"status": "120001", "message": "No service summary template"}),
            ));
        }
        Some(v) => {
            return Err(error(
                400,
                &format!("参数 servicesummary_type 错误: `{v}` (1-im 2-呼叫中心 3-远程协助)"),
            ));
        }
        None => {
            return Err(error(
                400,
                "缺少参数 servicesummary_type (missing servicesummary_type)",
            ));
        }
    }
    let c = session(d, local(now), file)?;
    Ok(Reply::json(200, &d.summary_body(&c)))
}

/// The ground truth at `now`, lazily: every session ended by then, as it is
/// then.
pub(crate) fn truth_iter(d: Data, now: DateTime<Utc>) -> impl Iterator<Item = Conversation> {
    let now = local(now);
    let created = d.timeline.partition(|t| t <= now);
    (0..created).filter_map(move |i| {
        // The history holds ended sessions only.
        let c = d.chat(i, now);
        (c.ended <= now).then(|| d.truth_of(c))
    })
}
