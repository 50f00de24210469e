//! What can go wrong between the adapter and the broker. The bus port knows one failure —
//! the bus is unavailable, keep the events and try later — so every one of these maps to
//! `BusError::Unavailable`; the variants exist for logs, for the dead-letter API (whose
//! caller is an operator) and for tests.

use bus::BusError;
use uuid::Uuid;

/// A failure of the RabbitMQ adapter.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RabbitError {
    /// There is no open connection now (the supervisor is reconnecting, or the bus was shut
    /// down).
    #[error("not connected to RabbitMQ ({0})")]
    NotConnected(&'static str),
    /// The client library reported an error (I/O, protocol, a closed channel).
    #[error("RabbitMQ {context}: {message}")]
    Amqp {
        context: &'static str,
        message: String,
    },
    /// The broker did not answer in time.
    #[error("RabbitMQ did not answer {0} in time")]
    Timeout(&'static str),
    /// The broker refused to take responsibility for a message (a negative confirm).
    #[error("RabbitMQ refused message {0} (nack)")]
    Nacked(String),
    /// No queue is bound for the message's routing key, so the broker returned it.
    #[error("RabbitMQ could not route message {id} with routing key {routing_key:?}: {reply}")]
    Unroutable {
        id: String,
        routing_key: String,
        reply: String,
    },
    /// The channel was not in confirm mode, so the broker never confirmed.
    #[error("RabbitMQ did not confirm message {0}")]
    NotConfirmed(String),
    /// A setting or a name the adapter cannot use.
    #[error("invalid RabbitMQ bus setting: {0}")]
    Invalid(String),
    /// An event could not be encoded (cannot happen with the domain's types).
    #[error("cannot encode event {id}: {message}")]
    Encode { id: Uuid, message: String },
}

impl RabbitError {
    pub(crate) fn amqp(context: &'static str) -> impl FnOnce(lapin::Error) -> RabbitError {
        move |error| RabbitError::Amqp {
            context,
            message: error.to_string(),
        }
    }
}

impl From<RabbitError> for BusError {
    fn from(error: RabbitError) -> Self {
        BusError::Unavailable(error.to_string())
    }
}
