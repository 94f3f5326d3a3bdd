//! The store test suite: the `broker::store::Store` API exercised directly, the same on both backends.

use broker::crypto::{DataKey, WrapAad, generate_key};
use broker::domain::{
    AuthorizationCode, BrokerAccessToken, BrokerRefreshToken, BrowserBinding, ClientId,
    CodeVerifier, GrantId, LinkId, OAuthState, RedirectUri, SpotifyUserId, TokenHash, UnixTime,
};
use broker::store::{
    Actor, ChangeKind, CodeRedemption, Expiries, Issuance, IssueFrom, LinkStatus,
    NewAuthorizationCode, NewLink, NewTokenPair, PendingAuthorization, RefreshedTokens,
    Restoration, Revocation, SpotifyTokens, Store, TokenLifetimes,
};
use e2e::{ALEXA_REDIRECT_URI, Backend, TestDatabase, open_store, test_key_ring};
use secrecy::{ExposeSecret, SecretString};

/// The data key every link of the store suite is sealed under.
fn test_key() -> &'static DataKey {
    static KEY: std::sync::OnceLock<DataKey> = std::sync::OnceLock::new();
    KEY.get_or_init(DataKey::generate)
}

/// The id of the admin token these tests act with.
fn admin() -> broker::domain::AdminId {
    broker::domain::AdminId::of_token("store-suite-admin")
}

struct Fixture {
    db: TestDatabase,
    store: Store,
}

async fn fixture(backend: Backend) -> Fixture {
    let db = TestDatabase::create(backend).await;
    let key = generate_key();
    let store = open_store(&db.url, test_key_ring(&[("k1", key.expose_secret())], "k1"));
    store.migrate().await.unwrap();
    // Migrating twice is a no-op.
    store.migrate().await.unwrap();
    Fixture { db, store }
}

fn new_link(user: &str, access: &str, refresh: &str, now: UnixTime) -> NewLink {
    NewLink {
        spotify_user_id: SpotifyUserId::parse(user).unwrap(),
        display_name: Some(format!("{user} display")),
        scopes: "user-read-private".to_owned(),
        tokens: SpotifyTokens {
            access_token: SecretString::from(access.to_owned()),
            access_expires_at: now.plus_secs(3600),
            refresh_token: SecretString::from(refresh.to_owned()),
        },
    }
}

fn code_for(link_id: LinkId, expires_at: UnixTime) -> (AuthorizationCode, NewAuthorizationCode) {
    let code = AuthorizationCode::generate();
    let record = NewAuthorizationCode {
        code_hash: code.hash(),
        link_id,
        client_id: ClientId::parse("alexa-skill").unwrap(),
        redirect_uri: RedirectUri::parse(ALEXA_REDIRECT_URI).unwrap(),
        code_challenge: Some(CodeVerifier::generate().challenge()),
        expires_at,
        wrapped_data_key: test_key()
            .wrap_for(code.expose(), &WrapAad::new(&link_id, &code.hash()))
            .unwrap(),
    };
    (code, record)
}

/// The lifetimes the store tests issue with: a 100 s grace, so rotations are easy to follow.
const LIFETIMES: TokenLifetimes = TokenLifetimes {
    access_ttl_s: 3600,
    refresh_grace_s: 100,
};

/// The plaintexts of a pair the store issued.
#[derive(Debug, Clone)]
struct Pair {
    access: String,
    refresh: String,
}

/// A fresh pair to store, with its plaintexts.
fn fresh_pair() -> (NewTokenPair, Pair) {
    let access = BrokerAccessToken::generate();
    let refresh = BrokerRefreshToken::generate();
    (
        NewTokenPair {
            access_hash: access.hash(),
            refresh_hash: refresh.hash(),
            // The store suite checks rows, not wraps (the sealing suite does).
            access_wrap: Vec::new(),
            refresh_wrap: Vec::new(),
        },
        Pair {
            access: access.expose().to_owned(),
            refresh: refresh.expose().to_owned(),
        },
    )
}

/// A code for the link, inserted and redeemed: the start of a grant.
async fn redeemed_grant(store: &Store, link_id: LinkId, now: UnixTime) -> GrantId {
    let (code, record) = code_for(link_id, now.plus_secs(300));
    store.insert_authorization_code(&record, now).await.unwrap();
    match store
        .redeem_authorization_code(&code.hash(), now)
        .await
        .unwrap()
    {
        CodeRedemption::Redeemed(redeemed) => redeemed.grant_id,
        other => panic!("a fresh code redeems, got {other:?}"),
    }
}

/// Issues a pair from a redeemed code, which must succeed.
async fn issue_from_code(
    store: &Store,
    link_id: LinkId,
    grant_id: &GrantId,
    now: UnixTime,
) -> Pair {
    let (new, pair) = fresh_pair();
    let from = IssueFrom::Code { link_id, grant_id };
    match store
        .issue_tokens(&new, from, LIFETIMES, now)
        .await
        .unwrap()
    {
        Issuance::Issued(issued) => {
            assert_eq!(issued.link_id, link_id);
            assert_eq!(&issued.grant_id, grant_id);
        }
        other => panic!("issuing from a redeemed code: {other:?}"),
    }
    pair
}

/// A link for `u1` with one grant and the pair issued from its code.
async fn linked_with_a_pair(store: &Store, now: UnixTime) -> (LinkId, GrantId, Pair) {
    let id = store
        .upsert_link(&new_link("u1", "a1", "r1", now), test_key(), now)
        .await
        .unwrap()
        .0;
    let g = redeemed_grant(store, id, now).await;
    let first = issue_from_code(store, id, &g, now).await;
    (id, g, first)
}

/// Presents a refresh token as the token endpoint does (found first, then issued from what was found);
/// the new pair's plaintexts come back with the store's answer.
async fn refresh(store: &Store, refresh_token: &str, now: UnixTime) -> (Issuance, Pair) {
    let hash = TokenHash::of(refresh_token);
    let from = match store.find_refresh_token(&hash, now).await.unwrap() {
        Some(record) => IssueFrom::LiveRefreshToken {
            hash: &hash,
            expires_at: record.expires_at,
        },
        None => IssueFrom::RefreshToken(&hash),
    };
    issue_from(store, from, now).await
}

