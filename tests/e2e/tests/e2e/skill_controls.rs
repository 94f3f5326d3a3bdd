//! The skill's controls and follow-ups end to end (real skill, real broker, sandbox Spotify): play by
//! name, devices, volume, shuffle, repeat, queue, "who sings", "the second one", yes/no, "why isn't
//! Spotify working", Spotify's refusals, and the app-wide incidents; each checks what the user hears
//! and what the sandbox's player became (or which Spotify calls were made).

use e2e::{ALICE, Backend, spawn_broker, spawn_sandbox};
use reqwest::Method;
use serde_json::Value;
use skill::test_support::{TestSkill, TestSkillOptions};
use spotify_sandbox::demo::{KITCHEN_DEVICE, LAPTOP_DEVICE};
use spotify_sandbox::{AppPatch, PlayerSeed, Product, UserPatch, UserSeed, demo};

use super::skill_conversation::{Reply, Rig, user_with_playlists};

const BRIGHTSIDE: &str = "spotify:track:3n3Ppam7vgaVa1iaRUc9Lp";
const SO_WHAT: &str = "spotify:track:4vLYewWIvqHfKtJDk8c8tq";
const STAIRWAY: &str = "spotify:track:5CQ30WqJwcep0pYcV4AMNc";
const SANDBOX_HOUR: &str = "spotify:episode:512ojhOuo1ktJprKbVcKyQ";

impl Reply {
    /// Asserts the `Dialog.ElicitSlot` for `slot` of `intent`, an open session and a reprompt.
    fn elicits(&self, intent: &str, slot: &str) -> &Self {
        let directives = self.body["response"]["directives"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            directives.iter().any(|d| d["type"] == "Dialog.ElicitSlot"
                && d["slotToElicit"] == slot
                && d["updatedIntent"]["name"] == intent),
            "expected ElicitSlot {intent}.{slot}: {}",
            self.body
        );
        assert_eq!(self.ends_session(), Some(false), "{}", self.body);
        assert!(self.reprompt().is_some(), "{}", self.body);
        self
    }

    /// Asserts exactly this speech.
    fn said(&self, expected: &str) -> &Self {
        assert_eq!(self.ok().speech(), expected, "{}", self.body);
        self
    }

    /// Asserts a `Simple` card titled `title` whose text contains each of `parts`.
    fn card_with(&self, title: &str, parts: &[&str]) -> &Self {
        assert_eq!(self.card_type(), Some("Simple"), "{}", self.body);
        assert_eq!(
            self.body["response"]["card"]["title"], title,
            "{}",
            self.body
        );
        let content = self.card_content().unwrap_or_default();
        for part in parts {
            assert!(content.contains(part), "card without {part:?}: {content}");
        }
        self
    }

    /// Asserts the session ends.
    fn ends(&self) -> &Self {
        assert_eq!(self.ends_session(), Some(true), "{}", self.body);
        self
    }

    /// The session attributes the answer carries.
    fn attributes(&self) -> Value {
        self.body["sessionAttributes"].clone()
    }
}

impl Rig {
    /// `intent` from the user holding `token`, carrying `attributes` from the previous answer.
    async fn follow_up(
        &self,
        token: &str,
        attributes: Value,
        intent: &str,
        slots: &[(&str, &str)],
    ) -> Reply {
        self.send(
            &self
                .from(Some(token))
                .with_attributes(attributes)
                .intent(intent, slots),
        )
        .await
    }

    /// `intent` from the Alexa user `alexa_user` holding `token`.
    async fn ask_as(
        &self,
        alexa_user: &str,
        token: &str,
        intent: &str,
        slots: &[(&str, &str)],
    ) -> Reply {
        self.send(
            &self
                .skill
                .request()
                .user(alexa_user)
                .linked(token)
                .intent(intent, slots),
        )
        .await
    }

