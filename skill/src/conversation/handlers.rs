//! One handler per intent: call Spotify through the broker, then say what happened.

use std::future::Future;
use std::time::Duration;

use super::follow_up::{self, Choice, Pending};
use super::intents::{DEVICE_SLOT, Intent, LEVEL_SLOT, PLAYLIST_SLOT, QUERY_SLOT, SearchKind};
use super::playlist_match::{self, MatchOutcome};
use super::{Conversation, Turn, search, speech};
use crate::alexa::response::{Answer, Session};
use crate::alexa::ssml::short_name;
use crate::broker::spotify::{Found, Kind, NowPlaying, PlayTarget, Spotify};
use crate::broker::{BrokerError, ForUser, LinkInfo};
use crate::deadline::Deadline;
use crate::i18n::{Arg, Messages};
use crate::identifiers::AlexaAccessToken;

const SPOKEN_PLAYLISTS: usize = 5;
const SPOKEN_DEVICES: usize = 6;
const NAME_CHARS: usize = 100;
const PLAYLISTS_TO_SEARCH: usize = 200;
const SEARCH_LIMIT: u8 = 5;
const VOLUME_STEP: u8 = 10;
/// The link lookup that runs beside an action may not hold the answer up longer than this.
const LINK_LOOKUP_BUDGET: Duration = Duration::from_millis(1500);
/// Reading playlists for dynamic entities at launch may not hold the welcome up longer than this.
const ENTITIES_BUDGET: Duration = Duration::from_millis(1500);

fn text(s: &str) -> Arg<'_> {
    Arg::Text(s)
}

fn names(items: &[String]) -> Vec<String> {
    items
        .iter()
        .take(4)
        .map(|a| short_name(a, NAME_CHARS))
        .collect()
}

impl Conversation {
    pub(crate) async fn launch(&self, turn: &Turn, deadline: Deadline) -> Answer {
        let m = &turn.m;
        let Some(token) = &turn.caller.token else {
            return speech::not_linked(m);
        };
        let welcome = Answer::ask(m.speak("welcome", &[]), m.speak("what-would-you-like", &[]));
        match self.fresh_link(turn, token, deadline).await {
            Ok(info) if info.needs_relink() => speech::relink(m),
            Ok(info) => {
                let spotify = self.spotify(turn, token, deadline.cap(ENTITIES_BUDGET));
                let welcome = match spotify.playlists(50).await {
                    Ok(playlists) => match follow_up::playlist_entities(&playlists.items) {
                        Some(entities) => welcome.with_directive(entities),
                        None => welcome,
                    },
                    Err(error) => {
                        tracing::debug!(error = %error, "no playlists for dynamic entities");
                        welcome
                    }
                };
                self.maybe_remind(turn, Some(info), welcome).await
            }
            Err(error) => {
                let failed = self.failed(turn, error).await;
                if failed.card == Some(crate::alexa::response::CardRequest::LinkAccount) {
                    return failed;
                }
                // A broker failure at launch leaves the user in the skill, to try again.
                Answer {
                    session: Session::KeepOpen,
                    reprompt: Some(m.speak("what-would-you-like", &[])),
                    ..failed.and_say(&m.speak("launch-failed", &[]))
                }
            }
        }
    }

