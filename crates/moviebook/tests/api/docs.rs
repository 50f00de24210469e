//! The API explorer at `/api/docs`: Swagger UI on the OpenAPI document, served by the
//! process itself so that the page loads nothing from another host.

use reqwest::redirect::Policy;
use reqwest::{Client, Method, Url};

use crate::support::*;

#[tokio::test]
async fn api_docs_explores_the_openapi_document_with_nothing_loaded_from_another_host() {
    let app = TestApp::spawn().await;
    let origin = Url::parse(&app.base_url).unwrap();

    // Relative URLs in the page resolve against its final address: follow a redirect
    // only if it stays on this host.
    let no_redirects = Client::builder().redirect(Policy::none()).build().unwrap();
    let first = app
        .raw_with_client(&no_redirects, Method::GET, "/api/docs", None, None, None)
        .await;
    let page_url = if (300..400).contains(&first.status) {
        let location = first
            .header("location")
            .unwrap_or_else(|| panic!("GET /api/docs: a {} without Location", first.status));
        let target = origin.join("/api/docs").unwrap().join(&location).unwrap();
        assert_same_host(&origin, &target, "the /api/docs redirect");
        target
    } else {
        first.expect(200);
        origin.join("/api/docs").unwrap()
    };

    let page = get_absolute(&app, &page_url).await;
    let content_type = page.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/html"),
        "{page_url}: content type {content_type:?}"
    );
    let references: Vec<String> = ["src", "href"]
        .iter()
        .flat_map(|name| attribute_values(&page.text, name))
        .collect();
    assert!(
        references.iter().any(|r| r.ends_with(".js")),
        "the page loads no script: {}",
        page.text
    );

    let mut scripts = Vec::new();
    for reference in &references {
        let url = page_url.join(reference).unwrap();
        assert_same_host(&origin, &url, &format!("{reference:?} in {page_url}"));
        let resp = get_absolute(&app, &url).await;
        if url.path().ends_with(".css") {
            for css_url in css_urls(&resp.text) {
                if !css_url.starts_with("data:") {
                    let url = url.join(&css_url).unwrap();
                    assert_same_host(&origin, &url, &format!("url({css_url}) in {reference}"));
                }
            }
        }
        if url.path().ends_with(".js") {
            scripts.push(resp.text);
        }
    }

    // Swagger UI's configuration: our document, and no online validator (its badge is an
    // image from validator.swagger.io).
    let config = scripts
        .iter()
        .find(|s| s.contains("SwaggerUIBundle({"))
        .unwrap_or_else(|| panic!("no script of the page starts Swagger UI"));
    assert!(
        config.contains(r#""url": "/api/v1/openapi.json""#),
        "Swagger UI is not pointed at /api/v1/openapi.json: {config}"
    );
    assert!(
        config.contains(r#""validatorUrl": "none""#),
        "Swagger UI's online validator is on: {config}"
    );
    let doc = get_absolute(&app, &page_url.join("/api/v1/openapi.json").unwrap()).await;
    let version = doc.body["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with('3'), "openapi version {version:?}");
}

/// GETs an absolute URL (found in a page), asserting 200.
async fn get_absolute(app: &TestApp, url: &Url) -> Resp {
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let resp = app.root_get(&path).await;
    resp.expect(200);
    resp
}

#[track_caller]
fn assert_same_host(origin: &Url, url: &Url, what: &str) {
    assert_eq!(
        url.origin(),
        origin.origin(),
        "{what} loads {url}, not from the server itself"
    );
}

/// The values of every `name="..."` (or `'...'`) attribute in an HTML text.
fn attribute_values(html: &str, name: &str) -> Vec<String> {
    let mut values = Vec::new();
    let mut rest = html;
    let pattern = format!("{name}=");
    while let Some(at) = rest.find(&pattern) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + pattern.len()..];
        if !before.is_some_and(char::is_whitespace) {
            continue;
        }
        let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            panic!(
                "an unquoted {name} attribute: {}",
                &rest[..rest.len().min(40)]
            );
        };
        let value: String = rest[1..].chars().take_while(|c| *c != quote).collect();
        values.push(value);
    }
    values
}

/// The targets of every `url(...)` in a style sheet.
fn css_urls(css: &str) -> Vec<String> {
    css.split("url(")
        .skip(1)
        .map(|rest| {
            let inside = rest.split(')').next().unwrap_or_default().trim();
            inside.trim_matches(|c| c == '"' || c == '\'').to_owned()
        })
        .collect()
}
