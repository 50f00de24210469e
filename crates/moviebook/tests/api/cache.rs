//! Hot reads answered from memory never outlive the change that makes them stale beyond the
//! consistency bound: for every kind of event, the pages it changes are read twice first
//! (so the second answer, and the next ones, come from the cache), the change is made
//! through the API, and each page must show it within the bound. The written resource
//! itself shows a write at once.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

/// API.md's 2 seconds, with room for a loaded test machine.
const BOUND: Duration = Duration::from_secs(5);

/// Reads every path twice, so that its answer is cached.
async fn warm(app: &TestApp, paths: &[String]) {
    for path in paths {
        for _ in 0..2 {
            app.get(path).await.expect(200);
        }
    }
}

/// Waits, within [`BOUND`], until `check` holds for what `path` answers.
async fn shows(app: &TestApp, path: &str, what: &str, check: impl Fn(&Resp) -> bool) {
    eventually_within(BOUND, &format!("{path} {what}"), async || {
        let response = app.get(path).await;
        if check(&response) {
            Ok(())
        } else {
            Err(format!("{} {}", response.status, response.text))
        }
    })
    .await;
}

fn lists(response: &Resp, id: &str) -> bool {
    response.status == 200 && ids(&response.items()).iter().any(|item| item == id)
}

fn movies_of(actor: &Resp) -> Vec<String> {
    actor.body["movies"]
        .as_array()
        .map(|movies| ids(movies))
        .unwrap_or_default()
}

