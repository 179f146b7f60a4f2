use crate::common::{assert_ok, chathaul, config_args, secrets, sim, text, three_source_config};

/// Every file under `dir`, as bytes (databases and their WAL included).
fn all_bytes(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn secrets_appear_in_no_output_log_or_database_row() {
    let sim = sim(10, 0);
    let dir = tempfile::tempdir().unwrap();
    let secrets = secrets(&sim);
    assert_eq!(secrets.len(), 3);
    let mut outputs = Vec::new();
    for vendor in chathaul_sim::VENDORS {
        for target in [
            format!("{vendor}.sqlite"),
            format!("{vendor}.jsonl"),
            format!("{vendor}.csv"),
            "-".to_owned(),
        ] {
            let out = chathaul(dir.path())
                .args([
                    "-vvv",
                    "pull",
                    vendor,
                    "--messages",
                    "--summaries",
                    "-o",
                    &target,
                ])
                .args(config_args(&sim, vendor))
                .output()
                .unwrap();
            assert_ok(&out);
            outputs.push(out);
        }
    }
    let env = three_source_config(&sim, &dir.path().join("chathaul.toml"), &[]);
    let out = chathaul(dir.path())
        .args(["-vvv", "sync", "--db", "sync.sqlite", "--json"])
        .envs(env)
        .output()
        .unwrap();
    assert_ok(&out);
    let (_, stderr) = text(&out);
    assert!(stderr.contains("sync run starts"), "-vvv logs: {stderr}");
    outputs.push(out);
    outputs.push(
        chathaul(dir.path())
            .args(["sync", "--status", "--json", "--db", "sync.sqlite"])
            .output()
            .unwrap(),
    );

    for secret in &secrets {
        for out in &outputs {
            let (stdout, stderr) = text(out);
            assert!(
                !stdout.contains(secret.as_str()) && !stderr.contains(secret.as_str()),
                "secret leaked in output"
            );
        }
        for (name, bytes) in all_bytes(dir.path()) {
            if name.ends_with("chathaul.toml") {
                continue;
            }
            assert!(!contains(&bytes, secret), "secret found in {name}");
        }
    }
}
