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
