//! The subcommands.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chathaul::config::{parse_instant, zone_of};
use chathaul::report::{LeadReport, TextTable};
use chathaul::sink::PartitionBy;
use chathaul::sync::{Prepared, Source, SourceReport, SyncOptions};
use chathaul::{
    BadRecord, Channel, Connector, Database, Error, ErrorKind, Format, ProgressCounters,
    PullReport, Query, SqliteStore, TimeField,
};
use clap::CommandFactory;

use crate::cli::{By, Cli, Command, DemoArgs, OnBadRecord, PartitionUnit, PullArgs, SyncArgs};
use crate::exit;
use crate::progress::Progress;

/// A failure that ends the command: a one-line message and the exit code.
struct Fail(u8, String);

impl Fail {
    fn usage(msg: impl Into<String>) -> Self {
        Fail(exit::USAGE, msg.into())
    }
    fn of(e: &Error) -> Self {
        let code = match e.kind() {
            ErrorKind::Config | ErrorKind::Query => exit::USAGE,
            _ => exit::FAILED,
        };
        Fail(code, e.to_string())
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn out(text: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o
        .write_all(text.as_bytes())
        .and_then(|()| o.write_all(b"\n"))
        .and_then(|()| o.flush());
}

/// Runs the parsed command; returns the exit code.
pub async fn run(cli: Cli) -> u8 {
    let quiet = cli.quiet;
    let result = match cli.command {
        Command::Connectors { json } => connectors(json),
        Command::Pull(args) => pull(args, quiet).await,
        Command::Sync(args) => sync(args, quiet).await,
        Command::Sim(args) => chathaul_sim::run(args)
            .await
            .map(|()| exit::OK)
            .map_err(|e| Fail(exit::FAILED, format!("sim: {e}"))),
        Command::Demo(args) => demo(args, quiet).await,
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "chathaul",
                &mut std::io::stdout(),
            );
            Ok(exit::OK)
        }
    };
    match result {
        Ok(code) => code,
        Err(Fail(code, msg)) => {
            // One line, whatever the error says.
            eprintln!("chathaul: error: {}", msg.replace('\n', " "));
            code
        }
    }
}