    /// The volume of `user`'s device `id` in the sandbox.
    async fn volume(&self, user: &str, id: &str) -> Option<u8> {
        let devices = self.sandbox().devices(user).await.unwrap();
        devices
            .iter()
            .find(|d| d.id == id)
            .unwrap_or_else(|| panic!("no device {id}: {devices:?}"))
            .volume_percent
    }

    /// Every Web API call the sandbox has counted.
    async fn api_total(&self) -> u64 {
        self.sandbox().counters().await.unwrap().api_total
    }
}

/// A rig whose broker passes on Spotify's `Retry-After` up to an hour (the default caps it at 60 s).
async fn rig_with_long_cooldowns() -> Rig {
    let sandbox = spawn_sandbox().await;
    let broker = spawn_broker(
        Backend::Sqlite,
        sandbox,
        &[("proxy.max_retry_after_s", "3600")],
    )
    .await;
    let skill = TestSkill::spawn_with(TestSkillOptions::new(
        &broker.base_url,
        &broker.service_token,
    ))
    .await
    .unwrap();
    Rig { broker, skill }
}

fn nothing_playing(mut seed: UserSeed) -> UserSeed {
    seed.player = PlayerSeed {
        repeat: "off".to_owned(),
        ..PlayerSeed::default()
    };
    seed
}

// ---- 6: play anything by name --------------------------------------------------------------------

#[tokio::test]
async fn songs_artists_podcasts_and_episodes_by_name_are_played_and_spoken_back() {
    let rig = Rig::start(Backend::Sqlite).await;
    let token = rig.link(ALICE).await;

    let song = rig
        .ask(
            &token,
            "PlaySongIntent",
            &[("query", "mr brightside by the killers")],
        )
        .await;
    song.said("Playing Mr. Brightside by The Killers.")
        .ends()
        .card_with("Now playing", &["Mr. Brightside by The Killers"]);
    let player = rig.player(ALICE).await;
    assert_eq!(player.queue, vec![BRIGHTSIDE.to_owned()], "{player:?}");
    assert_eq!(player.context_uri, None);
    assert!(player.is_playing);

    rig.ask(&token, "PlayArtistIntent", &[("query", "led zeppelin")])
        .await
        .said("Playing songs by Led Zeppelin.");
    let player = rig.player(ALICE).await;
    assert!(
        player
            .context_uri
            .as_deref()
            .is_some_and(|c| c.starts_with("spotify:artist:")),
        "{player:?}"
    );
    assert_eq!(player.queue, vec![STAIRWAY.to_owned()]);

    rig.ask(&token, "PlayPodcastIntent", &[("query", "testing weekly")])
        .await
        .said("Playing the podcast Testing Weekly.");
    let player = rig.player(ALICE).await;
    assert!(
        player
            .context_uri
            .as_deref()
            .is_some_and(|c| c.starts_with("spotify:show:")),
        "{player:?}"
    );
    assert_eq!(player.queue, vec![SANDBOX_HOUR.to_owned()]);

    rig.ask(
        &token,
        "PlayEpisodeIntent",
        &[("query", "the sandbox hour")],
    )
    .await
    .said("Playing the episode The Sandbox Hour, from Testing Weekly.");
    let player = rig.player(ALICE).await;
    assert_eq!(player.queue, vec![SANDBOX_HOUR.to_owned()]);
    assert_eq!(player.context_uri, None);

    // "Miles Davis" matches his albums and songs too; the artist of exactly that name wins.
    rig.ask(&token, "PlayMusicIntent", &[("query", "miles davis")])
        .await
        .said("Playing songs by Miles Davis.");
    let player = rig.player(ALICE).await;
    assert!(player.queue.contains(&SO_WHAT.to_owned()), "{player:?}");
    assert!(
        player
            .context_uri
            .as_deref()
            .is_some_and(|c| c.starts_with("spotify:artist:")),
        "{player:?}"
    );

    // Nothing found: asked again for the query, nothing started.
    let plays = rig.api_calls("PUT /v1/me/player/play").await;
    rig.ask(&token, "PlayMusicIntent", &[("query", "polka for cats")])
        .await
        .said("I couldn't find polka for cats on Spotify. What should I play instead?")
        .elicits("PlayMusicIntent", "query");
    assert_eq!(rig.api_calls("PUT /v1/me/player/play").await, plays);
}

