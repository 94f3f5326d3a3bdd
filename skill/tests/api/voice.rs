//! The conversations of a voice experience people keep, against the fake broker: play anything by
//! name, devices, volume, shuffle, repeat, queue, follow-ups, troubleshooting, every locale.

use broker_proto::ErrorCode;
use serde_json::{Value, json};
use skill::test_support::TestSkill;

use crate::fake_broker::{
    Canned, FakeBroker, SERVICE_TOKEN, USER_TOKEN, link_json, playlists_json,
};

const LOCALES: [&str; 6] = ["en-US", "en-GB", "en-CA", "en-AU", "en-IN", "de-DE"];

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

fn directive<'a>(answer: &'a Value, kind: &str) -> Option<&'a Value> {
    answer["response"]["directives"]
        .as_array()?
        .iter()
        .find(|d| d["type"] == kind)
}

fn elicits(answer: &Value, intent: &str, slot: &str) {
    let elicit = directive(answer, "Dialog.ElicitSlot")
        .unwrap_or_else(|| panic!("no ElicitSlot in {answer}"));
    assert_eq!(elicit["slotToElicit"], slot, "{answer}");
    assert_eq!(elicit["updatedIntent"]["name"], intent, "{answer}");
    assert_eq!(answer["response"]["shouldEndSession"], false);
}

struct Session<'a> {
    skill: &'a TestSkill,
    locale: &'a str,
    attributes: Option<Value>,
}

impl<'a> Session<'a> {
    fn new(skill: &'a TestSkill, locale: &'a str) -> Self {
        Self {
            skill,
            locale,
            attributes: None,
        }
    }

    async fn say(&mut self, intent: &str, slots: &[(&str, &str)]) -> Value {
        let mut request = self.skill.request().linked(USER_TOKEN).locale(self.locale);
        if let Some(attributes) = self.attributes.take() {
            request = request.with_attributes(attributes);
        }
        let (status, answer) = self
            .skill
            .send(&request.intent(intent, slots))
            .await
            .unwrap();
        assert_eq!(status, 200, "{answer}");
        self.attributes = answer.get("sessionAttributes").cloned();
        answer
    }
}

async fn ask(skill: &TestSkill, intent: &str, slots: &[(&str, &str)]) -> Value {
    Session::new(skill, "en-US").say(intent, slots).await
}

fn kind_of_blue() -> Value {
    json!({
        "albums": {"items": [
            {"type": "album", "name": "Kind of Blue", "uri": "spotify:album:kob", "artists": [{"name": "Miles Davis"}]},
            {"type": "album", "name": "Kind of Blue (Legacy Edition)", "uri": "spotify:album:kobl", "artists": [{"name": "Miles Davis"}]}
        ]},
        "tracks": {"items": [
            null,
            {"type": "track", "name": "So What", "uri": "spotify:track:sowhat", "artists": [{"name": "Miles Davis"}]}
        ]}
    })
}

fn playing_so_what() -> Canned {
    Canned::Json(
        200,
        json!({
            "is_playing": true,
            "currently_playing_type": "track",
            "item": {"type": "track", "name": "So What", "uri": "spotify:track:sowhat",
                     "album": {"name": "Kind of Blue"},
                     "artists": [{"name": "Miles Davis"}, {"name": "John & <Coltrane>"}]}
        }),
    )
}

