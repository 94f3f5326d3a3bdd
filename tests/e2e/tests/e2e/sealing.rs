//! What the database holds and what opens it: hashes and sealed tokens only, each link sealed under a data
//! key that only a live broker secret unwraps, so that a copy of the database (even an earlier backup, even
//! with the key ring) opens nothing; legacy links on the key ring keep working and move on their next
//! refresh grant; the key ring rotates. Read and tampered with directly, behind the broker's back.

use broker::crypto::{DataKey, FieldAad, KeyRing, WrapAad, generate_key};
use broker::domain::{BrokerAccessToken, LinkId, TokenHash, UnixTime};
use e2e::{
    ALICE, BOB, Backend, TestBroker, TestDatabase, TokenPair, open_store, pkce_pair, spawn_broker,
    spawn_sandbox, test_key_ring,
};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use sqlx::{AnyPool, Column, Row};

use crate::proxy_support::{Skill, admin};

const TABLES: [&str; 5] = [
    "link",
    "broker_token",
    "authorization_code",
    "pending_authorization",
    "audit_event",
];

/// Every non-null text and byte value of `table`, as bytes.
async fn cell_values(pool: &AnyPool, table: &str) -> Vec<(String, Vec<u8>)> {
    let rows = sqlx::query(&format!("select * from {table}"))
        .fetch_all(pool)
        .await
        .unwrap();
    let mut values = Vec::new();
    for row in &rows {
        for (i, column) in row.columns().iter().enumerate() {
            let name = format!("{table}.{}", column.name());
            if let Ok(Some(text)) = row.try_get::<Option<String>, _>(i) {
                values.push((name, text.into_bytes()));
            } else if let Ok(Some(bytes)) = row.try_get::<Option<Vec<u8>>, _>(i) {
                values.push((name, bytes));
            }
        }
    }
    values
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn database_holds_no_plaintext_token(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    // A PKCE link, a refresh, a replayed code (audit and revocations), and a pending authorization.
    let (verifier, challenge) = pkce_pair();
    let mut params = broker.authorize_params("alexa-state-plain");
    params.push(("code_challenge".to_owned(), challenge));
    params.push(("code_challenge_method".to_owned(), "S256".to_owned()));
    let code = broker
        .follow_to_spotify_and_back(&params, None)
        .await
        .expect_code();
    let first = broker.exchange_code(&code, Some(&verifier)).await;
    let second = TokenPair::from_response(broker.refresh(&first.refresh_token).await).await;
    let bob = broker.link_user(BOB).await;
    let unfinished = broker
        .start_authorization(&broker.authorize_params("pending"))
        .await;
    let broker_state = unfinished.state();

    let mut secrets = vec![
        ("alexa code", code.clone()),
        ("pkce verifier", verifier.clone()),
        ("broker state", broker_state.clone()),
        ("linking cookie", unfinished.cookie_value()),
        ("alexa client secret", broker.alexa_client_secret.clone()),
        (
            "spotify client secret",
            broker.spotify_client_secret.clone(),
        ),
        ("crypto key", broker.crypto_key.clone()),
    ];
    for pair in [&first, &second, &bob] {
        secrets.push(("broker access token", pair.access_token.clone()));
        secrets.push(("broker refresh token", pair.refresh_token.clone()));
    }
    for token in [&second.access_token, &bob.access_token] {
        let tokens = broker.open_link(token).await.tokens.unwrap();
        secrets.push((
            "spotify access token",
            tokens.access_token.expose_secret().to_owned(),
        ));
        secrets.push((
            "spotify refresh token",
            tokens.refresh_token.expose_secret().to_owned(),
        ));
    }

    let pool = broker.raw_pool().await;
    let mut cells = Vec::new();
    for table in TABLES {
        cells.extend(cell_values(&pool, table).await);
    }
    for (what, secret) in &secrets {
        for (column, value) in &cells {
            assert!(
                !contains(value, secret.as_bytes()),
                "{column} holds a plaintext {what}"
            );
        }
    }
    // The hashes are there: this really read the rows that matter.
    for hashed in [
        &first.access_token,
        &second.refresh_token,
        &code,
        &broker_state,
    ] {
        let hash = TokenHash::of(hashed);
        assert!(
            cells.iter().any(|(_, v)| v == hash.as_str().as_bytes()),
            "no row holds the hash of a token the broker issued"
        );
    }
    for column in [
        "link.spotify_refresh_token",
        "broker_token.wrapped_data_key",
        "pending_authorization.spotify_code_verifier",
    ] {
        assert!(cells.iter().any(|(c, _)| c == column), "no {column}");
    }
}

async fn ciphertext_copied_to_another_row_does_not_open(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let alice_pair = broker.link_user(ALICE).await;
    let bob_pair = broker.link_user(BOB).await;
    let (alice, bob) = (broker.link_id_of(ALICE).await, broker.link_id_of(BOB).await);
    let pool = broker.raw_pool().await;
    let open = |token: &str| {
        let token = token.to_owned();
        let broker = &broker;
        async move {
            let hash = TokenHash::of(&token);
            let record = broker
                .store
                .find_access_token(&hash, UnixTime::now())
                .await
                .unwrap()
                .unwrap();
            let key = DataKey::unwrap_with(
                record.wrapped_data_key.as_deref().unwrap(),
                &token,
                &WrapAad::new(&record.link_id, &hash),
            )
            .unwrap();
            broker.store.link(&record.link_id, Some(&key)).await
        }
    };

    // Alice's sealed refresh token onto Bob's row.
    let moved = sqlx::query(
        "update link set spotify_refresh_token =
             (select spotify_refresh_token from link where link_id = $1)
         where link_id = $2",
    )
    .bind(alice.to_string())
    .bind(bob.to_string())
    .execute(&pool)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(moved, 1);
    let err = open(&bob_pair.access_token).await.unwrap_err();
    assert!(
        matches!(err, broker::store::StoreError::Cipher(_)),
        "expected a cipher error, got {err:?}"
    );
    // Alice's row is untouched and opens.
    assert!(
        open(&alice_pair.access_token)
            .await
            .unwrap()
            .unwrap()
            .tokens
            .is_some()
    );

    // Alice's access token moved to her own refresh field (same row, other field).
    sqlx::query("update link set spotify_refresh_token = spotify_access_token where link_id = $1")
        .bind(alice.to_string())
        .execute(&pool)
        .await
        .unwrap();
    assert!(matches!(
        open(&alice_pair.access_token).await,
        Err(broker::store::StoreError::Cipher(_))
    ));
    // Alice's wrap copied onto Bob's token row: bound to Alice's token, it opens nothing for Bob.
    sqlx::query(
        "update broker_token set wrapped_data_key =
             (select wrapped_data_key from broker_token where token_hash = $1)
         where token_hash = $2",
    )
    .bind(TokenHash::of(&alice_pair.access_token).as_str())
    .bind(TokenHash::of(&bob_pair.access_token).as_str())
    .execute(&pool)
    .await
    .unwrap();
    Skill::new(&broker, &bob_pair.access_token)
        .get("/me")
        .await
        .expect_error(401, "relink_required");
}

/// Seals a link's Spotify tokens under the key ring and drops every wrap, as links were stored before
/// per-link data keys existed.
async fn make_legacy(broker: &TestBroker, access_token: &str) -> LinkId {
    let link = broker.open_link(access_token).await;
    let link_id = link.summary.link_id;
    let tokens = link.tokens.unwrap();
    let ring = test_key_ring(&[("k1", broker.crypto_key.as_str())], "k1");
    let seal = |field: &str, value: &SecretString| {
        ring.seal(
            value.expose_secret(),
            &FieldAad::new("link", &link_id.to_string(), field),
        )
        .unwrap()
    };
    let pool = broker.raw_pool().await;
    sqlx::query(
        "update link set sealed_by = 'key_ring', spotify_refresh_token = $2, spotify_access_token = $3
         where link_id = $1",
    )
    .bind(link_id.to_string())
    .bind(seal("spotify_refresh_token", &tokens.refresh_token))
    .bind(seal("spotify_access_token", &tokens.access_token))
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("update broker_token set wrapped_data_key = null where link_id = $1")
        .bind(link_id.to_string())
        .execute(&pool)
        .await
        .unwrap();
    link_id
}

async fn a_link_sealed_by_the_key_ring_keeps_working_and_moves_at_its_next_refresh_grant(
    backend: Backend,
) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let pair = broker.link_user(ALICE).await;
    make_legacy(&broker, &pair.access_token).await;
    assert_eq!(broker.store.links_sealed_by_key_ring().await.unwrap(), 1);
    // A replica started after the upgrade serves it with the key ring.
    let replica = crate::proxy_support::spawn_replica(&broker, &[]).await;
    let skill = Skill::at(&replica.base_url, &broker, &pair.access_token);
    skill.get("/me").await.expect_ok(200);

    // Alexa's next refresh grant moves it to its own data key, wrapped for every token Alexa holds.
    let moved = TokenPair::from_response(broker.refresh(&pair.refresh_token).await).await;
    assert_eq!(broker.store.links_sealed_by_key_ring().await.unwrap(), 0);
    let fresh = Skill::at(&replica.base_url, &broker, &moved.access_token);
    fresh.get("/me/player").await.expect_ok(200);
    let sealed: Vec<u8> = sqlx::query_scalar("select spotify_refresh_token from link")
        .fetch_one(&broker.raw_pool().await)
        .await
        .unwrap();
    assert!(DataKey::sealed_it(&sealed), "no longer under the key ring");
    // Alexa's retry with the same refresh token (inside the grace) still works.
    let retried = TokenPair::from_response(broker.refresh(&pair.refresh_token).await).await;
    Skill::new(&broker, &retried.access_token)
        .get("/me")
        .await
        .expect_ok(200);
    // The access token minted before the move holds no wrap of the new key (the replica hears of the
    // move through the change feed).
    let start = std::time::Instant::now();
    while skill.get("/me").await.status != 401 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(2),
            "the pre-move token still works"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    skill.get("/me").await.expect_error(401, "relink_required");
}

