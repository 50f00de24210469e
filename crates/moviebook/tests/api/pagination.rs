//! Pagination: limits, cursors, complete walks, the last page, capped embedded lists.

use futures::StreamExt;
use serde_json::{Value, json};

use crate::support::*;

/// Creates `years.len()` movies in `genre`, one after the other; returns them.
async fn movies_in_genre(app: &TestApp, genre: &str, years: &[i64]) -> Vec<Value> {
    let mut created = Vec::new();
    for (i, year) in years.iter().enumerate() {
        created.push(
            app.create_movie(&format!("Paged {genre} {i}"), *year, &[genre], &[])
                .await,
        );
    }
    created
}

/// Every paged list: all movies, a search for `word` (in the drama `movie_id`'s title),
/// actors, a genre, and the movie's reviews.
fn paged_lists(movie_id: &str, word: &str) -> [String; 5] {
    [
        "/movies".to_owned(),
        format!("/movies?search={word}"),
        "/actors".to_owned(),
        "/genres/drama/movies".to_owned(),
        format!("/movies/{movie_id}/reviews"),
    ]
}

/// Waits until the genre lists `n` movies.
async fn await_genre_size(app: &TestApp, genre: &str, n: usize) {
    eventually_equals(&format!("genre {genre} lists {n} movies"), &n, async || {
        app.all(&format!("/genres/{genre}/movies")).await.len()
    })
    .await;
}

#[tokio::test]
async fn default_limit_is_20() {
    let app = TestApp::spawn().await;
    let genre = tag();
    let years: Vec<i64> = (1950..1975).collect();
    movies_in_genre(&app, &genre, &years).await;
    await_genre_size(&app, &genre, 25).await;
    let (first, cursor) = app.page(&format!("/genres/{genre}/movies")).await;
    assert_eq!(first.len(), 20, "the default page size is 20");
    let cursor = cursor.expect("a next_cursor after a full first page of 25 movies");
    let (second, next) = app
        .page(&format!("/genres/{genre}/movies?cursor={}", enc(&cursor)))
        .await;
    assert_eq!(second.len(), 5);
    assert_eq!(next, None, "next_cursor is null on the last page");
    if app.owns_server() {
        eventually("GET /movies pages by 20 by default", async || {
            let (items, cursor) = app.page("/movies").await;
            if items.len() == 20 && cursor.is_some() {
                Ok(())
            } else {
                Err(format!("{} items, cursor {cursor:?}", items.len()))
            }
        })
        .await;
    }
}

#[tokio::test]
async fn limit_outside_1_to_100_or_not_a_number_is_422() {
    let app = TestApp::spawn().await;
    let movie = app.create_movie("Limits", 2000, &["drama"], &[]).await;
    let movie_id = movie["id"].as_str().unwrap();
    for list in &paged_lists(movie_id, "limits") {
        for bad in ["0", "101", "-1", "abc", "1.5"] {
            app.get(&with_param(list, &format!("limit={bad}")))
                .await
                .invalid_field("limit");
        }
        for good in ["1", "100"] {
            let body = app
                .get(&with_param(list, &format!("limit={good}")))
                .await
                .expect(200);
            let n = body["items"].as_array().map(Vec::len).unwrap_or(usize::MAX);
            assert!(
                n <= good.parse().unwrap(),
                "{list} limit={good} gave {n} items"
            );
        }
    }
}

#[tokio::test]
async fn malformed_cursor_is_422() {
    let app = TestApp::spawn().await;
    let movie = app.create_movie("Cursors", 2000, &["drama"], &[]).await;
    let movie_id = movie["id"].as_str().unwrap();
    for list in &paged_lists(movie_id, "cursors") {
        for bad in [
            "!!!not-a-cursor!!!",
            "AAAA",
            "%FF%FE",
            "eyJub3QiOiJhIGN1cnNvciJ9",
        ] {
            app.get(&with_param(list, &format!("cursor={bad}")))
                .await
                .invalid_field("cursor");
        }
    }
}

