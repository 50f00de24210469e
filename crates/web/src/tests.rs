//! The pages against a stand-in API router, in-process: what a page does with each kind of
//! answer. The real API behind them is tested over HTTP in `crates/moviebook/tests/api/web_pages.rs`.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tower::ServiceExt;

/// The site over `api`, as the binary assembles it.
fn site(api: Router) -> Router {
    api.clone()
        .merge(crate::pages(api, b"test secret"))
        .layer(axum::middleware::from_fn(crate::html_not_found))
}

async fn get_page(site: Router, path: &str) -> (StatusCode, header::HeaderMap, String) {
    let request = Request::get(path).body(Body::empty()).unwrap();
    let response = site.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

fn movie(thumbnail_url: &str) -> serde_json::Value {
    json!({
        "id": "m1", "title": "Solaris", "release_year": 1972, "genres": ["drama", "sci fi"],
        "overview": null, "actors": [], "score": 7.25, "review_count": 4,
        "poster": {"url": "/p", "thumbnail_url": thumbnail_url, "width": 1000, "height": 4000},
    })
}

fn reviews() -> serde_json::Value {
    json!({"items": [], "next_cursor": null})
}

#[tokio::test]
async fn a_movie_page_shows_a_local_thumbnail_at_its_size_and_links_its_genres() {
    let api = Router::new()
        .route(
            "/api/v1/movies/m1",
            get(async || axum::Json(movie("/t.png"))),
        )
        .route(
            "/api/v1/movies/m1/reviews",
            get(async || axum::Json(reviews())),
        );
    let (status, headers, html) = get_page(site(api), "/movies/m1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    // 1000×4000 fits 342×513 as 128×513 (imaging's rule).
    assert!(
        html.contains("src=\"/t.png\" width=\"128\" height=\"513\""),
        "{html}"
    );
    assert!(html.contains("href=\"/genres/sci%20fi\""), "{html}");
    assert!(html.contains("7.25/10 from 4 reviews"), "{html}");
    assert!(html.contains("No reviews yet."), "{html}");
}

#[tokio::test]
async fn a_thumbnail_on_another_host_is_not_shown() {
    let api = Router::new()
        .route(
            "/api/v1/movies/m1",
            get(async || axum::Json(movie("https://elsewhere.example/t.png"))),
        )
        .route(
            "/api/v1/movies/m1/reviews",
            get(async || axum::Json(reviews())),
        );
    let (status, _, html) = get_page(site(api), "/movies/m1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("elsewhere.example"), "{html}");
    assert!(!html.contains("<img"), "{html}");
}

#[tokio::test]
async fn an_unavailable_api_is_an_html_503_with_its_retry_after() {
    let unavailable = async || -> Response {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [
                (header::RETRY_AFTER, "7"),
                (header::CONTENT_TYPE, "application/problem+json"),
            ],
            r#"{"type":"about:blank","title":"Unavailable","status":503,"detail":"store"}"#,
        )
            .into_response()
    };
    let api = Router::new().route("/api/v1/genres", get(unavailable));
    let (status, headers, html) = get_page(site(api), "/genres").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers[header::RETRY_AFTER], "7");
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert!(html.contains("<h1>Unavailable for now</h1>"), "{html}");
}

#[tokio::test]
async fn a_refused_cursor_is_an_html_400_and_unknown_pages_html_404s() {
    let refused = async || -> Response {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            [(header::CONTENT_TYPE, "application/problem+json")],
            r#"{"type":"about:blank","title":"Invalid","status":422,"detail":"invalid","errors":[{"field":"cursor","message":"not a cursor"}]}"#,
        )
            .into_response()
    };
    let api = Router::new()
        .route("/api/v1/genres/drama/movies", get(refused))
        .fallback(async || {
            (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "application/problem+json")],
                "{}",
            )
        });
    let (status, _, html) = get_page(site(api.clone()), "/genres/drama?cursor=x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("not a cursor"), "{html}");
    let (status, headers, _) = get_page(site(api.clone()), "/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    // The API's own paths keep the API's answer.
    let (status, headers, _) = get_page(site(api), "/api/v1/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
}

#[test]
fn path_segments_and_query_values_are_percent_encoded() {
    assert_eq!(crate::pages::enc("sci fi/&?é"), "sci%20fi%2F%26%3F%C3%A9");
    assert_eq!(crate::pages::enc("a-Z_0.~"), "a-Z_0.~");
}