async fn issue_from(store: &Store, from: IssueFrom<'_>, now: UnixTime) -> (Issuance, Pair) {
    let (new, pair) = fresh_pair();
    let issuance = store
        .issue_tokens(&new, from, LIFETIMES, now)
        .await
        .unwrap();
    (issuance, pair)
}

/// Presents a refresh token that must be honoured, and returns what was issued.
async fn refreshed(store: &Store, refresh_token: &str, now: UnixTime) -> (Expiries, Pair) {
    match refresh(store, refresh_token, now).await {
        (Issuance::Issued(issued), pair) => (issued.expiries, pair),
        (other, _) => panic!("the refresh token was refused: {other:?}"),
    }
}

/// Checks which pairs work at `now`: both tokens of every `live` pair, neither of any `dead` one.
async fn assert_pairs(store: &Store, live: &[&Pair], dead: &[&Pair], now: UnixTime) {
    for (pairs, want_live) in [(live, true), (dead, false)] {
        for (i, pair) in pairs.iter().enumerate() {
            let access = store
                .find_access_token(&TokenHash::of(&pair.access), now)
                .await
                .unwrap();
            let refresh = store
                .find_refresh_token(&TokenHash::of(&pair.refresh), now)
                .await
                .unwrap();
            let which = if want_live { "live" } else { "dead" };
            assert_eq!(
                access.is_some(),
                want_live,
                "access token of {which} pair {i}"
            );
            assert_eq!(
                refresh.is_some(),
                want_live,
                "refresh token of {which} pair {i}"
            );
        }
    }
}

/// How many broker tokens of a link are neither revoked nor expired, read straight from the database.
async fn live_token_count(db: &TestDatabase, link_id: LinkId, now: UnixTime) -> i64 {
    let pool = db.raw_pool().await;
    sqlx::query_scalar(
        "select count(*) from broker_token where link_id = $1 and revoked_at is null
           and (expires_at is null or expires_at > $2)",
    )
    .bind(link_id.to_string())
    .bind(now.as_secs())
    .fetch_one(&pool)
    .await
    .unwrap()
}

async fn upsert_creates_then_relink_replaces_tokens_and_keeps_the_id(backend: Backend) {
    let Fixture { store, db: _db } = fixture(backend).await;
    let now = UnixTime::now();
    let id = store
        .upsert_link(&new_link("u1", "a1", "r1", now), test_key(), now)
        .await
        .unwrap()
        .0;
    let first = store.link(&id, Some(test_key())).await.unwrap().unwrap();
    assert_eq!(first.summary.status, LinkStatus::Active);
    assert_eq!(first.summary.spotify_user_id.as_str(), "u1");
    assert_eq!(
        first.tokens.as_ref().unwrap().refresh_token.expose_secret(),
        "r1"
    );

    let later = now.plus_secs(10);
    let again = store
        .upsert_link(&new_link("u1", "a2", "r2", later), test_key(), later)
        .await
        .unwrap()
        .0;
    assert_eq!(again, id);
    let second = store.link(&id, Some(test_key())).await.unwrap().unwrap();
    let tokens = second.tokens.unwrap();
    assert_eq!(tokens.access_token.expose_secret(), "a2");
    assert_eq!(tokens.refresh_token.expose_secret(), "r2");
    assert!(second.token_version > first.token_version);
    assert_eq!(second.summary.authorized_at, later);

    let other = store
        .upsert_link(&new_link("u2", "b1", "s1", now), test_key(), now)
        .await
        .unwrap()
        .0;
    assert_ne!(other, id);
    let all = store.list_links(None, 10).await.unwrap();
    assert_eq!(all.len(), 2);
    // Paging: one at a time, in id order.
    let page1 = store.list_links(None, 1).await.unwrap();
    let page2 = store.list_links(Some(&page1[0].link_id), 1).await.unwrap();
    assert_eq!(page2.len(), 1);
    assert_ne!(page1[0].link_id, page2[0].link_id);
    assert!(
        store
            .list_links(Some(&page2[0].link_id), 1)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .link_summary(&id)
            .await
            .unwrap()
            .unwrap()
            .display_name
            .as_deref(),
        Some("u1 display")
    );
    assert!(
        store
            .link(&LinkId::generate(), None)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .link_summary(&LinkId::generate())
            .await
            .unwrap()
            .is_none()
    );
}

async fn relink_after_relink_required_makes_the_link_active(backend: Backend) {
    let Fixture { store, db: _db } = fixture(backend).await;
    let now = UnixTime::now();
    let id = store
        .upsert_link(&new_link("u1", "a1", "r1", now), test_key(), now)
        .await
        .unwrap()
        .0;
    let version = store
        .link(&id, Some(test_key()))
        .await
        .unwrap()
        .unwrap()
        .token_version;
    let lease = store
        .try_acquire_refresh_lease(&id, "replica-a", version, 15, now)
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .mark_relink_required(&lease, "test refusal", now)
            .await
            .unwrap()
    );
    let marked = store.link(&id, Some(test_key())).await.unwrap().unwrap();
    assert_eq!(marked.summary.status, LinkStatus::RelinkRequired);
    assert!(
        marked.tokens.is_some(),
        "relink_required keeps the row and its tokens"
    );

    store
        .upsert_link(&new_link("u1", "a2", "r2", now), test_key(), now)
        .await
        .unwrap();
    assert_eq!(
        store
            .link(&id, Some(test_key()))
            .await
            .unwrap()
            .unwrap()
            .summary
            .status,
        LinkStatus::Active
    );
}

