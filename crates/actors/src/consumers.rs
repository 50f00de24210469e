//! The actors service's consumer: it removes the files of a photo that stopped being
//! current (replaced, deleted, or its actor deleted), once the change that did so is
//! committed.

use std::sync::Arc;

use async_trait::async_trait;
use bus::{Handler, Outcome, Subscription};
use domain::events::{Envelope, Event, EventType};
use domain::picture::PictureOwner;
use pictures::Pictures;

/// Removes the files of replaced and deleted photos, and of deleted actors' photos.
pub struct PhotoFilesConsumer {
    pictures: Pictures,
}

/// The consumer's name and the events it takes.
pub const PHOTO_FILES: (&str, &[EventType]) = (
    "actors-photo-files",
    &[EventType::PhotoChanged, EventType::ActorDeleted],
);

/// The subscriptions of the actors service.
pub fn subscriptions(pictures: Pictures) -> Vec<Subscription> {
    let (consumer, event_types) = PHOTO_FILES;
    vec![Subscription {
        consumer: consumer.into(),
        event_types: event_types.to_vec(),
        partitioned: false,
        handler: Arc::new(PhotoFilesConsumer { pictures }),
    }]
}

#[async_trait]
impl Handler for PhotoFilesConsumer {
    async fn handle(&self, envelope: &Envelope) -> Outcome {
        let (actor_id, gone) = match &envelope.event {
            Event::PhotoChanged(changed) => (changed.actor_id, changed.replaced),
            Event::ActorDeleted(actor) => (actor.actor_id, actor.photo),
            _ => return Outcome::Done,
        };
        let Some(gone) = gone else {
            return Outcome::Done;
        };
        match self
            .pictures
            .remove(PictureOwner::Actor(actor_id), &gone)
            .await
        {
            Ok(()) => Outcome::Done,
            Err(error) if error.is_transient() => Outcome::Retry(error.to_string()),
            Err(error) => Outcome::Reject(error.to_string()),
        }
    }
}
