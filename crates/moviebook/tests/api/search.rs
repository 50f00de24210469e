//! Movie search: word-prefix matching, folding, exact title first, blank queries, deletion.

use serde_json::Value;

use crate::movies::assert_summary;
use crate::support::*;

async fn search_ids(app: &TestApp, query: &str) -> Vec<String> {
    ids(&app.all(&format!("/movies?search={}", enc(query))).await)
}

/// Waits until `query` finds exactly `expected` (as a set).
async fn expect_search(app: &TestApp, query: &str, expected: &[String]) {
    let mut expected = expected.to_vec();
    expected.sort();
    eventually_equals(
        &format!("search {query:?} finds exactly {expected:?}"),
        &expected,
        async || {
            let mut found = search_ids(app, query).await;
            assert_no_duplicates(&found, query);
            found.sort();
            found
        },
    )
    .await;
}

#[tokio::test]
async fn search_matches_every_query_word_as_a_word_prefix_case_and_accent_insensitively() {
    let app = TestApp::spawn().await;
    let tag = tag();
    let mut movies = Vec::new();
    for (title, year) in [
        ("The Godfather", 1972),
        ("Le Fabuleux Destin d'Amélie Poulain", 2001),
        ("Ben-Hur", 1959),
        ("2001: A Space Odyssey", 1968),
        ("Godzilla", 1954),
    ] {
        movies.push(
            app.create_movie(&format!("{title} {tag}"), year, &["drama"], &[])
                .await,
        );
    }
    let id = |i: usize| movies[i]["id"].as_str().unwrap().to_owned();
    let (godfather, amelie, benhur, odyssey, godzilla) = (id(0), id(1), id(2), id(3), id(4));
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "",
            vec![
                godfather.clone(),
                amelie.clone(),
                benhur.clone(),
                odyssey.clone(),
                godzilla.clone(),
            ],
        ),
        ("godf", vec![godfather.clone()]),
        ("the god", vec![godfather.clone()]),
        ("GODFATHER the", vec![godfather.clone()]),
        ("god", vec![godfather.clone(), godzilla.clone()]),
        ("father", vec![]),
        ("odfather", vec![]),
        ("amelie", vec![amelie.clone()]),
        ("AMÉLIE", vec![amelie.clone()]),
        ("d'amelie", vec![amelie.clone()]),
        ("destin d", vec![amelie.clone()]),
        ("fabuleux poulain", vec![amelie.clone()]),
        ("melie", vec![]),
        ("hur", vec![benhur.clone()]),
        ("ben-hur", vec![benhur.clone()]),
        ("BEN HUR", vec![benhur.clone()]),
        ("benhur", vec![]),
        ("2001 spa", vec![odyssey.clone()]),
        ("odyssey 200", vec![odyssey.clone()]),
        ("a space", vec![odyssey.clone()]),
        ("godzilla father", vec![]),
    ];
    for (query, expected) in cases {
        expect_search(&app, &format!("{query} {tag}"), &expected).await;
    }
    // The query words may come in any position, and the tag may come first.
    expect_search(
        &app,
        &format!("{tag} the godf"),
        std::slice::from_ref(&godfather),
    )
    .await;

    // Search results are summaries.
    let items = app
        .all(&format!("/movies?search={}", enc(&format!("godf {tag}"))))
        .await;
    assert_eq!(items.len(), 1);
    assert_summary(&items[0], &movies[0]);
}

