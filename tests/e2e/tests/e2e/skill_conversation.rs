//! Conversations with the real skill, over real HTTP, through the real broker to the sandbox Spotify:
//! signed Alexa requests in, the answer's speech (parsed as SSML) and card out, and the sandbox's player
//! read back where a command should have changed it.

use std::time::Duration;

use e2e::{ALICE, Backend, TestBroker, spawn_broker, spawn_sandbox};
use reqwest::Method;
use serde_json::Value;
use skill::test_support::{AlexaRequest, TestSkill, TestSkillOptions};
use spotify_sandbox::demo::{JAZZ_PLAYLIST, ROAD_TRIP_PLAYLIST};
use spotify_sandbox::{
    DeviceSeed, PlayerSeed, PlaylistSeed, Product, SandboxClient, TrackSeed, UserSeed, demo,
};

/// A broker on a fresh database over a fresh sandbox, and a skill talking to it.
pub struct Rig {
    pub broker: TestBroker,
    pub skill: TestSkill,
}

impl Rig {
    /// Broker on `backend`, skill with its default (6 s) budget.
    pub async fn start(backend: Backend) -> Self {
        Self::start_with_budget(backend, None).await
    }

    /// Broker on `backend`, skill with `alexa.time_budget_ms = budget_ms` when given.
    pub async fn start_with_budget(backend: Backend, budget_ms: Option<u64>) -> Self {
        let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
        let mut options = TestSkillOptions::new(&broker.base_url, &broker.service_token);
        if let Some(ms) = budget_ms {
            options.time_budget_ms = ms;
        }
        let skill = TestSkill::spawn_with(options)
            .await
            .unwrap_or_else(|err| panic!("starting the skill: {err:#}"));
        Self { broker, skill }
    }

    /// The sandbox's control client.
    pub fn sandbox(&self) -> &SandboxClient {
        &self.broker.sandbox.client
    }

    /// Adds (or replaces) a sandbox user.
    pub async fn seed(&self, user: UserSeed) {
        self.sandbox()
            .seed_user(&user)
            .await
            .unwrap_or_else(|err| panic!("seeding {}: {err:#}", user.id));
    }

    /// Links the sandbox user `user` through the broker; returns Alexa's access token for it.
    pub async fn link(&self, user: &str) -> String {
        self.broker.link_user(user).await.access_token
    }

    /// Requests from an unlinked user, or from the user holding `token`.
    pub fn from(&self, token: Option<&str>) -> AlexaRequest {
        let request = self.skill.request();
        match token {
            Some(token) => request.linked(token),
            None => request,
        }
    }

    /// Signs and sends `body` to the skill.
    pub async fn send(&self, body: &Value) -> Reply {
        let (status, body) = self
            .skill
            .send(body)
            .await
            .unwrap_or_else(|err| panic!("sending to the skill: {err:#}"));
        Reply { status, body }
    }

    /// An intent from the user holding `token`.
    pub async fn ask(&self, token: &str, intent: &str, slots: &[(&str, &str)]) -> Reply {
        self.send(&self.from(Some(token)).intent(intent, slots))
            .await
    }

    /// The sandbox player of `user`.
    pub async fn player(&self, user: &str) -> PlayerSeed {
        self.sandbox()
            .player(user)
            .await
            .unwrap_or_else(|err| panic!("reading {user}'s player: {err:#}"))
    }

    /// Sandbox calls to one Web API endpoint so far (`"PUT /v1/me/player/play"`).
    pub async fn api_calls(&self, key: &str) -> u64 {
        self.sandbox()
            .counters()
            .await
            .unwrap_or_else(|err| panic!("reading sandbox counters: {err:#}"))
            .api_calls(key)
    }

