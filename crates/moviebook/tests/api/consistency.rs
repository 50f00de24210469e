//! Consistency: read-your-writes, and derived views converging after renames and deletions.

use serde_json::{Value, json};

use crate::actors::filmography_matches;
use crate::support::*;

#[tokio::test]
async fn read_your_writes_holds_for_every_written_resource() {
    let app = TestApp::spawn().await;
    let (user_id, token) = app.sign_up("Reader").await;
    for round in 0..8 {
        let actor = app.create_actor(&format!("Actor {round}")).await;
        let actor_id = actor["id"].as_str().unwrap();
        assert_eq!(
            app.get_ok(&format!("/actors/{actor_id}")).await["name"],
            json!(format!("Actor {round}"))
        );

        let movie = app
            .create_movie(
                &format!("Movie {round}"),
                2000,
                &["drama"],
                &[(actor_id, "lead")],
            )
            .await;
        let movie_id = movie["id"].as_str().unwrap();
        let fetched = app.get_ok(&format!("/movies/{movie_id}")).await;
        assert_eq!(fetched["title"], json!(format!("Movie {round}")));
        assert_eq!(
            fetched["actors"],
            json!([{ "id": actor_id, "name": format!("Actor {round}"), "role": "lead", "photo": null }])
        );

        let review_path = format!("/movies/{movie_id}/reviews/{user_id}");
        app.review(movie_id, &token, 3, Some("first"))
            .await
            .expect(201);
        assert_eq!(app.get_ok(&review_path).await["score"], json!(3));
        app.review(movie_id, &token, 8, Some("second"))
            .await
            .expect(200);
        let review = app.get_ok(&review_path).await;
        assert_eq!(
            (review["score"].clone(), review["comment"].clone()),
            (json!(8), json!("second"))
        );

        let name = format!("Reader {round}");
        app.patch_json(
            &format!("/users/{user_id}"),
            Some(&token),
            &json!({ "name": name }),
        )
        .await
        .expect(200);
        assert_eq!(
            app.get_ok(&format!("/users/{user_id}")).await["name"],
            json!(name)
        );

        app.delete(&review_path, Some(&token)).await.expect(204);
        app.get(&review_path).await.problem(404);

        app.delete(&format!("/movies/{movie_id}"), app.admin())
            .await
            .expect(204);
        app.get(&format!("/movies/{movie_id}")).await.problem(404);
    }
}

#[tokio::test]
async fn renaming_a_user_reaches_their_reviews_everywhere() {
    let app = TestApp::spawn().await;
    let m1 = app.create_movie("Rename One", 2000, &["drama"], &[]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let m2 = app.create_movie("Rename Two", 2001, &["drama"], &[]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (user_id, token) = app.sign_up("Old Name").await;
    let (other_id, other_token) = app.sign_up("Bystander").await;
    for movie in [&m1, &m2] {
        app.review(movie, &token, 7, Some("nice")).await.expect(201);
    }
    app.review(&m1, &other_token, 5, None).await.expect(201);

    let patched = app
        .patch_json(
            &format!("/users/{user_id}"),
            Some(&token),
            &json!({ "name": "New Name" }),
        )
        .await
        .expect(200);
    assert_eq!(patched["name"], json!("New Name"));

    for movie in [&m1, &m2] {
        eventually(&format!("the rename reaches movie {movie}"), async || {
            let single = app
                .get_ok(&format!("/movies/{movie}/reviews/{user_id}"))
                .await;
            let list = app.all(&format!("/movies/{movie}/reviews")).await;
            let page = app.get_ok(&format!("/movies/{movie}")).await;
            let page_reviews = page["reviews"].as_array().cloned().unwrap_or_default();
            let named =
                |r: &Value| r["user_id"] != json!(user_id) || r["user_name"] == json!("New Name");
            let ok = single["user_name"] == json!("New Name")
                && list.iter().any(|r| r["user_id"] == json!(user_id))
                && list.iter().all(named)
                && page_reviews.iter().any(|r| r["user_id"] == json!(user_id))
                && page_reviews.iter().all(named);
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "single {single}; list {list:?}; page {page_reviews:?}"
                ))
            }
        })
        .await;
    }
    // The bystander's name is untouched.
    assert_eq!(
        app.get_ok(&format!("/movies/{m1}/reviews/{other_id}"))
            .await["user_name"],
        json!("Bystander")
    );
    // A review written after the rename carries the new name at once.
    let m3 = app
        .create_movie("Rename Three", 2002, &["drama"], &[])
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.review(&m3, &token, 9, None).await.expect(201)["user_name"],
        json!("New Name")
    );
}

