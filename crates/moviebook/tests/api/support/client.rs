//! Requests to the server under test and their answers: the raw form every other helper
//! goes through (any method, token, content type and body; any client), the JSON shorthands
//! for the API below `/api/v1`, and `Resp` with the assertions every test makes on an
//! answer (status, RFC 9457 problems, validation errors naming fields, list items), whose
//! failure messages name the request and show the body.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Client, Method, RequestBuilder};
use serde_json::{Value, json};

use super::app::{TestApp, external_mode};

/// The API base path.
pub const API: &str = "/api/v1";
/// How long one request may take before the client gives up.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The client a [`TestApp`] starts with.
pub(super) fn new_client() -> Client {
    Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .pool_max_idle_per_host(64)
        .build()
        .expect("build the HTTP client")
}

/// A client whose connections come from `local` (e.g. 127.0.0.2).
pub fn client_from(local: IpAddr) -> Client {
    Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .local_address(local)
        .build()
        .expect("build a client bound to a local address")
}

/// Percent-encodes a query or path component.
pub fn enc(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `path` with one more query parameter (`name=value`, already encoded).
pub fn with_param(path: &str, param: &str) -> String {
    let separator = if path.contains('?') { '&' } else { '?' };
    format!("{path}{separator}{param}")
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Resp {
    /// The HTTP status code.
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body as text (lossy for bytes that are not UTF-8).
    pub text: String,
    /// The body's bytes.
    pub bytes: Vec<u8>,
    /// The body parsed as JSON, `Value::Null` when empty or not JSON.
    pub body: Value,
    /// What was asked, for messages.
    pub request: String,
}

impl Resp {
    /// Asserts the status and returns the body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "{}: expected status {status}, got {} with body {}",
            self.request, self.status, self.text
        );
        self.body.clone()
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("<not text>").to_owned())
    }

    /// Asserts an RFC 9457 problem answer with this status: content type
    /// `application/problem+json`, `type`, `title` and `detail` strings, `status` equal to
    /// the HTTP status. Returns the body.
    #[track_caller]
    pub fn problem(&self, status: u16) -> Value {
        let body = self.expect(status);
        let content_type = self.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("application/problem+json"),
            "{}: error content type is {content_type:?}, not application/problem+json (body {})",
            self.request,
            self.text
        );
        for field in ["type", "title", "detail"] {
            assert!(
                body[field].is_string(),
                "{}: problem without string `{field}`: {}",
                self.request,
                self.text
            );
        }
        assert_eq!(
            body["status"],
            json!(status),
            "{}: problem `status` differs from HTTP status: {}",
            self.request,
            self.text
        );
        body
    }

    /// Asserts a 422 validation problem and returns the names of its failing fields.
    #[track_caller]
    pub fn invalid_fields(&self) -> Vec<String> {
        let body = self.problem(422);
        let errors = body["errors"].as_array().unwrap_or_else(|| {
            panic!(
                "{}: 422 without an `errors` array: {}",
                self.request, self.text
            )
        });
        assert!(
            !errors.is_empty(),
            "{}: 422 with an empty `errors` list",
            self.request
        );
        errors
            .iter()
            .map(|e| {
                assert!(
                    e["message"].is_string(),
                    "{}: error without a message: {e}",
                    self.request
                );
                e["field"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{}: error without a field: {e}", self.request))
                    .to_owned()
            })
            .collect()
    }

    /// Asserts a 422 whose failing fields include `field`.
    #[track_caller]
    pub fn invalid_field(&self, field: &str) {
        let fields = self.invalid_fields();
        assert!(
            fields.iter().any(|f| f == field),
            "{}: expected a validation error naming {field:?}, got fields {fields:?} ({})",
            self.request,
            self.text
        );
    }

    /// The `items` of a page or list answer (asserting 200).
    #[track_caller]
    pub fn items(&self) -> Vec<Value> {
        let body = self.expect(200);
        body["items"]
            .as_array()
            .unwrap_or_else(|| panic!("{}: no `items` array in {}", self.request, self.text))
            .clone()
    }
}

/// Sends a request and reads its answer; a transport failure is an `Err` naming `request`.
async fn send(builder: RequestBuilder, request: String) -> Result<Resp, String> {
    let response = builder
        .send()
        .await
        .map_err(|e| format!("{request} failed: {e}"))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| format!("{request}: reading the body failed: {e}"))?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok(Resp {
        status,
        headers,
        text,
        bytes: bytes.to_vec(),
        body,
        request,
    })
}

impl TestApp {
    // ----- raw requests -----

    /// A request to `base_url + path` (path from the root, e.g. `/healthz`).
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Resp {
        self.raw_with_client(&self.client, method, path, token, content_type, body)
            .await
    }

