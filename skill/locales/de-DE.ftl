# Die Sprache und Kartentexte des Skills auf Deutsch (de-DE).
# Nachrichten sind SSML: Werte werden vor dem Einsetzen maskiert; hier nur selbstschließende Tags verwenden.

what-i-can-do = Du kannst mich fragen, was gerade läuft, einen Song, einen Künstler, ein Album, einen Podcast oder eine deiner Playlists spielen lassen, deine Playlists oder Geräte aufzählen lassen, auf einem anderen Gerät spielen, die Lautstärke ändern, Zufallswiedergabe oder Wiederholung einschalten, einen Song zur Warteschlange hinzufügen, fragen, welches Spotify-Konto verknüpft ist, oder warum Spotify nicht funktioniert.
welcome = Willkommen! { what-i-can-do } Was möchtest du?
what-would-you-like = Was möchtest du? Sag Hilfe, um zu hören, was ich kann.
help = { what-i-can-do } Was möchtest du?
help-reprompt = Was möchtest du?
help-unlinked = Verknüpfe zuerst dein Spotify-Konto: Ich habe dir dafür eine Karte in die Alexa-App geschickt. Danach kannst du mich fragen, was gerade läuft, oder jeden Song, Künstler, jedes Album, jede Playlist und jeden Podcast spielen lassen.
goodbye = Tschüss.
okay = Okay.
fallback = Tut mir leid, dabei kann ich nicht helfen. Sag Hilfe, um zu hören, was ich kann.
launch-failed = <break time="300ms"/>Du kannst es noch einmal versuchen oder Hilfe sagen. Was möchtest du?

not-linked = Um diesen Skill zu nutzen, verknüpfe dein Spotify-Konto. Ich habe dir eine Karte in die Alexa-App geschickt.
relink = Dein Spotify-Konto muss neu verknüpft werden. Ich habe dir eine Karte in die Alexa-App geschickt, damit du es verknüpfen kannst.
relink-reminder = Übrigens: Deine Spotify-Verknüpfung läuft bald ab. Damit alles weiter funktioniert, verknüpfe dein Konto über die Karte in der Alexa-App neu.
too-slow = Tut mir leid, Spotify braucht gerade zu lange. Bitte versuch es gleich noch einmal.

error-no-device = Ich habe kein aktives Spotify-Gerät gefunden. Öffne Spotify auf deinem Handy, Computer oder Lautsprecher, spiel etwas ab und frag mich dann noch einmal.
error-premium = Zum Steuern der Wiedergabe brauchst du Spotify Premium. Ich kann dir trotzdem sagen, was läuft, und deine Playlists aufzählen.
error-busy-second = Spotify ist gerade ausgelastet. Bitte versuch es in einer Sekunde noch einmal.
error-busy-seconds = Spotify ist gerade ausgelastet. Bitte versuch es in { $seconds } Sekunden noch einmal.
error-busy-minute = Spotify ist gerade ausgelastet. Bitte versuch es in einer Minute noch einmal.
error-busy-minutes = Spotify ist gerade ausgelastet. Bitte versuch es in etwa { $minutes } Minuten noch einmal.
error-busy = Spotify ist gerade ausgelastet. Bitte versuch es etwas später noch einmal.
error-quota = Dieser Skill hat sein Kontingent bei Spotify vorerst aufgebraucht. Bitte versuch es in etwa { $minutes ->
    [one] einer Minute
   *[other] { $minutes } Minuten
  } noch einmal.
error-quota-unknown = Dieser Skill hat sein Kontingent bei Spotify vorerst aufgebraucht. Bitte versuch es später noch einmal.
error-upstream = Spotify antwortet gerade nicht. Bitte versuch es etwas später noch einmal.
error-unavailable = Ich erreiche dein verknüpftes Konto gerade nicht. Bitte versuch es in ein paar Minuten noch einmal.
error-app-not-permitted = Spotify lässt die Spotify-App dieses Skills gerade nicht für dein Konto arbeiten. Neu verknüpfen hilft nicht; der Betreiber des Skills muss handeln: dein Konto in der App freischalten oder das Spotify Premium des App-Besitzers erneuern.
error-forbidden = Spotify sagt, dass das gerade nicht geht, zum Beispiel etwas pausieren, das schon pausiert ist, oder während Werbung überspringen.
error-not-found = Spotify hat das nicht gefunden. Vielleicht wurde es entfernt.
error-bad-request = Tut mir leid, das konnte Spotify nicht erledigen.
error-service = Tut mir leid, dieser Skill ist gerade nicht richtig eingerichtet. Bitte versuch es später noch einmal.
error-transport = Tut mir leid, ich habe Spotify gerade nicht erreicht. Bitte versuch es gleich noch einmal.

