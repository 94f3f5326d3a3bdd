//! Conversations through the skill against the fake broker: every intent, every error, events, budget, limits.

use std::time::{Duration, Instant};

use broker_proto::ErrorCode;
use serde_json::{Value, json};
use skill::test_support::{TestSkill, TestSkillOptions};

use crate::fake_broker::{
    Canned, FakeBroker, SERVICE_TOKEN, USER_TOKEN, link_json, playlists_json,
};

async fn setup() -> (FakeBroker, TestSkill) {
    let broker = FakeBroker::spawn().await;
    let skill = TestSkill::spawn(&broker.url, SERVICE_TOKEN).await.unwrap();
    (broker, skill)
}

fn ssml(answer: &Value) -> String {
    answer["response"]["outputSpeech"]["ssml"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn has_link_card(answer: &Value) -> bool {
    answer["response"]["card"]["type"] == "LinkAccount"
}

async fn ask(skill: &TestSkill, intent: &str, slots: &[(&str, &str)]) -> Value {
    let (status, answer) = skill
        .send(&skill.request().linked(USER_TOKEN).intent(intent, slots))
        .await
        .unwrap();
    assert_eq!(status, 200, "{answer}");
    answer
}

#[tokio::test]
async fn not_linked_users_get_the_link_account_card() {
    let (broker, skill) = setup().await;
    for request in [
        skill.request().launch(),
        skill.request().intent("WhatsPlayingIntent", &[]),
        skill.request().intent("AMAZON.PauseIntent", &[]),
    ] {
        let (status, answer) = skill.send(&request).await.unwrap();
        assert_eq!(status, 200);
        assert!(has_link_card(&answer), "{answer}");
        assert!(ssml(&answer).contains("link your Spotify account"));
        assert_eq!(answer["response"]["shouldEndSession"], true);
    }
    assert!(broker.calls().is_empty());
}

#[tokio::test]
async fn launch_welcomes_a_linked_user() {
    let (broker, skill) = setup().await;
    let (_, answer) = skill
        .send(&skill.request().linked(USER_TOKEN).launch())
        .await
        .unwrap();
    assert!(ssml(&answer).contains("Welcome"));
    assert_eq!(answer["response"]["shouldEndSession"], false);
    assert!(answer["response"]["reprompt"].is_object());
    let calls = broker.calls_to("GET", "/v1/link");
    assert_eq!(calls.len(), 1);
    let deadline = calls[0].deadline_ms.unwrap();
    assert!(deadline > 5_000 && deadline <= 6_000, "{deadline}");
}

#[tokio::test]
async fn whats_playing_names_track_and_artists_escaped() {
    let (broker, skill) = setup().await;
    broker.set(
        "GET",
        "/me/player/currently-playing",
        Canned::Json(
            200,
            json!({
                "is_playing": true,
                "currently_playing_type": "track",
                "item": {"type": "track", "name": "Rock & <Roll>", "artists": [{"name": "AC/DC"}, {"name": "Tom's Band"}]}
            }),
        ),
    );
    let answer = ask(&skill, "WhatsPlayingIntent", &[]).await;
    assert_eq!(
        ssml(&answer),
        "<speak>This is Rock &amp; &lt;Roll&gt; by AC/DC and Tom&apos;s Band.</speak>"
    );
    assert_eq!(
        answer["response"]["card"]["content"],
        "Rock & <Roll> by AC/DC and Tom's Band"
    );
    let call = &broker.calls_to("GET", "/v1/spotify/me/player/currently-playing")[0];
    assert!(
        call.query.contains("additional_types=track%2Cepisode"),
        "{}",
        call.query
    );
}

#[tokio::test]
async fn characters_illegal_in_xml_from_spotify_never_reach_ssml() {
    let (broker, skill) = setup().await;
    broker.set(
        "GET",
        "/me/player/currently-playing",
        Canned::Json(
            200,
            json!({
                "is_playing": true,
                "item": {"type": "track", "name": "Odd\u{FFFE}Song\u{FFFF}", "artists": [{"name": "A\u{FDD0}B"}]}
            }),
        ),
    );
    let answer = ask(&skill, "WhatsPlayingIntent", &[]).await;
    assert_eq!(ssml(&answer), "<speak>This is OddSong by AB.</speak>");
    assert_eq!(answer["response"]["card"]["content"], "OddSong by AB");

    // A lone surrogate escaped in Spotify's JSON: no panic, no surrogate in the speech, an answer.
    broker.set(
        "GET",
        "/me/player/currently-playing",
        Canned::Raw(
            200,
            r#"{"is_playing": true, "item": {"type": "track", "name": "Bad\uD800Name", "artists": []}}"#,
        ),
    );
    let answer = ask(&skill, "WhatsPlayingIntent", &[]).await;
    let speech = ssml(&answer);
    assert!(
        speech.starts_with("<speak>") && !speech.contains("Bad"),
        "{speech}"
    );
}

#[tokio::test]
async fn a_lone_surrogate_in_an_alexa_request_is_refused_not_spoken() {
    let broker = FakeBroker::spawn().await;
    let skill = TestSkill::spawn(&broker.url, SERVICE_TOKEN).await.unwrap();
    let request = skill
        .request()
        .linked(USER_TOKEN)
        .intent("PlayPlaylistIntent", &[("playlist", "PLACEHOLDER")]);
    let body = serde_json::to_string(&request)
        .unwrap()
        .replace("PLACEHOLDER", "\\uD800x")
        .into_bytes();
    let headers = skill.alexa.sign(&body).unwrap();
    let (status, json) = skill.send_raw(body, &headers.pairs()).await.unwrap();
    assert_eq!(status, 400, "{json}");
    assert_eq!(json["error"]["code"], "malformed_request");
}

#[tokio::test]
async fn whats_playing_for_podcasts_and_silence() {
    let (broker, skill) = setup().await;
    broker.set(
        "GET",
        "/me/player/currently-playing",
        Canned::Json(
            200,
            json!({
                "is_playing": true,
                "currently_playing_type": "episode",
                "item": {"type": "episode", "name": "Episode 12", "show": {"name": "The Daily Thing"}}
            }),
        ),
    );
    let answer = ask(&skill, "WhatsPlayingIntent", &[]).await;
    assert!(ssml(&answer).contains("Episode 12, from the podcast The Daily Thing"));

    broker.set("GET", "/me/player/currently-playing", Canned::NoContent);
    let answer = ask(&skill, "WhatsPlayingIntent", &[]).await;
    assert!(ssml(&answer).contains("Nothing is playing"));
}

#[tokio::test]
async fn list_playlists_reads_the_first_few_and_the_count() {
    let (broker, skill) = setup().await;
    broker.set(
        "GET",
        "/me/playlists",
        Canned::Json(
            200,
            playlists_json(&["One", "Two", "Three", "Four", "Five", "Six", "Seven"]),
        ),
    );
    let answer = ask(&skill, "ListPlaylistsIntent", &[]).await;
    assert_eq!(
        ssml(&answer),
        "<speak>You have 7 playlists. The first 5 are One, Two, Three, Four and Five. Which playlist should I play?</speak>"
    );
    assert_eq!(answer["response"]["shouldEndSession"], false);
    assert!(
        answer["response"]["card"]["content"]
            .as_str()
            .unwrap()
            .contains("7. Seven")
    );
}

#[tokio::test]
async fn play_playlist_by_fuzzy_name() {
    let (broker, skill) = setup().await;
    broker.set(
        "GET",
        "/me/playlists",
        Canned::Json(
            200,
            playlists_json(&["Workout", "Chill Evening!", "Road Trip"]),
        ),
    );
    broker.set("PUT", "/me/player/play", Canned::NoContent);
    let answer = ask(
        &skill,
        "PlayPlaylistIntent",
        &[("playlist", "chil evening")],
    )
    .await;
    assert_eq!(
        ssml(&answer),
        "<speak>Playing your playlist Chill Evening!.</speak>"
    );
    let plays = broker.calls_to("PUT", "/v1/spotify/me/player/play");
    assert_eq!(plays.len(), 1);
    let body: Value = serde_json::from_str(&plays[0].body).unwrap();
    assert_eq!(body, json!({"context_uri": "spotify:playlist:pl1"}));
}

#[tokio::test]
async fn two_matching_playlists_are_asked_back() {
    let (broker, skill) = setup().await;
    broker.set(
        "GET",
        "/me/playlists",
        Canned::Json(
            200,
            playlists_json(&["Chill Morning", "Chill Evening", "Metal"]),
        ),
    );
    let answer = ask(&skill, "PlayPlaylistIntent", &[("playlist", "chill")]).await;
    let speech = ssml(&answer);
    assert!(
        speech.contains("Chill Morning, or Chill Evening"),
        "{speech}"
    );
    assert_eq!(answer["response"]["shouldEndSession"], false);
    assert!(
        broker
            .calls_to("PUT", "/v1/spotify/me/player/play")
            .is_empty()
    );
}

#[tokio::test]
async fn playlist_names_that_need_escaping_are_safe() {
    let (broker, skill) = setup().await;
    broker.set(
        "GET",
        "/me/playlists",
        Canned::Json(
            200,
            playlists_json(&["Rock & <Roll>", "\"Quotes\" & 'Apostrophes'"]),
        ),
    );
    broker.set("PUT", "/me/player/play", Canned::NoContent);
    let answer = ask(&skill, "ListPlaylistsIntent", &[]).await;
    assert_eq!(
        ssml(&answer),
        "<speak>You have 2 playlists: Rock &amp; &lt;Roll&gt; and &quot;Quotes&quot; &amp; &apos;Apostrophes&apos;. Which playlist should I play?</speak>"
    );
    let answer = ask(
        &skill,
        "PlayPlaylistIntent",
        &[("playlist", "rock and roll")],
    )
    .await;
    assert_eq!(
        ssml(&answer),
        "<speak>Playing your playlist Rock &amp; &lt;Roll&gt;.</speak>"
    );
}

#[tokio::test]
async fn playback_commands_reach_spotify() {
    let (broker, skill) = setup().await;
    broker.set("PUT", "/me/player/pause", Canned::NoContent);
    broker.set("PUT", "/me/player/play", Canned::NoContent);
    broker.set("POST", "/me/player/next", Canned::NoContent);
    broker.set("POST", "/me/player/previous", Canned::NoContent);
    for (intent, method, path, said) in [
        (
            "PauseMusicIntent",
            "PUT",
            "/v1/spotify/me/player/pause",
            "Paused.",
        ),
        (
            "AMAZON.PauseIntent",
            "PUT",
            "/v1/spotify/me/player/pause",
            "Paused.",
        ),
        (
            "AMAZON.ResumeIntent",
            "PUT",
            "/v1/spotify/me/player/play",
            "Resuming.",
        ),
        (
            "NextTrackIntent",
            "POST",
            "/v1/spotify/me/player/next",
            "Skipping ahead.",
        ),
        (
            "AMAZON.PreviousIntent",
            "POST",
            "/v1/spotify/me/player/previous",
            "Going back.",
        ),
    ] {
        let before = broker.calls_to(method, path).len();
        let answer = ask(&skill, intent, &[]).await;
        assert_eq!(ssml(&answer), format!("<speak>{said}</speak>"), "{intent}");
        assert_eq!(broker.calls_to(method, path).len(), before + 1, "{intent}");
    }
}

#[tokio::test]
async fn each_broker_error_gets_its_own_answer() {
    let (broker, skill) = setup().await;
    let cases = [
        (
            Canned::Error(ErrorCode::NoActiveDevice, None),
            "Open Spotify on your phone",
        ),
        (
            Canned::Error(ErrorCode::PremiumRequired, None),
            "Spotify Premium",
        ),
        (
            Canned::Error(ErrorCode::RateLimited, Some(30)),
            "try again in 30 seconds",
        ),
        (
            Canned::Error(ErrorCode::UpstreamUnavailable, None),
            "Spotify isn't responding",
        ),
        (
            Canned::Error(ErrorCode::Unavailable, None),
            "trouble reaching your linked account",
        ),
        (
            Canned::Error(ErrorCode::AppNotPermitted, None),
            "skill's owner",
        ),
        (
            Canned::Error(ErrorCode::Forbidden, None),
            "pausing what is already paused",
        ),
        (
            Canned::Error(ErrorCode::QuotaExceeded, Some(600)),
            "about 10 minutes",
        ),
    ];
    for (canned, expected) in cases {
        broker.set("PUT", "/me/player/pause", canned.clone());
        let answer = ask(&skill, "AMAZON.PauseIntent", &[]).await;
        assert!(
            ssml(&answer).contains(expected),
            "{canned:?}: {}",
            ssml(&answer)
        );
        assert!(!has_link_card(&answer));
    }
}

#[tokio::test]
async fn relink_required_always_sends_the_link_account_card() {
    let (broker, skill) = setup().await;
    broker.set(
        "GET",
        "/me/player/currently-playing",
        Canned::Error(ErrorCode::RelinkRequired, None),
    );
    let answer = ask(&skill, "WhatsPlayingIntent", &[]).await;
    assert!(has_link_card(&answer), "{answer}");
    assert!(ssml(&answer).contains("linked again"));

    broker.with_state(|s| s.link_error = Some(Canned::Error(ErrorCode::RelinkRequired, None)));
    let (_, answer) = skill
        .send(&skill.request().linked(USER_TOKEN).launch())
        .await
        .unwrap();
    assert!(has_link_card(&answer));
    let answer = ask(&skill, "WhichAccountIntent", &[]).await;
    assert!(has_link_card(&answer));
}

#[tokio::test]
async fn which_account_names_the_spotify_user() {
    let (_broker, skill) = setup().await;
    let answer = ask(&skill, "WhichAccountIntent", &[]).await;
    assert_eq!(
        ssml(&answer),
        "<speak>This skill is linked to the Spotify account Test Listener.</speak>"
    );
}

#[tokio::test]
async fn relink_reminder_comes_within_two_weeks_once_a_day() {
    let (broker, skill) = setup().await;
    let due = chrono::Utc::now() + chrono::Duration::days(5);
    broker.with_state(|s| s.link = Some(link_json(due, Some("Ann"))));
    broker.set("PUT", "/me/player/pause", Canned::NoContent);

    let first = ask(&skill, "AMAZON.PauseIntent", &[]).await;
    assert!(
        ssml(&first).starts_with("<speak>Paused. By the way"),
        "{}",
        ssml(&first)
    );
    assert!(has_link_card(&first));

    let second = ask(&skill, "AMAZON.PauseIntent", &[]).await;
    assert_eq!(ssml(&second), "<speak>Paused.</speak>");
    assert!(!has_link_card(&second));
    // The link status was looked up once and remembered.
    assert_eq!(broker.calls_to("GET", "/v1/link").len(), 1);
}

#[tokio::test]
async fn no_reminder_when_relink_is_far_off() {
    let (broker, skill) = setup().await;
    broker.set("PUT", "/me/player/pause", Canned::NoContent);
    let answer = ask(&skill, "AMAZON.PauseIntent", &[]).await;
    assert_eq!(ssml(&answer), "<speak>Paused.</speak>");
}

const TEST_USER_ID: &str = "amzn1.ask.account.TESTUSER";

#[tokio::test]
async fn skill_disabled_revokes_the_link() {
    let (broker, skill) = setup().await;
    let event = skill
        .request()
        .linked(USER_TOKEN)
        .event("AlexaSkillEvent.SkillDisabled");
    let (status, answer) = skill.send(&event).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(answer, json!({"version": "1.0", "response": {}}));
    let revokes = broker.calls_to("POST", "/v1/link/revoke");
    assert_eq!(revokes.len(), 1);
    assert_eq!(revokes[0].user_id.as_deref(), Some(TEST_USER_ID));
    assert_eq!(
        revokes[0].authorization.as_deref(),
        Some(format!("Bearer {USER_TOKEN}").as_str())
    );

    // Already revoked: still acknowledged.
    broker.with_state(|s| s.revoke = Some(Canned::Error(ErrorCode::RelinkRequired, None)));
    let (status, _) = skill.send(&event).await.unwrap();
    assert_eq!(status, 200);

    // Broker down: 503 so Alexa redelivers.
    broker.with_state(|s| s.revoke = Some(Canned::Error(ErrorCode::Unavailable, None)));
    let (status, _) = skill.send(&event).await.unwrap();
    assert_eq!(status, 503);
}

#[tokio::test]
async fn skill_disabled_without_a_token_still_revokes_by_user_id() {
    let (broker, skill) = setup().await;
    // Alexa sends no token once the user's token has expired; nor, here, an eventCreationTime.
    let mut event = skill.request().event("AlexaSkillEvent.SkillDisabled");
    event["request"]
        .as_object_mut()
        .unwrap()
        .remove("eventCreationTime");
    let (status, answer) = skill.send(&event).await.unwrap();
    assert_eq!(status, 200, "{answer}");
    let revokes = broker.calls_to("POST", "/v1/link/revoke");
    assert_eq!(revokes.len(), 1, "{:?}", broker.calls());
    assert_eq!(revokes[0].user_id.as_deref(), Some(TEST_USER_ID));
    assert_eq!(revokes[0].authorization, None);

    // The broker's store is down: Alexa must redeliver.
    broker.with_state(|s| s.revoke = Some(Canned::Error(ErrorCode::Unavailable, None)));
    let (status, _) = skill.send(&event).await.unwrap();
    assert_eq!(status, 503);
    assert_eq!(broker.calls_to("POST", "/v1/link/revoke").len(), 2);
}

#[tokio::test]
async fn skill_disabled_with_the_broker_unreachable_asks_for_redelivery() {
    // A port nothing listens on: the broker cannot be reached at all.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let skill = TestSkill::spawn(&url, SERVICE_TOKEN).await.unwrap();
    for request in [skill.request(), skill.request().linked(USER_TOKEN)] {
        let (status, _) = skill
            .send(&request.event("AlexaSkillEvent.SkillDisabled"))
            .await
            .unwrap();
        assert!((500..600).contains(&status), "{status}");
    }
}

#[tokio::test]
async fn account_linked_binds_the_user_with_the_new_token() {
    let (broker, skill) = setup().await;
    // The new token comes in the event's body; the context may not carry it yet.
    let mut event = skill
        .request()
        .linked(USER_TOKEN)
        .event("AlexaSkillEvent.SkillAccountLinked");
    event["context"]["System"]["user"]
        .as_object_mut()
        .unwrap()
        .remove("accessToken");
    event["request"]
        .as_object_mut()
        .unwrap()
        .remove("eventCreationTime");
    let (status, answer) = skill.send(&event).await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["response"], json!({}));
    let lookups = broker.calls_to("GET", "/v1/link");
    assert_eq!(lookups.len(), 1, "{:?}", broker.calls());
    assert_eq!(lookups[0].user_id.as_deref(), Some(TEST_USER_ID));
    assert_eq!(
        lookups[0].authorization.as_deref(),
        Some(format!("Bearer {USER_TOKEN}").as_str())
    );

    // The broker cannot bind now: Alexa must redeliver.
    broker.with_state(|s| s.link_error = Some(Canned::Error(ErrorCode::Unavailable, None)));
    let (status, _) = skill.send(&event).await.unwrap();
    assert_eq!(status, 503);
}

#[tokio::test]
async fn skill_enabled_is_acknowledged_without_a_broker_call() {
    let (broker, skill) = setup().await;
    let (status, _) = skill
        .send(&skill.request().event("AlexaSkillEvent.SkillEnabled"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(broker.calls().is_empty());
}

#[tokio::test]
async fn every_broker_call_names_the_alexa_user() {
    let (broker, skill) = setup().await;
    broker.set("PUT", "/me/player/pause", Canned::NoContent);
    broker.set("GET", "/me/player/currently-playing", Canned::NoContent);
    broker.set(
        "GET",
        "/me/playlists",
        Canned::Json(200, playlists_json(&["Chill"])),
    );
    let (status, _) = skill
        .send(&skill.request().linked(USER_TOKEN).launch())
        .await
        .unwrap();
    assert_eq!(status, 200);
    for intent in [
        "AMAZON.PauseIntent",
        "WhatsPlayingIntent",
        "ListPlaylistsIntent",
        "WhichAccountIntent",
    ] {
        ask(&skill, intent, &[]).await;
    }
    let calls = broker.calls();
    for path in [
        "/v1/link",
        "/v1/spotify/me/player/pause",
        "/v1/spotify/me/player/currently-playing",
        "/v1/spotify/me/playlists",
    ] {
        assert!(calls.iter().any(|c| c.path == path), "no call to {path}");
    }
    for call in &calls {
        assert_eq!(call.user_id.as_deref(), Some(TEST_USER_ID), "{call:?}");
    }
}

#[tokio::test]
async fn session_end_help_stop_fallback_and_home() {
    let (broker, skill) = setup().await;
    let (status, answer) = skill
        .send(
            &skill
                .request()
                .linked(USER_TOKEN)
                .session_ended("USER_INITIATED"),
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(answer["response"], json!({}));

    let help = ask(&skill, "AMAZON.HelpIntent", &[]).await;
    assert_eq!(help["response"]["shouldEndSession"], false);
    assert!(!has_link_card(&help));
    let stop = ask(&skill, "AMAZON.StopIntent", &[]).await;
    assert_eq!(ssml(&stop), "<speak>Goodbye.</speak>");
    let cancel = ask(&skill, "AMAZON.CancelIntent", &[]).await;
    assert_eq!(cancel["response"]["shouldEndSession"], true);
    let fallback = ask(&skill, "AMAZON.FallbackIntent", &[]).await;
    assert!(ssml(&fallback).contains("can't help"));
    let home = ask(&skill, "AMAZON.NavigateHomeIntent", &[]).await;
    assert_eq!(home["response"], json!({"shouldEndSession": true}));
    assert!(broker.calls().is_empty());
}

#[tokio::test]
async fn a_broker_slower_than_the_budget_still_gets_an_answer_in_time() {
    let broker = FakeBroker::spawn().await;
    let mut options = TestSkillOptions::new(&broker.url, SERVICE_TOKEN);
    options.time_budget_ms = 1000;
    let skill = TestSkill::spawn_with(options).await.unwrap();
    broker.set("GET", "/me/player/currently-playing", Canned::NoContent);
    broker.with_state(|s| s.delay = Some(Duration::from_secs(3)));

    let started = Instant::now();
    let answer = ask(&skill, "WhatsPlayingIntent", &[]).await;
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    assert!(ssml(&answer).contains("try again"), "{}", ssml(&answer));
    let calls = broker.calls_to("GET", "/v1/spotify/me/player/currently-playing");
    assert!(calls[0].deadline_ms.unwrap() <= 1000);
}

#[tokio::test]
async fn huge_libraries_stay_within_alexas_limits() {
    let (broker, skill) = setup().await;
    let long: Vec<String> = (0..50)
        .map(|i| format!("{i} {}", "Rock & <Roll> 🎸 \"loud\" ".repeat(40)))
        .collect();
    let names: Vec<&str> = long.iter().map(String::as_str).collect();
    let mut page = playlists_json(&names);
    page["total"] = json!(900);
    broker.set("GET", "/me/playlists", Canned::Json(200, page));
    let (_, answer) = skill
        .send(
            &skill
                .request()
                .linked(USER_TOKEN)
                .intent("ListPlaylistsIntent", &[]),
        )
        .await
        .unwrap();
    let bytes = serde_json::to_vec(&answer).unwrap();
    assert!(bytes.len() <= 24_000, "{}", bytes.len());
    let speech = ssml(&answer);
    assert!(speech.chars().count() <= 8000);
    assert!(speech.starts_with("<speak>You have 900 playlists."));
    let content = answer["response"]["card"]["content"].as_str().unwrap();
    assert!(content.chars().count() <= 8000);
    assert!(content.ends_with("more."), "{content}");
}
