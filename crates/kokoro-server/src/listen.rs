//! The HTTP server's connections, bounded: at most `max_connections` open
//! (past it a connection gets 503 and is closed), a request's header within
//! `header_timeout`, and a connection with no traffic either way for
//! `idle_timeout` closed (a slow or vanished client cannot hold a descriptor).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The bounds on connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open connections at most.
    pub max_connections: usize,
    /// Time to receive a request's whole header.
    pub header_timeout: Duration,
    /// Time a connection may pass with no bytes either way.
    pub idle_timeout: Duration,
    /// Once told to stop, how long requests in progress may take to finish
    /// before they are cut off (their connections closed).
    pub grace: Duration,
}

/// The grace period by default: 10 s, well inside Kubernetes' default of
/// 30 s before it kills a pod (the manifests give 15).
pub const GRACE: Duration = Duration::from_secs(10);

impl Default for Limits {
    /// 256 connections, 10 s for a header, 60 s idle, a grace of [`GRACE`].
    fn default() -> Self {
        Self {
            max_connections: 256,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            grace: GRACE,
        }
    }
}

/// Completes on the first SIGTERM, SIGINT or SIGHUP (on Unix; Ctrl-C
/// elsewhere): how a terminal, systemd, a container engine or Kubernetes
/// asks a server to stop.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, Signal, SignalKind};
        async fn one(s: &mut Option<Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        let mut term = signal(SignalKind::terminate()).ok();
        let mut int = signal(SignalKind::interrupt()).ok();
        let mut hup = signal(SignalKind::hangup()).ok();
        tokio::select! {
            _ = one(&mut term) => {}
            _ = one(&mut int) => {}
            _ = one(&mut hup) => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// [`shutdown_signal`] for a process that is the server: after the first
/// signal, a second one ends the process at once (exit 130), not waiting
/// out the grace period.
pub(crate) async fn stop_on_signals() {
    shutdown_signal().await;
    tokio::spawn(async {
        shutdown_signal().await;
        eprintln!("kokoro: stopped at once");
        std::process::exit(130);
    });
}

/// Serves `app` on `listener` within `limits` until `stop` completes; then
/// stops accepting, closes idle connections, and lets the requests in
/// progress finish for at most `limits.grace`, after which their
/// connections are closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    stop: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    // Out of descriptors, or a connection reset before it was
                    // accepted: wait a little rather than spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(async move {
                let mut stream = stream;
                let refusal = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                let _ =
                    tokio::time::timeout(Duration::from_secs(5), stream.write_all(refusal)).await;
            });
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (io, last) = Watched::new(stream);
        let service = TowerToHyperService::new(app.clone());
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .keep_alive(true);
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
        let conn = graceful.watch(conn.into_owned());
        let idle = limits.idle_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            tokio::pin!(conn);
            loop {
                tokio::select! {
                    _ = &mut conn => return,
                    _ = tokio::time::sleep(idle / 4) => {
                        if last.idle() >= idle {
                            return; // dropping the connection closes it
                        }
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(limits.grace, graceful.shutdown()).await;
}

/// A connection that notes when bytes last went either way.
struct Watched<S> {
    inner: S,
    last: Arc<Activity>,
}

/// When a connection last moved bytes, as milliseconds since it opened.
struct Activity {
    opened: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let ms = self.opened.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        let now = self.opened.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

impl<S> Watched<S> {
    fn new(inner: S) -> (Self, Arc<Activity>) {
        let last = Arc::new(Activity {
            opened: Instant::now(),
            last_ms: AtomicU64::new(0),
        });
        (
            Self {
                inner,
                last: last.clone(),
            },
            last,
        )
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.last.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.last.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
