//! `moviebook dlq list|replay|purge --consumer NAME`: what an operator does with events a
//! consumer could not handle, once the cause is fixed (replay) or judged harmless (purge).
//! It takes the same settings as `serve`: with `MOVIEBOOK_BUS=rabbitmq` it works on the
//! consumer's RabbitMQ dead-letter queue; with the in-process bus (the embedded default), on
//! the dead letters kept in the store, beside a running server.

use anyhow::Context;
use bus_rabbitmq::{RabbitBus, RabbitOptions};
use clap::{Args, Subcommand};
use moviebook::Config;
use moviebook::config::BusKind;
use platform::dead_letters::StoredDeadLetters;
use uuid::Uuid;

#[derive(Debug, Args)]
pub struct DlqArgs {
    #[command(subcommand)]
    action: Action,
    /// The consumer whose dead letters to use (e.g. `reviews`, `movies-cleanup`).
    #[arg(long, global = true)]
    consumer: Option<String>,
    /// The bus and store, as `serve` is given them (before the action: `dlq --bus rabbitmq list`).
    #[command(flatten)]
    config: Box<Config>,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Lists the dead-lettered events with the reason each was set aside.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Sends dead-lettered events back to the consumer's queue (all, or those named by --id).
    Replay {
        #[arg(long = "id")]
        ids: Vec<Uuid>,
    },
    /// Deletes dead-lettered events (all, or those named by --id).
    Purge {
        #[arg(long = "id")]
        ids: Vec<Uuid>,
    },
}

/// One dead letter as the command prints it.
struct Line {
    id: Option<Uuid>,
    event: String,
    attempts: u32,
    reason: String,
}

/// Runs one `dlq` command, printing its result on stdout.
pub async fn run(args: DlqArgs) -> anyhow::Result<()> {
    let consumer = args
        .consumer
        .clone()
        .context("--consumer NAME is required")?;
    let only = match &args.action {
        Action::List { .. } => None,
        Action::Replay { ids } | Action::Purge { ids } => (!ids.is_empty()).then(|| ids.clone()),
    };
    match args.config.bus {
        BusKind::Rabbitmq => on_rabbitmq(&args, &consumer, only.as_deref()).await,
        BusKind::Memory => in_the_store(&args, &consumer, only.as_deref()).await,
    }
}

async fn on_rabbitmq(args: &DlqArgs, consumer: &str, only: Option<&[Uuid]>) -> anyhow::Result<()> {
    let bus = RabbitBus::connect(&args.config.amqp_url, RabbitOptions::default())
        .await
        .context("connecting to RabbitMQ")?;
    let result = match &args.action {
        Action::List { limit } => bus
            .dead_letters(consumer, *limit)
            .await
            .context("listing")
            .map(|letters| {
                let lines = letters.iter().map(|letter| Line {
                    id: letter.id(),
                    event: letter.routing_key.clone().unwrap_or_else(|| "-".into()),
                    attempts: letter.attempts,
                    reason: letter.reason.clone(),
                });
                print_list(consumer, lines.collect());
            }),
        Action::Replay { .. } => bus
            .replay_dead_letters(consumer, only)
            .await
            .context("replaying")
            .map(|n| println!("replayed {n} event(s) to {consumer}")),
        Action::Purge { .. } => bus
            .purge_dead_letters(consumer, only)
            .await
            .context("purging")
            .map(|n| println!("purged {n} event(s) of {consumer}")),
    };
    bus.shutdown().await;
    result
}

async fn in_the_store(args: &DlqArgs, consumer: &str, only: Option<&[Uuid]>) -> anyhow::Result<()> {
    let (store, _) = moviebook::app::open_store(&args.config).await?;
    let letters = StoredDeadLetters::new(store);
    match &args.action {
        Action::List { limit } => {
            let listed = letters.list(consumer, *limit).await.context("listing")?;
            let lines = listed.into_iter().map(|letter| Line {
                id: Some(letter.envelope.id),
                event: letter.envelope.event.event_type().as_str().to_owned(),
                attempts: letter.attempts,
                reason: letter.reason,
            });
            print_list(consumer, lines.collect());
        }
        Action::Replay { .. } => {
            let n = letters.replay(consumer, only).await.context("replaying")?;
            // The running server's relay publishes what waits in the outbox.
            println!("replayed {n} event(s) to {consumer} (through the outbox)");
        }
        Action::Purge { .. } => {
            let n = letters.purge(consumer, only).await.context("purging")?;
            println!("purged {n} event(s) of {consumer}");
        }
    }
    Ok(())
}

fn print_list(consumer: &str, lines: Vec<Line>) {
    for line in &lines {
        let id = line.id.map_or_else(|| "-".to_owned(), |id| id.to_string());
        println!(
            "{id}\t{}\tattempts={}\t{}",
            line.event, line.attempts, line.reason
        );
    }
    println!("{} dead-lettered event(s) for {consumer}", lines.len());
}
