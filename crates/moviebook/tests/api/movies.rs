//! Movies: creation, field rules, reads, deletion, the all-movies list.

use serde_json::{Value, json};

use crate::support::*;

/// The summary a list shows for a movie.
pub fn summary_of(movie: &Value) -> Value {
    json!({
        "id": movie["id"],
        "title": movie["title"],
        "release_year": movie["release_year"],
        "genres": movie["genres"],
        "score": movie["score"],
        "review_count": movie["review_count"],
        "thumbnail_url": movie["thumbnail_url"],
    })
}

/// Asserts that a list item is the summary of `movie` (every summary field, scores as numbers).
#[track_caller]
pub fn assert_summary(item: &Value, movie: &Value) {
    let expected = summary_of(movie);
    for key in [
        "id",
        "title",
        "release_year",
        "genres",
        "review_count",
        "thumbnail_url",
    ] {
        assert!(item.get(key).is_some(), "summary without `{key}`: {item}");
        assert_eq!(
            item[key], expected[key],
            "summary `{key}` of {item} (expected {expected})"
        );
    }
    assert!(
        item.get("score").is_some(),
        "summary without `score`: {item}"
    );
    assert!(
        same_score(&item["score"], &expected["score"]),
        "summary score of {item} (expected {expected})"
    );
}

fn sorted_strings(value: &Value) -> Vec<String> {
    let mut list: Vec<String> = value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_else(|| panic!("not a string: {v}"))
                .to_owned()
        })
        .collect();
    list.sort();
    list
}

#[tokio::test]
async fn creating_a_movie_returns_201_with_the_full_movie_and_no_score_yet() {
    let app = TestApp::spawn().await;
    let keanu = app.create_actor("Keanu Reeves").await;
    let carrie = app.create_actor("Carrie-Anne Moss").await;
    let body = json!({
        "title": "The Matrix",
        "release_year": 1999,
        "genres": ["sci-fi", "action"],
        "actors": [
            { "actor_id": keanu["id"], "role": "Neo" },
            { "actor_id": carrie["id"], "role": "Trinity" },
        ],
        "overview": "A hacker learns the truth.",
        "thumbnail_url": "https://img.example.com/matrix.jpg",
        "pictures": ["https://img.example.com/m1.jpg"],
    });
    let movie = app
        .post_json("/movies", app.admin(), &body)
        .await
        .expect(201);
    assert_uuid_v7(&movie["id"]);
    assert_timestamp(&movie["created_at"]);
    assert_eq!(movie["title"], json!("The Matrix"));
    assert_eq!(movie["release_year"], json!(1999));
    assert_eq!(sorted_strings(&movie["genres"]), ["action", "sci-fi"]);
    assert_eq!(movie["overview"], json!("A hacker learns the truth."));
    assert_eq!(
        movie["thumbnail_url"],
        json!("https://img.example.com/matrix.jpg")
    );
    assert_eq!(movie["pictures"], json!(["https://img.example.com/m1.jpg"]));
    assert_eq!(
        movie["actors"],
        json!([
            { "id": keanu["id"], "name": "Keanu Reeves", "role": "Neo", "photo": null },
            { "id": carrie["id"], "name": "Carrie-Anne Moss", "role": "Trinity", "photo": null },
        ])
    );
    assert_eq!(movie["score"], Value::Null);
    assert_eq!(movie["review_count"], json!(0));
    assert_eq!(movie["reviews"], json!([]));

    let id = movie["id"].as_str().unwrap();
    let fetched = app.get(&format!("/movies/{id}")).await.expect(200);
    assert_eq!(
        fetched, movie,
        "GET /movies/{{id}} right after the create shows the same movie"
    );
}

#[tokio::test]
async fn movie_without_optional_fields_has_nulls_and_empty_lists() {
    let app = TestApp::spawn().await;
    let movie = app
        .create_movie_with(&json!({ "title": "Plain", "release_year": 2001, "genres": ["drama"] }))
        .await;
    assert_eq!(movie["overview"], Value::Null);
    assert_eq!(movie["thumbnail_url"], Value::Null);
    assert_eq!(movie["pictures"], json!([]));
    assert_eq!(movie["actors"], json!([]));
    assert_eq!(movie["reviews"], json!([]));
    assert_eq!(movie["score"], Value::Null);
    assert_eq!(movie["review_count"], json!(0));
    assert_eq!(movie["genres"], json!(["drama"]));
}