    /// An admin API call on the broker: status and JSON body (`Null` when empty).
    pub async fn admin(&self, method: Method, path: &str) -> (u16, Value) {
        let response = self
            .broker
            .http
            .request(method.clone(), self.broker.url(path))
            .bearer_auth(&self.broker.admin_token)
            .send()
            .await
            .unwrap_or_else(|err| panic!("{method} {path}: {err}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, body)
    }
}

/// The skill's answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

/// The text of an SSML document, which must be well-formed XML inside `<speak>`.
pub fn ssml_text(ssml: &str) -> String {
    let doc = roxmltree::Document::parse(ssml)
        .unwrap_or_else(|err| panic!("speech is not well-formed SSML ({err}): {ssml}"));
    assert_eq!(
        doc.root_element().tag_name().name(),
        "speak",
        "SSML must be wrapped in <speak>: {ssml}"
    );
    doc.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect()
}

impl Reply {
    /// Asserts a 200 answer and returns `self`.
    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.status, 200,
            "skill answered {}: {}",
            self.status, self.body
        );
        self
    }

    /// The raw SSML of the output speech (empty when there is none).
    pub fn ssml(&self) -> String {
        let speech = &self.body["response"]["outputSpeech"];
        if speech.is_null() {
            return String::new();
        }
        assert_eq!(speech["type"], "SSML", "speech type: {}", self.body);
        speech["ssml"]
            .as_str()
            .unwrap_or_else(|| panic!("SSML speech without ssml: {}", self.body))
            .to_owned()
    }

    /// What Alexa would say (the SSML parsed as XML, its text).
    pub fn speech(&self) -> String {
        let ssml = self.ssml();
        if ssml.is_empty() {
            return ssml;
        }
        ssml_text(&ssml)
    }

    /// The reprompt's text, if any.
    pub fn reprompt(&self) -> Option<String> {
        self.body["response"]["reprompt"]["outputSpeech"]["ssml"]
            .as_str()
            .map(ssml_text)
    }

    /// The card's type (`Simple`, `LinkAccount`), if any.
    pub fn card_type(&self) -> Option<&str> {
        self.body["response"]["card"]["type"].as_str()
    }

    /// The card's text, if any.
    pub fn card_content(&self) -> Option<&str> {
        self.body["response"]["card"]["content"].as_str()
    }

    /// `shouldEndSession`.
    pub fn ends_session(&self) -> Option<bool> {
        self.body["response"]["shouldEndSession"].as_bool()
    }

    /// Asserts the LinkAccount card.
    pub fn expect_link_account(&self) -> &Self {
        assert_eq!(
            self.card_type(),
            Some("LinkAccount"),
            "expected the LinkAccount card: {}",
            self.body
        );
        self
    }

    /// Asserts the speech contains `text`.
    pub fn says(&self, text: &str) -> &Self {
        let speech = self.speech();
        assert!(
            speech.contains(text),
            "expected speech containing {text:?}, got {speech:?} ({})",
            self.body
        );
        self
    }
}

/// A Spotify-looking base62 id of 22 characters made from `seed`.
pub fn spotify_id(seed: &str) -> String {
    let mut id: String = seed.chars().filter(char::is_ascii_alphanumeric).collect();
    while id.len() < 22 {
        id.push('x');
    }
    id.truncate(22);
    id
}

/// A premium user with the demo data but the given playlists (each with one track).
pub fn user_with_playlists(id: &str, names: &[&str]) -> UserSeed {
    let playlists = names
        .iter()
        .enumerate()
        .map(|(i, name)| PlaylistSeed {
            id: spotify_id(&format!("pl{i}{id}")),
            name: (*name).to_owned(),
            description: String::new(),
            public: false,
            collaborative: false,
            tracks: vec![TrackSeed::new(
                &spotify_id(&format!("tr{i}{id}")),
                &format!("Track {i}"),
                "Someone",
            )],
        })
        .collect();
    UserSeed {
        playlists,
        ..demo::user(id)
    }
}

// ---- not linked, linked and playing, nothing playing -------------------------------------------------

