//! The thin Alexa skill: verifies Alexa's requests and answers them with Spotify through the token broker.

pub mod alexa;
pub mod broker;
pub mod configuration;
pub mod conversation;
pub mod deadline;
pub mod error;
pub mod i18n;
pub mod identifiers;
pub mod routes;
pub mod startup;
pub mod telemetry;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;
pub mod verify;
