//! The inverted index one serving process keeps in memory: folded words → the ids of the
//! titles (or names) holding them, kept in the order results are listed, so that a page is
//! found without looking at every match.
//!
//! Why purpose-built rather than `tantivy`: API.md's order (exact titles first, then by the
//! first title word the query's longest word starts, then id) depends on the query, so a
//! general engine has to collect every match of a common word and sort it: its cost grows
//! with the catalogue. Here postings are sorted by id under each word of an ordered map, so
//! a query is first walked in list order and stops after a page (a common word, or common
//! words together), and otherwise answered from the postings of its rarest word.
//!
//! Measured by `cargo run --release -p projector --example search_bench` (synthetic titles,
//! "The" + 1–4 words of a skewed 5,000-word vocabulary, rebuilt from SQLite; µs per page of
//! 20 on a 2-core machine under load average ~9 from other builds, so the absolute values
//! are inflated, the ratios are not):
//!
//! | query | 1,000 titles | 100,000 titles |
//! |---|---|---|
//! | a word every title shares ("the") | 13.2 | 10.8 |
//! | the same, 11th page | 7.8 | 10.1 |
//! | a rare word (3 titles) | 4.3 | 4.3 |
//! | a prefix of many common words ("ka") | 11.9 | 11.0 |
//! | two words ("the ka") | 45.4 | 50.1 |
//! | an exact title | 4.0 | 3.2 |
//!
//! Rebuilt from SQLite in 55 ms / 4.9 s; 433 / 289 heap bytes per title.
//!
//! tantivy 0.27 on the same titles and queries (each query word a `RegexQuery` "word.*",
//! all required; a scratch program, not kept), µs at 1,000 / 100,000 titles: collecting
//! every match, which API.md's order needs, 124 / 17,518 for "the", 6.9 / 9.2 for the rare
//! word, 75 / 2,165 for "ka", 95 / 3,839 for two words, 32 / 685 for an exact title; even
//! its top 20 by score (not API.md's order) 16 / 936 for "the".

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;

use domain::text;
use uuid::Uuid;

use super::{SearchCursor, SearchPage, WordPosition};

/// How many postings a query word may have for its postings to be gathered and sorted
/// (a "rare" word); a query whose every word is more common walks the order instead.
const GATHER_MAX: usize = 1000;

/// How many postings per item of a page the first, quick ordered walk visits before the
/// query is seen as selective.
const QUICK_WALK_PER_ITEM: usize = 8;

/// How many postings one ordered walk visits at most before it returns a shorter page with
/// a cursor to go on: bounds a query whose words are each common but rarely together.
const WALK_BUDGET: usize = 4000;

/// One indexed title or name.
#[derive(Debug, Clone)]
struct Entry<L> {
    /// The folded words joined by one space (`text::exact_form`): the exact form, and the
    /// words, in one allocation.
    exact: Box<str>,
    listing: L,
}

impl<L> Entry<L> {
    fn words(&self) -> impl Iterator<Item = &str> {
        self.exact.split(' ').filter(|w| !w.is_empty())
    }

    /// The smallest of this entry's words that starts with `driving`: the one word under
    /// which the entry is listed for a query driven by it, so it is listed once.
    fn listed_under(&self, driving: &str) -> Option<&str> {
        self.words().filter(|w| w.starts_with(driving)).min()
    }

    fn matches(&self, query_words: &[String]) -> bool {
        query_words
            .iter()
            .all(|q| self.words().any(|w| w.starts_with(q.as_str())))
    }
}

/// Titles (or names) by their folded words, each with the listing a search returns.
#[derive(Debug, Clone)]
pub(crate) struct WordIndex<L> {
    entries: HashMap<Uuid, Entry<L>>,
    /// Each folded word → the ids of the entries that have it, ascending.
    postings: BTreeMap<Box<str>, Vec<Uuid>>,
    /// Each exact form → the ids of the entries that have it, ascending.
    exact: HashMap<Box<str>, Vec<Uuid>>,
}

impl<L> Default for WordIndex<L> {
    fn default() -> Self {
        WordIndex {
            entries: HashMap::new(),
            postings: BTreeMap::new(),
            exact: HashMap::new(),
        }
    }
}