#[tokio::test]
async fn deleting_a_user_deletes_their_reviews_and_corrects_every_score() {
    let app = TestApp::spawn().await;
    let tag = tag();
    let actor = app.create_actor("Cast Member").await;
    let actor_id = actor["id"].as_str().unwrap().to_owned();
    let movie = app
        .create_movie(
            &format!("Leaver {tag}"),
            2000,
            &["drama"],
            &[(&actor_id, "lead")],
        )
        .await;
    let movie_id = movie["id"].as_str().unwrap().to_owned();
    let other = app
        .create_movie(&format!("Leaver Other {tag}"), 2001, &["drama"], &[])
        .await;
    let other_id = other["id"].as_str().unwrap().to_owned();
    let (_, stay) = app.sign_up("Stayer").await;
    let (leaver_id, leaver) = app.sign_up("Leaver").await;
    app.review(&movie_id, &stay, 10, None).await.expect(201);
    app.review(&movie_id, &leaver, 4, None).await.expect(201);
    app.review(&other_id, &leaver, 9, None).await.expect(201);
    app.await_movie_score(&movie_id, &[10, 4]).await;
    app.await_movie_score(&other_id, &[9]).await;

    app.delete(&format!("/users/{leaver_id}"), Some(&leaver))
        .await
        .expect(204);

    let moviedoc = app.await_movie_score(&movie_id, &[10]).await;
    app.await_movie_score(&other_id, &[]).await;
    assert_eq!(moviedoc["review_count"], json!(1));
    eventually(
        "the deleted user's reviews are gone everywhere",
        async || {
            let single = app
                .get(&format!("/movies/{movie_id}/reviews/{leaver_id}"))
                .await
                .status;
            let list = app.all(&format!("/movies/{movie_id}/reviews")).await;
            let page = app.get_ok(&format!("/movies/{movie_id}")).await;
            let in_list = list.iter().any(|r| r["user_id"] == json!(leaver_id));
            let on_page = page["reviews"]
                .as_array()
                .is_some_and(|l| l.iter().any(|r| r["user_id"] == json!(leaver_id)));
            if single == 404 && !in_list && !on_page && list.len() == 1 {
                Ok(())
            } else {
                Err(format!(
                    "single {single}, list {list:?}, page {}",
                    page["reviews"]
                ))
            }
        },
    )
    .await;
    eventually("top-rated and the filmography are corrected", async || {
        let top = app.get("/movies/top-rated?limit=100").await.items();
        let ours: Vec<&Value> = top.iter().filter(|m| m["id"] == json!(movie_id) || m["id"] == json!(other_id)).collect();
        let top_ok = ours.len() == 1
            && ours[0]["id"] == json!(movie_id)
            && same_score(&ours[0]["score"], &json!(10.0))
            && ours[0]["review_count"] == json!(1);
        let film = app.get_ok(&format!("/actors/{actor_id}")).await["movies"].clone();
        let want = json!([{ "id": movie_id, "title": format!("Leaver {tag}"), "release_year": 2000, "role": "lead", "score": 10.0, "review_count": 1, "poster": null }]);
        if top_ok && filmography_matches(&film, &want) { Ok(()) } else { Err(format!("top-rated {ours:?}; filmography {film}")) }
    })
    .await;
}

