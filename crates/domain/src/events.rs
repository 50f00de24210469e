//! The events services publish, each carrying what its consumers need, so that no
//! consumer has to call back. The envelope id (UUID v7) is the event's identity for
//! idempotency and, being time-ordered, the version that decides out-of-order deliveries.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::picture::StoredPicture;
use crate::timestamp::Micros;

/// An event with its identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub id: Uuid,
    pub occurred_at: Micros,
    pub event: Event,
    /// The trace of the work that caused the event, when traces are exported: its consumers'
    /// spans join that trace. Absent from events of processes that export none, and from
    /// events written before it was carried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceContext>,
}

impl Envelope {
    /// Wraps an event under a new id.
    pub fn new(event: Event) -> Self {
        Envelope {
            id: crate::ids::new_id(),
            occurred_at: crate::timestamp::now_micros(),
            event,
            trace: None,
        }
    }
}

/// A place in a distributed trace, as W3C Trace Context writes it (the `traceparent` and
/// `tracestate` headers), kept as text: the domain neither reads nor checks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceContext {
    pub traceparent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
}

/// Something that happened, as the rest of the system learns of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    ActorCreated(ActorCreated),
    ActorDeleted(ActorDeleted),
    MovieCreated(MovieSnapshot),
    MovieDeleted(MovieSnapshot),
    ReviewUpserted(ReviewUpserted),
    ReviewDeleted(ReviewDeleted),
    UserRenamed(UserRenamed),
    UserDeleted(UserDeleted),
    PosterChanged(PosterChanged),
    PhotoChanged(PhotoChanged),
}

/// The kinds of event, as consumers subscribe to them and as routing keys name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    ActorCreated,
    ActorDeleted,
    MovieCreated,
    MovieDeleted,
    ReviewUpserted,
    ReviewDeleted,
    UserRenamed,
    UserDeleted,
    PosterChanged,
    PhotoChanged,
}

impl EventType {
    /// The routing key: `movie.created` and so on.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ActorCreated => "actor.created",
            EventType::ActorDeleted => "actor.deleted",
            EventType::MovieCreated => "movie.created",
            EventType::MovieDeleted => "movie.deleted",
            EventType::ReviewUpserted => "review.upserted",
            EventType::ReviewDeleted => "review.deleted",
            EventType::UserRenamed => "user.renamed",
            EventType::UserDeleted => "user.deleted",
            EventType::PosterChanged => "poster.changed",
            EventType::PhotoChanged => "photo.changed",
        }
    }
}

impl Event {
    /// This event's kind.
    pub fn event_type(&self) -> EventType {
        match self {
            Event::ActorCreated(_) => EventType::ActorCreated,
            Event::ActorDeleted(_) => EventType::ActorDeleted,
            Event::MovieCreated(_) => EventType::MovieCreated,
            Event::MovieDeleted(_) => EventType::MovieDeleted,
            Event::ReviewUpserted(_) => EventType::ReviewUpserted,
            Event::ReviewDeleted(_) => EventType::ReviewDeleted,
            Event::UserRenamed(_) => EventType::UserRenamed,
            Event::UserDeleted(_) => EventType::UserDeleted,
            Event::PosterChanged(_) => EventType::PosterChanged,
            Event::PhotoChanged(_) => EventType::PhotoChanged,
        }
    }

    /// The entity whose events must be applied one at a time by a consumer that keeps a
    /// single item per entity (a movie's score tally): the movie for movie and review
    /// events, else the event's own subject. A bus spreads events over partitions by it.
    pub fn partition_key(&self) -> Uuid {
        match self {
            Event::ActorCreated(actor) => actor.actor_id,
            Event::ActorDeleted(actor) => actor.actor_id,
            Event::MovieCreated(movie) | Event::MovieDeleted(movie) => movie.movie_id,
            Event::ReviewUpserted(review) => review.movie_id,
            Event::ReviewDeleted(review) => review.movie_id,
            Event::UserRenamed(user) => user.user_id,
            Event::UserDeleted(user) => user.user_id,
            Event::PosterChanged(poster) => poster.movie_id,
            Event::PhotoChanged(photo) => photo.actor_id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorCreated {
    pub actor_id: Uuid,
    pub name: String,
    pub thumbnail_url: Option<String>,
}

/// An actor deleted, with what its consumers need to find what it leaves behind: its
/// name (the name index's entry), its creation time (where the actor list keyed its
/// listing) and the photo whose files go with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorDeleted {
    pub actor_id: Uuid,
    pub name: String,
    pub created_at: Micros,
    pub photo: Option<StoredPicture>,
}

/// A movie as its lists show it; sent when it is created and again when it is deleted,
/// so that every list can find the entries to remove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovieSnapshot {
    pub movie_id: Uuid,
    pub title: String,
    pub release_year: i32,
    pub genres: Vec<String>,
    pub thumbnail_url: Option<String>,
    pub created_at: Micros,
    pub cast: Vec<CastMember>,
    /// The movie's poster: none when the movie is created; the poster whose files go with
    /// the movie when it is deleted. Absent from events written before posters existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poster: Option<StoredPicture>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CastMember {
    pub actor_id: Uuid,
    pub name: String,
    pub role: String,
}

/// A review written or replaced. `previous_score` is set when it replaced an earlier
/// review, so that aggregates move by deltas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewUpserted {
    pub movie_id: Uuid,
    pub movie_title: String,
    pub user_id: Uuid,
    pub score: i64,
    pub previous_score: Option<i64>,
    pub comment: Option<String>,
    pub created_at: Micros,
    pub updated_at: Micros,
    /// The movie's cast, whose actor pages show its score: a process keeping ready pages
    /// knows which went stale. Absent from events written before it was carried (every
    /// actor page may then be stale).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cast_ids: Option<Vec<Uuid>>,
}