async fn rotating_the_key_ring_keeps_legacy_rows_readable(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let pair = broker.link_user(ALICE).await;
    let link_id = make_legacy(&broker, &pair.access_token).await;
    let original = broker
        .store
        .link(&link_id, None)
        .await
        .unwrap()
        .unwrap()
        .tokens
        .unwrap();
    let k2 = generate_key();
    let k2 = k2.expose_secret();
    let k1 = broker.crypto_key.as_str();
    let key_ids = |pool: AnyPool| async move {
        let row = sqlx::query(
            "select spotify_refresh_token, spotify_access_token from link where link_id = $1",
        )
        .bind(link_id.to_string())
        .fetch_one(&pool)
        .await
        .unwrap();
        let refresh: Vec<u8> = row.try_get(0).unwrap();
        let access: Vec<u8> = row.try_get(1).unwrap();
        (
            KeyRing::key_id_of(&refresh).unwrap().to_owned(),
            KeyRing::key_id_of(&access).unwrap().to_owned(),
        )
    };
    let pool = broker.raw_pool().await;
    assert_eq!(
        key_ids(pool.clone()).await,
        ("k1".to_owned(), "k1".to_owned())
    );

    // New active key k2, k1 still in the ring: old rows open.
    let rotated = open_store(
        &broker.db_url,
        test_key_ring(&[("k1", k1), ("k2", k2)], "k2"),
    );
    let opened = rotated
        .link(&link_id, None)
        .await
        .unwrap()
        .unwrap()
        .tokens
        .unwrap();
    assert_eq!(
        opened.refresh_token.expose_secret(),
        original.refresh_token.expose_secret()
    );
    // Status shows what k1 still seals; re-sealing moves every row to k2, once.
    let usage = rotated.key_usage().await.unwrap();
    assert_eq!(usage.sealed_values_by_key.get("k1"), Some(&2));
    assert_eq!(usage.links_on_key_ring, 1);
    let report = rotated.rewrap_tokens().await.unwrap();
    assert_eq!((report.rewrapped, report.failed.len()), (1, 0));
    assert_eq!(rotated.rewrap_tokens().await.unwrap().rewrapped, 0);
    let usage = rotated.key_usage().await.unwrap();
    assert_eq!(
        usage.sealed_values_by_key.get("k1"),
        None,
        "k1 seals nothing now"
    );
    assert_eq!(usage.sealed_values_by_key.get("k2"), Some(&2));
    assert_eq!(
        key_ids(pool.clone()).await,
        ("k2".to_owned(), "k2".to_owned())
    );

    // k1 can now leave the ring.
    let only_k2 = open_store(&broker.db_url, test_key_ring(&[("k2", k2)], "k2"));
    let opened = only_k2
        .link(&link_id, None)
        .await
        .unwrap()
        .unwrap()
        .tokens
        .unwrap();
    assert_eq!(
        opened.access_token.expose_secret(),
        original.access_token.expose_secret()
    );
    // And a ring without k2 cannot open them; rewrapping with it goes on past them and names them.
    let only_k1 = open_store(&broker.db_url, test_key_ring(&[("k1", k1)], "k1"));
    assert!(matches!(
        only_k1.link(&link_id, None).await,
        Err(broker::store::StoreError::Cipher(_))
    ));
    let bob = broker.link_user(BOB).await;
    let bob_link = make_legacy(&broker, &bob.access_token).await;
    let report = only_k2.rewrap_tokens().await.unwrap();
    assert_eq!(
        report.failed,
        vec![format!("link {bob_link}")],
        "{report:?}"
    );
    assert_eq!((report.examined, report.rewrapped), (2, 0));
    let report = rotated.rewrap_tokens().await.unwrap();
    assert_eq!(
        (report.rewrapped, report.failed.len()),
        (1, 0),
        "{report:?}"
    );
}

