//! The HTTP server's connections: how many are open at once, how long a client has to send a
//! request's headers, how long a kept-alive connection may stay idle, and how long a graceful
//! shutdown waits. `axum::serve` sets none of these (a client that sent part of its headers
//! and waited was still connected after 65 s, and 5,000 such clients were all held), so this
//! is its loop with hyper-util's connection builder, configured.
//!
//! hyper times the headers of HTTP/1 requests itself (`header_read_timeout`, which starts
//! when it begins waiting for a request, so it also bounds an HTTP/1 connection waiting for
//! its next one). What hyper leaves open is watched here per connection: a connection that
//! never completes a request (stuck before hyper knows HTTP/1 from HTTP/2, or an HTTP/2
//! client that sends no request) is dropped after the header timeout, and one with no request
//! in flight for the idle timeout is closed gracefully (HTTP/2 included, whose streams hyper
//! never times out).
//!
//! At the connection cap a new connection takes the place of the one that has been quiet the
//! longest (no request in flight: a kept-alive connection between requests, or one still to
//! send its first), as nginx reuses kept-alive connections when it runs out: so a client that
//! opens thousands of connections and sends nothing only ever displaces its own, and a client
//! that sends its request at once is served at once. Only when every place has a request in
//! flight does a new connection wait, in the kernel's listen queue.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// The connection limits of the HTTP server (API.md, "Running").
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Time to send a request's headers; also the time to send a first request at all.
    pub header_timeout: Duration,
    /// Time a connection may stay open without a request in flight.
    pub idle_timeout: Duration,
    /// Connections open at once; past it a new one takes a quiet connection's place, or waits
    /// in the listen queue while every place has a request in flight.
    pub max_connections: usize,
    /// Time a graceful shutdown waits for the requests in flight.
    pub shutdown_deadline: Duration,
}

/// Serves `router` on `listener` until `shutdown` is cancelled; then stops accepting, lets
/// the requests in flight finish for at most the shutdown deadline, and stops the rest.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let places = Arc::new(Semaphore::new(limits.max_connections));
    let open = Arc::new(OpenConnections::default());
    let connections = TaskTracker::new();
    let abandon = CancellationToken::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    pause_after_accept_error(error).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let permit = match places.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                open.displace_the_quietest();
                tokio::select! {
                    permit = places.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        // Never closed; stop serving rather than spin if it ever were.
                        Err(_) => break,
                    },
                    () = shutdown.cancelled() => break,
                }
            }
        };
        let (activity, watched) = watch::channel(Activity {
            asked: false,
            in_flight: 0,
            quiet_since: Instant::now(),
        });
        let displaced = CancellationToken::new();
        let place = open.take(permit, watched.clone(), displaced.clone());
        let connection = Connection {
            router: router.clone(),
            peer,
            limits,
            shutdown: shutdown.clone(),
            abandon: abandon.clone(),
            displaced,
            activity,
            watched,
            _place: place,
        };
        connections.spawn(connection.serve(stream));
    }
    drop(listener);
    connections.close();
    let finished = tokio::time::timeout(limits.shutdown_deadline, connections.wait()).await;
    if finished.is_err() {
        tracing::warn!(
            connections = connections.len(),
            deadline_ms = limits.shutdown_deadline.as_millis(),
            "the shutdown deadline passed: closing the connections still open, with their requests"
        );
        abandon.cancel();
        connections.wait().await;
    }
}

