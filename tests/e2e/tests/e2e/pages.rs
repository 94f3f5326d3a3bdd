//! What a person sees while linking, checked in a real browser: headless Chromium (Debian's package,
//! installed by `scripts/install-browser`) opens each page the broker can show, in English and German
//! by the browser's `Accept-Language`, and the rendered DOM must carry that language's words, the
//! phone viewport and nothing internal.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use broker::oauth::{Page, page_words};
use e2e::app::encode;
use e2e::{Backend, TestBroker, spawn_broker, spawn_sandbox};
use spotify_sandbox::{AppPatch, SandboxConfig, UserSeed, spawn};

const LANGUAGES: [(&str, &str); 2] = [("en-US,en;q=0.9", "en"), ("de-DE,de;q=0.9", "de")];

/// The DOM Chromium renders for `url` with `accept_language`, in a fresh profile (no cookies carried
/// over), following redirects as a browser does.
async fn rendered(url: &str, accept_language: &str) -> String {
    static RUN: AtomicUsize = AtomicUsize::new(0);
    let profile = std::env::temp_dir().join(format!(
        "broker-pages-{}-{}",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    ));
    let output = tokio::time::timeout(
        Duration::from_secs(90),
        tokio::process::Command::new("chromium")
            .arg("--headless")
            .arg("--no-sandbox")
            .arg("--disable-gpu")
            .arg("--no-first-run")
            .arg("--window-size=390,844")
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--accept-lang={accept_language}"))
            .arg(format!("--lang={accept_language}"))
            .arg("--dump-dom")
            .arg(url)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("chromium answered within 90 s")
    .unwrap_or_else(|err| {
        panic!("running chromium failed ({err}); install it with scripts/install-browser")
    });
    let _ = std::fs::remove_dir_all(&profile);
    assert!(output.status.success(), "chromium failed: {output:?}");
    String::from_utf8(output.stdout).expect("the dom is utf-8")
}

/// Checks that the DOM is `page` in `lang`, readable on a phone, with nothing internal on it.
fn assert_page(dom: &str, page: Page, lang: &str) {
    let (served_lang, title, what, next) = page_words(page, lang);
    assert_eq!(served_lang, lang);
    assert!(
        dom.contains(&format!("<html lang=\"{lang}\"")),
        "{page:?} {lang}: {dom}"
    );
    for text in [&title, &what, &next] {
        assert!(!text.is_empty());
        assert!(
            dom.contains(text.as_str()),
            "{page:?} {lang} lacks {text:?}: {dom}"
        );
    }
    assert!(dom.contains("name=\"viewport\""), "{page:?}: {dom}");
    for internal in [
        "invalid_request",
        "invalid_client",
        "redirect_uri",
        "temporarily_unavailable",
        "bst_",
        "bbb_",
        "state",
    ] {
        assert!(
            !dom.contains(internal),
            "{page:?} {lang} shows {internal}: {dom}"
        );
    }
}

fn authorize_url(broker: &TestBroker) -> String {
    broker.url(&format!(
        "/oauth/authorize?{}",
        encode(&broker.authorize_params("alexa-state"))
    ))
}

async fn check_each_language(url: impl Fn() -> String, page: Page) {
    for (accept, lang) in LANGUAGES {
        assert_page(&rendered(&url(), accept).await, page, lang);
    }
}

#[tokio::test]
async fn an_untrusted_request() {
    let broker = spawn_broker(Backend::Sqlite, spawn_sandbox().await, &[]).await;
    let url = broker.url("/oauth/authorize?response_type=code&client_id=somebody-else");
    check_each_language(|| url.clone(), Page::UntrustedRequest).await;
}

#[tokio::test]
async fn an_expired_attempt_and_another_browser() {
    let broker = spawn_broker(Backend::Sqlite, spawn_sandbox().await, &[]).await;
    let expired = broker.url("/oauth/spotify/callback?code=abc");
    check_each_language(|| expired.clone(), Page::AttemptExpired).await;
    let elsewhere = broker.url(&format!(
        "/oauth/spotify/callback?code=abc&state=bst_{}",
        "A".repeat(43)
    ));
    check_each_language(|| elsewhere.clone(), Page::WrongBrowser).await;
}

#[tokio::test]
async fn too_many_attempts() {
    let limits = [("oauth.authorize_per_minute_per_address", "1")];
    let broker = spawn_broker(Backend::Sqlite, spawn_sandbox().await, &limits).await;
    broker
        .start_authorization(&broker.authorize_params("first"))
        .await;
    check_each_language(|| authorize_url(&broker), Page::TooManyAttempts).await;
}

#[tokio::test]
async fn a_user_not_on_the_allowlist() {
    // The sandbox approves its default user at once: here, one Spotify has not allowlisted.
    let outsider = UserSeed {
        registered: false,
        ..UserSeed::new("olga")
    };
    let sandbox = spawn(
        SandboxConfig {
            workers: 1,
            ..SandboxConfig::with_users(vec![outsider])
        },
        "127.0.0.1:0",
    )
    .await
    .expect("sandbox");
    let broker = spawn_broker(Backend::Sqlite, sandbox, &[]).await;
    check_each_language(|| authorize_url(&broker), Page::NotOnAllowlist).await;
    assert!(broker.store.list_links(None, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_owner_without_premium() {
    let broker = spawn_broker(Backend::Sqlite, spawn_sandbox().await, &[]).await;
    broker
        .sandbox
        .client
        .update_app(&AppPatch {
            owner_premium: Some(false),
            ..AppPatch::default()
        })
        .await
        .unwrap();
    check_each_language(|| authorize_url(&broker), Page::OwnerLacksPremium).await;
}