/// Everything a thief holding a copy of the database and the whole key ring can try with the broker's
/// own crypto code: every key-ring key on every sealed column, every text the copy holds (ids, hashes)
/// and every key as the secret of every wrap. Returns what opened.
async fn what_opens(
    copy: &TestDatabase,
    key_ring: &[(&str, &str)],
    guesses: &[String],
) -> Vec<String> {
    let ring = test_key_ring(key_ring, key_ring[0].0);
    let pool = copy.raw_pool().await;
    let mut opened = Vec::new();
    let links =
        sqlx::query("select link_id, spotify_refresh_token, spotify_access_token from link")
            .fetch_all(&pool)
            .await
            .unwrap();
    let mut texts: Vec<String> = guesses.to_vec();
    for table in TABLES {
        for (_, value) in cell_values(&pool, table).await {
            if let Ok(text) = String::from_utf8(value) {
                texts.push(text);
            }
        }
    }
    texts.extend(key_ring.iter().map(|(_, key)| (*key).to_owned()));
    for row in &links {
        let link_id: String = row.try_get("link_id").unwrap();
        for field in ["spotify_refresh_token", "spotify_access_token"] {
            let Some(sealed) = row.try_get::<Option<Vec<u8>>, _>(field).unwrap() else {
                continue;
            };
            if ring
                .open(&sealed, &FieldAad::new("link", &link_id, field))
                .is_ok()
            {
                opened.push(format!("{link_id} {field} with the key ring"));
            }
        }
    }
    let wraps = sqlx::query(
        "select link_id, token_hash as secret_hash, wrapped_data_key from broker_token
         where wrapped_data_key is not null
         union all
         select link_id, code_hash as secret_hash, wrapped_data_key from authorization_code
         where wrapped_data_key is not null",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for row in &wraps {
        let link_id = LinkId::parse(&row.try_get::<String, _>("link_id").unwrap()).unwrap();
        let hash: String = row.try_get("secret_hash").unwrap();
        let wrapped: Vec<u8> = row.try_get("wrapped_data_key").unwrap();
        for secret in &texts {
            let aad = WrapAad::new(&link_id, &TokenHash::of(secret));
            // As the row says: the wrap is bound to its own token's hash.
            let bound = WrapAad::new(&link_id, &TokenHash::of(&hash));
            for aad in [aad, bound] {
                if DataKey::unwrap_with(&wrapped, secret, &aad).is_ok() {
                    opened.push(format!("a wrap of {link_id} with a guessed secret"));
                }
            }
        }
    }
    assert!(
        !links.is_empty() && !wraps.is_empty(),
        "the copy holds links and wraps"
    );
    opened
}