#[tokio::test]
async fn deleting_a_movie_removes_it_from_every_list() {
    let app = TestApp::spawn().await;
    let tag = tag();
    let genre = format!("doomed{tag}");
    let actor = app.create_actor("Survivor").await;
    let actor_id = actor["id"].as_str().unwrap().to_owned();
    let doomed = app
        .create_movie(
            &format!("Doomed Feature {tag}"),
            2010,
            &[&genre],
            &[(&actor_id, "hero")],
        )
        .await;
    let kept = app
        .create_movie(
            &format!("Kept Feature {tag}"),
            2005,
            &[&genre],
            &[(&actor_id, "sidekick")],
        )
        .await;
    let doomed_id = doomed["id"].as_str().unwrap().to_owned();
    let kept_id = kept["id"].as_str().unwrap().to_owned();
    let mut tokens = Vec::new();
    let mut reviewer_ids = Vec::new();
    for i in 0..3 {
        let (id, token) = app.sign_up(&format!("Viewer {i}")).await;
        app.review(&doomed_id, &token, 10, None).await.expect(201);
        reviewer_ids.push(id);
        tokens.push(token);
    }
    app.review(&kept_id, &tokens[0], 9, None).await.expect(201);
    let search = format!("/movies?search={}", enc(&format!("feature {tag}")));

    // Everything lists the movie before the delete.
    let observe = async || {
        let all = ids(&app.all("/movies").await);
        let found = ids(&app.all(&search).await);
        let in_genre = ids(&app.all(&format!("/genres/{genre}/movies")).await);
        let count = app.genre_count(&genre).await;
        let top = ids(&app
            .get("/movies/top-rated?limit=100&min_reviews=3")
            .await
            .items());
        let film = app.get_ok(&format!("/actors/{actor_id}")).await["movies"].clone();
        let film_ids = ids(array(&film));
        let user = app.get_ok(&format!("/users/{}", reviewer_ids[0])).await;
        let user_movies = texts(array(&user["reviews"]), "movie_id");
        (all, found, in_genre, count, top, film_ids, user_movies)
    };
    eventually("every list shows the movie before the delete", async || {
        let (all, found, in_genre, count, top, film, user) = observe().await;
        let d = &doomed_id;
        let ok = all.contains(d) && found.contains(d) && in_genre.contains(d) && count == Some(json!(2)) && top.contains(d) && film.contains(d) && user.contains(d);
        if ok { Ok(()) } else { Err(format!("all {} found {found:?} genre {in_genre:?} count {count:?} top {} film {film:?} user {user:?}", all.contains(d), top.contains(d))) }
    })
    .await;

    app.delete(&format!("/movies/{doomed_id}"), app.admin())
        .await
        .expect(204);
    app.get(&format!("/movies/{doomed_id}")).await.problem(404);

    eventually("the deleted movie has left every list", async || {
        let (all, found, in_genre, count, top, film, user) = observe().await;
        let d = &doomed_id;
        let ok = !all.contains(d)
            && found == vec![kept_id.clone()]
            && in_genre == vec![kept_id.clone()]
            && count == Some(json!(1))
            && !top.contains(d)
            && film == vec![kept_id.clone()]
            && user == vec![kept_id.clone()];
        if ok { Ok(()) } else { Err(format!("in all {} found {found:?} genre {in_genre:?} count {count:?} in top {} film {film:?} user {user:?}", all.contains(d), top.contains(d))) }
    })
    .await;
    eventually(
        "the deleted movie's reviews are gone and its reviewers' pages are empty",
        async || {
            let status = app
                .get(&format!("/movies/{doomed_id}/reviews/{}", reviewer_ids[1]))
                .await
                .status;
            let user = app.get_ok(&format!("/users/{}", reviewer_ids[1])).await;
            if status == 404 && user["reviews"] == json!([]) {
                Ok(())
            } else {
                Err(format!("review {status}, user {user}"))
            }
        },
    )
    .await;
    // The other movie keeps its own review and score.
    app.await_movie_score(&kept_id, &[9]).await;
}

#[tokio::test]
async fn a_genre_whose_last_movie_is_deleted_leaves_the_genre_list_or_counts_zero() {
    let app = TestApp::spawn().await;
    let genre = format!("lonely{}", tag());
    let movie = app.create_movie("Only One", 2000, &[&genre], &[]).await;
    let id = movie["id"].as_str().unwrap().to_owned();
    eventually("the genre is listed with 1 movie", async || {
        let genres = app.get("/genres").await.items();
        let entry = genres.iter().find(|g| g["name"] == json!(genre)).cloned();
        if entry.as_ref().is_some_and(|g| g["movie_count"] == json!(1)) {
            Ok(())
        } else {
            Err(format!("{entry:?}"))
        }
    })
    .await;
    app.delete(&format!("/movies/{id}"), app.admin())
        .await
        .expect(204);
    eventually(
        "the genre's movie count drops to 0 (or it leaves the list)",
        async || {
            let genres = app.get("/genres").await.items();
            let entry = genres.iter().find(|g| g["name"] == json!(genre)).cloned();
            let movies = app.get(&format!("/genres/{genre}/movies")).await.items();
            if entry.as_ref().is_none_or(|g| g["movie_count"] == json!(0)) && movies.is_empty() {
                Ok(())
            } else {
                Err(format!("{entry:?} {movies:?}"))
            }
        },
    )
    .await;
}
