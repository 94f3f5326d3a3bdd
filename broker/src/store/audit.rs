//! The audit trail: who did what to a link, and why, kept after the link's tokens are destroyed; read
//! in time order with an opaque cursor. Never a token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Actor, Store, StoreError};
use crate::domain::{LinkId, UnixTime};

/// What an audit event records.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// A first link of a Spotify account.
    Linked,
    /// The same Spotify account linked again.
    Relinked,
    /// The link was revoked (actor: an admin token by id, the CLI, the user, an OAuth client).
    Revoked,
    /// A link marked relink-required was put back into service.
    Restored,
    /// Spotify refused the link's refresh token (reason: Spotify's).
    RelinkRequired,
    /// A refusal not acted on: many links were refused at once (an upstream incident).
    RelinkHeldBack,
    /// An authorization code was presented again: its grant and every token from it are revoked.
    CodeReplayed,
    /// A refresh token past its grace, or revoked, was presented: its whole family is revoked.
    RefreshTokenFamilyRevoked,
    /// Stored tokens were re-sealed under the active key (no single link).
    KeysRewrapped,
    /// Spotify refuses the app itself for this link's user (not on the allowlist, owner without
    /// Premium).
    AppRefused,
}

impl AuditKind {
    pub const ALL: [Self; 10] = [
        Self::Linked,
        Self::Relinked,
        Self::Revoked,
        Self::Restored,
        Self::RelinkRequired,
        Self::RelinkHeldBack,
        Self::CodeReplayed,
        Self::RefreshTokenFamilyRevoked,
        Self::KeysRewrapped,
        Self::AppRefused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Linked => "linked",
            Self::Relinked => "relinked",
            Self::Revoked => "revoked",
            Self::Restored => "restored",
            Self::RelinkRequired => "relink_required",
            Self::RelinkHeldBack => "relink_held_back",
            Self::CodeReplayed => "code_replayed",
            Self::RefreshTokenFamilyRevoked => "refresh_token_family_revoked",
            Self::KeysRewrapped => "keys_rewrapped",
            Self::AppRefused => "app_refused",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub event_id: String,
    /// `None` for events of no single link (keys rewrapped).
    pub link_id: Option<LinkId>,
    /// The kind as stored (a kind this version does not know is shown as it is).
    pub kind: String,
    /// `admin:<id>`, `cli`, `user`, `oauth_client` or `broker`.
    pub actor: String,
    pub reason: Option<String>,
    pub at: UnixTime,
    cursor: AuditCursor,
}

impl AuditEvent {
    /// The cursor that continues after this event.
    pub fn cursor(&self) -> &AuditCursor {
        &self.cursor
    }
}

/// Where a page of the audit trail ends: opaque to callers (base64url of the event's time and id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCursor {
    at: i64,
    event_id: String,
}

impl AuditCursor {
    pub fn parse(raw: &str) -> Option<Self> {
        let decoded = URL_SAFE_NO_PAD.decode(raw).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (at, event_id) = text.split_once('.')?;
        let event_id = uuid::Uuid::parse_str(event_id)
            .ok()?
            .hyphenated()
            .to_string();
        Some(Self {
            at: at.parse().ok()?,
            event_id,
        })
    }
}

impl std::fmt::Display for AuditCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(format!("{}.{}", self.at, self.event_id)))
    }
}

/// Which events to read.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub link_id: Option<LinkId>,
    pub kind: Option<AuditKind>,
}

fn event_from_row(row: &AnyRow) -> Result<AuditEvent, StoreError> {
    let event_id: String = row.try_get("audit_event_id")?;
    let at: i64 = row.try_get("created_at")?;
    let link_id: Option<String> = row.try_get("link_id")?;
    Ok(AuditEvent {
        link_id: link_id
            .map(|raw| LinkId::parse(&raw).map_err(|_| StoreError::Corrupt("link_id")))
            .transpose()?,
        kind: row.try_get("action")?,
        actor: row.try_get("actor")?,
        reason: row.try_get("reason")?,
        at: UnixTime::from_secs(at),
        cursor: AuditCursor {
            at,
            event_id: event_id.clone(),
        },
        event_id,
    })
}

impl Store {
    /// Records one event in a transaction of its own (events that change nothing else).
    pub async fn record_app_event(
        &self,
        link_id: Option<&LinkId>,
        kind: AuditKind,
        actor: Actor,
        reason: Option<&str>,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        insert_event(&mut tx, link_id, kind, actor, reason, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Events in time order (ties by id), `limit` at a time, after `after`.
    pub async fn audit_events(
        &self,
        filter: &AuditFilter,
        after: Option<&AuditCursor>,
        limit: i64,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let (after_at, after_id) = after.map_or((i64::MIN, String::new()), |cursor| {
            (cursor.at, cursor.event_id.clone())
        });
        let rows = sqlx::query(
            "select audit_event_id, link_id, action, actor, reason, created_at from audit_event
             where (created_at > $1 or (created_at = $1 and audit_event_id > $2))
               and ($3 = '' or link_id = $3) and ($4 = '' or action = $4)
             order by created_at, audit_event_id limit $5",
        )
        .bind(after_at)
        .bind(after_id)
        .bind(filter.link_id.map(|id| id.to_string()).unwrap_or_default())
        .bind(filter.kind.map(AuditKind::as_str).unwrap_or_default())
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(event_from_row).collect()
    }
}

/// Inserts one event in the caller's transaction.
pub(crate) async fn insert_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    link_id: Option<&LinkId>,
    kind: AuditKind,
    actor: Actor,
    reason: Option<&str>,
    now: UnixTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into audit_event (audit_event_id, link_id, action, actor, reason, created_at)
         values ($1, $2, $3, $4, $5, $6)",
    )
    // Time-ordered ids keep events of one second in the order they happened.
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(link_id.map(ToString::to_string))
    .bind(kind.as_str())
    .bind(actor.to_string())
    .bind(reason)
    .bind(now.as_secs())
    .execute(&mut **tx)
    .await?;
    // Counted when written: a transaction that then rolls back (a store failure) is counted too.
    crate::telemetry::metrics::audit_event(kind);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for kind in AuditKind::ALL {
            assert_eq!(AuditKind::parse(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.as_str())
            );
        }
        assert_eq!(AuditKind::parse("nope"), None);
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let cursor = AuditCursor {
            at: 1_700_000_000,
            event_id: uuid::Uuid::new_v4().to_string(),
        };
        assert_eq!(AuditCursor::parse(&cursor.to_string()), Some(cursor));
        for bad in [
            "",
            "x",
            "MTIz",
            "!!",
            &URL_SAFE_NO_PAD.encode("12.not-a-uuid"),
        ] {
            assert_eq!(AuditCursor::parse(bad), None, "{bad}");
        }
    }
}
