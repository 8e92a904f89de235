//! The accept loop: every TCP connection the API takes, and when it lets go.
//!
//! `axum::serve` keeps whatever connects, for as long as it stays: 500
//! connections sending a byte a second all stayed open, and 20,000 idle
//! ones used up the node's file descriptors until `accept` failed every
//! second and honest clients timed out. So the node serves connections
//! itself, on hyper's connection builder, with:
//!
//! - a cap on open connections per client IP and in all ([`Budget`]); a
//!   connection over a cap is answered at once — 429 (its IP holds its
//!   share) or 503 (the node is full), with `Retry-After` — and closed,
//!   which costs the node one `accept` and one write;
//! - the total cap derived from the file-descriptor limit, so that the node
//!   keeps descriptors for its database and artifact files;
//! - hyper's header-read timeout, which runs from the moment a connection
//!   is accepted and again whenever a keep-alive connection waits for its
//!   next request, so a connection that sends nothing is closed as surely
//!   as one that sends a byte a second; request bodies that stall are cut
//!   by the router's body timeout (`api::app`).
//!
//! The node speaks HTTP/1.1 (and WebSockets over it) only: hyper's
//! version-detecting builder reads the first bytes of a connection before
//! any timeout applies, which let idle connections stay forever, and no
//! swarm client speaks HTTP/2.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

use crate::limits::connections::{Budget, Refused};

/// How long a stopping node waits for requests in progress.
const DRAIN: Duration = Duration::from_secs(10);

/// Accepts and serves connections on `listener` until `shutdown`, then lets
/// the requests in progress finish (for at most [`DRAIN`]).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    budget: Arc<Budget>,
    header_read_timeout: Duration,
    shutdown: CancellationToken,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let connections = TaskTracker::new();
    loop {
        let (tcp, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
        };
        let slot = match budget.acquire(peer.ip()) {
            Ok(slot) => slot,
            Err(refused) => {
                refuse(&tcp, peer, refused);
                continue;
            }
        };
        // Without TCP_NODELAY a response body waits for the client's delayed
        // ACK (~40 ms): artifact downloads ran at 27/s instead of 2,600/s.
        let _ = tcp.set_nodelay(true);
        let service = app.clone().map_request(move |request: Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
        let connection = builder
            .serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service))
            .with_upgrades();
        let stopping = shutdown.clone();
        connections.spawn(async move {
            // The slot is given back when the connection ends (an upgraded
            // WebSocket holds a subscription slot of its own from then on).
            let _slot = slot;
            let mut connection = std::pin::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = stopping.cancelled() => {
                    // Finish the request in progress, take no other.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                tracing::trace!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(DRAIN, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still in progress after {}s; stopping anyway",
            DRAIN.as_secs()
        );
    }
}

/// An `accept` that failed. Running out of file descriptors must not spin
/// the loop: wait a little for connections to close.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Answers a connection over a cap and closes it, without a task: the
/// answer fits a fresh socket's send buffer, so one non-blocking write
/// sends it (or, if it does not, the client sees the connection close).
fn refuse(tcp: &TcpStream, peer: SocketAddr, refused: Refused) {
    let (status, message) = match refused {
        Refused::PerIp { max } => (
            "429 Too Many Requests",
            format!(
                "{} holds {max} open connections, the most one client may; close some or reuse them",
                peer.ip()
            ),
        ),
        Refused::Total { max } => (
            "503 Service Unavailable",
            format!("the node holds {max} open connections, the most it takes; try again shortly"),
        ),
    };
    tracing::debug!(%peer, %message, "connection refused");
    let code = match refused {
        Refused::PerIp { .. } => "too_many_connections",
        Refused::Total { .. } => "node_full",
    };
    let body = serde_json::json!({"status": "FAIL", "errors": message, "code": code}).to_string();
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tcp.try_write(answer.as_bytes());
}