// ---- 7: devices ----------------------------------------------------------------------------------

#[tokio::test]
async fn play_on_the_kitchen_speaker_and_an_unknown_device_is_asked_back() {
    let rig = Rig::start(Backend::Sqlite).await;
    let token = rig.link(ALICE).await;
    rig.ask(
        &token,
        "PlayOnDeviceIntent",
        &[("device", "alice's laptop")],
    )
    .await
    .said("Playing on Alice's Laptop.");
    assert_eq!(
        rig.player(ALICE).await.device_id.as_deref(),
        Some(LAPTOP_DEVICE)
    );

    rig.ask(
        &token,
        "PlayOnDeviceIntent",
        &[("device", "the kitchen speaker")],
    )
    .await
    .said("Playing on Kitchen Echo.")
    .ends();
    let player = rig.player(ALICE).await;
    assert_eq!(player.device_id.as_deref(), Some(KITCHEN_DEVICE));
    assert!(player.is_playing);
    let devices = rig.sandbox().devices(ALICE).await.unwrap();
    assert!(
        devices
            .iter()
            .all(|d| d.is_active == (d.id == KITCHEN_DEVICE)),
        "{devices:?}"
    );

    let transfers = rig.api_calls("PUT /v1/me/player").await;
    rig.ask(&token, "PlayOnDeviceIntent", &[("device", "the garage")])
        .await
        .said(
            "I couldn't find a device called the garage. You have Kitchen Echo and Alice's Laptop. \
             Which one should I play on?",
        )
        .elicits("PlayOnDeviceIntent", "device");
    assert_eq!(rig.api_calls("PUT /v1/me/player").await, transfers);
    assert_eq!(
        rig.player(ALICE).await.device_id.as_deref(),
        Some(KITCHEN_DEVICE)
    );
}

// ---- 8: volume, shuffle, repeat, queue, who sings, what album ---------------------------------------

#[tokio::test]
async fn volume_up_down_and_to_a_level_on_the_active_device() {
    let rig = Rig::start(Backend::Sqlite).await;
    let token = rig.link(ALICE).await;
    assert_eq!(rig.volume(ALICE, KITCHEN_DEVICE).await, Some(50));

    rig.ask(&token, "VolumeUpIntent", &[])
        .await
        .said("Volume 60.")
        .ends();
    assert_eq!(rig.volume(ALICE, KITCHEN_DEVICE).await, Some(60));
    rig.ask(&token, "VolumeDownIntent", &[])
        .await
        .said("Volume 50.");
    assert_eq!(rig.volume(ALICE, KITCHEN_DEVICE).await, Some(50));
    rig.ask(&token, "SetVolumeIntent", &[("level", "30")])
        .await
        .said("Volume 30.");
    assert_eq!(rig.volume(ALICE, KITCHEN_DEVICE).await, Some(30));
    assert_eq!(
        rig.volume(ALICE, LAPTOP_DEVICE).await,
        Some(50),
        "only the active device"
    );

    let sets = rig.api_calls("PUT /v1/me/player/volume").await;
    rig.ask(&token, "SetVolumeIntent", &[("level", "300")])
        .await
        .said("The volume goes from 0 to 100. What volume should I set?")
        .elicits("SetVolumeIntent", "level");
    assert_eq!(rig.api_calls("PUT /v1/me/player/volume").await, sets);
    assert_eq!(rig.volume(ALICE, KITCHEN_DEVICE).await, Some(30));

    // A device that does not let Spotify set its volume is named, and nothing is sent.
    let mut devices = rig.sandbox().devices(ALICE).await.unwrap();
    for device in &mut devices {
        device.volume_percent = None;
    }
    rig.sandbox().set_devices(ALICE, &devices).await.unwrap();
    rig.ask(&token, "VolumeUpIntent", &[])
        .await
        .said("Kitchen Echo doesn't let Spotify change its volume.");
    assert_eq!(rig.api_calls("PUT /v1/me/player/volume").await, sets);
}