async fn a_database_copy_with_the_key_ring_opens_no_link(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let alice = broker.link_user(ALICE).await;
    TokenPair::from_response(broker.refresh(&alice.refresh_token).await).await;
    broker.link_user(BOB).await;
    let copy = broker.database().unwrap().backup().await;
    let k2 = generate_key();
    let ring = [
        ("k1", broker.crypto_key.as_str()),
        ("k2", k2.expose_secret()),
    ];
    let opened = what_opens(&copy, &ring, &[]).await;
    assert!(opened.is_empty(), "opened: {opened:?}");
    // The same search with a live broker token opens the link: the search is real.
    let opened = what_opens(&copy, &ring, std::slice::from_ref(&alice.access_token)).await;
    assert!(!opened.is_empty(), "a live token must open its link's wrap");
}

async fn a_backup_taken_before_a_revoke_opens_nothing_after_it(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let alice = broker.link_user(ALICE).await;
    let link_id = broker.link_id_of(ALICE).await;
    let backup = broker.database().unwrap().backup().await;
    let revoked = admin(
        &broker,
        Method::DELETE,
        &format!("/admin/links/{link_id}"),
        &broker.admin_token,
    )
    .await;
    assert_eq!(revoked.status, 204, "{}", revoked.body);

    // The backup with the whole key ring opens no Spotify token of the revoked link.
    let ring = [("k1", broker.crypto_key.as_str())];
    let opened = what_opens(&backup, &ring, &[]).await;
    assert!(opened.is_empty(), "opened: {opened:?}");
    // The live database keeps nothing to open: no sealed token, no wrap, not even for the old token.
    let pool = broker.raw_pool().await;
    let left: i64 = sqlx::query_scalar(
        "select count(*) from broker_token where link_id = $1 and wrapped_data_key is not null",
    )
    .bind(link_id.to_string())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(left, 0);
    let sealed: Option<Vec<u8>> =
        sqlx::query_scalar("select spotify_refresh_token from link where link_id = $1")
            .bind(link_id.to_string())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(sealed.is_none());
    Skill::new(&broker, &alice.access_token)
        .get("/me")
        .await
        .expect_error(401, "relink_required");
}

