//! The decisions of review writes, apart from their reads and their commit: given what was
//! read, the writes of one transaction, the event it records and the answer to give. Like a
//! projection's plan, they are pure, so every rule of a write is tested without a store; the
//! reviews service reads, plans, commits, and plans again from new reads when a condition
//! finds that something changed in between.

use domain::NewReview;
use domain::events::{Envelope, Event, ReviewDeleted, ReviewUpserted};
use domain::timestamp::Micros;
use store::{Condition, Record, StoreError, Write};
use uuid::Uuid;

use crate::error::MoviesError;
use crate::records::{MovieRecord, REVISION, RecentEntry, ReviewRecord, ReviewerProfile, VERSION};
use crate::views::ReviewView;

/// The index in a review write's transaction of the check that the movie still exists: its
/// failure means the movie was deleted after it was read, not that the review changed.
pub(crate) const MOVIE_CHECK: usize = 0;

/// Whether a review write created or replaced the review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Created,
    Replaced,
}

/// The reviewer's name as a review write found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reviewer {
    /// The service's copy of the reviewer's name.
    Copied(ReviewerProfile),
    /// No copy yet: the users service's answer, the user's name or `None` for no such user.
    Asked(Option<String>),
}

/// What a review write read: the movie, the user's current review of it, the reviewer.
#[derive(Debug, Clone)]
pub(crate) struct WriteRead {
    pub movie: MovieRecord,
    pub existing: Option<ReviewRecord>,
    pub reviewer: Reviewer,
}

/// A review write: its transaction, its event, and the caller's answer.
#[derive(Debug)]
pub(crate) struct WritePlan {
    pub writes: Vec<Write>,
    pub event: Envelope,
    pub view: ReviewView,
    pub written: Written,
}

/// The write of `user_id`'s `review` at `now`, recorded by the event `event_id`.
///
/// The transaction holds, in order: the movie's check ([`MOVIE_CHECK`]); the review,
/// conditional on the revision read (or on there being none); its entry in the movie's
/// newest-first index, with the replaced review's entry deleted; the reviewer's name copy,
/// checked unchanged or created from the users service's answer; on a first review, the
/// entry among the reviewer's reviews.
pub(crate) fn plan_write(
    read: WriteRead,
    user_id: Uuid,
    review: &NewReview,
    now: Micros,
    event_id: Uuid,
) -> Result<WritePlan, MoviesError> {
    let WriteRead {
        movie,
        existing,
        reviewer,
    } = read;
    let profile_key = ReviewerProfile::key(&user_id);
    let (user_name, name_version, profile_write) = match reviewer {
        Reviewer::Copied(ReviewerProfile { deleted: true, .. }) | Reviewer::Asked(None) => {
            return Err(MoviesError::UserGone);
        }
        Reviewer::Copied(profile) => {
            // A rename after this read fails the check, and the write is planned again
            // with the new name.
            let check = Write::Check {
                key: profile_key,
                condition: store::attr_equals(VERSION, &profile.version)?,
            };
            (profile.name.unwrap_or_default(), profile.version, check)
        }
        Reviewer::Asked(Some(name)) => {
            let copy = ReviewerProfile {
                name: Some(name.clone()),
                // The empty version is older than any rename event's id.
                version: String::new(),
                deleted: false,
            };
            let put = Write::Put {
                item: copy.to_item(profile_key)?,
                condition: Condition::NotExists,
            };
            (name, copy.version, put)
        }
    };

    let movie_id = movie.id;
    let record = ReviewRecord {
        movie_id,
        user_id,
        user_name,
        name_version,
        score: review.score,
        comment: review.comment.clone(),
        created_at: existing.as_ref().map_or(now, |old| old.created_at),
        updated_at: now,
        revision: event_id,
    };
    let event = Envelope {
        id: event_id,
        occurred_at: now,
        event: Event::ReviewUpserted(ReviewUpserted {
            movie_id,
            movie_title: movie.title,
            user_id,
            score: record.score,
            previous_score: existing.as_ref().map(|old| old.score),
            comment: record.comment.clone(),
            created_at: record.created_at,
            updated_at: now,
            cast_ids: Some(movie.cast.iter().map(|member| member.actor_id).collect()),
        }),
        trace: None,
    };
    let unchanged = match &existing {
        Some(old) => store::attr_equals(REVISION, &old.revision)?,
        None => Condition::NotExists,
    };
    let mut writes = vec![
        Write::Check {
            key: MovieRecord::key(&movie_id),
            condition: Condition::Exists,
        },
        Write::Put {
            item: record.to_item(ReviewRecord::key(&movie_id, &user_id))?,
            condition: unchanged,
        },
        Write::put(RecentEntry { user_id }.to_item(RecentEntry::key(&movie_id, now, &user_id))?),
        profile_write,
    ];
    // Written again in the same microsecond, the new entry is the old one's key.
    if let Some(old) = existing.as_ref().filter(|old| old.updated_at != now) {
        writes.push(Write::delete(RecentEntry::key(
            &movie_id,
            old.updated_at,
            &user_id,
        )));
    }
    Ok(WritePlan {
        writes,
        event,
        view: ReviewView::from(&record),
        written: if existing.is_some() {
            Written::Replaced
        } else {
            Written::Created
        },
    })
}

