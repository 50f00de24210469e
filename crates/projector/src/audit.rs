//! The projector's part of `moviebook verify` (see `platform::audit`): every read model
//! recomputed from the records and compared with the store, and the writes that repair
//! each difference — the projections' own writes where an event would have made them (a
//! movie listed or unlisted with its lifecycle record, so a late event changes nothing), and
//! otherwise each item put right on condition that it is still as read: a summary and its
//! top-rated entry on its tally revision, a review's pointer and list entry on the pointer's
//! version.
//!
//! Search keeps nothing in the store: each process rebuilds its index from the all-movies
//! list and the summaries, which are checked here.

use std::collections::{BTreeMap, BTreeSet};

use platform::audit::{self, Difference, Finding, Records, Stored, compare_entries, problem};
use serde_json::Value;
use store::{Attrs, Key, StoreError, Write};
use uuid::Uuid;

use crate::actors_list;
use crate::catalog::{self, CatalogProjection};
use crate::filmography::FilmographyProjection;
use crate::lifecycle::{self, Lifecycle, ListsMovies};
use crate::reviews;

/// Every difference between the read models and the records.
pub fn check(records: &Records, stored: &Stored) -> Result<Vec<Finding>, StoreError> {
    let mut findings = Vec::new();
    let catalog_counted = listings(&CatalogProjection, records, stored, &mut findings)?;
    listings(&FilmographyProjection, records, stored, &mut findings)?;
    findings.extend(catalog::audit_genre_counts(
        records,
        stored,
        &catalog_counted,
    )?);
    findings.extend(reviews::audit::check(records, stored)?);
    findings.extend(catalog::audit_posters(records, stored)?);
    findings.extend(actors_list::audit(records, stored)?);
    Ok(findings)
}

/// Audits one projection that lists movies; returns the movies it counts as listed (live
/// lifecycle and a record), which the genre counts are checked against.
fn listings<L: ListsMovies>(
    projection: &L,
    records: &Records,
    stored: &Stored,
    findings: &mut Vec<Finding>,
) -> Result<BTreeSet<Uuid>, StoreError> {
    let name = projection.name();
    let mut actual: BTreeMap<Uuid, BTreeMap<&Key, &Attrs>> = BTreeMap::new();
    for prefix in projection.listed_under() {
        for (key, attrs) in stored.under(prefix) {
            match audit::id_attr(attrs, "movie_id") {
                Some(movie) => {
                    actual.entry(movie).or_default().insert(key, attrs);
                }
                None => findings.push(audit::unexpected(name, key, attrs)),
            }
        }
    }
    let mut movies: BTreeSet<Uuid> = records.movies.keys().copied().collect();
    movies.extend(actual.keys().copied());
    movies.extend(lifecycle::recorded(stored, name));

    let mut counted = BTreeSet::new();
    let none = BTreeMap::new();
    for movie_id in movies {
        let state = lifecycle::stored_state(stored, name, &movie_id);
        let actual = actual.get(&movie_id).unwrap_or(&none);
        let snapshot = records.movies.get(&movie_id);
        let expected: BTreeMap<Key, Attrs> = match snapshot {
            Some(movie) => projection
                .entries(movie, false)?
                .into_iter()
                .filter_map(|write| match write {
                    Write::Put { item, .. } => Some((item.key, item.attrs)),
                    _ => None,
                })
                .collect(),
            None => BTreeMap::new(),
        };
        let entries = compare_entries(name, &expected, actual.iter().map(|(k, a)| (*k, *a)));
        match (snapshot, state) {
            (Some(_), Lifecycle::Live) => {
                counted.insert(movie_id);
                findings.extend(entries);
            }
            (None, Lifecycle::Unseen | Lifecycle::Deleted) => findings.extend(entries),
            // Listed as an event would list it: the lifecycle moves with the entries (and
            // the counts), so an event still on its way finds it done.
            (Some(movie), from) => {
                let mut repair = vec![lifecycle::transition(
                    name,
                    &movie_id,
                    from,
                    Lifecycle::Live,
                )?];
                repair.extend(projection.entries(movie, false)?);
                let extra = actual.keys().filter(|key| !expected.contains_key(**key));
                repair.extend(extra.map(|key| Write::delete((*key).clone())));
                findings.push(lifecycle_finding(
                    name, stored, &movie_id, entries, repair, "live",
                ));
            }
            (None, Lifecycle::Live) => {
                let mut repair = vec![lifecycle::transition(
                    name,
                    &movie_id,
                    Lifecycle::Live,
                    Lifecycle::Deleted,
                )?];
                repair.extend(actual.keys().map(|key| Write::delete((*key).clone())));
                findings.push(lifecycle_finding(
                    name, stored, &movie_id, entries, repair, "deleted",
                ));
            }
        }
    }
    Ok(counted)
}

