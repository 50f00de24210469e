//! `moviebook serve`: runs MovieBook with the roles and adapters its configuration names.

mod dlq;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use moviebook::{Application, Config, telemetry};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "moviebook",
    version,
    about = "MovieBook: a movie-review backend"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (every role in one process unless MOVIEBOOK_ROLES says otherwise).
    Serve(Box<Config>),
    /// Inspect, replay or purge the events a consumer set aside in its RabbitMQ dead-letter queue.
    Dlq(dlq::DlqArgs),
    /// Copy the embedded store and the data directory's other files (its secrets) into FILE,
    /// consistently, while `serve` runs.
    Backup {
        /// The backup to write; it must not exist.
        file: PathBuf,
        #[command(flatten)]
        config: Box<Config>,
    },
    /// Make the data directory, which must be missing or empty, from a backup FILE.
    Restore {
        /// The backup to read.
        file: PathBuf,
        #[command(flatten)]
        config: Box<Config>,
    },
    /// Recompute every derived view from the records and print each difference; exits 1 if
    /// there is any. Works beside a running server, on either store.
    Verify {
        /// Put every difference right (in up to three rounds), then exit 0 if none is left.
        #[arg(long)]
        repair: bool,
        /// Seconds between the two scans whose common differences count: what only one
        /// scan shows was an event on its way.
        #[arg(long, default_value_t = 3)]
        settle: u64,
        #[command(flatten)]
        config: Box<Config>,
    },
}

fn main() -> anyhow::Result<ExitCode> {
    keep_new_files_private();
    return_large_allocations_to_the_system();
    tokio::runtime::Runtime::new()?.block_on(run())
}

/// Every file and directory the process creates is its owner's alone (0600, 0700), whatever
/// the umask it was started with: under the usual 022 the SQLite database (e-mails, password
/// hashes) and its -wal and -shm files were 0644. Start-up fixes what an earlier run left
/// looser (`data_dir`).
fn keep_new_files_private() {
    #[cfg(unix)]
    // SAFETY: umask only changes the process's file creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// Every password hash takes a 19 MiB buffer. glibc raises its mmap threshold after such a
/// buffer is freed, so later ones come from the heap and stay with the process: 64 sign-ups
/// at once left it at 655 MB. A fixed threshold keeps large buffers mapped and unmapped.
fn return_large_allocations_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; it runs before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

async fn run() -> anyhow::Result<ExitCode> {
    let config = match Cli::parse().command {
        Command::Serve(config) => *config,
        Command::Dlq(args) => return dlq::run(args).await.map(|()| ExitCode::SUCCESS),
        Command::Backup { file, config } => {
            moviebook::backup::back_up(&config, &file)?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Restore { file, config } => {
            moviebook::backup::restore(&config, &file)?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Verify {
            repair,
            settle,
            config,
        } => {
            let settle = Duration::from_secs(settle);
            let agree = moviebook::verify::command(&config, repair, settle).await?;
            return Ok(if agree {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
    };
    let tracing = telemetry::init(&config)?;
    let served = serve(config).await;
    tracing.shutdown().await;
    served.map(|()| ExitCode::SUCCESS)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    if let Some(token) = &app.generated_admin_token {
        // Shown once, on the start that generated it; it is kept in the data directory.
        println!("ADMIN_TOKEN={}", token.expose());
    }
    match app.internal_addr().transpose()? {
        Some(internal) => tracing::info!(
            address = %app.local_addr()?,
            %internal,
            "MovieBook is serving (gRPC and /metrics on the internal address)"
        ),
        None => tracing::info!(address = %app.local_addr()?, "MovieBook is serving"),
    }
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    app.run_until_stopped(shutdown).await?;
    tracing::info!("MovieBook stopped");
    Ok(())
}

/// Cancels `shutdown` on SIGTERM or Ctrl-C.
async fn stop_on_signal(shutdown: CancellationToken) {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("stopping: finishing in-flight requests and events");
    shutdown.cancel();
}
