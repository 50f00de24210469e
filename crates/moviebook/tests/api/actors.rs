//! Actors: creation, validation, reads, search on names, filmographies, deletion.

use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn creating_an_actor_returns_201_with_every_field_and_get_shows_it_at_once() {
    let app = TestApp::spawn().await;
    let body = json!({
        "name": "  Keanu Reeves  ",
        "date_of_birth": "1964-09-02",
        "bio": "Canadian actor.",
        "thumbnail_url": "https://img.example.com/keanu.jpg",
        "pictures": ["https://img.example.com/k1.jpg", "http://img.example.com/k2.jpg"],
    });
    let resp = app.post_json("/actors", app.admin(), &body).await;
    let actor = resp.expect(201);
    assert_uuid_v7(&actor["id"]);
    let id = actor["id"].as_str().unwrap();
    let expected = json!({
        "id": id,
        "name": "Keanu Reeves",
        "date_of_birth": "1964-09-02",
        "bio": "Canadian actor.",
        "thumbnail_url": "https://img.example.com/keanu.jpg",
        "pictures": ["https://img.example.com/k1.jpg", "http://img.example.com/k2.jpg"],
        "photo": null,
        "movies": [],
    });
    assert_eq!(actor, expected, "POST /actors answer");
    let fetched = app.get(&format!("/actors/{id}")).await.expect(200);
    assert_eq!(
        fetched, expected,
        "GET /actors/{{id}} right after the create"
    );
}

#[tokio::test]
async fn actor_with_only_a_name_has_null_optionals_and_empty_lists() {
    let app = TestApp::spawn().await;
    let actor = app.create_actor("Carrie-Anne Moss").await;
    let id = actor["id"].as_str().unwrap();
    let expected = json!({
        "id": id,
        "name": "Carrie-Anne Moss",
        "date_of_birth": null,
        "bio": null,
        "thumbnail_url": null,
        "pictures": [],
        "photo": null,
        "movies": [],
    });
    assert_eq!(actor, expected);
    assert_eq!(app.get_ok(&format!("/actors/{id}")).await, expected);
}

#[tokio::test]
async fn actor_validation_lists_every_failing_field() {
    let app = TestApp::spawn().await;
    let resp = app
        .post_json(
            "/actors",
            app.admin(),
            &json!({
                "name": "   ",
                "date_of_birth": "2999-01-01",
                "thumbnail_url": "ftp://img.example.com/a.jpg",
                "pictures": ["javascript:alert(1)"],
            }),
        )
        .await;
    let fields = resp.invalid_fields();
    for field in ["name", "date_of_birth", "thumbnail_url"] {
        assert!(
            fields.iter().any(|f| f == field),
            "{field} not listed in {fields:?}"
        );
    }
    assert!(
        fields.iter().any(|f| f.starts_with("pictures")),
        "pictures not listed in {fields:?}"
    );
}

#[tokio::test]
async fn actor_name_is_1_to_200_characters_without_control_characters() {
    let app = TestApp::spawn().await;
    let long_ok = "a".repeat(200);
    let created = app.create_actor(&long_ok).await;
    assert_eq!(created["name"], json!(long_ok));
    for bad in [
        json!(""),
        json!("b".repeat(201)),
        json!("Bad\u{7}Name"),
        json!("Two\nLines"),
        json!(42),
    ] {
        app.post_json("/actors", app.admin(), &json!({ "name": bad }))
            .await
            .invalid_field("name");
    }
    app.post_json("/actors", app.admin(), &json!({ "bio": "no name" }))
        .await
        .invalid_field("name");
}

#[tokio::test]
async fn actor_date_of_birth_must_be_a_real_past_date() {
    let app = TestApp::spawn().await;
    for bad in [
        "1990-02-30",
        "1990-13-01",
        "02/09/1964",
        "1964-9-2",
        "2999-12-31",
        "",
    ] {
        let resp = app
            .post_json(
                "/actors",
                app.admin(),
                &json!({ "name": "Someone", "date_of_birth": bad }),
            )
            .await;
        resp.invalid_field("date_of_birth");
    }
    let ok = app
        .create_actor_with(&json!({ "name": "Leap", "date_of_birth": "2000-02-29" }))
        .await;
    assert_eq!(ok["date_of_birth"], json!("2000-02-29"));
}

