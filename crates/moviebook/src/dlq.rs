//! `moviebook dlq list|replay|purge --consumer NAME`: what an operator does with events a
//! consumer could not handle, once the cause is fixed (replay) or judged harmless (purge).

use anyhow::Context;
use bus_rabbitmq::{RabbitBus, RabbitOptions};
use clap::{Args, Subcommand};
use uuid::Uuid;

#[derive(Debug, Args)]
pub struct DlqArgs {
    #[command(subcommand)]
    action: Action,
    /// The consumer whose dead-letter queue to use (e.g. `reviews`, `movies-cleanup`).
    #[arg(long, global = true)]
    consumer: Option<String>,
    /// RabbitMQ URL.
    #[arg(
        long,
        global = true,
        env = "MOVIEBOOK_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    amqp_url: String,
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

/// Runs one `dlq` command, printing its result on stdout.
pub async fn run(args: DlqArgs) -> anyhow::Result<()> {
    let consumer = args.consumer.context("--consumer NAME is required")?;
    let bus = RabbitBus::connect(&args.amqp_url, RabbitOptions::default())
        .await
        .context("connecting to RabbitMQ")?;
    let only = |ids: &[Uuid]| {
        if ids.is_empty() {
            None
        } else {
            Some(ids.to_vec())
        }
    };
    let result = match &args.action {
        Action::List { limit } => {
            let letters = bus
                .dead_letters(&consumer, *limit)
                .await
                .context("listing")?;
            for letter in &letters {
                let id = letter
                    .id()
                    .map_or_else(|| "-".to_owned(), |id| id.to_string());
                let event = letter.routing_key.as_deref().unwrap_or("-");
                println!(
                    "{id}\t{event}\tattempts={}\t{}",
                    letter.attempts, letter.reason
                );
            }
            println!("{} dead-lettered event(s) for {consumer}", letters.len());
            Ok(())
        }
        Action::Replay { ids } => {
            let replayed = bus
                .replay_dead_letters(&consumer, only(ids).as_deref())
                .await
                .context("replaying")?;
            println!("replayed {replayed} event(s) to {consumer}");
            Ok(())
        }
        Action::Purge { ids } => {
            let purged = bus
                .purge_dead_letters(&consumer, only(ids).as_deref())
                .await
                .context("purging")?;
            println!("purged {purged} event(s) of {consumer}");
            Ok(())
        }
    };
    bus.shutdown().await;
    result
}