    fn spotify<'a>(
        &'a self,
        turn: &'a Turn,
        token: &'a AlexaAccessToken,
        deadline: Deadline,
    ) -> Spotify<'a> {
        Spotify::new(
            &self.broker,
            ForUser::new(token, turn.caller.user.as_ref()),
            deadline,
        )
    }

    pub(crate) async fn intent(&self, turn: &Turn, intent: Intent, deadline: Deadline) -> Answer {
        let m = &turn.m;
        if !intent.needs_link() {
            return match intent {
                Intent::Help if turn.caller.token.is_none() => {
                    Answer::tell(m.speak("help-unlinked", &[])).with_link_account_card()
                }
                Intent::Help => Answer::ask(m.speak("help", &[]), m.speak("help-reprompt", &[])),
                Intent::Stop => Answer::tell(m.speak("goodbye", &[])),
                Intent::NavigateHome => Answer::end_quietly(),
                Intent::Fallback | Intent::Unknown(_) => Answer::ask(
                    m.speak("fallback", &[]),
                    m.speak("what-would-you-like", &[]),
                ),
                _ => Answer::end_quietly(),
            };
        }
        let Some(token) = &turn.caller.token else {
            return speech::not_linked(m);
        };
        match intent {
            Intent::WhichAccount => return self.which_account(turn, token, deadline).await,
            Intent::Troubleshoot => return self.troubleshoot(turn, token, deadline).await,
            _ => {}
        }
        let spotify = self.spotify(turn, token, deadline);
        let action = async {
            match intent {
                Intent::WhatsPlaying => what_is_playing(m, spotify.now_playing().await?),
                Intent::WhoSings => who_sings(m, spotify.now_playing().await?),
                Intent::WhatAlbum => what_album(m, spotify.now_playing().await?),
                Intent::ListPlaylists => list_playlists(m, &spotify).await,
                Intent::PlayPlaylist { spoken, resolved } => {
                    play_playlist(m, &spotify, spoken, resolved).await
                }
                Intent::Choose { position } => choose(m, &spotify, &turn.pending, position).await,
                Intent::Play { query, kind } => play_by_name(m, &spotify, query, kind).await,
                Intent::ListDevices => list_devices(m, &spotify).await,
                Intent::PlayOnDevice { device } => play_on_device(m, &spotify, device).await,
                Intent::Yes => yes(m, &spotify, &turn.pending).await,
                Intent::No => Ok(Answer::tell(m.speak("okay", &[]))),
                Intent::VolumeUp => change_volume(m, &spotify, true).await,
                Intent::VolumeDown => change_volume(m, &spotify, false).await,
                Intent::SetVolume { level } => set_volume(m, &spotify, level).await,
                Intent::ShuffleOn => spotify
                    .set_shuffle(true)
                    .await
                    .map(|()| Answer::tell(m.speak("shuffle-on", &[]))),
                Intent::ShuffleOff => spotify
                    .set_shuffle(false)
                    .await
                    .map(|()| Answer::tell(m.speak("shuffle-off", &[]))),
                Intent::RepeatOn => spotify
                    .set_repeat("context")
                    .await
                    .map(|()| Answer::tell(m.speak("repeat-context", &[]))),
                Intent::RepeatTrack => spotify
                    .set_repeat("track")
                    .await
                    .map(|()| Answer::tell(m.speak("repeat-track", &[]))),
                Intent::RepeatOff => spotify
                    .set_repeat("off")
                    .await
                    .map(|()| Answer::tell(m.speak("repeat-off", &[]))),
                Intent::QueueCurrent => queue_current(m, &spotify).await,
                Intent::QueueSong { query } => queue_song(m, &spotify, query).await,
                Intent::Pause => match spotify.pause().await {
                    Ok(()) => Ok(Answer::tell(m.speak("paused", &[]))),
                    Err(BrokerError::Forbidden) => refused(m, &spotify, Refused::Pause).await,
                    Err(error) => Err(error),
                },
                Intent::Resume => match spotify.resume().await {
                    Ok(()) => Ok(Answer::tell(m.speak("resuming", &[]))),
                    Err(BrokerError::NoActiveDevice) => offer_device(m, &spotify, None).await,
                    Err(error) => Err(error),
                },
                Intent::Next => match spotify.next().await {
                    Ok(()) => Ok(Answer::tell(m.speak("skipping", &[]))),
                    Err(BrokerError::Forbidden) => refused(m, &spotify, Refused::Skip).await,
                    Err(error) => Err(error),
                },
                Intent::Previous => match spotify.previous().await {
                    Ok(()) => Ok(Answer::tell(m.speak("going-back", &[]))),
                    Err(BrokerError::Forbidden) => refused(m, &spotify, Refused::Skip).await,
                    Err(error) => Err(error),
                },
                _ => Ok(Answer::end_quietly()),
            }
        };
        self.linked(turn, token, deadline, action).await
    }

    /// Runs `action` beside a link lookup (from memory, or the broker with a short budget) and adds
    /// the relink reminder when due; remembers a failure for "why isn't Spotify working".
    async fn linked(
        &self,
        turn: &Turn,
        token: &AlexaAccessToken,
        deadline: Deadline,
        action: impl Future<Output = Result<Answer, BrokerError>>,
    ) -> Answer {
        let caller = &turn.caller;
        let lookup = async {
            let user = caller.user.as_ref()?;
            if let Some(info) = self.memory.recent(user).await {
                return Some(info);
            }
            let budget = deadline.remaining().min(LINK_LOOKUP_BUDGET);
            match self
                .broker
                .link(
                    ForUser::new(token, caller.user.as_ref()),
                    Deadline::after(budget),
                )
                .await
            {
                Ok(info) => {
                    self.memory.remember(user, info.clone()).await;
                    Some(info)
                }
                Err(error) => {
                    tracing::debug!(error = %error, "link lookup for the relink reminder failed");
                    None
                }
            }
        };
        let (result, info) = tokio::join!(action, lookup);
        match result {
            Ok(answer) => {
                if let Some(user) = &caller.user {
                    self.memory.clear_trouble(user).await;
                }
                self.maybe_remind(turn, info, answer).await
            }
            Err(error) => self.failed(turn, error).await,
        }
    }

    pub(super) async fn fresh_link(
        &self,
        turn: &Turn,
        token: &AlexaAccessToken,
        deadline: Deadline,
    ) -> Result<LinkInfo, BrokerError> {
        let caller = &turn.caller;
        let info = self
            .broker
            .link(ForUser::new(token, caller.user.as_ref()), deadline)
            .await?;
        if let Some(user) = &caller.user {
            self.memory.remember(user, info.clone()).await;
        }
        Ok(info)
    }

    pub(super) async fn failed(&self, turn: &Turn, error: BrokerError) -> Answer {
        speech::log_error(&error);
        if let Some(user) = &turn.caller.user {
            if matches!(error, BrokerError::RelinkRequired) {
                self.memory.forget(user).await;
            }
            self.memory.note_error(user, &error).await;
        }
        speech::for_error(&turn.m, &error)
    }

    async fn maybe_remind(&self, turn: &Turn, info: Option<LinkInfo>, answer: Answer) -> Answer {
        let (Some(user), Some(info)) = (&turn.caller.user, info) else {
            return answer;
        };
        if answer.card == Some(crate::alexa::response::CardRequest::LinkAccount)
            || !self.memory.take_reminder(user, &info).await
        {
            return answer;
        }
        tracing::info!(user_id = %user, "adding the relink reminder");
        with_reminder(&turn.m, answer)
    }

    async fn which_account(
        &self,
        turn: &Turn,
        token: &AlexaAccessToken,
        deadline: Deadline,
    ) -> Answer {
        let m = &turn.m;
        match self.fresh_link(turn, token, deadline).await {
            Ok(info) if info.needs_relink() => speech::relink(m),
            Ok(info) => {
                let answer = match info.display_name.as_deref().map(str::trim) {
                    Some(name) if !name.is_empty() => {
                        let name = short_name(name, NAME_CHARS);
                        Answer::tell(m.speak("account-named", &[("name", text(&name))]))
                            .with_card(m.text("card-account", &[]), name)
                    }
                    _ => Answer::tell(m.speak("account-unnamed", &[])),
                };
                self.maybe_remind(turn, Some(info), answer).await
            }
            Err(error) => self.failed(turn, error).await,
        }
    }
}