fn insert_sorted(ids: &mut Vec<Uuid>, id: Uuid) {
    // Ids are v7, so a new entity usually goes at the end.
    if let Err(at) = ids.binary_search(&id) {
        ids.insert(at, id);
    }
}

fn remove_sorted(ids: &mut Vec<Uuid>, id: &Uuid) {
    if let Ok(at) = ids.binary_search(id) {
        ids.remove(at);
    }
}

impl<L: Clone> WordIndex<L> {
    /// How many titles are indexed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Indexes `text` as `id`'s title (or name); indexing an id again replaces its entry.
    pub fn insert(&mut self, id: Uuid, text: &str, listing: L) {
        self.remove(&id);
        let exact = text::exact_form(text);
        let entry = Entry {
            exact: exact.into_boxed_str(),
            listing,
        };
        let mut words: Vec<&str> = entry.words().collect();
        words.sort_unstable();
        words.dedup();
        for word in words {
            match self.postings.get_mut(word) {
                Some(ids) => insert_sorted(ids, id),
                None => {
                    self.postings.insert(word.into(), vec![id]);
                }
            }
        }
        if !entry.exact.is_empty() {
            insert_sorted(self.exact.entry(entry.exact.clone()).or_default(), id);
        }
        self.entries.insert(id, entry);
    }

    /// The listing of `id`, if it is indexed.
    pub fn listing(&self, id: &Uuid) -> Option<&L> {
        self.entries.get(id).map(|entry| &entry.listing)
    }

    /// The listing of `id` to change, if it is indexed; its text stays.
    pub fn listing_mut(&mut self, id: &Uuid) -> Option<&mut L> {
        self.entries.get_mut(id).map(|entry| &mut entry.listing)
    }

    /// Takes `id` out of the index, if it is there.
    pub fn remove(&mut self, id: &Uuid) {
        let Some(entry) = self.entries.remove(id) else {
            return;
        };
        for word in entry.words() {
            if let Some(ids) = self.postings.get_mut(word) {
                remove_sorted(ids, id);
                if ids.is_empty() {
                    self.postings.remove(word);
                }
            }
        }
        if let Some(ids) = self.exact.get_mut(&*entry.exact) {
            remove_sorted(ids, id);
            if ids.is_empty() {
                self.exact.remove(&*entry.exact);
            }
        }
    }