/// A review removed, with the score it counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewDeleted {
    pub movie_id: Uuid,
    pub user_id: Uuid,
    pub score: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRenamed {
    pub user_id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDeleted {
    pub user_id: Uuid,
}

/// A movie's poster uploaded, replaced or deleted, with the poster it replaced (whose files are
/// then removed) and the movie's cast (whose actor pages show the poster in their
/// filmographies). The event's id orders the changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PosterChanged {
    pub movie_id: Uuid,
    /// The poster now; `None` once deleted.
    pub poster: Option<StoredPicture>,
    pub replaced: Option<StoredPicture>,
    pub cast_ids: Vec<Uuid>,
}

/// An actor's photo uploaded, replaced or deleted; `created_at` places the actor in the
/// actor list. The event's id orders the changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoChanged {
    pub actor_id: Uuid,
    /// The photo now; `None` once deleted.
    pub photo: Option<StoredPicture>,
    pub replaced: Option<StoredPicture>,
    pub created_at: Micros,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_json_with_their_type_tag() {
        let envelope = Envelope::new(Event::ReviewDeleted(ReviewDeleted {
            movie_id: crate::ids::new_id(),
            user_id: crate::ids::new_id(),
            score: 7,
        }));
        let json = serde_json::to_value(&envelope).unwrap();
        assert_eq!(json["event"]["type"], "review_deleted");
        let back: Envelope = serde_json::from_value(json).unwrap();
        assert_eq!(back, envelope);
        assert_eq!(back.event.event_type().as_str(), "review.deleted");
    }

    #[test]
    fn an_envelope_carries_its_trace_only_when_it_has_one_and_old_ones_still_decode() {
        let mut envelope = Envelope::new(Event::UserDeleted(UserDeleted {
            user_id: crate::ids::new_id(),
        }));
        let untraced = serde_json::to_value(&envelope).unwrap();
        assert!(untraced.get("trace").is_none(), "{untraced}");
        // What every version before the trace was carried wrote.
        let old = serde_json::json!({
            "id": envelope.id,
            "occurred_at": envelope.occurred_at,
            "event": {"type": "user_deleted", "user_id": crate::ids::new_id()},
        });
        let decoded: Envelope = serde_json::from_value(old).unwrap();
        assert_eq!(decoded.trace, None);

        envelope.trace = Some(TraceContext {
            traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
            tracestate: None,
        });
        let traced = serde_json::to_value(&envelope).unwrap();
        assert_eq!(
            traced["trace"],
            serde_json::json!({"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
        );
        let back: Envelope = serde_json::from_value(traced).unwrap();
        assert_eq!(back, envelope);
    }

    #[test]
    fn a_review_event_written_before_the_cast_was_carried_still_decodes() {
        let movie_id = crate::ids::new_id();
        let old = serde_json::json!({
            "type": "review_upserted", "movie_id": movie_id, "movie_title": "Alien",
            "user_id": crate::ids::new_id(), "score": 9, "previous_score": null,
            "comment": null, "created_at": 1, "updated_at": 1,
        });
        let Event::ReviewUpserted(review) = serde_json::from_value(old).unwrap() else {
            panic!("a review upserted");
        };
        assert_eq!(review.cast_ids, None);
        let actor = crate::ids::new_id();
        let carried = serde_json::to_value(Event::ReviewUpserted(ReviewUpserted {
            cast_ids: Some(vec![actor]),
            ..review
        }))
        .unwrap();
        assert_eq!(carried["cast_ids"], serde_json::json!([actor]));
    }

    #[test]
    fn an_actor_deletion_round_trips_and_is_partitioned_by_its_actor() {
        let actor_id = crate::ids::new_id();
        let envelope = Envelope::new(Event::ActorDeleted(ActorDeleted {
            actor_id,
            name: "Keanu Reeves".into(),
            created_at: 7,
            photo: None,
        }));
        let json = serde_json::to_value(&envelope).unwrap();
        assert_eq!(json["event"]["type"], "actor_deleted");
        let back: Envelope = serde_json::from_value(json).unwrap();
        assert_eq!(back, envelope);
        assert_eq!(back.event.event_type().as_str(), "actor.deleted");
        assert_eq!(back.event.partition_key(), actor_id);
    }

    #[test]
    fn review_events_are_partitioned_by_their_movie() {
        let movie_id = crate::ids::new_id();
        let deleted = Event::ReviewDeleted(ReviewDeleted {
            movie_id,
            user_id: crate::ids::new_id(),
            score: 3,
        });
        assert_eq!(deleted.partition_key(), movie_id);
        let upserted = Event::ReviewUpserted(ReviewUpserted {
            movie_id,
            movie_title: "Alien".into(),
            user_id: crate::ids::new_id(),
            score: 9,
            previous_score: None,
            comment: None,
            created_at: 1,
            updated_at: 1,
            cast_ids: None,
        });
        assert_eq!(upserted.partition_key(), movie_id);
    }
}
