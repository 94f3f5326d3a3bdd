//! Caps on pending authorizations per source address and per client, so unauthenticated
//! `/oauth/authorize` requests cannot grow the database, and on failed client authentications per source
//! address, so the token and revocation endpoints cannot be used to guess the client secret.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::OAuthSettings;
use crate::domain::ClientId;

/// Every this many checks, keys whose limit has fully recovered are forgotten.
const SHRINK_EVERY: u64 = 1024;

/// Which cap a request ran into, and when a retry would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exceeded {
    pub limit: &'static str,
    pub retry_after: Duration,
}

/// Keyed GCRA limiters (per minute, bursts up to the per-minute figure).
#[derive(Debug)]
pub struct AuthorizeLimits {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    per_client: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
    checks: AtomicU64,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

/// The key of an address: IPv4 as is, IPv6 by its /64 (one host usually holds a whole /64).
fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl AuthorizeLimits {
    /// `oauth.authorize_per_minute_per_address` and `oauth.authorize_per_minute_per_client`.
    pub fn new(settings: &OAuthSettings) -> Self {
        let clock = DefaultClock::default();
        Self {
            per_address: RateLimiter::dashmap_with_clock(
                per_minute(settings.authorize_per_minute_per_address),
                clock.clone(),
            ),
            per_client: RateLimiter::dashmap_with_clock(
                per_minute(settings.authorize_per_minute_per_client),
                clock.clone(),
            ),
            clock,
            checks: AtomicU64::new(0),
        }
    }

    /// Counts one authorization from `address` (unknown when the peer address is) for `client`.
    pub fn check(&self, address: Option<IpAddr>, client: &ClientId) -> Result<(), Exceeded> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SHRINK_EVERY == SHRINK_EVERY - 1 {
            self.per_address.retain_recent();
            self.per_address.shrink_to_fit();
        }
        let address = address_key(address.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED)));
        let exceeded = |limit, not_until: governor::NotUntil<_>| Exceeded {
            limit,
            retry_after: not_until.wait_time_from(self.clock.now()),
        };
        self.per_address
            .check_key(&address)
            .map_err(|n| exceeded("address", n))?;
        self.per_client
            .check_key(&client.as_str().to_owned())
            .map_err(|n| exceeded("client", n))?;
        Ok(())
    }
}

/// Failed client authentications per source address (GCRA, bursts up to the per-minute figure). An address
/// over the cap is refused, without its credentials being checked, until its allowance has a failure to
/// spare again: a correct guess made while refused would not even be looked at.
#[derive(Debug)]
pub struct ClientAuthLimits {
    failures: DefaultKeyedRateLimiter<IpAddr>,
    /// Addresses refused until the given moment.
    refused: Mutex<HashMap<IpAddr, Instant>>,
    clock: DefaultClock,
    checks: AtomicU64,
}

impl ClientAuthLimits {
    /// `oauth.failed_client_auth_per_minute_per_address`.
    pub fn new(settings: &OAuthSettings) -> Self {
        let clock = DefaultClock::default();
        Self {
            failures: RateLimiter::dashmap_with_clock(
                per_minute(settings.failed_client_auth_per_minute_per_address),
                clock.clone(),
            ),
            refused: Mutex::new(HashMap::new()),
            clock,
            checks: AtomicU64::new(0),
        }
    }

