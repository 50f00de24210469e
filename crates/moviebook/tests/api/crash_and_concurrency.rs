//! Crash safety (SIGKILL before an event is published) and concurrent writers.

use futures::StreamExt;
use futures::future::join_all;
use serde_json::{Value, json};

use crate::actors::filmography_matches;
use crate::support::*;

#[tokio::test]
async fn review_written_before_a_sigkill_reaches_every_view_exactly_once_after_restart() {
    own_server_only!("it kills and restarts the server");
    let mut app = TestApp::spawn_with(&[("MOVIEBOOK_RELAY_DELAY_MS", "3000")]).await;
    let actor = app.create_actor("Crash Actor").await;
    let actor_id = actor["id"].as_str().unwrap().to_owned();
    let movie = app
        .create_movie("Crash Movie", 2001, &["drama"], &[(&actor_id, "lead")])
        .await;
    let movie_id = movie["id"].as_str().unwrap().to_owned();
    let user = app.sign_up_user("Crash User").await;
    let other = app.sign_up_user("Marker User").await;
    let review = app
        .review(&movie_id, &user.token, 9, Some("before the crash"))
        .await
        .expect(201);
    app.kill9();

    app.restart_with(&[]).await;
    // The review itself was stored before the answer.
    assert_eq!(
        app.get_ok(&format!("/movies/{movie_id}/reviews/{}", user.id))
            .await,
        review
    );

    let moviedoc = app.await_movie_score(&movie_id, &[9]).await;
    assert_eq!(
        moviedoc["review_count"],
        json!(1),
        "the review counts once, not twice"
    );
    eventually("the user's review list and the filmography show the review once", async || {
        let page = app.get_ok(&format!("/users/{}", user.id)).await;
        let reviews = page["reviews"].as_array().cloned().unwrap_or_default();
        let film = app.get_ok(&format!("/actors/{actor_id}")).await["movies"].clone();
        let want = json!([{ "id": movie_id, "title": "Crash Movie", "release_year": 2001, "role": "lead", "score": 9.0, "review_count": 1, "poster": null }]);
        let user_ok = reviews.len() == 1 && reviews[0]["movie_id"] == json!(movie_id) && reviews[0]["movie_title"] == json!("Crash Movie");
        if user_ok && filmography_matches(&film, &want) { Ok(()) } else { Err(format!("user {reviews:?}; filmography {film}")) }
    })
    .await;

    // A later event is applied after every replay of the earlier one: once it shows, the
    // count must be exactly 2.
    app.review(&movie_id, &other.token, 4, None)
        .await
        .expect(201);
    let moviedoc = app.await_movie_score(&movie_id, &[9, 4]).await;
    assert_eq!(moviedoc["review_count"], json!(2));
    eventually(
        "top-rated and the review list show the movie's two reviews once",
        async || {
            let top = app.get("/movies/top-rated?limit=100").await.items();
            let entries: Vec<&Value> = top.iter().filter(|m| m["id"] == json!(movie_id)).collect();
            let list = app.all(&format!("/movies/{movie_id}/reviews")).await;
            let top_ok = matches!(entries.as_slice(), [e] if e["review_count"] == json!(2));
            if top_ok && list.len() == 2 {
                Ok(())
            } else {
                Err(format!("top-rated entries {entries:?}; list {list:?}"))
            }
        },
    )
    .await;
    eventually("the filmography counts both reviews once", async || {
        let film = app.get_ok(&format!("/actors/{actor_id}")).await["movies"].clone();
        let want = json!([{ "id": movie_id, "title": "Crash Movie", "release_year": 2001, "role": "lead", "score": 6.5, "review_count": 2, "poster": null }]);
        if filmography_matches(&film, &want) { Ok(()) } else { Err(film.to_string()) }
    })
    .await;
}

#[tokio::test]
async fn movie_created_before_a_sigkill_reaches_lists_and_search_after_restart() {
    own_server_only!("it kills and restarts the server");
    let mut app = TestApp::spawn_with(&[("MOVIEBOOK_RELAY_DELAY_MS", "3000")]).await;
    let tag = tag();
    let genre = format!("crash{tag}");
    let movie = app
        .create_movie(&format!("Crashing Movie {tag}"), 2001, &[&genre], &[])
        .await;
    let movie_id = movie["id"].as_str().unwrap().to_owned();
    app.kill9();
    app.restart_with(&[]).await;
    app.get(&format!("/movies/{movie_id}")).await.expect(200);
    eventually("the movie reaches every list exactly once", async || {
        let all = ids(&app.all("/movies").await);
        let found = ids(&app.all(&format!("/movies?search={tag}")).await);
        let in_genre = ids(&app.all(&format!("/genres/{genre}/movies")).await);
        let count = app.genre_count(&genre).await;
        let ok = all == vec![movie_id.clone()]
            && found == vec![movie_id.clone()]
            && in_genre == vec![movie_id.clone()]
            && count == Some(json!(1));
        if ok {
            Ok(())
        } else {
            Err(format!(
                "all {all:?} search {found:?} genre {in_genre:?} count {count:?}"
            ))
        }
    })
    .await;
}