/// A player command Spotify refused with a 403 (the broker's `forbidden`, Spotify's "Restriction
/// violated").
#[derive(Debug, Clone, Copy)]
enum Refused {
    /// Pause.
    Pause,
    /// Next or previous.
    Skip,
}

/// Says what a refusal means when the player shows why (already paused; an ad, which may not be
/// skipped); otherwise keeps the general answer for `forbidden`.
async fn refused(
    m: &Messages,
    spotify: &Spotify<'_>,
    command: Refused,
) -> Result<Answer, BrokerError> {
    let now = spotify.now_playing().await.map_err(|error| {
        tracing::debug!(error = %error, "no player state to explain a refusal");
        BrokerError::Forbidden
    })?;
    let paused = matches!(
        now,
        NowPlaying::Track { playing: false, .. }
            | NowPlaying::Episode { playing: false, .. }
            | NowPlaying::Other { playing: false }
    );
    match command {
        Refused::Pause if paused => Ok(Answer::tell(m.speak("already-paused", &[]))),
        Refused::Skip if matches!(now, NowPlaying::Other { .. }) => {
            Ok(Answer::tell(m.speak("no-skipping-ad", &[])))
        }
        _ => Err(BrokerError::Forbidden),
    }
}

/// Adds the reminder and the LinkAccount card: after a statement, before a question.
fn with_reminder(m: &Messages, answer: Answer) -> Answer {
    let reminder = m.speak("relink-reminder", &[]);
    let mut answer = match answer.session {
        Session::KeepOpen => answer.say_first(&reminder),
        _ => answer.and_say(&reminder),
    };
    answer.card = None;
    answer.with_link_account_card()
}