async fn refresh_lease_is_exclusive_and_guards_writes(backend: Backend) {
    let Fixture { store, db: _db } = fixture(backend).await;
    let now = UnixTime::now();
    let id = store
        .upsert_link(&new_link("u1", "a1", "r1", now), test_key(), now)
        .await
        .unwrap()
        .0;
    let version = store
        .link(&id, Some(test_key()))
        .await
        .unwrap()
        .unwrap()
        .token_version;
    let lease = store
        .try_acquire_refresh_lease(&id, "a", version, 15, now)
        .await
        .unwrap()
        .expect("first lease");
    assert!(
        store
            .try_acquire_refresh_lease(&id, "b", version, 15, now)
            .await
            .unwrap()
            .is_none(),
        "a live lease is exclusive"
    );
    let refreshed = RefreshedTokens {
        access_token: SecretString::from("a2".to_owned()),
        access_expires_at: now.plus_secs(3600),
        refresh_token: None,
    };
    assert!(
        store
            .store_refreshed_tokens(&lease, &refreshed, Some(test_key()), now)
            .await
            .unwrap()
    );
    let link = store.link(&id, Some(test_key())).await.unwrap().unwrap();
    let tokens = link.tokens.unwrap();
    assert_eq!(tokens.access_token.expose_secret(), "a2");
    assert_eq!(
        tokens.refresh_token.expose_secret(),
        "r1",
        "no rotation keeps the old one"
    );
    assert_eq!(link.token_version, version + 1);
    // The same lease cannot write twice (the version moved on).
    assert!(
        !store
            .store_refreshed_tokens(&lease, &refreshed, Some(test_key()), now)
            .await
            .unwrap()
    );
    // An expired lease can be taken over.
    let stale = store
        .try_acquire_refresh_lease(&id, "c", version + 1, 1, now)
        .await
        .unwrap()
        .unwrap();
    let takeover = store
        .try_acquire_refresh_lease(&id, "d", version + 1, 15, now.plus_secs(5))
        .await
        .unwrap()
        .expect("an expired lease is free");
    let rotated = RefreshedTokens {
        access_token: SecretString::from("a3".to_owned()),
        access_expires_at: now.plus_secs(3600),
        refresh_token: Some(SecretString::from("r3".to_owned())),
    };
    assert!(
        !store
            .store_refreshed_tokens(&stale, &rotated, Some(test_key()), now)
            .await
            .unwrap()
    );
    assert!(
        store
            .store_refreshed_tokens(&takeover, &rotated, Some(test_key()), now)
            .await
            .unwrap()
    );
    let tokens = store
        .link(&id, Some(test_key()))
        .await
        .unwrap()
        .unwrap()
        .tokens
        .unwrap();
    assert_eq!(tokens.refresh_token.expose_secret(), "r3");
    // Releasing a lease frees it without writing.
    let version = store
        .link(&id, Some(test_key()))
        .await
        .unwrap()
        .unwrap()
        .token_version;
    let lease = store
        .try_acquire_refresh_lease(&id, "e", version, 15, now)
        .await
        .unwrap()
        .unwrap();
    store.release_refresh_lease(&lease).await.unwrap();
    assert!(
        store
            .try_acquire_refresh_lease(&id, "f", version, 15, now)
            .await
            .unwrap()
            .is_some()
    );
}

async fn pending_authorization_is_taken_once_and_expires(backend: Backend) {
    let Fixture { store, db: _db } = fixture(backend).await;
    let now = UnixTime::now();
    let browser = BrowserBinding::generate();
    let pending = |state: &OAuthState, expires_at: UnixTime| PendingAuthorization {
        state_hash: state.hash(),
        client_id: ClientId::parse("alexa-skill").unwrap(),
        redirect_uri: RedirectUri::parse(ALEXA_REDIRECT_URI).unwrap(),
        alexa_state: "alexa's state".to_owned(),
        scope: Some("playback".to_owned()),
        code_challenge: Some(CodeVerifier::generate().challenge()),
        spotify_code_verifier: CodeVerifier::generate(),
        browser_hash: browser.hash(),
        expires_at,
    };
    let live = OAuthState::generate();
    let original = pending(&live, now.plus_secs(600));
    store
        .insert_pending_authorization(&original, now)
        .await
        .unwrap();
    // Another browser neither takes it nor uses it up.
    assert!(
        store
            .take_pending_authorization(&live.hash(), &BrowserBinding::generate().hash(), now)
            .await
            .unwrap()
            .is_none()
    );
    let taken = store
        .take_pending_authorization(&live.hash(), &browser.hash(), now)
        .await
        .unwrap()
        .expect("pending authorization");
    assert_eq!(taken.alexa_state, "alexa's state");
    assert_eq!(taken.redirect_uri.as_str(), ALEXA_REDIRECT_URI);
    assert_eq!(taken.code_challenge, original.code_challenge);
    assert_eq!(
        taken.spotify_code_verifier.expose(),
        original.spotify_code_verifier.expose()
    );
    assert!(
        store
            .take_pending_authorization(&live.hash(), &browser.hash(), now)
            .await
            .unwrap()
            .is_none()
    );

    let expired = OAuthState::generate();
    store
        .insert_pending_authorization(&pending(&expired, now.plus_secs(5)), now)
        .await
        .unwrap();
    assert!(
        store
            .take_pending_authorization(&expired.hash(), &browser.hash(), now.plus_secs(5))
            .await
            .unwrap()
            .is_none()
    );
}

async fn codes_are_single_use_and_replay_revokes_the_grant(backend: Backend) {
    let Fixture { store, db: _db } = fixture(backend).await;
    let now = UnixTime::now();
    let id = store
        .upsert_link(&new_link("u1", "a1", "r1", now), test_key(), now)
        .await
        .unwrap()
        .0;
    let (code, record) = code_for(id, now.plus_secs(300));
    store.insert_authorization_code(&record, now).await.unwrap();

    let CodeRedemption::Redeemed(redeemed) = store
        .redeem_authorization_code(&code.hash(), now)
        .await
        .unwrap()
    else {
        panic!("first use redeems");
    };
    assert_eq!(redeemed.link_id, id);
    assert_eq!(redeemed.grant_id, GrantId::of_code(&code.hash()));
    assert_eq!(redeemed.client_id, record.client_id);
    assert_eq!(redeemed.redirect_uri, record.redirect_uri);
    assert_eq!(redeemed.code_challenge, record.code_challenge);
    assert_eq!(redeemed.expires_at, now.plus_secs(300));

    let first = issue_from_code(&store, id, &redeemed.grant_id, now).await;
    let (_, rotated) = refreshed(&store, &first.refresh, now).await;
    // Tokens of another grant of the same link are not touched by the replay.
    let other_grant = redeemed_grant(&store, id, now).await;
    let other = issue_from_code(&store, id, &other_grant, now).await;
    assert_pairs(&store, &[&first, &rotated, &other], &[], now).await;

    assert!(matches!(
        store
            .redeem_authorization_code(&code.hash(), now)
            .await
            .unwrap(),
        CodeRedemption::Replayed { link_id } if link_id == id
    ));
    assert_pairs(&store, &[&other], &[&first, &rotated], now).await;
    // The replayed grant issues nothing any more.
    let (new, _) = fresh_pair();
    let from = IssueFrom::Code {
        link_id: id,
        grant_id: &redeemed.grant_id,
    };
    assert_eq!(
        store
            .issue_tokens(&new, from, LIFETIMES, now)
            .await
            .unwrap(),
        Issuance::Refused
    );

    assert!(matches!(
        store
            .redeem_authorization_code(&AuthorizationCode::generate().hash(), now)
            .await
            .unwrap(),
        CodeRedemption::Unknown
    ));
}