#[tokio::test]
async fn actor_urls_must_be_http_or_https() {
    let app = TestApp::spawn().await;
    app.post_json(
        "/actors",
        app.admin(),
        &json!({ "name": "X", "thumbnail_url": "not a url" }),
    )
    .await
    .invalid_field("thumbnail_url");
    let resp = app
        .post_json("/actors", app.admin(), &json!({ "name": "X", "pictures": ["https://ok.example.com/a.png", "file:///etc/passwd"] }))
        .await;
    let fields = resp.invalid_fields();
    assert!(
        fields.iter().all(|f| f.starts_with("pictures")),
        "only pictures fails: {fields:?}"
    );
}

#[tokio::test]
async fn unknown_or_non_uuid_actor_id_is_404() {
    let app = TestApp::spawn().await;
    app.get(&format!("/actors/{}", uuid::Uuid::now_v7()))
        .await
        .problem(404);
    app.get("/actors/not-a-uuid").await.problem(404);
}

#[tokio::test]
async fn actor_list_items_are_summaries_with_id_name_thumbnail() {
    let app = TestApp::spawn().await;
    let tag = tag();
    let actor = app
        .create_actor_with(&json!({ "name": format!("Summary Person {tag}"), "bio": "long bio", "thumbnail_url": "https://img.example.com/s.png" }))
        .await;
    let id = actor["id"].as_str().unwrap().to_owned();
    let items = eventually("the actor shows up in the actor search", async || {
        let items = app.get(&format!("/actors?search={tag}")).await.items();
        if items.len() == 1 {
            Ok(items)
        } else {
            Err(format!("{items:?}"))
        }
    })
    .await;
    let item = &items[0];
    assert_eq!(item["id"], json!(id));
    assert_eq!(item["name"], json!(format!("Summary Person {tag}")));
    assert_eq!(
        item["thumbnail_url"],
        json!("https://img.example.com/s.png")
    );
    if app.owns_server() {
        let want = vec![id.clone()];
        eventually_equals("GET /actors lists every actor", &want, async || {
            ids(&app.all("/actors").await)
        })
        .await;
    }
}

#[tokio::test]
async fn actor_search_matches_name_word_prefixes_case_and_accent_insensitively() {
    let app = TestApp::spawn().await;
    let tag = tag();
    let zoe = app.create_actor(&format!("Zoë Saldaña {tag}")).await;
    let picard = app.create_actor(&format!("Jean-Luc Picard {tag}")).await;
    let anna = app.create_actor(&format!("Anna ZOE-Brown {tag}")).await;
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("zoe", vec![id(&zoe), id(&anna)]),
        ("SALD", vec![id(&zoe)]),
        ("saldana zoe", vec![id(&zoe)]),
        ("ZOË", vec![id(&zoe), id(&anna)]),
        ("luc", vec![id(&picard)]),
        ("jean-luc", vec![id(&picard)]),
        ("brown", vec![id(&anna)]),
        ("", vec![id(&zoe), id(&picard), id(&anna)]),
        ("aldana", vec![]),
        ("picardy", vec![]),
    ];
    for (query, expected) in cases {
        let mut expected = expected;
        expected.sort();
        let query = format!("{query} {tag}");
        eventually_equals(
            &format!("actor search {query:?} finds exactly {expected:?}"),
            &expected,
            async || {
                let mut found = ids(&app.all(&format!("/actors?search={}", enc(&query))).await);
                found.sort();
                found
            },
        )
        .await;
    }
}

