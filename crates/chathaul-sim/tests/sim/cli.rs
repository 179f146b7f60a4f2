use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

/// Kills the child it holds when dropped (a failing test must not leave it running).
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn binary_prints_json_configs_writes_truth_and_serves() {
    let dir = std::env::temp_dir().join(format!("chathaul-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let truth = dir.join("truth.jsonl");
    let child = Command::new(env!("CARGO_BIN_EXE_chathaul-sim"))
        .args([
            "--port",
            "0",
            "--json",
            "--conversations",
            "20",
            "--seed",
            "5",
            "--truth",
        ])
        .arg(&truth)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Child(child);
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let configs: Vec<Value> = (0..3)
        .map(|_| serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap())
        .collect();
    let vendors: Vec<&str> = configs
        .iter()
        .map(|c| c["vendor"].as_str().unwrap())
        .collect();
    assert_eq!(vendors, ["bangwo8", "caresoft", "kf5"]);
    let kf5 = &configs[2];
    let base = kf5["base_url"].as_str().unwrap();
    assert!(
        base.starts_with("http://127.0.0.1:") && base.ends_with("/kf5"),
        "{base}"
    );
    assert_eq!(kf5["subdomain"], "demo");
    assert_eq!(kf5["email"], "agent@demo.kf5.com");
    assert_eq!(kf5["password"], "kf5-demo-password");
    assert_eq!(configs[1]["token"], "caresoft-demo-token");
    assert_eq!(configs[0]["account"], "admin@demo");

    let res = crate::client()
        .get(format!("{base}/apiv2/chats.json"))
        .basic_auth("agent@demo.kf5.com", Some("kf5-demo-password"))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["chats"].as_array().unwrap().len(), 20);

    let text = std::fs::read_to_string(&truth).unwrap();
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 60);
    let keys: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["vendor"].as_str().unwrap().to_owned(),
                r["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        keys.windows(2).all(|w| w[0].0 <= w[1].0),
        "sorted by vendor"
    );
    let opts = chathaul_sim::SimOptions {
        conversations: 20,
        seed: 5,
        ..Default::default()
    };
    let kf5_truth: Vec<Value> = chathaul_sim::truth(&opts, "kf5")
        .map(|c| serde_json::to_value(c).unwrap())
        .collect();
    assert_eq!(rows[40..].to_vec(), kf5_truth);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn plain_lines_name_the_base_url_then_the_fields_and_ctrl_c_stops_it() {
    let started = std::time::Instant::now();
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_chathaul-sim"))
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let first: Vec<String> = (0..3).map(|_| lines.next().unwrap().unwrap()).collect();
    let kf5: Vec<&str> = first[2].split(' ').collect();
    assert_eq!(kf5[0], "kf5");
    assert!(kf5[1].starts_with("http://127.0.0.1:") && kf5[1].ends_with("/kf5"));
    assert_eq!(
        &kf5[2..],
        [
            "subdomain=demo",
            "email=agent@demo.kf5.com",
            "password=kf5-demo-password"
        ]
    );
    assert!(first[0].starts_with("bangwo8 http://127.0.0.1:"));
    assert!(first[0].ends_with("/bangwo8 account=admin@demo password=bangwo8-demo-password"));
    assert!(first[1].ends_with("/caresoft domain=demo token=caresoft-demo-token"));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "started in {:?}",
        started.elapsed()
    );

    // Ctrl-C (SIGINT) stops it cleanly, with exit status 0.
    let pid = child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running 5 s after SIGINT"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn bad_flags_are_usage_errors() {
    let out = Command::new(env!("CARGO_BIN_EXE_chathaul-sim"))
        .args(["--faults", "explode"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown fault `explode`"), "{err}");
}

#[tokio::test]
async fn accounts_and_the_clock_from_flags() {
    let child = Command::new(env!("CARGO_BIN_EXE_chathaul-sim"))
        .args([
            "--port",
            "0",
            "--json",
            "--conversations",
            "30",
            "--accounts",
            "2",
            "--now",
            "2024-01-05T12:00:00+08:00",
            "--rate-limit",
            "1",
            "--no-retry-after",
            "--latency-per-in-flight-ms",
            "5",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Child(child);
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let configs: Vec<Value> = (0..6)
        .map(|_| serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap())
        .collect();
    // Account 0 of every vendor, then account 1 of every vendor.
    let named: Vec<(&str, &str)> = configs
        .iter()
        .map(|c| {
            let name = ["account", "domain", "subdomain"]
                .iter()
                .find_map(|k| c[*k].as_str())
                .unwrap();
            (c["vendor"].as_str().unwrap(), name)
        })
        .collect();
    assert_eq!(
        named,
        [
            ("bangwo8", "admin@demo"),
            ("caresoft", "demo"),
            ("kf5", "demo"),
            ("bangwo8", "admin@demo1"),
            ("caresoft", "demo1"),
            ("kf5", "demo1"),
        ]
    );
    let kf5_1 = configs[5]["base_url"].as_str().unwrap();
    assert!(kf5_1.ends_with("/kf5/1"), "{kf5_1}");
    let root = kf5_1.strip_suffix("/kf5/1").unwrap();
    let clock: Value = crate::client()
        .get(format!("{root}/_sim/clock"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(clock["now"], "2024-01-05T04:00:00Z");
    // The clock is early in the data: only the first days' chats exist.
    let mut served = 0;
    let mut no_retry_after = false;
    for _ in 0..3 {
        let res = crate::client()
            .get(format!("{kf5_1}/apiv2/chats.json"))
            .basic_auth("agent@demo1.kf5.com", Some("kf5-demo1-password"))
            .send()
            .await
            .unwrap();
        if res.status() == 429 {
            no_retry_after |= !res.headers().contains_key("retry-after");
        } else {
            let body: Value = res.json().await.unwrap();
            served = body["chats"].as_array().unwrap().len();
        }
    }
    assert!(no_retry_after, "a 429 without Retry-After");
    let opts = chathaul_sim::SimOptions {
        conversations: 30,
        accounts: 2,
        ..Default::default()
    };
    let now = "2024-01-05T04:00:00Z".parse().unwrap();
    let want = chathaul_sim::account_truth(&opts, "kf5", 1, now).count();
    assert!(want > 0 && want < 30, "{want}");
    assert_eq!(served, want);
}

#[test]
fn a_clock_without_an_offset_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_chathaul-sim"))
        .args(["--now", "2024-01-05 12:00:00"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--now") && err.contains("is not an instant"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_chathaul-sim"))
        .args(["--accounts", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--accounts"));
}
