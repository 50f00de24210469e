//! The movies service's part of `moviebook verify` (see `platform::audit`): it reads the
//! records it owns — movies and reviews — and audits what it derives itself: each movie's
//! index of reviews by time, the copies of reviewers' names (the name copy and the name on
//! each review), and reviews whose movie or author is gone, which it removes as a deletion
//! would, announcing each; casts naming a deleted actor, and the cast index. Of the watch
//! lists, the memberships are the truth: those of a deleted movie or user go, and each list's
//! entries by time, each movie's watchers and each movie's count are recomputed from the rest.

use std::collections::{BTreeMap, BTreeSet};

use domain::events::CastMember;
use uuid::Uuid;

use pictures::{PictureRecord, audited_picture};
use platform::audit::{self, Finding, Problem, Records, ReviewFacts, Stored};
use store::{Attrs, Key, Record, StoreError, Write};

use crate::casts::cast_kept;
use crate::records::{
    CAST, CastIndexEntry, MovieCast, MovieRecord, RecentEntry, ReviewRecord, ReviewerName,
    ReviewerProfile, WatcherEntry, WatchlistCount, WatchlistMembership, WatchlistOrderEntry,
    cast_photo_key,
};
use crate::review_plan;

/// The service's name in the outbox: the removals verify makes are this service's events.
const SERVICE: &str = "movies";

/// Every stored movie: `movie#{id}` / `movie`.
fn movies(stored: &Stored) -> impl Iterator<Item = (&Key, &Attrs)> {
    stored.under("movie#").filter(|(key, _)| key.sk == "movie")
}

/// Whether the actor of a cast member still exists: its record is stored (decoding or not,
/// so that an actor whose record is damaged is not taken for a deleted one).
fn actor_exists(stored: &Stored, member: &CastMember) -> bool {
    stored
        .get(&platform::directory::actor_record_key(&member.actor_id))
        .is_some()
}

/// Reads the movies and reviews into `records`; a record that does not decode is a finding.
/// A movie's cast there holds only actors that exist: a deleted actor's place in a cast is
/// taken out by this service (and [`check`] finds any left), and counts in no view.
pub fn read_records(stored: &Stored, records: &mut Records) -> Vec<Finding> {
    let mut unreadable = Vec::new();
    for (key, attrs) in movies(stored) {
        match MovieRecord::from_attrs(attrs) {
            Ok(mut movie) => {
                let poster_key = MovieRecord::poster_key(&movie.id);
                let poster = audited_picture(stored, "movies", &poster_key, &mut unreadable);
                movie.cast.retain(|member| actor_exists(stored, member));
                records.movies.insert(movie.id, movie.snapshot(poster));
            }
            Err(error) => unreadable.push(audit::unreadable("movies", key, error)),
        }
    }
    for (key, attrs) in reviews(stored) {
        match ReviewRecord::from_attrs(attrs) {
            Ok(review) => {
                let facts = ReviewFacts {
                    movie_id: review.movie_id,
                    user_id: review.user_id,
                    score: review.score,
                    comment: review.comment,
                    created_at: review.created_at,
                    updated_at: review.updated_at,
                    revision: review.revision,
                };
                records
                    .reviews
                    .insert((review.movie_id, review.user_id), facts);
            }
            Err(error) => unreadable.push(audit::unreadable("reviews", key, error)),
        }
    }
    unreadable
}

/// Every stored review: `reviewer#{user}` / `movie#{movie}`.
fn reviews(stored: &Stored) -> impl Iterator<Item = (&Key, &Attrs)> {
    stored
        .under("reviewer#")
        .filter(|(key, _)| key.sk.starts_with("movie#"))
}

/// Every difference in what the movies service derives.
pub fn check(records: &Records, stored: &Stored) -> Result<Vec<Finding>, StoreError> {
    let mut findings = recent_reviews(records, stored)?;
    findings.extend(reviewer_names(records, stored)?);
    findings.extend(orphans(records, stored)?);
    findings.extend(watchlists(records, stored)?);
    findings.extend(cast_photos(records, stored)?);
    findings.extend(casts(stored)?);
    Ok(findings)
}