#[tokio::test]
async fn filmography_lists_movies_newest_release_first_with_role_score_and_count() {
    let app = TestApp::spawn().await;
    let actor = app.create_actor("Keanu Reeves").await;
    let actor_id = actor["id"].as_str().unwrap().to_owned();
    let other = app.create_actor("Laurence Fishburne").await;
    let other_id = other["id"].as_str().unwrap().to_owned();
    // Created in an order that is neither release order nor its reverse.
    let m1999 = app
        .create_movie(
            "The Matrix",
            1999,
            &["sci-fi"],
            &[(&actor_id, "Neo"), (&other_id, "Morpheus")],
        )
        .await;
    let m1995 = app
        .create_movie(
            "Johnny Mnemonic",
            1995,
            &["sci-fi"],
            &[(&actor_id, "Johnny")],
        )
        .await;
    let m2003 = app
        .create_movie(
            "The Matrix Reloaded",
            2003,
            &["sci-fi"],
            &[(&actor_id, "Neo")],
        )
        .await;
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
    assert_eq!(
        m1999["actors"],
        json!([{ "id": actor_id, "name": "Keanu Reeves", "role": "Neo", "photo": null }, { "id": other_id, "name": "Laurence Fishburne", "role": "Morpheus", "photo": null }]),
        "the movie's cast"
    );

    let expected = |scores: [(Value, i64); 3]| {
        json!([
            { "id": id(&m2003), "title": "The Matrix Reloaded", "release_year": 2003, "role": "Neo", "score": scores[0].0, "review_count": scores[0].1, "poster": null },
            { "id": id(&m1999), "title": "The Matrix", "release_year": 1999, "role": "Neo", "score": scores[1].0, "review_count": scores[1].1, "poster": null },
            { "id": id(&m1995), "title": "Johnny Mnemonic", "release_year": 1995, "role": "Johnny", "score": scores[2].0, "review_count": scores[2].1, "poster": null },
        ])
    };
    let wait_filmography = async |want: Value| {
        eventually(
            &format!("filmography of {actor_id} is {want}"),
            async || {
                let movies = app.get_ok(&format!("/actors/{actor_id}")).await["movies"].clone();
                if filmography_matches(&movies, &want) {
                    Ok(())
                } else {
                    Err(movies.to_string())
                }
            },
        )
        .await
    };
    wait_filmography(expected([
        (Value::Null, 0),
        (Value::Null, 0),
        (Value::Null, 0),
    ]))
    .await;

    let (_, t1) = app.sign_up("Ann").await;
    let (_, t2) = app.sign_up("Bob").await;
    app.review(&id(&m1999), &t1, 8, None).await.expect(201);
    app.review(&id(&m1999), &t2, 9, None).await.expect(201);
    app.review(&id(&m2003), &t1, 5, Some("meh"))
        .await
        .expect(201);
    wait_filmography(expected([
        (json!(5.0), 1),
        (json!(8.5), 2),
        (Value::Null, 0),
    ]))
    .await;

    // A replaced review moves the filmography score by its delta.
    app.review(&id(&m1999), &t2, 3, None).await.expect(200);
    wait_filmography(expected([
        (json!(5.0), 1),
        (json!(5.5), 2),
        (Value::Null, 0),
    ]))
    .await;

    // A deleted movie leaves the filmography.
    app.delete(&format!("/movies/{}", id(&m2003)), app.admin())
        .await
        .expect(204);
    let want = json!([
        { "id": id(&m1999), "title": "The Matrix", "release_year": 1999, "role": "Neo", "score": 5.5, "review_count": 2, "poster": null },
        { "id": id(&m1995), "title": "Johnny Mnemonic", "release_year": 1995, "role": "Johnny", "score": null, "review_count": 0, "poster": null },
    ]);
    wait_filmography(want).await;

    // The other actor's filmography has only their movie.
    let want = json!([{ "id": id(&m1999), "title": "The Matrix", "release_year": 1999, "role": "Morpheus", "score": 5.5, "review_count": 2, "poster": null }]);
    eventually("Morpheus' filmography has only The Matrix", async || {
        let movies = app.get_ok(&format!("/actors/{other_id}")).await["movies"].clone();
        if filmography_matches(&movies, &want) {
            Ok(())
        } else {
            Err(movies.to_string())
        }
    })
    .await;
}

#[tokio::test]
async fn deleting_an_actor_is_204_for_the_admin_only_and_get_is_404_at_once() {
    let app = TestApp::spawn().await;
    let actor = app.create_actor(&format!("Doomed Actor {}", tag())).await;
    let id = actor["id"].as_str().unwrap();
    let path = format!("/actors/{id}");
    // Read (and so kept by the read cache) right before the deletion.
    app.get(&path).await.expect(200);
    app.delete(&path, None).await.problem(401);
    app.delete(&path, Some("not-a-token")).await.problem(401);
    let (_, user) = app.sign_up("Not An Admin").await;
    app.delete(&path, Some(&user)).await.problem(403);
    app.get(&path).await.expect(200);

    let resp = app.delete(&path, app.admin()).await;
    resp.expect(204);
    assert!(resp.text.is_empty(), "204 with a body: {:?}", resp.text);
    app.get(&path).await.problem(404);
    app.delete(&path, app.admin()).await.problem(404);
    app.delete(&format!("/actors/{}", uuid::Uuid::now_v7()), app.admin())
        .await
        .problem(404);
    app.delete("/actors/not-a-uuid", app.admin())
        .await
        .problem(404);
    // The photo of an actor that is gone cannot be set or deleted.
    app.delete(&format!("{path}/photo"), app.admin())
        .await
        .problem(404);
}