    /// Whether `address` may present client credentials now.
    pub fn admit(&self, address: Option<IpAddr>) -> Result<(), Exceeded> {
        let address = address_key(address.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED)));
        let mut refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        if refused.is_empty() {
            return Ok(());
        }
        let now = Instant::now();
        match refused.get(&address) {
            Some(until) if *until > now => Err(Exceeded {
                limit: "failed client authentications",
                retry_after: *until - now,
            }),
            Some(_) => {
                refused.remove(&address);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Counts a failed client authentication from `address`; `Err` when it went over the cap, and the
    /// address is refused from now on until a retry would pass.
    pub fn failed(&self, address: Option<IpAddr>) -> Result<(), Exceeded> {
        let address = address_key(address.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED)));
        let now = Instant::now();
        if self.checks.fetch_add(1, Ordering::Relaxed) % SHRINK_EVERY == SHRINK_EVERY - 1 {
            self.failures.retain_recent();
            self.failures.shrink_to_fit();
            self.refused
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|_, until| *until > now);
        }
        match self.failures.check_key(&address) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let retry_after = not_until
                    .wait_time_from(self.clock.now())
                    .max(Duration::from_secs(1));
                self.refused
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(address, now + retry_after);
                Err(Exceeded {
                    limit: "failed client authentications",
                    retry_after,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_address: u32, per_client: u32) -> AuthorizeLimits {
        AuthorizeLimits::new(&OAuthSettings {
            access_token_ttl_s: 3600,
            refresh_token_grace_s: 60,
            authorization_code_ttl_s: 300,
            pending_authorization_ttl_s: 600,
            authorize_per_minute_per_address: per_address,
            authorize_per_minute_per_client: per_client,
            failed_client_auth_per_minute_per_address: 3,
        })
    }

    #[test]
    fn failed_client_authentications_are_capped_per_address() {
        let limits = ClientAuthLimits::new(&OAuthSettings {
            access_token_ttl_s: 3600,
            refresh_token_grace_s: 60,
            authorization_code_ttl_s: 300,
            pending_authorization_ttl_s: 600,
            authorize_per_minute_per_address: 1,
            authorize_per_minute_per_client: 1,
            failed_client_auth_per_minute_per_address: 3,
        });
        let a = Some("192.0.2.1".parse().unwrap());
        let b = Some("192.0.2.2".parse().unwrap());
        for _ in 0..3 {
            assert!(limits.admit(a).is_ok());
            assert!(limits.failed(a).is_ok());
        }
        let over = limits.failed(a).unwrap_err();
        assert!(over.retry_after >= Duration::from_secs(1), "{over:?}");
        let refused = limits.admit(a).unwrap_err();
        assert!(refused.retry_after <= over.retry_after);
        assert!(limits.admit(b).is_ok(), "another address is not refused");
        assert!(limits.failed(b).is_ok());
    }

    #[test]
    fn each_address_has_its_own_allowance() {
        let limits = limits(2, 100);
        let client = ClientId::parse("alexa").unwrap();
        let a = Some("192.0.2.1".parse().unwrap());
        let b = Some("192.0.2.2".parse().unwrap());
        assert!(limits.check(a, &client).is_ok());
        assert!(limits.check(a, &client).is_ok());
        let refused = limits.check(a, &client).unwrap_err();
        assert_eq!(refused.limit, "address");
        assert!(refused.retry_after > Duration::ZERO);
        assert!(limits.check(b, &client).is_ok());
    }

    #[test]
    fn one_ipv6_host_is_one_address() {
        let limits = limits(1, 100);
        let client = ClientId::parse("alexa").unwrap();
        assert!(
            limits
                .check(Some("2001:db8::1".parse().unwrap()), &client)
                .is_ok()
        );
        assert!(
            limits
                .check(Some("2001:db8::2:2".parse().unwrap()), &client)
                .is_err()
        );
        assert!(
            limits
                .check(Some("2001:db8:0:1::1".parse().unwrap()), &client)
                .is_ok()
        );
    }

    #[test]
    fn the_client_cap_spans_addresses() {
        let limits = limits(100, 2);
        let client = ClientId::parse("alexa").unwrap();
        for last in 1..=2 {
            let address = Some(IpAddr::from([192, 0, 2, last]));
            assert!(limits.check(address, &client).is_ok());
        }
        let refused = limits
            .check(Some("192.0.2.3".parse().unwrap()), &client)
            .unwrap_err();
        assert_eq!(refused.limit, "client");
    }
}
