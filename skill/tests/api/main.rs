//! The skill over real HTTP, against a fake broker that serves the broker's contract.
//!
//! These tests stand in for the broker; the tests through the real broker and sandbox Spotify live
//! in `tests/e2e`.

// Test helpers outside `#[test]` functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod conversation;
mod fake_broker;
mod http;
mod voice;
