//! Credentials appear nowhere: not in Debug output of configs, connectors,
//! conversations or errors, not in error text (even when a server echoes the
//! request's Authorization header back), not in the `raw` fields, and not in
//! what the `chathaul` binary prints, logs (-vvv, RUST_LOG=trace), draws as
//! progress (on a terminal) or writes (every format, the database).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chathaul_reliability::{
    HostileServer, Reply, VENDORS, bangwo8, caresoft, chathaul_bin, connector, fast_http, kf5, pull,
};
use chathaul_sim::{SimOptions, Simulator};
use connector_core::Query;
use connector_core::registry::find;

fn is_secret_key(k: &str) -> bool {
    matches!(k, "password" | "token" | "api_token")
}

/// Each secret, and the forms it travels in: base64 of `user:secret` (basic
/// auth) is checked too.
fn forms(values: &[(String, String)]) -> Vec<String> {
    let user = values
        .iter()
        .find(|(k, _)| k == "account" || k == "email")
        .map(|(_, v)| v.clone());
    let mut out = Vec::new();
    for (k, v) in values {
        if is_secret_key(k) {
            out.push(v.clone());
            if let Some(u) = &user {
                out.push(base64(format!("{u}:{v}").as_bytes()));
            }
        }
    }
    out
}

fn base64(input: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                A[((n >> (18 - 6 * i)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

#[track_caller]
fn assert_clean(what: &str, text: &str, secrets: &[String]) {
    for s in secrets {
        assert!(!text.contains(s.as_str()), "a credential appears in {what}");
    }
}

#[tokio::test]
async fn debug_output_errors_and_raw_fields_hold_no_credential() {
    let sim = Simulator::start(SimOptions {
        seed: 9,
        conversations: 12,
        messages: 3,
        ..SimOptions::default()
    })
    .await
    .unwrap();
    for vendor in VENDORS {
        let values = sim.config(vendor);
        let secrets = forms(&values);
        assert!(!secrets.is_empty());
        let resolved = find(vendor).unwrap().resolve(values.clone()).unwrap();
        assert_clean("ResolvedConfig Debug", &format!("{resolved:?}"), &secrets);
        let typed = match vendor {
            "bangwo8" => format!(
                "{:?}",
                bangwo8::Bangwo8Config::from_resolved(&resolved).unwrap()
            ),
            "kf5" => format!("{:?}", kf5::Kf5Config::from_resolved(&resolved).unwrap()),
            _ => format!(
                "{:?}",
                caresoft::CaresoftConfig::from_resolved(&resolved).unwrap()
            ),
        };
        assert_clean("the config's Debug", &typed, &secrets);
        let c = connector_core::connect(vendor, values.clone()).unwrap();
        assert_clean(
            "the connector's Debug",
            &format!("{c:?} {:?} {:?}", c.info(), c.stats()),
            &secrets,
        );

        // A full pull: every conversation's JSON (raw included) and Debug.
        let q = Query::new().with_messages(true).with_summaries(true);
        let pulled = pull(c.as_ref(), &q, Duration::from_secs(30)).await;
        assert!(
            pulled.errors().is_empty(),
            "{vendor}: {:?}",
            pulled.errors()
        );
        let all = pulled.ok();
        assert_eq!(all.len(), 12);
        assert!(all.iter().all(|c| !c.raw.is_null()), "{vendor}: raw kept");
        let json = serde_json::to_string(&all).unwrap();
        assert_clean("the conversations' JSON", &json, &secrets);
        assert_clean("the conversations' Debug", &format!("{all:?}"), &secrets);

        // Wrong credentials: the error names the refusal, not the credential.
        let wrong: Vec<(String, String)> = values
            .iter()
            .map(|(k, v)| {
                let v = if is_secret_key(k) {
                    format!("WRONG-{v}-x")
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect();
        let mut both = forms(&wrong);
        both.extend(secrets.iter().cloned());
        let c = connector(vendor, wrong, fast_http(2)).unwrap();
        let pulled = pull(c.as_ref(), &q, Duration::from_secs(30)).await;
        let e = pulled.errors()[0];
        assert_eq!(e.kind(), "auth", "{vendor}: {e}");
        assert_clean("an auth error", &format!("{e} {e:?}"), &both);
    }
}

#[tokio::test]
async fn a_server_that_echoes_the_authorization_header_does_not_leak_it_into_errors() {
    for vendor in VENDORS {
        for status in [401u16, 403, 500, 400, 200] {
            // Some proxies and debug endpoints echo the request back.
            let server = HostileServer::start(move |hit| {
                let echo = format!(
                    "{{\"error\": \"bad\", \"you_sent\": \"{}\", \"chats\": [{{\"x\": \"{}\"",
                    hit.authorization.clone().unwrap_or_default(),
                    hit.authorization.clone().unwrap_or_default()
                );
                Reply::Body {
                    status,
                    content_type: "application/json",
                    body: echo.into(),
                }
            })
            .await;
            let mut values: Vec<(String, String)> = match vendor {
                "bangwo8" => vec![
                    ("account".into(), "admin".into()),
                    ("password".into(), "pw-Zq81-secret".into()),
                ],
                "kf5" => vec![
                    ("email".into(), "ops@x.example".into()),
                    ("api_token".into(), "tok-Zq82-secret".into()),
                ],
                _ => vec![("token".into(), "tok-Zq83-secret".into())],
            };
            values.push(("base_url".into(), server.url()));
            let mut secrets = forms(&values);
            if vendor == "kf5" {
                // KF5's token travels as `{email}/token:{api_token}`.
                secrets.push(base64(b"ops@x.example/token:tok-Zq82-secret"));
            }
            let c = connector(vendor, values, fast_http(1)).unwrap();
            let pulled = pull(c.as_ref(), &Query::new(), Duration::from_secs(10)).await;
            let errors = pulled.errors();
            assert!(!errors.is_empty(), "{vendor} {status}");
            for e in errors {
                assert_clean(
                    &format!("{vendor}'s error on HTTP {status}: {e}"),
                    &format!("{e} {e:?}"),
                    &secrets,
                );
            }
        }
    }
}

#[tokio::test]
async fn an_echoed_credential_on_the_summary_endpoint_is_scrubbed_too() {
    // Bangwo8's summaries are read by the connector itself (its relaxed
    // JSON): the same scrubbing applies to what its errors quote.
    let server = HostileServer::start(|hit| {
        let auth = hit.authorization.clone().unwrap_or_default();
        if hit.path.starts_with("/api/v1/servicesummary/") {
            Reply::Body {
                status: 200,
                content_type: "text/html",
                body: format!("<html>\n<body>you sent {auth}</body>\n</html>").into(),
            }
        } else if hit.path.starts_with("/api/v1/imchat/histories") && hit.page() == 1 {
            Reply::json(&serde_json::json!({"chats": [{"r_id": "7", "type": "2",
                "start_time": "2024-01-02 10:00:00"}], "count": 1}))
        } else {
            Reply::json(&serde_json::json!({"chats": [], "count": 1}))
        }
    })
    .await;
    let values: Vec<(String, String)> = vec![
        ("account".into(), "admin".into()),
        ("password".into(), "pw-Zq84-secret".into()),
        ("base_url".into(), server.url()),
    ];
    let secrets = forms(&values);
    let c = connector("bangwo8", values, fast_http(1)).unwrap();
    let pulled = pull(
        c.as_ref(),
        &Query::new().with_summaries(true),
        Duration::from_secs(10),
    )
    .await;
    let e = pulled.errors()[0];
    let text = e.to_string();
    assert!(
        text.contains("/api/v1/servicesummary/7.json") && text.contains("[REDACTED]"),
        "{text}"
    );
    assert!(!text.contains('\n'), "{text}");
    assert_clean("the summary error", &format!("{e} {e:?}"), &secrets);
}

fn scan_dir(dir: &Path, secrets: &[String]) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_file() || path.extension().is_some_and(|e| e == "toml") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for s in secrets {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "a credential is in {}",
                path.display()
            );
        }
        n += 1;
    }
    n
}

#[test]
fn the_binary_leaks_no_credential_at_trace_level_with_progress_in_any_format() {
    let sim = Simulator::start_blocking(SimOptions {
        seed: 4,
        conversations: 8,
        messages: 3,
        latency: Duration::from_millis(2),
        ..SimOptions::default()
    })
    .unwrap();
    let slow = Simulator::start_blocking(SimOptions {
        seed: 4,
        conversations: 8,
        messages: 3,
        latency: Duration::from_millis(60),
        ..SimOptions::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bin = chathaul_bin();
    let mut secrets = Vec::new();
    let mut transcripts = Vec::new();
    let script = Path::new("/usr/bin/script").exists();
    for vendor in VENDORS {
        let values = sim.config(vendor);
        secrets.extend(forms(&values));
        // Secrets from the environment, the rest on the command line.
        let mut args: Vec<String> = vec![
            "-vvv".into(),
            "pull".into(),
            vendor.into(),
            "--messages".into(),
            "--summaries".into(),
        ];
        let mut env = vec![("RUST_LOG".to_owned(), "trace".to_owned())];
        for (k, v) in &values {
            if is_secret_key(k) {
                env.push((
                    format!("CHATHAUL_{}_{}", vendor.to_uppercase(), k.to_uppercase()),
                    v.clone(),
                ));
            } else {
                args.extend(["-c".into(), format!("{k}={v}")]);
            }
        }
        for target in ["jsonl", "csv", "parquet", "sqlite", "-"] {
            let out_arg = if target == "-" {
                "-".to_owned()
            } else {
                format!("{vendor}.{target}")
            };
            let mut full = args.clone();
            full.extend(["-o".into(), out_arg]);
            let out = Command::new(bin)
                .args(&full)
                .env_clear()
                .envs(env.iter().cloned())
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(
                stderr.contains("TRACE") || stderr.contains("DEBUG"),
                "-vvv logs"
            );
            transcripts.push(String::from_utf8_lossy(&out.stdout).into_owned());
            transcripts.push(stderr);
        }
        // On a terminal (a pty from `script`), with the progress display.
        if script {
            // Against a slow simulator, so the progress line is drawn a few times.
            let slow_base = slow.base_url(vendor);
            let mut line = format!("'{}'", bin.display());
            for a in &args {
                let a = a.replace(&sim.base_url(vendor), &slow_base);
                line.push_str(&format!(" '{a}'"));
            }
            line.push_str(&format!(" -o {vendor}-tty.jsonl"));
            let out = Command::new("/usr/bin/script")
                .args(["-qefc", &line, "/dev/null"])
                .env_clear()
                .envs(env.iter().cloned())
                .env("TERM", "xterm")
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&out.stdout)
            );
            let tty = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                tty.contains(" conv/s"),
                "{vendor}: no progress line drawn:\n{tty}"
            );
            transcripts.push(tty);
        }
        // Wrong credentials at trace level: refused, and not echoed.
        let wrong: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| {
                if k == "RUST_LOG" {
                    (k.clone(), v.clone())
                } else {
                    (k.clone(), format!("WRONG-{v}"))
                }
            })
            .collect();
        let out = Command::new(bin)
            .args(&args)
            .args(["-c", "max_attempts=1", "-o", "-"])
            .env_clear()
            .envs(wrong.iter().cloned())
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{vendor}: wrong credentials");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(stderr.contains("authentication failed"), "{stderr}");
        for (k, v) in &wrong {
            if k != "RUST_LOG" {
                secrets.push(v.clone());
            }
        }
        transcripts.push(stderr);
    }
    for t in &transcripts {
        assert_clean("the binary's output", t, &secrets);
    }
    // jsonl, csv ×2, parquet ×2, sqlite (+ WAL), tty jsonl, per vendor.
    let files = scan_dir(dir.path(), &secrets);
    assert!(files >= 3 * 7, "{files} files scanned");
}

/// Kills the `openssl s_server` this test started, however the test ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn https_to_a_self_signed_certificate_is_refused() {
    let openssl = Path::new("/usr/bin/openssl");
    if !openssl.exists() {
        eprintln!("skipped: no /usr/bin/openssl to serve a self-signed certificate");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(openssl)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .args([
            "-keyout",
            "k.pem",
            "-out",
            "c.pem",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .current_dir(dir.path())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _server = Child(
        Command::new(openssl)
            .args([
                "s_server", "-quiet", "-www", "-cert", "c.pem", "-key", "k.pem",
            ])
            .args(["-accept", &format!("127.0.0.1:{port}")])
            .current_dir(dir.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let up = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            up.elapsed() < Duration::from_secs(10),
            "s_server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let base = format!("https://127.0.0.1:{port}");
    for vendor in VENDORS {
        let mut values: Vec<(String, String)> = match vendor {
            "bangwo8" => vec![
                ("account".into(), "a".into()),
                ("password".into(), "tls-pw-secret".into()),
            ],
            "kf5" => vec![
                ("email".into(), "e@x.example".into()),
                ("password".into(), "tls-pw-secret".into()),
            ],
            _ => vec![("token".into(), "tls-tok-secret".into())],
        };
        values.push(("base_url".into(), base.clone()));
        let c = connector(vendor, values, fast_http(1)).unwrap();
        let pulled = pull(c.as_ref(), &Query::new(), Duration::from_secs(10)).await;
        let e = pulled.errors()[0].to_string();
        assert!(e.contains("certificate"), "{vendor}: {e}");
        assert!(e.contains(vendor) && e.contains("page 1"), "{vendor}: {e}");
        assert!(!e.contains("secret"), "{vendor}: {e}");
    }
}
