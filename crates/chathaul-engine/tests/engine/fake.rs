//! A test double: a connector that serves a fixed list of conversations,
//! applies the query exactly, records the queries it was asked, and can fail
//! after a number of conversations or report a total it does not serve.

use std::sync::Mutex;

use connector_core::chrono::{DateTime, Duration, TimeZone, Utc};
use connector_core::futures::{StreamExt, stream};
use connector_core::{
    Agent, Attachment, Capabilities, Channel, Connector, ConnectorInfo, Conversation,
    ConversationStream, Error, Include, Message, MessageKind, Metrics, Party, PullCounters,
    PullStats, Query, Rating, Role, Satisfaction, Sender, Status, Summary, SummaryField, TicketRef,
};
use serde_json::json;

#[derive(Debug)]
pub struct Fake {
    info: ConnectorInfo,
    data: Vec<Conversation>,
    pub fail_after: Option<usize>,
    pub extra_reported: u64,
    pub queries: Mutex<Vec<Query>>,
    counters: PullCounters,
    /// The request rate its "pacing" reports as learned.
    pub learned_rate: Option<f64>,
    /// The rates it was seeded with.
    pub seeded: Mutex<Vec<f64>>,
    /// The ids it was asked to fetch one by one (complete, by id).
    pub fetched: Mutex<Vec<String>>,
}

impl Fake {
    pub fn new(account: &str, data: Vec<Conversation>) -> Self {
        Self {
            info: ConnectorInfo {
                vendor: "fake",
                account: account.to_owned(),
                base_url: "http://127.0.0.1:9".into(),
                capabilities: Capabilities {
                    messages: true,
                    summaries: true,
                    ..Default::default()
                },
            },
            data,
            fail_after: None,
            extra_reported: 0,
            queries: Mutex::new(vec![]),
            counters: PullCounters::default(),
            learned_rate: None,
            seeded: Mutex::new(vec![]),
            fetched: Mutex::new(vec![]),
        }
    }

    pub fn asked(&self) -> Vec<Query> {
        self.queries.lock().unwrap().clone()
    }

    /// The ids fetched one by one so far.
    pub fn completed(&self) -> Vec<String> {
        self.fetched.lock().unwrap().clone()
    }
}

#[connector_core::async_trait]
impl Connector for Fake {
    fn info(&self) -> &ConnectorInfo {
        &self.info
    }

    fn conversations<'a>(&'a self, query: &Query) -> ConversationStream<'a> {
        self.queries.lock().unwrap().push(query.clone());
        let listed: Vec<Conversation> = self
            .data
            .iter()
            .filter(|c| query.matches(c))
            .cloned()
            .collect();
        self.counters.page(listed.len());
        self.counters
            .reported_total(listed.len() as u64 + self.extra_reported);
        let mut out = Vec::new();
        for (i, mut c) in listed.into_iter().enumerate() {
            if self.fail_after.is_some_and(|n| i >= n) {
                out.push(Err(Error::Transport {
                    vendor: "fake",
                    endpoint: "/chats".into(),
                    page: 2,
                    message: "connection reset".into(),
                }));
                break;
            }
            if !query.include.messages {
                c.messages.clear();
                c.messages_fetched = false;
            }
            out.push(Ok(c));
        }
        query.apply(stream::iter(out)).boxed()
    }

    async fn conversation(
        &self,
        id: &str,
        _include: Include,
    ) -> connector_core::Result<Conversation> {
        self.fetched.lock().unwrap().push(id.to_owned());
        self.data
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .ok_or_else(|| Error::Api {
                vendor: "fake",
                endpoint: "/chat".into(),
                page: 0,
                status: 404,
                code: None,
                message: "not found".into(),
            })
    }

    fn seed_rate(&self, rate: f64) {
        self.seeded.lock().unwrap().push(rate);
    }

    fn stats(&self) -> PullStats {
        self.counters.snapshot(connector_core::http::StatsSnapshot {
            rate: self.learned_rate,
            ..Default::default()
        })
    }
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 8, 0, 0).unwrap()
}

