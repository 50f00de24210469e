//! The web site's read-only pages (API.md, "Web pages"): made from what the API answers,
//! linked to each other, escaped, same-origin only, with the site's headers; an unknown
//! page or movie is an HTML 404, and the stylesheet is served by the binary.

use reqwest::Method;
use serde_json::Value;

use crate::support::*;

/// The review comment `<script>alert(1)</script>` as the pages show it: escaped (askama
/// writes `<` and `>` as the numeric references, the same as `&lt;` and `&gt;` to a browser).
const ESCAPED_COMMENT: &str = "&#60;script&#62;alert(1)&#60;/script&#62;";

/// The `id` of an API answer.
fn id_of(value: &Value) -> String {
    value["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {value}"))
        .to_owned()
}

/// Uploads a picture to `path` (a poster or photo) as the admin; returns the answer.
async fn upload(app: &TestApp, path: &str, width: u32, height: u32) -> Value {
    app.raw(
        Method::PUT,
        &format!("{API}{path}"),
        app.admin(),
        Some("image/png"),
        Some(png(width, height)),
    )
    .await
    .expect(200)
}

/// GET of a page, asserting what every page has: 200, HTML in UTF-8, the site's headers,
/// one `<h1>`, the language, and no picture, stylesheet or link to another host.
async fn page(app: &TestApp, path: &str) -> String {
    let resp = app.root_get(path).await;
    assert_eq!(resp.status, 200, "GET {path}: {}", resp.text);
    assert_site_headers(&resp, path);
    let html = resp.text;
    assert!(html.starts_with("<!DOCTYPE html>"), "GET {path}: {html}");
    assert!(html.contains("<html lang=\"en\">"), "GET {path}");
    assert!(html.contains("<meta name=\"viewport\""), "GET {path}");
    assert_eq!(html.matches("<h1").count(), 1, "GET {path}: one h1: {html}");
    for landmark in ["<header", "<nav", "<main", "<footer"] {
        assert!(html.contains(landmark), "GET {path}: {landmark} missing");
    }
    for attribute in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
        assert!(
            !html.contains(attribute),
            "GET {path}: {attribute} points to another host: {html}"
        );
    }
    assert!(
        !html.contains("<script"),
        "GET {path}: no script in this slice"
    );
    html
}

fn assert_site_headers(resp: &Resp, path: &str) {
    assert_eq!(
        resp.header("content-type").as_deref(),
        Some("text/html; charset=utf-8"),
        "GET {path}"
    );
    assert_eq!(
        resp.header("x-content-type-options").as_deref(),
        Some("nosniff"),
        "GET {path}"
    );
    assert_eq!(
        resp.header("content-security-policy").as_deref(),
        Some("default-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'"),
        "GET {path}"
    );
    assert_eq!(
        resp.header("cache-control").as_deref(),
        Some("private, no-cache"),
        "GET {path}: a page may show who is signed in"
    );
    assert_eq!(
        resp.header("referrer-policy").as_deref(),
        Some("same-origin"),
        "GET {path}"
    );
}

/// The page at `path` once it contains every one of `wanted` (derived views converge).
async fn page_showing(app: &TestApp, path: &str, wanted: &[&str]) -> String {
    eventually(&format!("GET {path} shows {wanted:?}"), async || {
        let html = page(app, path).await;
        match wanted.iter().find(|w| !html.contains(*w)) {
            Some(missing) => Err(format!("{missing:?} missing from {html}")),
            None => Ok(html),
        }
    })
    .await
}

/// The `href` of the first link whose text is `text`.
fn link_to(html: &str, text: &str) -> Option<String> {
    let end = html.find(&format!("\">{text}</a>"))?;
    let start = html[..end].rfind("href=\"")? + "href=\"".len();
    Some(html[start..end].replace("&amp;", "&"))
}

