//! What the database holds: hashes and sealed tokens only, ciphertexts bound to their row, and keys that
//! rotate without losing old rows. Read and tampered with directly, behind the broker's back.

use broker::crypto::{KeyRing, generate_key};
use broker::domain::TokenHash;
use e2e::{
    ALICE, BOB, Backend, TokenPair, open_store, pkce_pair, spawn_broker, spawn_sandbox,
    test_key_ring,
};
use secrecy::ExposeSecret;
use sqlx::{AnyPool, Column, Row};

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
    for user in [ALICE, BOB] {
        let link = broker
            .store
            .link(&broker.link_id_of(user).await)
            .await
            .unwrap()
            .unwrap();
        let tokens = link.tokens.unwrap();
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
    assert!(cells.iter().any(|(c, _)| c == "link.spotify_refresh_token"));
    assert!(
        cells
            .iter()
            .any(|(c, _)| c == "pending_authorization.spotify_code_verifier")
    );
}

async fn ciphertext_copied_to_another_row_does_not_open(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    broker.link_user(ALICE).await;
    broker.link_user(BOB).await;
    let (alice, bob) = (broker.link_id_of(ALICE).await, broker.link_id_of(BOB).await);
    let pool = broker.raw_pool().await;

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
    let err = broker.store.link(&bob).await.unwrap_err();
    assert!(
        matches!(err, broker::store::StoreError::Cipher(_)),
        "expected a cipher error, got {err:?}"
    );
    // Alice's row is untouched and opens.
    assert!(
        broker
            .store
            .link(&alice)
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
        broker.store.link(&alice).await,
        Err(broker::store::StoreError::Cipher(_))
    ));

    // A flipped bit.
    let sealed: Vec<u8> =
        sqlx::query_scalar("select spotify_access_token from link where link_id = $1")
            .bind(alice.to_string())
            .fetch_one(&pool)
            .await
            .unwrap();
    let mut flipped = sealed.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    sqlx::query("update link set spotify_refresh_token = $1 where link_id = $2")
        .bind(flipped)
        .bind(bob.to_string())
        .execute(&pool)
        .await
        .unwrap();
    assert!(broker.store.link(&bob).await.is_err());
}

async fn rotating_the_active_key_keeps_old_rows_readable(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    broker.link_user(ALICE).await;
    let link_id = broker.link_id_of(ALICE).await;
    let original = broker
        .store
        .link(&link_id)
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
        .link(&link_id)
        .await
        .unwrap()
        .unwrap()
        .tokens
        .unwrap();
    assert_eq!(
        opened.refresh_token.expose_secret(),
        original.refresh_token.expose_secret()
    );
    // Re-sealing moves every row to k2, once.
    assert_eq!(rotated.rewrap_tokens().await.unwrap(), 1);
    assert_eq!(rotated.rewrap_tokens().await.unwrap(), 0);
    assert_eq!(
        key_ids(pool.clone()).await,
        ("k2".to_owned(), "k2".to_owned())
    );

    // k1 can now leave the ring.
    let only_k2 = open_store(&broker.db_url, test_key_ring(&[("k2", k2)], "k2"));
    let opened = only_k2
        .link(&link_id)
        .await
        .unwrap()
        .unwrap()
        .tokens
        .unwrap();
    assert_eq!(
        opened.access_token.expose_secret(),
        original.access_token.expose_secret()
    );
    // And a ring without k2 cannot open them.
    let only_k1 = open_store(&broker.db_url, test_key_ring(&[("k1", k1)], "k1"));
    assert!(matches!(
        only_k1.link(&link_id).await,
        Err(broker::store::StoreError::Cipher(_))
    ));
}

both_backends!(
    database_holds_no_plaintext_token,
    ciphertext_copied_to_another_row_does_not_open,
    rotating_the_active_key_keeps_old_rows_readable,
);
