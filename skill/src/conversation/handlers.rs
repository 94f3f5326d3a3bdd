//! One handler per intent: call Spotify through the broker, then say what happened.

use std::future::Future;
use std::time::Duration;

use super::intents::Intent;
use super::playlist_match::{self, MatchOutcome};
use super::{Caller, Conversation, speech};
use crate::alexa::response::{Answer, Session};
use crate::alexa::ssml::{short_name, spoken_list};
use crate::broker::spotify::{NowPlaying, Spotify};
use crate::broker::{BrokerError, ForUser, LinkInfo};
use crate::deadline::Deadline;
use crate::identifiers::AlexaAccessToken;

const WHAT_I_CAN_DO: &str = "You can ask me what's playing, to list your playlists, to play one of your playlists by name, to pause, resume, skip or go back, or which Spotify account is linked.";
const SPOKEN_PLAYLISTS: usize = 5;
const NAME_CHARS: usize = 100;
const PLAYLISTS_TO_SEARCH: usize = 200;
/// The link lookup that runs beside an action may not hold the answer up longer than this.
const LINK_LOOKUP_BUDGET: Duration = Duration::from_millis(1500);

fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{}, or {last}", init.join(", ")),
    }
}

impl Conversation {
    pub(crate) async fn launch(&self, caller: &Caller, deadline: Deadline) -> Answer {
        let Some(token) = &caller.token else {
            return speech::not_linked();
        };
        let welcome = || {
            Answer::ask(
                format!("Welcome! {WHAT_I_CAN_DO} What would you like?"),
                "What would you like? You can say help to hear what I can do.",
            )
        };
        match self.fresh_link(caller, token, deadline).await {
            Ok(info) if info.needs_relink() => speech::relink(),
            Ok(info) => self.maybe_remind(caller, Some(info), welcome()).await,
            Err(error) => self.failed(caller, error).await,
        }
    }

    pub(crate) async fn intent(
        &self,
        caller: &Caller,
        intent: Intent,
        deadline: Deadline,
    ) -> Answer {
        if !intent.needs_link() {
            return match intent {
                Intent::Help => Answer::ask(
                    format!("{WHAT_I_CAN_DO} What would you like?"),
                    "What would you like?",
                ),
                Intent::Stop => Answer::tell("Goodbye."),
                Intent::NavigateHome => Answer::end_quietly(),
                Intent::Fallback | Intent::Unknown(_) => Answer::ask(
                    "Sorry, I can't help with that. You can say help to hear what I can do.",
                    "What would you like? You can say help to hear what I can do.",
                ),
                _ => Answer::end_quietly(),
            };
        }
        let Some(token) = &caller.token else {
            return speech::not_linked();
        };
        if intent == Intent::WhichAccount {
            return self.which_account(caller, token, deadline).await;
        }
        let spotify = Spotify::new(
            &self.broker,
            ForUser::new(token, caller.user.as_ref()),
            deadline,
        );
        let action = async {
            match intent {
                Intent::WhatsPlaying => what_is_playing(spotify.now_playing().await?),
                Intent::ListPlaylists => list_playlists(&spotify).await,
                Intent::PlayPlaylist { spoken, resolved } => {
                    play_playlist(&spotify, spoken, resolved).await
                }
                Intent::Pause => spotify.pause().await.map(|()| Answer::tell("Paused.")),
                Intent::Resume => spotify.resume().await.map(|()| Answer::tell("Resuming.")),
                Intent::Next => spotify
                    .next()
                    .await
                    .map(|()| Answer::tell("Skipping ahead.")),
                Intent::Previous => spotify
                    .previous()
                    .await
                    .map(|()| Answer::tell("Going back.")),
                _ => Ok(Answer::end_quietly()),
            }
        };
        self.linked(caller, token, deadline, action).await
    }