/// Casts and the cast index: a cast names only actors that exist — a deleted actor left
/// in one is taken out as its deletion's consumer would, on condition that the cast is as
/// read — and the index lists each movie under each actor of its cast, and nothing else.
fn casts(stored: &Stored) -> Result<Vec<Finding>, StoreError> {
    const VIEW: &str = "casts";
    let mut findings = Vec::new();
    let mut index = BTreeMap::new();
    for (key, attrs) in movies(stored) {
        // One that does not decode is a finding of `read_records`.
        let Ok(movie) = MovieRecord::from_attrs(attrs) else {
            continue;
        };
        let exists = |member: &CastMember| actor_exists(stored, member);
        let kept: Vec<CastMember> = movie
            .cast
            .iter()
            .filter(|member| exists(member))
            .cloned()
            .collect();
        if kept.len() < movie.cast.len() {
            let mut expected = attrs.clone();
            expected.extend(store::attrs_of(&MovieCast { cast: &kept }, VIEW)?);
            let problem = Problem::Differs {
                attributes: vec![CAST.into()],
                actual: attrs.clone(),
                expected,
            };
            let repair = cast_kept(&movie, exists)?;
            findings.push(Finding::one(VIEW, key.clone(), problem, vec![repair]));
        }
        let entry = CastIndexEntry { movie_id: movie.id }.to_attrs()?;
        for member in &kept {
            index.insert(
                CastIndexEntry::key(&member.actor_id, &movie.id),
                entry.clone(),
            );
        }
    }
    findings.extend(audit::compare_entries(
        "cast index",
        &index,
        stored.under("castof#"),
    ));
    Ok(findings)
}

/// The copies of actors' photos that casts on movie pages show: an actor with a photo has a
/// copy naming it, and no copy names another picture. A repair keeps the copy's version (nil
/// for a missing copy), so the actor's later changes still apply over it.
fn cast_photos(records: &Records, stored: &Stored) -> Result<Vec<Finding>, StoreError> {
    const VIEW: &str = "cast photos";
    let mut findings = Vec::new();
    let mut copied = BTreeSet::new();
    for (key, attrs) in stored.under("actorphoto#") {
        let copy = match PictureRecord::from_attrs(attrs) {
            Ok(copy) => copy,
            Err(error) => {
                findings.push(audit::unreadable(VIEW, key, error));
                continue;
            }
        };
        let actor = key
            .pk
            .strip_prefix("actorphoto#")
            .and_then(|id| Uuid::try_parse(id).ok());
        copied.extend(actor);
        let expected = actor
            .and_then(|id| records.actors.get(&id))
            .and_then(|actor| actor.photo);
        if copy.picture != expected {
            let repaired = PictureRecord {
                picture: expected,
                version: copy.version,
            };
            let problem = Problem::Differs {
                attributes: vec!["picture".into()],
                actual: attrs.clone(),
                expected: repaired.to_attrs()?,
            };
            let repair = Write::Put {
                item: repaired.to_item(key.clone())?,
                condition: PictureRecord::unchanged(Some(&copy)),
            };
            findings.push(Finding::one(VIEW, key.clone(), problem, vec![repair]));
        }
    }
    for (id, actor) in &records.actors {
        if let Some(photo) = actor.photo
            && !copied.contains(id)
        {
            let key = cast_photo_key(id);
            let copy = PictureRecord {
                picture: Some(photo),
                version: Uuid::nil(),
            };
            let problem = Problem::Missing {
                expected: copy.to_attrs()?,
            };
            let repair = Write::Put {
                item: copy.to_item(key.clone())?,
                condition: PictureRecord::unchanged(None),
            };
            findings.push(Finding::one(VIEW, key, problem, vec![repair]));
        }
    }
    Ok(findings)
}