fn reviewers(response: &Resp) -> Vec<Value> {
    let reviews = if response.body["reviews"].is_array() {
        &response.body["reviews"]
    } else {
        &response.body["items"]
    };
    reviews
        .as_array()
        .map(|reviews| reviews.iter().map(|r| r["user_id"].clone()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_created_movie_reaches_every_cached_list_and_its_actors_page() {
    let app = TestApp::spawn().await;
    let word = tag();
    let genre = tag();
    let actor = app.create_actor(&format!("{word} Lead")).await;
    let actor_id = actor["id"].as_str().unwrap();
    let all = "/movies?limit=100".to_owned();
    let search = format!("/movies?search={word}");
    let genre_page = format!("/genres/{genre}/movies");
    let actor_page = format!("/actors/{actor_id}");
    warm(
        &app,
        &[
            all.clone(),
            search.clone(),
            genre_page.clone(),
            "/genres".into(),
            actor_page.clone(),
        ],
    )
    .await;

    let movie = app
        .create_movie(
            &format!("{word} Cached"),
            2001,
            &[&genre],
            &[(actor_id, "lead")],
        )
        .await;
    let movie_id = movie["id"].as_str().unwrap();
    for path in [&all, &search, &genre_page] {
        shows(&app, path, "lists the new movie", |r| lists(r, movie_id)).await;
    }
    shows(&app, "/genres", "counts the new genre", |r| {
        r.items()
            .iter()
            .any(|g| g["name"] == json!(genre) && g["movie_count"] == json!(1))
    })
    .await;
    shows(&app, &actor_page, "shows the new movie", |r| {
        movies_of(r) == [movie_id]
    })
    .await;
}

#[tokio::test]
async fn a_deleted_movie_leaves_every_cached_answer() {
    let app = TestApp::spawn().await;
    let word = tag();
    let genre = tag();
    let user = app.sign_up_user("Cache Deleter").await;
    let actor = app.create_actor(&format!("{word} Lead")).await;
    let actor_id = actor["id"].as_str().unwrap();
    let movie = app
        .create_movie(
            &format!("{word} Doomed"),
            2002,
            &[&genre],
            &[(actor_id, "lead")],
        )
        .await;
    let movie_id = movie["id"].as_str().unwrap();
    app.review(movie_id, &user.token, 10, None)
        .await
        .expect(201);
    let user_page = format!("/users/{}", user.id);
    let actor_page = format!("/actors/{actor_id}");
    let listing = [
        "/movies?limit=100".to_owned(),
        format!("/movies?search={word}"),
        format!("/genres/{genre}/movies"),
        "/movies/top-rated?limit=100".into(),
    ];
    for path in &listing {
        shows(&app, path, "lists the movie", |r| lists(r, movie_id)).await;
    }
    shows(&app, &user_page, "lists the review", |r| {
        r.body["reviews"][0]["movie_id"] == json!(movie_id)
    })
    .await;
    shows(&app, &actor_page, "shows the movie", |r| {
        movies_of(r) == [movie_id]
    })
    .await;
    let movie_page = format!("/movies/{movie_id}");
    let reviews_page = format!("/movies/{movie_id}/reviews");
    let mut warmed = listing.to_vec();
    warmed.extend([
        user_page.clone(),
        actor_page.clone(),
        movie_page.clone(),
        reviews_page,
    ]);
    warmed.push("/genres".into());
    warm(&app, &warmed).await;

    app.delete(&movie_page, app.admin()).await.expect(204);
    app.get(&movie_page).await.problem(404);
    for path in &listing {
        shows(&app, path, "no longer lists the movie", |r| {
            r.status == 200 && !lists(r, movie_id)
        })
        .await;
    }
    shows(&app, "/genres", "no longer counts the genre", |r| {
        !r.items().iter().any(|g| g["name"] == json!(genre))
    })
    .await;
    shows(&app, &actor_page, "no longer shows the movie", |r| {
        r.status == 200 && movies_of(r).is_empty()
    })
    .await;
    shows(&app, &user_page, "no longer lists the review", |r| {
        r.status == 200 && r.body["reviews"] == json!([])
    })
    .await;
}

#[tokio::test]
async fn a_review_written_replaced_and_deleted_reaches_every_cached_answer() {
    let app = TestApp::spawn().await;
    let word = tag();
    let user = app.sign_up_user("Cache Reviewer").await;
    let actor = app.create_actor(&format!("{word} Lead")).await;
    let actor_id = actor["id"].as_str().unwrap();
    let movie = app
        .create_movie(
            &format!("{word} Reviewed"),
            2003,
            &["drama"],
            &[(actor_id, "lead")],
        )
        .await;
    let movie_id = movie["id"].as_str().unwrap();
    let movie_page = format!("/movies/{movie_id}");
    let reviews_page = format!("/movies/{movie_id}/reviews");
    let user_page = format!("/users/{}", user.id);
    let actor_page = format!("/actors/{actor_id}");
    let top = "/movies/top-rated?limit=100".to_owned();
    shows(&app, &actor_page, "shows the movie", |r| {
        movies_of(r) == [movie_id]
    })
    .await;
    let pages = [
        movie_page.clone(),
        reviews_page.clone(),
        user_page.clone(),
        actor_page.clone(),
        top.clone(),
    ];

    for (score, status) in [(10, 201), (9, 200)] {
        warm(&app, &pages).await;
        app.review(movie_id, &user.token, score, Some("cached"))
            .await
            .expect(status);
        // Read-your-writes: the movie page shows the review at once.
        let page = app.get_ok(&movie_page).await;
        assert_eq!(page["reviews"][0]["score"], json!(score), "{page}");
        let scored = |movie: &Value| {
            movie["review_count"] == json!(1) && same_score(&movie["score"], &json!(score))
        };
        shows(&app, &movie_page, "shows the new score", |r| {
            scored(&r.body)
        })
        .await;
        shows(&app, &reviews_page, "shows the review", |r| {
            r.items()
                .first()
                .is_some_and(|review| review["score"] == json!(score))
        })
        .await;
        shows(&app, &top, "ranks the movie with the new score", |r| {
            r.items()
                .iter()
                .any(|m| m["id"] == json!(movie_id) && scored(m))
        })
        .await;
        shows(&app, &user_page, "lists the review with its score", |r| {
            r.body["reviews"][0]["score"] == json!(score)
        })
        .await;
        shows(&app, &actor_page, "shows the movie's new score", |r| {
            same_score(&r.body["movies"][0]["score"], &json!(score))
        })
        .await;
    }

    warm(&app, &pages).await;
    app.delete(&format!("{reviews_page}/{}", user.id), Some(&user.token))
        .await
        .expect(204);
    shows(&app, &movie_page, "has no review", |r| {
        r.body["review_count"] == json!(0) && r.body["reviews"] == json!([])
    })
    .await;
    shows(&app, &reviews_page, "is empty", |r| {
        r.status == 200 && r.items().is_empty()
    })
    .await;
    shows(&app, &top, "no longer ranks the movie", |r| {
        r.status == 200 && !lists(r, movie_id)
    })
    .await;
    shows(&app, &user_page, "lists no review", |r| {
        r.body["reviews"] == json!([])
    })
    .await;
    shows(&app, &actor_page, "shows no score", |r| {
        r.body["movies"][0]["review_count"] == json!(0)
    })
    .await;
}

#[tokio::test]
async fn a_renamed_reviewer_shows_on_cached_movie_pages() {
    let app = TestApp::spawn().await;
    let user = app.sign_up_user("Before Rename").await;
    let movie = app
        .create_movie("Cache Rename", 2004, &["drama"], &[])
        .await;
    let movie_id = movie["id"].as_str().unwrap();
    app.review(movie_id, &user.token, 6, None).await.expect(201);
    let movie_page = format!("/movies/{movie_id}");
    let reviews_page = format!("/movies/{movie_id}/reviews");
    warm(&app, &[movie_page.clone(), reviews_page.clone()]).await;

    let name = format!("After {}", tag());
    app.patch_json(
        &format!("/users/{}", user.id),
        Some(&user.token),
        &json!({ "name": name }),
    )
    .await
    .expect(200);
    shows(&app, &movie_page, "shows the new name", |r| {
        r.body["reviews"][0]["user_name"] == json!(name)
    })
    .await;
    shows(&app, &reviews_page, "shows the new name", |r| {
        r.items()
            .first()
            .is_some_and(|review| review["user_name"] == json!(name))
    })
    .await;
}

#[tokio::test]
async fn a_deleted_users_reviews_leave_cached_pages() {
    let app = TestApp::spawn().await;
    let user = app.sign_up_user("Leaving").await;
    let movie = app
        .create_movie("Cache Leaving", 2005, &["drama"], &[])
        .await;
    let movie_id = movie["id"].as_str().unwrap();
    app.review(movie_id, &user.token, 7, None).await.expect(201);
    let movie_page = format!("/movies/{movie_id}");
    let reviews_page = format!("/movies/{movie_id}/reviews");
    let user_page = format!("/users/{}", user.id);
    shows(&app, &movie_page, "counts the review", |r| {
        r.body["review_count"] == json!(1)
    })
    .await;
    warm(
        &app,
        &[movie_page.clone(), reviews_page.clone(), user_page.clone()],
    )
    .await;

    app.delete(&user_page, Some(&user.token)).await.expect(204);
    app.get(&user_page).await.problem(404);
    for path in [&movie_page, &reviews_page] {
        shows(&app, path, "no longer shows the user's review", |r| {
            r.status == 200 && !reviewers(r).contains(&json!(user.id))
        })
        .await;
    }
    shows(&app, &movie_page, "no longer counts the review", |r| {
        r.body["review_count"] == json!(0)
    })
    .await;
}

#[tokio::test]
async fn a_created_actor_reaches_the_cached_actor_lists() {
    let app = TestApp::spawn().await;
    let word = tag();
    let search = format!("/actors?search={word}");
    let mut lists_to_check = vec![search];
    if app.owns_server() {
        // On a shared server the list's first page may be other tests' actors.
        lists_to_check.push("/actors?limit=100".to_owned());
    }
    warm(&app, &lists_to_check).await;

    let actor = app.create_actor(&format!("{word} Newcomer")).await;
    let actor_id = actor["id"].as_str().unwrap();
    app.get_ok(&format!("/actors/{actor_id}")).await;
    for path in &lists_to_check {
        shows(&app, path, "lists the new actor", |r| lists(r, actor_id)).await;
    }
}
