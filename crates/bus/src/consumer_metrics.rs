//! What `/metrics` shows of each consumer, the same whichever adapter delivers its events:
//!
//! - `moviebook_events_handled_total`, `moviebook_events_retried_total` and
//!   `moviebook_events_failed_total{consumer}`: each delivery's outcome (failed: set aside
//!   to the dead letters, rejected or out of attempts);
//! - `moviebook_event_lag_seconds{consumer}`: for each event handled, the time from its
//!   creation (`Envelope::occurred_at`, stamped when the service planned the write that
//!   committed it) to the moment the consumer's handler answered done — its writes
//!   committed. Across processes it also holds the difference of their clocks, never below 0;
//! - `moviebook_dead_letters{consumer}`: how many of its events wait in its dead letters, as
//!   this process last saw them (the adapter says when it looks).
//!
//! Every series is registered when the consumer subscribes, so a consumer that never failed
//! shows 0 rather than nothing, and alerts on these series see them from the start.

use domain::events::Envelope;
use metrics::{Counter, Gauge, Histogram};

/// The series of one consumer, registered once when it subscribes rather than looked up by
/// name on every delivery.
#[derive(Clone)]
pub struct ConsumerMetrics {
    handled: Counter,
    retried: Counter,
    failed: Counter,
    lag: Histogram,
    dead_letters: Gauge,
}

impl ConsumerMetrics {
    /// Registers the consumer's series (at zero when new).
    pub fn of(consumer: &str) -> Self {
        let consumer = consumer.to_owned();
        ConsumerMetrics {
            handled: metrics::counter!("moviebook_events_handled_total", "consumer" => consumer.clone()),
            retried: metrics::counter!("moviebook_events_retried_total", "consumer" => consumer.clone()),
            failed: metrics::counter!("moviebook_events_failed_total", "consumer" => consumer.clone()),
            lag: metrics::histogram!("moviebook_event_lag_seconds", "consumer" => consumer.clone()),
            dead_letters: metrics::gauge!("moviebook_dead_letters", "consumer" => consumer),
        }
    }

    /// The consumer's handler answered done for `envelope`: its writes are committed.
    pub fn handled(&self, envelope: &Envelope) {
        self.handled.increment(1);
        self.lag.record(lag_seconds(
            envelope.occurred_at,
            domain::timestamp::now_micros(),
        ));
    }

    /// A delivery will be tried again.
    pub fn retried(&self) {
        self.retried.increment(1);
    }

    /// An event was given up on and goes to the dead letters.
    pub fn failed(&self) {
        self.failed.increment(1);
    }

    /// One more event waits in the consumer's dead letters.
    pub fn dead_lettered(&self) {
        self.dead_letters.increment(1.0);
    }

    /// This many events wait in the consumer's dead letters, as just counted.
    pub fn dead_letters_waiting(&self, count: u64) {
        self.dead_letters.set(count as f64);
    }
}

/// Seconds from `created` to `now` (both in microseconds), never negative: a consumer whose
/// clock is behind the producer's would otherwise record a lag below zero.
fn lag_seconds(created: domain::timestamp::Micros, now: domain::timestamp::Micros) -> f64 {
    now.saturating_sub(created).max(0) as f64 / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_in_seconds_and_never_negative() {
        assert_eq!(lag_seconds(1_000_000, 3_500_000), 2.5);
        assert_eq!(lag_seconds(3_500_000, 1_000_000), 0.0);
    }
}
