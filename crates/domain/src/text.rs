//! Names and titles: trimming, control characters, and the folding that search matches on.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Folds case and accents: "Amélie" → "amelie".
pub fn fold(text: &str) -> String {
    text.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The search words of a text: maximal runs of letters and digits after folding.
/// "d'Amélie" → ["d", "amelie"]; "Ben-Hur" → ["ben", "hur"].
pub fn words(text: &str) -> Vec<String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The folded words of a whole title joined by one space: equal for titles that match exactly.
pub fn exact_form(text: &str) -> String {
    words(text).join(" ")
}

/// True when every query word is the start of some word of the title.
pub fn matches(query_words: &[String], title_words: &[String]) -> bool {
    query_words
        .iter()
        .all(|q| title_words.iter().any(|w| w.starts_with(q.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(text: &str) -> Vec<String> {
        words(text)
    }

    #[test]
    fn folds_case_and_accents() {
        assert_eq!(fold("Amélie"), "amelie");
        assert_eq!(fold("ÉCOLE"), "ecole");
    }

    #[test]
    fn every_non_alphanumeric_character_separates_words() {
        assert_eq!(
            w("Le Fabuleux Destin d'Amélie Poulain"),
            ["le", "fabuleux", "destin", "d", "amelie", "poulain"]
        );
        assert_eq!(w("Ben-Hur"), ["ben", "hur"]);
        assert_eq!(w("  WALL·E 2008 "), ["wall", "e", "2008"]);
    }

    #[test]
    fn every_query_word_must_start_some_title_word() {
        let title = w("The Godfather");
        assert!(matches(&w("godf"), &title));
        assert!(matches(&w("the god"), &title));
        assert!(!matches(&w("father"), &title));
        assert!(matches(&w("amelie"), &w("d'Amélie")));
        assert!(matches(&w("hur"), &w("Ben-Hur")));
    }
}

/// Property tests of search folding: any text folds without a panic into words a title
/// containing them is found by.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_text_folds_into_alphanumeric_words_that_find_it(text in "\\PC{0,24}|[A-Za-zÀ-ÿ' -]{0,24}") {
            let title = words(&text);
            for word in &title {
                prop_assert!(!word.is_empty());
                prop_assert!(word.chars().all(char::is_alphanumeric), "{:?}", word);
            }
            // A title is found by itself, by any of its words, and by the start of each.
            prop_assert!(matches(&title, &title));
            for word in &title {
                let start: String = word.chars().take(2).collect();
                prop_assert!(matches(&words(&start), &title), "{:?} in {:?}", start, title);
            }
        }
    }
}
