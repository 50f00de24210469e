//! The web site's forms (API.md, "Web pages") over HTTP, as a browser without script sends
//! them: the session cookie and its attributes, the CSRF token every state-changing form
//! needs (a form without it changes nothing), sign-up, log-in (its errors and throttling),
//! reviews, the watch list, log-out and the admin console — each checked against what the
//! JSON API then answers. The browser suite (scripts/browser) drives the same pages in
//! Chromium.

use std::collections::BTreeMap;

use reqwest::header::{COOKIE, HeaderMap, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};

use crate::support::*;

/// A browser's part in a conversation with the site: its cookies, and the pages it got.
struct Browser {
    client: Client,
    base: String,
    cookies: BTreeMap<String, String>,
    /// Every `Set-Cookie` the browser got, as sent.
    set_cookies: Vec<String>,
}

/// A page or redirect the site answered.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    html: String,
}

impl Answer {
    /// The CSRF token of the page's first form.
    fn csrf(&self) -> String {
        let start = self
            .html
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no CSRF field in {}", self.html))
            + "name=\"csrf\" value=\"".len();
        let end = self.html[start..].find('"').expect("the field's end") + start;
        self.html[start..end].to_owned()
    }

    fn location(&self) -> String {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no Location ({}): {}", self.status, self.html))
            .to_owned()
    }

    /// The message shown next to the field whose input has id `id`.
    fn field_error(&self, id: &str) -> Option<String> {
        let marker = format!("<p class=\"field-error\" id=\"{id}-error\">");
        let start = self.html.find(&marker)? + marker.len();
        let end = self.html[start..].find("</p>")? + start;
        Some(self.html[start..end].to_owned())
    }
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        Browser {
            client: Client::builder()
                .redirect(Policy::none())
                .build()
                .expect("an HTTP client"),
            base: app.base_url.clone(),
            cookies: BTreeMap::new(),
            set_cookies: Vec::new(),
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let mut request = request;
        if !self.cookies.is_empty() {
            let cookies: Vec<String> = self
                .cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            request = request.header(COOKIE, cookies.join("; "));
        }
        let response = request.send().await.expect("the site answers");
        for set in response.headers().get_all(SET_COOKIE) {
            let set = set.to_str().expect("a text cookie").to_owned();
            let pair = set.split(';').next().unwrap_or_default();
            let (name, value) = pair.split_once('=').expect("name=value");
            if value.is_empty() || set.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
            self.set_cookies.push(set);
        }
        Answer {
            status: response.status(),
            headers: response.headers().clone(),
            html: response.text().await.expect("a text answer"),
        }
    }

    async fn get(&mut self, path: &str) -> Answer {
        let request = self.client.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    /// Posts `fields` form-encoded to `path`.
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .form(fields);
        self.send(request).await
    }

    /// Posts a multipart form: `fields`, and `file` as the field `file_name` of type
    /// `content_type`.
    async fn post_upload(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        file_name: &str,
        content_type: &str,
        file: &[u8],
    ) -> Answer {
        let boundary = "----moviebook-test-boundary";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{file_name}\"; \
                 filename=\"picture\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(file);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body);
        self.send(request).await
    }

    /// Fills in `path`'s form: the page's CSRF token and `fields`.
    async fn submit(&mut self, page: &str, action: &str, fields: &[(&str, &str)]) -> Answer {
        let csrf = self.get(page).await.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }

    /// Signs up a new person through `/signup`; their e-mail and password.
    async fn sign_up(&mut self, name: &str) -> (String, String) {
        let email = format!("{}@example.com", tag());
        let password = format!("pw-{}", tag());
        let done = self
            .submit(
                "/signup",
                "/signup",
                &[("name", name), ("email", &email), ("password", &password)],
            )
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
        (email, password)
    }

    /// The signed-in user's id, from the home page's "My reviews" link.
    async fn user_id(&mut self) -> String {
        let home = self.get("/").await;
        let start = home
            .html
            .find("href=\"/users/")
            .unwrap_or_else(|| panic!("not signed in: {}", home.html))
            + "href=\"/users/".len();
        let end = home.html[start..].find('"').expect("the link's end") + start;
        home.html[start..end].to_owned()
    }
}

