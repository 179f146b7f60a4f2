//! The one global tokio runtime, and how Python waits on it: with the GIL
//! released, waking often enough to run Python's signal handlers.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use pyo3::prelude::*;
use tokio::runtime::Runtime;

/// How long a blocking call waits before it runs Python's signal handlers
/// again: Ctrl-C is noticed within this time.
pub(crate) const POLL: Duration = Duration::from_millis(50);

/// The global runtime, started on first use.
pub(crate) fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("chathaul")
            .build()
            .expect("the tokio runtime starts (threads and an I/O driver are available)")
    })
}

/// Runs `fut` to completion with the GIL released. Every [`POLL`] it takes the
/// GIL back and runs Python's signal handlers; when one raises (Ctrl-C →
/// `KeyboardInterrupt`), `fut` is dropped, which cancels it, and the
/// exception is returned.
pub(crate) fn wait<F>(py: Python<'_>, fut: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    wait_ticking(py, fut, || Ok(()))
}

/// [`wait`], calling `tick` (with the GIL held) after the signal handlers
/// every [`POLL`] while `fut` runs: a progress callback.
pub(crate) fn wait_ticking<F>(
    py: Python<'_>,
    fut: F,
    mut tick: impl FnMut() -> PyResult<()>,
) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let mut fut = std::pin::pin!(fut);
    loop {
        let step = py.detach(|| {
            runtime().block_on(async { tokio::time::timeout(POLL, fut.as_mut()).await })
        });
        match step {
            Ok(out) => return Ok(out),
            Err(_elapsed) => {
                py.check_signals()?;
                tick()?;
            }
        }
    }
}