fn what_is_playing(m: &Messages, now: NowPlaying) -> Result<Answer, BrokerError> {
    let card_title = m.text("card-now-playing", &[]);
    Ok(match now {
        NowPlaying::Nothing | NowPlaying::Other { playing: false } => {
            Answer::tell(m.speak("nothing-playing", &[]))
        }
        NowPlaying::Other { playing: true } => Answer::tell(m.speak("now-ad", &[])),
        NowPlaying::Track {
            name,
            artists,
            playing,
            ..
        } => {
            let name = short_name(&name, NAME_CHARS);
            let artists = m.and_list(&names(&artists));
            let args = [("name", text(&name)), ("artists", text(&artists))];
            let id = match (playing, artists.is_empty()) {
                (true, true) => "now-track",
                (true, false) => "now-track-by",
                (false, true) => "paused-track",
                (false, false) => "paused-track-by",
            };
            let card = if artists.is_empty() {
                name.clone()
            } else {
                m.text("card-by", &args)
            };
            Answer::tell(m.speak(id, &args)).with_card(card_title, card)
        }
        NowPlaying::Episode {
            name,
            show,
            playing,
        } => {
            let name = short_name(&name, NAME_CHARS);
            let show = show.map(|s| short_name(&s, NAME_CHARS));
            let show_text = show.clone().unwrap_or_default();
            let args = [("name", text(&name)), ("show", text(&show_text))];
            let id = match (playing, show.is_some()) {
                (true, false) => "now-episode",
                (true, true) => "now-episode-from",
                (false, false) => "paused-episode",
                (false, true) => "paused-episode-from",
            };
            let card = if show.is_some() {
                m.text("card-from", &args)
            } else {
                name.clone()
            };
            Answer::tell(m.speak(id, &args)).with_card(card_title, card)
        }
    })
}

fn who_sings(m: &Messages, now: NowPlaying) -> Result<Answer, BrokerError> {
    match now {
        NowPlaying::Track { name, artists, .. } => {
            let name = short_name(&name, NAME_CHARS);
            let artists = m.and_list(&names(&artists));
            Ok(Answer::tell(if artists.is_empty() {
                m.speak("sung-by-unknown", &[("name", text(&name))])
            } else {
                m.speak(
                    "sung-by",
                    &[("name", text(&name)), ("artists", text(&artists))],
                )
            }))
        }
        NowPlaying::Episode { name, .. } => Ok(Answer::tell(m.speak(
            "not-a-song",
            &[("name", text(&short_name(&name, NAME_CHARS)))],
        ))),
        other => what_is_playing(m, other),
    }
}

fn what_album(m: &Messages, now: NowPlaying) -> Result<Answer, BrokerError> {
    match now {
        NowPlaying::Track {
            name,
            artists,
            album,
            ..
        } => {
            let name = short_name(&name, NAME_CHARS);
            let artists = m.and_list(&names(&artists));
            Ok(Answer::tell(match album {
                Some(album) if !album.trim().is_empty() => {
                    let album = short_name(&album, NAME_CHARS);
                    let args = [("album", text(&album)), ("artists", text(&artists))];
                    if artists.is_empty() {
                        m.speak("album-is", &args)
                    } else {
                        m.speak("album-is-by", &args)
                    }
                }
                _ => m.speak("album-unknown", &[("name", text(&name))]),
            }))
        }
        NowPlaying::Episode { name, .. } => Ok(Answer::tell(m.speak(
            "not-a-song",
            &[("name", text(&short_name(&name, NAME_CHARS)))],
        ))),
        other => what_is_playing(m, other),
    }
}

async fn list_playlists(m: &Messages, spotify: &Spotify<'_>) -> Result<Answer, BrokerError> {
    let playlists = spotify.playlists(50).await?;
    if playlists.items.is_empty() {
        return Ok(Answer::tell(m.speak("playlists-none", &[])));
    }
    let all: Vec<String> = playlists
        .items
        .iter()
        .map(|p| short_name(&p.name, NAME_CHARS))
        .collect();
    let first: Vec<String> = all.iter().take(SPOKEN_PLAYLISTS).cloned().collect();
    let list = m.and_list(&first);
    let total = playlists.total;
    let count = i64::try_from(total).unwrap_or(i64::MAX);
    let args = [
        ("list", text(&list)),
        ("count", Arg::Number(count)),
        ("shown", Arg::Number(first.len() as i64)),
    ];
    let sentence = match total {
        1 => m.speak("playlists-one", &args),
        n if n as usize <= first.len() => m.speak("playlists-all", &args),
        _ => m.speak("playlists-first", &args),
    };
    let answer = Answer::ask(
        sentence.then(&m.speak("which-playlist", &[])),
        m.speak("which-playlist-reprompt", &[]),
    )
    .with_card(m.text("card-playlists", &[]), card_list(m, &all, total));
    let answer = match follow_up::playlist_entities(&playlists.items) {
        Some(entities) => answer.with_directive(entities),
        None => answer,
    };
    Ok(follow_up::ask_for(
        answer,
        "PlayPlaylistIntent",
        PLAYLIST_SLOT,
    ))
}