/// A movie whose lifecycle record disagrees with its record, with the differences of its
/// entries, all repaired by one transaction.
fn lifecycle_finding(
    name: &'static str,
    stored: &Stored,
    movie_id: &Uuid,
    entries: Vec<Finding>,
    repair: Vec<Write>,
    expected_status: &str,
) -> Finding {
    let key = lifecycle::key(name, movie_id);
    let mut expected = Attrs::new();
    expected.insert(lifecycle::STATUS.into(), Value::from(expected_status));
    let lifecycle_problem = problem(stored.get(&key), Some(&expected), &[]);
    let mut differences: Vec<Difference> = lifecycle_problem
        .map(|problem| Difference { key, problem })
        .into_iter()
        .collect();
    differences.extend(entries.into_iter().flat_map(|finding| finding.differences));
    Finding {
        view: name,
        differences,
        repair,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bus::Outcome;
    use domain::events::{
        ActorCreated, CastMember, Envelope, Event, MovieSnapshot, PhotoChanged, PosterChanged,
    };
    use domain::picture::{ImageType, StoredPicture};
    use platform::audit::{ActorFacts, Problem};
    use serde_json::json;
    use store::{Item, Store};

    use super::*;

    fn picture(width: u32) -> StoredPicture {
        StoredPicture {
            upload_id: Uuid::now_v7(),
            image_type: ImageType::Png,
            width,
            height: width,
        }
    }

    /// A store the projections wrote from a movie with a poster and an actor with a photo,
    /// and the records that say so.
    struct Pictured {
        _dir: tempfile::TempDir,
        store: Arc<dyn Store>,
        records: Records,
        movie_id: Uuid,
        actor_id: Uuid,
    }

    async fn pictured() -> Pictured {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(store_sqlite::SqliteStore::open(&dir.path().join("store.db")).unwrap());
        let subscriptions =
            crate::subscriptions(store.clone(), platform::consumer::DEFAULT_MARKER_RETENTION);
        let actor_id = Uuid::now_v7();
        let actor_created = Envelope::new(Event::ActorCreated(ActorCreated {
            actor_id,
            name: "Pictured Actor".into(),
            thumbnail_url: None,
        }));
        let movie_id = Uuid::now_v7();
        let (poster, photo) = (picture(600), picture(300));
        let mut movie = MovieSnapshot {
            movie_id,
            title: "Pictured".into(),
            release_year: 1999,
            genres: vec!["drama".into()],
            thumbnail_url: None,
            created_at: domain::timestamp::now_micros(),
            cast: vec![CastMember {
                actor_id,
                name: "Pictured Actor".into(),
                role: "Lead".into(),
            }],
            poster: None,
        };
        let events = [
            actor_created.clone(),
            Envelope::new(Event::MovieCreated(movie.clone())),
            Envelope::new(Event::PosterChanged(PosterChanged {
                movie_id,
                poster: Some(poster),
                replaced: None,
                cast_ids: vec![actor_id],
            })),
            Envelope::new(Event::PhotoChanged(PhotoChanged {
                actor_id,
                photo: Some(photo),
                replaced: None,
                created_at: actor_created.occurred_at,
            })),
        ];
        for envelope in &events {
            for subscription in &subscriptions {
                if subscription
                    .event_types
                    .contains(&envelope.event.event_type())
                {
                    assert_eq!(subscription.handler.handle(envelope).await, Outcome::Done);
                }
            }
        }
        movie.poster = Some(poster);
        let mut records = Records::default();
        records.movies.insert(movie_id, movie);
        let facts = ActorFacts {
            name: "Pictured Actor".into(),
            thumbnail_url: None,
            created_at: actor_created.occurred_at,
            photo: Some(photo),
        };
        records.actors.insert(actor_id, facts);
        Pictured {
            _dir: dir,
            store,
            records,
            movie_id,
            actor_id,
        }
    }

    async fn scan(store: &dyn Store) -> Stored {
        let mut items = Vec::new();
        let mut after = None;
        loop {
            let page = store.scan(after.as_ref(), 100).await.unwrap();
            items.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => return Stored::new(items),
            }
        }
    }

    /// Every item of the scan whose partition key starts with `prefix`.
    fn items_under(stored: &Stored, prefix: &str) -> Vec<Item> {
        stored
            .under(prefix)
            .map(|(key, attrs)| Item::new(key.clone(), attrs.clone()))
            .collect()
    }

    /// Checks the store, applies every repair, and checks it again: what the first check
    /// found, described.
    async fn repaired(p: &Pictured) -> Vec<String> {
        let findings = check(&p.records, &scan(p.store.as_ref()).await).unwrap();
        for finding in &findings {
            p.store.transact(finding.repair.clone()).await.unwrap();
        }
        let after = check(&p.records, &scan(p.store.as_ref()).await).unwrap();
        assert_eq!(after, Vec::new(), "the repairs put everything right");
        findings.iter().map(ToString::to_string).collect()
    }

    #[tokio::test]
    async fn projected_posters_and_photos_agree_with_the_records() {
        let p = pictured().await;
        let stored = scan(p.store.as_ref()).await;
        assert_eq!(check(&p.records, &stored).unwrap(), Vec::new());
    }

    #[tokio::test]
    async fn a_summary_with_another_poster_or_none_is_found_and_repaired() {
        let p = pictured().await;
        let stored = scan(p.store.as_ref()).await;
        let [summary] = items_under(&stored, "summary#").try_into().unwrap();
        let version = summary.attrs["poster_version"].clone();
        // Another poster, then none at all (as a summary written before posters holds).
        let wrong = picture(10);
        let mut damaged = summary.clone();
        damaged.attrs.insert("poster".into(), json!(wrong));
        p.store
            .transact(vec![store::Write::put(damaged)])
            .await
            .unwrap();
        let found = repaired(&p).await;
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("movie summaries: summary#"),
            "{found:?}"
        );
        assert!(found[0].contains("differs in poster"), "{found:?}");
        let now = p
            .store
            .get(&catalog::summary_key(&p.movie_id))
            .await
            .unwrap();
        assert_eq!(
            now.unwrap().attrs["poster_version"],
            version,
            "the version stays"
        );

        let mut bare = summary.clone();
        bare.attrs.remove("poster");
        bare.attrs.remove("poster_version");
        p.store
            .transact(vec![store::Write::put(bare)])
            .await
            .unwrap();
        assert_eq!(repaired(&p).await.len(), 1);
        let summary = catalog::summary(p.store.as_ref(), &p.movie_id)
            .await
            .unwrap();
        let poster = p.records.movies[&p.movie_id].poster.unwrap();
        assert_eq!(
            summary.unwrap().poster,
            Some(poster.view(domain::picture::PictureOwner::Movie(p.movie_id)))
        );
    }

    #[tokio::test]
    async fn a_poster_deleted_in_the_records_is_taken_off_the_summary() {
        let mut p = pictured().await;
        if let Some(movie) = p.records.movies.get_mut(&p.movie_id) {
            movie.poster = None;
        }
        let found = repaired(&p).await;
        assert_eq!(found.len(), 1, "{found:?}");
        let summary = catalog::summary(p.store.as_ref(), &p.movie_id)
            .await
            .unwrap();
        assert_eq!(summary.unwrap().poster, None);
    }

    #[tokio::test]
    async fn an_actor_listing_with_another_photo_or_none_is_found_and_repaired() {
        let p = pictured().await;
        let stored = scan(p.store.as_ref()).await;
        let [listing] = items_under(&stored, "actors#").try_into().unwrap();
        let mut damaged = listing.clone();
        damaged.attrs.insert("photo".into(), json!(null));
        p.store
            .transact(vec![store::Write::put(damaged)])
            .await
            .unwrap();
        let found = repaired(&p).await;
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("differs in photo"), "{found:?}");
        let now = p.store.get(&listing.key).await.unwrap().unwrap();
        assert_eq!(
            now.attrs, listing.attrs,
            "the photo and its version as projected"
        );

        // Gone altogether: put back at the record's time, with the photo.
        p.store
            .transact(vec![store::Write::delete(listing.key.clone())])
            .await
            .unwrap();
        let stored = scan(p.store.as_ref()).await;
        let findings = check(&p.records, &stored).unwrap();
        assert_eq!(findings.len(), 1);
        assert!(matches!(
            findings[0].differences[0].problem,
            Problem::Missing { .. }
        ));
        assert_eq!(repaired(&p).await.len(), 1);
        let (listed, _) = actors_list::actors_page(p.store.as_ref(), None, 10)
            .await
            .unwrap();
        let photo = p.records.actors[&p.actor_id].photo.unwrap();
        assert_eq!(
            listed[0].photo,
            Some(photo.view(domain::picture::PictureOwner::Actor(p.actor_id)))
        );
    }

    #[tokio::test]
    async fn a_listing_holding_only_a_photo_of_no_actor_is_removed() {
        let p = pictured().await;
        let stranger = Uuid::now_v7();
        let key = store::Key::new(
            crate::sharded::partition("actors", &stranger),
            format!("{:020}#{stranger}", 1),
        );
        let mut attrs = store::Attrs::new();
        attrs.insert("photo".into(), json!(picture(5)));
        attrs.insert("photo_version".into(), json!(Uuid::now_v7()));
        p.store
            .transact(vec![store::Write::put(Item::new(key, attrs))])
            .await
            .unwrap();
        let found = repaired(&p).await;
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("unexpected"), "{found:?}");
    }
}
