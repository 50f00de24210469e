//! Hot reads from memory: ready answers to public `GET` requests, kept in a cache bounded by
//! bytes and made stale by *tags* — names for what an answer was computed from ("movie X",
//! "the catalogue lists"). Events and writes bump tags; an answer is served only while every
//! tag it depends on is at the version it was before the answer was computed, so an answer
//! computed across a change is never served, however the two interleave.
//!
//! Which paths depend on which tags is the application's knowledge ([`CachePolicy`]); this
//! module owns the mechanism: the answers (moka, weighed in bytes, with a short time to live
//! as the safety net for an invalidation that never arrives), the tag versions (a fixed
//! array of atomic slots, a tag hashed to one: lock-free, no allocation, and a collision
//! only invalidates a little more than needed), and the middleware ([`serve_cached`]).
//!
//! Concurrent misses of one key are computed once: the first request leads, and the others
//! take its answer when they read the same tag versions it read before computing — so no
//! write acknowledged before a request arrived is missing from the answer it gets. The rest
//! (and all, if the leader gives no shareable answer or is dropped) compute their own.
//! An answer in the last quarter of its time to live is refreshed by the first request to
//! notice, while the others are still served it: under steady traffic a hot answer is
//! replaced before it expires, and its readers never all miss at once.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::Counter;
use tokio::sync::watch;
// Tokio's clock is the system's, except that tests can pause and move it.
use tokio::time::Instant;

use crate::ApiError;

/// How many tag slots there are: enough that unrelated tags rarely share one, small enough
/// (64 KiB) to stay in cache.
const SLOTS: usize = 4096;

/// Rough bytes an answer costs beyond its key and body (the entry, its headers, moka's
/// bookkeeping), so that many tiny answers still count against the capacity.
const ENTRY_OVERHEAD: usize = 256;

/// How long a request waits for another one computing the same answer before it computes
/// its own: far beyond a normal computation (milliseconds), so only a stuck leader is
/// given up on, and short enough that its waiters still answer within seconds.
const LONGEST_WAIT: Duration = Duration::from_secs(2);

/// What an answer depends on, hashed: see [`Tag::of`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tag(u64);

impl Tag {
    /// The tag named by `name`, e.g. `("movie", id)` or `"catalogue"`. The same name gives
    /// the same tag in every process (the hash has fixed keys).
    pub fn of(name: &impl Hash) -> Tag {
        let mut hasher = DefaultHasher::new();
        name.hash(&mut hasher);
        Tag(hasher.finish())
    }

    fn slot(self) -> usize {
        // SLOTS is a power of two: the low bits of a SipHash are as good as any.
        (self.0 as usize) & (SLOTS - 1)
    }
}

/// The application's knowledge of which answers depend on what.
pub trait CachePolicy: Send + Sync + 'static {
    /// The tags a `GET` of `path` depends on, or `None` when its answer is never cached.
    fn read_tags(&self, path: &str) -> Option<Vec<Tag>>;
    /// The tags a successful write to `path` makes stale at once (read-your-writes in the
    /// process that took the write).
    fn written_tags(&self, path: &str) -> Vec<Tag>;
}

/// How big the cache is and how long an answer may live.
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    /// The cache holds at most about this many bytes of answers.
    pub capacity_bytes: u64,
    /// An answer is dropped this long after it was computed, whatever happened: the bound
    /// on staleness should an invalidation be lost.
    pub time_to_live: Duration,
    /// After a tag is bumped, answers depending on it are not kept for this long.
    pub settle: Duration,
}

impl CacheSettings {
    /// The settings the deployments use, with this capacity.
    ///
    /// The settle window exists for the distributed deployment: a serving process learns of
    /// an event from its own queue at about the time the projector — on another queue —
    /// applies it to the read models, so an answer computed just after the bump may still
    /// show the old state; were it kept, it would stay until its time to live. For a second
    /// after a bump (projections apply in milliseconds), answers go to the store instead.
    /// The time to live stays under the API's 2-second bound for derived views.
    pub fn with_capacity(capacity_bytes: u64) -> Self {
        CacheSettings {
            capacity_bytes,
            time_to_live: Duration::from_millis(1000),
            settle: Duration::from_millis(1000),
        }
    }
}