#[tokio::test]
async fn title_is_trimmed_and_genres_are_lowercased_trimmed_and_merged() {
    let app = TestApp::spawn().await;
    let movie = app
        .create_movie_with(&json!({
            "title": "  The Matrix  ",
            "release_year": 1999,
            "genres": ["  Sci-Fi ", "ACTION", "sci-fi", "Action "],
        }))
        .await;
    assert_eq!(movie["title"], json!("The Matrix"));
    assert_eq!(sorted_strings(&movie["genres"]), ["action", "sci-fi"]);
    let fetched = app
        .get_ok(&format!("/movies/{}", movie["id"].as_str().unwrap()))
        .await;
    assert_eq!(fetched["title"], json!("The Matrix"));
    assert_eq!(sorted_strings(&fetched["genres"]), ["action", "sci-fi"]);
}

#[tokio::test]
async fn movie_validation_lists_every_failing_field() {
    let app = TestApp::spawn().await;
    let resp = app
        .post_json(
            "/movies",
            app.admin(),
            &json!({ "title": "", "release_year": 1800, "genres": [] }),
        )
        .await;
    let mut fields = resp.invalid_fields();
    fields.sort();
    assert_eq!(
        fields,
        ["genres", "release_year", "title"],
        "exactly the three failing fields: {}",
        resp.text
    );

    let resp = app.post_json("/movies", app.admin(), &json!({})).await;
    let fields = resp.invalid_fields();
    for field in ["title", "release_year", "genres"] {
        assert!(
            fields.iter().any(|f| f == field),
            "missing {field} not listed: {fields:?}"
        );
    }
}

#[tokio::test]
async fn release_year_runs_from_1870_to_ten_years_ahead() {
    let app = TestApp::spawn().await;
    let first = app
        .create_movie("Roundhay Garden Scene", 1870, &["short"], &[])
        .await;
    let year: i64 = first["created_at"].as_str().unwrap()[..4]
        .parse()
        .expect("year of created_at");
    app.create_movie("Far Future", year + 10, &["sci-fi"], &[])
        .await;
    for bad in [
        json!(1869),
        json!(year + 11),
        json!(-1),
        json!("1999"),
        json!(1999.5),
    ] {
        app.post_json(
            "/movies",
            app.admin(),
            &json!({ "title": "Bad Year", "release_year": bad, "genres": ["drama"] }),
        )
        .await
        .invalid_field("release_year");
    }
}

#[tokio::test]
async fn title_is_1_to_300_characters_without_control_characters() {
    let app = TestApp::spawn().await;
    let long = "T".repeat(300);
    assert_eq!(
        app.create_movie(&long, 2000, &["drama"], &[]).await["title"],
        json!(long)
    );
    for bad in [
        json!(""),
        json!("   "),
        json!("T".repeat(301)),
        json!("Bad\u{7}Title"),
        json!("Two\nLines"),
        json!(12),
    ] {
        app.post_json(
            "/movies",
            app.admin(),
            &json!({ "title": bad, "release_year": 2000, "genres": ["drama"] }),
        )
        .await
        .invalid_field("title");
    }
}

#[tokio::test]
async fn genres_are_1_to_10_names_of_1_to_40_characters() {
    let app = TestApp::spawn().await;
    let ten: Vec<String> = (0..10).map(|i| format!("genre{i}")).collect();
    let movie = app
        .create_movie_with(&json!({ "title": "Ten Genres", "release_year": 2000, "genres": ten }))
        .await;
    assert_eq!(movie["genres"].as_array().unwrap().len(), 10);
    let forty = "g".repeat(40);
    app.create_movie("Long Genre", 2000, &[&forty], &[]).await;

    let eleven: Vec<String> = (0..11).map(|i| format!("genre{i}")).collect();
    let bad_lists = [
        json!(eleven),
        json!(["g".repeat(41)]),
        json!([""]),
        json!(["  "]),
        json!([7]),
        json!("drama"),
        json!([]),
    ];
    for genres in bad_lists {
        let resp = app
            .post_json(
                "/movies",
                app.admin(),
                &json!({ "title": "Bad Genres", "release_year": 2000, "genres": genres }),
            )
            .await;
        let fields = resp.invalid_fields();
        assert!(
            !fields.is_empty() && fields.iter().all(|f| f.starts_with("genres")),
            "genres {genres}: expected only genres fields, got {fields:?}"
        );
    }
    app.post_json(
        "/movies",
        app.admin(),
        &json!({ "title": "No Genres", "release_year": 2000 }),
    )
    .await
    .invalid_field("genres");
}