/// The card text for a list: as many lines as fit, then how many more there are.
fn card_list(m: &Messages, names: &[String], total: u64) -> String {
    const CARD_BUDGET: usize = 6_000;
    let mut text = String::new();
    let mut shown = 0u64;
    for name in names {
        let line = format!("{}. {name}\n", shown + 1);
        if text.len() + line.len() > CARD_BUDGET {
            break;
        }
        text.push_str(&line);
        shown += 1;
    }
    if total > shown {
        let more = i64::try_from(total - shown).unwrap_or(i64::MAX);
        text.push_str(&m.text("card-more", &[("count", Arg::Number(more))]));
    }
    text.trim_end().to_owned()
}

fn ask_playlist(m: &Messages, speech: crate::alexa::ssml::Ssml) -> Answer {
    follow_up::ask_for(
        Answer::ask(speech, m.speak("which-playlist-reprompt", &[])),
        "PlayPlaylistIntent",
        PLAYLIST_SLOT,
    )
}

async fn start_playlist(
    m: &Messages,
    spotify: &Spotify<'_>,
    name: &str,
    uri: &str,
) -> Result<Answer, BrokerError> {
    let target = PlayTarget::Context {
        context_uri: uri.to_owned(),
    };
    if let Err(error) = spotify.play(&target, None).await {
        return match error {
            BrokerError::NoActiveDevice => offer_device(m, spotify, Some(target)).await,
            error => Err(error),
        };
    }
    let name = short_name(name, NAME_CHARS);
    Ok(
        Answer::tell(m.speak("playing-playlist", &[("name", text(&name))])).with_card(
            m.text("card-now-playing", &[]),
            m.text("card-playlist", &[("name", text(&name))]),
        ),
    )
}

async fn play_playlist(
    m: &Messages,
    spotify: &Spotify<'_>,
    spoken: Option<String>,
    resolved: Vec<String>,
) -> Result<Answer, BrokerError> {
    let Some(spoken) = spoken else {
        return Ok(ask_playlist(m, m.speak("which-playlist", &[])));
    };
    let playlists = spotify.playlists(PLAYLISTS_TO_SEARCH).await?;
    if playlists.items.is_empty() {
        return Ok(Answer::tell(m.speak("playlists-none", &[])));
    }
    let outcome = std::iter::once(spoken.as_str())
        .chain(resolved.iter().map(String::as_str))
        .map(|query| playlist_match::find(query, &playlists.items))
        .find(|o| !matches!(o, MatchOutcome::NotFound))
        .unwrap_or(MatchOutcome::NotFound);
    match outcome {
        MatchOutcome::Found(playlist) => {
            start_playlist(m, spotify, &playlist.name, &playlist.uri).await
        }
        MatchOutcome::Ambiguous(options) => {
            let spoken: Vec<String> = options
                .iter()
                .map(|p| short_name(&p.name, NAME_CHARS))
                .collect();
            let options_text = m.or_list(&spoken);
            let pending = Pending::ChoosePlaylist {
                options: options
                    .iter()
                    .map(|p| Choice::new(&p.name, &p.uri))
                    .collect(),
            };
            let answer = Answer::ask(
                m.speak("playlist-ambiguous", &[("options", text(&options_text))]),
                m.speak(
                    "playlist-ambiguous-reprompt",
                    &[("options", text(&options_text))],
                ),
            )
            .with_attributes(pending.to_attributes());
            Ok(follow_up::ask_for(
                answer,
                "PlayPlaylistIntent",
                PLAYLIST_SLOT,
            ))
        }
        MatchOutcome::NotFound => Ok(ask_playlist(
            m,
            m.speak(
                "playlist-not-found",
                &[("name", text(&short_name(&spoken, NAME_CHARS)))],
            ),
        )),
    }
}