#[tokio::test]
async fn shuffle_and_repeat_change_the_player() {
    let rig = Rig::start(Backend::Sqlite).await;
    let token = rig.link(ALICE).await;
    let start = rig.player(ALICE).await;
    assert!(!start.shuffle);
    assert_eq!(start.repeat, "off");

    for (intent, said, shuffle) in [
        ("ShuffleOnIntent", "Shuffle is on.", true),
        ("AMAZON.ShuffleOffIntent", "Shuffle is off.", false),
        ("AMAZON.ShuffleOnIntent", "Shuffle is on.", true),
    ] {
        rig.ask(&token, intent, &[]).await.said(said).ends();
        assert_eq!(rig.player(ALICE).await.shuffle, shuffle, "{intent}");
    }
    for (intent, said, repeat) in [
        ("RepeatTrackIntent", "Repeating this song.", "track"),
        (
            "AMAZON.LoopOnIntent",
            "Repeating this playlist or album.",
            "context",
        ),
        ("RepeatOffIntent", "Repeat is off.", "off"),
        (
            "RepeatOnIntent",
            "Repeating this playlist or album.",
            "context",
        ),
        ("AMAZON.LoopOffIntent", "Repeat is off.", "off"),
    ] {
        rig.ask(&token, intent, &[]).await.said(said);
        assert_eq!(rig.player(ALICE).await.repeat, repeat, "{intent}");
    }
    let end = rig.player(ALICE).await;
    assert_eq!(
        (end.queue, end.index, end.is_playing),
        (start.queue, start.index, true),
        "shuffle and repeat leave what plays alone"
    );
}

#[tokio::test]
async fn add_this_or_a_named_song_to_the_queue() {
    let rig = Rig::start(Backend::Sqlite).await;
    let token = rig.link(ALICE).await;

    rig.ask(&token, "AddToQueueIntent", &[])
        .await
        .said("Added So What by Miles Davis to the queue.")
        .ends();
    let player = rig.player(ALICE).await;
    assert_eq!(player.index, 0);
    assert_eq!(player.queue[0], SO_WHAT);
    assert_eq!(player.queue[1], SO_WHAT, "{player:?}");

    rig.ask(&token, "QueueSongIntent", &[("query", "mr brightside")])
        .await
        .said("Added Mr. Brightside by The Killers to the queue.");
    let player = rig.player(ALICE).await;
    assert_eq!(player.queue[1], BRIGHTSIDE, "{player:?}");
    assert_eq!(player.queue.len(), 5, "{player:?}");
    assert_eq!(player.index, 0, "queueing does not skip");

    let queued = rig.api_calls("POST /v1/me/player/queue").await;
    rig.ask(&token, "QueueSongIntent", &[])
        .await
        .said("Which song should I add to the queue?")
        .elicits("QueueSongIntent", "query");

    // Nothing playing: nothing to add, and the skill asks for a song.
    rig.seed(nothing_playing(demo::user("quiet"))).await;
    let quiet = rig.link("quiet").await;
    rig.ask_as("amzn1.ask.account.QUIET", &quiet, "AddToQueueIntent", &[])
        .await
        .said(
            "Nothing is playing, so there's nothing to add. Which song should I add to the queue?",
        )
        .elicits("QueueSongIntent", "query");
    assert_eq!(rig.api_calls("POST /v1/me/player/queue").await, queued);
}

