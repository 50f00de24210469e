//! Error answers: problem+json, 400, 404, 413, 415, 422.

use reqwest::Method;
use serde_json::json;

use crate::support::*;

fn sign_up_body() -> serde_json::Value {
    json!({ "name": "Body Test", "email": format!("{}@example.com", tag()), "password": "password1" })
}

#[tokio::test]
async fn unknown_api_routes_are_404_problem_json_and_unknown_pages_404_html() {
    let app = TestApp::spawn().await;
    app.get("/no-such-route").await.problem(404);
    app.get("/movies/top-rated/extra/segments")
        .await
        .problem(404);
    app.root_get("/api/v2/movies").await.problem(404);
    // Outside /api an unknown path is a page a person mistyped: the site's HTML 404.
    let page = app.root_get("/no-such-route").await;
    assert_eq!(page.status, 404);
    assert_eq!(
        page.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    app.post_json("/no-such-route", app.admin(), &json!({}))
        .await
        .problem(404);
}

#[tokio::test]
async fn non_uuid_path_ids_are_404() {
    let app = TestApp::spawn().await;
    let movie = app.create_movie("Real", 2000, &["drama"], &[]).await;
    let movie_id = movie["id"].as_str().unwrap();
    let (user_id, token) = app.sign_up("Real User").await;
    for path in [
        "/movies/not-a-uuid".to_owned(),
        "/actors/not-a-uuid".to_owned(),
        "/users/not-a-uuid".to_owned(),
        "/movies/not-a-uuid/reviews".to_owned(),
        format!("/movies/{movie_id}/reviews/not-a-uuid"),
        format!("/movies/not-a-uuid/reviews/{user_id}"),
    ] {
        app.get(&path).await.problem(404);
    }
    app.delete("/movies/not-a-uuid", app.admin())
        .await
        .problem(404);
    app.patch_json("/users/not-a-uuid", app.admin(), &json!({ "name": "X" }))
        .await
        .problem(404);
    app.delete("/users/not-a-uuid", app.admin())
        .await
        .problem(404);
    app.post_json(
        "/movies/not-a-uuid/reviews",
        Some(&token),
        &json!({ "score": 5 }),
    )
    .await
    .problem(404);
    app.delete(
        &format!("/movies/{movie_id}/reviews/not-a-uuid"),
        app.admin(),
    )
    .await
    .problem(404);
}

#[tokio::test]
async fn unknown_ids_are_404() {
    let app = TestApp::spawn().await;
    let movie = app.create_movie("Real", 2000, &["drama"], &[]).await;
    let movie_id = movie["id"].as_str().unwrap();
    let ghost = uuid::Uuid::now_v7().to_string();
    for path in [
        format!("/movies/{ghost}"),
        format!("/actors/{ghost}"),
        format!("/users/{ghost}"),
        format!("/movies/{ghost}/reviews"),
        format!("/movies/{movie_id}/reviews/{ghost}"),
    ] {
        app.get(&path).await.problem(404);
    }
    app.delete(&format!("/users/{ghost}"), app.admin())
        .await
        .problem(404);
    app.delete(&format!("/movies/{movie_id}/reviews/{ghost}"), app.admin())
        .await
        .problem(404);
}

#[tokio::test]
async fn syntactically_invalid_json_is_400() {
    let app = TestApp::spawn().await;
    for body in [
        r#"{"name": "x","#,
        "not json",
        r#"{"name": "x"} trailing"#,
        "",
    ] {
        let resp = app
            .raw(
                Method::POST,
                &format!("{API}/users"),
                None,
                Some("application/json"),
                Some(body.as_bytes().to_vec()),
            )
            .await;
        resp.problem(400);
    }
    let resp = app
        .raw(
            Method::POST,
            &format!("{API}/movies"),
            app.admin(),
            Some("application/json"),
            Some(b"{'title': 1}".to_vec()),
        )
        .await;
    resp.problem(400);
}

#[tokio::test]
async fn body_without_json_content_type_is_415() {
    let app = TestApp::spawn().await;
    let body = sign_up_body().to_string().into_bytes();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/xml"),
    ] {
        let resp = app
            .raw(
                Method::POST,
                &format!("{API}/users"),
                None,
                content_type,
                Some(body.clone()),
            )
            .await;
        resp.problem(415);
    }
    let movie = json!({ "title": "T", "release_year": 2000, "genres": ["drama"] })
        .to_string()
        .into_bytes();
    app.raw(
        Method::POST,
        &format!("{API}/movies"),
        app.admin(),
        Some("text/plain"),
        Some(movie),
    )
    .await
    .problem(415);
}