#[tokio::test]
async fn not_linked_gets_the_link_account_card_without_touching_spotify() {
    let rig = Rig::start(Backend::Sqlite).await;
    let before = rig.sandbox().counters().await.unwrap().api_total;

    let launch = rig.send(&rig.from(None).launch()).await;
    launch
        .ok()
        .says("link your Spotify account")
        .expect_link_account();
    assert_eq!(launch.ends_session(), Some(true));

    for (intent, slots) in [
        ("WhatsPlayingIntent", vec![]),
        ("PlayPlaylistIntent", vec![("playlist", "road trip")]),
        ("AMAZON.PauseIntent", vec![]),
        ("WhichAccountIntent", vec![]),
    ] {
        let reply = rig.send(&rig.from(None).intent(intent, &slots)).await;
        reply
            .ok()
            .says("link your Spotify account")
            .expect_link_account();
    }
    assert_eq!(
        rig.sandbox().counters().await.unwrap().api_total,
        before,
        "an unlinked user's requests must not reach Spotify"
    );
    // Help needs no link: it says to link first, with the card.
    let help = rig
        .send(&rig.from(None).intent("AMAZON.HelpIntent", &[]))
        .await;
    help.ok()
        .says("First, link your Spotify account")
        .says("what's playing")
        .expect_link_account();
}

