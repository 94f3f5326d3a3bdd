//! A faithful, fault-injecting stand-in for Spotify's accounts service and Web API, for tests, the quick start and benchmarks.

pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod demo;
pub mod error;
pub mod ids;
pub mod routes;
pub mod seed;
pub mod server;
pub mod state;

pub use client::SandboxClient;
pub use config::SandboxConfig;
pub use error::SandboxError;
pub use seed::{
    DeviceSeed, EpisodeSeed, PlayerSeed, PlaylistSeed, Product, RefreshMode, TrackSeed, UserPatch,
    UserSeed,
};
pub use server::{Application, RunningSandbox, Signals, send_at_once, spawn};
pub use state::app::{AppMode, AppPatch, AppSettings, DEVELOPMENT_SEATS};
pub use state::counters::CounterSnapshot;
pub use state::faults::{FaultKind, FaultRule};
