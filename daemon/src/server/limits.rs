//! What a slow, idle or endless client can hold: a bounded number of connections (a slot is
//! taken when a connection is accepted and freed when it closes; a connection beyond the limit
//! is closed at once, so descriptors stay bounded), a deadline for every request's headers
//! (which hyper also applies while a keep-alive connection waits for its next request), and an
//! inactivity deadline: a connection on which no byte moves either way for that long (a body
//! that stopped arriving, a download nobody reads) is closed.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use futures_util::future::BoxFuture;
use hyper_util::rt::TokioTimer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Sets the header-read (and idle keep-alive) deadline. HTTP/2 gets no keep-alive pings from
/// us: a ping and its automatic answer would count as bytes moving, so an idle HTTP/2
/// connection would never meet the inactivity deadline; without them it does.
pub fn configure(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    header_timeout: Duration,
) {
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    builder.http2().timer(TokioTimer::new());
}

/// An acceptor that admits a connection only while a slot is free.
#[derive(Clone)]
pub struct LimitAcceptor<A> {
    inner: A,
    slots: Arc<Semaphore>,
    idle: Duration,
}

impl<A> LimitAcceptor<A> {
    pub fn new(inner: A, slots: Arc<Semaphore>, idle: Duration) -> LimitAcceptor<A> {
        LimitAcceptor { inner, slots, idle }
    }
}

impl<A, S> Accept<TcpStream, S> for LimitAcceptor<A>
where
    A: Accept<TcpStream, WithLocalAddr<S>> + Clone + Send + 'static,
    A::Future: Send + 'static,
    S: Send + 'static,
{
    type Stream = Limited<A::Stream>;
    type Service = A::Service;
    type Future = BoxFuture<'static, io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let permit = self.slots.clone().try_acquire_owned();
        let inner = self.inner.clone();
        let idle = self.idle;
        Box::pin(async move {
            let Ok(permit) = permit else {
                tracing::warn!("refused a connection: the connection limit is reached");
                return Err(io::Error::other("connection limit reached"));
            };
            let local = stream.local_addr()?;
            let service = WithLocalAddr {
                inner: service,
                local: LocalAddr(local),
            };
            let (stream, service) = inner.accept(stream, service).await?;
            Ok((Limited::new(stream, permit, idle), service))
        })
    }
}

/// The address of ours a connection came in on: what a client demonstrably reached, used for
/// the token realm when no `external_url` is configured (never the client's `Host` header).
#[derive(Debug, Clone, Copy)]
pub struct LocalAddr(pub SocketAddr);

/// A service that puts the connection's [`LocalAddr`] into every request's extensions.
#[derive(Clone)]
pub struct WithLocalAddr<S> {
    inner: S,
    local: LocalAddr,
}

impl<S, B> tower_service::Service<axum::http::Request<B>> for WithLocalAddr<S>
where
    S: tower_service::Service<axum::http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: axum::http::Request<B>) -> Self::Future {
        req.extensions_mut().insert(self.local);
        self.inner.call(req)
    }
}

/// A connection holding its slot until it is dropped, and closed once no byte has moved
/// either way for `idle`.
pub struct Limited<S> {
    inner: S,
    _slot: OwnedSemaphorePermit,
    idle: Duration,
    /// When a byte last moved. Noting it is a clock read; the timer is moved only when it
    /// fires early, so a busy connection costs no timer work per read or write.
    last_moved: tokio::time::Instant,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl<S> Limited<S> {
    fn new(inner: S, slot: OwnedSemaphorePermit, idle: Duration) -> Limited<S> {
        Limited {
            inner,
            _slot: slot,
            idle,
            last_moved: tokio::time::Instant::now(),
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn moved(&mut self) {
        self.last_moved = tokio::time::Instant::now();
    }

    /// Notes progress after a write, or ends a write that has waited past the deadline.
    fn after_write(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match written {
            Poll::Ready(Ok(n)) if n > 0 => {
                self.moved();
                Poll::Ready(Ok(n))
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(inactive())),
            other => other,
        }
    }

    /// Whether `idle` has passed since a byte last moved (registering the waker for when it
    /// would).
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.deadline.as_mut().poll(cx).is_pending() {
                return false;
            }
            let due = self.last_moved + self.idle;
            if due <= tokio::time::Instant::now() {
                return true;
            }
            // Bytes moved since the timer was set: wait for the rest of the new deadline.
            self.deadline.as_mut().reset(due);
        }
    }
}

fn inactive() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "no data moved on the connection")
}

impl<S: AsyncRead + Unpin> AsyncRead for Limited<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.moved();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(inactive())),
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Limited<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.after_write(cx, written)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.after_write(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