#[tokio::test]
async fn json_content_type_with_a_charset_is_accepted() {
    let app = TestApp::spawn().await;
    let body = sign_up_body().to_string().into_bytes();
    let resp = app
        .raw(
            Method::POST,
            &format!("{API}/users"),
            None,
            Some("application/json; charset=utf-8"),
            Some(body),
        )
        .await;
    resp.expect(201);
}

#[tokio::test]
async fn body_over_1_mib_is_413() {
    let app = TestApp::spawn().await;
    let huge = json!({ "name": "n".repeat(1024 * 1024 + 16), "email": "big@example.com", "password": "password1" });
    app.post_oversized("/users", None, &huge).await.problem(413);
    let huge_movie = json!({ "title": "Big", "release_year": 2000, "genres": ["drama"], "overview": "o".repeat(1024 * 1024 + 1) });
    app.post_oversized("/movies", app.admin(), &huge_movie)
        .await
        .problem(413);
    // Just under the limit is read and judged on its fields.
    let big = json!({ "name": "n".repeat(1000 * 1000), "email": format!("{}@example.com", tag()), "password": "password1" });
    app.post_json("/users", None, &big)
        .await
        .invalid_field("name");
}

#[tokio::test]
async fn unknown_json_fields_are_422_naming_them() {
    let app = TestApp::spawn().await;
    let movie = app.create_movie("Fields", 2000, &["drama"], &[]).await;
    let movie_id = movie["id"].as_str().unwrap();
    let user = app.sign_up_user("Fields User").await;

    let mut body = sign_up_body();
    body["age"] = json!(30);
    app.post_json("/users", None, &body)
        .await
        .invalid_field("age");
    let movie_body =
        json!({ "title": "T", "release_year": 2000, "genres": ["drama"], "rating": 5 });
    app.post_json("/movies", app.admin(), &movie_body)
        .await
        .invalid_field("rating");
    app.post_json(
        "/actors",
        app.admin(),
        &json!({ "name": "A", "birthday": "1990-01-01" }),
    )
    .await
    .invalid_field("birthday");
    app.post_json(
        &format!("/movies/{movie_id}/reviews"),
        Some(&user.token),
        &json!({ "score": 5, "stars": 5 }),
    )
    .await
    .invalid_field("stars");
    app.patch_json(
        &format!("/users/{}", user.id),
        Some(&user.token),
        &json!({ "name": "X", "nickname": "y" }),
    )
    .await
    .invalid_field("nickname");
    app.post_json(
        "/auth/token",
        None,
        &json!({ "email": user.email, "password": user.password, "remember": true }),
    )
    .await
    .invalid_field("remember");
    // Nothing was created or changed.
    assert_eq!(
        app.get_ok(&format!("/users/{}", user.id)).await["name"],
        json!("Fields User")
    );
    app.get(&format!("/movies/{movie_id}/reviews/{}", user.id))
        .await
        .problem(404);
}

#[tokio::test]
async fn json_that_is_not_an_object_or_has_wrong_types_is_422() {
    let app = TestApp::spawn().await;
    for body in [json!([]), json!("text"), json!(5), json!(null)] {
        app.post_json("/users", None, &body).await.problem(422);
    }
    let resp = app
        .post_json(
            "/users",
            None,
            &json!({ "name": 5, "email": ["a@b.c"], "password": true }),
        )
        .await;
    let mut fields = resp.invalid_fields();
    fields.sort();
    assert_eq!(fields, ["email", "name", "password"]);
}

#[tokio::test]
async fn auth_errors_are_problem_json() {
    let app = TestApp::spawn().await;
    let resp = app
        .post_json("/actors", None, &json!({ "name": "X" }))
        .await;
    resp.problem(401);
    let (_, token) = app.sign_up("Plain").await;
    app.post_json("/actors", Some(&token), &json!({ "name": "X" }))
        .await
        .problem(403);
    let email = format!("{}@example.com", tag());
    app.post_user("A", &email, "password1").await.expect(201);
    app.post_user("B", &email, "password1").await.problem(409);
}