/// After a failed accept: connection errors concern that client only; anything else (out of
/// file descriptors) would fail again at once, so wait a moment.
async fn pause_after_accept_error(error: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// What a connection's requests are doing, as its watcher sees it.
#[derive(Debug, Clone, Copy)]
struct Activity {
    /// A request was received in full (hyper called the service).
    asked: bool,
    /// Requests being answered.
    in_flight: usize,
    /// When the connection was opened or its last request answered.
    quiet_since: Instant,
}

/// The connections open, each with what its requests are doing and the token that asks it to
/// give up its place.
#[derive(Default)]
struct OpenConnections {
    by_id: Mutex<(u64, HashMap<u64, OpenConnection>)>,
}

struct OpenConnection {
    activity: watch::Receiver<Activity>,
    displaced: CancellationToken,
}

impl OpenConnections {
    fn take(
        self: &Arc<Self>,
        permit: OwnedSemaphorePermit,
        activity: watch::Receiver<Activity>,
        displaced: CancellationToken,
    ) -> Place {
        let mut guard = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        let (next_id, by_id) = &mut *guard;
        let id = *next_id;
        *next_id += 1;
        by_id.insert(
            id,
            OpenConnection {
                activity,
                displaced,
            },
        );
        Place {
            open: self.clone(),
            id,
            _permit: permit,
        }
    }

    /// Asks the connection quiet the longest, with no request in flight, to close; none if
    /// every connection has a request in flight (then a new one waits for a place).
    fn displace_the_quietest(&self) {
        let guard = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        let quietest = guard
            .1
            .values()
            .filter(|open| !open.displaced.is_cancelled())
            .filter_map(|open| {
                let activity = *open.activity.borrow();
                (activity.in_flight == 0).then_some((activity.quiet_since, &open.displaced))
            })
            .min_by_key(|(quiet_since, _)| *quiet_since);
        if let Some((_, displaced)) = quietest {
            displaced.cancel();
        }
    }
}

/// A connection's place among the open ones: given back when the connection ends.
struct Place {
    open: Arc<OpenConnections>,
    id: u64,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut guard = self
            .open
            .by_id
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        guard.1.remove(&self.id);
    }
}

/// Counts one request in flight for as long as it lives.
struct InFlight(Arc<watch::Sender<Activity>>);

impl InFlight {
    fn start(activity: &Arc<watch::Sender<Activity>>) -> Self {
        activity.send_modify(|a| {
            a.asked = true;
            a.in_flight += 1;
        });
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.send_modify(|a| {
            a.in_flight = a.in_flight.saturating_sub(1);
            a.quiet_since = Instant::now();
        });
    }
}

/// One accepted connection and what it needs.
struct Connection {
    router: Router,
    peer: SocketAddr,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
    /// Cancelled when the shutdown deadline passed: drop the connection at once.
    abandon: CancellationToken,
    /// Cancelled when a new connection takes this one's place (it had no request in flight).
    displaced: CancellationToken,
    activity: watch::Sender<Activity>,
    watched: watch::Receiver<Activity>,
    /// Frees the connection's place when it is dropped.
    _place: Place,
}

impl Connection {
    async fn serve(self, stream: TcpStream) {
        let activity = Arc::new(self.activity);
        let mut watched = self.watched;
        let (router, peer) = (self.router, self.peer);
        let service = tower::service_fn(move |request: hyper::Request<Incoming>| {
            let mut request: Request = request.map(Body::new);
            // What axum::serve's connect-info service adds: handlers read the client's address.
            request.extensions_mut().insert(ConnectInfo(peer));
            let in_flight = InFlight::start(&activity);
            let answer = router.clone().oneshot(request);
            async move {
                let response = answer.await;
                drop(in_flight);
                response
            }
        });
        let service = TowerToHyperService::new(service);

        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout);
        builder.http2().timer(TokioTimer::new());
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
        tokio::pin!(connection);

        let mut closing = false;
        loop {
            let now = *watched.borrow_and_update();
            let quiet_until = (now.in_flight == 0).then(|| {
                let allowed = if now.asked {
                    self.limits.idle_timeout
                } else {
                    self.limits.header_timeout
                };
                now.quiet_since + allowed
            });
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(error) = served {
                        tracing::debug!(%error, peer = %self.peer, "connection ended with an error");
                    }
                    return;
                }
                () = self.shutdown.cancelled(), if !closing => {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
                () = self.abandon.cancelled() => return,
                () = self.displaced.cancelled(), if !closing => {
                    if !now.asked {
                        tracing::debug!(peer = %self.peer, "a new connection took the place of one that sent no request");
                        return;
                    }
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
                changed = watched.changed() => {
                    // The sender lives in the service, which lives as long as the connection.
                    if changed.is_err() {
                        return;
                    }
                }
                () = tokio::time::sleep_until(quiet_until.unwrap_or_else(Instant::now)),
                    if quiet_until.is_some() && !closing =>
                {
                    if !now.asked {
                        tracing::debug!(peer = %self.peer, "no request within the header timeout: connection dropped");
                        return;
                    }
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}