#[tokio::test]
async fn launch_whats_playing_and_play_by_name_in_every_locale() {
    let (broker, skill) = setup().await;
    broker.set(
        "GET",
        "/me/playlists",
        Canned::Json(200, playlists_json(&["Chill & Evening", "Workout"])),
    );
    broker.set("GET", "/me/player/currently-playing", playing_so_what());
    broker.set("GET", "/search", Canned::Json(200, kind_of_blue()));
    broker.set("PUT", "/me/player/play", Canned::NoContent);
    for locale in LOCALES {
        let german = locale == "de-DE";
        let (_, launch) = skill
            .send(&skill.request().linked(USER_TOKEN).locale(locale).launch())
            .await
            .unwrap();
        assert!(
            ssml(&launch).starts_with(if german {
                "<speak>Willkommen!"
            } else {
                "<speak>Welcome!"
            }),
            "{locale}: {launch}"
        );
        assert_eq!(launch["response"]["shouldEndSession"], false);
        let entities = directive(&launch, "Dialog.UpdateDynamicEntities")
            .unwrap_or_else(|| panic!("{locale}: no dynamic entities: {launch}"));
        assert_eq!(entities["updateBehavior"], "REPLACE");
        assert_eq!(entities["types"][0]["name"], "PLAYLIST_NAME");
        assert_eq!(
            entities["types"][0]["values"][0]["name"]["value"],
            "Chill & Evening"
        );
        assert_eq!(
            entities["types"][0]["values"][0]["name"]["synonyms"],
            json!(["chill and evening"])
        );

        let mut session = Session::new(&skill, locale);
        let now = session.say("WhatsPlayingIntent", &[]).await;
        let expected = if german {
            "<speak>Das ist So What von Miles Davis und John &amp; &lt;Coltrane&gt;.</speak>"
        } else {
            "<speak>This is So What by Miles Davis and John &amp; &lt;Coltrane&gt;.</speak>"
        };
        assert_eq!(ssml(&now), expected, "{locale}");

        let spoken = if german {
            "Kind of Blue von Miles Davis"
        } else {
            "Kind of Blue by Miles Davis"
        };
        let before = broker.calls_to("PUT", "/v1/spotify/me/player/play").len();
        let played = session.say("PlayMusicIntent", &[("query", spoken)]).await;
        let expected = if german {
            "<speak>Ich spiele das Album Kind of Blue von Miles Davis.</speak>"
        } else {
            "<speak>Playing the album Kind of Blue by Miles Davis.</speak>"
        };
        assert_eq!(ssml(&played), expected, "{locale}");
        let plays = broker.calls_to("PUT", "/v1/spotify/me/player/play");
        assert_eq!(plays.len(), before + 1);
        let body: Value = serde_json::from_str(&plays[before].body).unwrap();
        assert_eq!(body, json!({"context_uri": "spotify:album:kob"}));
        let search = broker.calls_to("GET", "/v1/spotify/search").pop().unwrap();
        assert!(
            search.query.contains("q=Kind+of+Blue+Miles+Davis")
                && search.query.contains("type=album%2Ctrack"),
            "{locale}: {}",
            search.query
        );
    }
}

#[tokio::test]
async fn play_some_artist_a_song_a_podcast_or_an_episode() {
    let (broker, skill) = setup().await;
    broker.set("PUT", "/me/player/play", Canned::NoContent);
    let cases = [
        (
            "PlayMusicIntent",
            "Miles Davis",
            json!({"artists": {"items": [{"name": "Miles Davis", "uri": "spotify:artist:md"}]},
                   "tracks": {"items": [{"name": "Miles Runs the Voodoo Down", "uri": "spotify:track:x", "artists": [{"name": "Miles Davis"}]}]}}),
            "type=artist%2Calbum%2Ctrack%2Cplaylist",
            json!({"context_uri": "spotify:artist:md"}),
            "<speak>Playing songs by Miles Davis.</speak>",
        ),
        (
            "PlaySongIntent",
            "So What",
            json!({"tracks": {"items": [{"name": "So What", "uri": "spotify:track:sowhat", "artists": [{"name": "Miles Davis"}]}]}}),
            "type=track",
            json!({"uris": ["spotify:track:sowhat"]}),
            "<speak>Playing So What by Miles Davis.</speak>",
        ),
        (
            "PlayPodcastIntent",
            "the daily",
            json!({"shows": {"items": [{"name": "The Daily", "uri": "spotify:show:daily"}]}}),
            "type=show",
            json!({"context_uri": "spotify:show:daily"}),
            "<speak>Playing the podcast The Daily.</speak>",
        ),
        (
            "PlayEpisodeIntent",
            "episode twelve",
            json!({"episodes": {"items": [{"name": "Episode Twelve", "uri": "spotify:episode:e12", "show": {"name": "The Daily"}}]}}),
            "type=episode",
            json!({"uris": ["spotify:episode:e12"]}),
            "<speak>Playing the episode Episode Twelve, from The Daily.</speak>",
        ),
    ];
    for (intent, spoken, results, types, body, said) in cases {
        broker.set("GET", "/search", Canned::Json(200, results));
        let answer = ask(&skill, intent, &[("query", spoken)]).await;
        assert_eq!(ssml(&answer), said, "{intent}");
        let search = broker.calls_to("GET", "/v1/spotify/search").pop().unwrap();
        assert!(search.query.contains(types), "{intent}: {}", search.query);
        assert!(search.query.contains("market=from_token"));
        let play = broker
            .calls_to("PUT", "/v1/spotify/me/player/play")
            .pop()
            .unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&play.body).unwrap(),
            body,
            "{intent}"
        );
    }
}