#[tokio::test]
async fn walking_all_movies_with_limit_7_gives_each_once_newest_created_first() {
    let app = TestApp::spawn().await;
    let tag = tag();
    let mut created = Vec::new();
    for i in 0..30 {
        created.push(
            app.create_movie(&format!("Walk {tag} {i}"), 1950 + i, &["drama"], &[])
                .await,
        );
    }
    let newest_first: Vec<String> = ids(&created).into_iter().rev().collect();
    let (items, pages) = eventually(
        "walking /movies?limit=7 gives the 30 movies newest first",
        async || {
            let (items, pages) = app.walk("/movies?limit=7").await;
            let all = ids(&items);
            assert_no_duplicates(&all, "walking /movies");
            let ours = only(&all, &newest_first);
            if ours == newest_first {
                Ok((items, pages))
            } else {
                Err(format!("{} of ours: {ours:?}", ours.len()))
            }
        },
    )
    .await;
    if app.owns_server() {
        assert_eq!(ids(&items), newest_first);
        assert_eq!(
            pages, 5,
            "30 movies by 7 are 5 pages, the last with a null next_cursor"
        );
    }
}

#[tokio::test]
async fn walking_a_genre_gives_each_movie_once_newest_release_first() {
    let app = TestApp::spawn().await;
    let genre = tag();
    // Release years in a scrambled creation order.
    let years: Vec<i64> = (0..23).map(|i| 1900 + (i * 37) % 101).collect();
    let created = movies_in_genre(&app, &genre, &years).await;
    await_genre_size(&app, &genre, 23).await;
    let (items, pages) = app.walk(&format!("/genres/{genre}/movies?limit=7")).await;
    assert_eq!(pages, 4, "23 movies by 7 are 4 pages");
    let got_years: Vec<i64> = items
        .iter()
        .map(|m| m["release_year"].as_i64().unwrap())
        .collect();
    let mut want_years = years.clone();
    want_years.sort_by(|a, b| b.cmp(a));
    assert_eq!(got_years, want_years, "newest release first");
    let mut got = ids(&items);
    assert_no_duplicates(&got, "walking a genre");
    got.sort();
    let mut want = ids(&created);
    want.sort();
    assert_eq!(got, want, "every movie of the genre exactly once");
}

#[tokio::test]
async fn a_full_last_page_has_a_null_next_cursor() {
    let app = TestApp::spawn().await;
    let genre = tag();
    let years: Vec<i64> = (1960..1974).collect();
    movies_in_genre(&app, &genre, &years).await;
    await_genre_size(&app, &genre, 14).await;
    let (first, cursor) = app.page(&format!("/genres/{genre}/movies?limit=7")).await;
    assert_eq!(first.len(), 7);
    let cursor = cursor.expect("a cursor after the first of two pages");
    let (second, next) = app
        .page(&format!(
            "/genres/{genre}/movies?limit=7&cursor={}",
            enc(&cursor)
        ))
        .await;
    assert_eq!(second.len(), 7);
    assert_eq!(
        next, None,
        "the second page holds the last movie, so it is the last page"
    );
    let (only_page, next) = app.page(&format!("/genres/{genre}/movies?limit=14")).await;
    assert_eq!(only_page.len(), 14);
    assert_eq!(next, None, "a single full page is the last page");
}

#[tokio::test]
async fn walking_actors_gives_each_once() {
    let app = TestApp::spawn().await;
    let tag = tag();
    let mut created = Vec::new();
    for i in 0..26 {
        created.push(app.create_actor(&format!("Walker {tag} {i}")).await);
    }
    let mut want = ids(&created);
    want.sort();
    let mut paths = vec![format!("/actors?search={tag}&limit=7")];
    if app.owns_server() {
        paths.push("/actors?limit=7".to_owned());
    }
    for path in paths {
        eventually_equals(
            &format!("walking {path} gives the 26 actors once each"),
            &want,
            async || {
                let (items, _) = app.walk(&path).await;
                let mut got = ids(&items);
                assert_no_duplicates(&got, &path);
                got.sort();
                got
            },
        )
        .await;
    }
}

