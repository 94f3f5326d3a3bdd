//! One owner for every change to a link: linking and relinking, revoking (with who did it), marking it as
//! needing relink, restoring it, and the changes that only void memory (broker tokens revoked, a player
//! command). Each call changes the store (which records the change for the other replicas in the same
//! transaction) and clears this replica's memory of the link at once; the change feed applies the same
//! change on the other replicas through [`Lifecycle::apply_remote`].

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;

use crate::crypto::DataKey;
use crate::domain::{AlexaUserId, BrokerAccessToken, LinkId, UnixTime};
use crate::store::{
    Actor, AuditKind, ChangeKind, LinkChange, NewLink, RefreshLease, Restoration, Revocation,
    Store, StoreError,
};

/// How often one link's (or linking's) app refusal is recorded at most.
const APP_REFUSAL_AUDIT_EVERY: Duration = Duration::from_secs(60);

/// Something a replica holds in memory about links, which must drop what a change makes wrong.
pub trait ReplicaMemory: Send + Sync {
    fn forget(&self, link_id: LinkId, kind: ChangeKind);
}

/// The owner of link changes; cheap to share.
pub struct Lifecycle {
    store: Store,
    memories: Vec<Arc<dyn ReplicaMemory>>,
    /// Links (`None`: linking) whose app refusal was recorded within the last minute.
    app_refusals: Cache<Option<LinkId>, ()>,
}

impl std::fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifecycle")
            .field("memories", &self.memories.len())
            .finish_non_exhaustive()
    }
}

impl Lifecycle {
    /// `memories` are this process's caches; the command line passes none.
    pub fn new(store: Store, memories: Vec<Arc<dyn ReplicaMemory>>) -> Self {
        Self {
            store,
            memories,
            app_refusals: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(APP_REFUSAL_AUDIT_EVERY)
                .build(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn forget_here(&self, link_id: LinkId, kind: ChangeKind) {
        for memory in &self.memories {
            memory.forget(link_id, kind);
        }
    }

    /// Stores a new link, or new tokens for the link of the same Spotify account (a relink), sealed under
    /// `key`, a new data key that the caller wraps for the code it hands Alexa.
    pub async fn link(&self, link: &NewLink, key: &DataKey) -> Result<LinkId, StoreError> {
        let (link_id, kind) = self.store.upsert_link(link, key, UnixTime::now()).await?;
        self.forget_here(link_id, kind);
        Ok(link_id)
    }

    /// Revokes a link: its Spotify tokens are destroyed and every broker token of it stops working, here
    /// at once and on every replica within the change feed's delay.
    pub async fn revoke(&self, link_id: &LinkId, actor: Actor) -> Result<Revocation, StoreError> {
        let revocation = self
            .store
            .revoke_link(link_id, actor, UnixTime::now())
            .await?;
        if revocation == Revocation::Revoked {
            tracing::info!(link_id = %link_id, actor = %actor, "link revoked");
        }
        self.forget_here(*link_id, ChangeKind::Revoked);
        Ok(revocation)
    }

    /// The user disabled the skill: revokes the link found by the token Alexa still had (live or
    /// expired, never revoked), or else by the Alexa user bound to a link. Returns the link revoked.
    pub async fn revoke_for_alexa_user(
        &self,
        token: Option<&BrokerAccessToken>,
        user: Option<&AlexaUserId>,
    ) -> Result<Option<LinkId>, StoreError> {
        let mut link_id = None;
        if let Some(token) = token {
            link_id = self
                .store
                .link_of_unrevoked_access_token(&token.hash())
                .await?;
        }
        if let (None, Some(user)) = (link_id, user) {
            link_id = self.store.link_of_alexa_user(&user.hash()).await?;
        }
        let Some(link_id) = link_id else {
            return Ok(None);
        };
        self.revoke(&link_id, Actor::User).await?;
        Ok(Some(link_id))
    }

    /// Marks a link as needing relink (Spotify refused its refresh token), keeping its row and tokens.
    /// Returns false when the lease no longer matches (someone else changed the tokens).
    pub async fn mark_relink_required(
        &self,
        lease: &RefreshLease,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let marked = self
            .store
            .mark_relink_required(lease, reason, UnixTime::now())
            .await?;
        if marked {
            tracing::warn!(link_id = %lease.link_id, reason, "link marked as needing relink");
            self.forget_here(lease.link_id, ChangeKind::RelinkRequired);
        }
        Ok(marked)
    }

    /// Puts a link marked relink-required, whose tokens are kept, back into service.
    pub async fn restore(&self, link_id: &LinkId, actor: Actor) -> Result<Restoration, StoreError> {
        let restoration = self
            .store
            .restore_link(link_id, actor, UnixTime::now())
            .await?;
        if restoration == Restoration::Restored {
            tracing::info!(link_id = %link_id, actor = %actor, "link restored");
            self.forget_here(*link_id, ChangeKind::Restored);
        }
        Ok(restoration)
    }

    /// New Spotify tokens were stored for a link (the store recorded the change).
    pub fn tokens_refreshed(&self, link_id: LinkId) {
        self.forget_here(link_id, ChangeKind::TokensRefreshed);
    }

    /// Some broker tokens of a link were revoked in the store (a grant, one token, a replayed code; the
    /// store recorded the change for the other replicas): forgets them here.
    pub fn broker_tokens_revoked(&self, link_id: LinkId) {
        self.forget_here(link_id, ChangeKind::BrokerTokensRevoked);
    }

    /// Spotify accepted a player command: cached player state is wrong here now, and on the other
    /// replicas once the announcement (sent in the background, off the caller's answer) arrives.
    pub fn player_changed(&self, link_id: LinkId) {
        self.forget_here(link_id, ChangeKind::PlayerChanged);
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(err) = store
                .announce_change(&link_id, ChangeKind::PlayerChanged, UnixTime::now())
                .await
            {
                tracing::warn!(link_id = %link_id, error = ?err, "could not announce a player change");
            }
        });
    }

    /// Spotify refuses the app itself for a link's user (not on a development-mode app's allowlist, or
    /// the app's owner without Premium), or for a user being linked (`None`: no link is made). Recorded
    /// in the audit trail in the background, at most once a minute per link on this replica, so a
    /// refusing app does not flood the trail. `reason` is fixed text, never Spotify's body or a user id.
    pub fn app_refused(&self, link_id: Option<LinkId>, reason: &'static str) {
        if self.app_refusals.contains_key(&link_id) {
            return;
        }
        self.app_refusals.insert(link_id, ());
        tracing::warn!(link_id = ?link_id.map(|id| id.to_string()), reason, "spotify refuses the app");
        let store = self.store.clone();
        tokio::spawn(async move {
            let recorded = store
                .record_app_event(
                    link_id.as_ref(),
                    AuditKind::AppRefused,
                    Actor::Broker,
                    Some(reason),
                    UnixTime::now(),
                )
                .await;
            if let Err(err) = recorded {
                tracing::warn!(error = ?err, "could not record an app refusal");
            }
        });
    }

    /// A change another replica made, read from the change feed.
    pub fn apply_remote(&self, change: &LinkChange) {
        self.forget_here(change.link_id, change.kind);
    }
}
