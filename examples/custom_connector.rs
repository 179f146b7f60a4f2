//! A third-party connector, outside this repository: a tiny vendor ("toy")
//! registered through `inventory` right here, then used through
//! `chathaul::connect` like any built-in vendor — no change to chathaul.
//!
//! ```sh
//! cargo run --example custom_connector
//! ```

use chathaul::futures::{StreamExt, stream};
use chathaul::{
    Capabilities, ChangeTracking, ConfigField, Connector, ConnectorFactory, ConnectorInfo,
    Conversation, ConversationStream, Error, Include, Query, ResolvedConfig, Result, async_trait,
};

/// A vendor whose "API" is a counter: conversation `n` was created `n` hours
/// after the epoch of 2024.
#[derive(Debug)]
struct Toy {
    info: ConnectorInfo,
    count: u64,
}

const FIELDS: &[ConfigField] = &[
    ConfigField::required("count", "how many conversations the toy vendor has"),
    ConfigField::required("token", "the toy vendor's API token").secret(),
    ConfigField::optional("base_url", "unused by the toy vendor").default("https://toy.invalid"),
    ConfigField::optional("timezone", "unused by the toy vendor").default("UTC"),
];

impl Toy {
    fn from_config(cfg: &ResolvedConfig) -> Result<Self> {
        let count = cfg.parse::<u64>("count")?.expect("required");
        if cfg.expose("token") != Some("let-me-in") {
            return Err(Error::Unauthenticated {
                vendor: "toy",
                endpoint: "/".into(),
                status: 401,
                message: "wrong token".into(),
            });
        }
        Ok(Self {
            info: ConnectorInfo {
                vendor: "toy",
                account: "example".into(),
                base_url: cfg.get("base_url").unwrap_or_default().into(),
                capabilities: Capabilities {
                    push_created: false,
                    ..Default::default()
                },
            },
            count,
        })
    }

    fn make(&self, n: u64) -> Conversation {
        let mut c = Conversation::new("toy", "example", n.to_string());
        let epoch = chathaul::chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        c.created_at = Some(epoch + chathaul::chrono::Duration::hours(n as i64));
        c
    }
}

#[async_trait]
impl Connector for Toy {
    fn info(&self) -> &ConnectorInfo {
        &self.info
    }

    fn conversations<'a>(&'a self, query: &Query) -> ConversationStream<'a> {
        // Nothing to push down: the exact client-side filter does it all.
        query
            .apply(stream::iter((1..=self.count).map(|n| Ok(self.make(n)))))
            .boxed()
    }

    async fn conversation(&self, id: &str, _include: Include) -> Result<Conversation> {
        match id.parse::<u64>() {
            Ok(n) if (1..=self.count).contains(&n) => Ok(self.make(n)),
            // What a vendor's API answers for an id it does not hold.
            _ => Err(Error::Api {
                vendor: "toy",
                endpoint: format!("/conversations/{id}"),
                page: 0,
                status: 404,
                code: None,
                message: format!("no conversation {id}"),
            }),
        }
    }
}

chathaul::inventory::submit! {
    ConnectorFactory {
        name: "toy",
        description: "A toy vendor defined in an example, to show third-party connectors",
        fields: FIELDS,
        capabilities: Capabilities { messages: false, summaries: false, push_created: false, push_ended: false,
            push_agent: false, push_customer: false, push_channel: false, max_page_size: None,
            changes: ChangeTracking::DEFAULT },
        build: |cfg| Ok(Box::new(Toy::from_config(cfg)?)),
    }
}

#[tokio::main]
async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let names: Vec<&str> = chathaul::connectors().iter().map(|f| f.name).collect();
    println!("registered: {}", names.join(", "));
    assert!(
        names.contains(&"toy") && names.contains(&"kf5"),
        "the toy vendor sits beside the built-in ones"
    );

    let toy = chathaul::connect("toy", [("count", "48"), ("token", "let-me-in")])?;
    let since = chathaul::chrono::DateTime::parse_from_rfc3339("2024-01-02T00:00:00Z")?.to_utc();
    let query = Query::new().created(Some(since), None);
    let ids: Vec<String> = toy
        .conversations(&query)
        .map(|c| c.map(|c| c.id))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    println!(
        "toy conversations created on or after {since}: {}",
        ids.join(" ")
    );
    assert_eq!(ids, (24..=48).map(|n| n.to_string()).collect::<Vec<_>>());

    let err = chathaul::connect("toy", [("count", "1"), ("token", "wrong")]).unwrap_err();
    println!("with a wrong token: {err}");
    assert!(!err.to_string().contains("wrong\""));
    Ok(())
}