#[tokio::test]
async fn walking_reviews_gives_each_once_most_recent_first() {
    let app = TestApp::spawn().await;
    let movie = app
        .create_movie("Many Reviews", 2000, &["drama"], &[])
        .await;
    let movie_id = movie["id"].as_str().unwrap();
    let mut order = Vec::new();
    for i in 0..15 {
        let (user_id, token) = app.sign_up(&format!("Reviewer {i}")).await;
        app.review(movie_id, &token, (i % 10) + 1, None)
            .await
            .expect(201);
        order.push(user_id);
    }
    order.reverse();
    eventually_equals(
        "walking the reviews by 4 gives all 15, newest first",
        &(order, 4),
        async || {
            let (items, pages) = app
                .walk(&format!("/movies/{movie_id}/reviews?limit=4"))
                .await;
            (texts(&items, "user_id"), pages)
        },
    )
    .await;
}

#[tokio::test]
async fn walking_search_results_gives_each_once() {
    let app = TestApp::spawn().await;
    let tag = tag();
    let mut created = Vec::new();
    for i in 0..17 {
        created.push(
            app.create_movie(
                &format!("Star {tag} Episode {i}"),
                1977 + i,
                &["sci-fi"],
                &[],
            )
            .await,
        );
    }
    let mut want = ids(&created);
    want.sort();
    let path = format!("/movies?search={}&limit=5", enc(&format!("star {tag}")));
    eventually_equals(
        "walking the search by 5 gives the 17 movies once each",
        &(want, 4),
        async || {
            let (items, pages) = app.walk(&path).await;
            let mut got = ids(&items);
            assert_no_duplicates(&got, &path);
            got.sort();
            (got, pages)
        },
    )
    .await;
}