async fn choose(
    m: &Messages,
    spotify: &Spotify<'_>,
    pending: &Option<Pending>,
    position: Option<usize>,
) -> Result<Answer, BrokerError> {
    let Some(Pending::ChoosePlaylist { options }) = pending else {
        return Ok(Answer::ask(
            m.speak("choose-nothing", &[]),
            m.speak("what-would-you-like", &[]),
        ));
    };
    match position.and_then(|p| options.get(p.wrapping_sub(1))) {
        Some(choice) => start_playlist(m, spotify, &choice.name, &choice.uri).await,
        None => {
            let count = i64::try_from(options.len()).unwrap_or(i64::MAX);
            let answer = Answer::ask(
                m.speak("choose-out-of-range", &[("count", Arg::Number(count))]),
                m.speak("choose-out-of-range", &[("count", Arg::Number(count))]),
            )
            .with_attributes(
                Pending::ChoosePlaylist {
                    options: options.clone(),
                }
                .to_attributes(),
            );
            Ok(answer)
        }
    }
}

fn ask_query(m: &Messages, kind: SearchKind, speech: crate::alexa::ssml::Ssml) -> Answer {
    follow_up::ask_for(
        Answer::ask(speech, m.speak("play-what-reprompt", &[])),
        kind.intent_name(),
        QUERY_SLOT,
    )
}

/// What to say (and show) when `found` starts playing.
fn playing(m: &Messages, found: &Found) -> (crate::alexa::ssml::Ssml, String) {
    let name = short_name(&found.name, NAME_CHARS);
    let artists = m.and_list(&names(&found.artists));
    let show = found
        .show
        .as_deref()
        .map(|s| short_name(s, NAME_CHARS))
        .unwrap_or_default();
    let args = [
        ("name", text(&name)),
        ("artists", text(&artists)),
        ("show", text(&show)),
    ];
    let id = match found.kind {
        Kind::Track if !artists.is_empty() => "playing-track",
        Kind::Album if !artists.is_empty() => "playing-album",
        Kind::Artist => "playing-artist",
        Kind::Playlist => "playing-found-playlist",
        Kind::Show => "playing-show",
        Kind::Episode if !show.is_empty() => "playing-episode",
        Kind::Episode => "playing-found-episode",
        _ => "playing-named",
    };
    (m.speak(id, &args), m.text(id, &args))
}

async fn play_by_name(
    m: &Messages,
    spotify: &Spotify<'_>,
    query: Option<String>,
    kind: SearchKind,
) -> Result<Answer, BrokerError> {
    let Some(spoken) = query else {
        return Ok(ask_query(m, kind, m.speak("play-what", &[])));
    };
    let query = search::query(&spoken, kind, m.locale().by_word());
    let results = spotify.search(&query.q, &query.kinds, SEARCH_LIMIT).await?;
    let Some(found) = search::best(&query, &results) else {
        return Ok(ask_query(
            m,
            kind,
            m.speak(
                "search-nothing",
                &[("query", text(&short_name(&spoken, NAME_CHARS)))],
            ),
        ));
    };
    let target = found.target();
    if let Err(error) = spotify.play(&target, None).await {
        return match error {
            BrokerError::NoActiveDevice => offer_device(m, spotify, Some(target)).await,
            error => Err(error),
        };
    }
    let (said, card) = playing(m, found);
    Ok(Answer::tell(said).with_card(m.text("card-now-playing", &[]), card))
}

/// Nothing is active: offer the first device Spotify can see, to be started on "yes".
async fn offer_device(
    m: &Messages,
    spotify: &Spotify<'_>,
    play: Option<PlayTarget>,
) -> Result<Answer, BrokerError> {
    let devices = spotify.devices().await?;
    let Some(device) = devices.iter().find(|d| !d.is_restricted) else {
        return Err(BrokerError::NoActiveDevice);
    };
    let Some(device_id) = device.id.clone() else {
        return Err(BrokerError::NoActiveDevice);
    };
    let name = short_name(&device.name, NAME_CHARS);
    let pending = Pending::OfferDevice {
        device_id,
        device: name.clone(),
        play,
    };
    Ok(Answer::ask(
        m.speak("offer-device", &[("name", text(&name))]),
        m.speak("offer-device-reprompt", &[("name", text(&name))]),
    )
    .with_attributes(pending.to_attributes()))
}

