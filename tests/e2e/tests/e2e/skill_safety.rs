//! The skill's guard rails end to end: unverified requests never reach the broker, a slow Spotify still
//! gets an answer within the time budget, and Spotify's names cannot break the SSML.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use e2e::{ALICE, Backend};
use skill::test_support::TestSkill;
use spotify_sandbox::demo::{self, KITCHEN_DEVICE};
use spotify_sandbox::{PlayerSeed, PlaylistSeed, TrackSeed, UserSeed};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::skill_conversation::{Rig, spotify_id, ssml_text};

/// Header name/value pairs to send.
type Headers = Vec<(&'static str, String)>;

/// A stand-in broker that counts connections and answers every request `503 unavailable`.
async fn counting_broker() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut read = Vec::new();
                while !read.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => read.extend_from_slice(&buf[..n]),
                    }
                }
                let body = r#"{"error":{"code":"unavailable","message":"stand-in"}}"#;
                let answer = format!(
                    "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (url, count)
}

#[tokio::test]
async fn unsigned_or_wrongly_signed_requests_are_refused_before_any_broker_call() {
    let (broker_url, connections) = counting_broker().await;
    let skill = TestSkill::spawn(&broker_url, "svc-stand-in").await.unwrap();
    let body = skill
        .request()
        .linked("bat_some-linked-user-token")
        .intent("WhatsPlayingIntent", &[]);
    let bytes = serde_json::to_vec(&body).unwrap();
    let good = skill.alexa.sign(&bytes).unwrap();
    let mut other_body = body.clone();
    other_body["request"]["intent"]["name"] = "AMAZON.PauseIntent".into();
    let signed_for_other = skill
        .alexa
        .sign(&serde_json::to_vec(&other_body).unwrap())
        .unwrap();
    let mut tampered = bytes.clone();
    // The same JSON with one more space: the signature no longer covers these bytes.
    tampered.push(b' ');

    let cases: Vec<(&str, Vec<u8>, Headers)> = vec![
        ("no signature headers", bytes.clone(), vec![]),
        (
            "no Signature-256",
            bytes.clone(),
            vec![("SignatureCertChainUrl", good.cert_chain_url.clone())],
        ),
        (
            "no SignatureCertChainUrl",
            bytes.clone(),
            vec![("Signature-256", good.signature_256.clone())],
        ),
        (
            "signature of another body",
            bytes.clone(),
            signed_for_other.pairs().to_vec(),
        ),
        (
            "body changed after signing",
            tampered,
            good.pairs().to_vec(),
        ),
        (
            "garbage signature",
            bytes.clone(),
            vec![
                ("SignatureCertChainUrl", good.cert_chain_url.clone()),
                ("Signature-256", "bm90IGEgc2lnbmF0dXJl".to_owned()),
            ],
        ),
    ];
    for (what, bytes, headers) in cases {
        let (status, answer) = skill.send_raw(bytes, &headers).await.unwrap();
        assert_eq!(status, 400, "{what}: {answer}");
        assert!(
            answer["response"].is_null(),
            "{what}: a refused request gets no Alexa answer: {answer}"
        );
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "refused requests must not reach the broker"
    );

    // The same request properly signed does reach it (so the count above means something).
    let (status, answer) = skill.send_raw(bytes, &good.pairs()).await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert!(connections.load(Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn a_spotify_slower_than_the_budget_still_gets_a_polite_answer_in_time() {
    let rig = Rig::start_with_budget(Backend::Sqlite, Some(1000)).await;
    let token = rig.link(ALICE).await;
    // Warm the skill-to-broker path without a Spotify call (and so without filling the broker's cache).
    rig.ask(&token, "WhichAccountIntent", &[]).await.ok();
    rig.sandbox().set_latency(3000).await.unwrap();

    for (intent, slots) in [
        ("WhatsPlayingIntent", vec![]),
        ("NextTrackIntent", vec![]),
        ("PlayPlaylistIntent", vec![("playlist", "road trip")]),
    ] {
        let started = Instant::now();
        let reply = rig.ask(&token, intent, &slots).await;
        let took = started.elapsed();
        reply.ok();
        assert!(
            took < Duration::from_millis(1500),
            "{intent}: answered after {took:?}"
        );
        let speech = reply.speech();
        assert!(
            speech.contains("try again"),
            "{intent}: expected a polite try-again, got {speech:?}"
        );
        assert_ne!(reply.card_type(), Some("LinkAccount"), "{}", reply.body);
        assert_eq!(reply.ends_session(), Some(true));
    }
    rig.sandbox().set_latency(0).await.unwrap();
}

#[tokio::test]
async fn names_that_need_ssml_escaping_stay_valid_xml() {
    let rig = Rig::start(Backend::Sqlite).await;
    let track_id = spotify_id("escapetrack");
    let track = TrackSeed::new(&track_id, "Tom & Jerry <Live>", "Simon & \"Garfunkel\"");
    let playlist_id = spotify_id("rockandroll");
    let mut seed = UserSeed {
        playlists: vec![
            PlaylistSeed {
                id: playlist_id.clone(),
                name: "Rock & <Roll>".to_owned(),
                description: String::new(),
                public: false,
                collaborative: false,
                tracks: vec![track.clone()],
            },
            PlaylistSeed {
                id: spotify_id("quotes"),
                name: "It's \"Fine\" ]]> <speak>".to_owned(),
                description: String::new(),
                public: false,
                collaborative: false,
                tracks: vec![track.clone()],
            },
        ],
        tracks: vec![track],
        player: PlayerSeed {
            device_id: Some(KITCHEN_DEVICE.to_owned()),
            is_playing: true,
            queue: vec![format!("spotify:track:{track_id}")],
            repeat: "off".to_owned(),
            ..PlayerSeed::default()
        },
        ..demo::user("eve")
    };
    seed.display_name = Some("Eve </speak> & Co".to_owned());
    rig.seed(seed).await;
    let token = rig.link("eve").await;

    let playing = rig.ask(&token, "WhatsPlayingIntent", &[]).await;
    playing.ok();
    let ssml = playing.ssml();
    assert!(ssml.contains("Tom &amp; Jerry &lt;Live&gt;"), "{ssml}");
    assert_eq!(
        playing.speech(),
        "This is Tom & Jerry <Live> by Simon & \"Garfunkel\"."
    );
    // Cards are plain text: the names as they are.
    assert_eq!(
        playing.card_content(),
        Some("Tom & Jerry <Live> by Simon & \"Garfunkel\"")
    );

    let list = rig.ask(&token, "ListPlaylistsIntent", &[]).await;
    list.ok();
    assert_eq!(
        list.speech(),
        "You have 2 playlists: Rock & <Roll> and It's \"Fine\" ]]> <speak>. Which playlist should I play?"
    );

    let play = rig
        .ask(
            &token,
            "PlayPlaylistIntent",
            &[("playlist", "rock and roll")],
        )
        .await;
    play.ok();
    assert_eq!(play.speech(), "Playing your playlist Rock & <Roll>.");
    assert_eq!(
        rig.player("eve").await.context_uri.as_deref(),
        Some(format!("spotify:playlist:{playlist_id}").as_str())
    );

    let account = rig.ask(&token, "WhichAccountIntent", &[]).await;
    account.ok();
    assert_eq!(
        account.speech(),
        "This skill is linked to the Spotify account Eve </speak> & Co."
    );

    // A spoken name that is not found is echoed back escaped as well.
    let unknown = rig
        .ask(
            &token,
            "PlayPlaylistIntent",
            &[("playlist", "<b>jazz & blues</b>")],
        )
        .await;
    unknown.ok();
    assert!(
        unknown
            .speech()
            .starts_with("I couldn't find a playlist called <b>jazz & blues</b>"),
        "{}",
        unknown.body
    );
    for reply in [&playing, &list, &play, &account, &unknown] {
        if let Some(reprompt) = reply.body["response"]["reprompt"]["outputSpeech"]["ssml"].as_str()
        {
            ssml_text(reprompt);
        }
    }
}