/// A tag's version, and when it was last bumped.
#[derive(Default)]
struct Slot {
    version: AtomicU64,
    /// Milliseconds since the cache's start, plus one (zero: never bumped).
    bumped_at: AtomicU64,
}

/// A ready answer and the tag versions it was computed under.
struct Answer {
    headers: HeaderMap,
    body: Bytes,
    computed_under: Versions,
    /// When it was ready, just before it was kept (and moka's time to live began).
    ready_at: Instant,
    /// Set while one request computes its successor, so that the others keep being served
    /// this one rather than refreshing it too.
    refreshing: AtomicBool,
}

impl Answer {
    /// The answer as sent: its status is `200`, the only one kept or shared.
    fn response(&self) -> Response {
        let mut response = Response::new(Body::from(self.body.clone()));
        *response.headers_mut() = self.headers.clone();
        response
    }
}

/// The versions of an answer's tags (and of "everything"), read before it was computed.
#[derive(Clone, PartialEq, Eq)]
struct Versions {
    everything: u64,
    slots: Box<[(u16, u64)]>,
}

/// A request computing the answer for a key, which other misses of the key may wait for.
struct Flight {
    /// The versions the leader read before computing: a waiter must have read the same.
    computed_under: Versions,
    /// Becomes `Some` when the answer is ready; the channel closes without one when there
    /// is none to share (not a `200`, too large) or the leader was dropped.
    answer: watch::Receiver<Option<Arc<Answer>>>,
}

/// The leader's side of a flight. Dropping it — when the leader is done, or when its
/// request is dropped mid-way — takes the flight off the map and closes the channel, so
/// no waiter is left hanging.
struct Leading<'a> {
    cache: &'a ReadCache,
    key: String,
    flight: Arc<Flight>,
    answer: watch::Sender<Option<Arc<Answer>>>,
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        let mut flights = self.cache.flights();
        // A later leader, under newer versions, may have taken the key over.
        if flights
            .get(&self.key)
            .is_some_and(|flight| Arc::ptr_eq(flight, &self.flight))
        {
            flights.remove(&self.key);
        }
    }
}

/// A request's claim to refresh an answer. Dropped — the successor kept or not, or the
/// request itself dropped — it lets a later request try again should the answer still be
/// served.
struct Refresh(Arc<Answer>);

impl Drop for Refresh {
    fn drop(&mut self) {
        self.0.refreshing.store(false, Ordering::SeqCst);
    }
}

/// What a miss does about other requests computing the same key.
enum Turn<'a> {
    /// Another request computes the answer under the same versions: wait for it.
    Wait(watch::Receiver<Option<Arc<Answer>>>),
    /// Compute it, for the requests that come while it is computed too.
    Lead(Leading<'a>),
}

/// The cache of ready answers. One per process, shared by its middleware and its watcher.
pub struct ReadCache {
    answers: moka::sync::Cache<String, Arc<Answer>>,
    /// The misses being computed now, by key. Held for a map lookup at a time, never
    /// across an await.
    flights: Mutex<HashMap<String, Arc<Flight>>>,
    slots: Box<[Slot]>,
    /// Bumped to make every answer stale at once (after a watch restarted).
    everything: Slot,
    started: Instant,
    settle: Duration,
    /// An answer older than this is refreshed: the last quarter of its time to live,
    /// ample for one computation (milliseconds) to replace it before it expires.
    refresh_after: Duration,
    /// The largest body worth keeping: a tenth of the capacity, so one answer never
    /// pushes out most of the others.
    largest_body: u64,
    policy: Box<dyn CachePolicy>,
    hits: Counter,
    misses: Counter,
    shared: Counter,
    refreshes: Counter,
}

