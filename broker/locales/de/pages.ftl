# Die Seiten, die man beim Verknüpfen von Spotify in der Alexa-App sieht. Einfache Worte, was als
# Nächstes zu tun ist, keine Interna.

page-heading-prefix = Spotify verknüpfen

not-on-allowlist-title = Dieses Spotify-Konto kann den Skill noch nicht nutzen
not-on-allowlist-what = Spotify lässt diesen Skill nur für Konten zu, die seine Besitzerin oder sein Besitzer hinzugefügt hat. Deins gehört noch nicht dazu, deshalb wurde nichts verknüpft.
not-on-allowlist-next = Bitte die Person, die den Skill eingerichtet hat, dein Spotify-Konto im Spotify-for-Developers-Dashboard hinzuzufügen (die App, dann Settings, dann User Management). Verknüpfe den Skill danach erneut in der Alexa-App.

owner-lacks-premium-title = Spotify funktioniert für diesen Skill gerade nicht
owner-lacks-premium-what = Spotify hat den Skill angehalten, weil das Spotify-Premium-Abo der Person, die ihn eingerichtet hat, abgelaufen ist. Es wurde nichts verknüpft.
owner-lacks-premium-next = Sag der Person Bescheid, die den Skill eingerichtet hat. Sobald ihr Premium verlängert ist, verknüpfe den Skill erneut in der Alexa-App.

wrong-browser-title = Bitte im selben Browser abschließen
wrong-browser-what = Das Verknüpfen wurde in einem anderen Browser oder einer anderen App begonnen und konnte deshalb hier nicht abgeschlossen werden. Es wurde nichts verknüpft.
wrong-browser-next = Geh zurück zur Alexa-App und beginne das Verknüpfen erneut. Bleib in dem Fenster, das sich öffnet, bis du zu Alexa zurückgeschickt wirst.

attempt-expired-title = Dieser Verknüpfungsversuch ist abgelaufen
attempt-expired-what = Es ist zu viel Zeit vergangen, oder diese Seite wurde schon einmal benutzt. Es wurde nichts verknüpft.
attempt-expired-next = Geh zurück zur Alexa-App und beginne das Verknüpfen erneut.

untrusted-request-title = Dieser Link kam nicht aus der Alexa-App
untrusted-request-what = Die Anfrage zum Verknüpfen passt nicht zu diesem Skill und wurde deshalb gestoppt. Es wurde nichts verknüpft und nichts weitergegeben.
untrusted-request-next = Beginne das Verknüpfen auf der Seite des Skills in der Alexa-App. Wenn du einem Link von woanders gefolgt bist, benutze ihn nicht noch einmal.

too-many-attempts-title = Zu viele Versuche
too-many-attempts-what = Von hier gab es in der letzten Minute viele Verknüpfungsversuche, deshalb wurde dieser angehalten.
too-many-attempts-next = Warte eine Minute und beginne das Verknüpfen dann erneut in der Alexa-App.

unavailable-title = Verknüpfen ist gerade nicht möglich
unavailable-what = Bei uns oder bei Spotify antwortet gerade etwas nicht. Es wurde nichts verknüpft.
unavailable-next = Versuche es in ein paar Minuten erneut über die Alexa-App.
