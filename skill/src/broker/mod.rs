//! Talking to the token broker: its link API and the Spotify endpoints it passes through.

pub mod client;
pub mod error;
pub mod spotify;

pub use client::{BrokerClient, CacheStatus, ForUser, LinkInfo, LinkStatus, SpotifyReply};
pub use error::BrokerError;