    /// Runs `action` beside a link lookup (from memory, or the broker with a short budget) and adds
    /// the relink reminder when due.
    async fn linked(
        &self,
        caller: &Caller,
        token: &AlexaAccessToken,
        deadline: Deadline,
        action: impl Future<Output = Result<Answer, BrokerError>>,
    ) -> Answer {
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
            Ok(answer) => self.maybe_remind(caller, info, answer).await,
            Err(error) => self.failed(caller, error).await,
        }
    }

    async fn fresh_link(
        &self,
        caller: &Caller,
        token: &AlexaAccessToken,
        deadline: Deadline,
    ) -> Result<LinkInfo, BrokerError> {
        let info = self
            .broker
            .link(ForUser::new(token, caller.user.as_ref()), deadline)
            .await?;
        if let Some(user) = &caller.user {
            self.memory.remember(user, info.clone()).await;
        }
        Ok(info)
    }

    async fn failed(&self, caller: &Caller, error: BrokerError) -> Answer {
        speech::log_error(&error);
        if matches!(error, BrokerError::RelinkRequired) {
            if let Some(user) = &caller.user {
                self.memory.forget(user).await;
            }
        }
        speech::for_error(&error)
    }

    async fn maybe_remind(
        &self,
        caller: &Caller,
        info: Option<LinkInfo>,
        answer: Answer,
    ) -> Answer {
        let (Some(user), Some(info)) = (&caller.user, info) else {
            return answer;
        };
        if answer.card == Some(crate::alexa::response::CardRequest::LinkAccount)
            || !self.memory.take_reminder(user, &info).await
        {
            return answer;
        }
        tracing::info!(user_id = %user, "adding the relink reminder");
        with_reminder(answer)
    }

    async fn which_account(
        &self,
        caller: &Caller,
        token: &AlexaAccessToken,
        deadline: Deadline,
    ) -> Answer {
        match self.fresh_link(caller, token, deadline).await {
            Ok(info) if info.needs_relink() => speech::relink(),
            Ok(info) => {
                let answer = match info.display_name.as_deref().map(str::trim) {
                    Some(name) if !name.is_empty() => {
                        let name = short_name(name, NAME_CHARS);
                        Answer::tell(format!(
                            "This skill is linked to the Spotify account {name}."
                        ))
                        .with_card("Linked Spotify account", name)
                    }
                    _ => Answer::tell(
                        "This skill is linked to a Spotify account, but Spotify didn't tell me its name.",
                    ),
                };
                self.maybe_remind(caller, Some(info), answer).await
            }
            Err(error) => self.failed(caller, error).await,
        }
    }
}

/// Adds the reminder and the LinkAccount card: after a statement, before a question.
fn with_reminder(answer: Answer) -> Answer {
    let mut answer = match answer.session {
        Session::KeepOpen => Answer {
            speech: Some(match answer.speech {
                Some(s) => format!("{} {s}", speech::RELINK_REMINDER),
                None => speech::RELINK_REMINDER.to_owned(),
            }),
            ..answer
        },
        _ => answer.and_say(speech::RELINK_REMINDER),
    };
    answer.card = None;
    answer.with_link_account_card()
}

fn what_is_playing(now: NowPlaying) -> Result<Answer, BrokerError> {
    Ok(match now {
        NowPlaying::Nothing => Answer::tell("Nothing is playing on Spotify right now."),
        NowPlaying::Track {
            name,
            artists,
            playing,
        } => {
            let name = short_name(&name, NAME_CHARS);
            let artists: Vec<String> = artists
                .iter()
                .take(4)
                .map(|a| short_name(a, NAME_CHARS))
                .collect();
            let by = if artists.is_empty() {
                String::new()
            } else {
                format!(" by {}", spoken_list(&artists))
            };
            let sentence = if playing {
                format!("This is {name}{by}.")
            } else {
                format!("Spotify is paused on {name}{by}.")
            };
            Answer::tell(sentence).with_card("Now playing", format!("{name}{by}"))
        }
        NowPlaying::Episode {
            name,
            show,
            playing,
        } => {
            let name = short_name(&name, NAME_CHARS);
            let from = show
                .map(|s| format!(", from the podcast {}", short_name(&s, NAME_CHARS)))
                .unwrap_or_default();
            let sentence = if playing {
                format!("This is the episode {name}{from}.")
            } else {
                format!("Spotify is paused on the episode {name}{from}.")
            };
            Answer::tell(sentence).with_card("Now playing", format!("{name}{from}"))
        }
        NowPlaying::Other { playing: true } => {
            Answer::tell("Spotify is playing something it doesn't describe, probably an ad.")
        }
        NowPlaying::Other { playing: false } => {
            Answer::tell("Nothing is playing on Spotify right now.")
        }
    })
}

async fn list_playlists(spotify: &Spotify<'_>) -> Result<Answer, BrokerError> {
    let playlists = spotify.playlists(50).await?;
    if playlists.items.is_empty() {
        return Ok(Answer::tell("You don't have any playlists on Spotify yet."));
    }
    let names: Vec<String> = playlists
        .items
        .iter()
        .map(|p| short_name(&p.name, NAME_CHARS))
        .collect();
    let first: Vec<String> = names.iter().take(SPOKEN_PLAYLISTS).cloned().collect();
    let total = playlists.total;
    let sentence = match total {
        1 => format!("You have one playlist: {}.", spoken_list(&first)),
        n if n as usize <= first.len() => {
            format!("You have {n} playlists: {}.", spoken_list(&first))
        }
        n => format!(
            "You have {n} playlists. The first {} are {}.",
            first.len(),
            spoken_list(&first)
        ),
    };
    Ok(Answer::tell(sentence).with_card("Your playlists", card_list(&names, total)))
}