async fn a_replay_between_redeem_and_issue_leaves_nothing_live(backend: Backend) {
    let Fixture { store, db } = fixture(backend).await;
    let now = UnixTime::now();
    let id = store
        .upsert_link(&new_link("u1", "a1", "r1", now), test_key(), now)
        .await
        .unwrap()
        .0;
    let (code, record) = code_for(id, now.plus_secs(300));
    store.insert_authorization_code(&record, now).await.unwrap();
    let CodeRedemption::Redeemed(redeemed) = store
        .redeem_authorization_code(&code.hash(), now)
        .await
        .unwrap()
    else {
        panic!("first use redeems");
    };
    // The replay lands before the first exchange has stored its tokens...
    assert!(matches!(
        store
            .redeem_authorization_code(&code.hash(), now)
            .await
            .unwrap(),
        CodeRedemption::Replayed { .. }
    ));
    // ...so the first exchange must fail, and store nothing.
    let (new, pair) = fresh_pair();
    let from = IssueFrom::Code {
        link_id: id,
        grant_id: &redeemed.grant_id,
    };
    assert_eq!(
        store
            .issue_tokens(&new, from, LIFETIMES, now)
            .await
            .unwrap(),
        Issuance::Refused
    );
    assert_pairs(&store, &[], &[&pair], now).await;
    assert_eq!(live_token_count(&db, id, now).await, 0);
}

async fn tokens_rotate_with_a_grace_period_and_expire(backend: Backend) {
    let Fixture { store, db: _db } = fixture(backend).await;
    let now = UnixTime::now();
    let (id, g, first) = linked_with_a_pair(&store, now).await;
    let record = store
        .find_refresh_token(&TokenHash::of(&first.refresh), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.link_id, id);
    assert_eq!(record.grant_id, g);
    assert_eq!(
        record.expires_at, None,
        "a current refresh token does not expire"
    );
    let found = store
        .find_access_token(&TokenHash::of(&first.access), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found.link_id, found.expires_at), (id, now.plus_secs(3600)));
    // Access tokens expire.
    assert!(
        store
            .find_access_token(&TokenHash::of(&first.access), now.plus_secs(3600))
            .await
            .unwrap()
            .is_none()
    );
    // Refresh tokens are not access tokens, and the other way round.
    assert!(
        store
            .find_access_token(&TokenHash::of(&first.refresh), now)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_refresh_token(&TokenHash::of(&first.access), now)
            .await
            .unwrap()
            .is_none()
    );

    // Rotating the current refresh token: the new one is current, the old one lives through its grace.
    let (expiries, second) = refreshed(&store, &first.refresh, now).await;
    let grace_until = now.plus_secs(LIFETIMES.refresh_grace_s);
    assert_eq!(
        expiries,
        Expiries {
            access_expires_at: now.plus_secs(3600),
            refresh_expires_at: None,
            parent_grace_until: grace_until,
        }
    );
    let old = store
        .find_refresh_token(&TokenHash::of(&first.refresh), grace_until.plus_secs(-1))
        .await
        .unwrap()
        .expect("the previous refresh token lives through its grace period");
    assert_eq!(old.expires_at, Some(grace_until));
    assert!(
        store
            .find_refresh_token(&TokenHash::of(&first.refresh), grace_until)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_refresh_token(&TokenHash::of(&second.refresh), now.plus_secs(86_400))
            .await
            .unwrap()
            .is_some()
    );

    // Alexa retries with the rotated-out token within its grace: honoured, but what it mints ends when
    // that grace ends, however often it is rotated again.
    let later = now.plus_secs(10);
    let (expiries, retried) = refreshed(&store, &first.refresh, later).await;
    assert_eq!(
        expiries,
        Expiries {
            access_expires_at: grace_until,
            refresh_expires_at: Some(grace_until),
            parent_grace_until: grace_until,
        },
        "tokens minted from a rotated-out refresh token outlive its grace"
    );
    let (expiries, laundered) = refreshed(&store, &retried.refresh, later.plus_secs(10)).await;
    assert_eq!(expiries.refresh_expires_at, Some(grace_until));
    assert_eq!(expiries.access_expires_at, grace_until);
    assert_pairs(&store, &[], &[&retried, &laundered], grace_until).await;
    // Rotating the same old token again never extends its grace.
    assert_eq!(
        store
            .find_refresh_token(&TokenHash::of(&first.refresh), later)
            .await
            .unwrap()
            .unwrap()
            .expires_at,
        Some(grace_until)
    );
    assert_pairs(&store, &[&second, &retried, &laundered], &[], later).await;

    // After its grace the rotated-out token revokes its whole family, the current token included.
    let (after, _) = refresh(&store, &first.refresh, grace_until).await;
    assert_eq!(after, Issuance::FamilyRevoked { link_id: id });
    assert_pairs(&store, &[], &[&first, &second, &retried, &laundered], later).await;
    let (again, _) = refresh(&store, &second.refresh, later).await;
    assert_eq!(again, Issuance::FamilyRevoked { link_id: id });

    // RFC 7009: revoking a refresh token revokes its grant; presenting it afterwards answers no tokens.
    let g2 = redeemed_grant(&store, id, now).await;
    let third = issue_from_code(&store, id, &g2, now).await;
    let (_, fourth) = refreshed(&store, &third.refresh, now).await;
    assert_eq!(
        store
            .revoke_token(&TokenHash::of(&fourth.refresh), now)
            .await
            .unwrap(),
        Some(id)
    );
    assert_pairs(&store, &[], &[&third, &fourth], now).await;
    let (revoked, _) = refresh(&store, &third.refresh, now).await;
    assert_eq!(revoked, Issuance::FamilyRevoked { link_id: id });
    // Revoking an access token leaves its grant alone.
    let g3 = redeemed_grant(&store, id, now).await;
    let fifth = issue_from_code(&store, id, &g3, now).await;
    assert_eq!(
        store
            .revoke_token(&TokenHash::of(&fifth.access), now)
            .await
            .unwrap(),
        Some(id)
    );
    refreshed(&store, &fifth.refresh, now).await;
    assert_eq!(
        store
            .revoke_token(&TokenHash::of("unknown"), now)
            .await
            .unwrap(),
        None
    );
    let (unknown, _) = refresh(&store, "unknown", now).await;
    assert_eq!(unknown, Issuance::Refused);
}

