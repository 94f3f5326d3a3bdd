//! The token broker: Alexa's OAuth authorization server in front of Spotify, holding Spotify tokens sealed.

pub mod admin;
pub mod api;
pub mod background;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod fast_hash;
pub mod key_commands;
pub mod lifecycle;
pub mod linked;
pub mod oauth;
pub mod openapi;
pub mod proxy;
pub mod routes;
pub mod spotify;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
