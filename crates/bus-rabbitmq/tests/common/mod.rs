//! What the RabbitMQ tests share: a broker address, names no other test uses, a handler that
//! records what it saw, clean-up of every queue a test declared, and a lock that keeps the
//! tests that stop the broker away from the ones that merely use it.
//!
//! The broker comes from `MOVIEBOOK_TEST_AMQP_URL` (default: the local broker with the guest
//! account). Without a broker the tests fail: a suite that passed without running would hide
//! a broken adapter.

#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::File;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bus::{Handler, Outcome};
use bus_rabbitmq::RabbitOptions;
use domain::events::{Envelope, Event, UserDeleted};
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Connection, ConnectionProperties};
use uuid::Uuid;

pub fn url() -> String {
    std::env::var("MOVIEBOOK_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// Settings with names no other test uses and short delays.
pub fn options() -> RabbitOptions {
    let prefix = format!("test-{}", Uuid::now_v7().simple());
    RabbitOptions {
        exchange: format!("{prefix}.events"),
        queue_prefix: prefix.clone(),
        retry_delays: vec![
            Duration::from_millis(50),
            Duration::from_millis(100),
            Duration::from_millis(200),
            Duration::from_millis(400),
        ],
        publish_timeout: Duration::from_secs(3),
        connect_timeout: Duration::from_secs(3),
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(1000),
        health_interval: Duration::from_millis(100),
        shutdown_grace: Duration::from_secs(10),
        connection_name: prefix,
        ..RabbitOptions::default()
    }
}

pub fn event() -> Envelope {
    Envelope::new(Event::UserDeleted(UserDeleted {
        user_id: Uuid::now_v7(),
    }))
}

/// Tests that stop the broker take this lock exclusively, every other test shares it, so a
/// broker restart never lands in the middle of an unrelated test (nextest runs each test in
/// a process of its own; the lock is a file lock, so it works across processes).
pub struct BrokerLock(File);

fn lock_file() -> File {
    let path = std::env::temp_dir().join("moviebook-rabbitmq-tests.lock");
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()))
}

impl BrokerLock {
    pub fn shared() -> BrokerLock {
        let file = lock_file();
        file.lock_shared().expect("shared broker lock");
        BrokerLock(file)
    }

    pub fn exclusive() -> BrokerLock {
        let file = lock_file();
        file.lock().expect("exclusive broker lock");
        BrokerLock(file)
    }
}

/// Deletes the exchange and every queue of the named consumers when dropped — also when the
/// test failed — on a connection and runtime of its own.
pub struct Cleanup {
    options: RabbitOptions,
    consumers: Vec<String>,
    extra_queues: Vec<String>,
}

impl Cleanup {
    pub fn new(options: &RabbitOptions, consumers: &[&str]) -> Cleanup {
        Cleanup {
            options: options.clone(),
            consumers: consumers.iter().map(|c| c.to_string()).collect(),
            extra_queues: Vec::new(),
        }
    }

    pub fn also_queue(&mut self, queue: &str) {
        self.extra_queues.push(queue.to_owned());
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let mut queues: Vec<String> = self
            .consumers
            .iter()
            .flat_map(|c| self.options.queue_names(c))
            .collect();
        queues.extend(self.extra_queues.iter().cloned());
        let exchange = self.options.exchange.clone();
        let done = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let Ok(connection) = connect_raw().await else {
                    eprintln!("cleanup: cannot connect; leaving {queues:?}");
                    return;
                };
                let Ok(channel) = connection.create_channel().await else {
                    return;
                };
                for queue in &queues {
                    if let Err(e) = channel
                        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                        .await
                    {
                        eprintln!("cleanup: cannot delete {queue}: {e}");
                    }
                }
                let _ = channel
                    .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                    .await;
                let _ = connection.close(200, "OK".into()).await;
            });
        });
        let _ = done.join();
    }
}

pub async fn connect_raw() -> Result<Connection, lapin::Error> {
    Connection::connect(&url(), ConnectionProperties::default()).await
}

type Answer = dyn Fn(&Envelope, u32) -> Outcome + Send + Sync;

/// A handler that records every call and answers as told (given the event and how many
/// times it has seen it, counting this call).
pub struct Recorder {
    calls: Mutex<Vec<(Uuid, Instant)>>,
    per_event: Mutex<HashMap<Uuid, u32>>,
    answer: Box<Answer>,
    pause: Duration,
}

impl Recorder {
    pub fn new(answer: impl Fn(&Envelope, u32) -> Outcome + Send + Sync + 'static) -> Arc<Self> {
        Self::slow(Duration::ZERO, answer)
    }

    pub fn done() -> Arc<Self> {
        Self::new(|_, _| Outcome::Done)
    }

    /// Takes `pause` for every event before answering.
    pub fn slow(
        pause: Duration,
        answer: impl Fn(&Envelope, u32) -> Outcome + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Recorder {
            calls: Mutex::new(Vec::new()),
            per_event: Mutex::new(HashMap::new()),
            answer: Box::new(answer),
            pause,
        })
    }

    pub fn calls(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    pub fn call_times(&self, id: Uuid) -> Vec<Instant> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(i, _)| *i == id)
            .map(|(_, t)| *t)
            .collect()
    }

    pub fn times_seen(&self, id: Uuid) -> u32 {
        self.per_event
            .lock()
            .unwrap()
            .get(&id)
            .copied()
            .unwrap_or(0)
    }

    pub fn seen(&self) -> HashMap<Uuid, u32> {
        self.per_event.lock().unwrap().clone()
    }
}

#[async_trait]
impl Handler for Recorder {
    async fn handle(&self, envelope: &Envelope) -> Outcome {
        let seen = {
            let mut per_event = self.per_event.lock().unwrap();
            let seen = per_event.entry(envelope.id).or_insert(0);
            *seen += 1;
            *seen
        };
        self.calls
            .lock()
            .unwrap()
            .push((envelope.id, Instant::now()));
        if !self.pause.is_zero() {
            tokio::time::sleep(self.pause).await;
        }
        (self.answer)(envelope, seen)
    }
}

/// Polls `check` until it holds or `limit` passes; answers whether it held.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Like `eventually`, for checks that talk to the broker.
pub async fn eventually_async<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