/// What the token endpoint found a moment ago may be out of date when the pair is stored (on Postgres
/// the common case is one statement that checks it): a rotation or a revocation in between must be seen.
async fn a_refresh_token_changed_since_it_was_found_is_checked_again(backend: Backend) {
    let Fixture { store, db } = fixture(backend).await;
    let now = UnixTime::now();
    let (id, _, first) = linked_with_a_pair(&store, now).await;
    let hash = TokenHash::of(&first.refresh);
    let seen = store.find_refresh_token(&hash, now).await.unwrap().unwrap();
    assert_eq!(seen.expires_at, None);
    let stale = IssueFrom::LiveRefreshToken {
        hash: &hash,
        expires_at: seen.expires_at,
    };

    // Rotated by someone else meanwhile: what is issued still ends with the presented token's grace,
    // not never (as the stale record would have it).
    let (_, _second) = refreshed(&store, &first.refresh, now).await;
    let grace_end = now.plus_secs(LIFETIMES.refresh_grace_s);
    match issue_from(&store, stale, now).await {
        (Issuance::Issued(issued), third) => {
            assert_eq!(issued.expiries.refresh_expires_at, Some(grace_end));
            assert_eq!(issued.expiries.access_expires_at, grace_end);
            let record = store
                .find_refresh_token(&TokenHash::of(&third.refresh), now)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(record.expires_at, Some(grace_end));
        }
        (other, _) => panic!("a token within its grace is honoured: {other:?}"),
    }

    // Revoked meanwhile (RFC 7009 takes the grant): refused, nothing new is live.
    store.revoke_token(&hash, now).await.unwrap();
    let (issuance, refused) = issue_from(&store, stale, now).await;
    assert!(
        matches!(issuance, Issuance::Refused | Issuance::FamilyRevoked { .. }),
        "a revoked refresh token issued {issuance:?}"
    );
    assert_pairs(&store, &[], &[&first, &refused], now).await;
    assert_eq!(live_token_count(&db, id, now).await, 0);
}

/// The one-statement refresh grant (Postgres) issues only from a token exactly as it was found, and
/// stores nothing otherwise; SQLite always leaves the grant to the transaction.
async fn the_one_statement_rotation_needs_the_token_as_found(backend: Backend) {
    let Fixture { store, db: _db } = fixture(backend).await;
    let now = UnixTime::now();
    let (id, g, first) = linked_with_a_pair(&store, now).await;
    let hash = TokenHash::of(&first.refresh);
    let seen = store.find_refresh_token(&hash, now).await.unwrap().unwrap();
    let (new, second) = fresh_pair();
    let issued = store
        .rotate_unchanged_refresh_token(&new, &hash, seen.expires_at, LIFETIMES, now)
        .await
        .unwrap();
    if backend == Backend::Sqlite {
        assert!(issued.is_none());
        assert_pairs(&store, &[&first], &[&second], now).await;
        return;
    }
    let issued = issued.expect("a token as found is rotated in one statement");
    assert_eq!((issued.link_id, &issued.grant_id), (id, &g));
    assert_eq!(issued.expiries, LIFETIMES.expiries(None, now));
    assert_pairs(&store, &[&first, &second], &[], now).await;
    let rotated = store.find_refresh_token(&hash, now).await.unwrap().unwrap();
    assert_eq!(
        rotated.expires_at,
        Some(now.plus_secs(LIFETIMES.refresh_grace_s))
    );

    // The record seen before that rotation is out of date now: nothing is stored.
    let (new, third) = fresh_pair();
    assert!(
        store
            .rotate_unchanged_refresh_token(&new, &hash, seen.expires_at, LIFETIMES, now)
            .await
            .unwrap()
            .is_none()
    );
    assert_pairs(&store, &[&first, &second], &[&third], now).await;
}

async fn revoke_link_shreds_tokens_and_records_an_audit_event(backend: Backend) {
    let Fixture { store, db } = fixture(backend).await;
    let now = UnixTime::now();
    let id = store
        .upsert_link(&new_link("u1", "a1", "r1", now), test_key(), now)
        .await
        .unwrap()
        .0;
    let g = redeemed_grant(&store, id, now).await;
    let pair = issue_from_code(&store, id, &g, now).await;
    let (code, record) = code_for(id, now.plus_secs(300));
    store.insert_authorization_code(&record, now).await.unwrap();
    let pending = redeemed_grant(&store, id, now).await;

    assert_eq!(
        store
            .revoke_link(&id, Actor::Admin(admin()), now)
            .await
            .unwrap(),
        Revocation::Revoked
    );
    let link = store.link(&id, Some(test_key())).await.unwrap().unwrap();
    assert_eq!(link.summary.status, LinkStatus::Revoked);
    assert!(link.tokens.is_none(), "the spotify tokens are destroyed");
    assert_pairs(&store, &[], &[&pair], now).await;
    assert!(matches!(
        store
            .redeem_authorization_code(&code.hash(), now)
            .await
            .unwrap(),
        CodeRedemption::Unknown
    ));
    // Neither a refresh nor an exchange redeemed before the revoke issues anything afterwards.
    let (refused, _) = refresh(&store, &pair.refresh, now).await;
    assert_eq!(refused, Issuance::Refused);
    let (new, _) = fresh_pair();
    let from = IssueFrom::Code {
        link_id: id,
        grant_id: &pending,
    };
    assert_eq!(
        store
            .issue_tokens(&new, from, LIFETIMES, now)
            .await
            .unwrap(),
        Issuance::Refused
    );
    assert_eq!(live_token_count(&db, id, now).await, 0);

    let pool = db.raw_pool().await;
    let (sealed_refresh, sealed_access): (Option<Vec<u8>>, Option<Vec<u8>>) = sqlx::query_as(
        "select spotify_refresh_token, spotify_access_token from link where link_id = $1",
    )
    .bind(id.to_string())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(sealed_refresh.is_none() && sealed_access.is_none());
    let events: Vec<(String, String)> =
        sqlx::query_as("select action, actor from audit_event where link_id = $1")
            .bind(id.to_string())
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        events,
        vec![
            ("linked".to_owned(), "user".to_owned()),
            ("revoked".to_owned(), format!("admin:{}", admin()))
        ]
    );
    assert_eq!(
        store
            .revoke_link(&id, Actor::Admin(admin()), now)
            .await
            .unwrap(),
        Revocation::AlreadyRevoked,
        "a second revoke changes nothing"
    );
    let events: i64 = sqlx::query_scalar("select count(*) from audit_event where link_id = $1")
        .bind(id.to_string())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(events, 2, "and records nothing new");

    assert_eq!(
        store
            .revoke_link(&LinkId::generate(), Actor::Admin(admin()), now)
            .await
            .unwrap(),
        Revocation::NotFound
    );
    // Re-sealing skips shredded rows.
    assert_eq!(store.rewrap_tokens().await.unwrap().rewrapped, 0);
    // A relink of the same account brings the link back with new tokens.
    let again = store
        .upsert_link(&new_link("u1", "a9", "r9", now), test_key(), now)
        .await
        .unwrap()
        .0;
    assert_eq!(again, id);
    let link = store.link(&id, Some(test_key())).await.unwrap().unwrap();
    assert_eq!(link.summary.status, LinkStatus::Active);
    assert_eq!(link.tokens.unwrap().refresh_token.expose_secret(), "r9");
}