#[tokio::test]
async fn cast_entries_are_checked_and_named_by_index() {
    let app = TestApp::spawn().await;
    let actor = app.create_actor("Real Actor").await;
    let real = actor["id"].as_str().unwrap();
    let unknown = uuid::Uuid::now_v7().to_string();
    let post = async |actors: Value| {
        app.post_json("/movies", app.admin(), &json!({ "title": "Cast", "release_year": 2000, "genres": ["drama"], "actors": actors }))
            .await
    };

    let fields = post(json!([{ "actor_id": "not-a-uuid", "role": "Neo" }]))
        .await
        .invalid_fields();
    assert_eq!(fields, ["actors[0].actor_id"]);

    let fields = post(
        json!([{ "actor_id": real, "role": "Neo" }, { "actor_id": unknown, "role": "Trinity" }]),
    )
    .await
    .invalid_fields();
    assert_eq!(
        fields,
        ["actors[1].actor_id"],
        "an unknown actor id is named by its index"
    );

    let fields = post(json!([{ "actor_id": real, "role": "" }]))
        .await
        .invalid_fields();
    assert_eq!(fields, ["actors[0].role"]);
    let fields = post(json!([{ "actor_id": real, "role": "r".repeat(101) }]))
        .await
        .invalid_fields();
    assert_eq!(fields, ["actors[0].role"]);

    let mut fields =
        post(json!([{ "actor_id": real, "role": "Neo" }, { "actor_id": 5, "role": "" }]))
            .await
            .invalid_fields();
    fields.sort();
    assert_eq!(fields, ["actors[1].actor_id", "actors[1].role"]);

    let resp = post(json!([{ "actor_id": real, "role": "r".repeat(100) }])).await;
    let movie = resp.expect(201);
    assert_eq!(
        movie["actors"],
        json!([{ "id": real, "name": "Real Actor", "role": "r".repeat(100), "photo": null }])
    );
}

#[tokio::test]
async fn movie_urls_must_be_http_or_https() {
    let app = TestApp::spawn().await;
    let base = |extra: (&str, Value)| {
        let mut body = json!({ "title": "Urls", "release_year": 2000, "genres": ["drama"] });
        body[extra.0] = extra.1;
        body
    };
    app.post_json(
        "/movies",
        app.admin(),
        &base(("thumbnail_url", json!("ftp://x.example.com/a.png"))),
    )
    .await
    .invalid_field("thumbnail_url");
    let fields = app
        .post_json(
            "/movies",
            app.admin(),
            &base((
                "pictures",
                json!(["https://ok.example.com/a.png", "javascript:alert(1)"]),
            )),
        )
        .await
        .invalid_fields();
    assert!(
        fields.iter().all(|f| f.starts_with("pictures")),
        "{fields:?}"
    );
}

#[tokio::test]
async fn deleting_a_movie_is_204_and_get_is_404_at_once() {
    let app = TestApp::spawn().await;
    let movie = app.create_movie("Doomed", 2000, &["drama"], &[]).await;
    let id = movie["id"].as_str().unwrap();
    app.get(&format!("/movies/{id}")).await.expect(200);
    let resp = app.delete(&format!("/movies/{id}"), app.admin()).await;
    resp.expect(204);
    assert!(resp.text.is_empty(), "204 with a body: {:?}", resp.text);
    app.get(&format!("/movies/{id}")).await.problem(404);
    app.delete(&format!("/movies/{id}"), app.admin())
        .await
        .problem(404);
    app.delete(&format!("/movies/{}", uuid::Uuid::now_v7()), app.admin())
        .await
        .problem(404);
    app.delete("/movies/not-a-uuid", app.admin())
        .await
        .problem(404);
}

#[tokio::test]
async fn unknown_or_non_uuid_movie_id_is_404() {
    let app = TestApp::spawn().await;
    app.get(&format!("/movies/{}", uuid::Uuid::now_v7()))
        .await
        .problem(404);
    app.get("/movies/12345").await.problem(404);
}

#[tokio::test]
async fn movie_list_is_newest_created_first_with_summary_fields() {
    let app = TestApp::spawn().await;
    let tag = tag();
    let mut created = Vec::new();
    for (i, year) in [1990, 2020, 1950].into_iter().enumerate() {
        let movie = app
            .create_movie_with(&json!({
                "title": format!("List {tag} {i}"),
                "release_year": year,
                "genres": ["drama"],
                "thumbnail_url": format!("https://img.example.com/{i}.png"),
            }))
            .await;
        created.push(movie);
    }
    let newest_first: Vec<String> = ids(&created).into_iter().rev().collect();
    let items = eventually_in_order(
        "GET /movies lists the three new movies newest created first",
        &newest_first,
        &newest_first,
        async || app.all("/movies").await,
    )
    .await;
    if app.owns_server() {
        assert_eq!(
            ids(&items),
            newest_first,
            "GET /movies lists every movie, newest created first"
        );
    }
    for movie in &created {
        let item = items.iter().find(|i| i["id"] == movie["id"]).unwrap();
        assert_summary(item, movie);
    }
}
