//! The command line, as clap sees it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Pull customer-service chat history out of helpdesk APIs (Bangwo8, KF5,
/// CareSoft, ...) into JSONL, CSV, Parquet or a SQLite database, once or
/// incrementally.
///
/// Start with `chathaul demo`: it runs the built-in vendor simulators and
/// syncs them into chathaul-demo.sqlite, no account needed.
#[derive(Debug, Parser)]
#[command(
    name = "chathaul",
    version,
    propagate_version = true,
    max_term_width = 100
)]
#[command(
    after_help = "Exit codes: 0 everything asked for was fetched; 1 a fetch or I/O error; \
2 a usage or configuration error (unknown vendor, missing secret); 3 fetched, but short of what the vendor reported; \
4 completed, but records that could not be decoded were set aside (--on-bad-record skip)."
)]
pub struct Cli {
    /// No progress display and no report; the final summary line still prints.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Log what happens to stderr (-v info, -vv debug, -vvv trace). Secrets are never logged.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every registered vendor: description, capabilities, config fields.
    ///
    /// Example: chathaul connectors --json
    Connectors {
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Pull conversations once, into a file, a database or stdout.
    ///
    /// The output format follows the extension of -o: .jsonl (or - / no -o: stdout) one nested
    /// conversation a line; .csv and .parquet two tables, NAME.conversations.EXT and
    /// NAME.messages.EXT; .sqlite or .db the sync database (upserted). With --partition-by, -o is
    /// a folder of hive-partitioned Parquet (DIR/conversations/vendor=…/account=…/date=…/ and
    /// DIR/messages/…); a re-run replaces the partitions it writes.
    ///
    /// Example: chathaul pull kf5 -c subdomain=acme -c email=ops@acme.example --since 2024-03-01
    /// --until 2024-04-01 --messages -o march.parquet   (with CHATHAUL_KF5_PASSWORD set)
    Pull(PullArgs),
    /// Sync one or many sources incrementally into a SQLite or Postgres database.
    ///
    /// Sources come from a config file (see docs/cli.md); each run lists from the source's cursor
    /// on the time its vendor's listing follows (the newest seen, minus the look-back), revisits
    /// the conversations that can still change (open, or unrated within the rating window) until
    /// they are final, re-reads everything when full_refresh_every is due, upserts, and survives
    /// being killed at any point.
    ///
    /// Example: chathaul sync --config chathaul.toml --db chats.sqlite; chathaul sync --status;
    /// chathaul sync --db postgresql://etl@db.internal/warehouse?sslmode=require
    Sync(SyncArgs),
    /// Serve the vendor simulators on 127.0.0.1 (the same flags as chathaul-sim).
    ///
    /// Example: chathaul sim --port 8080 --conversations 500 --json
    Sim(chathaul_sim::SimArgs),
    /// Run the simulators in-process, sync all vendors into a database, print a report.
    ///
    /// Example: chathaul demo --db /tmp/demo.sqlite
    Demo(DemoArgs),
    /// Print a shell completion script.
    ///
    /// Example: chathaul completions bash > ~/.local/share/bash-completion/completions/chathaul
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// What to do with a record that cannot be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnBadRecord {
    /// End the run with the error.
    Fail,
    /// Set the record aside (rejects) and go on.
    Skip,
}

/// Which time the window applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum By {
    /// The creation (start) time.
    Created,
    /// The end time.
    Ended,
}

/// How finely `--partition-by` splits time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PartitionUnit {
    /// One partition per UTC day of creation (`date=2024-03-01`).
    Day,
    /// One partition per UTC month of creation (`date=2024-03`).
    Month,
}