async fn a_token_row_written_into_the_database_opens_nothing(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let alice = broker.link_user(ALICE).await;
    let forged = BrokerAccessToken::generate();
    let pool = broker.raw_pool().await;
    sqlx::query(
        "insert into broker_token (token_hash, link_id, grant_id, kind, expires_at, created_at)
         select $1, link_id, grant_id, 'access', $2, $3 from broker_token where token_hash = $4",
    )
    .bind(forged.hash().as_str())
    .bind(UnixTime::now().plus_secs(3600).as_secs())
    .bind(UnixTime::now().as_secs())
    .bind(TokenHash::of(&alice.access_token).as_str())
    .execute(&pool)
    .await
    .unwrap();
    let thief = Skill::new(&broker, forged.expose());
    thief.get("/me").await.expect_error(401, "relink_required");
    // With a wrap copied from a real token: still bound to that token's hash.
    sqlx::query(
        "update broker_token set wrapped_data_key =
             (select wrapped_data_key from broker_token where token_hash = $1)
         where token_hash = $2",
    )
    .bind(TokenHash::of(&alice.access_token).as_str())
    .bind(forged.hash().as_str())
    .execute(&pool)
    .await
    .unwrap();
    let restarted = crate::proxy_support::spawn_replica(&broker, &[]).await;
    Skill::at(&restarted.base_url, &broker, forged.expose())
        .get("/me")
        .await
        .expect_error(401, "relink_required");
    // The real user is unaffected.
    Skill::new(&broker, &alice.access_token)
        .get("/me")
        .await
        .expect_ok(200);
}

both_backends!(
    database_holds_no_plaintext_token,
    ciphertext_copied_to_another_row_does_not_open,
    a_link_sealed_by_the_key_ring_keeps_working_and_moves_at_its_next_refresh_grant,
    rotating_the_key_ring_keeps_legacy_rows_readable,
    a_database_copy_with_the_key_ring_opens_no_link,
    a_backup_taken_before_a_revoke_opens_nothing_after_it,
    a_token_row_written_into_the_database_opens_nothing,
);

/// One broker secret the property test holds, and what the model says of it.
#[derive(Debug, Clone)]
struct Held {
    token: String,
    refresh: bool,
    grant: usize,
    live: bool,
}

/// Whether the store opens the link's Spotify tokens with `held`, through the broker's own path (the
/// token's row, its wrap, the data key).
async fn opens(broker: &TestBroker, held: &Held) -> bool {
    let hash = TokenHash::of(&held.token);
    let now = UnixTime::now();
    let (link_id, wrapped) = if held.refresh {
        match broker.store.find_refresh_token(&hash, now).await.unwrap() {
            Some(record) => (record.link_id, record.wrapped_data_key),
            None => return false,
        }
    } else {
        match broker.store.find_access_token(&hash, now).await.unwrap() {
            Some(record) => (record.link_id, record.wrapped_data_key),
            None => return false,
        }
    };
    let Some(key) = wrapped.and_then(|wrapped| {
        DataKey::unwrap_with(&wrapped, &held.token, &WrapAad::new(&link_id, &hash)).ok()
    }) else {
        return false;
    };
    broker
        .store
        .link(&link_id, Some(&key))
        .await
        .ok()
        .flatten()
        .and_then(|link| link.tokens)
        .is_some()
}

