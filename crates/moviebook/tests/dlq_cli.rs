//! `moviebook dlq list|replay|purge` against the real broker: an event a consumer rejects
//! shows in the list with its reason, a replay hands it to the consumer again, and a
//! purge removes it.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bus::{Bus, Handler, Outcome, Subscription};
use bus_rabbitmq::{RabbitBus, RabbitOptions};
use domain::events::{Envelope, Event, EventType, UserDeleted};

const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

struct AlwaysRejects(AtomicU32);

#[async_trait]
impl Handler for AlwaysRejects {
    async fn handle(&self, _: &Envelope) -> Outcome {
        self.0.fetch_add(1, Ordering::SeqCst);
        Outcome::Reject("this consumer refuses everything".into())
    }
}

fn dlq(consumer: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_moviebook"))
        .args(["dlq", "--bus", "rabbitmq", "--amqp-url", AMQP])
        .args(args)
        .args(["--consumer", consumer])
        .output()
        .expect("run moviebook dlq");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "moviebook dlq {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_event_is_listed_replayed_and_purged() {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let consumer = format!("dlq-cli-{tag}");
    // Its own exchange keeps this event away from anything else on the broker; the CLI
    // finds the consumer's queues by name.
    let options = RabbitOptions {
        exchange: format!("moviebook.test.{tag}"),
        ..RabbitOptions::default()
    };
    let bus = RabbitBus::connect(AMQP, options)
        .await
        .expect("connect to RabbitMQ");
    let handler = Arc::new(AlwaysRejects(AtomicU32::new(0)));
    bus.subscribe(Subscription {
        consumer: consumer.clone(),
        event_types: vec![EventType::UserDeleted],
        handler: handler.clone(),
        partitioned: false,
    })
    .await
    .expect("subscribe");
    let envelope = Envelope::new(Event::UserDeleted(UserDeleted {
        user_id: domain::ids::new_id(),
    }));
    bus.publish(std::slice::from_ref(&envelope))
        .await
        .expect("publish");
    until("the handler saw the event", || {
        handler.0.load(Ordering::SeqCst) == 1
    })
    .await;

    let mut listed = String::new();
    until("the event is in the dead-letter queue", || {
        listed = dlq(&consumer, &["list"]);
        listed.contains("1 dead-lettered event(s)")
    })
    .await;
    assert!(listed.contains(&envelope.id.to_string()), "{listed}");
    assert!(
        listed.contains("this consumer refuses everything"),
        "{listed}"
    );

    let replayed = dlq(&consumer, &["replay"]);
    assert!(replayed.contains("replayed 1 event(s)"), "{replayed}");
    until("the replayed event reached the handler again", || {
        handler.0.load(Ordering::SeqCst) == 2
    })
    .await;

    until("the event is dead-lettered again", || {
        dlq(&consumer, &["list"]).contains("1 dead-lettered event(s)")
    })
    .await;
    let purged = dlq(&consumer, &["purge"]);
    assert!(purged.contains("purged 1 event(s)"), "{purged}");
    assert!(dlq(&consumer, &["list"]).contains("0 dead-lettered event(s)"));

    bus.shutdown().await;
    // The broker is shared: leave no queues of this test behind.
    if let Ok(out) = Command::new("rabbitmqctl")
        .args(["-q", "list_queues", "name"])
        .output()
    {
        for queue in String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|q| q.contains(&consumer))
        {
            let _ = Command::new("rabbitmqctl")
                .args(["-q", "delete_queue", queue.trim()])
                .output();
        }
    }
    let _ = Command::new("rabbitmqctl").args(["-q", "eval", &format!("rabbit_exchange:delete(rabbit_misc:r(<<\"/\">>, exchange, <<\"moviebook.test.{tag}\">>), false, <<\"test\">>).")]).output();
}
