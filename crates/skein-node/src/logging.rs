//! Structured logs with tracing: level from `--log-level`/`SKEIN_LOG`,
//! optional JSON lines, optional log directory (one file per node).

use std::io::IsTerminal;
use std::path::Path;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Keep the returned guard alive: dropping it
/// flushes and stops the file writer.
pub fn init(
    level: &str,
    json: bool,
    log_dir: Option<&Path>,
    file_name: &str,
) -> std::io::Result<Option<WorkerGuard>> {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let (writer, guard) = match log_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            let (writer, guard) =
                tracing_appender::non_blocking(tracing_appender::rolling::never(dir, file_name));
            (
                tracing_subscriber::fmt::writer::BoxMakeWriter::new(writer),
                Some(guard),
            )
        }
        None => (
            tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stderr),
            None,
        ),
    };
    let result = if json {
        builder.json().with_writer(writer).try_init()
    } else {
        builder
            .with_ansi(log_dir.is_none() && std::io::stderr().is_terminal())
            .with_writer(writer)
            .try_init()
    };
    // A second init (tests, examples) keeps the first subscriber.
    let _ = result;
    Ok(guard)
}