#[tokio::test]
async fn nothing_found_or_nothing_said_asks_again_for_the_query() {
    let (broker, skill) = setup().await;
    broker.set(
        "GET",
        "/search",
        Canned::Json(200, json!({"albums": {"items": []}})),
    );
    let answer = ask(&skill, "PlayAlbumIntent", &[("query", "no such <album>")]).await;
    assert!(
        ssml(&answer).contains("couldn't find no such &lt;album&gt;"),
        "{answer}"
    );
    elicits(&answer, "PlayAlbumIntent", "query");
    let answer = ask(&skill, "PlayMusicIntent", &[]).await;
    assert!(ssml(&answer).contains("What should I play?"));
    elicits(&answer, "PlayMusicIntent", "query");
    assert!(
        broker
            .calls_to("PUT", "/v1/spotify/me/player/play")
            .is_empty()
    );
}

fn devices() -> Canned {
    Canned::Json(
        200,
        json!({"devices": [
            {"id": "dev-kitchen", "name": "Kitchen Speaker", "type": "Speaker", "is_active": false, "is_restricted": false, "volume_percent": 40, "supports_volume": true},
            {"id": "dev-phone", "name": "Ann's Phone", "type": "Smartphone", "is_active": true, "is_restricted": false, "volume_percent": 70, "supports_volume": true},
            {"id": null, "name": "Restricted TV", "type": "TV", "is_active": false, "is_restricted": true}
        ]}),
    )
}

#[tokio::test]
async fn with_nothing_active_the_skill_offers_a_device_and_plays_there_on_yes() {
    let (broker, skill) = setup().await;
    broker.set("GET", "/search", Canned::Json(200, kind_of_blue()));
    broker.set(
        "PUT",
        "/me/player/play",
        Canned::Error(ErrorCode::NoActiveDevice, None),
    );
    broker.set("GET", "/me/player/devices", devices());
    let mut session = Session::new(&skill, "en-US");
    let offer = session
        .say(
            "PlayMusicIntent",
            &[("query", "Kind of Blue by Miles Davis")],
        )
        .await;
    assert_eq!(
        ssml(&offer),
        "<speak>Nothing is playing on an active device right now. Should I play on Kitchen Speaker?</speak>"
    );
    assert_eq!(offer["response"]["shouldEndSession"], false);
    assert_eq!(
        offer["sessionAttributes"]["pending"]["device_id"],
        "dev-kitchen"
    );

    broker.set("PUT", "/me/player/play", Canned::NoContent);
    let yes = session.say("AMAZON.YesIntent", &[]).await;
    assert_eq!(ssml(&yes), "<speak>Playing on Kitchen Speaker.</speak>");
    let play = broker
        .calls_to("PUT", "/v1/spotify/me/player/play")
        .pop()
        .unwrap();
    assert_eq!(play.query, "device_id=dev-kitchen");
    assert_eq!(
        serde_json::from_str::<Value>(&play.body).unwrap(),
        json!({"context_uri": "spotify:album:kob"})
    );

    // "Yes" with nothing asked, and "no" to an offer.
    let yes = ask(&skill, "AMAZON.YesIntent", &[]).await;
    assert!(ssml(&yes).contains("nothing to say yes or no to"), "{yes}");
    broker.set(
        "PUT",
        "/me/player/play",
        Canned::Error(ErrorCode::NoActiveDevice, None),
    );
    let mut session = Session::new(&skill, "de-DE");
    let offer = session.say("AMAZON.ResumeIntent", &[]).await;
    assert!(
        ssml(&offer).contains("Soll ich auf Kitchen Speaker spielen?"),
        "{offer}"
    );
    let no = session.say("AMAZON.NoIntent", &[]).await;
    assert_eq!(ssml(&no), "<speak>Okay.</speak>");
    assert!(broker.calls_to("PUT", "/v1/spotify/me/player").is_empty());
}