async fn concurrent_revokes_and_refreshes_leave_nothing_live(backend: Backend) {
    let Fixture { store, db } = fixture(backend).await;
    let now = UnixTime::now();
    // A few rounds, one link each: a wrong lock order deadlocks only in some interleavings.
    for round in 0..4 {
        let id = store
            .upsert_link(
                &new_link(&format!("u{round}"), "a1", "r1", now),
                test_key(),
                now,
            )
            .await
            .unwrap()
            .0;
        // Eight families, each refreshed in a loop by its own task until refused, while other
        // tasks revoke single tokens (RFC 7009), replay codes and finally revoke the link itself.
        let mut families = Vec::new();
        let mut codes = Vec::new();
        for _ in 0..8 {
            let (code, record) = code_for(id, now.plus_secs(300));
            store.insert_authorization_code(&record, now).await.unwrap();
            let CodeRedemption::Redeemed(redeemed) = store
                .redeem_authorization_code(&code.hash(), now)
                .await
                .unwrap()
            else {
                panic!("first use redeems");
            };
            families.push(issue_from_code(&store, id, &redeemed.grant_id, now).await);
            codes.push(code);
        }
        let mut tasks = tokio::task::JoinSet::new();
        for family in families.clone() {
            let store = store.clone();
            tasks.spawn(async move {
                let mut current = family.refresh;
                for _ in 0..200 {
                    match refresh(&store, &current, now).await {
                        (Issuance::Issued(_), pair) => current = pair.refresh,
                        _ => return,
                    }
                }
                panic!("refreshes kept succeeding long after the link was revoked");
            });
        }
        for (i, family) in families.iter().enumerate().take(4) {
            let store = store.clone();
            let access = family.access.clone();
            let code = codes[i + 4].hash();
            tasks.spawn(async move {
                store
                    .revoke_token(&TokenHash::of(&access), now)
                    .await
                    .unwrap();
                store.redeem_authorization_code(&code, now).await.unwrap();
            });
        }
        for actor in [Actor::Admin(admin()), Actor::User, Actor::Cli] {
            let store = store.clone();
            tasks.spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                store.revoke_link(&id, actor, now).await.unwrap();
            });
        }
        while let Some(joined) = tasks.join_next().await {
            // A deadlock (Postgres aborts one side) or a busy database fails the task, and so the test.
            joined.unwrap();
        }
        assert_eq!(
            store
                .link(&id, Some(test_key()))
                .await
                .unwrap()
                .unwrap()
                .summary
                .status,
            LinkStatus::Revoked
        );
        assert_eq!(
            live_token_count(&db, id, now).await,
            0,
            "a token was stored after its link was revoked"
        );
    }
}

