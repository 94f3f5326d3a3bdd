//! Test support for the end-to-end suite: a fresh database per test, a sandbox Spotify, the real broker on a
//! free port, typed helpers that walk Alexa's side of the OAuth flow, and log capture.

// Test support fails loudly: a harness that cannot start its database or server must stop the test at once.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

pub mod app;
pub mod database;
pub mod logs;
pub mod oauth;
pub mod process;
pub mod sandbox;
pub mod tcp_proxy;

pub use app::{
    ALEXA_CLIENT_ID, ALEXA_REDIRECT_URI, ALEXA_REDIRECT_URI_2, BrokerSetup, StartedAuthorization,
    TestBroker, linking_cookie, set_cookie_header, spawn_broker, try_spawn_broker,
};
pub use database::{Backend, TestDatabase, open_store, pool_settings, test_key_ring};
pub use logs::LogCapture;
pub use oauth::{AlexaRedirect, TokenPair, pkce_pair};
pub use sandbox::{ALICE, BOB, DENIER, spawn_sandbox};