async fn linked_and_playing(backend: Backend) {
    let rig = Rig::start(backend).await;
    let token = rig.link(ALICE).await;

    let reply = rig.ask(&token, "WhatsPlayingIntent", &[]).await;
    reply.ok();
    assert_eq!(reply.speech(), "This is So What by Miles Davis.");
    assert_eq!(reply.card_type(), Some("Simple"));
    assert_eq!(reply.card_content(), Some("So What by Miles Davis"));
    assert_eq!(reply.ends_session(), Some(true));

    // A paused player is described as paused.
    let mut player = rig.player(ALICE).await;
    player.is_playing = false;
    rig.sandbox().set_player(ALICE, &player).await.unwrap();
    // The broker may answer "what's playing" from a short-lived cache; wait until it sees the pause.
    let mut last = String::new();
    for _ in 0..40 {
        last = rig.ask(&token, "WhatsPlayingIntent", &[]).await.speech();
        if last.starts_with("Spotify is paused") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(last, "Spotify is paused on So What by Miles Davis.");

    // A linked launch welcomes and keeps the session open.
    let launch = rig.send(&rig.from(Some(&token)).launch()).await;
    launch.ok().says("Welcome!");
    assert_eq!(launch.ends_session(), Some(false));
    assert!(launch.reprompt().is_some(), "{}", launch.body);
}

both_backends!(linked_and_playing);

#[tokio::test]
async fn linked_with_nothing_playing() {
    let rig = Rig::start(Backend::Sqlite).await;
    rig.seed(UserSeed {
        player: PlayerSeed {
            repeat: "off".to_owned(),
            ..PlayerSeed::default()
        },
        ..demo::user("quiet")
    })
    .await;
    let token = rig.link("quiet").await;
    let reply = rig.ask(&token, "WhatsPlayingIntent", &[]).await;
    reply.ok();
    assert_eq!(reply.speech(), "Nothing is playing on Spotify right now.");
    assert_eq!(reply.card_type(), None);
}

#[tokio::test]
async fn lists_playlists_with_a_count() {
    let rig = Rig::start(Backend::Sqlite).await;
    let token = rig.link(ALICE).await;
    let reply = rig.ask(&token, "ListPlaylistsIntent", &[]).await;
    reply.ok();
    assert_eq!(
        reply.speech(),
        "You have 2 playlists: Morning Jazz and Road Trip. Which playlist should I play?"
    );
    assert_eq!(
        reply.ends_session(),
        Some(false),
        "it asks which one to play"
    );
}

// ---- playlists by name -------------------------------------------------------------------------------

#[tokio::test]
async fn playlist_by_fuzzy_name_plays_it_on_the_sandbox() {
    let rig = Rig::start(Backend::Sqlite).await;
    let token = rig.link(ALICE).await;
    let before = rig.player(ALICE).await;
    assert_eq!(
        before.context_uri.as_deref(),
        Some(format!("spotify:playlist:{JAZZ_PLAYLIST}").as_str())
    );

    // A slip of the tongue and filler words: "the road trp playlist".
    let reply = rig
        .ask(
            &token,
            "PlayPlaylistIntent",
            &[("playlist", "the Road Trp playlist")],
        )
        .await;
    reply.ok();
    assert_eq!(reply.speech(), "Playing your playlist Road Trip.");
    assert_eq!(reply.ends_session(), Some(true));

    let after = rig.player(ALICE).await;
    assert_eq!(
        after.context_uri.as_deref(),
        Some(format!("spotify:playlist:{ROAD_TRIP_PLAYLIST}").as_str()),
        "the sandbox's player should be on the Road Trip playlist: {after:?}"
    );
    assert!(after.is_playing, "{after:?}");

    // Case and punctuation are forgiven too.
    let reply = rig
        .ask(
            &token,
            "PlayPlaylistIntent",
            &[("playlist", "MORNING-JAZZ!")],
        )
        .await;
    assert_eq!(reply.speech(), "Playing your playlist Morning Jazz.");
    let after = rig.player(ALICE).await;
    assert_eq!(
        after.context_uri.as_deref(),
        Some(format!("spotify:playlist:{JAZZ_PLAYLIST}").as_str())
    );
}

#[tokio::test]
async fn two_matching_playlists_are_asked_back_and_nothing_plays() {
    let rig = Rig::start(Backend::Sqlite).await;
    rig.seed(user_with_playlists(
        "chloe",
        &["Chill Morning", "Chill Evening", "Workout"],
    ))
    .await;
    let token = rig.link("chloe").await;
    let before = rig.player("chloe").await;
    let plays_before = rig.api_calls("PUT /v1/me/player/play").await;

    let reply = rig
        .ask(&token, "PlayPlaylistIntent", &[("playlist", "chill")])
        .await;
    reply.ok();
    let speech = reply.speech();
    assert!(
        speech.starts_with("I found more than one playlist like that")
            && speech.contains("Chill Morning")
            && speech.contains("Chill Evening")
            && !speech.contains("Workout"),
        "{speech}"
    );
    assert_eq!(reply.ends_session(), Some(false), "it must ask back");
    assert!(reply.reprompt().is_some(), "{}", reply.body);

    assert_eq!(
        rig.api_calls("PUT /v1/me/player/play").await,
        plays_before,
        "nothing may be played while the skill asks which one"
    );
    assert_eq!(rig.player("chloe").await.context_uri, before.context_uri);

    // The answer to the question plays the one named.
    let reply = rig
        .ask(
            &token,
            "PlayPlaylistIntent",
            &[("playlist", "chill evening")],
        )
        .await;
    assert_eq!(reply.speech(), "Playing your playlist Chill Evening.");
    assert_eq!(
        rig.player("chloe").await.context_uri.as_deref(),
        Some(format!("spotify:playlist:{}", spotify_id("pl1chloe")).as_str())
    );
}

// ---- player commands ----------------------------------------------------------------------------------

#[tokio::test]
async fn pause_and_next_change_the_sandbox_player() {
    let rig = Rig::start(Backend::Sqlite).await;
    let token = rig.link(ALICE).await;
    let start = rig.player(ALICE).await;
    assert!(start.is_playing);
    assert_eq!(start.index, 0);

    let reply = rig.ask(&token, "PauseMusicIntent", &[]).await;
    reply.ok();
    assert_eq!(reply.speech(), "Paused.");
    let paused = rig.player(ALICE).await;
    assert!(!paused.is_playing, "{paused:?}");

    let reply = rig.ask(&token, "AMAZON.NextIntent", &[]).await;
    reply.ok();
    assert_eq!(reply.speech(), "Skipping ahead.");
    let next = rig.player(ALICE).await;
    assert_eq!(next.index, 1, "{next:?}");
    assert_eq!(next.queue, start.queue);

    let reply = rig.ask(&token, "PreviousTrackIntent", &[]).await;
    assert_eq!(reply.speech(), "Going back.");
    assert_eq!(rig.player(ALICE).await.index, 0);

    rig.ask(&token, "AMAZON.PauseIntent", &[]).await.ok();
    assert!(!rig.player(ALICE).await.is_playing);
    let reply = rig.ask(&token, "ResumeMusicIntent", &[]).await;
    assert_eq!(reply.speech(), "Resuming.");
    assert!(rig.player(ALICE).await.is_playing);
}

#[tokio::test]
async fn no_active_device_tells_the_user_to_open_spotify_or_offers_an_idle_one() {
    let rig = Rig::start(Backend::Sqlite).await;
    // One user whose devices are all inactive, one with no device at all; neither has a player.
    let idle = {
        let mut seed = demo::user("idle");
        for device in &mut seed.devices {
            device.is_active = false;
        }
        seed.player = PlayerSeed {
            repeat: "off".to_owned(),
            ..PlayerSeed::default()
        };
        seed
    };
    let bare = UserSeed {
        devices: Vec::<DeviceSeed>::new(),
        player: PlayerSeed {
            repeat: "off".to_owned(),
            ..PlayerSeed::default()
        },
        ..demo::user("bare")
    };
    rig.seed(idle).await;
    rig.seed(bare).await;
    let token = rig.link("bare").await;
    for (intent, slots) in [
        ("PlayPlaylistIntent", vec![("playlist", "road trip")]),
        ("AMAZON.ResumeIntent", vec![]),
    ] {
        let reply = rig.ask(&token, intent, &slots).await;
        reply
            .ok()
            .says("couldn't find an active Spotify device")
            .says("Open Spotify");
        assert_ne!(reply.card_type(), Some("LinkAccount"), "{}", reply.body);
    }

    // With a device available but none active, the skill offers it and plays there on "yes".
    let token = rig.link("idle").await;
    let offer = rig
        .ask(&token, "PlayPlaylistIntent", &[("playlist", "road trip")])
        .await;
    offer
        .ok()
        .says("Nothing is playing on an active device right now. Should I play on");
    assert_eq!(offer.ends_session(), Some(false));
    let attributes = offer.body["sessionAttributes"].clone();
    let device = attributes["pending"]["device_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let yes = rig
        .send(
            &rig.from(Some(&token))
                .with_attributes(attributes)
                .intent("AMAZON.YesIntent", &[]),
        )
        .await;
    yes.ok().says("Playing on");
    let player = rig.player("idle").await;
    assert_eq!(player.device_id.as_deref(), Some(device.as_str()));
    assert_eq!(
        player.context_uri.as_deref(),
        Some(format!("spotify:playlist:{ROAD_TRIP_PLAYLIST}").as_str())
    );
    assert!(player.is_playing);
}

#[tokio::test]
async fn free_account_asked_to_play_hears_about_premium() {
    let rig = Rig::start(Backend::Sqlite).await;
    rig.seed(UserSeed {
        product: Product::Free,
        ..demo::user("frank")
    })
    .await;
    let token = rig.link("frank").await;
    let before = rig.player("frank").await;

    let reply = rig
        .ask(&token, "PlayPlaylistIntent", &[("playlist", "road trip")])
        .await;
    reply.ok().says("needs Spotify Premium");
    assert_eq!(rig.player("frank").await.context_uri, before.context_uri);

    // Reading still works on a free account.
    rig.ask(&token, "WhatsPlayingIntent", &[])
        .await
        .ok()
        .says("So What");
}

#[tokio::test]
async fn rate_limited_asks_to_try_again_later() {
    let rig = Rig::start(Backend::Sqlite).await;
    let token = rig.link(ALICE).await;
    rig.sandbox().rate_limit_next(5, 30).await.unwrap();

    let reply = rig.ask(&token, "WhatsPlayingIntent", &[]).await;
    reply.ok();
    assert_eq!(
        reply.speech(),
        "Spotify is busy right now. Please try again in 30 seconds."
    );
    assert_ne!(reply.card_type(), Some("LinkAccount"));

    // A command during the broker's pause gets the same kind of answer.
    rig.ask(&token, "AMAZON.PauseIntent", &[])
        .await
        .ok()
        .says("Spotify is busy right now. Please try again in");
    assert!(rig.player(ALICE).await.is_playing);
}

// ---- accounts and links -------------------------------------------------------------------------------

#[tokio::test]
async fn which_account_speaks_the_display_name() {
    let rig = Rig::start(Backend::Sqlite).await;
    let token = rig.link(ALICE).await;
    let reply = rig.ask(&token, "WhichAccountIntent", &[]).await;
    reply.ok();
    assert_eq!(
        reply.speech(),
        "This skill is linked to the Spotify account Alice Example."
    );
    assert_eq!(reply.card_content(), Some("Alice Example"));
}

#[tokio::test]
async fn relink_after_an_admin_revoke_sends_the_link_account_card() {
    let rig = Rig::start(Backend::Sqlite).await;
    let token = rig.link(ALICE).await;
    rig.ask(&token, "WhatsPlayingIntent", &[])
        .await
        .ok()
        .says("So What");
    let link_id = rig.broker.link_id_of(ALICE).await;

    let (status, body) = rig
        .admin(Method::DELETE, &format!("/admin/links/{link_id}"))
        .await;
    assert_eq!(status, 204, "{body}");

    for body in [
        rig.from(Some(&token)).intent("WhatsPlayingIntent", &[]),
        rig.from(Some(&token)).launch(),
        rig.from(Some(&token)).intent("WhichAccountIntent", &[]),
        rig.from(Some(&token))
            .intent("PlayPlaylistIntent", &[("playlist", "road trip")]),
    ] {
        let reply = rig.send(&body).await;
        reply
            .ok()
            .says("needs to be linked again")
            .expect_link_account();
    }
    // Nothing was played for the revoked link.
    assert_eq!(
        rig.player(ALICE).await.context_uri.as_deref(),
        Some(format!("spotify:playlist:{JAZZ_PLAYLIST}").as_str())
    );

    // Linking again works and the new token talks to Spotify.
    let token = rig.link(ALICE).await;
    rig.ask(&token, "WhatsPlayingIntent", &[])
        .await
        .ok()
        .says("So What");
}

#[tokio::test]
async fn skill_disabled_leaves_the_link_revoked() {
    let rig = Rig::start(Backend::Sqlite).await;
    let token = rig.link(ALICE).await;
    let link_id = rig.broker.link_id_of(ALICE).await;
    assert_eq!(rig.broker.link_status(&token).await.status(), 200);

    let reply = rig
        .send(
            &rig.from(Some(&token))
                .event("AlexaSkillEvent.SkillDisabled"),
        )
        .await;
    reply.ok();
    assert!(
        reply.body["response"]["outputSpeech"].is_null(),
        "a skill event is acknowledged without speech: {}",
        reply.body
    );

    let response = rig.broker.link_status(&token).await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "relink_required", "{body}");

    let (status, summary) = rig
        .admin(Method::GET, &format!("/admin/links/{link_id}"))
        .await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["status"], "revoked", "{summary}");

    // The skill itself now asks to link again.
    rig.ask(&token, "WhatsPlayingIntent", &[])
        .await
        .ok()
        .expect_link_account();

    // Alexa may deliver the event twice: the second is acknowledged too.
    rig.send(
        &rig.from(Some(&token))
            .event("AlexaSkillEvent.SkillDisabled"),
    )
    .await
    .ok();
}

