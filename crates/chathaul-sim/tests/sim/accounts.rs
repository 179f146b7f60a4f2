//! Many accounts per vendor: each with its own base URL, credentials, data
//! and rate budget; account 0 is the demo account as it always was.

use std::collections::BTreeSet;

use chathaul_sim::{SimOptions, VENDORS};

use crate::*;

fn three() -> SimOptions {
    SimOptions {
        conversations: 60,
        accounts: 3,
        ..SimOptions::default()
    }
}

#[tokio::test]
async fn each_account_serves_its_own_truth() {
    let sim = sim(three()).await;
    let single = sim_default_truths().await;
    assert_eq!(sim.accounts(), 3);
    for vendor in VENDORS {
        let mut ids = Vec::new();
        for account in 0..3 {
            let config = sim.config_for(vendor, account);
            let base = sim.base_url_for(vendor, account);
            assert_eq!(config[0], ("base_url".to_owned(), base.clone()));
            let truth = sim.truth_for(vendor, account);
            assert_eq!(truth.len(), 60, "{vendor} account {account}");
            let served = list_all(&base, vendor, cred_of(vendor, &config)).await;
            assert_eq!(
                served,
                listed_raws(vendor, &truth),
                "{vendor} account {account}"
            );
            // The truth names the account as the connector's config does.
            let name = config
                .iter()
                .find(|(k, _)| ["account", "subdomain", "domain"].contains(&k.as_str()))
                .unwrap()
                .1
                .clone();
            assert!(truth.iter().all(|c| c.account == name), "{vendor} {name}");
            ids.push(truth.iter().map(|c| c.raw.to_value()).collect::<Vec<_>>());
        }
        // Account 0 is the demo account, unchanged; the others differ.
        assert_eq!(sim.config_for(vendor, 0), sim.config(vendor));
        assert_eq!(sim.truth(vendor), single[*vendor]);
        assert_ne!(ids[0], ids[1], "{vendor}");
        assert_ne!(ids[1], ids[2], "{vendor}");
        assert!(sim.config_for(vendor, 3).is_empty());
        assert!(sim.truth_for(vendor, 3).is_empty());
        let agents: BTreeSet<String> = sim
            .agents_for(vendor, 1)
            .into_iter()
            .map(|a| a.email)
            .collect();
        assert!(agents.iter().all(|e| e.contains("@demo1.")), "{agents:?}");
    }
    assert_eq!(
        sim.config_for("kf5", 2),
        vec![
            (
                "base_url".to_owned(),
                format!("http://{}/kf5/2", sim.addr())
            ),
            ("subdomain".to_owned(), "demo2".to_owned()),
            ("email".to_owned(), "agent@demo2.kf5.com".to_owned()),
            ("password".to_owned(), "kf5-demo2-password".to_owned()),
        ]
    );
    assert_eq!(
        sim.config_for("bangwo8", 1)[1..],
        [
            ("account".to_owned(), "admin@demo1".to_owned()),
            ("password".to_owned(), "bangwo8-demo1-password".to_owned()),
        ]
    );
    assert_eq!(
        sim.config_for("caresoft", 1)[1..],
        [
            ("domain".to_owned(), "demo1".to_owned()),
            ("token".to_owned(), "caresoft-demo1-token".to_owned()),
        ]
    );
    // The free function gives the same truth without a server.
    assert_eq!(
        sim.truth_for("kf5", 2),
        chathaul_sim::account_truth(&three(), "kf5", 2, sim.now()).collect::<Vec<_>>()
    );
}

async fn sim_default_truths()
-> std::collections::HashMap<&'static str, Vec<connector_core::Conversation>> {
    let opts = SimOptions {
        conversations: 60,
        ..SimOptions::default()
    };
    VENDORS
        .iter()
        .map(|v| (*v, chathaul_sim::truth(&opts, v).collect()))
        .collect()
}

#[tokio::test]
async fn an_account_takes_only_its_own_credentials_and_unknown_accounts_are_not_found() {
    let sim = sim(three()).await;
    let kf5_1 = sim.base_url_for("kf5", 1);
    url_json(&format!("{kf5_1}/apiv2/chats.json"), KF5, 401).await;
    let own = sim.config_for("kf5", 1);
    url_json(
        &format!("{kf5_1}/apiv2/chats.json"),
        cred_of("kf5", &own),
        200,
    )
    .await;
    // The API token of account 1 works there too.
    url_json(
        &format!("{kf5_1}/apiv2/chats.json"),
        Cred::Basic("agent@demo1.kf5.com/token", "kf5-demo1-token"),
        200,
    )
    .await;
    let bw = sim.base_url_for("bangwo8", 2);
    url_json(&format!("{bw}/api/v1/imchat/histories.json"), BW8, 401).await;
    let agent = Cred::Basic("agent@demo2", "bangwo8-demo2-agent-password");
    url_json(&format!("{bw}/api/v1/imchat/histories.json"), agent, 403).await;
    let cs = sim.base_url_for("caresoft", 1);
    url_json(&format!("{cs}/api/v1/chats"), CS, 401).await;
    // Past the last account, or account 0 spelled out: no such path.
    for path in [
        "/kf5/3/apiv2/chats.json",
        "/kf5/0/apiv2/chats.json",
        "/kf5/x/apiv2/chats.json",
    ] {
        let (status, _, _) = get_url(&format!("http://{}{path}", sim.addr()), KF5).await;
        assert_eq!(status, 404, "{path}");
    }
}

#[tokio::test]
async fn each_account_has_its_own_rate_budget() {
    let sim = sim(SimOptions {
        rate_limit: Some(2),
        ..three()
    })
    .await;
    let first = sim.config_for("kf5", 0);
    let second = sim.config_for("kf5", 1);
    let url = |account: usize| {
        format!(
            "{}/apiv2/chats.json?per_page=1",
            sim.base_url_for("kf5", account)
        )
    };
    let mut statuses = Vec::new();
    // Six in a row cross at most one one-second window: at most four pass.
    for _ in 0..6 {
        statuses.push(get_url(&url(0), cred_of("kf5", &first)).await.0);
    }
    let other = get_url(&url(1), cred_of("kf5", &second)).await.0;
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(
        other, 200,
        "account 1 after account 0 was throttled: {statuses:?}"
    );
    assert_eq!(
        sim.stats().throttled,
        statuses.iter().filter(|&&s| s == 429).count() as u64
    );
}