/// Each movie's index of its reviews by time: one entry per review.
fn recent_reviews(records: &Records, stored: &Stored) -> Result<Vec<Finding>, StoreError> {
    let mut expected = BTreeMap::new();
    for review in records.reviews.values() {
        let key = RecentEntry::key(&review.movie_id, review.updated_at, &review.user_id);
        let entry = RecentEntry {
            user_id: review.user_id,
        };
        expected.insert(key, entry.to_attrs()?);
    }
    Ok(audit::compare_entries(
        "reviews by time",
        &expected,
        stored.under("recent#"),
    ))
}

/// The name copies and the names on reviews: a reviewer's copy holds the user's name, or
/// says the user was deleted; each review of an existing user carries the user's name.
fn reviewer_names(records: &Records, stored: &Stored) -> Result<Vec<Finding>, StoreError> {
    let mut findings = Vec::new();
    let profiles = stored
        .under("reviewer#")
        .filter(|(key, _)| key.sk == "profile");
    for (key, attrs) in profiles {
        let Some(user_id) = key
            .pk
            .strip_prefix("reviewer#")
            .and_then(|id| id.parse().ok())
        else {
            continue;
        };
        let Ok(mut profile) = ReviewerProfile::from_attrs(attrs) else {
            findings.push(audit::unreadable(
                "reviewer name copies",
                key,
                "not a name copy",
            ));
            continue;
        };
        match records.users.get(&user_id) {
            Some(user) => {
                profile.name = Some(user.name.clone());
                profile.deleted = false;
            }
            None => profile.deleted = true,
        }
        // A deleted user's copy keeps the name it had; only the mark matters.
        let expected = profile.to_attrs()?;
        if let Some(problem) = audit::problem(Some(attrs), Some(&expected), &[]) {
            findings.push(profile_finding(key, problem, &profile)?);
        }
    }
    for (key, attrs) in reviews(stored) {
        let Ok(review) = ReviewRecord::from_attrs(attrs) else {
            continue;
        };
        let Some(user) = records.users.get(&review.user_id) else {
            continue;
        };
        if review.user_name == user.name {
            continue;
        }
        let version = stored
            .get(&ReviewerProfile::key(&review.user_id))
            .and_then(|profile| ReviewerProfile::from_attrs(profile).ok())
            .map(|profile| profile.version)
            .unwrap_or_default();
        let rename = ReviewerName {
            user_name: &user.name,
            name_version: &version,
        };
        let set = store::attrs_of(&rename, "review rename")?;
        let mut expected = attrs.clone();
        expected.extend(set.clone());
        let Some(problem) = audit::problem(Some(attrs), Some(&expected), &["name_version"]) else {
            continue;
        };
        let repair = Write::Update {
            key: key.clone(),
            set,
            add: Vec::new(),
            condition: store::attr_equals(crate::records::REVISION, &review.revision)?,
        };
        findings.push(Finding::one(
            "reviewer names on reviews",
            key.clone(),
            problem,
            vec![repair],
        ));
    }
    Ok(findings)
}

/// A name copy put right, on condition that its version is still the one read.
fn profile_finding(
    key: &Key,
    problem: Problem,
    profile: &ReviewerProfile,
) -> Result<Finding, StoreError> {
    let repair = Write::Put {
        item: profile.to_item(key.clone())?,
        condition: store::attr_equals(crate::records::VERSION, &profile.version)?,
    };
    Ok(Finding::one(
        "reviewer name copies",
        key.clone(),
        problem,
        vec![repair],
    ))
}