#[tokio::test]
async fn devices_are_listed_and_playback_moves_by_fuzzy_name() {
    let (broker, skill) = setup().await;
    broker.set("GET", "/me/player/devices", devices());
    broker.set("PUT", "/me/player", Canned::NoContent);
    let list = ask(&skill, "ListDevicesIntent", &[]).await;
    assert_eq!(
        ssml(&list),
        "<speak>You have 2 Spotify devices: Kitchen Speaker and Ann&apos;s Phone. Ann&apos;s Phone is the active one.</speak>"
    );
    let moved = ask(
        &skill,
        "PlayOnDeviceIntent",
        &[("device", "the kitchen speaker")],
    )
    .await;
    assert_eq!(ssml(&moved), "<speak>Playing on Kitchen Speaker.</speak>");
    let transfer = broker
        .calls_to("PUT", "/v1/spotify/me/player")
        .pop()
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&transfer.body).unwrap(),
        json!({"device_ids": ["dev-kitchen"], "play": true})
    );
    let unknown = ask(&skill, "PlayOnDeviceIntent", &[("device", "garage")]).await;
    assert!(ssml(&unknown).contains("couldn't find a device called garage"));
    elicits(&unknown, "PlayOnDeviceIntent", "device");
    let nothing = ask(&skill, "PlayOnDeviceIntent", &[]).await;
    elicits(&nothing, "PlayOnDeviceIntent", "device");
    assert_eq!(broker.calls_to("PUT", "/v1/spotify/me/player").len(), 1);
}