/// `n` conversations, one every 12 hours from [`t0`], with every field set
/// and text that is hard for CSV (commas, quotes, newlines, CJK, emoji).
pub fn conversations(vendor: &str, n: usize) -> Vec<Conversation> {
    (0..n)
        .map(|i| {
            let mut c = Conversation::new(vendor, "acme", format!("c{i:03}"));
            let start = t0() + Duration::hours(12 * i as i64);
            c.channel = Some(if i % 5 == 4 {
                Channel::Other("line".into())
            } else {
                Channel::Web
            });
            c.status = Some(if i % 3 == 0 {
                Status::Missed
            } else {
                Status::Closed
            });
            c.initiated_by = Some(Party::Customer);
            c.ended_by = Some(Party::Agent);
            c.created_at = Some(start);
            c.assigned_at = Some(start + Duration::seconds(30));
            c.answered_at = Some(start + Duration::seconds(45));
            c.ended_at = Some(start + Duration::minutes(10));
            c.customer.id = Some(format!("v{i}"));
            c.customer.name = Some("Nguyễn Văn \"An\", 王小明 😀".into());
            c.customer.email = Some(format!("v{i}@example.com"));
            c.customer.ip = Some("10.0.0.1".into());
            c.customer.location = Some("Hà Nội,\nViệt Nam".into());
            let agent = Agent {
                id: Some("7".into()),
                name: Some("Lan".into()),
                email: None,
                group: Some("L1".into()),
            };
            c.agent = (i % 4 != 0).then(|| agent.clone());
            c.agents = c.agent.iter().cloned().collect();
            c.rating = Some(Rating {
                satisfaction: if i % 2 == 0 {
                    Satisfaction::Satisfied
                } else {
                    Satisfaction::Unrated
                },
                score: (i % 2 == 0).then(|| "1".into()),
                comment: (i % 2 == 0).then(|| "好, thanks!".into()),
                rated_at: (i % 2 == 0).then(|| start + Duration::minutes(11)),
            });
            c.metrics = Metrics {
                wait_secs: Some(30),
                first_response_secs: Some(45 + i as u64),
                talk_secs: None,
                duration_secs: Some(600),
                agent_messages: Some(2),
                customer_messages: Some(1),
            };
            c.summary = (i % 3 == 1).then(|| Summary {
                template: Some("Tư vấn".into()),
                fields: vec![
                    SummaryField {
                        key: "field_1".into(),
                        value: Some("4334".into()),
                    },
                    SummaryField {
                        key: "field_2".into(),
                        value: None,
                    },
                ],
            });
            c.ticket = (i % 6 == 2).then(|| TicketRef {
                id: Some("99".into()),
                number: Some("T-99".into()),
            });
            c.landing_page = Some("https://shop.example/p?a=1,b=2".into());
            c.raw = json!({"r_id": i, "note": "raw, \"quoted\"\nline"}).into();
            let msg = |k: usize, role: Role, text: &str| Message {
                id: Some(format!("m{i}-{k}")),
                sender: Sender {
                    role,
                    id: Some(format!("s{k}")),
                    name: Some("Lan".into()),
                },
                kind: Some(if k == 2 {
                    MessageKind::Image
                } else {
                    MessageKind::Text
                }),
                text: Some(text.into()),
                sent_at: Some(start + Duration::seconds(10 * k as i64 + 45)),
                read: Some(k.is_multiple_of(2)),
                attachments: if k == 2 {
                    vec![Attachment {
                        name: Some("ảnh.png".into()),
                        url: Some("https://cdn.example/a.png".into()),
                        mime: Some("image/png".into()),
                        size: Some(1234),
                    }]
                } else {
                    vec![]
                },
                raw: json!({"k": k}).into(),
            };
            c.set_messages(vec![
                msg(0, Role::Customer, "xin chào, \"help\"\nplease"),
                msg(1, Role::Agent, "您好 👋"),
                msg(2, Role::Other("robot2".into()), "see attached"),
            ]);
            c
        })
        .collect()
}