async fn purge_removes_only_what_expired(backend: Backend) {
    let Fixture { store, db: _db } = fixture(backend).await;
    let now = UnixTime::now();
    let id = store
        .upsert_link(&new_link("u1", "a1", "r1", now), test_key(), now)
        .await
        .unwrap()
        .0;
    let browser = BrowserBinding::generate();
    let pending = |expires_at: UnixTime| {
        let state = OAuthState::generate();
        (
            state.hash(),
            PendingAuthorization {
                state_hash: state.hash(),
                client_id: ClientId::parse("alexa-skill").unwrap(),
                redirect_uri: RedirectUri::parse(ALEXA_REDIRECT_URI).unwrap(),
                alexa_state: String::new(),
                scope: None,
                code_challenge: None,
                spotify_code_verifier: CodeVerifier::generate(),
                browser_hash: browser.hash(),
                expires_at,
            },
        )
    };
    let (old_pending, p1) = pending(now.plus_secs(-1));
    let (live_pending, p2) = pending(now.plus_secs(600));
    store.insert_pending_authorization(&p1, now).await.unwrap();
    store.insert_pending_authorization(&p2, now).await.unwrap();
    let (old_code, c1) = code_for(id, now.plus_secs(-90_000));
    let (recent_code, c2) = code_for(id, now.plus_secs(-10));
    store.insert_authorization_code(&c1, now).await.unwrap();
    store.insert_authorization_code(&c2, now).await.unwrap();
    // Two days ago: a code, and a pair rotated then: its tokens and the new access token are long
    // expired, the new refresh token is current.
    let long_ago = now.plus_secs(-2 * 86_400);
    let g = redeemed_grant(&store, id, long_ago).await;
    let old = issue_from_code(&store, id, &g, long_ago).await;
    let (_, current) = refreshed(&store, &old.refresh, long_ago).await;
    // A grant revoked two days ago (purged) and one revoked an hour ago (kept, so a replay still
    // revokes its family).
    let g2 = redeemed_grant(&store, id, now).await;
    let revoked_long_ago = issue_from_code(&store, id, &g2, now).await;
    store
        .revoke_token(&TokenHash::of(&revoked_long_ago.refresh), long_ago)
        .await
        .unwrap();
    let g3 = redeemed_grant(&store, id, now).await;
    let revoked_recently = issue_from_code(&store, id, &g3, now).await;
    store
        .revoke_token(
            &TokenHash::of(&revoked_recently.refresh),
            now.plus_secs(-3600),
        )
        .await
        .unwrap();

    let removed = store.purge_expired(now).await.unwrap();
    assert_eq!(
        removed, 8,
        "the expired pending authorization, two old codes, three old tokens, and the pair revoked \
         two days ago"
    );
    assert!(
        store
            .take_pending_authorization(&old_pending, &browser.hash(), now)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .take_pending_authorization(&live_pending, &browser.hash(), now)
            .await
            .unwrap()
            .is_some()
    );
    assert!(matches!(
        store
            .redeem_authorization_code(&old_code.hash(), now)
            .await
            .unwrap(),
        CodeRedemption::Unknown
    ));
    // A code expired less than a day ago is kept, so a replay is still recognised.
    assert!(matches!(
        store
            .redeem_authorization_code(&recent_code.hash(), now)
            .await
            .unwrap(),
        CodeRedemption::Redeemed(_)
    ));
    assert!(
        store
            .find_refresh_token(&TokenHash::of(&current.refresh), now)
            .await
            .unwrap()
            .is_some()
    );
    let (unknown, _) = refresh(&store, &revoked_long_ago.refresh, now).await;
    assert_eq!(
        unknown,
        Issuance::Refused,
        "a purged token is merely unknown"
    );
    let (replayed, _) = refresh(&store, &revoked_recently.refresh, now).await;
    assert_eq!(replayed, Issuance::FamilyRevoked { link_id: id });
    assert_eq!(store.purge_expired(now).await.unwrap(), 0);
}

/// Most broker tokens are never revoked, and only the purge looks tokens up by `revoked_at`: its index
/// holds revoked tokens alone, so that issuing and rotating tokens (a refresh grant inserts two and
/// updates one) spends no work on it, and the purge still finds what it deletes through it.
async fn only_revoked_tokens_enter_the_purge_index(backend: Backend) {
    use sqlx::Row;

    let Fixture { store: _store, db } = fixture(backend).await;
    let pool = db.raw_pool().await;
    let (definition, plan) = match backend {
        Backend::Postgres => {
            let definition: String = sqlx::query_scalar(
                "select indexdef from pg_indexes where indexname = 'broker_token_revoked_at_idx'",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            let mut conn = pool.acquire().await.unwrap();
            sqlx::query("set enable_seqscan = off")
                .execute(&mut *conn)
                .await
                .unwrap();
            let plan: Vec<String> =
                sqlx::query_scalar("explain delete from broker_token where revoked_at <= 0")
                    .fetch_all(&mut *conn)
                    .await
                    .unwrap();
            (definition, plan.join("\n"))
        }
        Backend::Sqlite => {
            let definition: String = sqlx::query_scalar(
                "select sql from sqlite_master where name = 'broker_token_revoked_at_idx'",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            let plan: Vec<String> =
                sqlx::query("explain query plan delete from broker_token where revoked_at <= 0")
                    .fetch_all(&pool)
                    .await
                    .unwrap()
                    .iter()
                    .map(|row| row.try_get::<String, _>("detail").unwrap())
                    .collect();
            (definition, plan.join("\n"))
        }
    };
    assert!(
        definition
            .to_ascii_lowercase()
            .replace(['(', ')'], "")
            .contains("where revoked_at is not null"),
        "the index is partial: {definition}"
    );
    assert!(
        plan.contains("broker_token_revoked_at_idx"),
        "the purge reads the partial index: {plan}"
    );
}

async fn change_feed_lists_every_change_in_order(backend: Backend) {
    let Fixture { store, db: _db } = fixture(backend).await;
    let now = UnixTime::now();
    let start = store.latest_change_id().await.unwrap();
    let a = store
        .upsert_link(&new_link("u1", "a1", "r1", now), test_key(), now)
        .await
        .unwrap()
        .0;
    // A writer whose clock runs far behind still shows up after the earlier change.
    let behind = now.plus_secs(-3600);
    let b = store
        .upsert_link(&new_link("u2", "a2", "r2", behind), test_key(), behind)
        .await
        .unwrap()
        .0;
    store.revoke_link(&a, Actor::User, now).await.unwrap();
    store
        .announce_change(&b, ChangeKind::PlayerChanged, now)
        .await
        .unwrap();
    let changes = store.changes_after(start, 100).await.unwrap();
    let seen: Vec<(LinkId, ChangeKind)> = changes.iter().map(|c| (c.link_id, c.kind)).collect();
    assert_eq!(
        seen,
        vec![
            (a, ChangeKind::Linked),
            (b, ChangeKind::Linked),
            (a, ChangeKind::Revoked),
            (b, ChangeKind::PlayerChanged),
        ]
    );
    assert!(changes.windows(2).all(|w| w[0].change_id < w[1].change_id));
    // Paging continues after the last id read.
    let first = store.changes_after(start, 1).await.unwrap();
    let rest = store.changes_after(first[0].change_id, 10).await.unwrap();
    assert_eq!(rest.len(), 3);
    assert_eq!(
        store.latest_change_id().await.unwrap(),
        changes[3].change_id
    );
}

async fn committed_changes_are_announced_on_postgres(backend: Backend) {
    let Fixture { store, db: _db } = fixture(backend).await;
    let listener = store.listen_for_changes().await.unwrap();
    let Some(mut listener) = listener else {
        assert_eq!(backend, Backend::Sqlite, "postgres announces changes");
        return;
    };
    let now = UnixTime::now();
    let id = store
        .upsert_link(&new_link("u1", "a1", "r1", now), test_key(), now)
        .await
        .unwrap()
        .0;
    tokio::time::timeout(std::time::Duration::from_secs(5), listener.next())
        .await
        .expect("a notification within seconds")
        .unwrap();
    store
        .announce_change(&id, ChangeKind::PlayerChanged, now)
        .await
        .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), listener.next())
        .await
        .expect("a notification within seconds")
        .unwrap();
}