#[tokio::test]
async fn volume_shuffle_repeat_and_queue() {
    let (broker, skill) = setup().await;
    broker.set(
        "GET",
        "/me/player",
        Canned::Json(200, json!({"is_playing": true, "device": {"id": "d", "name": "Kitchen", "volume_percent": 45, "supports_volume": true}})),
    );
    for path in [
        "/me/player/volume",
        "/me/player/shuffle",
        "/me/player/repeat",
    ] {
        broker.set("PUT", path, Canned::NoContent);
    }
    broker.set("POST", "/me/player/queue", Canned::NoContent);
    broker.set("GET", "/me/player/currently-playing", playing_so_what());

    /// Intent, slots, broker path, query sent, speech.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str, &'a str, &'a str);
    let cases: [Case<'_>; 9] = [
        (
            "VolumeUpIntent",
            &[],
            "/v1/spotify/me/player/volume",
            "volume_percent=55",
            "<speak>Volume 55.</speak>",
        ),
        (
            "VolumeDownIntent",
            &[],
            "/v1/spotify/me/player/volume",
            "volume_percent=35",
            "<speak>Volume 35.</speak>",
        ),
        (
            "SetVolumeIntent",
            &[("level", "30")],
            "/v1/spotify/me/player/volume",
            "volume_percent=30",
            "<speak>Volume 30.</speak>",
        ),
        (
            "ShuffleOnIntent",
            &[],
            "/v1/spotify/me/player/shuffle",
            "state=true",
            "<speak>Shuffle is on.</speak>",
        ),
        (
            "AMAZON.ShuffleOffIntent",
            &[],
            "/v1/spotify/me/player/shuffle",
            "state=false",
            "<speak>Shuffle is off.</speak>",
        ),
        (
            "RepeatOnIntent",
            &[],
            "/v1/spotify/me/player/repeat",
            "state=context",
            "<speak>Repeating this playlist or album.</speak>",
        ),
        (
            "RepeatTrackIntent",
            &[],
            "/v1/spotify/me/player/repeat",
            "state=track",
            "<speak>Repeating this song.</speak>",
        ),
        (
            "AMAZON.LoopOffIntent",
            &[],
            "/v1/spotify/me/player/repeat",
            "state=off",
            "<speak>Repeat is off.</speak>",
        ),
        (
            "AddToQueueIntent",
            &[],
            "/v1/spotify/me/player/queue",
            "uri=spotify%3Atrack%3Asowhat",
            "<speak>Added So What by Miles Davis and John &amp; &lt;Coltrane&gt; to the queue.</speak>",
        ),
    ];
    for (intent, slots, path, query, said) in cases {
        let answer = ask(&skill, intent, slots).await;
        assert_eq!(ssml(&answer), said, "{intent}");
        let method = if path.ends_with("queue") {
            "POST"
        } else {
            "PUT"
        };
        let call = broker.calls_to(method, path).pop().unwrap();
        assert_eq!(call.query, query, "{intent}");
    }

    let too_loud = ask(&skill, "SetVolumeIntent", &[("level", "300")]).await;
    assert!(ssml(&too_loud).contains("from 0 to 100"));
    elicits(&too_loud, "SetVolumeIntent", "level");

    broker.set("GET", "/search", Canned::Json(200, kind_of_blue()));
    let queued = ask(&skill, "QueueSongIntent", &[("query", "so what")]).await;
    assert_eq!(
        ssml(&queued),
        "<speak>Added So What by Miles Davis to the queue.</speak>"
    );
    let search = broker.calls_to("GET", "/v1/spotify/search").pop().unwrap();
    assert!(search.query.contains("type=track"), "{}", search.query);

    broker.set("GET", "/me/player/currently-playing", Canned::NoContent);
    let nothing = ask(&skill, "AddToQueueIntent", &[]).await;
    elicits(&nothing, "QueueSongIntent", "query");

    broker.set(
        "GET",
        "/me/player",
        Canned::Json(200, json!({"device": {"id": "d", "name": "Old Radio", "volume_percent": 45, "supports_volume": false}})),
    );
    let unsupported = ask(&skill, "VolumeUpIntent", &[]).await;
    assert_eq!(
        ssml(&unsupported),
        "<speak>Old Radio doesn't let Spotify change its volume.</speak>"
    );
}

#[tokio::test]
async fn who_sings_this_and_what_album_is_this() {
    let (broker, skill) = setup().await;
    broker.set("GET", "/me/player/currently-playing", playing_so_what());
    let who = ask(&skill, "WhoSingsIntent", &[]).await;
    assert_eq!(
        ssml(&who),
        "<speak>So What is by Miles Davis and John &amp; &lt;Coltrane&gt;.</speak>"
    );
    let album = ask(&skill, "WhatAlbumIntent", &[]).await;
    assert_eq!(
        ssml(&album),
        "<speak>This is from the album Kind of Blue by Miles Davis and John &amp; &lt;Coltrane&gt;.</speak>"
    );
    let mut german = Session::new(&skill, "de-DE");
    let album = german.say("WhatAlbumIntent", &[]).await;
    assert!(ssml(&album).starts_with("<speak>Das ist aus dem Album Kind of Blue von"));
}

