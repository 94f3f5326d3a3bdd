//! Playing anything by name: from what the user said to a Spotify search, and from its results to
//! the one best match (spoken back, so a wrong guess is heard at once).

use crate::broker::spotify::{Device, Found, Kind};
use crate::conversation::intents::SearchKind;
use crate::conversation::playlist_match::normalize;

/// What to send to `GET /search`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Spotify's `q`: the title and the artist the user named, as plain words (Spotify matches them
    /// across fields; the artist then weighs in choosing the best result).
    pub q: String,
    /// Spotify's `type`, best kinds first.
    pub kinds: Vec<Kind>,
    /// The title the user said, normalized.
    title: String,
    /// The artist the user said, normalized.
    artist: Option<String>,
}

/// Reads "Kind of Blue by Miles Davis" (`by_word` is the locale's " by ") for `kind`.
pub fn query(spoken: &str, kind: SearchKind, by_word: &str) -> Query {
    let spoken = spoken.trim();
    let lower = spoken.to_lowercase();
    // Podcasts and artists are not "by" anyone the search could use.
    let split = match kind {
        SearchKind::Any | SearchKind::Song | SearchKind::Album => {
            lower.rfind(by_word).filter(|at| *at > 0)
        }
        _ => None,
    };
    let (title, artist) = match split {
        Some(at) if lower.is_char_boundary(at) && spoken.is_char_boundary(at) => (
            spoken[..at].trim().to_owned(),
            Some(spoken[at + by_word.len()..].trim().to_owned()).filter(|a| !a.is_empty()),
        ),
        _ => (spoken.to_owned(), None),
    };
    let kinds = match (kind, &artist) {
        (SearchKind::Any, Some(_)) => vec![Kind::Album, Kind::Track],
        (SearchKind::Any, None) => vec![Kind::Artist, Kind::Album, Kind::Track, Kind::Playlist],
        (SearchKind::Song, _) => vec![Kind::Track],
        (SearchKind::Album, _) => vec![Kind::Album],
        (SearchKind::Artist, _) => vec![Kind::Artist],
        (SearchKind::Podcast, _) => vec![Kind::Show],
        (SearchKind::Episode, _) => vec![Kind::Episode],
    };
    let q = match &artist {
        Some(artist) => format!("{title} {artist}"),
        None => title.clone(),
    };
    Query {
        q,
        kinds,
        title: normalize(&title),
        artist: artist.as_deref().map(normalize),
    }
}

fn similarity(a: &str, b: &str) -> f64 {
    if a == b {
        return 1.0;
    }
    strsim::normalized_levenshtein(a, b)
}

/// The best of `results` for `query`: the closest name (and artist, when one was said), an exact
/// name beating everything; among equals the kind the user most likely meant, then Spotify's order.
pub fn best<'a>(query: &Query, results: &'a [Found]) -> Option<&'a Found> {
    let kind_rank = |kind: Kind| {
        query
            .kinds
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(query.kinds.len())
    };
    let score = |(rank, found): (usize, &Found)| {
        let name = similarity(&query.title, &normalize(&found.name));
        let artist = match &query.artist {
            Some(wanted) => found
                .artists
                .iter()
                .map(|a| similarity(wanted, &normalize(a)))
                .fold(0.0, f64::max),
            None => 0.0,
        };
        let exact = if name >= 1.0 { 1.0 } else { 0.0 };
        exact + name + 0.5 * artist - 0.01 * kind_rank(found.kind) as f64 - 0.001 * rank as f64
    };
    results
        .iter()
        .enumerate()
        .map(|(rank, found)| (score((rank, found)), found))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, found)| found)
}

/// The device the user named ("the kitchen speaker" finds "Kitchen Speaker" and "Kitchen").
pub fn device<'a>(spoken: &str, devices: &'a [Device]) -> Option<&'a Device> {
    let wanted = normalize(spoken);
    if wanted.is_empty() {
        return None;
    }
    let wanted_words: Vec<&str> = wanted.split_whitespace().collect();
    devices
        .iter()
        .map(|d| {
            let name = normalize(&d.name);
            let words: Vec<&str> = name.split_whitespace().collect();
            let shared = wanted_words.iter().filter(|w| words.contains(w)).count();
            let overlap = shared as f64 / wanted_words.len().max(words.len()).max(1) as f64;
            (similarity(&wanted, &name).max(overlap), d)
        })
        .filter(|(score, _)| *score >= 0.5)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(kind: Kind, name: &str, artist: &str) -> Found {
        Found {
            kind,
            name: name.into(),
            uri: format!("spotify:{}:{}", kind.as_str(), name.replace(' ', "")),
            artists: vec![artist.into()],
            show: None,
        }
    }

    #[test]
    fn by_splits_title_and_artist() {
        let q = query("Kind of Blue by Miles Davis", SearchKind::Any, " by ");
        assert_eq!(q.q, "Kind of Blue Miles Davis");
        assert_eq!(q.kinds, vec![Kind::Album, Kind::Track]);
        let german = query("Kind of Blue von Miles Davis", SearchKind::Any, " von ");
        assert_eq!(german.q, "Kind of Blue Miles Davis");
        let podcast = query("Stand by Me Stories", SearchKind::Podcast, " by ");
        assert_eq!(podcast.q, "Stand by Me Stories");
        assert_eq!(podcast.kinds, vec![Kind::Show]);
    }

    #[test]
    fn the_closest_name_wins_then_the_likelier_kind() {
        let results = vec![
            found(Kind::Track, "So What", "Miles Davis"),
            found(Kind::Album, "Kind of Blue", "Miles Davis"),
            found(Kind::Track, "Blue in Green", "Miles Davis"),
        ];
        let q = query("kind of blue by miles davis", SearchKind::Any, " by ");
        assert_eq!(best(&q, &results).unwrap().name, "Kind of Blue");
        let artists = vec![
            found(Kind::Track, "Miles Davis Blues", "Someone"),
            found(Kind::Artist, "Miles Davis", "Miles Davis"),
        ];
        let q = query("Miles Davis", SearchKind::Any, " by ");
        assert_eq!(best(&q, &artists).unwrap().kind, Kind::Artist);
        assert_eq!(best(&q, &[]), None);
    }

    #[test]
    fn devices_match_forgivingly() {
        let devices: Vec<Device> = ["Kitchen Speaker", "Living Room TV", "Ann's iPhone"]
            .iter()
            .map(|n| Device {
                id: Some(n.to_lowercase()),
                name: (*n).into(),
                is_active: false,
                is_restricted: false,
                volume_percent: None,
                supports_volume: None,
            })
            .collect();
        assert_eq!(
            device("the kitchen speaker", &devices).unwrap().name,
            "Kitchen Speaker"
        );
        assert_eq!(device("kitchen", &devices).unwrap().name, "Kitchen Speaker");
        assert_eq!(
            device("living room", &devices).unwrap().name,
            "Living Room TV"
        );
        assert_eq!(
            device("anns iphone", &devices).unwrap().name,
            "Ann's iPhone"
        );
        assert_eq!(device("garage", &devices), None);
    }
}
