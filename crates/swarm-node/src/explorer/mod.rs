//! The marketplace explorer: web pages served by the node itself at `/`.
//!
//! People would rather look at a marketplace than read JSON, and a fresh
//! machine must be able to show it without a front-end toolchain, so the
//! pages are rendered on the server (maud, which escapes every interpolated
//! value — filenames, scan metadata and family names come from anyone) and
//! work with JavaScript disabled. One small hand-written script, served from
//! the binary like the stylesheet, layers live updates on top: it listens to
//! the node's event stream (`GET /events`) and re-fetches the page's
//! fragment (`/explorer/live/...`) when something happens.
//!
//! Every page answers from the committed registry and the store; nothing is
//! stored for the explorer alone. Bad input (an unknown guid, a malformed
//! address, a page number that is not a number) gets a 4xx page naming the
//! problem. Responses carry a strict Content-Security-Policy: scripts,
//! styles and connections from this origin only, no inline script or style.
//!
//! Routes:
//! - `/` — overview: height, tx/s, open bounties by round, settled today,
//!   escrow and stake, settlements per minute, newest bounties
//! - `/explorer/bounties?page=&state=` — every bounty, newest first
//! - `/explorer/bounties/{guid}` — artifacts, assertions, votes, consensus, payouts
//! - `/explorer/engines` — leaderboard; `/explorer/engines/{address}` — one engine
//! - `/explorer/accounts/{address}` — balance, stake, transactions, payouts
//! - `/explorer/search?q=` — a guid, an address or an artifact's sha256
//! - `/explorer/live/...` — the same pages' main content, for the script
//! - `/explorer/assets/explorer.{js,css}`

mod chart;
mod data;

pub(crate) use data::{keep_folded, SettledTotals};
mod pages;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup, DOCTYPE};

use crate::api::AppState;

/// The policy on every explorer response: nothing inline, nothing foreign.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

const SCRIPT: &str = include_str!("explorer.js");
const STYLESHEET: &str = include_str!("explorer.css");

/// The explorer's routes, to merge into the node's router.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::overview))
        .route("/explorer", get(pages::overview))
        .route("/explorer/", get(pages::overview))
        .route("/explorer/bounties", get(pages::bounties))
        .route("/explorer/bounties/{guid}", get(pages::bounty))
        .route("/explorer/engines", get(pages::engines))
        .route("/explorer/engines/{address}", get(pages::engine))
        .route("/explorer/accounts/{address}", get(pages::account))
        .route("/explorer/search", get(pages::search))
        .route("/explorer/live/overview", get(pages::overview_live))
        .route("/explorer/live/bounties", get(pages::bounties_live))
        .route("/explorer/live/bounties/{guid}", get(pages::bounty_live))
        .route("/explorer/live/engines", get(pages::engines_live))
        .route("/explorer/live/engines/{address}", get(pages::engine_live))
        .route(
            "/explorer/live/accounts/{address}",
            get(pages::account_live),
        )
        .route("/explorer/assets/explorer.js", get(script))
        .route("/explorer/assets/explorer.css", get(stylesheet))
        .route("/explorer/{*rest}", get(unknown))
        .layer(middleware::from_fn(security_headers))
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SCRIPT,
    )
        .into_response()
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        STYLESHEET,
    )
        .into_response()
}

async fn unknown(request: Request) -> ExplorerError {
    ExplorerError::NotFound(format!("the explorer has no page {}", request.uri().path()))
}

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExplorerError {
    /// The request names something malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// Nothing by that name (404).
    #[error("{0}")]
    NotFound(String),
    /// The node's own failure (500); the detail goes to the log.
    #[error("the node could not read its store")]
    Store(#[from] crate::store::StoreError),
}

impl IntoResponse for ExplorerError {
    fn into_response(self) -> Response {
        let (status, title) = match &self {
            ExplorerError::BadRequest(_) => (StatusCode::BAD_REQUEST, "Bad request"),
            ExplorerError::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
            ExplorerError::Store(e) => {
                tracing::error!(error = %e, "explorer page failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "Node error")
            }
        };
        let body = html! {
            h1 { (title) }
            p.problem { (self.to_string()) }
            p { a href="/" { "Back to the overview" } }
        };
        (status, layout(title, None, body)).into_response()
    }
}

/// A page: its title, main content and the fragment URL the script refreshes.
pub(crate) struct Page {
    title: String,
    live: Option<String>,
    main: Markup,
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        layout(&self.title, self.live.as_deref(), self.main).into_response()
    }
}

/// A fragment: only a page's main content.
pub(crate) struct Fragment(Markup);

impl IntoResponse for Fragment {
    fn into_response(self) -> Response {
        (
            [(header::CACHE_CONTROL, "no-store")],
            Html(self.0.into_string()),
        )
            .into_response()
    }
}

fn layout(title: &str, live: Option<&str>, main: Markup) -> Html<String> {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · swarm explorer" }
                link rel="stylesheet" href="/explorer/assets/explorer.css";
                script src="/explorer/assets/explorer.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "swarm explorer" }
                    nav {
                        a href="/" { "Overview" }
                        a href="/explorer/bounties" { "Bounties" }
                        a href="/explorer/engines" { "Engines" }
                    }
                    form.search action="/explorer/search" method="get" role="search" {
                        input type="search" name="q" aria-label="Search"
                            placeholder="bounty guid, address or sha256";
                        button type="submit" { "Search" }
                    }
                    span #live-status title="Live updates from the node's event stream" { "static" }
                }
                main data-live=[live] { (main) }
                footer {
                    "Served by the swarm node. Raw data: "
                    a href="/openapi.json" { "JSON API" }
                    "."
                }
            }
        }
    };
    Html(page.into_string())
}