#[tokio::test]
async fn who_sings_this_and_what_album_is_this() {
    let rig = Rig::start(Backend::Sqlite).await;
    let token = rig.link(ALICE).await;
    rig.ask(&token, "WhoSingsIntent", &[])
        .await
        .said("So What is by Miles Davis.")
        .ends();
    rig.ask(&token, "WhatAlbumIntent", &[])
        .await
        .said("This is from the album Kind of Blue by Miles Davis.")
        .ends();
    assert!(rig.api_calls("GET /v1/me/player/currently-playing").await >= 1);

    // An episode has no singer and no album (playing it drops the broker's cached player state).
    rig.ask(
        &token,
        "PlayEpisodeIntent",
        &[("query", "the sandbox hour")],
    )
    .await
    .ok();
    for intent in ["WhoSingsIntent", "WhatAlbumIntent"] {
        rig.ask(&token, intent, &[])
            .await
            .said("This is the episode The Sandbox Hour, not a song.");
    }
}

// ---- 9: follow-ups -------------------------------------------------------------------------------

#[tokio::test]
async fn the_second_one_plays_the_second_candidate_from_the_session_attributes() {
    let rig = Rig::start(Backend::Sqlite).await;
    rig.seed(user_with_playlists(
        "chloe",
        &["Chill Morning", "Chill Evening", "Workout"],
    ))
    .await;
    let token = rig.link("chloe").await;
    let before = rig.player("chloe").await;

    let asked = rig
        .ask(&token, "PlayPlaylistIntent", &[("playlist", "chill")])
        .await;
    asked.ok();
    let attributes = asked.attributes();
    assert_eq!(
        attributes["pending"]["kind"], "choose_playlist",
        "{attributes}"
    );
    let options = attributes["pending"]["options"].as_array().unwrap().clone();
    assert_eq!(options.len(), 2, "{attributes}");
    let second_name = options[1]["name"].as_str().unwrap().to_owned();
    let second_uri = options[1]["uri"].as_str().unwrap().to_owned();

    // Out of range: asked again, the candidates kept, nothing played.
    let wrong = rig
        .follow_up(
            &token,
            attributes.clone(),
            "ChooseIntent",
            &[("number", "7")],
        )
        .await;
    wrong.said("Please choose a number from one to 2.");
    assert_eq!(wrong.ends_session(), Some(false));
    assert_eq!(wrong.attributes(), attributes);
    assert_eq!(rig.player("chloe").await.context_uri, before.context_uri);

    let chosen = rig
        .follow_up(&token, attributes, "ChooseIntent", &[("ordinal", "second")])
        .await;
    chosen
        .said(&format!("Playing your playlist {second_name}."))
        .ends();
    let player = rig.player("chloe").await;
    assert_eq!(player.context_uri.as_deref(), Some(second_uri.as_str()));
    assert!(player.is_playing);

    // "The second one" with nothing asked: the skill says so and plays nothing.
    let plays = rig.api_calls("PUT /v1/me/player/play").await;
    rig.ask(&token, "ChooseIntent", &[("ordinal", "2")])
        .await
        .said("I didn't ask you to choose anything. What would you like?");
    assert_eq!(rig.api_calls("PUT /v1/me/player/play").await, plays);
}

#[tokio::test]
async fn no_to_an_offered_device_plays_nothing_and_a_stray_yes_is_asked_back() {
    let rig = Rig::start(Backend::Sqlite).await;
    let mut idle = nothing_playing(demo::user("idle"));
    for device in &mut idle.devices {
        device.is_active = false;
    }
    rig.seed(idle).await;
    let token = rig.link("idle").await;

    let offer = rig
        .ask(&token, "PlayPlaylistIntent", &[("playlist", "road trip")])
        .await;
    offer.ok().says("Should I play on");
    assert_eq!(offer.attributes()["pending"]["kind"], "offer_device");
    let plays = rig.api_calls("PUT /v1/me/player/play").await;
    rig.follow_up(&token, offer.attributes(), "AMAZON.NoIntent", &[])
        .await
        .said("Okay.")
        .ends();
    assert_eq!(rig.api_calls("PUT /v1/me/player/play").await, plays);
    let player = rig.player("idle").await;
    assert_eq!(player.device_id, None, "{player:?}");
    assert!(!player.is_playing);

    let stray = rig.ask(&token, "AMAZON.YesIntent", &[]).await;
    stray.said("There's nothing to say yes or no to right now. What would you like?");
    assert_eq!(stray.ends_session(), Some(false));
    assert_eq!(rig.api_calls("PUT /v1/me/player/play").await, plays);
}