impl ReadCache {
    /// An empty cache with these settings, deciding what to keep by `policy`.
    pub fn new(settings: CacheSettings, policy: impl CachePolicy) -> Self {
        let answers = moka::sync::Cache::builder()
            .max_capacity(settings.capacity_bytes)
            .weigher(|key: &String, answer: &Arc<Answer>| {
                let bytes = key.len() + answer.body.len() + ENTRY_OVERHEAD;
                u32::try_from(bytes).unwrap_or(u32::MAX)
            })
            .time_to_live(settings.time_to_live)
            .build();
        ReadCache {
            answers,
            flights: Mutex::default(),
            slots: (0..SLOTS).map(|_| Slot::default()).collect(),
            everything: Slot::default(),
            started: Instant::now(),
            settle: settings.settle,
            refresh_after: settings.time_to_live - settings.time_to_live / 4,
            largest_body: settings.capacity_bytes / 10,
            policy: Box::new(policy),
            hits: metrics::counter!("moviebook_read_cache_total", "outcome" => "hit"),
            misses: metrics::counter!("moviebook_read_cache_total", "outcome" => "miss"),
            shared: metrics::counter!("moviebook_read_cache_total", "outcome" => "shared"),
            refreshes: metrics::counter!("moviebook_read_cache_total", "outcome" => "refresh"),
        }
    }

    /// Makes every answer depending on these tags stale, now and for the settle window.
    pub fn bump(&self, tags: &[Tag]) {
        let now = self.now_millis();
        for tag in tags {
            let slot = &self.slots[tag.slot()];
            slot.version.fetch_add(1, Ordering::SeqCst);
            slot.bumped_at.store(now, Ordering::SeqCst);
        }
    }

    /// Makes every answer stale, now and for the settle window.
    pub fn bump_everything(&self) {
        self.everything.version.fetch_add(1, Ordering::SeqCst);
        self.everything
            .bumped_at
            .store(self.now_millis(), Ordering::SeqCst);
        self.answers.invalidate_all();
    }

    /// The answer kept for `key`, if its tags have not moved since it was computed.
    fn fresh(&self, key: &str) -> Option<Arc<Answer>> {
        let answer = self.answers.get(key)?;
        self.unchanged(&answer.computed_under).then_some(answer)
    }

    /// A claim to refresh `answer`, when it is near its time to live and no other request
    /// refreshes it already.
    fn claim_refresh(&self, answer: &Arc<Answer>) -> Option<Refresh> {
        let due = answer.ready_at.elapsed() >= self.refresh_after;
        (due && !answer.refreshing.swap(true, Ordering::SeqCst)).then(|| Refresh(answer.clone()))
    }

    fn versions_of(&self, tags: &[Tag]) -> Versions {
        Versions {
            everything: self.everything.version.load(Ordering::SeqCst),
            slots: tags
                .iter()
                .map(|tag| {
                    let slot = tag.slot();
                    // SLOTS fits in u16.
                    (slot as u16, self.slots[slot].version.load(Ordering::SeqCst))
                })
                .collect(),
        }
    }

    /// True when no tag of `versions` (nor everything) moved since they were read.
    fn unchanged(&self, versions: &Versions) -> bool {
        self.everything.version.load(Ordering::SeqCst) == versions.everything
            && versions.slots.iter().all(|(slot, version)| {
                self.slots[usize::from(*slot)]
                    .version
                    .load(Ordering::SeqCst)
                    == *version
            })
    }

    /// True when an answer computed under `versions` may be kept: nothing it depends on
    /// moved while it was computed, nor settles still.
    fn may_keep(&self, versions: &Versions) -> bool {
        if !self.unchanged(versions) {
            return false;
        }
        let settle = u64::try_from(self.settle.as_millis()).unwrap_or(u64::MAX);
        let now = self.now_millis();
        let settling = |slot: &Slot| {
            let bumped_at = slot.bumped_at.load(Ordering::SeqCst);
            bumped_at != 0 && now.saturating_sub(bumped_at) < settle
        };
        !settling(&self.everything)
            && !versions
                .slots
                .iter()
                .any(|(slot, _)| settling(&self.slots[usize::from(*slot)]))
    }