#[tokio::test]
async fn exact_title_match_comes_first() {
    let app = TestApp::spawn().await;
    // Other matches are created before and after the exact one, and one sorts before it
    // alphabetically, so neither creation order (either way), nor title order, nor word
    // order puts "Alien" first by accident.
    let absolute = app
        .create_movie("Absolute Alien", 2020, &["sci-fi"], &[])
        .await;
    let resurrection = app
        .create_movie("Alien Resurrection", 1997, &["sci-fi"], &[])
        .await;
    let exact = app.create_movie("Alien", 1979, &["sci-fi"], &[]).await;
    let aliens = app.create_movie("Aliens", 1986, &["sci-fi"], &[]).await;
    let exact_id = exact["id"].as_str().unwrap().to_owned();
    let mut ours = vec![exact_id.clone()];
    ours.extend(ids(&[absolute, resurrection, aliens]));
    let mut sorted_ours = ours.clone();
    sorted_ours.sort();
    // Case, surrounding spaces and accents do not matter for the exact match either.
    for query in ["alien", "ALIEN", "  Alien  ", "ALÏEN"] {
        eventually(
            &format!("search {query:?} lists \"Alien\" first"),
            async || {
                let items = app.all(&format!("/movies?search={}", enc(query))).await;
                let found = only(&ids(&items), &ours);
                let mut sorted_found = found.clone();
                sorted_found.sort();
                let first_is_exact = items.first().is_some_and(|i| i["title"] == "Alien");
                if sorted_found == sorted_ours && found[0] == exact_id && first_is_exact {
                    Ok(())
                } else {
                    Err(format!(
                        "{:?}",
                        items.iter().map(|i| i["title"].clone()).collect::<Vec<_>>()
                    ))
                }
            },
        )
        .await;
    }
}

#[tokio::test]
async fn empty_or_blank_search_is_the_same_as_no_search() {
    let app = TestApp::spawn().await;
    let tag = tag();
    let mut created = Vec::new();
    for i in 0..3 {
        created.push(
            app.create_movie(&format!("Blank {tag} {i}"), 2000 + i, &["drama"], &[])
                .await,
        );
    }
    let newest_first: Vec<String> = ids(&created).into_iter().rev().collect();
    for path in [
        "/movies",
        "/movies?search=",
        "/movies?search=%20%20%20",
        "/movies?search=+",
    ] {
        let items = eventually_in_order(
            &format!("{path} lists the new movies newest first"),
            &newest_first,
            &newest_first,
            async || app.all(path).await,
        )
        .await;
        if app.owns_server() {
            assert_eq!(
                ids(&items),
                newest_first,
                "{path} lists exactly every movie, newest created first"
            );
        }
    }
}

#[tokio::test]
async fn deleted_movie_disappears_from_search() {
    let app = TestApp::spawn().await;
    let tag = tag();
    let keep = app
        .create_movie(&format!("Vanishing Point {tag}"), 1971, &["drama"], &[])
        .await;
    let gone = app
        .create_movie(&format!("Vanishing Act {tag}"), 1980, &["drama"], &[])
        .await;
    let keep_id = keep["id"].as_str().unwrap().to_owned();
    let gone_id = gone["id"].as_str().unwrap().to_owned();
    let query = format!("vanish {tag}");
    expect_search(&app, &query, &[keep_id.clone(), gone_id.clone()]).await;
    app.delete(&format!("/movies/{gone_id}"), app.admin())
        .await
        .expect(204);
    expect_search(&app, &query, std::slice::from_ref(&keep_id)).await;
    expect_search(&app, &format!("act {tag}"), &[]).await;
}

#[tokio::test]
async fn search_sees_scores_of_reviewed_movies() {
    let app = TestApp::spawn().await;
    let tag = tag();
    let movie = app
        .create_movie(&format!("Scored Search {tag}"), 2000, &["drama"], &[])
        .await;
    let id = movie["id"].as_str().unwrap().to_owned();
    let (_, token) = app.sign_up("Ann").await;
    app.review(&id, &token, 7, None).await.expect(201);
    eventually(
        "the search summary shows score 7 and review_count 1",
        async || {
            let items = app
                .all(&format!("/movies?search={}", enc(&format!("scored {tag}"))))
                .await;
            match items.as_slice() {
                [item]
                    if item["id"] == id.as_str()
                        && same_score(&item["score"], &Value::from(7.0))
                        && item["review_count"] == 1 =>
                {
                    Ok(())
                }
                _ => Err(format!("{items:?}")),
            }
        },
    )
    .await;
}