now-track = Das ist { $name }.
now-track-by = Das ist { $name } von { $artists }.
paused-track = Spotify ist bei { $name } pausiert.
paused-track-by = Spotify ist bei { $name } von { $artists } pausiert.
now-episode = Das ist die Folge { $name }.
now-episode-from = Das ist die Folge { $name } aus dem Podcast { $show }.
paused-episode = Spotify ist bei der Folge { $name } pausiert.
paused-episode-from = Spotify ist bei der Folge { $name } aus dem Podcast { $show } pausiert.
now-ad = Spotify spielt gerade etwas, das es nicht beschreibt, wahrscheinlich Werbung.
nothing-playing = Auf Spotify läuft gerade nichts.
card-now-playing = Läuft gerade
card-by = { $name } von { $artists }
card-from = { $name } aus dem Podcast { $show }
sung-by = { $name } ist von { $artists }.
sung-by-unknown = Spotify sagt nicht, wer { $name } singt.
album-is = Das ist aus dem Album { $album }.
album-is-by = Das ist aus dem Album { $album } von { $artists }.
album-unknown = Spotify sagt nicht, aus welchem Album { $name } ist.
not-a-song = Das ist die Folge { $name }, kein Song.

playlists-none = Du hast noch keine Playlists auf Spotify.
playlists-one = Du hast eine Playlist: { $list }.
playlists-all = Du hast { $count } Playlists: { $list }.
playlists-first = Du hast { $count } Playlists. Die ersten { $shown } sind { $list }.
card-playlists = Deine Playlists
card-more = …und { $count } weitere.
which-playlist = Welche Playlist soll ich spielen?
which-playlist-reprompt = Welche Playlist soll ich spielen? Sag ihren Namen.
playing-playlist = Ich spiele deine Playlist { $name }.
card-playlist = Playlist: { $name }
playlist-ambiguous = Ich habe mehrere passende Playlists gefunden: { $options }. Welche soll ich spielen?
playlist-ambiguous-reprompt = Welche: { $options }? Sag die erste, die zweite oder ihren Namen.
playlist-not-found = Ich habe unter deinen Playlists keine namens { $name } gefunden. Welche Playlist soll ich spielen?
choose-nothing = Ich habe dich nichts zur Auswahl gefragt. Was möchtest du?
choose-out-of-range = Bitte wähle eine Zahl von eins bis { $count }.

play-what = Was soll ich spielen? Du kannst einen Song, einen Künstler, ein Album, eine Playlist oder einen Podcast nennen.
play-what-reprompt = Was soll ich spielen?
search-nothing = Ich habe { $query } auf Spotify nicht gefunden. Was soll ich stattdessen spielen?
playing-track = Ich spiele { $name } von { $artists }.
playing-album = Ich spiele das Album { $name } von { $artists }.
playing-artist = Ich spiele Songs von { $name }.
playing-found-playlist = Ich spiele die Playlist { $name }.
playing-show = Ich spiele den Podcast { $name }.
playing-episode = Ich spiele die Folge { $name } aus { $show }.

devices-none = Ich sehe keine Spotify-Geräte. Öffne Spotify auf deinem Handy, Computer oder Lautsprecher und frag mich dann noch einmal.
devices-list = { $count ->
    [one] Du hast ein Spotify-Gerät: { $list }.
   *[other] Du hast { $count } Spotify-Geräte: { $list }.
  }
devices-active = { $name } ist gerade aktiv.
card-devices = Deine Spotify-Geräte
which-device = Auf welchem Gerät soll ich spielen?
which-device-reprompt = Auf welchem Gerät soll ich spielen? Sag seinen Namen.
device-not-found = Ich habe kein Gerät namens { $name } gefunden. Du hast { $list }. Auf welchem soll ich spielen?
playing-on = Ich spiele auf { $name }.
offer-device = Gerade läuft auf keinem Gerät etwas. Soll ich auf { $name } spielen?
offer-device-reprompt = Soll ich auf { $name } spielen? Sag ja oder nein.
nothing-to-confirm = Gerade gibt es nichts, wozu du ja oder nein sagen könntest. Was möchtest du?

volume-set = Lautstärke { $level }.
volume-which = Welche Lautstärke soll ich einstellen, von 0 bis 100?
volume-range = Die Lautstärke geht von 0 bis 100. Welche soll ich einstellen?
volume-unsupported = { $name } lässt Spotify die Lautstärke nicht ändern.
shuffle-on = Zufallswiedergabe ist an.
shuffle-off = Zufallswiedergabe ist aus.
repeat-context = Ich wiederhole diese Playlist oder dieses Album.
repeat-track = Ich wiederhole diesen Song.
repeat-off = Wiederholung ist aus.
queued = { $name } von { $artists } ist in der Warteschlange.
queued-plain = { $name } ist in der Warteschlange.
queue-what = Welchen Song soll ich zur Warteschlange hinzufügen?
queue-nothing = Gerade läuft nichts, also kann ich nichts hinzufügen. Welchen Song soll ich zur Warteschlange hinzufügen?