/// The card text for a list: as many lines as fit, then how many more there are.
fn card_list(names: &[String], total: u64) -> String {
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
        text.push_str(&format!("…and {} more.", total - shown));
    }
    text.trim_end().to_owned()
}

async fn play_playlist(
    spotify: &Spotify<'_>,
    spoken: Option<String>,
    resolved: Vec<String>,
) -> Result<Answer, BrokerError> {
    let ask_again = "Which playlist should I play? Say play, then the playlist's name.";
    let Some(spoken) = spoken else {
        return Ok(Answer::ask("Which playlist should I play?", ask_again));
    };
    let playlists = spotify.playlists(PLAYLISTS_TO_SEARCH).await?;
    if playlists.items.is_empty() {
        return Ok(Answer::tell("You don't have any playlists on Spotify yet."));
    }
    let outcome = std::iter::once(spoken.as_str())
        .chain(resolved.iter().map(String::as_str))
        .map(|query| playlist_match::find(query, &playlists.items))
        .find(|o| !matches!(o, MatchOutcome::NotFound))
        .unwrap_or(MatchOutcome::NotFound);
    match outcome {
        MatchOutcome::Found(playlist) => {
            spotify.play_playlist(playlist).await?;
            let name = short_name(&playlist.name, NAME_CHARS);
            Ok(Answer::tell(format!("Playing your playlist {name}."))
                .with_card("Now playing", format!("Playlist: {name}")))
        }
        MatchOutcome::Ambiguous(options) => {
            let names: Vec<String> = options
                .iter()
                .map(|p| short_name(&p.name, NAME_CHARS))
                .collect();
            Ok(Answer::ask(
                format!(
                    "I found more than one playlist like that: {}. Which one should I play?",
                    or_list(&names)
                ),
                format!("Which one: {}? Say play, then the name.", or_list(&names)),
            ))
        }
        MatchOutcome::NotFound => Ok(Answer::ask(
            format!(
                "I couldn't find a playlist called {} among your playlists. Which playlist should I play?",
                short_name(&spoken, NAME_CHARS)
            ),
            ask_again,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_and_episodes_are_described() {
        let track = what_is_playing(NowPlaying::Track {
            name: "Rock & <Roll>".into(),
            artists: vec!["A".into(), "B".into()],
            playing: true,
        })
        .unwrap();
        assert_eq!(
            track.speech.as_deref(),
            Some("This is Rock & <Roll> by A and B.")
        );
        let rendered = serde_json::to_string(&track.render()).unwrap();
        assert!(rendered.contains("Rock &amp; &lt;Roll&gt;"), "{rendered}");

        let episode = what_is_playing(NowPlaying::Episode {
            name: "Ep 1".into(),
            show: Some("The Show".into()),
            playing: true,
        })
        .unwrap();
        assert_eq!(
            episode.speech.as_deref(),
            Some("This is the episode Ep 1, from the podcast The Show.")
        );
        let nothing = what_is_playing(NowPlaying::Nothing).unwrap();
        assert!(nothing.speech.unwrap().contains("Nothing is playing"));
    }

    #[test]
    fn long_lists_are_cut_politely() {
        let names: Vec<String> = (0..500)
            .map(|i| format!("Playlist number {i} {}", "x".repeat(80)))
            .collect();
        let text = card_list(&names, 900);
        assert!(text.len() < 6_100);
        assert!(text.ends_with("more."), "{text}");
        assert_eq!(card_list(&["A".into()], 1), "1. A");
    }

    #[test]
    fn reminder_goes_before_a_question_and_after_a_statement() {
        let told = with_reminder(Answer::tell("Paused.").with_card("t", "c"));
        assert!(
            told.speech
                .as_deref()
                .unwrap()
                .starts_with("Paused. By the way")
        );
        assert_eq!(
            told.card,
            Some(crate::alexa::response::CardRequest::LinkAccount)
        );
        let asked = with_reminder(Answer::ask("What would you like?", "Well?"));
        assert!(
            asked
                .speech
                .as_deref()
                .unwrap()
                .ends_with("What would you like?")
        );
    }
}