#[tokio::test]
async fn a_deleted_actor_leaves_the_lists_the_search_and_every_cast() {
    let app = TestApp::spawn().await;
    let tag = tag();
    let gone = app.create_actor(&format!("Gone Actor {tag}")).await;
    let gone_id = gone["id"].as_str().unwrap().to_owned();
    let kept = app.create_actor(&format!("Kept Actor {tag}")).await;
    let kept_id = kept["id"].as_str().unwrap().to_owned();
    let both = app
        .create_movie(
            &format!("Both {tag}"),
            2001,
            &["drama"],
            &[(&gone_id, "lead"), (&kept_id, "support")],
        )
        .await;
    let alone = app
        .create_movie(
            &format!("Alone {tag}"),
            2002,
            &["drama"],
            &[(&gone_id, "lead")],
        )
        .await;
    let (both_id, alone_id) = (
        both["id"].as_str().unwrap().to_owned(),
        alone["id"].as_str().unwrap().to_owned(),
    );
    let search = format!("/actors?search={}", enc(&tag));
    let mut both_listed = vec![gone_id.clone(), kept_id.clone()];
    both_listed.sort();
    eventually_equals("both actors are found", &both_listed, async || {
        let mut found = ids(&app.all(&search).await);
        found.sort();
        found
    })
    .await;
    eventually_equals(
        "the actor's filmography lists both movies",
        &2,
        async || array(&app.get_ok(&format!("/actors/{gone_id}")).await["movies"]).len(),
    )
    .await;
    // Read (and so kept by the read cache) right before the deletion.
    app.get_ok(&format!("/movies/{both_id}")).await;

    app.delete(&format!("/actors/{gone_id}"), app.admin())
        .await
        .expect(204);
    app.get(&format!("/actors/{gone_id}")).await.problem(404);

    eventually_equals(
        "the search finds only the kept actor",
        &vec![kept_id.clone()],
        async || ids(&app.all(&search).await),
    )
    .await;
    if app.owns_server() {
        eventually_equals(
            "GET /actors lists only the kept actor",
            &vec![kept_id.clone()],
            async || ids(&app.all("/actors").await),
        )
        .await;
    }
    let kept_cast = json!([{ "id": kept_id, "name": format!("Kept Actor {tag}"), "role": "support", "photo": null }]);
    eventually_equals(
        "the movie's cast no longer lists the deleted actor",
        &kept_cast,
        async || app.get_ok(&format!("/movies/{both_id}")).await["actors"].clone(),
    )
    .await;
    eventually_equals(
        "the movie it played in alone has no cast",
        &json!([]),
        async || app.get_ok(&format!("/movies/{alone_id}")).await["actors"].clone(),
    )
    .await;
    // The kept actor's filmography is as it was.
    let movies = app.get_ok(&format!("/actors/{kept_id}")).await["movies"].clone();
    assert_eq!(ids(array(&movies)), vec![both_id.clone()]);

    // A movie naming the deleted actor is refused like one naming an actor that never was.
    let resp = app
        .post_json(
            "/movies",
            app.admin(),
            &json!({
                "title": format!("Too Late {tag}"), "release_year": 2003, "genres": ["drama"],
                "actors": [{"actor_id": kept_id, "role": "lead"}, {"actor_id": gone_id, "role": "cameo"}],
            }),
        )
        .await;
    assert_eq!(resp.invalid_fields(), ["actors[1].actor_id"]);

    // Deleting a movie of the deleted actor afterwards still works.
    app.delete(&format!("/movies/{alone_id}"), app.admin())
        .await
        .expect(204);
}

/// Filmography entries equal, comparing scores as numbers.
pub fn filmography_matches(actual: &Value, expected: &Value) -> bool {
    let (Some(actual), Some(expected)) = (actual.as_array(), expected.as_array()) else {
        return false;
    };
    actual.len() == expected.len()
        && actual.iter().zip(expected).all(|(a, e)| {
            ["id", "title", "release_year", "role", "review_count"]
                .iter()
                .all(|k| a[*k] == e[*k])
                && same_score(&a["score"], &e["score"])
        })
}
