//! The sandbox's whole in-memory state, shared by every worker behind short-lived locks.

pub mod app;
pub mod counters;
pub mod faults;
pub mod grants;
pub mod player;
pub mod users;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use actix_web::http::StatusCode;

use crate::clock::Clock;
use crate::config::SandboxConfig;
use crate::error::SandboxError;
use crate::seed::UserSeed;
use app::{AppSettings, DEVELOPMENT_SEATS};
use counters::Counters;
use faults::Faults;
use grants::Grants;
use users::User;

/// The user behind a valid access token, and the scopes granted to it.
#[derive(Debug)]
pub struct ApiCaller<'a> {
    /// The user.
    pub user: &'a mut User,
    /// The granted scopes.
    pub scopes: &'a [String],
}

/// Users and credentials; always locked together so one lock serves one request.
#[derive(Debug, Default)]
pub struct World {
    /// Users by id.
    pub users: HashMap<String, User>,
    /// Codes, grants and tokens.
    pub grants: Grants,
    /// The app's mode and its owner's subscription.
    pub app: AppSettings,
}

impl World {
    /// The user a Web API call acts for, after Spotify's checks in Spotify's order: token, the owner's
    /// Premium, registration, then scope (`scopes` lists alternatives; empty means none needed).
    pub fn api_user(
        &mut self,
        token: &str,
        scopes: &[&str],
        now_s: i64,
    ) -> Result<ApiCaller<'_>, SandboxError> {
        let caller = self.grants.authenticate(token, now_s)?;
        if self.app.owner_lapsed() {
            return Err(SandboxError::OwnerLacksPremium);
        }
        let allowed =
            scopes.is_empty() || scopes.iter().any(|s| caller.scopes.iter().any(|g| g == s));
        let user = self
            .users
            .get_mut(caller.user)
            .ok_or_else(|| SandboxError::unauthorized("Invalid access token"))?;
        if !user.registered {
            return Err(SandboxError::NotRegistered);
        }
        if !allowed {
            return Err(SandboxError::api(
                StatusCode::FORBIDDEN,
                "Insufficient client scope",
            ));
        }
        Ok(ApiCaller {
            user,
            scopes: caller.scopes,
        })
    }

    /// Refuses to put `id` on a full development-mode allowlist, as the dashboard's User Management
    /// does. Users seeded at start are grandfathered, as Spotify kept existing apps' users.
    pub fn check_seat(&self, id: &str) -> Result<(), SandboxError> {
        let others = self
            .users
            .values()
            .filter(|u| u.registered && u.id != id)
            .count();
        if self.app.seats_limited() && others >= DEVELOPMENT_SEATS {
            return Err(SandboxError::ControlConflict(format!(
                "the development-mode allowlist holds at most {DEVELOPMENT_SEATS} users"
            )));
        }
        Ok(())
    }

    /// The ids on the allowlist, sorted.
    pub fn allowlist(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .users
            .values()
            .filter(|u| u.registered)
            .map(|u| u.id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// A user by id, or the control API's 404.
    pub fn user_mut(&mut self, id: &str) -> Result<&mut User, SandboxError> {
        self.users
            .get_mut(id)
            .ok_or_else(|| SandboxError::ControlNotFound(format!("unknown user {id}")))
    }
}

/// Everything a running sandbox holds.
#[derive(Debug)]
pub struct Sandbox {
    /// Accepted client id.
    pub client_id: String,
    /// Accepted client secret.
    pub client_secret: String,
    /// User approved when `/authorize` names none.
    pub default_user: Option<String>,
    /// Base URL for links in responses, without trailing slash.
    pub base_url: String,
    /// The settable clock.
    pub clock: Clock,
    /// Fault rules and latency.
    pub faults: Faults,
    /// Call counters.
    pub counters: Counters,
    world: Mutex<World>,
}

impl Sandbox {
    /// A sandbox with the configured users, linking to `base_url`.
    pub fn new(config: &SandboxConfig, base_url: &str) -> Self {
        let clock = Clock::default();
        let now_ms = clock.now_ms();
        let users = config
            .users
            .iter()
            .map(|seed| (seed.id.clone(), User::from_seed(seed, now_ms)))
            .collect();
        Self {
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            default_user: config.default_user.clone(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            clock,
            faults: Faults::default(),
            counters: Counters::default(),
            world: Mutex::new(World {
                users,
                grants: Grants::default(),
                app: config.app,
            }),
        }
    }

    /// Locks the world; a panic elsewhere never poisons the sandbox for good.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds or replaces a user (existing grants of that id keep working); a registered user must find a
    /// seat on a development-mode allowlist.
    pub fn seed_user(&self, seed: &UserSeed) -> Result<(), SandboxError> {
        let user = User::from_seed(seed, self.clock.now_ms());
        let mut world = self.world();
        if seed.registered {
            world.check_seat(&seed.id)?;
        }
        if let Some(scopes) = &seed.scopes {
            world.grants.rescope_user(&seed.id, scopes);
        }
        world.users.insert(seed.id.clone(), user);
        Ok(())
    }
}