// ---- 10: "why isn't Spotify working" ---------------------------------------------------------------

#[tokio::test]
async fn troubleshoot_names_premium_or_no_device_and_sends_the_fix() {
    let rig = Rig::start(Backend::Sqlite).await;
    rig.seed(UserSeed {
        product: Product::Free,
        ..demo::user("frank")
    })
    .await;
    let mut bare = nothing_playing(demo::user("bare"));
    bare.devices.clear();
    rig.seed(bare).await;
    let (frank_id, bare_id) = ("amzn1.ask.account.FRANK", "amzn1.ask.account.BARE");
    let frank = rig.link("frank").await;
    let bare = rig.link("bare").await;

    rig.ask_as(frank_id, &frank, "AMAZON.PauseIntent", &[])
        .await
        .ok()
        .says("needs Spotify Premium");
    rig.ask_as(frank_id, &frank, "TroubleshootIntent", &[])
        .await
        .said(
            "The last time, Spotify said controlling playback needs Spotify Premium. I sent the fix \
             to the Alexa app.",
        )
        .ends()
        .card_with("Fixing Spotify", &["needs Spotify Premium", "Upgrade the account"]);

    rig.ask_as(bare_id, &bare, "AMAZON.ResumeIntent", &[])
        .await
        .ok()
        .says("couldn't find an active Spotify device");
    rig.ask_as(bare_id, &bare, "TroubleshootIntent", &[])
        .await
        .said(
            "The last time, Spotify had no active device to play on. I sent the fix to the Alexa \
             app.",
        )
        .card_with("Fixing Spotify", &["Open Spotify on your phone"]);

    // Frank's trouble is his own; once a call succeeds, it is over.
    rig.ask_as(frank_id, &frank, "TroubleshootIntent", &[])
        .await
        .ok()
        .says("needs Spotify Premium");
    rig.ask_as(frank_id, &frank, "WhatsPlayingIntent", &[])
        .await
        .ok()
        .says("So What");
    rig.ask_as(frank_id, &frank, "TroubleshootIntent", &[])
        .await
        .ok()
        .says("I don't see a problem right now")
        .card_with("Fixing Spotify", &["Everything looks fine"]);
}

#[tokio::test]
async fn troubleshoot_names_a_cooldown_and_when_it_ends() {
    let rig = rig_with_long_cooldowns().await;
    let token = rig.link(ALICE).await;
    rig.sandbox().rate_limit_next(1, 300).await.unwrap();
    rig.ask(&token, "WhatsPlayingIntent", &[])
        .await
        .said("Spotify is busy right now. Please try again in about 5 minutes.");

    let calls = rig.api_total().await;
    rig.ask(&token, "TroubleshootIntent", &[])
        .await
        .said(
            "Spotify asked this skill to slow down. It can try again in about 5 minutes. I sent the \
             details to the Alexa app.",
        )
        .card_with("Fixing Spotify", &["wait about 5 minutes"]);
    assert_eq!(
        rig.api_total().await,
        calls,
        "the answer needs no Spotify call"
    );

    rig.skill.clock.advance(chrono::Duration::minutes(6));
    rig.ask(&token, "TroubleshootIntent", &[])
        .await
        .said(
            "Spotify asked this skill to slow down a little while ago, but that's over now, so it \
             should work again.",
        )
        .card_with("Fixing Spotify", &["Everything looks fine"]);
}