    /// Joins the flight computing `key` under these versions, or starts one. A flight under
    /// other versions began before a bump this request may have to see: the new one takes
    /// the key over, since requests to come read the newer versions too.
    fn join(&self, key: &str, versions: &Versions) -> Turn<'_> {
        let mut flights = self.flights();
        if let Some(flight) = flights.get(key)
            && flight.computed_under == *versions
        {
            return Turn::Wait(flight.answer.clone());
        }
        let (sender, receiver) = watch::channel(None);
        let flight = Arc::new(Flight {
            computed_under: versions.clone(),
            answer: receiver,
        });
        flights.insert(key.to_owned(), flight.clone());
        Turn::Lead(Leading {
            cache: self,
            key: key.to_owned(),
            flight,
            answer: sender,
        })
    }

    fn flights(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Flight>>> {
        // Nothing panics while the lock is held; were it poisoned, the map is still whole.
        self.flights.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now_millis(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }
}

/// The middleware: answers a public `GET` from the cache when it can, keeps a fresh `200`
/// for the next one, and after a successful write bumps the tags of the written path.
/// `GET`s with an `Authorization` header or a cookie pass through: their answers may depend
/// on who asks.
pub async fn serve_cached(
    State(cache): State<Arc<ReadCache>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    if method == Method::GET {
        let personal = request.headers().contains_key(header::AUTHORIZATION)
            || request.headers().contains_key(header::COOKIE);
        if personal {
            return next.run(request).await;
        }
        return read(&cache, request, next).await;
    }
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let writes = matches!(
        method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if writes && response.status().is_success() {
        cache.bump(&cache.policy.written_tags(&path));
    }
    response
}

async fn read(cache: &ReadCache, request: Request, next: Next) -> Response {
    let key = request
        .uri()
        .path_and_query()
        .map_or_else(|| request.uri().path(), |p| p.as_str());
    let mut refresh = None;
    if let Some(answer) = cache.fresh(key) {
        refresh = cache.claim_refresh(&answer);
        if refresh.is_none() {
            cache.hits.increment(1);
            return answer.response();
        }
    }
    let Some(tags) = cache.policy.read_tags(request.uri().path()) else {
        return next.run(request).await;
    };
    let key = key.to_owned();
    let versions = cache.versions_of(&tags);
    let leading = match cache.join(&key, &versions) {
        Turn::Lead(leading) => Some(leading),
        Turn::Wait(answer) => {
            if let Some(answer) = wait(answer).await {
                cache.shared.increment(1);
                return answer.response();
            }
            // The leader gave none to share, or not in time: compute one alone.
            None
        }
    };
    if refresh.is_some() {
        cache.refreshes.increment(1);
    } else {
        cache.misses.increment(1);
    }
    let response = next.run(request).await;
    let small_enough = axum::body::HttpBody::size_hint(response.body())
        .upper()
        .is_some_and(|size| size <= cache.largest_body);
    if response.status() != StatusCode::OK || !small_enough {
        return response;
    }
    let (parts, body) = response.into_parts();
    let limit = usize::try_from(cache.largest_body).unwrap_or(usize::MAX);
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(body) => body,
        Err(error) => {
            return ApiError::unavailable(
                "the server could not read its answer",
                format!("reading an answer: {error}"),
            )
            .into_response();
        }
    };
    let mut headers = parts.headers.clone();
    // Framing and date belong to each answer on the wire, set again by the server (a
    // forwarded answer brings the service's).
    headers.remove(header::CONTENT_LENGTH);
    headers.remove(header::TRANSFER_ENCODING);
    headers.remove(header::DATE);
    let answer = Arc::new(Answer {
        headers,
        body: body.clone(),
        computed_under: versions,
        ready_at: Instant::now(),
        refreshing: AtomicBool::new(false),
    });
    // Shared even when it may not be kept: each waiter read, on arrival, the versions this
    // answer was begun under, so no write acknowledged before it arrived is missing.
    if let Some(leading) = &leading {
        leading.answer.send_replace(Some(answer.clone()));
    }
    // Checked after the body was read: a bump meanwhile makes the answer stale already.
    if cache.may_keep(&answer.computed_under) {
        cache.answers.insert(key, answer);
    }
    // The flight ends once the answer is kept, so a request arriving meanwhile finds the
    // one or the other and does not compute it again; the refresh claim too, so no other
    // request refreshes the old answer meanwhile.
    drop(leading);
    drop(refresh);
    Response::from_parts(parts, Body::from(body))
}

/// The answer of the flight's leader, or `None` when it gives none to share or takes longer
/// than [`LONGEST_WAIT`].
async fn wait(mut answer: watch::Receiver<Option<Arc<Answer>>>) -> Option<Arc<Answer>> {
    match tokio::time::timeout(LONGEST_WAIT, answer.wait_for(Option::is_some)).await {
        Ok(Ok(ready)) => ready.clone(),
        // Closed without an answer, or not ready in time.
        Ok(Err(_)) | Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use axum::Router;
    use axum::http::HeaderValue;
    use axum::routing::get;
    use tokio::sync::Notify;
    use tokio::task::JoinHandle;
    use tower::ServiceExt;

    use super::*;

    /// Everything under /things/{id} depends on "thing {id}"; /uncached is never kept.
    struct Things;

    impl CachePolicy for Things {
        fn read_tags(&self, path: &str) -> Option<Vec<Tag>> {
            let id = path.strip_prefix("/things/")?;
            Some(vec![Tag::of(&("thing", id.split('/').next()?))])
        }
        fn written_tags(&self, path: &str) -> Vec<Tag> {
            self.read_tags(path).unwrap_or_default()
        }
    }

    fn thing(id: &str) -> Tag {
        Tag::of(&("thing", id))
    }

    fn settings() -> CacheSettings {
        CacheSettings {
            capacity_bytes: 1 << 20,
            time_to_live: Duration::from_secs(60),
            settle: Duration::ZERO,
        }
    }

    /// A router whose handlers count their calls and answer with the count.
    struct Fixture {
        cache: Arc<ReadCache>,
        calls: Arc<AtomicUsize>,
        router: Router,
    }

    fn fixture(settings: CacheSettings) -> Fixture {
        fixture_with(settings, Arc::new(Notify::new()), false)
    }

    /// With `hold`, the handler waits for `release` before answering.
    fn fixture_with(settings: CacheSettings, release: Arc<Notify>, hold: bool) -> Fixture {
        let cache = Arc::new(ReadCache::new(settings, Things));
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let answer = move || {
            let counted = counted.clone();
            let release = release.clone();
            async move {
                if hold {
                    release.notified().await;
                }
                let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
                (
                    [
                        (header::CONTENT_TYPE, "application/json"),
                        (header::ETAG, "\"e\""),
                    ],
                    format!("{{\"call\":{n}}}"),
                )
            }
        };
        let missing = || async { (StatusCode::NOT_FOUND, "gone") };
        let written = || async { StatusCode::NO_CONTENT };
        let refused = || async { StatusCode::FORBIDDEN };
        let router = Router::new()
            .route("/things/{id}", get(answer.clone()).delete(written))
            .route("/things/{id}/refused", axum::routing::post(refused))
            .route("/uncached", get(answer))
            .route("/missing/{id}", get(missing))
            .layer(axum::middleware::from_fn_with_state(
                cache.clone(),
                serve_cached,
            ));
        Fixture {
            cache,
            calls,
            router,
        }
    }

    impl Fixture {
        async fn send(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> Response {
            let mut request = Request::builder().method(method).uri(path);
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            self.router
                .clone()
                .oneshot(request.body(Body::empty()).unwrap())
                .await
                .unwrap()
        }

        /// The body of a GET.
        async fn get(&self, path: &str) -> String {
            body(self.send(Method::GET, path, &[]).await).await
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }

        /// A GET of `path` on a task of its own, answering with the body.
        fn spawn_get(self: &Arc<Self>, path: &'static str) -> JoinHandle<String> {
            let app = self.clone();
            tokio::spawn(async move { app.get(path).await })
        }
    }

    /// Lets every spawned task run until it waits. In tests that pause time, the clock then
    /// moves only as far as this sleep.
    async fn idle() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    /// The body a spawned GET answered with; a request left hanging fails the test (time is
    /// paused, so the bound costs nothing).
    async fn answered(request: JoinHandle<String>) -> String {
        tokio::time::timeout(Duration::from_secs(60), request)
            .await
            .expect("the request hangs")
            .unwrap()
    }

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_repeated_get_is_answered_from_memory_with_the_same_status_headers_and_body() {
        let app = fixture(settings());
        let first = app.send(Method::GET, "/things/1?x=1", &[]).await;
        let first_headers = first.headers().clone();
        assert_eq!(body(first).await, "{\"call\":1}");
        let second = app.send(Method::GET, "/things/1?x=1", &[]).await;
        assert_eq!(second.status(), StatusCode::OK);
        assert_eq!(
            second.headers().get(header::CONTENT_TYPE),
            Some(&HeaderValue::from_static("application/json"))
        );
        assert_eq!(
            second.headers().get(header::ETAG),
            first_headers.get(header::ETAG)
        );
        assert_eq!(body(second).await, "{\"call\":1}");
        assert_eq!(app.calls(), 1);
    }

    #[tokio::test]
    async fn other_queries_other_paths_and_uncached_paths_are_misses() {
        let app = fixture(settings());
        app.get("/things/1?x=1").await;
        assert_eq!(app.get("/things/1?x=2").await, "{\"call\":2}");
        assert_eq!(app.get("/things/2").await, "{\"call\":3}");
        app.get("/uncached").await;
        assert_eq!(app.get("/uncached").await, "{\"call\":5}");
    }

    #[tokio::test]
    async fn only_200_answers_are_kept() {
        let app = fixture(settings());
        assert_eq!(
            app.send(Method::GET, "/missing/1", &[]).await.status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(app.cache.answers.iter().count(), 0);
    }

    #[tokio::test]
    async fn a_bumped_tag_makes_its_answers_stale_and_no_other() {
        let app = fixture(settings());
        app.get("/things/1").await;
        app.get("/things/2").await;
        app.cache.bump(&[thing("1")]);
        assert_eq!(app.get("/things/1").await, "{\"call\":3}");
        assert_eq!(app.get("/things/2").await, "{\"call\":2}");
        app.cache.bump_everything();
        assert_eq!(app.get("/things/2").await, "{\"call\":4}");
    }

    #[tokio::test]
    async fn an_answer_computed_across_a_bump_is_never_served() {
        let release = Arc::new(Notify::new());
        let app = Arc::new(fixture_with(settings(), release.clone(), true));
        let computing = tokio::spawn({
            let app = app.clone();
            async move { app.get("/things/1").await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The change lands while the answer is being computed from the old state.
        app.cache.bump(&[thing("1")]);
        release.notify_one();
        assert_eq!(computing.await.unwrap(), "{\"call\":1}");
        let next = tokio::spawn({
            let app = app.clone();
            async move { app.get("/things/1").await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        release.notify_one();
        assert_eq!(
            next.await.unwrap(),
            "{\"call\":2}",
            "the stale answer was served"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_misses_of_one_key_are_computed_once_and_all_get_the_answer() {
        let release = Arc::new(Notify::new());
        let app = Arc::new(fixture_with(settings(), release.clone(), true));
        let requests: Vec<_> = (0..8).map(|_| app.spawn_get("/things/1")).collect();
        idle().await;
        // Every request that reached the handler is let go: were the misses not coalesced,
        // each would answer with a call of its own.
        release.notify_waiters();
        for request in requests {
            assert_eq!(answered(request).await, "{\"call\":1}");
        }
        assert_eq!(app.calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_miss_after_a_bump_does_not_take_the_answer_begun_before_it() {
        let release = Arc::new(Notify::new());
        let app = Arc::new(fixture_with(settings(), release.clone(), true));
        let before = app.spawn_get("/things/1");
        idle().await;
        // A write acknowledged now must show in every answer to a request that comes after.
        app.cache.bump(&[thing("1")]);
        let after = app.spawn_get("/things/1");
        idle().await;
        release.notify_one();
        assert_eq!(answered(before).await, "{\"call\":1}");
        idle().await;
        release.notify_one();
        assert_eq!(answered(after).await, "{\"call\":2}");
        assert_eq!(app.calls(), 2);
        assert_eq!(
            answered(app.spawn_get("/things/1")).await,
            "{\"call\":2}",
            "the later one is kept"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_of_a_dropped_leader_compute_their_own_answers_at_once() {
        let release = Arc::new(Notify::new());
        let app = Arc::new(fixture_with(settings(), release.clone(), true));
        let started = tokio::time::Instant::now();
        let leader = app.spawn_get("/things/1");
        idle().await;
        let waiters: Vec<_> = (0..3).map(|_| app.spawn_get("/things/1")).collect();
        idle().await;
        // The leader's client went away: its future is dropped mid-computation.
        leader.abort();
        idle().await;
        release.notify_waiters();
        let mut bodies = Vec::new();
        for waiter in waiters {
            bodies.push(answered(waiter).await);
        }
        bodies.sort();
        assert_eq!(bodies, ["{\"call\":1}", "{\"call\":2}", "{\"call\":3}"]);
        assert!(
            started.elapsed() < LONGEST_WAIT,
            "the waiters waited out the bound instead"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_give_up_on_a_leader_slower_than_the_longest_wait() {
        let release = Arc::new(Notify::new());
        let app = Arc::new(fixture_with(settings(), release.clone(), true));
        let leader = app.spawn_get("/things/1");
        idle().await;
        let waiter = app.spawn_get("/things/1");
        tokio::time::sleep(LONGEST_WAIT + Duration::from_millis(10)).await;
        release.notify_waiters();
        let mut bodies = [answered(leader).await, answered(waiter).await];
        bodies.sort();
        assert_eq!(bodies, ["{\"call\":1}", "{\"call\":2}"]);
    }

    #[tokio::test(start_paused = true)]
    async fn near_its_time_to_live_one_request_refreshes_an_answer_while_the_others_are_served_it()
    {
        let release = Arc::new(Notify::new());
        let app = Arc::new(fixture_with(settings(), release.clone(), true));
        let first = app.spawn_get("/things/1");
        idle().await;
        release.notify_one();
        assert_eq!(answered(first).await, "{\"call\":1}");
        // Of 60 s to live, 40 s passed: not due yet (a refresh would wait in the handler).
        tokio::time::advance(Duration::from_secs(40)).await;
        assert_eq!(answered(app.spawn_get("/things/1")).await, "{\"call\":1}");
        // 46 s: in the last quarter.
        tokio::time::advance(Duration::from_secs(6)).await;
        let requests: Vec<_> = (0..8).map(|_| app.spawn_get("/things/1")).collect();
        idle().await;
        let (served, mut refreshing): (Vec<_>, Vec<_>) =
            requests.into_iter().partition(JoinHandle::is_finished);
        assert_eq!(refreshing.len(), 1, "requests computing a new answer");
        for request in served {
            assert_eq!(answered(request).await, "{\"call\":1}");
        }
        release.notify_one();
        assert_eq!(answered(refreshing.remove(0)).await, "{\"call\":2}");
        // The new answer is kept, and lives from its own computation on.
        tokio::time::advance(Duration::from_secs(40)).await;
        assert_eq!(answered(app.spawn_get("/things/1")).await, "{\"call\":2}");
        assert_eq!(app.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refresh_whose_request_is_dropped_is_taken_up_by_the_next_request() {
        let release = Arc::new(Notify::new());
        let app = Arc::new(fixture_with(settings(), release.clone(), true));
        let first = app.spawn_get("/things/1");
        idle().await;
        release.notify_one();
        answered(first).await;
        tokio::time::advance(Duration::from_secs(46)).await;
        let dropped = app.spawn_get("/things/1");
        idle().await;
        assert!(
            !dropped.is_finished(),
            "the first request near expiry refreshes"
        );
        dropped.abort();
        idle().await;
        let next = app.spawn_get("/things/1");
        idle().await;
        assert!(
            !next.is_finished(),
            "the next request refreshes in its stead"
        );
        release.notify_one();
        assert_eq!(answered(next).await, "{\"call\":2}");
    }

    #[tokio::test]
    async fn a_refreshed_answer_outlives_the_one_it_replaced() {
        // On the system's clock, which moka's time to live follows: 2 s to live, refreshed
        // from 1.5 s on. Sleeps only ever overshoot; these have 0.9 s to spare.
        let app = fixture(CacheSettings {
            time_to_live: Duration::from_secs(2),
            ..settings()
        });
        app.get("/things/1").await;
        tokio::time::sleep(Duration::from_millis(1600)).await;
        assert_eq!(app.get("/things/1").await, "{\"call\":2}");
        // Past the first answer's time to live, early in the second's.
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(app.get("/things/1").await, "{\"call\":2}");
    }

    #[tokio::test]
    async fn answers_are_not_kept_while_a_bump_settles() {
        let app = fixture(CacheSettings {
            settle: Duration::from_millis(300),
            ..settings()
        });
        app.cache.bump(&[thing("1")]);
        app.get("/things/1").await;
        app.get("/things/2").await;
        assert_eq!(
            app.get("/things/1").await,
            "{\"call\":3}",
            "kept while settling"
        );
        assert_eq!(
            app.get("/things/2").await,
            "{\"call\":2}",
            "other tags are not held up"
        );
        tokio::time::sleep(Duration::from_millis(350)).await;
        app.get("/things/1").await;
        assert_eq!(app.get("/things/1").await, "{\"call\":4}");
    }

    #[tokio::test]
    async fn answers_expire_after_their_time_to_live() {
        let app = fixture(CacheSettings {
            time_to_live: Duration::from_millis(200),
            ..settings()
        });
        app.get("/things/1").await;
        assert_eq!(app.get("/things/1").await, "{\"call\":1}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(app.get("/things/1").await, "{\"call\":2}");
    }

    #[tokio::test]
    async fn the_cache_holds_about_its_capacity_in_bytes() {
        let capacity = 20 * 1024;
        let app = fixture(CacheSettings {
            capacity_bytes: capacity,
            ..settings()
        });
        for id in 0..1000 {
            app.get(&format!("/things/{id}")).await;
        }
        app.cache.answers.run_pending_tasks();
        let held = app.cache.answers.weighted_size();
        assert!(held <= capacity, "{held} bytes held, capacity {capacity}");
        assert!(held > capacity / 2, "only {held} bytes held");
        assert!(app.cache.answers.entry_count() < 1000);
    }

    #[tokio::test]
    async fn requests_that_may_depend_on_the_viewer_pass_through() {
        let app = fixture(settings());
        app.get("/things/1").await;
        for personal in [("authorization", "Bearer t"), ("cookie", "session=s")] {
            let response = app.send(Method::GET, "/things/1", &[personal]).await;
            assert_ne!(body(response).await, "{\"call\":1}", "{personal:?}");
        }
        assert_eq!(app.calls(), 3);
        assert_eq!(app.get("/things/1").await, "{\"call\":1}");
    }

    #[tokio::test]
    async fn a_successful_write_bumps_the_written_paths_tags_and_a_refused_one_does_not() {
        let app = fixture(settings());
        app.get("/things/1").await;
        app.send(Method::POST, "/things/1/refused", &[]).await;
        assert_eq!(app.get("/things/1").await, "{\"call\":1}");
        let deleted = app.send(Method::DELETE, "/things/1", &[]).await;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        assert_eq!(app.get("/things/1").await, "{\"call\":2}");
    }
}