#[tokio::test]
async fn the_second_one_plays_the_second_candidate() {
    let (broker, skill) = setup().await;
    broker.set(
        "GET",
        "/me/playlists",
        Canned::Json(
            200,
            playlists_json(&["Chill Morning", "Chill Evening", "Metal"]),
        ),
    );
    broker.set("PUT", "/me/player/play", Canned::NoContent);
    let mut session = Session::new(&skill, "en-US");
    let asked = session
        .say("PlayPlaylistIntent", &[("playlist", "chill")])
        .await;
    elicits(&asked, "PlayPlaylistIntent", "playlist");
    assert_eq!(
        asked["sessionAttributes"]["pending"]["options"][1]["uri"],
        "spotify:playlist:pl1"
    );
    let chosen = session.say("ChooseIntent", &[("ordinal", "2")]).await;
    assert_eq!(
        ssml(&chosen),
        "<speak>Playing your playlist Chill Evening.</speak>"
    );
    let play = broker
        .calls_to("PUT", "/v1/spotify/me/player/play")
        .pop()
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&play.body).unwrap(),
        json!({"context_uri": "spotify:playlist:pl1"})
    );

    // Out of range keeps the question; with nothing asked, it says so.
    let mut session = Session::new(&skill, "en-US");
    session
        .say("PlayPlaylistIntent", &[("playlist", "chill")])
        .await;
    let wrong = session.say("ChooseIntent", &[("number", "7")]).await;
    assert!(ssml(&wrong).contains("from one to 2"));
    let right = session.say("ChooseIntent", &[("ordinal", "first")]).await;
    assert_eq!(
        ssml(&right),
        "<speak>Playing your playlist Chill Morning.</speak>"
    );
    let nothing = ask(&skill, "ChooseIntent", &[("ordinal", "2")]).await;
    assert!(ssml(&nothing).contains("didn't ask you to choose"));

    // No name at all: the slot is elicited.
    let empty = ask(&skill, "PlayPlaylistIntent", &[]).await;
    elicits(&empty, "PlayPlaylistIntent", "playlist");
}

#[tokio::test]
async fn listing_playlists_sends_them_as_dynamic_entities_and_asks_which() {
    let (broker, skill) = setup().await;
    broker.set(
        "GET",
        "/me/playlists",
        Canned::Json(200, playlists_json(&["Grandma's Sunday Mix", "Workout"])),
    );
    let answer = ask(&skill, "ListPlaylistsIntent", &[]).await;
    let entities = directive(&answer, "Dialog.UpdateDynamicEntities").unwrap();
    assert_eq!(
        entities["types"][0]["values"][0]["id"],
        "spotify:playlist:pl0"
    );
    assert_eq!(
        entities["types"][0]["values"][0]["name"]["value"],
        "Grandma's Sunday Mix"
    );
    elicits(&answer, "PlayPlaylistIntent", "playlist");
}

