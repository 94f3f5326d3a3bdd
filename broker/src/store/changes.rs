//! The change feed in the store: every change to a link is a row with a database-assigned, increasing
//! id, written in the transaction that makes the change (and, on Postgres, announced with NOTIFY at
//! commit), so replicas follow it without trusting anyone's clock.

use std::str::FromStr;

use secrecy::ExposeSecret;
use sqlx::Row;
use sqlx::postgres::PgListener;

use super::{Backend, Store, StoreError};
use crate::domain::{LinkId, UnixTime};

/// The Postgres channel a committed change is announced on.
const CHANNEL: &str = "link_change";

/// What happened to a link; decides what replicas drop from memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A first link of a Spotify account.
    Linked,
    /// The same Spotify account linked again: new Spotify tokens.
    Relinked,
    /// An operator or the user revoked the link: its tokens are destroyed.
    Revoked,
    /// Spotify refused the link's refresh token.
    RelinkRequired,
    /// An operator put a link marked relink-required back into service.
    Restored,
    /// The Spotify access token was refreshed (the Spotify refresh token perhaps rotated).
    TokensRefreshed,
    /// Some of the link's broker tokens were revoked (a grant, one token, a replayed code).
    BrokerTokensRevoked,
    /// A player command changed what is playing.
    PlayerChanged,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Linked => "linked",
            Self::Relinked => "relinked",
            Self::Revoked => "revoked",
            Self::RelinkRequired => "relink_required",
            Self::Restored => "restored",
            Self::TokensRefreshed => "tokens_refreshed",
            Self::BrokerTokensRevoked => "broker_tokens_revoked",
            Self::PlayerChanged => "player_changed",
        }
    }
}

impl FromStr for ChangeKind {
    type Err = StoreError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Ok(match raw {
            "linked" => Self::Linked,
            "relinked" => Self::Relinked,
            "revoked" => Self::Revoked,
            "relink_required" => Self::RelinkRequired,
            "restored" => Self::Restored,
            "tokens_refreshed" => Self::TokensRefreshed,
            "broker_tokens_revoked" => Self::BrokerTokensRevoked,
            "player_changed" => Self::PlayerChanged,
            _ => return Err(StoreError::Corrupt("unknown link change kind")),
        })
    }
}

/// One row of the change feed.
#[derive(Debug, Clone)]
pub struct LinkChange {
    pub change_id: i64,
    pub link_id: LinkId,
    pub kind: ChangeKind,
    /// Whether this process made the change (and so already applied it).
    pub own: bool,
}

/// A connection that hears committed changes as they happen (Postgres only).
pub struct ChangeListener(PgListener);

impl std::fmt::Debug for ChangeListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChangeListener")
    }
}

impl ChangeListener {
    /// Waits for the next announcement (its content is not needed: the feed is read from the table).
    pub async fn next(&mut self) -> Result<(), StoreError> {
        self.0.recv().await?;
        Ok(())
    }
}

impl Store {
    /// Records a change inside the transaction that makes it.
    pub(crate) async fn record_change(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        link_id: &LinkId,
        kind: ChangeKind,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into link_change (link_id, kind, origin, created_at) values ($1, $2, $3, $4)",
        )
        .bind(link_id.to_string())
        .bind(kind.as_str())
        .bind(self.process_id())
        .bind(now.as_secs())
        .execute(&mut **tx)
        .await?;
        if self.backend() == Backend::Postgres {
            sqlx::query("select pg_notify($1, '')")
                .bind(CHANNEL)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Records a change on its own (one that touches no other row).
    pub async fn announce_change(
        &self,
        link_id: &LinkId,
        kind: ChangeKind,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        self.record_change(&mut tx, link_id, kind, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The newest change id, where a replica that starts with empty memory begins following.
    pub async fn latest_change_id(&self) -> Result<i64, StoreError> {
        let id: Option<i64> = sqlx::query_scalar("select max(link_change_id) from link_change")
            .fetch_one(self.pool())
            .await?;
        Ok(id.unwrap_or(0))
    }

    /// Up to `limit` changes with an id above `after`, in id order.
    pub async fn changes_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<LinkChange>, StoreError> {
        let rows = sqlx::query(
            "select link_change_id, link_id, kind, origin from link_change
             where link_change_id > $1 order by link_change_id limit $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LinkChange {
                    change_id: row.try_get("link_change_id")?,
                    link_id: LinkId::parse(&row.try_get::<String, _>("link_id")?)
                        .map_err(|_| StoreError::Corrupt("link_id"))?,
                    kind: row.try_get::<String, _>("kind")?.parse()?,
                    own: row.try_get::<String, _>("origin")? == self.process_id(),
                })
            })
            .collect()
    }

    /// Deletes changes recorded before `before`; every replica has read them long since.
    pub async fn purge_changes(&self, before: UnixTime) -> Result<u64, StoreError> {
        Ok(sqlx::query("delete from link_change where created_at < $1")
            .bind(before.as_secs())
            .execute(self.pool())
            .await?
            .rows_affected())
    }

    /// A listener for prompt delivery on Postgres; `None` on SQLite (one process, the poll suffices).
    pub async fn listen_for_changes(&self) -> Result<Option<ChangeListener>, StoreError> {
        let Some(url) = self.listen_url() else {
            return Ok(None);
        };
        let options = sqlx::postgres::PgConnectOptions::from_str(url.expose_secret())
            .map_err(|_| StoreError::BadUrl("could not be parsed".to_owned()))?;
        let mut listener =
            PgListener::connect_with(&sqlx::PgPool::connect_lazy_with(options)).await?;
        listener.listen(CHANNEL).await?;
        Ok(Some(ChangeListener(listener)))
    }
}