#[tokio::test]
async fn troubleshoot_names_a_relink_due_soon_or_a_dead_link_with_the_link_account_card() {
    let rig = Rig::start(Backend::Sqlite).await;
    let token = rig.link(ALICE).await;
    rig.ask(&token, "TroubleshootIntent", &[])
        .await
        .ok()
        .says("I don't see a problem right now");

    // relink_due_at is the consent plus 183 days; 170 days on, a little under 13 days are left.
    rig.skill.clock.advance(chrono::Duration::days(170));
    rig.ask(&token, "TroubleshootIntent", &[])
        .await
        .said(
            "Your Spotify link works, but it expires in 12 days. I sent a card to the Alexa app so \
             you can link it again before then.",
        )
        .ends()
        .expect_link_account();

    let link_id = rig.broker.link_id_of(ALICE).await;
    let (status, body) = rig
        .admin(Method::DELETE, &format!("/admin/links/{link_id}"))
        .await;
    assert_eq!(status, 204, "{body}");
    rig.ask(&token, "TroubleshootIntent", &[])
        .await
        .said(
            "Your Spotify link has stopped working, so the skill can't reach Spotify. I sent a card \
             to the Alexa app: link your account again from there.",
        )
        .expect_link_account();
}

// ---- the app-wide incidents: quota, the owner's Premium, the allowlist ---------------------------

#[tokio::test]
async fn used_up_quota_is_said_plainly_and_no_spotify_call_is_made_while_paused() {
    let rig = rig_with_long_cooldowns().await;
    let token = rig.link(ALICE).await;
    rig.sandbox()
        .quota_exceeded_next(1, Some(600))
        .await
        .unwrap();

    let reply = rig.ask(&token, "WhatsPlayingIntent", &[]).await;
    reply
        .said(
            "Spotify's request quota for this skill is used up for now. Please try again in about \
             10 minutes.",
        )
        .ends();
    assert_ne!(reply.card_type(), Some("LinkAccount"));

    let calls = rig.api_total().await;
    for (intent, slots) in [
        ("AMAZON.PauseIntent", vec![]),
        ("PlayMusicIntent", vec![("query", "miles davis")]),
        ("SetVolumeIntent", vec![("level", "20")]),
    ] {
        rig.ask(&token, intent, &slots)
            .await
            .ok()
            .says("Spotify's request quota for this skill is used up for now.")
            .says("Please try again in about 10 minutes.");
    }
    assert_eq!(
        rig.api_total().await,
        calls,
        "no Spotify call while the quota is used up"
    );
    let player = rig.player(ALICE).await;
    assert!(player.is_playing, "{player:?}");

    rig.ask(&token, "TroubleshootIntent", &[])
        .await
        .said(
            "Spotify's request quota for this skill is used up, so Spotify refuses it until about \
             10 minutes from now. I sent the details to the Alexa app.",
        )
        .card_with("Fixing Spotify", &["request quota", "developer dashboard"]);
}

#[tokio::test]
async fn owners_lapsed_premium_is_told_and_troubleshoot_sends_the_fix() {
    let rig = Rig::start(Backend::Sqlite).await;
    let token = rig.link(ALICE).await;
    rig.sandbox()
        .update_app(&AppPatch {
            owner_premium: Some(false),
            ..AppPatch::default()
        })
        .await
        .unwrap();

    let refused = rig.ask(&token, "AMAZON.PauseIntent", &[]).await;
    refused
        .said(
            "Spotify isn't letting this skill's Spotify app work for your account. Linking again \
             won't fix this; the skill's owner has to act: add your account to the app's users, or \
             renew the app owner's Spotify Premium.",
        )
        .ends();
    assert_ne!(
        refused.card_type(),
        Some("LinkAccount"),
        "relinking does not help"
    );
    assert!(rig.player(ALICE).await.is_playing);

    let calls = rig.api_total().await;
    rig.ask(&token, "AMAZON.NextIntent", &[])
        .await
        .ok()
        .says("the skill's owner has to act");
    assert_eq!(
        rig.api_total().await,
        calls,
        "the broker answers the incident without calling Spotify"
    );
    assert_eq!(rig.player(ALICE).await.index, 0);

    rig.ask(&token, "TroubleshootIntent", &[])
        .await
        .ok()
        .says("the app owner's Spotify Premium has lapsed and must be renewed")
        .ends()
        .card_with(
            "Fixing Spotify",
            &[
                "User Management",
                "the app owner's Spotify Premium must be active",
            ],
        );
}