#[tokio::test]
async fn fifty_concurrent_reviewers_are_all_counted_exactly() {
    let app = TestApp::spawn().await;
    let movie = app.create_movie("Crowded", 2000, &["drama"], &[]).await;
    let movie_id = movie["id"].as_str().unwrap().to_owned();
    let users: Vec<(String, String)> = join_all((0..50).map(|i| {
        let app = &app;
        async move { app.sign_up(&format!("Crowd {i}")).await }
    }))
    .await;

    let first: Vec<i64> = (0..50).map(|i| (i * 7 % 10) + 1).collect();
    let statuses = join_all(users.iter().zip(&first).map(|((_, token), score)| {
        let app = &app;
        let movie_id = &movie_id;
        async move { app.review(movie_id, token, *score, None).await.status }
    }))
    .await;
    assert!(
        statuses.iter().all(|s| *s == 201),
        "every first review is 201: {statuses:?}"
    );
    app.await_movie_score(&movie_id, &first).await;

    let second: Vec<i64> = (0..50)
        .map(|i| if i % 3 == 0 { 10 } else { 9 - (i % 4) })
        .collect();
    let statuses = join_all(users.iter().zip(&second).map(|((_, token), score)| {
        let app = &app;
        let movie_id = &movie_id;
        async move { app.review(movie_id, token, *score, None).await.status }
    }))
    .await;
    assert!(
        statuses.iter().all(|s| *s == 200),
        "every replacement is 200: {statuses:?}"
    );
    let moviedoc = app.await_movie_score(&movie_id, &second).await;
    assert_eq!(moviedoc["review_count"], json!(50));

    let mut want = second.clone();
    want.sort();
    eventually_equals(
        "the review list holds every replacement",
        &want,
        async || {
            let list = app.all(&format!("/movies/{movie_id}/reviews")).await;
            let mut listed: Vec<i64> = list
                .iter()
                .map(|r| r["score"].as_i64().unwrap_or(0))
                .collect();
            listed.sort();
            listed
        },
    )
    .await;

    eventually(
        "top-rated lists the movie once with 50 reviews and the new score",
        async || {
            let top = app
                .get("/movies/top-rated?limit=100&min_reviews=50")
                .await
                .items();
            let entries: Vec<&Value> = top.iter().filter(|m| m["id"] == json!(movie_id)).collect();
            match entries.as_slice() {
                [entry]
                    if entry["review_count"] == json!(50)
                        && same_score(&entry["score"], &score_json(&second)) =>
                {
                    Ok(())
                }
                _ => Err(format!("{entries:?}")),
            }
        },
    )
    .await;
}

#[tokio::test]
async fn concurrent_reviews_by_one_user_keep_one_review() {
    let app = TestApp::spawn().await;
    let movie = app.create_movie("Spammed", 2000, &["drama"], &[]).await;
    let movie_id = movie["id"].as_str().unwrap().to_owned();
    let (user_id, token) = app.sign_up("Spammer").await;
    let statuses = join_all((1..=10).map(|score| {
        let app = &app;
        let movie_id = &movie_id;
        let token = &token;
        async move { app.review(movie_id, token, score, None).await.status }
    }))
    .await;
    let created = statuses.iter().filter(|s| **s == 201).count();
    let replaced = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(
        (created, replaced),
        (1, 9),
        "one 201 and nine 200: {statuses:?}"
    );
    let stored = app
        .get_ok(&format!("/movies/{movie_id}/reviews/{user_id}"))
        .await["score"]
        .as_i64()
        .unwrap();
    app.await_movie_score(&movie_id, &[stored]).await;
    eventually("the review list holds one review", async || {
        let list = app.all(&format!("/movies/{movie_id}/reviews")).await;
        match list.as_slice() {
            [r] if r["score"] == json!(stored) => Ok(()),
            _ => Err(format!("{list:?}")),
        }
    })
    .await;
}

#[tokio::test]
async fn concurrent_sign_ups_with_one_email_create_one_user() {
    let app = TestApp::spawn().await;
    let local = tag();
    let statuses = join_all((0..10).map(|i| {
        let app = &app;
        let email = if i % 2 == 0 {
            format!("{local}@example.com")
        } else {
            format!("{}@Example.COM", local.to_uppercase())
        };
        async move {
            app.post_user(&format!("Racer {i}"), &email, "password1")
                .await
                .status
        }
    }))
    .await;
    let created = statuses.iter().filter(|s| **s == 201).count();
    let conflicts = statuses.iter().filter(|s| **s == 409).count();
    assert_eq!(
        (created, conflicts),
        (1, 9),
        "exactly one sign-up wins: {statuses:?}"
    );
    app.login(&format!("{local}@example.com"), "password1")
        .await
        .expect(200);
}

#[tokio::test]
async fn concurrent_movie_creation_in_one_genre_counts_exactly() {
    let app = TestApp::spawn().await;
    let genre = format!("busy{}", tag());
    let created: Vec<Value> = futures::stream::iter(0..20)
        .map(|i| {
            let app = &app;
            let genre = &genre;
            async move {
                app.create_movie(&format!("Parallel {i}"), 1990 + i, &[genre], &[])
                    .await
            }
        })
        .buffer_unordered(20)
        .collect()
        .await;
    let mut want = ids(&created);
    want.sort();
    eventually("the genre lists and counts all 20 movies", async || {
        let mut listed = ids(&app.all(&format!("/genres/{genre}/movies")).await);
        listed.sort();
        let count = app.genre_count(&genre).await;
        if listed == want && count == Some(json!(20)) {
            Ok(())
        } else {
            Err(format!("{} listed, count {count:?}", listed.len()))
        }
    })
    .await;
}
