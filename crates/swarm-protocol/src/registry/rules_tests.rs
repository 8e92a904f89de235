//! Admission and rejection tests, rule by rule.

#![allow(clippy::unwrap_used, clippy::expect_used)]