    /// [`TestApp::raw`] through another client (e.g. one bound to another local address).
    pub async fn raw_with_client(
        &self,
        client: &Client,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Resp {
        self.try_raw_with_client(client, method, path, token, content_type, body)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`TestApp::raw_with_client`] that reports a transport failure instead of panicking.
    pub async fn try_raw_with_client(
        &self,
        client: &Client,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<Resp, String> {
        let request = format!("{method} {path}");
        let mut builder = client.request(method, format!("{}{path}", self.base_url));
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        if let Some(content_type) = content_type {
            builder = builder.header("content-type", content_type);
        }
        if let Some(body) = body {
            builder = builder.body(body);
        }
        send(builder, request).await
    }

    /// POSTs an oversized JSON body (see [`TestApp::send_oversized`]).
    pub async fn post_oversized(&self, path: &str, token: Option<&str>, body: &Value) -> Resp {
        let bytes = body.to_string().into_bytes();
        self.send_oversized(Method::POST, path, token, "application/json", bytes)
            .await
    }

    /// Sends an oversized body to `API + path`. A server may answer 413 and close the
    /// connection before it has read the whole body, which can surface as a transport error
    /// on the client; such attempts are retried a few times. Each goes on a connection of its
    /// own, so that the closed one is not handed to the next request of the test.
    pub async fn send_oversized(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Resp {
        let mut errors = Vec::new();
        for _ in 0..5 {
            let client = Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .build()
                .expect("build a client");
            let result = self
                .try_raw_with_client(
                    &client,
                    method.clone(),
                    &format!("{API}{path}"),
                    token,
                    Some(content_type),
                    Some(bytes.clone()),
                )
                .await;
            match result {
                Ok(resp) => return resp,
                Err(e) => errors.push(e),
            }
        }
        panic!("no answer to an oversized {method} {path} in 5 attempts: {errors:?}");
    }

    /// A request with a raw `Authorization` header value.
    pub async fn with_authorization(
        &self,
        method: Method,
        path: &str,
        authorization: &str,
        body: Option<&Value>,
    ) -> Resp {
        let request = format!("{method} {API}{path}");
        let mut builder = self
            .client
            .request(method, format!("{}{API}{path}", self.base_url))
            .header("authorization", authorization);
        if let Some(body) = body {
            builder = builder
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        send(builder, request)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A login with extra request headers (a proxy's `X-Forwarded-For`, say).
    pub async fn login_with_headers(
        &self,
        email: &str,
        password: &str,
        headers: &[(&str, &str)],
    ) -> Resp {
        let path = format!("{API}/auth/token");
        let mut builder = self
            .client
            .post(format!("{}{path}", self.base_url))
            .header("content-type", "application/json")
            .body(json!({ "email": email, "password": password }).to_string());
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        send(builder, format!("POST {path}"))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// GET of a path from the root with extra request headers.
    pub async fn get_with_headers(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut builder = self.client.get(format!("{}{path}", self.base_url));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        send(builder, format!("GET {path} with {headers:?}"))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A POST of JSON to `API + path` with extra request headers.
    pub async fn post_json_with_headers(
        &self,
        path: &str,
        token: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Resp {
        let path = format!("{API}{path}");
        let mut builder = self
            .client
            .post(format!("{}{path}", self.base_url))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(body.to_string());
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        send(builder, format!("POST {path} with {headers:?}"))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// GET of a path from the root (`/healthz`, `/metrics`).
    pub async fn root_get(&self, path: &str) -> Resp {
        self.raw(Method::GET, path, None, None, None).await
    }

    /// Where the server's `/metrics` is: on its public address (a server of the test's own,
    /// which has no internal address), or, for an external server, at
    /// `MOVIEBOOK_TEST_METRICS_URL` when it serves them on an internal address.
    pub fn metrics_url(&self) -> String {
        let configured = std::env::var("MOVIEBOOK_TEST_METRICS_URL")
            .ok()
            .filter(|url| external_mode() && !url.trim().is_empty());
        configured.unwrap_or_else(|| format!("{}/metrics", self.base_url))
    }

    /// GET of the server's `/metrics` ([`TestApp::metrics_url`]).
    pub async fn metrics(&self) -> Resp {
        let url = self.metrics_url();
        send(self.client.get(&url), format!("GET {url}"))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    // ----- API requests (paths below /api/v1) -----

    /// An anonymous GET.
    pub async fn get(&self, path: &str) -> Resp {
        self.raw(Method::GET, &format!("{API}{path}"), None, None, None)
            .await
    }

    /// A GET with a bearer token (or none).
    pub async fn get_auth(&self, path: &str, token: Option<&str>) -> Resp {
        self.raw(Method::GET, &format!("{API}{path}"), token, None, None)
            .await
    }

    /// A POST of a JSON body.
    pub async fn post_json(&self, path: &str, token: Option<&str>, body: &Value) -> Resp {
        self.send_json(Method::POST, path, token, body).await
    }

    /// A PATCH with a JSON body.
    pub async fn patch_json(&self, path: &str, token: Option<&str>, body: &Value) -> Resp {
        self.send_json(Method::PATCH, path, token, body).await
    }

    /// A DELETE.
    pub async fn delete(&self, path: &str, token: Option<&str>) -> Resp {
        self.raw(Method::DELETE, &format!("{API}{path}"), token, None, None)
            .await
    }

    /// A request with a JSON body and `content-type: application/json`.
    pub async fn send_json(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Resp {
        self.raw(
            method,
            &format!("{API}{path}"),
            token,
            Some("application/json"),
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    /// A GET expected to answer 200, returning the body.
    pub async fn get_ok(&self, path: &str) -> Value {
        self.get(path).await.expect(200)
    }
}
