# The pages a person sees while linking Spotify in the Alexa app. Plain words, what to do next, no
# internals. Every message here exists in every locale (a test checks).

page-heading-prefix = Linking Spotify

not-on-allowlist-title = This Spotify account can't use the skill yet
not-on-allowlist-what = Spotify only lets this skill work for accounts its owner has added. Yours isn't one of them yet, so nothing was linked.
not-on-allowlist-next = Ask the person who set up the skill to add your Spotify account in the Spotify for Developers dashboard (your app, then Settings, then User Management). Then link the skill again in the Alexa app.

owner-lacks-premium-title = Spotify isn't working for this skill right now
owner-lacks-premium-what = Spotify has paused the skill because the Spotify Premium subscription of the person who set it up has ended. Nothing was linked.
owner-lacks-premium-next = Let the person who set up the skill know. Once their Premium is renewed, link the skill again in the Alexa app.

wrong-browser-title = Please finish in the same browser
wrong-browser-what = Linking was started in a different browser or app than this one, so it couldn't be finished here. Nothing was linked.
wrong-browser-next = Go back to the Alexa app and start linking again. Stay in the window that opens until you are sent back to Alexa.

attempt-expired-title = This linking attempt has expired
attempt-expired-what = Too much time passed, or this page was already used once. Nothing was linked.
attempt-expired-next = Go back to the Alexa app and start linking again.

untrusted-request-title = This link didn't come from the Alexa app
untrusted-request-what = The request to link your account doesn't match this skill, so it was stopped. Nothing was linked and nothing was shared.
untrusted-request-next = Start linking from the skill's page in the Alexa app. If you followed a link from somewhere else, don't use it again.

too-many-attempts-title = Too many attempts
too-many-attempts-what = There have been many linking attempts from here in the last minute, so this one was paused.
too-many-attempts-next = Wait a minute, then start linking again in the Alexa app.

unavailable-title = Linking isn't possible right now
unavailable-what = Something on our side or at Spotify isn't answering at the moment. Nothing was linked.
unavailable-next = Try again in a few minutes from the Alexa app.