/// Reviews whose movie or author is gone: the service removes them when it hears of the
/// deletion; one left behind is removed as then, with its event.
fn orphans(records: &Records, stored: &Stored) -> Result<Vec<Finding>, StoreError> {
    let mut findings = Vec::new();
    for (key, attrs) in reviews(stored) {
        let Ok(review) = ReviewRecord::from_attrs(attrs) else {
            continue;
        };
        if records.movies.contains_key(&review.movie_id)
            && records.users.contains_key(&review.user_id)
        {
            continue;
        }
        let plan = review_plan::plan_removal(
            &review,
            domain::timestamp::now_micros(),
            domain::ids::new_id(),
        )?;
        let mut repair = plan.writes;
        repair.push(platform::outbox::record(SERVICE, &plan.event)?);
        let problem = Problem::Unexpected {
            actual: attrs.clone(),
        };
        findings.push(Finding::one(
            "reviews of deleted movies or users",
            key.clone(),
            problem,
            repair,
        ));
    }
    Ok(findings)
}

/// The watch lists: memberships of deleted movies or users are removed; the entries by
/// time, the watchers and the counts must be what the remaining memberships make.
fn watchlists(records: &Records, stored: &Stored) -> Result<Vec<Finding>, StoreError> {
    let mut findings = Vec::new();
    let mut order = BTreeMap::new();
    let mut watchers = BTreeMap::new();
    let mut counts: BTreeMap<Uuid, i64> = BTreeMap::new();
    let memberships = stored
        .under("watchlist#")
        .filter(|(key, _)| key.sk.starts_with("in#"));
    for (key, attrs) in memberships {
        let user_id = key
            .pk
            .strip_prefix("watchlist#")
            .and_then(|id| id.parse().ok());
        let (Some(user_id), Ok(membership)) = (user_id, WatchlistMembership::from_attrs(attrs))
        else {
            findings.push(audit::unreadable(
                "watch list memberships",
                key,
                "not a watch list membership",
            ));
            continue;
        };
        let movie_id = membership.movie_id;
        if !records.movies.contains_key(&movie_id) || !records.users.contains_key(&user_id) {
            findings.push(audit::unexpected(
                "watch list memberships of deleted movies or users",
                key,
                attrs,
            ));
            continue;
        }
        order.insert(
            WatchlistOrderEntry::key(&user_id, membership.added_at, &movie_id),
            WatchlistOrderEntry { movie_id }.to_attrs()?,
        );
        watchers.insert(
            WatcherEntry::key(&movie_id, &user_id),
            WatcherEntry { user_id }.to_attrs()?,
        );
        *counts.entry(movie_id).or_default() += 1;
    }
    findings.extend(audit::compare_entries(
        "watch lists by time",
        &order,
        stored
            .under("watchlist#")
            .filter(|(key, _)| key.sk.starts_with("at#")),
    ));
    findings.extend(audit::compare_entries(
        "watchers of movies",
        &watchers,
        stored.under("watchers#"),
    ));
    findings.extend(watchlist_counts(records, stored, &counts)?);
    Ok(findings)
}

/// Each existing movie's count is its number of memberships (no item reads as 0); a
/// deleted movie has none.
fn watchlist_counts(
    records: &Records,
    stored: &Stored,
    counts: &BTreeMap<Uuid, i64>,
) -> Result<Vec<Finding>, StoreError> {
    let mut findings = Vec::new();
    for movie_id in records.movies.keys() {
        let key = WatchlistCount::key(movie_id);
        let actual = stored.get(&key);
        let count = counts.get(movie_id).copied().unwrap_or(0);
        if actual.is_none() && count == 0 {
            continue;
        }
        let expected = WatchlistCount { count }.to_attrs()?;
        if let Some(problem) = audit::problem(actual, Some(&expected), &[]) {
            let repair = audit::plain_repair(&key, &problem).into_iter().collect();
            findings.push(Finding::one("watch list counts", key, problem, repair));
        }
    }
    let stored_counts = stored
        .under("movie#")
        .filter(|(key, _)| key.sk == WatchlistCount::SORT_KEY);
    for (key, attrs) in stored_counts {
        let movie = key.pk.strip_prefix("movie#").and_then(|id| id.parse().ok());
        if !movie.is_some_and(|id| records.movies.contains_key(&id)) {
            findings.push(audit::unexpected("watch list counts", key, attrs));
        }
    }
    Ok(findings)
}
