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

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};

/// The clock activity is measured against: milliseconds since the first connection.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn now_ms() -> u64 {
    EPOCH.elapsed().as_millis() as u64
}

/// What the connection's task reads to decide whether the connection is idle.
#[derive(Debug, Default)]
pub struct Activity {
    last_ms: AtomicU64,
    handling: AtomicUsize,
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

    /// Marks a request as being handled until the guard is dropped: a handler that takes long
    /// (a chat turn answered as one JSON reply) is not idleness.
    pub fn handling(self: &Arc<Self>) -> Handling {
        self.handling.fetch_add(1, Ordering::Relaxed);
        Handling(self.clone())
    }

    /// How long until the connection counts as idle, or `None` when it already does.
    pub fn idle_in(&self, limit: Duration) -> Option<Duration> {
        if self.handling.load(Ordering::Relaxed) > 0 {
            return Some(limit);
        }
        let quiet =
            Duration::from_millis(now_ms().saturating_sub(self.last_ms.load(Ordering::Relaxed)));
        limit.checked_sub(quiet).filter(|left| !left.is_zero())
    }
}

/// A request being handled; see [`Activity::handling`].
pub struct Handling(Arc<Activity>);

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.touch();
        self.0.handling.fetch_sub(1, Ordering::Relaxed);
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

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            std::task::ready!(self.stream.poll_write_ready(cx))?;
            match self.stream.try_write(buf) {
                Ok(written) => {
                    if written > 0 {
                        self.activity.touch();
                    }
                    return Poll::Ready(Ok(written));
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            std::task::ready!(self.stream.poll_write_ready(cx))?;
            match self.stream.try_write_vectored(bufs) {
                Ok(written) => {
                    if written > 0 {
                        self.activity.touch();
                    }
                    return Poll::Ready(Ok(written));
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
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