trouble-card-title = Spotify reparieren
trouble-relink-required = Deine Spotify-Verknüpfung funktioniert nicht mehr, deshalb erreicht der Skill Spotify nicht. Ich habe dir eine Karte in die Alexa-App geschickt: Verknüpfe dein Konto dort neu.
trouble-relink-soon = Deine Spotify-Verknüpfung funktioniert, läuft aber in { $days ->
    [one] einem Tag
   *[other] { $days } Tagen
  } ab. Ich habe dir eine Karte in die Alexa-App geschickt, damit du sie vorher neu verknüpfen kannst.
trouble-premium = Beim letzten Mal hat Spotify gesagt, dass die Steuerung der Wiedergabe Spotify Premium braucht. Die Lösung steht in der Alexa-App.
fix-premium = Die Steuerung der Wiedergabe (Abspielen, Pause, Überspringen, Lautstärke, Geräte) braucht Spotify Premium für das verknüpfte Konto. Upgrade das Konto oder verknüpfe auf der Seite des Skills in der Alexa-App ein Premium-Konto. Was läuft und deine Playlists gehen auch ohne Premium.
trouble-no-device = Beim letzten Mal hatte Spotify kein aktives Gerät zum Abspielen. Die Lösung steht in der Alexa-App.
fix-no-device = Öffne Spotify auf deinem Handy, Computer oder Lautsprecher und spiel etwas ab, oder sag „spiel auf“ und den Namen des Geräts. Frag dann noch einmal.
trouble-cooldown = Spotify hat diesen Skill gebeten, langsamer zu machen. In etwa { $minutes ->
    [one] einer Minute
   *[other] { $minutes } Minuten
  } geht es wieder. Die Einzelheiten stehen in der Alexa-App.
fix-cooldown = Spotify begrenzt, wie oft dieser Skill anfragen darf. Du musst nichts reparieren: Warte etwa { $minutes } Minuten und frag dann noch einmal.
trouble-cooldown-over = Spotify hatte diesen Skill vor kurzem gebremst, aber das ist vorbei; es sollte wieder funktionieren.
trouble-quota = Dieser Skill hat sein Kontingent bei Spotify aufgebraucht, deshalb lehnt Spotify ihn noch etwa { $minutes ->
    [one] eine Minute
   *[other] { $minutes } Minuten
  } lang ab. Die Einzelheiten stehen in der Alexa-App.
fix-quota = Die Spotify-App des Skills hat ihr Anfragekontingent aufgebraucht. Warte und frag später noch einmal. Passiert das oft, sollte der Betreiber des Skills das Kontingent im Spotify-Entwickler-Dashboard prüfen.
trouble-app-not-permitted = Spotify erlaubt der Spotify-App dieses Skills nicht, dein Konto zu nutzen. Neu verknüpfen hilft nicht; der Betreiber des Skills muss handeln: Entweder ist dein Konto nicht unter den Nutzern der App, oder das Spotify Premium des App-Besitzers ist abgelaufen und muss erneuert werden. Die Einzelheiten stehen in der Alexa-App.
fix-app-not-permitted = Spotify hat die Spotify-App des Skills abgelehnt. Der Betreiber des Skills muss dein Spotify-Konto im Spotify-Entwickler-Dashboard unter „User Management“ eintragen, und das Spotify Premium des App-Besitzers muss aktiv sein.
trouble-none = Ich sehe gerade kein Problem: Dein Spotify-Konto ist verknüpft, und beim letzten Mal ist nichts schiefgegangen. Wenn keine Musik spielt, öffne Spotify auf einem Gerät und frag noch einmal.
fix-none = Alles sieht gut aus. Wenn keine Musik spielt: Öffne Spotify auf einem Gerät, spiel etwas ab und frag dann noch einmal. Sag „welche Geräte habe ich“, um die Geräte zu hören, die Spotify sieht.
fix-relink = Öffne die Seite des Skills in der Alexa-App und verknüpfe dein Spotify-Konto neu.

account-named = Dieser Skill ist mit dem Spotify-Konto { $name } verknüpft.
account-unnamed = Dieser Skill ist mit einem Spotify-Konto verknüpft, aber Spotify hat mir seinen Namen nicht gesagt.
card-account = Verknüpftes Spotify-Konto
playing-found-episode = Ich spiele die Folge { $name }.
playing-named = Ich spiele { $name }.
paused = Pausiert.
resuming = Weiter geht's.
skipping = Nächster Titel.
going-back = Ein Titel zurück.
already-paused = Spotify ist schon pausiert. Sag weiter, um fortzufahren.
no-skipping-ad = Während Werbung lässt Spotify nicht überspringen. Die Musik geht weiter, wenn die Werbung vorbei ist.
