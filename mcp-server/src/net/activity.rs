//! Watching a connection for signs of life: when a byte last moved, and whether a request is
//! being handled.

use std::{
    io,
    pin::Pin,
    sync::{
        Arc, LazyLock,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};

use super::ConnectionLimits;

/// The clock activity is measured against: milliseconds since the first connection.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn now_ms() -> u64 {
    EPOCH.elapsed().as_millis() as u64
}

/// What the connection's task reads to decide whether the connection has gone quiet for too
/// long: when a byte last moved, whether a handler is running, whether a response body is
/// being sent.
#[derive(Debug, Default)]
pub struct Activity {
    last_ms: AtomicU64,
    handlers: AtomicUsize,
    bodies: AtomicUsize,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        let activity = Arc::new(Self::default());
        activity.touch();
        activity
    }

    fn touch(&self) {
        self.last_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Marks a handler as running until the guard is dropped.
    pub fn handler(self: &Arc<Self>) -> Busy {
        self.handlers.fetch_add(1, Ordering::Relaxed);
        Busy {
            activity: self.clone(),
            body: false,
        }
    }

    /// Marks a response body as being sent until the guard is dropped (hyper drops the body
    /// when it is sent, or when the connection ends).
    pub fn body(self: &Arc<Self>) -> Busy {
        self.bodies.fetch_add(1, Ordering::Relaxed);
        Busy {
            activity: self.clone(),
            body: true,
        }
    }

    /// How long the connection may stay quiet from now, or `None` when it has been quiet too
    /// long:
    /// - while a handler runs, any time (it is our own work, bounded by its own timeouts;
    ///   a chat answered as one JSON reply may think for a while);
    /// - while a response is sent, `idle` without a byte moving (a client that stopped
    ///   reading a stream);
    /// - between requests, `header_read` (an idle kept-alive connection, or one that never
    ///   sent a byte; hyper's own timer cuts off a head that arrives too slowly).
    pub fn time_left(&self, limits: &ConnectionLimits) -> Option<Duration> {
        let limit = if self.handlers.load(Ordering::Relaxed) > 0 {
            return Some(limits.idle);
        } else if self.bodies.load(Ordering::Relaxed) > 0 {
            limits.idle
        } else {
            limits.header_read
        };
        let quiet =
            Duration::from_millis(now_ms().saturating_sub(self.last_ms.load(Ordering::Relaxed)));
        limit.checked_sub(quiet).filter(|left| !left.is_zero())
    }
}

/// A running handler or a response body being sent; see [`Activity::handler`].
pub struct Busy {
    activity: Arc<Activity>,
    body: bool,
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.activity.touch();
        let count = if self.body {
            &self.activity.bodies
        } else {
            &self.activity.handlers
        };
        count.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that holds its connection's [`Busy`] mark until it is dropped.
pub struct TrackedBody {
    pub inner: BoxBody<Bytes, io::Error>,
    pub _sending: Busy,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, io::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A TCP stream shared between hyper, which reads and writes it, and the connection's task,
/// which watches for the peer leaving while a handler runs ([`peer_gone`]). Each read and
/// write that moved bytes is recorded in the [`Activity`].
pub struct Watched {
    pub stream: Arc<TcpStream>,
    pub activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            std::task::ready!(self.stream.poll_read_ready(cx))?;
            match self.stream.try_read(buf.initialize_unfilled()) {
                Ok(read) => {
                    buf.advance(read);
                    if read > 0 {
                        self.activity.touch();
                    }
                    return Poll::Ready(Ok(()));
                }
                // The readiness was stale; poll again, which registers for the next.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
    }
}

impl Watched {
    /// Writes with `write` once the socket is writable, recording the bytes that moved.
    fn poll_write_with(
        &self,
        cx: &mut Context<'_>,
        write: impl Fn(&TcpStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        loop {
            std::task::ready!(self.stream.poll_write_ready(cx))?;
            match write(&self.stream) {
                Ok(written) => {
                    if written > 0 {
                        self.activity.touch();
                    }
                    return Poll::Ready(Ok(written));
                }
                // The readiness was stale; poll again, which registers for the next.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, |stream| stream.try_write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, |stream| stream.try_write_vectored(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Writes go straight to the socket.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Ends our side of the stream (FIN); the socket closes when the last handle drops.
        let _ = socket2::SockRef::from(&*self.stream).shutdown(std::net::Shutdown::Write);
        Poll::Ready(Ok(()))
    }
}

/// Resolves when the peer has closed the connection (or it failed), as seen without taking
/// any byte from it. While bytes are waiting (a body the handler has not read yet, a
/// pipelined request) it cannot tell, and looks again a little later.
pub async fn peer_gone(stream: &TcpStream) {
    let mut byte = [0u8; 1];
    loop {
        match stream.peek(&mut byte).await {
            Ok(0) | Err(_) => return,
            Ok(_) => tokio::time::sleep(PEEK_AGAIN_AFTER).await,
        }
    }
}

/// How long [`peer_gone`] waits before looking again past bytes that are not its to read.
const PEEK_AGAIN_AFTER: Duration = Duration::from_millis(250);