#[tokio::test]
async fn user_page_and_filmography_show_at_most_100_entries() {
    let app = TestApp::spawn().await;
    let actor = app.create_actor("Prolific").await;
    let actor_id = actor["id"].as_str().unwrap().to_owned();
    let tag = tag();
    let years: Vec<i64> = (1900..=2000).collect();
    let movies: Vec<Value> = futures::stream::iter(years.clone())
        .map(|year| {
            let app = &app;
            let actor_id = &actor_id;
            let tag = &tag;
            async move {
                app.create_movie(
                    &format!("Busy {tag} {year}"),
                    year,
                    &["drama"],
                    &[(actor_id, "self")],
                )
                .await
            }
        })
        .buffered(8)
        .collect()
        .await;
    let (user_id, token) = app.sign_up("Completionist").await;
    // The oldest review is written first, alone; the others after it.
    let oldest = movies[0]["id"].as_str().unwrap().to_owned();
    app.review(&oldest, &token, 5, None).await.expect(201);
    let statuses: Vec<u16> = futures::stream::iter(movies[1..].iter())
        .map(|movie| {
            let app = &app;
            let token = &token;
            async move {
                app.review(movie["id"].as_str().unwrap(), token, 7, None)
                    .await
                    .status
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");

    let mut want_reviewed: Vec<String> = ids(&movies[1..]);
    want_reviewed.sort();
    eventually(
        "the user page lists the 100 most recent of 101 reviews",
        async || {
            let page = app.get_ok(&format!("/users/{user_id}")).await;
            let mut got = texts(array(&page["reviews"]), "movie_id");
            got.sort();
            if got == want_reviewed {
                Ok(())
            } else {
                Err(format!(
                    "{} reviews, oldest listed: {}",
                    got.len(),
                    got.contains(&oldest)
                ))
            }
        },
    )
    .await;

    let want_years: Vec<i64> = (1901..=2000).rev().collect();
    eventually(
        "the filmography lists the 100 newest of 101 movies",
        async || {
            let actor = app.get_ok(&format!("/actors/{actor_id}")).await;
            let list = actor["movies"].as_array().cloned().unwrap_or_default();
            let years: Vec<i64> = list
                .iter()
                .map(|m| m["release_year"].as_i64().unwrap_or(0))
                .collect();
            let counted = list.iter().all(|m| m["review_count"] == json!(1));
            if years == want_years && counted {
                Ok(())
            } else {
                Err(format!("{} movies, all reviewed: {counted}", years.len()))
            }
        },
    )
    .await;
}

/// Over 1 MiB of reviews of one movie — more than one DynamoDB page — still walks page by
/// page with every review exactly once, counts them all, and a deletion of the movie
/// reaches every one of them.
#[tokio::test]
async fn a_movie_with_over_a_mebibyte_of_reviews_pages_and_deletes_every_one() {
    const REVIEWERS: usize = 240;
    let app = TestApp::spawn().await;
    let movie_id = app
        .create_movie(&format!("Epic {}", tag()), 2001, &["epic"], &[])
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let comment = "A long review. ".repeat(300); // 4,500 characters
    // Sign-ups hash passwords, slow on purpose: 16 at a time, as a busy site would see.
    let mut users: Vec<User> = Vec::with_capacity(REVIEWERS);
    for chunk in (0..REVIEWERS).collect::<Vec<_>>().chunks(16) {
        let sign_ups = chunk
            .iter()
            .map(|i| app.sign_up_user_named(format!("Reviewer {i}")));
        users.extend(futures::future::join_all(sign_ups).await);
    }
    let scores: Vec<i64> = (0..REVIEWERS).map(|i| (i % 10) as i64 + 1).collect();
    let app = &app;
    for (users, scores) in users.chunks(16).zip(scores.chunks(16)) {
        let posts = users.iter().zip(scores).map(|(user, score)| {
            let (movie_id, comment) = (&movie_id, &comment);
            async move {
                app.review(movie_id, &user.token, *score, Some(comment))
                    .await
                    .expect(201);
            }
        });
        futures::future::join_all(posts).await;
    }
    assert!(
        REVIEWERS * comment.len() > 1024 * 1024,
        "the reviews must hold more than 1 MiB"
    );

    let (walked, pages) = app
        .walk(&format!("/movies/{movie_id}/reviews?limit=100"))
        .await;
    assert_eq!(pages, 3, "240 reviews in pages of 100");
    let reviewers: Vec<String> = walked
        .iter()
        .map(|r| r["user_id"].as_str().unwrap().to_owned())
        .collect();
    assert_no_duplicates(&reviewers, "reviews walked page by page");
    let mut expected: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
    let mut got = reviewers.clone();
    expected.sort();
    got.sort();
    assert_eq!(got, expected, "every review exactly once");
    let written: Vec<&str> = walked
        .iter()
        .map(|r| r["updated_at"].as_str().unwrap())
        .collect();
    assert!(
        written.windows(2).all(|w| w[0] >= w[1]),
        "most recently written first"
    );
    // 240 reviews of one movie in a burst is a bulk load, not the normal load the 2 s
    // convergence promise is about: each one moves the same score tally, one at a time.
    app.await_movie_score_within(std::time::Duration::from_secs(90), &movie_id, &scores)
        .await;

    app.delete(&format!("/movies/{movie_id}"), app.admin())
        .await
        .expect(204);
    for user in &users {
        eventually_within(
            std::time::Duration::from_secs(60),
            "a deleted movie leaves every reviewer's page",
            async || {
                let page = app.get_ok(&format!("/users/{}", user.id)).await;
                let reviews = page["reviews"].as_array().cloned().unwrap_or_default();
                if reviews.is_empty() {
                    Ok(())
                } else {
                    Err(format!("{} still lists {reviews:?}", user.id))
                }
            },
        )
        .await;
    }
}