fn connectors(json: bool) -> Result<u8, Fail> {
    let all = chathaul::connectors();
    let mut out = std::io::stdout().lock();
    if json {
        let list: Vec<serde_json::Value> = all
            .iter()
            .map(|f| {
                serde_json::json!({
                    "name": f.name,
                    "description": f.description,
                    "capabilities": f.capabilities,
                    "fields": f.all_fields().map(|c| serde_json::json!({
                        "name": c.name,
                        "required": c.required,
                        "secret": c.secret,
                        "env": f.env_var(c.name),
                        "default": c.default,
                        "help": c.help,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        );
        return Ok(exit::OK);
    }
    for f in all {
        let c = f.capabilities;
        let mut caps = vec![];
        for (on, name) in [
            (c.messages, "messages"),
            (c.summaries, "summaries"),
            (c.push_created, "filter:created"),
            (c.push_ended, "filter:ended"),
            (c.push_agent, "filter:agent"),
            (c.push_customer, "filter:customer"),
            (c.push_channel, "filter:channel"),
        ] {
            if on {
                caps.push(name.to_owned());
            }
        }
        if let Some(m) = c.max_page_size {
            caps.push(format!("max page {m}"));
        }
        let _ = writeln!(out, "{} — {}", f.name, f.description);
        let _ = writeln!(out, "  can: {}", caps.join(", "));
        let _ = writeln!(out, "  sync: {}", change_tracking_text(&c.changes));
        for field in f.all_fields() {
            let mut tags = vec![if field.required {
                "required"
            } else {
                "optional"
            }];
            if field.secret {
                tags.push("secret");
            }
            let default = field
                .default
                .map(|d| format!(", default {d}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:<14} {} ({}{default}; env {})",
                field.name,
                field.help,
                tags.join(", "),
                f.env_var(field.name)
            );
        }
        let _ = writeln!(out);
    }
    Ok(exit::OK)
}

/// How a vendor's changes are caught, in one line.
fn change_tracking_text(t: &chathaul::ChangeTracking) -> String {
    let field = |f: TimeField| match f {
        TimeField::Created => "creation",
        TimeField::Ended => "end",
    };
    let mut parts = vec![format!("cursor on the {} time", field(t.cursor))];
    if t.created_fallback {
        parts.push("plus a creation-time listing for records without it".to_owned());
    }
    parts.push(match t.fetch_by_id {
        Some(n) => format!("revisits by id ({n} request(s) each) or by re-listing"),
        None => "revisits by re-listing (no fetch by id)".to_owned(),
    });
    parts.push(if t.rating_window_days > 0 {
        format!("rating window {} days", t.rating_window_days)
    } else {
        "no ratings to wait for".to_owned()
    });
    parts.join("; ")
}

fn bad_record(what: OnBadRecord) -> BadRecord {
    match what {
        OnBadRecord::Fail => BadRecord::Fail,
        OnBadRecord::Skip => BadRecord::Skip,
    }
}

/// Keeps the records a pull set aside: beside the output
/// ([`chathaul::pull::keep_rejects`]: the database's `rejects` table, or
/// `NAME.rejects.jsonl`), or on stderr (one JSON object a line) when the
/// output is stdout. Returns where they went.
fn keep_rejects(
    output: Option<&Path>,
    format: Format,
    report: &PullReport,
) -> Result<Option<String>, Fail> {
    let Some(path) = output.filter(|p| p.as_os_str() != "-") else {
        for r in &report.rejects {
            eprintln!(
                "chathaul: rejected: {}",
                serde_json::to_string(r).unwrap_or_default()
            );
        }
        return Ok((!report.rejects.is_empty()).then(|| "stderr".to_owned()));
    };
    let kept = chathaul::pull::keep_rejects(path, format, report).map_err(|e| Fail::of(&e))?;
    Ok(kept.map(|at| at.to_string()))
}

fn parse_kv(items: &[String]) -> Result<Vec<(String, String)>, Fail> {
    items
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                .ok_or_else(|| {
                    Fail::usage(format!(
                        "-c expects KEY=VALUE, got `{}`",
                        kv.split('=').next().unwrap_or("")
                    ))
                })
        })
        .collect()
}

async fn pull(args: PullArgs, quiet: bool) -> Result<u8, Fail> {
    let mut config = Vec::new();
    if let Some(file) = &args.from {
        // Every problem with the file is a configuration error (exit 2).
        let cfg = chathaul::config::load(file).map_err(|e| Fail::usage(e.to_string()))?;
        let source = cfg
            .sources
            .into_iter()
            .find(|s| match &args.source {
                Some(name) => &s.name == name,
                None => s.vendor.eq_ignore_ascii_case(&args.vendor),
            })
            .ok_or_else(|| {
                Fail::usage(format!(
                    "{}: no source {}",
                    file.display(),
                    args.source.as_deref().map_or_else(
                        || format!("of vendor {}", args.vendor),
                        |n| format!("named `{n}`")
                    )
                ))
            })?;
        if !source.vendor.eq_ignore_ascii_case(&args.vendor) {
            return Err(Fail::usage(format!(
                "source `{}` is a {} source, not {}",
                source.name, source.vendor, args.vendor
            )));
        }
        config = source.config;
    }
    config.extend(parse_kv(&args.config)?);
    let connector: Arc<dyn Connector> = Arc::from(
        chathaul::connect(
            &args.vendor,
            config.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        )
        .map_err(|e| Fail::of(&e))?,
    );
    let vendor = connector.info().vendor;
    let zone = zone_of(vendor, &config).map_err(|e| Fail::of(&e))?;
    let time = |t: &Option<String>, flag: &str| -> Result<_, Fail> {
        t.as_deref()
            .map(|t| parse_instant(t, zone).map_err(|m| Fail::usage(format!("--{flag}: {m}"))))
            .transpose()
    };
    let (since, until) = (time(&args.since, "since")?, time(&args.until, "until")?);
    let mut query = match args.by {
        By::Created => Query::new().created(since, until),
        By::Ended => Query::new().ended(since, until),
    };
    for (flag, value) in [
        ("agent", &args.agent),
        ("customer", &args.customer),
        ("channel", &args.channel),
    ] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            return Err(Fail::usage(format!("--{flag} must not be empty")));
        }
    }
    query.agent = args.agent.clone();
    query.customer = args.customer.clone();
    query.channel = args.channel.as_deref().map(Channel::parse);
    query.include.messages = args.messages;
    query.include.summaries = args.summaries;
    query.limit = args.limit;
    query.page_size = args.page_size;
    query.on_bad_record = bad_record(args.on_bad_record);
    if query.limit == Some(0) {
        return Err(Fail::usage("--limit must be at least 1"));
    }
    query.validate().map_err(|e| Fail::of(&e))?;
    let (format, mut sink) = match (args.partition_by, args.output.as_deref()) {
        (Some(unit), Some(dir)) => {
            let by = match unit {
                PartitionUnit::Day => PartitionBy::Day,
                PartitionUnit::Month => PartitionBy::Month,
            };
            let sink = chathaul::sink::open_partitioned(dir, by, &query).map_err(|e| match e {
                // Naming a file or `-` is a usage error; a folder that cannot be made is not.
                Error::Sink { source: None, .. } => Fail::usage(e.to_string()),
                e => Fail::of(&e),
            })?;
            (Format::Parquet, sink)
        }
        (Some(_), None) => return Err(Fail::usage("--partition-by needs -o DIR")),
        (None, output) => {
            let format = Format::of(output).map_err(|e| Fail::usage(e.to_string()))?;
            (
                format,
                chathaul::sink::open(output).map_err(|e| Fail::of(&e))?,
            )
        }
    };

    let live = ProgressCounters::shared();
    let progress = Progress::start(
        vec![(vendor.to_owned(), connector.clone(), live.clone())],
        quiet,
    );
    let report = chathaul::pull(vendor, connector.as_ref(), &query, sink.as_mut(), &live).await;
    progress.finish();
    let to_stdout = args.output.as_deref().is_none_or(|p| p.as_os_str() == "-");
    // A failed pull leaves its files under their `.partial` names, and a
    // partitioned folder as it was; a database keeps what was upserted
    // (upserts are idempotent), stdout what was written.
    let files = if report.error.is_none() || format == Format::Sqlite || to_stdout {
        sink.finish().map_err(|e| Fail::of(&e))?
    } else {
        vec![]
    };
    let rejects_at = keep_rejects(args.output.as_deref(), format, &report)?;
    eprintln!("chathaul: {}", report.summary_line());
    if !quiet && !files.is_empty() {
        match (args.partition_by, args.output.as_deref()) {
            (Some(unit), Some(dir)) => {
                // A partition is a folder of each tree: count one tree's.
                let conversations = dir.join("conversations");
                let partitions: std::collections::BTreeSet<_> = files
                    .iter()
                    .filter(|f| f.starts_with(&conversations))
                    .filter_map(|f| f.parent())
                    .collect();
                eprintln!(
                    "chathaul: wrote {} files in {} partitions by {} into {}",
                    files.len(),
                    partitions.len(),
                    match unit {
                        PartitionUnit::Day => "day",
                        PartitionUnit::Month => "month",
                    },
                    dir.display()
                );
            }
            _ => {
                let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
                eprintln!("chathaul: wrote {}", names.join(", "));
            }
        }
    } else if report.error.is_some() && args.partition_by.is_some() && !quiet {
        eprintln!("chathaul: the pull failed; no partition was replaced");
    }
    if let Some(at) = rejects_at {
        eprintln!(
            "chathaul: {} record(s) could not be decoded and were set aside: {at}",
            report.rejects.len()
        );
    }
    Ok(code_of(std::slice::from_ref(&report)))
}

fn code_of(reports: &[PullReport]) -> u8 {
    if reports.iter().any(|r| {
        r.error_kind
            .is_some_and(|k| matches!(k, ErrorKind::Config | ErrorKind::Query))
    }) {
        exit::USAGE
    } else if reports.iter().any(|r| r.error.is_some()) {
        exit::FAILED
    } else if reports.iter().any(|r| !r.shortfalls.is_empty()) {
        exit::INCOMPLETE
    } else if reports.iter().any(|r| !r.rejects.is_empty()) {
        exit::REJECTED
    } else {
        exit::OK
    }
}

fn prepare(sources: Vec<Source>) -> Result<Vec<Prepared>, Fail> {
    chathaul::sync::prepare(sources).map_err(|(name, e)| {
        let f = Fail::of(&e);
        Fail(f.0, format!("source {name}: {}", f.1))
    })
}

async fn run_sync(
    db: &Database,
    prepared: Vec<Prepared>,
    options: SyncOptions,
    quiet: bool,
) -> Result<Vec<SourceReport>, Fail> {
    let progress = Progress::start(
        prepared
            .iter()
            .map(|p| (p.source.name.clone(), p.connector.clone(), p.live.clone()))
            .collect(),
        quiet,
    );
    let reports = chathaul::sync_to(db, prepared, options).await;
    progress.finish();
    let reports = reports.map_err(|e| Fail::of(&e))?;
    for r in &reports {
        eprintln!("chathaul: {}", r.summary_line());
    }
    Ok(reports)
}

fn sync_summary(db: &Database, reports: &[SourceReport]) {
    let ok = reports.iter().filter(|r| r.pull.complete()).count();
    let conversations: u64 = reports.iter().map(|r| r.pull.conversations).sum();
    let messages: u64 = reports.iter().map(|r| r.pull.messages).sum();
    let rejects: usize = reports.iter().map(|r| r.pull.rejects.len()).sum();
    let pending: u64 = reports.iter().map(|r| r.changes.still_pending).sum();
    eprintln!(
        "chathaul: synced {ok}/{} sources into {}: {conversations} conversations, {messages} messages fetched; {pending} still revisited{}",
        reports.len(),
        db,
        if rejects > 0 {
            format!(
                "; {rejects} record(s) set aside (see `chathaul sync --status` and the rejects table)"
            )
        } else {
            String::new()
        }
    );
}

async fn sync(args: SyncArgs, quiet: bool) -> Result<u8, Fail> {
    let given = args
        .db
        .as_deref()
        .map(Database::parse)
        .transpose()
        .map_err(|e| Fail::of(&e))?;
    if args.status {
        // --status needs only the database: no connector secrets.
        let from_file = if given.is_none() && args.config.exists() {
            chathaul::config::database(&args.config).map_err(|e| Fail::usage(e.to_string()))?
        } else {
            None
        };
        let db = given
            .or(from_file)
            .unwrap_or_else(|| Database::Sqlite(PathBuf::from("chathaul.sqlite")));
        return status(&db, args.json);
    }
    // Every problem with the file is a configuration error (exit 2).
    let config = chathaul::config::load(&args.config).map_err(|e| match e {
        Error::Io { .. } => Fail::usage(format!(
            "{e} (pass --config PATH; docs/cli.md shows the format)"
        )),
        e => Fail::usage(e.to_string()),
    })?;
    let db = given
        .or(config.db.clone())
        .unwrap_or_else(|| Database::Sqlite(PathBuf::from("chathaul.sqlite")));
    let now = args
        .now
        .as_deref()
        // Sources may be in different zones: a local time is read in UTC.
        .map(|t| {
            parse_instant(t, chathaul::time::Tz::UTC)
                .map_err(|e| Fail::usage(format!("--now: {e}")))
        })
        .transpose()?;
    let mut sources = config.sources;
    for s in &mut sources {
        if let Some(what) = args.on_bad_record {
            s.on_bad_record = bad_record(what);
        }
        if args.full_refresh {
            s.full_refresh_every = Some(chathaul::chrono::Duration::zero());
        }
    }
    let prepared = prepare(sources)?;
    let options = SyncOptions {
        batch_size: args.batch_size,
        now,
        ..SyncOptions::default()
    };
    let reports = run_sync(&db, prepared, options, quiet).await?;
    if args.json {
        out(&serde_json::to_string_pretty(&reports).unwrap_or_default());
    }
    sync_summary(&db, &reports);
    Ok(code_of(
        &reports.iter().map(|r| r.pull.clone()).collect::<Vec<_>>(),
    ))
}

fn status(db: &Database, json: bool) -> Result<u8, Fail> {
    let store = db.open_existing().map_err(|e| match db {
        Database::Sqlite(path) if !path.exists() => Fail::usage(format!(
            "database {} does not exist (run chathaul sync first, or pass --db)",
            path.display()
        )),
        _ => Fail::of(&e),
    })?;
    let states = store.states().map_err(|e| Fail::of(&e))?;
    let mut out = std::io::stdout().lock();
    if json {
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&states).unwrap_or_default()
        );
        return Ok(exit::OK);
    }
    let t = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or_else(
            || "-".to_owned(),
            |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        )
    };
    let mut table = TextTable::new([
        "source",
        "vendor/account",
        "cursor",
        "last run",
        "status",
        "fetched",
        "reported",
        "stored",
        "shortfall",
    ]);
    table.align_right(&[5, 6, 7]);
    let mut details = Vec::new();
    for s in &states {
        let field = match s.cursor_field {
            TimeField::Created => "created",
            TimeField::Ended => "ended",
        };
        table.add_row([
            s.source.clone(),
            format!("{}/{}", s.vendor, s.account),
            format!("{field} {}", t(s.cursor)),
            t(s.last_run_finished.or(s.last_run_started)),
            if s.last_status == "running" && s.last_run_finished.is_none() {
                "killed?".to_owned()
            } else {
                s.last_status.clone()
            },
            s.rows_fetched.to_string(),
            s.reported_total
                .map_or_else(|| "-".to_owned(), |n| n.to_string()),
            s.stored.to_string(),
            if s.shortfalls.is_empty() {
                "none".to_owned()
            } else {
                s.shortfalls.join("; ")
            },
        ]);
        details.push(format!(
            "{}: revisiting {} conversation(s){}; {} expired; {} rejected record(s); last full re-read {}{}",
            s.source,
            s.pending,
            s.oldest_pending
                .map(|o| format!(" (oldest created {})", t(Some(o))))
                .unwrap_or_default(),
            s.expired,
            s.rejects,
            t(s.last_full_refresh),
            s.learned_rate
                .map(|r| format!("; learned rate {r:.2} requests/s"))
                .unwrap_or_default(),
        ));
        if let Some(run) = &s.last_run {
            details.push(format!("{}: last run: {}", s.source, run.summary()));
        }
        if let Some(e) = &s.last_error {
            details.push(format!("{}: last error: {e}", s.source));
        }
    }
    // What does not fit a column follows the table, a line per fact, each
    // naming its source.
    let _ = writeln!(out, "{table}");
    for line in details {
        let _ = writeln!(out, "{line}");
    }
    Ok(exit::OK)
}

