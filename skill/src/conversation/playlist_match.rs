//! Finding the playlist the user named among their own: forgiving case, punctuation and small slips.

use crate::broker::spotify::Playlist;

/// Scores at or above this count as a match.
const THRESHOLD: f64 = 0.75;
/// Candidates this close to the best are too close to call.
const AMBIGUITY_MARGIN: f64 = 0.05;

/// The result of matching a spoken name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchOutcome<'a> {
    /// One playlist fits.
    Found(&'a Playlist),
    /// Several fit about equally well (best first, at most three).
    Ambiguous(Vec<&'a Playlist>),
    /// Nothing fits.
    NotFound,
}

/// Lowercases, spells `&` as "and", drops punctuation and filler words ("my", "the", "playlist").
pub fn normalize(text: &str) -> String {
    let mut cleaned = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' | '+' => cleaned.push_str(" and "),
            '\'' | '’' | '`' | '.' => {}
            c if c.is_alphanumeric() => cleaned.extend(c.to_lowercase()),
            _ => cleaned.push(' '),
        }
    }
    let mut words: Vec<&str> = cleaned.split_whitespace().collect();
    while words.len() > 1 && matches!(words.first(), Some(&"my") | Some(&"the")) {
        words.remove(0);
    }
    while words.len() > 1 && matches!(words.last(), Some(&"playlist") | Some(&"list")) {
        words.pop();
    }
    words.join(" ")
}

/// How well `query` (normalized) fits `name` (normalized), from 0 to 1; 1 only for equality.
fn score(query: &str, name: &str) -> f64 {
    if query == name {
        return 1.0;
    }
    let compact = |s: &str| s.replace(' ', "");
    if compact(query) == compact(name) {
        return 0.99;
    }
    let edit = strsim::normalized_levenshtein(query, name).min(0.98);
    let name_words: Vec<&str> = name.split_whitespace().collect();
    let contained = !query.is_empty() && query.split_whitespace().all(|w| name_words.contains(&w));
    let containment = if contained {
        0.8 + 0.15 * (query.len() as f64 / name.len().max(1) as f64)
    } else {
        0.0
    };
    edit.max(containment)
}

/// Matches `query` against `playlists`. An exact (normalized) match wins outright, the first one if
/// several playlists share the name; otherwise the best fuzzy match, unless another is about as good.
pub fn find<'a>(query: &str, playlists: &'a [Playlist]) -> MatchOutcome<'a> {
    let query = normalize(query);
    if query.is_empty() {
        return MatchOutcome::NotFound;
    }
    let mut scored: Vec<(f64, &Playlist)> = playlists
        .iter()
        .map(|p| (score(&query, &normalize(&p.name)), p))
        .filter(|(s, _)| *s >= THRESHOLD)
        .collect();
    // Stable sort keeps Spotify's order among equals.
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let Some(&(best, best_playlist)) = scored.first() else {
        return MatchOutcome::NotFound;
    };
    if best >= 1.0 {
        return MatchOutcome::Found(best_playlist);
    }
    let close: Vec<&Playlist> = scored
        .iter()
        .take_while(|(s, _)| best - s <= AMBIGUITY_MARGIN)
        .map(|(_, p)| *p)
        .collect();
    let distinct_names = {
        let mut names: Vec<String> = close.iter().map(|p| normalize(&p.name)).collect();
        names.dedup();
        names.len()
    };
    if distinct_names > 1 {
        MatchOutcome::Ambiguous(close.into_iter().take(3).collect())
    } else {
        MatchOutcome::Found(best_playlist)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists(names: &[&str]) -> Vec<Playlist> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| Playlist {
                id: format!("p{i}"),
                name: (*n).to_owned(),
                uri: format!("spotify:playlist:p{i}"),
            })
            .collect()
    }

    fn found(query: &str, names: &[&str]) -> Option<String> {
        let playlists = lists(names);
        match find(query, &playlists) {
            MatchOutcome::Found(p) => Some(p.name.clone()),
            _ => None,
        }
    }

    #[test]
    fn normalization_forgives_case_punctuation_and_filler() {
        assert_eq!(normalize("Rock & <Roll>!"), "rock and roll");
        assert_eq!(normalize("my Chill Evening playlist"), "chill evening");
        assert_eq!(normalize("Tom's   Mix"), "toms mix");
        assert_eq!(normalize("R.E.M. Hits"), "rem hits");
    }

    #[test]
    fn exact_names_match_despite_case_and_punctuation() {
        let names = ["Workout", "Chill Evening!", "Rock & Roll"];
        assert_eq!(
            found("chill evening", &names).as_deref(),
            Some("Chill Evening!")
        );
        assert_eq!(
            found("rock and roll", &names).as_deref(),
            Some("Rock & Roll")
        );
        assert_eq!(found("WORKOUT", &names).as_deref(), Some("Workout"));
    }

    #[test]
    fn small_typos_still_match() {
        let names = ["Chill Evening", "Road Trip", "Focus"];
        assert_eq!(
            found("chil evening", &names).as_deref(),
            Some("Chill Evening")
        );
        assert_eq!(found("road trips", &names).as_deref(), Some("Road Trip"));
        assert_eq!(found("roadtrip", &names).as_deref(), Some("Road Trip"));
    }

    #[test]
    fn exact_beats_close() {
        let names = ["Chill Evening", "Chill Evenings", "Chill"];
        assert_eq!(
            found("chill evening", &names).as_deref(),
            Some("Chill Evening")
        );
        assert_eq!(found("chill", &names).as_deref(), Some("Chill"));
    }

    #[test]
    fn two_similar_playlists_are_ambiguous() {
        let playlists = lists(&["Chill Morning", "Chill Evening", "Metal"]);
        let MatchOutcome::Ambiguous(options) = find("chill", &playlists) else {
            panic!("expected ambiguity")
        };
        let names: Vec<&str> = options.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["Chill Morning", "Chill Evening"]);

        let playlists = lists(&["Summer Hits 2023", "Summer Hits 2024"]);
        assert!(matches!(
            find("summer hits", &playlists),
            MatchOutcome::Ambiguous(_)
        ));
    }

    #[test]
    fn unrelated_names_do_not_match() {
        assert_eq!(found("jazz classics", &["Chill Evening", "Workout"]), None);
        assert_eq!(found("", &["Chill Evening"]), None);
        assert_eq!(found("rock", &[]), None);
    }

    #[test]
    fn identical_names_play_the_first() {
        let playlists = lists(&["Favourites", "favourites!"]);
        assert_eq!(
            find("favourites", &playlists),
            MatchOutcome::Found(&playlists[0])
        );
    }
}