/// For generated sequences of mint (link, refresh grant), expire, purge and revoke (a token, a family,
/// the link), the link opens exactly with the broker secrets that are live, and with no other.
#[tokio::test]
async fn a_link_opens_exactly_with_its_live_broker_tokens() {
    let broker = spawn_broker(Backend::Sqlite, spawn_sandbox().await, &[]).await;
    let pool = broker.raw_pool().await;
    // A small deterministic generator: each seed is one reproducible sequence.
    for seed in 1..=6u64 {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut next = |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % bound as u64).unwrap_or(0)
        };
        let mut held: Vec<Held> = Vec::new();
        let mut grants = 0;
        let mint_link = |held: &mut Vec<Held>, pair: TokenPair, grants: &mut usize| {
            for h in held.iter_mut() {
                h.live = false; // a relink revokes every earlier grant
            }
            *grants += 1;
            held.push(Held {
                token: pair.access_token,
                refresh: false,
                grant: *grants,
                live: true,
            });
            held.push(Held {
                token: pair.refresh_token,
                refresh: true,
                grant: *grants,
                live: true,
            });
        };
        mint_link(&mut held, broker.link_user(ALICE).await, &mut grants);
        for _ in 0..12 {
            match next(6) {
                0 => mint_link(&mut held, broker.link_user(ALICE).await, &mut grants),
                1 => {
                    // A refresh grant with any refresh token ever held.
                    let refreshes: Vec<usize> =
                        (0..held.len()).filter(|&i| held[i].refresh).collect();
                    let pick = refreshes[next(refreshes.len())];
                    let answer = broker.refresh(&held[pick].token).await;
                    if held[pick].live {
                        let pair = TokenPair::from_response(answer).await;
                        let grant = held[pick].grant;
                        held.push(Held {
                            token: pair.access_token,
                            refresh: false,
                            grant,
                            live: true,
                        });
                        held.push(Held {
                            token: pair.refresh_token,
                            refresh: true,
                            grant,
                            live: true,
                        });
                    } else {
                        assert_eq!(answer.status(), reqwest::StatusCode::BAD_REQUEST);
                        // A dead refresh token presented revokes its whole family.
                        let grant = held[pick].grant;
                        for h in held.iter_mut().filter(|h| h.grant == grant) {
                            h.live = false;
                        }
                    }
                }
                2 => {
                    // An access token expires.
                    let access: Vec<usize> =
                        (0..held.len()).filter(|&i| !held[i].refresh).collect();
                    let pick = access[next(access.len())];
                    sqlx::query("update broker_token set expires_at = $1 where token_hash = $2")
                        .bind(UnixTime::now().plus_secs(-10).as_secs())
                        .bind(TokenHash::of(&held[pick].token).as_str())
                        .execute(&pool)
                        .await
                        .unwrap();
                    held[pick].live = false;
                }
                3 => {
                    broker.store.purge_expired(UnixTime::now()).await.unwrap();
                }
                4 => {
                    // RFC 7009: a refresh token takes its family with it, an access token only itself.
                    let pick = next(held.len());
                    broker.revoke_token(&held[pick].token).await;
                    if held[pick].refresh {
                        let grant = held[pick].grant;
                        for h in held.iter_mut().filter(|h| h.grant == grant) {
                            h.live = false;
                        }
                    } else {
                        held[pick].live = false;
                    }
                }
                _ => {
                    let link_id = broker.link_id_of(ALICE).await;
                    admin(
                        &broker,
                        Method::DELETE,
                        &format!("/admin/links/{link_id}"),
                        &broker.admin_token,
                    )
                    .await;
                    for h in held.iter_mut() {
                        h.live = false;
                    }
                }
            }
            for h in &held {
                assert_eq!(
                    opens(&broker, h).await,
                    h.live,
                    "seed {seed}: a {} token of grant {} should {}open the link",
                    if h.refresh { "refresh" } else { "access" },
                    h.grant,
                    if h.live { "" } else { "not " }
                );
            }
        }
    }
}
