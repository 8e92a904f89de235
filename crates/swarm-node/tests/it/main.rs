//! The node's integration tests, one binary: each module drives real nodes
//! (SQLite and PostgreSQL) over HTTP and WebSockets.

mod blob_conformance;
mod events;
mod explorer;
mod hardening;
mod history;
mod hostile;
mod lifecycle;
mod multinode;
mod seams;
mod store;