#[tokio::test]
async fn the_pages_show_movies_actors_reviews_and_users_from_the_api() {
    let app = TestApp::spawn().await;
    let tag = tag();
    let actor = app.create_actor(&format!("Ada {tag}")).await;
    let actor_id = id_of(&actor);
    let title = format!("Film {tag}");
    let movie = app
        .create_movie(&title, 1999, &[&tag, "drama"], &[(&actor_id, "Lead")])
        .await;
    let movie_id = id_of(&movie);
    let poster = upload(&app, &format!("/movies/{movie_id}/poster"), 400, 600).await;
    let photo = upload(&app, &format!("/actors/{actor_id}/photo"), 100, 150).await;
    let reviewer = app.sign_up_user(&format!("Rita {tag}")).await;
    let other = app.sign_up_user(&format!("Otto {tag}")).await;
    app.review(
        &movie_id,
        &reviewer.token,
        8,
        Some("<script>alert(1)</script>"),
    )
    .await
    .expect(201);
    app.review(&movie_id, &other.token, 9, None)
        .await
        .expect(201);
    let poster_src = poster["thumbnail_url"].as_str().expect("a thumbnail URL");
    let photo_src = photo["thumbnail_url"].as_str().expect("a thumbnail URL");

    // The movie: poster at the thumbnail's size, genres, score, cast and reviews, escaped.
    let movie_page = page_showing(
        &app,
        &format!("/movies/{movie_id}"),
        &[
            &format!("<h1>{title} "),
            &format!("src=\"{poster_src}\" width=\"342\" height=\"513\""),
            &format!("href=\"/genres/{tag}\""),
            "8.5/10 from 2 reviews",
            &format!("href=\"/actors/{actor_id}\""),
            &format!("Ada {tag}"),
            &format!("src=\"{photo_src}\" width=\"100\" height=\"150\""),
            &format!("href=\"/users/{}\"", reviewer.id),
            &format!("Rita {tag}"),
            &format!("Otto {tag}"),
            ESCAPED_COMMENT,
        ],
    )
    .await;
    assert!(!movie_page.contains("<script>alert(1)"));
    assert!(movie_page.contains("alt=\""), "pictures have alt text");

    // The actor: photo and filmography with the poster and score.
    page_showing(
        &app,
        &format!("/actors/{actor_id}"),
        &[
            &format!("<h1>Ada {tag}</h1>"),
            &format!("src=\"{photo_src}\""),
            &format!("href=\"/movies/{movie_id}\""),
            &title,
            "Lead",
            &format!("src=\"{poster_src}\""),
            "8.5/10 from 2 reviews",
        ],
    )
    .await;

    // The reviewer: their reviews, linking to the movie, escaped.
    page_showing(
        &app,
        &format!("/users/{}", reviewer.id),
        &[
            &format!("<h1>Rita {tag}</h1>"),
            &format!("href=\"/movies/{movie_id}\""),
            &title,
            "8/10",
            ESCAPED_COMMENT,
        ],
    )
    .await;

    // Genres, the genre's page, search (movies and actors), with links to the pages.
    page_showing(&app, "/genres", &[&format!("href=\"/genres/{tag}\"")]).await;
    page_showing(
        &app,
        &format!("/genres/{tag}"),
        &[&format!("href=\"/movies/{movie_id}\""), &title],
    )
    .await;
    page_showing(
        &app,
        &format!("/search?q={}", enc(&format!("film {tag}"))),
        &[&format!("href=\"/movies/{movie_id}\""), &title],
    )
    .await;
    page_showing(
        &app,
        &format!("/search?q={}", enc(&format!("ada {tag}"))),
        &[&format!("href=\"/actors/{actor_id}\"")],
    )
    .await;

    // Home and top-rated: a search form with a label; on a server of its own the movie is
    // in both lists.
    let home = page(&app, "/").await;
    assert!(
        home.contains("<form class=\"search\" role=\"search\" method=\"get\" action=\"/search\">")
    );
    assert!(home.contains("<label for=\"q\">"));
    page(&app, "/search").await;
    if app.owns_server() {
        page_showing(&app, "/", &[&format!("href=\"/movies/{movie_id}\"")]).await;
        page_showing(
            &app,
            "/top-rated",
            &[&format!("href=\"/movies/{movie_id}\"")],
        )
        .await;
    } else {
        page(&app, "/top-rated").await;
    }
}