async fn demo(args: DemoArgs, quiet: bool) -> Result<u8, Fail> {
    let opts = chathaul_sim::SimOptions {
        seed: args.seed,
        conversations: args.conversations,
        ..Default::default()
    };
    let sim = chathaul_sim::Simulator::start(opts)
        .await
        .map_err(|e| Fail(exit::FAILED, format!("cannot start the simulators: {e}")))?;
    let registered: Vec<&str> = chathaul::connectors().iter().map(|f| f.name).collect();
    let sources: Vec<Source> = chathaul_sim::VENDORS
        .iter()
        .filter(|v| registered.contains(v))
        .map(|v| Source::new(*v, sim.config(v)))
        .collect();
    if !quiet {
        eprintln!(
            "chathaul: demo: simulators on http://{} ({} conversations per vendor); syncing {} into {}",
            sim.addr(),
            args.conversations,
            sources
                .iter()
                .map(|s| s.vendor.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            args.db.display()
        );
    }
    let prepared = prepare(sources)?;
    let options = SyncOptions {
        // The simulators' clock, not the machine's.
        now: Some(sim.now()),
        ..SyncOptions::default()
    };
    let db = Database::Sqlite(args.db.clone());
    let reports = run_sync(&db, prepared, options, quiet).await?;
    sync_summary(&db, &reports);
    if !quiet {
        let store = SqliteStore::open(&args.db).map_err(|e| Fail::of(&e))?;
        let report = LeadReport::from_store(&store).map_err(|e| Fail::of(&e))?;
        out(&format!("\n{report}"));
        out(&format!(
            "Next: `chathaul sync --status --db {db}`, open {db} with any SQLite tool, or point at a real account:\n  \
             CHATHAUL_KF5_PASSWORD=... chathaul pull kf5 -c subdomain=YOURS -c email=YOU --since 2024-03-01 --messages -o chats.parquet",
            db = args.db.display()
        ));
    }
    Ok(code_of(
        &reports.iter().map(|r| r.pull.clone()).collect::<Vec<_>>(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(error_kind: Option<ErrorKind>, shortfalls: usize) -> PullReport {
        PullReport {
            source: "s".into(),
            vendor: "kf5".into(),
            account: "a".into(),
            window: Default::default(),
            conversations: 1,
            messages: 0,
            stats: Default::default(),
            limit_reached: false,
            shortfalls: vec!["short".into(); shortfalls],
            rejects: vec![],
            error: error_kind.map(|k| format!("{k} failed")),
            error_kind,
            elapsed_secs: 0.0,
        }
    }

    #[test]
    fn exit_codes_rank_usage_over_failure_over_shortfall() {
        assert_eq!(code_of(&[report(None, 0)]), exit::OK);
        assert_eq!(
            code_of(&[report(None, 0), report(None, 1)]),
            exit::INCOMPLETE
        );
        assert_eq!(
            code_of(&[report(Some(ErrorKind::Auth), 0), report(None, 1)]),
            exit::FAILED
        );
        assert_eq!(
            code_of(&[
                report(Some(ErrorKind::Transport), 0),
                report(Some(ErrorKind::Config), 0)
            ]),
            exit::USAGE
        );
    }

    #[test]
    fn config_pairs_split_on_the_first_equals_and_never_echo_values() {
        let kv = parse_kv(&["a=b=c".to_owned(), " k =v".to_owned()])
            .ok()
            .unwrap();
        assert_eq!(
            kv,
            vec![
                ("a".to_owned(), "b=c".to_owned()),
                ("k".to_owned(), "v".to_owned())
            ]
        );
        let Err(Fail(code, msg)) = parse_kv(&["password".to_owned()]) else {
            panic!("accepted")
        };
        assert_eq!(code, exit::USAGE);
        assert_eq!(msg, "-c expects KEY=VALUE, got `password`");
    }
}