#[tokio::test]
async fn relink_reminder_within_two_weeks_of_the_deadline_once_a_day() {
    let rig = Rig::start(Backend::Sqlite).await;
    let token = rig.link(ALICE).await;
    let reminder = "By the way, your Spotify link will expire soon.";

    let fresh = rig.ask(&token, "WhatsPlayingIntent", &[]).await;
    fresh.ok();
    assert!(!fresh.speech().contains(reminder), "{}", fresh.body);
    assert_eq!(fresh.card_type(), Some("Simple"));

    // relink_due_at is the consent plus 183 days: 170 days on, it is 13 days away.
    rig.skill.clock.advance(chrono::Duration::days(170));
    let due = rig.ask(&token, "WhatsPlayingIntent", &[]).await;
    due.ok().expect_link_account();
    let speech = due.speech();
    assert!(
        speech.starts_with("This is So What by Miles Davis.") && speech.contains(reminder),
        "{speech}"
    );

    // At most once a day.
    let again = rig.ask(&token, "WhatsPlayingIntent", &[]).await;
    again.ok();
    assert!(!again.speech().contains(reminder), "{}", again.body);
    assert_eq!(again.card_type(), Some("Simple"));
}

#[tokio::test]
async fn session_end_stop_and_account_linked_are_answered_without_spotify() {
    let rig = Rig::start(Backend::Sqlite).await;
    let token = rig.link(ALICE).await;
    let before = rig.sandbox().counters().await.unwrap().api_total;

    let linked = rig
        .send(
            &rig.from(Some(&token))
                .event("AlexaSkillEvent.SkillAccountLinked"),
        )
        .await;
    linked.ok();
    assert!(
        linked.body["response"]["outputSpeech"].is_null(),
        "{}",
        linked.body
    );

    let ended = rig
        .send(&rig.from(Some(&token)).session_ended("USER_INITIATED"))
        .await;
    ended.ok();
    assert!(
        ended.body["response"]["outputSpeech"].is_null(),
        "{}",
        ended.body
    );

    let stop = rig.ask(&token, "AMAZON.StopIntent", &[]).await;
    stop.ok();
    assert_eq!(stop.speech(), "Goodbye.");
    assert_eq!(stop.ends_session(), Some(true));

    assert_eq!(rig.sandbox().counters().await.unwrap().api_total, before);
    // The link is untouched by all of this.
    assert_eq!(rig.broker.link_status(&token).await.status(), 200);
}

