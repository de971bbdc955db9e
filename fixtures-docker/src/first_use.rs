//! The first use of the engine in a process: connect (once, remembered: `engine::get`), then
//! sweep the leftovers of dead runs (`sweep::at_start`), once, before anything is created.
//! Every entry point — [`start`](crate::start()), [`network`](crate::network()) and
//! [`engine_available`] — gets its engine here.

use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::engine::{self, Engine};
use crate::error::Error;
use crate::sweep;

/// The process's engine, swept once: the first caller runs the sweep, and any caller that
/// comes meanwhile waits for it to end.
///
/// With the skip switch on (`FIXTURES_SKIP`), nothing: not even the engine is asked.
pub(crate) async fn engine() -> Result<Arc<Engine>, Error> {
    fixtures_core::services_allowed("a Docker container")?;
    static SWEPT: OnceCell<()> = OnceCell::const_new();
    let engine = engine::get().await?;
    SWEPT.get_or_init(|| sweep::at_start(&engine)).await;
    Ok(engine)
}

/// True when the Docker engine answers (asked once per process, within 3 s; the answer is
/// remembered). Lets a caller choose another backend instead of failing.
///
/// ```no_run
/// # async fn f() {
/// if !fixtures_docker::engine_available().await {
///     eprintln!("no Docker engine: using local binaries instead");
/// }
/// # }
/// ```
pub async fn engine_available() -> bool {
    engine_ready().await.is_ok()
}

/// Checks that the Docker engine answers (asked once per process, the answer remembered), so
/// that a caller can fail before it prepares anything for a container; the error says why
/// not and what to do.
///
/// ```no_run
/// # async fn f() -> Result<(), fixtures_docker::Error> {
/// fixtures_docker::engine_ready().await?;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// [`Error::EngineUnreachable`] (or a bad `DOCKER_HOST`, [`Error::Config`]).
pub async fn engine_ready() -> Result<(), Error> {
    engine::background("engine check", async { engine().await.map(drop) }).await
}