async fn restore_brings_back_only_a_marked_link_with_its_tokens(backend: Backend) {
    let Fixture { store, db: _db } = fixture(backend).await;
    let now = UnixTime::now();
    let id = store
        .upsert_link(&new_link("u1", "a1", "r1", now), test_key(), now)
        .await
        .unwrap()
        .0;
    assert_eq!(
        store
            .restore_link(&id, Actor::Admin(admin()), now)
            .await
            .unwrap(),
        Restoration::NotRestorable,
        "an active link has nothing to restore"
    );
    let version = store
        .link(&id, Some(test_key()))
        .await
        .unwrap()
        .unwrap()
        .token_version;
    let lease = store
        .try_acquire_refresh_lease(&id, "replica-a", version, 15, now)
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .mark_relink_required(&lease, "refused", now)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .restore_link(&id, Actor::Admin(admin()), now)
            .await
            .unwrap(),
        Restoration::Restored
    );
    let link = store.link(&id, Some(test_key())).await.unwrap().unwrap();
    assert_eq!(link.summary.status, LinkStatus::Active);
    assert_eq!(link.tokens.unwrap().refresh_token.expose_secret(), "r1");
    store
        .revoke_link(&id, Actor::Admin(admin()), now)
        .await
        .unwrap();
    assert_eq!(
        store
            .restore_link(&id, Actor::Admin(admin()), now)
            .await
            .unwrap(),
        Restoration::NotRestorable,
        "a revoked link's tokens are gone"
    );
    assert_eq!(
        store
            .restore_link(&LinkId::generate(), Actor::Admin(admin()), now)
            .await
            .unwrap(),
        Restoration::NotFound
    );
}

async fn alexa_users_are_bound_to_their_link_until_it_is_revoked(backend: Backend) {
    let Fixture { store, db: _db } = fixture(backend).await;
    let now = UnixTime::now();
    let id = store
        .upsert_link(&new_link("u1", "a1", "r1", now), test_key(), now)
        .await
        .unwrap()
        .0;
    let user = TokenHash::of("amzn1.ask.account.one");
    assert_eq!(store.link_of_alexa_user(&user).await.unwrap(), None);
    store.bind_alexa_user(&user, &id, now).await.unwrap();
    store.bind_alexa_user(&user, &id, now).await.unwrap();
    assert_eq!(store.link_of_alexa_user(&user).await.unwrap(), Some(id));
    let grant = redeemed_grant(&store, id, now).await;
    let access = issue_from_code(&store, id, &grant, now).await.access;
    // An expired access token still names its link, until it is revoked.
    assert_eq!(
        store
            .link_of_unrevoked_access_token(&TokenHash::of(&access))
            .await
            .unwrap(),
        Some(id)
    );
    store.revoke_link(&id, Actor::User, now).await.unwrap();
    assert_eq!(store.link_of_alexa_user(&user).await.unwrap(), None);
    assert_eq!(
        store
            .link_of_unrevoked_access_token(&TokenHash::of(&access))
            .await
            .unwrap(),
        None
    );
}

async fn unreadable_rows_are_errors_not_panics(backend: Backend) {
    let Fixture { store, db } = fixture(backend).await;
    let now = UnixTime::now();
    let id = store
        .upsert_link(&new_link("u1", "a1", "r1", now), test_key(), now)
        .await
        .unwrap()
        .0;
    let pool = db.raw_pool().await;
    for garbage in [
        Vec::new(),
        vec![1u8],
        vec![9u8; 80],
        vec![1, 2, b'k', b'9', 0, 0],
    ] {
        sqlx::query("update link set spotify_refresh_token = $1 where link_id = $2")
            .bind(garbage)
            .bind(id.to_string())
            .execute(&pool)
            .await
            .unwrap();
        assert!(store.link(&id, Some(test_key())).await.is_err());
    }
    sqlx::query("update link set status = 'weird' where link_id = $1")
        .bind(id.to_string())
        .execute(&pool)
        .await
        .unwrap();
    assert!(store.link_summary(&id).await.is_err());
}

/// sqlx pings a connection when it takes it back; the store pings it again before handing it out only
/// once it has rested a while (Postgres), so that a server that dropped resting connections (a restart,
/// an idle timeout) fails no statement.
async fn a_connection_the_server_dropped_while_it_rested_is_replaced(backend: Backend) {
    let Fixture { store, db } = fixture(backend).await;
    store.ping().await.unwrap();
    if backend == Backend::Sqlite {
        return;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let admin = db.raw_pool().await;
    let dropped: i64 = sqlx::query_scalar(
        "select count(pg_terminate_backend(pid)) from pg_stat_activity
         where datname = current_database() and pid <> pg_backend_pid()",
    )
    .fetch_one(&admin)
    .await
    .unwrap();
    assert!(dropped >= 1, "the store's resting connection was dropped");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    store
        .ping()
        .await
        .expect("a new connection replaces the dropped one");
}

both_backends!(
    a_connection_the_server_dropped_while_it_rested_is_replaced,
    upsert_creates_then_relink_replaces_tokens_and_keeps_the_id,
    relink_after_relink_required_makes_the_link_active,
    refresh_lease_is_exclusive_and_guards_writes,
    pending_authorization_is_taken_once_and_expires,
    codes_are_single_use_and_replay_revokes_the_grant,
    a_replay_between_redeem_and_issue_leaves_nothing_live,
    tokens_rotate_with_a_grace_period_and_expire,
    a_refresh_token_changed_since_it_was_found_is_checked_again,
    the_one_statement_rotation_needs_the_token_as_found,
    revoke_link_shreds_tokens_and_records_an_audit_event,
    concurrent_revokes_and_refreshes_leave_nothing_live,
    purge_removes_only_what_expired,
    only_revoked_tokens_enter_the_purge_index,
    change_feed_lists_every_change_in_order,
    committed_changes_are_announced_on_postgres,
    restore_brings_back_only_a_marked_link_with_its_tokens,
    alexa_users_are_bound_to_their_link_until_it_is_revoked,
    unreadable_rows_are_errors_not_panics,
);