#[tokio::test]
async fn empty_states_paging_and_not_found_pages() {
    let app = TestApp::spawn().await;
    let tag = tag();
    let movie = app
        .create_movie(&format!("Quiet {tag}"), 2001, &[&tag], &[])
        .await;
    let movie_id = id_of(&movie);
    let quiet = page(&app, &format!("/movies/{movie_id}")).await;
    assert!(quiet.contains("No reviews yet."), "{quiet}");
    assert!(quiet.contains("no reviews yet"), "{quiet}");

    // A genre of 21 movies is two pages, the second reached by the "more" link.
    for i in 0..20 {
        app.create_movie(&format!("Many {tag} {i}"), 1990 + i, &[&tag], &[])
            .await;
    }
    let first = page_showing(&app, &format!("/genres/{tag}"), &["More movies"]).await;
    let more = link_to(&first, "More movies").expect("a link to the next page");
    assert!(
        more.starts_with(&format!("/genres/{tag}?cursor=")),
        "{more}"
    );
    let second = page(&app, &more).await;
    let shown = |html: &str| html.matches("href=\"/movies/").count();
    assert_eq!(shown(&first) + shown(&second), 21, "{first}\n{second}");
    assert!(!second.contains("More movies"));

    // Unknown ids and pages are HTML 404s; the API's paths keep problem+json.
    for path in [
        format!("/movies/{}", uuid::Uuid::now_v7()),
        format!("/actors/{}", uuid::Uuid::now_v7()),
        format!("/users/{}", uuid::Uuid::now_v7()),
        "/movies/not-an-id".to_owned(),
        "/no-such-page".to_owned(),
    ] {
        let resp = app.root_get(&path).await;
        assert_eq!(resp.status, 404, "GET {path}: {}", resp.text);
        assert_site_headers(&resp, &path);
        assert!(
            resp.text.contains("<h1>Page not found</h1>"),
            "{}",
            resp.text
        );
    }
    app.root_get("/api/v1/no-such-route").await.problem(404);
    app.root_get(&format!("/api/v1/movies/{}", uuid::Uuid::now_v7()))
        .await
        .problem(404);
    for path in ["/healthz", "/readyz", "/api/v1/openapi.json"] {
        app.root_get(path).await.expect(200);
    }
    // A malformed cursor is the page's 400, not a server error.
    let resp = app.root_get(&format!("/genres/{tag}?cursor=garbage")).await;
    assert_eq!(resp.status, 400, "{}", resp.text);
}

#[tokio::test]
async fn the_stylesheet_is_served_by_the_binary_and_cached_by_version() {
    let app = TestApp::spawn().await;
    let home = page(&app, "/").await;
    let start = home
        .find("<link rel=\"stylesheet\" href=\"")
        .expect("a stylesheet link")
        + "<link rel=\"stylesheet\" href=\"".len();
    let href = &home[start..start + home[start..].find('"').expect("the link's end")];
    assert!(href.starts_with("/static/site.css?v="), "{href}");
    let css = app.root_get(href).await;
    assert_eq!(css.status, 200);
    assert_eq!(
        css.header("content-type").as_deref(),
        Some("text/css; charset=utf-8")
    );
    assert_eq!(
        css.header("cache-control").as_deref(),
        Some("public, max-age=31536000, immutable")
    );
    assert!(css.text.contains(".cards"), "{}", css.text);
    assert!(!css.text.contains("http"), "nothing from another host");
    let etag = css.header("etag").expect("an ETag");
    let again = app
        .get_with_headers("/static/site.css", &[("if-none-match", &etag)])
        .await;
    assert_eq!(again.status, 304);
}
