use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use chathaul::Conversation;
use chathaul_sim::{SimOptions, Simulator};

/// The binary, with an empty environment (no CHATHAUL_* leaks in from the
/// machine) and a temporary working directory.
pub fn chathaul(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chathaul"));
    cmd.env_clear().current_dir(dir);
    cmd
}

pub fn sim(conversations: usize, latency_ms: u64) -> Simulator {
    Simulator::start_blocking(SimOptions {
        seed: 7,
        conversations,
        messages: 6,
        latency: Duration::from_millis(latency_ms),
        ..Default::default()
    })
    .expect("the simulator starts")
}

/// `-c key=value` for every config value of a vendor's demo account.
pub fn config_args(sim: &Simulator, vendor: &str) -> Vec<String> {
    sim.config(vendor)
        .into_iter()
        .flat_map(|(k, v)| ["-c".to_owned(), format!("{k}={v}")])
        .collect()
}

/// The secret values of the simulator's accounts.
pub fn secrets(sim: &Simulator) -> Vec<String> {
    chathaul_sim::VENDORS
        .iter()
        .flat_map(|v| sim.config(v))
        .filter(|(k, _)| matches!(k.as_str(), "password" | "token" | "api_token"))
        .map(|(_, v)| v)
        .collect()
}

pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[track_caller]
pub fn assert_ok(out: &Output) {
    let (o, e) = text(out);
    assert_eq!(out.status.code(), Some(0), "stdout:\n{o}\nstderr:\n{e}");
}

/// The simulator's truth for every vendor, sorted as the store returns it.
pub fn all_truth(sim: &Simulator) -> Vec<Conversation> {
    let mut all: Vec<Conversation> = chathaul_sim::VENDORS
        .iter()
        .flat_map(|v| sim.truth(v))
        .collect();
    all.sort_by(|a, b| (&a.vendor, &a.account, &a.id).cmp(&(&b.vendor, &b.account, &b.id)));
    all
}

/// A config file with the three vendors of the simulator, secrets referenced
/// from the environment; returns the environment to run it with.
pub fn three_source_config(
    sim: &Simulator,
    path: &Path,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut toml = String::from("lookback = \"1d\"\n");
    let mut env = Vec::new();
    for vendor in chathaul_sim::VENDORS {
        toml.push_str(&format!(
            "\n[[source]]\nname = \"{vendor}-demo\"\nvendor = \"{vendor}\"\n[source.config]\n"
        ));
        for (k, v) in extra {
            toml.push_str(&format!("{k} = \"{v}\"\n"));
        }
        for (k, v) in sim.config(vendor) {
            if matches!(k.as_str(), "password" | "token") {
                let var = format!("TEST_{}_{}", vendor.to_uppercase(), k.to_uppercase());
                toml.push_str(&format!("{k} = \"${{{var}}}\"\n"));
                env.push((var, v));
            } else {
                toml.push_str(&format!("{k} = \"{v}\"\n"));
            }
        }
    }
    std::fs::write(path, toml).unwrap();
    env
}