async fn yes(
    m: &Messages,
    spotify: &Spotify<'_>,
    pending: &Option<Pending>,
) -> Result<Answer, BrokerError> {
    let Some(Pending::OfferDevice {
        device_id,
        device,
        play,
    }) = pending
    else {
        return Ok(Answer::ask(
            m.speak("nothing-to-confirm", &[]),
            m.speak("what-would-you-like", &[]),
        ));
    };
    match play {
        Some(target) => spotify.play(target, Some(device_id)).await?,
        None => spotify.transfer(device_id).await?,
    }
    Ok(Answer::tell(
        m.speak("playing-on", &[("name", text(device))]),
    ))
}

async fn list_devices(m: &Messages, spotify: &Spotify<'_>) -> Result<Answer, BrokerError> {
    let devices = spotify.devices().await?;
    if devices.is_empty() {
        return Ok(Answer::tell(m.speak("devices-none", &[])));
    }
    let all: Vec<String> = devices
        .iter()
        .map(|d| short_name(&d.name, NAME_CHARS))
        .collect();
    let spoken: Vec<String> = all.iter().take(SPOKEN_DEVICES).cloned().collect();
    let list = m.and_list(&spoken);
    let count = i64::try_from(devices.len()).unwrap_or(i64::MAX);
    let mut said = m.speak(
        "devices-list",
        &[("count", Arg::Number(count)), ("list", text(&list))],
    );
    if let Some(active) = devices.iter().find(|d| d.is_active) {
        said = said.then(&m.speak(
            "devices-active",
            &[("name", text(&short_name(&active.name, NAME_CHARS)))],
        ));
    }
    Ok(Answer::tell(said).with_card(m.text("card-devices", &[]), all.join("\n")))
}

async fn play_on_device(
    m: &Messages,
    spotify: &Spotify<'_>,
    device: Option<String>,
) -> Result<Answer, BrokerError> {
    let ask_device = |speech| {
        follow_up::ask_for(
            Answer::ask(speech, m.speak("which-device-reprompt", &[])),
            "PlayOnDeviceIntent",
            DEVICE_SLOT,
        )
    };
    let Some(spoken) = device else {
        return Ok(ask_device(m.speak("which-device", &[])));
    };
    let devices = spotify.devices().await?;
    if devices.is_empty() {
        return Ok(Answer::tell(m.speak("devices-none", &[])));
    }
    match search::device(&spoken, &devices) {
        Some(found) => {
            let Some(id) = found.id.as_deref() else {
                return Err(BrokerError::NoActiveDevice);
            };
            spotify.transfer(id).await?;
            Ok(Answer::tell(m.speak(
                "playing-on",
                &[("name", text(&short_name(&found.name, NAME_CHARS)))],
            )))
        }
        None => {
            let all: Vec<String> = devices
                .iter()
                .take(SPOKEN_DEVICES)
                .map(|d| short_name(&d.name, NAME_CHARS))
                .collect();
            let list = m.and_list(&all);
            Ok(ask_device(m.speak(
                "device-not-found",
                &[
                    ("name", text(&short_name(&spoken, NAME_CHARS))),
                    ("list", text(&list)),
                ],
            )))
        }
    }
}

async fn change_volume(
    m: &Messages,
    spotify: &Spotify<'_>,
    up: bool,
) -> Result<Answer, BrokerError> {
    let device = spotify
        .player()
        .await?
        .and_then(|p| p.device)
        .ok_or(BrokerError::NoActiveDevice)?;
    if device.supports_volume == Some(false) {
        return Ok(Answer::tell(m.speak(
            "volume-unsupported",
            &[("name", text(&short_name(&device.name, NAME_CHARS)))],
        )));
    }
    let now = device.volume_percent.unwrap_or(50);
    let level = if up {
        now.saturating_add(VOLUME_STEP).min(100)
    } else {
        now.saturating_sub(VOLUME_STEP)
    };
    spotify.set_volume(level).await?;
    Ok(Answer::tell(m.speak(
        "volume-set",
        &[("level", Arg::Number(i64::from(level)))],
    )))
}

async fn set_volume(
    m: &Messages,
    spotify: &Spotify<'_>,
    level: Option<String>,
) -> Result<Answer, BrokerError> {
    let ask = |id: &str| {
        follow_up::ask_for(
            Answer::ask(m.speak(id, &[]), m.speak("volume-which", &[])),
            "SetVolumeIntent",
            LEVEL_SLOT,
        )
    };
    let Some(level) = level else {
        return Ok(ask("volume-which"));
    };
    let Some(level) = level.trim().parse::<u8>().ok().filter(|l| *l <= 100) else {
        return Ok(ask("volume-range"));
    };
    spotify.set_volume(level).await?;
    Ok(Answer::tell(m.speak(
        "volume-set",
        &[("level", Arg::Number(i64::from(level)))],
    )))
}

