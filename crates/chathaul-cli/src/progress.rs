//! Progress on stderr (when it is a terminal) and tracing logs for -v.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chathaul::{Connector, ProgressCounters};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Sends tracing logs to stderr at the level -v asks for (none without -v).
pub fn init_logging(verbose: u8, quiet: bool) {
    if verbose == 0 || quiet {
        return;
    }
    let level = match verbose {
        1 => tracing::Level::INFO,
        2 => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// A bar, the source it shows, and where its numbers come from.
type Bar = (
    ProgressBar,
    String,
    Arc<dyn Connector>,
    Arc<ProgressCounters>,
);

/// One live line per source, redrawn a few times a second.
pub struct Progress {
    bars: Vec<Bar>,
    started: Instant,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Starts the display, unless stderr is not a terminal or `quiet`.
    pub fn start(
        sources: Vec<(String, Arc<dyn Connector>, Arc<ProgressCounters>)>,
        quiet: bool,
    ) -> Progress {
        let mut p = Progress {
            bars: vec![],
            started: Instant::now(),
            ticker: None,
        };
        if quiet || !std::io::stderr().is_terminal() {
            return p;
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8));
        let style = ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        for (name, connector, live) in sources {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(style.clone());
            p.bars.push((bar, name, connector, live));
        }
        let bars: Vec<Bar> = p.bars.clone();
        let started = p.started;
        p.ticker = Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(150));
            loop {
                tick.tick().await;
                for (bar, name, connector, live) in &bars {
                    bar.set_message(line(name, connector.as_ref(), live, started));
                    bar.tick();
                }
            }
        }));
        p
    }

    /// Stops the display and clears it.
    pub fn finish(self) {
        if let Some(t) = &self.ticker {
            t.abort();
        }
        for (bar, ..) in &self.bars {
            bar.finish_and_clear();
        }
    }
}

fn line(
    name: &str,
    connector: &dyn Connector,
    live: &ProgressCounters,
    started: Instant,
) -> String {
    let (conversations, messages) = live.get();
    let stats = connector.stats();
    let secs = started.elapsed().as_secs_f64().max(0.001);
    format!(
        "{name}: {conversations} conversations, {messages} messages, {} pages, {} requests, {} retries, {:.0} conv/s",
        stats.pages,
        stats.http.requests,
        stats.http.retries,
        conversations as f64 / secs
    )
}