/// `chathaul pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// The vendor (see `chathaul connectors`).
    pub vendor: String,
    /// A connector config value, KEY=VALUE (repeatable). Missing values come from
    /// CHATHAUL_<VENDOR>_<FIELD>; put secrets there rather than on the command line.
    #[arg(short = 'c', long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// Take the connector config from a sync config file (see `chathaul sync`); -c values
    /// override it.
    #[arg(long, value_name = "PATH")]
    pub from: Option<PathBuf>,
    /// With --from: the source to use (default: the file's first source of this vendor).
    #[arg(long, value_name = "NAME", requires = "from")]
    pub source: Option<String>,
    /// Start of the window (inclusive): RFC 3339, or a date meaning local midnight in the
    /// connector's time zone.
    #[arg(long, value_name = "T")]
    pub since: Option<String>,
    /// End of the window (exclusive), as --since.
    #[arg(long, value_name = "T")]
    pub until: Option<String>,
    /// Which time the window applies to.
    #[arg(long, value_enum, default_value = "created")]
    pub by: By,
    /// Only conversations handled by this agent (id or e-mail).
    #[arg(long, value_name = "ID")]
    pub agent: Option<String>,
    /// Only conversations of this customer (id).
    #[arg(long, value_name = "ID")]
    pub customer: Option<String>,
    /// Only conversations on this channel (web, app, wechat, facebook, zalo, ...).
    #[arg(long, value_name = "C")]
    pub channel: Option<String>,
    /// Fetch each conversation's messages.
    #[arg(long)]
    pub messages: bool,
    /// Fetch service summaries.
    #[arg(long)]
    pub summaries: bool,
    /// Stop after N conversations.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// A record that cannot be decoded: fail ends the pull with the error; skip sets it aside
    /// (NAME.rejects.jsonl beside the output, the rejects table of a database, stderr for
    /// stdout) and goes on, exit code 4.
    #[arg(long, value_enum, default_value = "fail", value_name = "WHAT")]
    pub on_bad_record: OnBadRecord,
    /// Records per page to ask the vendor for.
    #[arg(long, value_name = "N")]
    pub page_size: Option<u32>,
    /// Output path; its extension picks the format. `-` or none: JSONL on stdout.
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Write hive-partitioned Parquet into the folder -o names, one partition per vendor,
    /// account and UTC day (or month) each conversation was created; messages go with their
    /// conversation. Each partition is swapped in whole when the pull is complete.
    #[arg(long, value_enum, value_name = "UNIT", requires = "output")]
    pub partition_by: Option<PartitionUnit>,
}

/// `chathaul sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The config file listing the sources.
    #[arg(long, value_name = "PATH", default_value = "chathaul.toml")]
    pub config: PathBuf,
    /// The database: a SQLite file, or a Postgres URL
    /// (postgresql://user@host:5432/dbname?sslmode=require&schema=chathaul; the password from
    /// PGPASSWORD or ~/.pgpass). Default: the config file's `db`, else chathaul.sqlite.
    #[arg(long, value_name = "PATH|URL")]
    pub db: Option<String>,
    /// Show each source's cursor, last run, conversations still revisited (and the oldest),
    /// expired, rejects, last full re-read and shortfall; fetch nothing.
    #[arg(long)]
    pub status: bool,
    /// A record that cannot be decoded, for every source: skip sets it aside in the rejects
    /// table and goes on (exit code 4), fail ends the source's run. Default: each source's
    /// on_bad_record, else skip.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub on_bad_record: Option<OnBadRecord>,
    /// Re-read everything from each source's `since` this run (as full_refresh_every does).
    #[arg(long)]
    pub full_refresh: bool,
    /// The current time the runs reason about (which conversations are final, which expired,
    /// when a full re-read is due): any form --since takes, a local time read in UTC. Default:
    /// the system clock. For replays and simulators whose clock differs.
    #[arg(long, value_name = "T")]
    pub now: Option<String>,
    /// With --status, or for the run's reports: JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Conversations per transaction.
    #[arg(long, value_name = "N", default_value_t = 100, hide = true)]
    pub batch_size: usize,
}

/// `chathaul demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The database to sync into.
    #[arg(long, value_name = "PATH", default_value = "chathaul-demo.sqlite")]
    pub db: PathBuf,
    /// Conversations per vendor in the simulators.
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub conversations: usize,
    /// Seed of the simulated data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}