#[tokio::test]
async fn a_person_signs_up_reviews_keeps_a_watch_list_and_logs_out_with_the_forms() {
    let app = TestApp::spawn().await;
    let title = format!("Film {}", tag());
    let movie = app.create_movie(&title, 2001, &["drama"], &[]).await;
    let movie_id = movie["id"].as_str().expect("an id").to_owned();
    let page = format!("/movies/{movie_id}");
    let mut browser = Browser::new(&app);

    // A refused sign-up shows the API's messages next to the fields, keeping the name.
    let refused = browser
        .submit(
            "/signup",
            "/signup",
            &[
                ("name", "Ann <b>"),
                ("email", "not an e-mail"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.field_error("email").is_some(), "{}", refused.html);
    assert!(
        refused.field_error("password").is_some(),
        "{}",
        refused.html
    );
    assert!(
        refused.html.contains("value=\"Ann &#60;b&#62;\""),
        "{}",
        refused.html
    );
    assert!(
        !refused.html.contains("value=\"short\""),
        "never a password"
    );

    // Signed up and in: the session cookie is HttpOnly and SameSite=Lax.
    let (email, password) = browser.sign_up("Ann").await;
    let session = browser
        .set_cookies
        .iter()
        .find(|c| c.starts_with("moviebook_session="))
        .expect("a session cookie")
        .clone();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    assert!(!session.contains("Secure"), "plain HTTP: {session}");
    let user = browser.user_id().await;

    // The review form: a refusal is shown on the movie page with what was typed.
    let refused = browser
        .submit(
            &page,
            &format!("{page}/review"),
            &[("score", "11"), ("comment", "keep me")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.field_error("score").is_some(), "{}", refused.html);
    assert!(
        refused.html.contains(">keep me</textarea>"),
        "{}",
        refused.html
    );

    // Written, then edited: the API shows it, the page shows it escaped.
    let comment = "<b>bold</b><script>alert(1)</script>";
    let done = browser
        .submit(
            &page,
            &format!("{page}/review"),
            &[("score", "7"), ("comment", comment)],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(done.location(), page);
    let review = app
        .get(&format!("/movies/{movie_id}/reviews/{user}"))
        .await
        .expect(200);
    assert_eq!(
        (review["score"].as_i64(), review["comment"].as_str()),
        (Some(7), Some(comment))
    );
    browser
        .submit(
            &page,
            &format!("{page}/review"),
            &[("score", "9"), ("comment", "")],
        )
        .await;
    let review = app
        .get(&format!("/movies/{movie_id}/reviews/{user}"))
        .await
        .expect(200);
    assert_eq!(review["score"].as_i64(), Some(9));
    let shown = browser.get(&page).await;
    assert!(shown.html.contains("Delete review"), "{}", shown.html);
    assert!(
        shown.html.contains("value=\"9\""),
        "the form shows the review"
    );

    // The watch list: added, shown on /watchlist, removed from there.
    let added = browser
        .submit(&page, &format!("{page}/watchlist"), &[])
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    assert!(
        browser
            .get(&page)
            .await
            .html
            .contains("Remove from watch list")
    );
    let list = browser.get("/watchlist").await;
    assert!(list.html.contains(&title), "{}", list.html);
    let removed = browser
        .submit(
            "/watchlist",
            &format!("{page}/watchlist/remove"),
            &[("next", "/watchlist")],
        )
        .await;
    assert_eq!(removed.location(), "/watchlist");
    assert!(!browser.get("/watchlist").await.html.contains(&title));

    // Deleted: the API has no review.
    let deleted = browser
        .submit(&page, &format!("{page}/review/delete"), &[])
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    app.get(&format!("/movies/{movie_id}/reviews/{user}"))
        .await
        .expect(404);

    // Logged out: the cookie is cleared, the pages offer to log in; logged in again.
    let out = browser.submit("/", "/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(!browser.cookies.contains_key("moviebook_session"));
    assert!(browser.get("/").await.html.contains("href=\"/login\""));
    assert_eq!(
        browser.get("/watchlist").await.location(),
        "/login?next=%2Fwatchlist"
    );
    let wrong = browser
        .submit(
            "/login",
            "/login",
            &[("email", &email), ("password", "wrong-password")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(
        wrong.html.contains("class=\"form-error\""),
        "{}",
        wrong.html
    );
    let back = browser
        .submit(
            "/login?next=%2Fwatchlist",
            "/login?next=%2Fwatchlist",
            &[("email", &email), ("password", &password)],
        )
        .await;
    assert_eq!(back.location(), "/watchlist");
    assert_eq!(browser.user_id().await, user);
}

#[tokio::test]
async fn a_form_without_its_csrf_token_changes_nothing() {
    let app = TestApp::spawn().await;
    let movie = app
        .create_movie(&format!("Film {}", tag()), 2001, &["drama"], &[])
        .await;
    let movie_id = movie["id"].as_str().expect("an id").to_owned();
    let page = format!("/movies/{movie_id}");
    let mut browser = Browser::new(&app);
    browser.sign_up("Cary").await;
    let user = browser.user_id().await;
    let mut other = Browser::new(&app);
    other.sign_up("Olga").await;
    let others_token = other.get(&page).await.csrf();

    for csrf in [None, Some(""), Some("forged"), Some(others_token.as_str())] {
        let mut fields = vec![("score", "3")];
        if let Some(csrf) = csrf {
            fields.push(("csrf", csrf));
        }
        let refused = browser.post(&format!("{page}/review"), &fields).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "csrf {csrf:?}");
        assert!(
            refused.html.contains("<h1>Form expired</h1>"),
            "{}",
            refused.html
        );
        let refused = browser.post(&format!("{page}/watchlist"), &fields).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "csrf {csrf:?}");
        let refused = browser.post("/logout", &fields).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "csrf {csrf:?}");
    }
    app.get(&format!("/movies/{movie_id}/reviews/{user}"))
        .await
        .expect(404);
    assert!(
        browser.cookies.contains_key("moviebook_session"),
        "still signed in"
    );
    assert!(
        !browser
            .get(&page)
            .await
            .html
            .contains("Remove from watch list")
    );

    // A browser that never had the CSRF cookie cannot sign up with a copied token.
    let mut stranger = Browser::new(&app);
    let token = browser.get("/signup").await.csrf();
    let email = format!("{}@example.com", tag());
    let refused = stranger
        .post(
            "/signup",
            &[
                ("csrf", &token),
                ("name", "Eve"),
                ("email", &email),
                ("password", "password-1"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    app.login(&email, "password-1").await.expect(401);
}

#[tokio::test]
async fn cookies_are_secure_when_the_site_is_reached_over_https() {
    let app = TestApp::spawn().await;
    let client = Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("an HTTP client");
    let answer = client
        .get(format!("{}/signup", app.base_url))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .expect("the site answers");
    let cookies: Vec<&str> = answer
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(!cookies.is_empty(), "a CSRF cookie is set");
    for cookie in cookies {
        assert!(
            cookie.contains("; Secure") && cookie.contains("HttpOnly"),
            "{cookie}"
        );
    }
}

#[tokio::test]
async fn log_in_throttling_shows_on_the_form() {
    let app = TestApp::spawn().await;
    let user = app.sign_up_user("Tess").await;
    let mut browser = Browser::new(&app);
    let mut last = None;
    for _ in 0..8 {
        let answer = browser
            .submit(
                "/login",
                "/login",
                &[("email", &user.email), ("password", "not-the-password")],
            )
            .await;
        let throttled = answer.status == StatusCode::TOO_MANY_REQUESTS;
        last = Some(answer);
        if throttled {
            break;
        }
    }
    let last = last.expect("an answer");
    assert_eq!(last.status, StatusCode::TOO_MANY_REQUESTS, "{}", last.html);
    assert!(last.html.contains("try again in"), "{}", last.html);
    assert!(last.html.contains(&format!("value=\"{}\"", user.email)));
}

#[tokio::test]
async fn the_admin_console_adds_actors_and_movies_uploads_a_poster_and_deletes_a_movie() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app);
    assert_eq!(browser.get("/admin").await.location(), "/admin/login");

    let wrong = browser
        .submit(
            "/admin/login",
            "/admin/login",
            &[("token", "not-the-token")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.field_error("token").is_some(), "{}", wrong.html);
    // A user's token is not the admin's.
    let user = app.sign_up_user("Uma").await;
    let refused = browser
        .submit("/admin/login", "/admin/login", &[("token", &user.token)])
        .await;
    assert!(refused.field_error("token").is_some(), "{}", refused.html);
    let admin = app.admin().expect("the admin token").to_owned();
    let done = browser
        .submit("/admin/login", "/admin/login", &[("token", &admin)])
        .await;
    assert_eq!(done.location(), "/admin");

    // An actor, then a movie naming them in its cast by name.
    let name = format!("Ada {}", tag());
    let added = browser
        .submit(
            "/admin",
            "/admin/actors",
            &[("name", &name), ("date_of_birth", "1970-01-02")],
        )
        .await;
    let actor_page = added.location();
    let actor_id = actor_page
        .strip_prefix("/actors/")
        .expect("the actor's page")
        .to_owned();
    let actor = app.get(&format!("/actors/{actor_id}")).await.expect(200);
    assert_eq!(actor["name"].as_str(), Some(name.as_str()));
    assert_eq!(actor["date_of_birth"].as_str(), Some("1970-01-02"));

    // A cast row names an actor through the actor search, which follows within the
    // consistency bound.
    eventually("the new actor is found by name", async || {
        let found = app
            .get(&format!("/actors?search={}", enc(&name)))
            .await
            .expect(200);
        match found["items"].as_array().map(Vec::len) {
            Some(1) => Ok(()),
            other => Err(format!("{other:?} actors found: {found}")),
        }
    })
    .await;
    let title = format!("Film {}", tag());
    let refused = browser
        .submit(
            "/admin",
            "/admin/movies",
            &[
                ("title", &title),
                ("release_year", "soon"),
                ("genres", ""),
                ("cast_actor_1", "Nobody At All"),
                ("cast_role_1", "Lead"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    for field in ["release_year", "genres", "cast_actor_1"] {
        assert!(
            refused.field_error(&format!("add-movie-{field}")).is_some(),
            "{field}: {}",
            refused.html
        );
    }
    assert!(
        refused.html.contains(&format!("value=\"{title}\"")),
        "input kept"
    );
    let added = browser
        .submit(
            "/admin",
            "/admin/movies",
            &[
                ("title", &title),
                ("release_year", "1999"),
                ("genres", "Drama, Sci-Fi"),
                ("cast_actor_1", &name.to_lowercase()),
                ("cast_role_1", "Lead"),
            ],
        )
        .await;
    let movie_page = added.location();
    let movie_id = movie_page
        .strip_prefix("/movies/")
        .expect("the movie's page")
        .to_owned();
    let movie = app.get(&format!("/movies/{movie_id}")).await.expect(200);
    assert_eq!(movie["genres"], serde_json::json!(["drama", "sci-fi"]));
    assert_eq!(movie["actors"][0]["id"].as_str(), Some(actor_id.as_str()));
    assert_eq!(movie["actors"][0]["role"].as_str(), Some("Lead"));

    // A poster: a refused one is shown next to the file field, an accepted one on the page.
    let csrf = browser.get(&movie_page).await.csrf();
    let fields = [("csrf", csrf.as_str()), ("movie_id", movie_id.as_str())];
    let refused = browser
        .post_upload(
            "/admin/poster",
            &fields,
            "poster",
            "image/jpeg",
            &png(20, 30),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.field_error("poster-poster").is_some(),
        "{}",
        refused.html
    );
    let uploaded = browser
        .post_upload(
            "/admin/poster",
            &fields,
            "poster",
            "image/png",
            &png(200, 300),
        )
        .await;
    assert_eq!(uploaded.location(), movie_page);
    let movie = app.get(&format!("/movies/{movie_id}")).await.expect(200);
    let thumbnail = movie["poster"]["thumbnail_url"].as_str().expect("a poster");
    assert!(browser.get(&movie_page).await.html.contains(thumbnail));
    let without_token = browser
        .post_upload(
            "/admin/poster",
            &[("movie_id", movie_id.as_str())],
            "poster",
            "image/png",
            &png(10, 10),
        )
        .await;
    assert_eq!(without_token.status, StatusCode::FORBIDDEN);

    // Deleted, and an unknown id is shown as such.
    let deleted = browser
        .submit("/admin", "/admin/movies/delete", &[("movie_id", &movie_id)])
        .await;
    assert_eq!(deleted.location(), "/admin?deleted=movie");
    app.get(&format!("/movies/{movie_id}")).await.expect(404);
    let again = browser
        .submit("/admin", "/admin/movies/delete", &[("movie_id", &movie_id)])
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert!(
        again.field_error("delete-movie-movie_id").is_some(),
        "{}",
        again.html
    );

    // Logged out.
    browser.submit("/admin", "/logout", &[]).await;
    assert_eq!(browser.get("/admin").await.location(), "/admin/login");
}