#[tokio::test]
async fn a_user_dropped_from_the_allowlist_after_linking_hears_the_owner_must_act() {
    let rig = Rig::start(Backend::Sqlite).await;
    let token = rig.link(ALICE).await;
    rig.sandbox()
        .update_user(
            ALICE,
            &UserPatch {
                registered: Some(false),
                ..UserPatch::default()
            },
        )
        .await
        .unwrap();
    let reply = rig.ask(&token, "WhatsPlayingIntent", &[]).await;
    reply
        .ok()
        .says("Spotify isn't letting this skill's Spotify app work for your account.")
        .says("add your account to the app's users");
    assert_ne!(reply.card_type(), Some("LinkAccount"));
    rig.ask(&token, "TroubleshootIntent", &[])
        .await
        .ok()
        .says("either your account isn't among the app's users")
        .card_with("Fixing Spotify", &["User Management"]);
}

// ---- 12: Spotify's refusals, and a broker failure at launch ----------------------------------------

#[tokio::test]
async fn restriction_violated_is_said_as_what_it_means() {
    let rig = Rig::start(Backend::Sqlite).await;
    let mut adam = demo::user("adam");
    adam.player.ad = true;
    rig.seed(adam).await;
    let token = rig.link("adam").await;

    // Skipping during an ad: Spotify refuses, and the skill says why.
    for intent in ["AMAZON.NextIntent", "PreviousTrackIntent"] {
        rig.ask(&token, intent, &[])
            .await
            .said(
                "Spotify doesn't allow skipping during an ad. The music comes back when the ad is \
                 over.",
            )
            .ends();
    }
    let player = rig.player("adam").await;
    assert_eq!(player.index, 0, "{player:?}");
    assert!(player.is_playing && player.ad);
    assert_eq!(rig.api_calls("POST /v1/me/player/next").await, 1);

    // Pausing what is already paused.
    rig.ask(&token, "PauseMusicIntent", &[])
        .await
        .said("Paused.");
    assert!(!rig.player("adam").await.is_playing);
    rig.ask(&token, "AMAZON.PauseIntent", &[])
        .await
        .said("Spotify is already paused. Say resume to carry on.")
        .ends();
    assert_eq!(rig.api_calls("PUT /v1/me/player/pause").await, 2);
    assert!(!rig.player("adam").await.is_playing);
}

#[tokio::test]
async fn a_broker_failure_at_launch_keeps_the_session_open() {
    let rig = Rig::start(Backend::Sqlite).await;
    let token = rig.link(ALICE).await;
    // A skill whose broker is down: a port that was free a moment ago.
    let port = e2e::process::free_port();
    let skill = TestSkill::spawn_with(TestSkillOptions::new(
        &format!("http://127.0.0.1:{port}"),
        &rig.broker.service_token,
    ))
    .await
    .unwrap();
    let (status, body) = skill
        .send(&skill.request().linked(&token).launch())
        .await
        .unwrap();
    let reply = Reply { status, body };
    reply
        .ok()
        .says("Sorry, I couldn't reach Spotify just now.")
        .says("You can try again, or say help to hear what I can do. What would you like?");
    assert_eq!(reply.ends_session(), Some(false), "{}", reply.body);
    assert!(reply.reprompt().is_some(), "{}", reply.body);
    assert_ne!(reply.card_type(), Some("LinkAccount"));

    // The same launch through the running broker welcomes.
    rig.send(&rig.from(Some(&token)).launch())
        .await
        .ok()
        .says("Welcome!");
}