#[tokio::test]
async fn why_isnt_spotify_working_names_the_cause_and_sends_the_fix() {
    let (broker, skill) = setup().await;
    let card = |answer: &Value| {
        answer["response"]["card"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };

    let fine = ask(&skill, "TroubleshootIntent", &[]).await;
    assert!(ssml(&fine).contains("I don't see a problem"), "{fine}");
    assert!(card(&fine).contains("open Spotify on a device"));

    let cases = [
        (
            Canned::Error(ErrorCode::PremiumRequired, None),
            "needs Spotify Premium",
            "Upgrade the account",
        ),
        (
            Canned::Error(ErrorCode::NoActiveDevice, None),
            "no active device",
            "Open Spotify on your phone",
        ),
        (
            Canned::Error(ErrorCode::RateLimited, Some(300)),
            "about 5 minutes",
            "wait about 5 minutes",
        ),
        (
            Canned::Error(ErrorCode::QuotaExceeded, Some(3600)),
            "about 60 minutes",
            "quota",
        ),
        (
            Canned::Error(ErrorCode::AppNotPermitted, None),
            "the skill's owner has to act",
            "User Management",
        ),
    ];
    for (canned, said, fix) in cases {
        broker.set("PUT", "/me/player/pause", canned.clone());
        ask(&skill, "AMAZON.PauseIntent", &[]).await;
        let why = ask(&skill, "TroubleshootIntent", &[]).await;
        assert!(ssml(&why).contains(said), "{canned:?}: {}", ssml(&why));
        assert!(card(&why).contains(fix), "{canned:?}: {}", card(&why));
    }
    // Once Spotify answers again, the trouble is over.
    broker.set("PUT", "/me/player/pause", Canned::NoContent);
    ask(&skill, "AMAZON.PauseIntent", &[]).await;
    let fine = ask(&skill, "TroubleshootIntent", &[]).await;
    assert!(ssml(&fine).contains("I don't see a problem"), "{fine}");

    // The link's own status comes first: relink soon, relink required.
    let due = chrono::Utc::now() + chrono::Duration::days(6) + chrono::Duration::hours(1);
    broker.with_state(|s| s.link = Some(link_json(due, Some("Ann"))));
    let soon = ask(&skill, "TroubleshootIntent", &[]).await;
    assert!(ssml(&soon).contains("expires in 6 days"), "{soon}");
    assert_eq!(soon["response"]["card"]["type"], "LinkAccount");
    broker.with_state(|s| s.link_error = Some(Canned::Error(ErrorCode::RelinkRequired, None)));
    let dead = ask(&skill, "TroubleshootIntent", &[]).await;
    assert!(ssml(&dead).contains("stopped working"), "{dead}");
    assert_eq!(dead["response"]["card"]["type"], "LinkAccount");

    // In German too.
    broker.with_state(|s| s.link_error = Some(Canned::Error(ErrorCode::AppNotPermitted, None)));
    let mut german = Session::new(&skill, "de-DE");
    let why = german.say("TroubleshootIntent", &[]).await;
    assert!(ssml(&why).contains("Betreiber des Skills"), "{why}");
}

#[tokio::test]
async fn help_for_an_unlinked_user_says_to_link_first() {
    let (broker, skill) = setup().await;
    for locale in ["en-US", "de-DE"] {
        let (_, help) = skill
            .send(
                &skill
                    .request()
                    .locale(locale)
                    .intent("AMAZON.HelpIntent", &[]),
            )
            .await
            .unwrap();
        assert_eq!(help["response"]["card"]["type"], "LinkAccount", "{locale}");
        let said = ssml(&help);
        assert!(
            said.contains("link your Spotify account") || said.contains("Verknüpfe zuerst"),
            "{said}"
        );
    }
    assert!(broker.calls().is_empty());
}

#[tokio::test]
async fn a_broker_failure_at_launch_keeps_the_session_open() {
    let (broker, skill) = setup().await;
    broker.with_state(|s| s.link_error = Some(Canned::Error(ErrorCode::Unavailable, None)));
    let (_, launch) = skill
        .send(&skill.request().linked(USER_TOKEN).launch())
        .await
        .unwrap();
    assert!(
        ssml(&launch).contains("trouble reaching your linked account"),
        "{launch}"
    );
    assert!(
        ssml(&launch).contains("<break time=\"300ms\"/>"),
        "{launch}"
    );
    assert_eq!(launch["response"]["shouldEndSession"], false);
    assert!(launch["response"]["reprompt"].is_object());
    // A dead link still ends with the card.
    broker.with_state(|s| s.link_error = Some(Canned::Error(ErrorCode::RelinkRequired, None)));
    let (_, launch) = skill
        .send(&skill.request().linked(USER_TOKEN).launch())
        .await
        .unwrap();
    assert_eq!(launch["response"]["card"]["type"], "LinkAccount");
    assert_eq!(launch["response"]["shouldEndSession"], true);
}