    /// The words of the index that start with `prefix`, in order, from `from` on.
    fn words_from<'a>(
        &'a self,
        prefix: &'a str,
        from: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a Vec<Uuid>)> + 'a {
        let start = from.max(prefix);
        self.postings
            .range::<str, _>((Bound::Included(start), Bound::Unbounded))
            .take_while(move |(word, _)| word.starts_with(prefix))
            .map(|(word, ids)| (&**word, ids))
    }

    /// How many postings the words starting with `prefix` have, counted up to just past
    /// `cap` (so counting a common word costs no more than gathering a rare one).
    fn postings_up_to(&self, prefix: &str, cap: usize) -> usize {
        let mut count = 0;
        for (_, ids) in self.words_from(prefix, prefix) {
            count += ids.len();
            if count > cap {
                break;
            }
        }
        count
    }

    /// One page of the entries whose title matches `query` (API.md: every query word starts
    /// a title word, after folding), exact matches first by id, then the others by the
    /// first title word that the longest query word starts, then by id.
    pub fn page(&self, query: &str, cursor: Option<&SearchCursor>, limit: usize) -> SearchPage<L> {
        let query_words = text::words(query);
        let exact = query_words.join(" ");
        let mut found = Vec::new();
        let after_word = match cursor {
            Some(SearchCursor::Words(position)) => position.clone(),
            None | Some(SearchCursor::Exact(_)) => {
                let after = match cursor {
                    Some(SearchCursor::Exact(id)) => Some(*id),
                    _ => None,
                };
                let ids = self
                    .exact
                    .get(exact.as_str())
                    .map_or(&[][..], Vec::as_slice);
                let start = after.map_or(0, |after| ids.partition_point(|id| *id <= after));
                for id in &ids[start..] {
                    if found.len() == limit {
                        let last = found.last().map(|(id, _)| *id).unwrap_or(*id);
                        return SearchPage {
                            found,
                            next: Some(SearchCursor::Exact(last)),
                        };
                    }
                    if let Some(entry) = self.entries.get(id) {
                        found.push((*id, entry.listing.clone()));
                    }
                }
                None
            }
        };
        // The longest word (the last of the longest) orders the list: it is the most
        // selective one to walk by.
        let Some(driving) = query_words.iter().max_by_key(|w| w.chars().count()) else {
            return SearchPage { found, next: None };
        };
        // A walk in list order settles most queries after a page's worth of postings: the
        // query words are common together, or the list ends. Otherwise a rare query word's
        // postings are gathered; a query of only common words that are rare together walks on.
        let quick = QUICK_WALK_PER_ITEM * (limit + 1);
        let (page, settled) = self.walked(
            driving,
            &query_words,
            &exact,
            after_word.as_ref(),
            limit,
            found.clone(),
            quick,
        );
        if settled {
            return page;
        }
        let rarest = query_words
            .iter()
            .map(|word| (self.postings_up_to(word, GATHER_MAX), word))
            .min_by_key(|(count, _)| *count);
        match rarest {
            Some((count, rare)) if count <= GATHER_MAX => self.gathered(
                rare,
                driving,
                &query_words,
                &exact,
                after_word,
                limit,
                found,
            ),
            _ => {
                let (page, _) = self.walked(
                    driving,
                    &query_words,
                    &exact,
                    after_word.as_ref(),
                    limit,
                    found,
                    WALK_BUDGET,
                );
                page
            }
        }
    }

    /// The entry `id` when it is a word match (not an exact one) listed under `word`.
    fn word_match(
        &self,
        id: &Uuid,
        word: &str,
        driving: &str,
        query_words: &[String],
        exact: &str,
    ) -> Option<&Entry<L>> {
        let entry = self.entries.get(id)?;
        (entry.listed_under(driving) == Some(word)
            && &*entry.exact != exact
            && entry.matches(query_words))
        .then_some(entry)
    }

    /// The word matches after `after` found by gathering the postings of the rare query
    /// word `rare` and sorting them in list order.
    #[allow(clippy::too_many_arguments)]
    fn gathered(
        &self,
        rare: &str,
        driving: &str,
        query_words: &[String],
        exact: &str,
        after: Option<WordPosition>,
        limit: usize,
        mut found: Vec<(Uuid, L)>,
    ) -> SearchPage<L> {
        let mut seen = HashSet::new();
        let mut matches: Vec<(&str, Uuid, &Entry<L>)> = Vec::new();
        for (_, ids) in self.words_from(rare, rare) {
            for id in ids {
                if !seen.insert(*id) {
                    continue;
                }
                let Some(entry) = self.entries.get(id) else {
                    continue;
                };
                let Some(word) = entry.listed_under(driving) else {
                    continue;
                };
                if &*entry.exact == exact || !entry.matches(query_words) {
                    continue;
                }
                let beyond = after
                    .as_ref()
                    .is_none_or(|after| (word, *id) > (after.word.as_str(), after.id));
                if beyond {
                    matches.push((word, *id, entry));
                }
            }
        }
        matches.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let room = limit - found.len();
        let next = if matches.len() > room {
            // `room` is 0 only when exact matches filled the page: start the words afresh.
            Some(SearchCursor::Words(room.checked_sub(1).map(|last| {
                WordPosition {
                    word: matches[last].0.to_owned(),
                    id: matches[last].1,
                }
            })))
        } else {
            None
        };
        found.extend(
            matches
                .into_iter()
                .take(room)
                .map(|(_, id, entry)| (id, entry.listing.clone())),
        );
        SearchPage { found, next }
    }

    /// The word matches after `after` found by walking the words `driving` starts, in
    /// order, and each one's postings, until the page is settled (full and known to be
    /// followed by another match, or the list ended: `true`) or `budget` postings were
    /// visited (`false`; the cursor resumes after the last one).
    #[allow(clippy::too_many_arguments)]
    fn walked(
        &self,
        driving: &str,
        query_words: &[String],
        exact: &str,
        after: Option<&WordPosition>,
        limit: usize,
        mut found: Vec<(Uuid, L)>,
        budget: usize,
    ) -> (SearchPage<L>, bool) {
        let from = after.map_or(driving, |after| after.word.as_str());
        let owned = |(word, id): (&str, Uuid)| WordPosition {
            word: word.to_owned(),
            id,
        };
        // Where the page became full: the cursor, once one more match shows there is more.
        let mut full_at: Option<Option<(&str, Uuid)>> = (found.len() == limit).then_some(None);
        let mut visited = 0;
        for (word, ids) in self.words_from(driving, from) {
            let start = match after {
                Some(after) if after.word == word => ids.partition_point(|id| *id <= after.id),
                _ => 0,
            };
            for id in &ids[start..] {
                visited += 1;
                if let Some(entry) = self.word_match(id, word, driving, query_words, exact) {
                    if let Some(full_at) = full_at {
                        let next = Some(SearchCursor::Words(full_at.map(owned)));
                        return (SearchPage { found, next }, true);
                    }
                    found.push((*id, entry.listing.clone()));
                    if found.len() == limit {
                        full_at = Some(Some((word, *id)));
                    }
                }
                if visited >= budget {
                    let resume = full_at.unwrap_or(Some((word, *id)));
                    let next = Some(SearchCursor::Words(resume.map(owned)));
                    return (SearchPage { found, next }, false);
                }
            }
        }
        (SearchPage { found, next: None }, true)
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::seq::IndexedRandom;
    use rand::{Rng, SeedableRng};

    use super::*;

    fn index_of(titles: &[&str]) -> (WordIndex<()>, Vec<Uuid>) {
        let mut index = WordIndex::default();
        let ids: Vec<Uuid> = titles
            .iter()
            .map(|title| {
                let id = Uuid::now_v7();
                index.insert(id, title, ());
                id
            })
            .collect();
        (index, ids)
    }

    /// Every match, page after page.
    fn walk(index: &WordIndex<()>, query: &str, limit: usize) -> Vec<Vec<Uuid>> {
        let mut pages = Vec::new();
        let mut cursor = None;
        loop {
            let page = index.page(query, cursor.as_ref(), limit);
            assert!(page.found.len() <= limit);
            pages.push(page.found.into_iter().map(|(id, ())| id).collect());
            match page.next {
                // Through its encoding, as clients hand it back.
                Some(next) => {
                    let encoded = serde_json::to_string(&next).unwrap();
                    cursor = Some(serde_json::from_str(&encoded).unwrap());
                }
                None => return pages,
            }
            assert!(pages.len() < 10_000, "the cursor never ends");
        }
    }

    /// API.md's rules and the list's order, applied to every title one by one.
    fn reference(titles: &[(Uuid, String)], query: &str) -> Vec<Uuid> {
        let query_words = text::words(query);
        let Some(driving) = query_words.iter().max_by_key(|w| w.chars().count()) else {
            return Vec::new();
        };
        let exact = text::exact_form(query);
        let mut exact_matches = Vec::new();
        let mut others = Vec::new();
        for (id, title) in titles {
            let words = text::words(title);
            if !text::matches(&query_words, &words) {
                continue;
            }
            if text::exact_form(title) == exact {
                exact_matches.push(*id);
            } else {
                let listed_under = words
                    .iter()
                    .filter(|w| w.starts_with(driving.as_str()))
                    .min();
                others.push((listed_under.cloned(), *id));
            }
        }
        exact_matches.sort();
        others.sort();
        exact_matches.extend(others.into_iter().map(|(_, id)| id));
        exact_matches
    }

    #[test]
    fn the_cases_of_api_md() {
        let titles = [
            "The Theory of the Thing",
            "The Thing",
            "Thing",
            "Other Things",
            "Nothing",
            "Amélie",
            "Le Fabuleux Destin d'Amélie Poulain",
            "ÉCOLE",
            "Ben-Hur",
            "The Godfather",
        ];
        let (index, ids) = index_of(&titles);
        let id = |title: &str| ids[titles.iter().position(|t| *t == title).unwrap()];
        let search = |query: &str| walk(&index, query, 100).concat();
        assert_eq!(search("godf"), [id("The Godfather")]);
        assert_eq!(search("the god"), [id("The Godfather")]);
        assert_eq!(search("father"), Vec::<Uuid>::new());
        assert_eq!(search("hur"), [id("Ben-Hur")]);
        assert_eq!(search("ecol"), [id("ÉCOLE")]);
        assert_eq!(search("école"), [id("ÉCOLE")]);
        assert_eq!(
            search("amelie"),
            [id("Amélie"), id("Le Fabuleux Destin d'Amélie Poulain")]
        );
        assert_eq!(search("AMÉLIE")[0], id("Amélie"));
        assert_eq!(
            search("THE  thing!"),
            [id("The Thing"), id("The Theory of the Thing")]
        );
        assert_eq!(search("theo thi"), [id("The Theory of the Thing")]);
        assert_eq!(search("hing"), Vec::<Uuid>::new());
        assert_eq!(search("thing")[0], id("Thing"));
        assert_eq!(search(" - "), Vec::<Uuid>::new());
        let th = search("th");
        let mut distinct = th.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(th.len(), distinct.len(), "each title once");
        assert_eq!(th.len(), 5);
    }

    #[test]
    fn a_removed_title_is_found_no_more_and_indexing_again_replaces_it() {
        let (mut index, ids) = index_of(&["Thunder", "Thunder Road"]);
        index.remove(&ids[0]);
        assert_eq!(walk(&index, "thunder", 10).concat(), [ids[1]]);
        index.insert(ids[1], "Lightning", ());
        assert!(walk(&index, "thunder", 10).concat().is_empty());
        assert_eq!(walk(&index, "light", 10).concat(), [ids[1]]);
        assert_eq!(index.len(), 1);
        assert!(index.postings.keys().all(|word| &**word == "lightning"));
    }

    #[test]
    fn words_common_apart_but_rare_together_are_walked_in_shorter_pages() {
        let mut titles: Vec<String> = (0..6000).map(|i| format!("Alpha {i}")).collect();
        titles.extend((0..1500).map(|i| format!("Beta {i}")));
        titles.extend((0..3).map(|i| format!("Beta Alpha {i}")));
        let titles: Vec<&str> = titles.iter().map(String::as_str).collect();
        let (index, ids) = index_of(&titles);
        let pages = walk(&index, "alpha beta", 100);
        assert!(pages.len() > 1, "the walk budget ends a request early");
        assert_eq!(pages.concat(), ids[7500..].to_vec());
    }

    /// Random titles from a small alphabet with accents, digits and punctuation, so that
    /// words share prefixes, titles repeat and exact matches span pages; random queries;
    /// every page size walks the same matches, in the reference's order, once each.
    #[test]
    fn agrees_with_a_naive_reference_on_random_titles() {
        let mut rng = StdRng::seed_from_u64(8);
        let pieces = [
            "a", "b", "é", "É", "c", "1", "2", " ", " ", "-", "'", "·", "ab",
        ];
        let text = |rng: &mut StdRng, most: usize| -> String {
            let len = rng.random_range(0..=most);
            (0..len).map(|_| *pieces.choose(rng).unwrap()).collect()
        };
        for round in 0..40 {
            let mut index = WordIndex::default();
            let mut titles: Vec<(Uuid, String)> = Vec::new();
            for _ in 0..rng.random_range(1..120) {
                let title = text(&mut rng, 10);
                let id = Uuid::now_v7();
                index.insert(id, &title, ());
                titles.push((id, title));
            }
            // Some titles go again, as deleted movies do.
            for _ in 0..rng.random_range(0..10) {
                if titles.is_empty() {
                    break;
                }
                let at = rng.random_range(0..titles.len());
                let (id, _) = titles.swap_remove(at);
                index.remove(&id);
            }
            for _ in 0..30 {
                let query = text(&mut rng, 6);
                let expected = reference(&titles, &query);
                for limit in [1, 2, 3, 7, 100] {
                    let walked = walk(&index, &query, limit);
                    assert_eq!(
                        walked.concat(),
                        expected,
                        "round {round}, query {query:?}, limit {limit}"
                    );
                    for page in &walked[..walked.len() - 1] {
                        assert_eq!(page.len(), limit, "only the last page is short");
                    }
                }
            }
        }
    }
}