async fn queue_current(m: &Messages, spotify: &Spotify<'_>) -> Result<Answer, BrokerError> {
    match spotify.now_playing().await? {
        NowPlaying::Track {
            name,
            artists,
            uri: Some(uri),
            ..
        } => {
            spotify.queue(&uri).await?;
            Ok(Answer::tell(queued(m, &name, &artists)))
        }
        _ => Ok(follow_up::ask_for(
            Answer::ask(m.speak("queue-nothing", &[]), m.speak("queue-what", &[])),
            "QueueSongIntent",
            QUERY_SLOT,
        )),
    }
}

fn queued(m: &Messages, name: &str, artists: &[String]) -> crate::alexa::ssml::Ssml {
    let name = short_name(name, NAME_CHARS);
    let artists = m.and_list(&names(artists));
    if artists.is_empty() {
        m.speak("queued-plain", &[("name", text(&name))])
    } else {
        m.speak(
            "queued",
            &[("name", text(&name)), ("artists", text(&artists))],
        )
    }
}

async fn queue_song(
    m: &Messages,
    spotify: &Spotify<'_>,
    query: Option<String>,
) -> Result<Answer, BrokerError> {
    let ask = |speech| {
        follow_up::ask_for(
            Answer::ask(speech, m.speak("queue-what", &[])),
            "QueueSongIntent",
            QUERY_SLOT,
        )
    };
    let Some(spoken) = query else {
        return Ok(ask(m.speak("queue-what", &[])));
    };
    let query = search::query(&spoken, SearchKind::Song, m.locale().by_word());
    let results = spotify.search(&query.q, &query.kinds, SEARCH_LIMIT).await?;
    let Some(found) = search::best(&query, &results) else {
        return Ok(ask(m.speak(
            "search-nothing",
            &[("query", text(&short_name(&spoken, NAME_CHARS)))],
        )));
    };
    spotify.queue(&found.uri).await?;
    Ok(Answer::tell(queued(m, &found.name, &found.artists)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Locale;

    fn en() -> Messages {
        Messages::new(Locale::EnUs)
    }

    fn said(answer: &Answer) -> String {
        answer.speech.as_ref().unwrap().as_str().to_owned()
    }

    #[test]
    fn tracks_and_episodes_are_described() {
        let track = what_is_playing(
            &en(),
            NowPlaying::Track {
                name: "Rock & <Roll>".into(),
                artists: vec!["A".into(), "B".into()],
                playing: true,
                uri: None,
                album: None,
            },
        )
        .unwrap();
        assert_eq!(said(&track), "This is Rock &amp; &lt;Roll&gt; by A and B.");
        let rendered = serde_json::to_string(&track.render()).unwrap();
        assert!(rendered.contains("Rock & <Roll> by A and B"), "{rendered}");

        let episode = what_is_playing(
            &en(),
            NowPlaying::Episode {
                name: "Ep 1".into(),
                show: Some("The Show".into()),
                playing: true,
            },
        )
        .unwrap();
        assert_eq!(
            said(&episode),
            "This is the episode Ep 1, from the podcast The Show."
        );
        let nothing = what_is_playing(&en(), NowPlaying::Nothing).unwrap();
        assert!(said(&nothing).contains("Nothing is playing"));
    }

    #[test]
    fn long_lists_are_cut_politely() {
        let names: Vec<String> = (0..500)
            .map(|i| format!("Playlist number {i} {}", "x".repeat(80)))
            .collect();
        let text = card_list(&en(), &names, 900);
        assert!(text.len() < 6_100);
        assert!(text.ends_with("more."), "{text}");
        assert_eq!(card_list(&en(), &["A".into()], 1), "1. A");
    }

    #[test]
    fn reminder_goes_before_a_question_and_after_a_statement() {
        let m = en();
        let told = with_reminder(
            &m,
            Answer::tell(crate::alexa::ssml::Ssml::text("Paused.")).with_card("t", "c"),
        );
        assert!(said(&told).starts_with("Paused. By the way"));
        assert_eq!(
            told.card,
            Some(crate::alexa::response::CardRequest::LinkAccount)
        );
        let asked = with_reminder(
            &m,
            Answer::ask(
                crate::alexa::ssml::Ssml::text("What would you like?"),
                crate::alexa::ssml::Ssml::text("Well?"),
            ),
        );
        assert!(said(&asked).ends_with("What would you like?"));
    }
}