// ---- every locale, play by name, devices ---------------------------------------------------------

#[tokio::test]
async fn launch_whats_playing_and_play_by_name_in_every_locale() {
    let rig = Rig::start(Backend::Sqlite).await;
    let token = rig.link(ALICE).await;
    for locale in ["en-US", "en-GB", "en-CA", "en-AU", "en-IN", "de-DE"] {
        let german = locale == "de-DE";
        let from = || rig.from(Some(&token)).locale(locale);
        let launch = rig.send(&from().launch()).await;
        launch
            .ok()
            .says(if german { "Willkommen!" } else { "Welcome!" });
        assert_eq!(launch.ends_session(), Some(false));
        assert!(
            launch.body["response"]["directives"]
                .as_array()
                .is_some_and(|d| d
                    .iter()
                    .any(|d| d["type"] == "Dialog.UpdateDynamicEntities")),
            "{locale}: {}",
            launch.body
        );

        // Start something else first, so that playing by name visibly changes the player.
        let mut player = rig.player(ALICE).await;
        player.context_uri = Some(format!("spotify:playlist:{ROAD_TRIP_PLAYLIST}"));
        rig.sandbox().set_player(ALICE, &player).await.unwrap();

        let (spoken, said) = if german {
            (
                "Kind of Blue von Miles Davis",
                "Ich spiele das Album Kind of Blue von Miles Davis.",
            )
        } else {
            (
                "Kind of Blue by Miles Davis",
                "Playing the album Kind of Blue by Miles Davis.",
            )
        };
        let played = rig
            .send(&from().intent("PlayMusicIntent", &[("query", spoken)]))
            .await;
        assert_eq!(played.ok().speech(), said, "{locale}");
        let player = rig.player(ALICE).await;
        assert!(
            player
                .context_uri
                .as_deref()
                .is_some_and(|c| c.starts_with("spotify:album:")),
            "{locale}: {player:?}"
        );

        let now = rig.send(&from().intent("WhatsPlayingIntent", &[])).await;
        let expected = if german {
            "Das ist So What von Miles Davis."
        } else {
            "This is So What by Miles Davis."
        };
        assert_eq!(now.ok().speech(), expected, "{locale}");
    }
}

#[tokio::test]
async fn devices_are_listed_and_playback_moves_to_the_one_named() {
    let rig = Rig::start(Backend::Sqlite).await;
    let token = rig.link(ALICE).await;
    let list = rig.ask(&token, "ListDevicesIntent", &[]).await;
    list.ok()
        .says("Kitchen Echo")
        .says("Alice's Laptop")
        .says("Kitchen Echo is the active one.");
    let moved = rig
        .ask(&token, "PlayOnDeviceIntent", &[("device", "the laptop")])
        .await;
    assert_eq!(moved.ok().speech(), "Playing on Alice's Laptop.");
    let player = rig.player(ALICE).await;
    assert_eq!(
        player.device_id.as_deref(),
        Some(spotify_sandbox::demo::LAPTOP_DEVICE)
    );
}