/// A review's removal: its transaction and its event.
#[derive(Debug)]
pub(crate) struct RemovalPlan {
    pub writes: Vec<Write>,
    pub event: Envelope,
}

/// The removal of the review read as `existing`, with its index entry, at `now` and
/// recorded by the event `event_id`; conditional on the review's revision, so that a review
/// written again after the read is not removed with the old one's score.
pub(crate) fn plan_removal(
    existing: &ReviewRecord,
    now: Micros,
    event_id: Uuid,
) -> Result<RemovalPlan, StoreError> {
    let (movie_id, user_id) = (existing.movie_id, existing.user_id);
    Ok(RemovalPlan {
        writes: vec![
            Write::Delete {
                key: ReviewRecord::key(&movie_id, &user_id),
                condition: store::attr_equals(REVISION, &existing.revision)?,
            },
            Write::delete(RecentEntry::key(&movie_id, existing.updated_at, &user_id)),
        ],
        event: Envelope {
            id: event_id,
            occurred_at: now,
            event: Event::ReviewDeleted(ReviewDeleted {
                movie_id,
                user_id,
                score: existing.score,
            }),
            trace: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use store::Key;

    use super::*;

    const NOW: Micros = 1_000_000;

    fn new_review() -> NewReview {
        NewReview {
            score: 8,
            comment: Some("slow".into()),
        }
    }

    fn existing(movie: &MovieRecord, user_id: Uuid, updated_at: Micros) -> ReviewRecord {
        ReviewRecord {
            movie_id: movie.id,
            user_id,
            user_name: "Ann".into(),
            name_version: String::new(),
            score: 3,
            comment: None,
            created_at: 10,
            updated_at,
            revision: Uuid::now_v7(),
        }
    }

    fn copied(name: &str, version: &str) -> Reviewer {
        Reviewer::Copied(ReviewerProfile {
            name: Some(name.into()),
            version: version.into(),
            deleted: false,
        })
    }

    fn plan(read: WriteRead, user_id: Uuid, event_id: Uuid) -> WritePlan {
        plan_write(read, user_id, &new_review(), NOW, event_id).unwrap()
    }

    fn keys(plan: &WritePlan) -> Vec<Key> {
        plan.writes
            .iter()
            .map(|write| write.key().clone())
            .collect()
    }

    fn written_review(plan: &WritePlan) -> ReviewRecord {
        match &plan.writes[1] {
            Write::Put { item, .. } => ReviewRecord::from_item(item).unwrap(),
            other => panic!("the review is not put: {other:?}"),
        }
    }

    #[test]
    fn a_first_review_is_created_with_its_index_entry_and_a_name_copy() {
        let (movie, user_id, event_id) = (MovieRecord::example(), Uuid::now_v7(), Uuid::now_v7());
        let movie_id = movie.id;
        let plan = plan(
            WriteRead {
                movie,
                existing: None,
                reviewer: Reviewer::Asked(Some("Ann".into())),
            },
            user_id,
            event_id,
        );
        assert_eq!(plan.written, Written::Created);
        assert_eq!(
            keys(&plan),
            vec![
                MovieRecord::key(&movie_id),
                ReviewRecord::key(&movie_id, &user_id),
                RecentEntry::key(&movie_id, NOW, &user_id),
                ReviewerProfile::key(&user_id),
            ]
        );
        assert!(matches!(
            &plan.writes[MOVIE_CHECK],
            Write::Check {
                condition: Condition::Exists,
                ..
            }
        ));
        assert!(matches!(
            &plan.writes[1],
            Write::Put {
                condition: Condition::NotExists,
                ..
            }
        ));
        let Write::Put { item, condition } = &plan.writes[3] else {
            panic!("the name copy is not put: {:?}", plan.writes[3]);
        };
        assert_eq!(*condition, Condition::NotExists);
        assert_eq!(
            ReviewerProfile::from_item(item).unwrap(),
            ReviewerProfile {
                name: Some("Ann".into()),
                version: String::new(),
                deleted: false,
            }
        );

        let review = written_review(&plan);
        assert_eq!((review.created_at, review.updated_at), (NOW, NOW));
        assert_eq!(review.revision, event_id);
        assert_eq!(review.user_name, "Ann");
        assert_eq!(plan.view, ReviewView::from(&review));
        assert_eq!(plan.event.id, event_id);
        let Event::ReviewUpserted(upserted) = &plan.event.event else {
            panic!("not a review.upserted event: {:?}", plan.event);
        };
        assert_eq!(upserted.previous_score, None);
        assert_eq!(upserted.movie_title, "Stalker");
        assert_eq!((upserted.score, upserted.created_at), (8, NOW));
    }

    #[test]
    fn a_second_review_replaces_the_first_keeping_when_it_was_created() {
        let (movie, user_id) = (MovieRecord::example(), Uuid::now_v7());
        let movie_id = movie.id;
        let old = existing(&movie, user_id, 20);
        let plan = plan(
            WriteRead {
                movie,
                existing: Some(old.clone()),
                reviewer: copied("Ann", ""),
            },
            user_id,
            Uuid::now_v7(),
        );
        assert_eq!(plan.written, Written::Replaced);
        let review = written_review(&plan);
        assert_eq!((review.created_at, review.updated_at), (10, NOW));
        let Write::Put { condition, .. } = &plan.writes[1] else {
            panic!("the review is not put");
        };
        assert_eq!(
            *condition,
            Condition::AttrEquals(REVISION.into(), json!(old.revision))
        );
        // The old entry of the newest-first index goes; the reviewer's entry is there already.
        assert_eq!(
            keys(&plan)[4..],
            [RecentEntry::key(&movie_id, 20, &user_id)]
        );
        assert!(matches!(plan.writes[4], Write::Delete { .. }));
        let Event::ReviewUpserted(upserted) = &plan.event.event else {
            panic!("not a review.upserted event");
        };
        assert_eq!(upserted.previous_score, Some(3));
        assert_eq!(upserted.created_at, 10);
    }

    #[test]
    fn a_replacement_in_the_same_microsecond_keeps_the_index_entry_it_overwrites() {
        let (movie, user_id) = (MovieRecord::example(), Uuid::now_v7());
        let old = existing(&movie, user_id, NOW);
        let plan = plan(
            WriteRead {
                movie,
                existing: Some(old),
                reviewer: copied("Ann", ""),
            },
            user_id,
            Uuid::now_v7(),
        );
        assert_eq!(plan.writes.len(), 4);
        assert!(
            !plan
                .writes
                .iter()
                .any(|w| matches!(w, Write::Delete { .. }))
        );
    }

    #[test]
    fn the_name_copy_gives_the_name_and_is_checked_unchanged() {
        let (movie, user_id) = (MovieRecord::example(), Uuid::now_v7());
        let plan = plan(
            WriteRead {
                movie,
                existing: None,
                reviewer: copied("Renamed", "v7"),
            },
            user_id,
            Uuid::now_v7(),
        );
        assert_eq!(
            plan.writes[3],
            Write::Check {
                key: ReviewerProfile::key(&user_id),
                condition: Condition::AttrEquals(VERSION.into(), json!("v7")),
            }
        );
        let review = written_review(&plan);
        assert_eq!(
            (review.user_name.as_str(), review.name_version.as_str()),
            ("Renamed", "v7")
        );
    }

    #[test]
    fn a_deleted_or_unknown_reviewer_is_unauthenticated() {
        let deleted = Reviewer::Copied(ReviewerProfile {
            name: Some("Ann".into()),
            version: "v".into(),
            deleted: true,
        });
        for reviewer in [deleted, Reviewer::Asked(None)] {
            let read = WriteRead {
                movie: MovieRecord::example(),
                existing: None,
                reviewer,
            };
            let error =
                plan_write(read, Uuid::now_v7(), &new_review(), NOW, Uuid::now_v7()).unwrap_err();
            assert!(matches!(error, MoviesError::UserGone), "{error}");
        }
    }

    #[test]
    fn a_removal_deletes_the_review_it_read_and_its_index_entry() {
        let (movie, user_id, event_id) = (MovieRecord::example(), Uuid::now_v7(), Uuid::now_v7());
        let old = existing(&movie, user_id, 20);
        let plan = plan_removal(&old, NOW, event_id).unwrap();
        assert_eq!(
            plan.writes,
            vec![
                Write::Delete {
                    key: ReviewRecord::key(&movie.id, &user_id),
                    condition: Condition::AttrEquals(REVISION.into(), json!(old.revision)),
                },
                Write::delete(RecentEntry::key(&movie.id, 20, &user_id)),
            ]
        );
        assert_eq!(plan.event.id, event_id);
        assert_eq!(
            plan.event.event,
            Event::ReviewDeleted(ReviewDeleted {
                movie_id: movie.id,
                user_id,
                score: 3,
            })
        );
    }
}
