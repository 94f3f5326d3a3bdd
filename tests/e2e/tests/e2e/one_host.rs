//! One host as the README deploys it: Caddy with the shipped Caddyfile (certificates from its internal CA,
//! on loopback ports) in front of the real broker and skill processes. A user links through the HTTPS
//! front door and talks to the skill over it, and nothing but `/oauth/*` and `/alexa` gets through.

use std::path::Path;
use std::time::{Duration, Instant};

use e2e::process::{Cluster, Process, SKILL_ID, free_port};
use e2e::{ALICE, spawn_sandbox};
use reqwest::{Method, StatusCode};
use skill::test_support::AlexaRequest;

/// The shipped Caddyfile for a test: Caddy's own CA instead of a public one (what `tls internal` does for
/// every site), its admin endpoint off, its HTTP port on a free loopback port, and nothing installed
/// into the system's trust store. The sites and upstreams come from the environment as in production.
fn test_caddyfile(http_port: u16) -> String {
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/caddy/Caddyfile"),
    )
    .expect("deploy/caddy/Caddyfile");
    let global = "{\n";
    let at = shipped
        .find(global)
        .expect("the Caddyfile opens with a global options block");
    format!(
        "{}{global}\tlocal_certs\n\tskip_install_trust\n\tadmin off\n\tdefault_bind 127.0.0.1\n\thttp_port {http_port}\n{}",
        &shipped[..at],
        &shipped[at + global.len()..]
    )
}

/// Starts Caddy and waits for its local CA's root certificate (PEM).
async fn start_caddy(cluster: &Cluster, env: &[(String, String)]) -> (Process, Vec<u8>) {
    let caddy = which("caddy").unwrap_or_else(|| {
        panic!(
            "caddy is not installed: `apt-get install caddy` (scripts/check-deploy, run by .ci/run, \
             installs it)"
        )
    });
    let home = cluster.dir.join("caddy-home");
    std::fs::create_dir_all(&home).unwrap();
    let config = cluster.dir.join("Caddyfile");
    std::fs::write(&config, test_caddyfile(free_port())).unwrap();
    let mut env = env.to_vec();
    for key in ["HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"] {
        env.push((key.to_owned(), home.display().to_string()));
    }
    let process = Process::start(
        "caddy",
        &caddy,
        &[
            "run",
            "--adapter",
            "caddyfile",
            "--config",
            config.to_str().unwrap(),
        ],
        &env,
        &cluster.dir,
    );
    let root = home.join("caddy/pki/authorities/local/root.crt");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(pem) = std::fs::read(&root) {
            if !pem.is_empty() {
                return (process, pem);
            }
        }
        if Instant::now() > deadline {
            panic!("caddy made no CA within 20 s:\n{}", process.output());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    })
}

#[tokio::test]
async fn caddy_in_front_links_a_user_holds_a_conversation_and_exposes_nothing_else() {
    let (link_port, skill_port) = (free_port(), free_port());
    let front = format!("https://localhost:{link_port}");
    let skill_front = format!("https://localhost:{skill_port}");
    let mut cluster = Cluster::start(spawn_sandbox().await, 1, Some(front.clone()), &[]).await;
    let broker = cluster.brokers[0].base_url();
    let admin = cluster.brokers[0].admin_url();
    let skill = cluster.start_skill(&broker).await;
    let env: Vec<(String, String)> = [
        ("BROKER_HOST", format!("localhost:{link_port}")),
        (
            "BROKER_UPSTREAM",
            broker.trim_start_matches("http://").to_owned(),
        ),
        ("SKILL_HOST", format!("localhost:{skill_port}")),
        (
            "SKILL_UPSTREAM",
            skill.trim_start_matches("http://").to_owned(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let (caddy, root_pem) = start_caddy(&cluster, &env).await;

    // The test's clients trust Caddy's internal CA (and nothing is accepted unverified).
    let root = reqwest::Certificate::from_pem(&root_pem).expect("caddy's root certificate");
    let client = |cookies: bool| {
        reqwest::Client::builder()
            .add_root_certificate(root.clone())
            .cookie_store(cookies)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap()
    };
    cluster.browser = client(true);
    cluster.http = client(false);
    let deadline = Instant::now() + Duration::from_secs(20);
    while cluster
        .http
        .get(format!("{front}/oauth/authorize"))
        .send()
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "caddy does not serve {front}:\n{}",
            caddy.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Linking, entirely through the front door: Spotify sends the user back to the public URL.
    let code = cluster.link_code(ALICE, &front, &front).await;
    let alice = cluster.exchange(&front, &code).await;
    let refreshed = cluster.refresh(&front, &alice.refresh_token).await;

    // A conversation over HTTPS.
    for (intent, token) in [
        ("WhatsPlayingIntent", &alice.access_token),
        ("ListPlaylistsIntent", &refreshed.access_token),
    ] {
        let request = AlexaRequest::new(SKILL_ID)
            .linked(token)
            .intent(intent, &[]);
        let response = cluster
            .http
            .post(format!("{skill_front}/alexa"))
            .json(&request)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{intent}");
        let answer: serde_json::Value = response.json().await.unwrap();
        let speech = answer["response"]["outputSpeech"]["ssml"]
            .as_str()
            .unwrap_or_default();
        assert!(
            !speech.to_lowercase().contains("link your"),
            "{intent}: {answer}"
        );
        assert!(speech.len() > 20, "{intent}: {answer}");
    }

    // The internal API, the admin API, metrics and health stay behind Caddy, while they do answer on
    // loopback (and the admin API only on its own listener).
    let get = |url: String, bearer: Option<&str>| {
        let mut request = cluster
            .http
            .request(Method::GET, &url)
            .header("X-Service-Token", &cluster.service_token);
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        async move { (url.clone(), request.send().await.unwrap().status()) }
    };
    let token = refreshed.access_token.as_str();
    let admin_token = cluster.admin_token.as_str();
    for (url, bearer) in [
        (format!("{front}/v1/spotify/me"), Some(token)),
        (format!("{front}/v1/link"), Some(token)),
        (format!("{front}/admin/links"), Some(admin_token)),
        (format!("{front}/metrics"), None),
        (format!("{front}/readyz"), None),
        (format!("{front}/alexa"), None),
        (format!("{skill_front}/healthz"), None),
        (format!("{skill_front}/oauth/authorize"), None),
        (format!("{front}/oauth/../v1/spotify/me"), Some(token)),
        (format!("{front}/oauth/%2e%2e/v1/spotify/me"), Some(token)),
    ] {
        let (url, status) = get(url, bearer).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{url} must not get through");
    }
    let (url, status) = get(format!("{broker}/v1/spotify/me"), Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{url} works on loopback");
    let (url, status) = get(format!("{admin}/admin/links"), Some(admin_token)).await;
    assert_eq!(status, StatusCode::OK, "{url}: the admin listener");
    let (url, status) = get(format!("{broker}/admin/links"), Some(admin_token)).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "{url}: with server.admin_bind the main listener serves no /admin/*"
    );
}
