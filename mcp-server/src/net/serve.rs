//! `HttpServer`: serves a poem endpoint over TCP, holding every connection to
//! [`ConnectionLimits`].
//!
//! poem's own `Server` sets no header read timeout and no connection cap, and retries a failed
//! `accept` at once: a client that never finishes its headers held its connection forever, and
//! out of file descriptors the accept loop spun a core. This loop drives hyper itself:
//! - headers must arrive within `header_read` (hyper's timer), which also ends idle keep-alive
//!   connections;
//! - a connection with no request being handled and no byte moving for `idle` is dropped;
//! - at `max_connections` nothing more is accepted until a connection closes (the kernel's
//!   backlog holds the rest), and a failed `accept` (`EMFILE`) backs off instead of spinning;
//! - on shutdown, open requests get the grace period to finish.

use std::{
    convert::Infallible,
    io,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use poem::{Endpoint, EndpointExt as _, IntoEndpoint, Response, endpoint::BoxEndpoint};
use tokio::{net::TcpStream, sync::Semaphore};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{
    ConnectionLimits,
    activity::{Activity, TrackedBody, Watched, peer_gone},
};

/// The longest wait before `accept` is tried again after it failed.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);
/// The most headers hyper reads in one request head.
const MAX_HEADERS: usize = 256;
/// How long connections still open after the grace period get before they are dropped.
const FINAL_WAIT: Duration = Duration::from_secs(1);

/// A bound listener, not yet serving.
pub struct HttpServer {
    listener: tokio::net::TcpListener,
    limits: ConnectionLimits,
}

impl HttpServer {
    pub async fn bind(addr: SocketAddr, limits: ConnectionLimits) -> io::Result<Self> {
        Ok(Self {
            listener: tokio::net::TcpListener::bind(addr).await?,
            limits,
        })
    }

    /// Where the server listens (port 0 resolved).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves `endpoint` until `shutdown` is cancelled; then open requests get `grace` to
    /// finish.
    pub async fn serve(
        self,
        endpoint: impl IntoEndpoint<Endpoint: 'static>,
        shutdown: CancellationToken,
        grace: Duration,
    ) -> io::Result<()> {
        let endpoint: Arc<BoxEndpoint<'static, Response>> =
            Arc::new(endpoint.into_endpoint().map_to_response().boxed());
        let local = self.local_addr()?;
        let slots = Arc::new(Semaphore::new(self.limits.max_connections));
        let connections = TaskTracker::new();
        let hard_stop = CancellationToken::new();
        let mut backoff = Backoff::default();
        loop {
            let slot = tokio::select! {
                () = shutdown.cancelled() => break,
                slot = slots.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break,
                },
            };
            let accepted = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = self.listener.accept() => accepted,
            };
            let (stream, remote) = match accepted {
                Ok(accepted) => {
                    backoff.reset();
                    accepted
                }
                Err(err) if is_per_connection(&err) => continue,
                Err(err) => {
                    backoff.wait(&err, &shutdown).await;
                    continue;
                }
            };
            let connection = Connection {
                endpoint: endpoint.clone(),
                limits: self.limits,
                local,
                remote,
                shutdown: shutdown.clone(),
                hard_stop: hard_stop.clone(),
            };
            connections.spawn(async move {
                connection.serve(stream).await;
                drop(slot);
            });
        }
        drop(self.listener);
        connections.close();
        if tokio::time::timeout(grace, connections.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                open = connections.len(),
                "connections still open after the grace period; closing them"
            );
            hard_stop.cancel();
            let _ = tokio::time::timeout(FINAL_WAIT, connections.wait()).await;
        }
        Ok(())
    }
}

/// Errors of `accept` that concern one connection only: try the next at once.
fn is_per_connection(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Waiting after a failed `accept` (out of file descriptors, most often): 10 ms, doubling to
/// a second, with one log line per second at most.
#[derive(Default)]
struct Backoff {
    delay: Option<Duration>,
    logged: Option<Instant>,
}

impl Backoff {
    fn reset(&mut self) {
        self.delay = None;
    }

    async fn wait(&mut self, err: &io::Error, shutdown: &CancellationToken) {
        let delay = self
            .delay
            .map_or(Duration::from_millis(10), |delay| delay * 2)
            .min(MAX_ACCEPT_BACKOFF);
        self.delay = Some(delay);
        if self
            .logged
            .is_none_or(|logged| logged.elapsed() >= Duration::from_secs(1))
        {
            self.logged = Some(Instant::now());
            tracing::warn!(error = %err, retry_in_ms = delay.as_millis() as u64, "accepting a connection failed");
        }
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// One accepted connection and what it is served with.
struct Connection {
    endpoint: Arc<BoxEndpoint<'static, Response>>,
    limits: ConnectionLimits,
    local: SocketAddr,
    remote: SocketAddr,
    shutdown: CancellationToken,
    hard_stop: CancellationToken,
}

impl Connection {
    async fn serve(self, stream: TcpStream) {
        if let Err(err) = stream.set_nodelay(true) {
            // The connection still works, only with delayed small writes.
            tracing::debug!(error = %err, "could not set TCP_NODELAY");
        }
        let activity = Activity::new();
        let stream = Arc::new(stream);
        let io = TokioIo::new(Watched {
            stream: stream.clone(),
            activity: activity.clone(),
        });
        let service = {
            let activity = activity.clone();
            let endpoint = self.endpoint.clone();
            let (local, remote) = (self.local, self.remote);
            hyper::service::service_fn(move |req: http::Request<Incoming>| {
                let handling = activity.handler();
                let activity = activity.clone();
                let endpoint = endpoint.clone();
                let stream = stream.clone();
                async move {
                    let req = poem::Request::from((
                        req,
                        poem::web::LocalAddr(local.into()),
                        poem::web::RemoteAddr(remote.into()),
                        http::uri::Scheme::HTTP,
                    ));
                    // hyper does not read while a handler runs, so it would not notice a
                    // client that left: a handler that waits long (a chat answered as one
                    // JSON reply) is dropped, and its work stopped, when the peer goes.
                    let response = tokio::select! {
                        response = endpoint.get_response(req) => response,
                        () = peer_gone(&stream) => {
                            tracing::debug!(%remote, "the client left before its answer");
                            poem::Response::builder()
                                .status(http::StatusCode::BAD_REQUEST)
                                .finish()
                        }
                    };
                    let sending = activity.body();
                    drop(handling);
                    let response = http::Response::from(response).map(|inner| TrackedBody {
                        inner,
                        _sending: sending,
                    });
                    Ok::<_, Infallible>(response)
                }
            })
        };
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read)
            // Room above the host's own limit of 100, so that it, not hyper (whose refusal has
            // no body), answers a request with too many headers.
            .max_headers(MAX_HEADERS);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(self.limits.idle / 2)
            .keep_alive_timeout(self.limits.header_read);
        let connection = builder.serve_connection_with_upgrades(io, service);
        tokio::pin!(connection);
        let mut stopping = false;
        loop {
            let idle_check = activity.time_left(&self.limits);
            tokio::select! {
                _ = connection.as_mut() => return,
                () = self.shutdown.cancelled(), if !stopping => {
                    stopping = true;
                    connection.as_mut().graceful_shutdown();
                }
                () = self.hard_stop.cancelled() => return,
                () = tokio::time::sleep(idle_check.unwrap_or_default()) => {
                    if idle_check.is_none() {
                        tracing::debug!(remote = %self.remote, "closing a connection that went quiet");
                        return;
                    }
                }
            }
        }
    }
}
