# The skill's speech and card text in English (en-US, also used for en-GB, en-CA, en-AU and en-IN).
# Messages are SSML: values are escaped before they are placed; use only self-closing tags here.

what-i-can-do = You can ask me what's playing, to play a song, an artist, an album, a podcast or one of your playlists, to list your playlists or your devices, to play on another device, to change the volume, shuffle or repeat, to add a song to the queue, which Spotify account is linked, or why Spotify isn't working.
welcome = Welcome! { what-i-can-do } What would you like?
what-would-you-like = What would you like? You can say help to hear what I can do.
help = { what-i-can-do } What would you like?
help-reprompt = What would you like?
help-unlinked = First, link your Spotify account: I sent a card to the Alexa app to do that. Once it's linked, you can ask me what's playing, or to play any song, artist, album, playlist or podcast.
goodbye = Goodbye.
okay = Okay.
fallback = Sorry, I can't help with that. You can say help to hear what I can do.
launch-failed = <break time="300ms"/>You can try again, or say help to hear what I can do. What would you like?

not-linked = To use this skill, link your Spotify account. I sent a card to the Alexa app.
relink = Your Spotify account needs to be linked again. I sent a card to the Alexa app so you can link it.
relink-reminder = By the way, your Spotify link will expire soon. To keep things working, link your account again from the card in the Alexa app.
too-slow = Sorry, Spotify is taking too long to answer right now. Please try again in a moment.

error-no-device = I couldn't find an active Spotify device. Open Spotify on your phone, computer or speaker, play something, then ask me again.
error-premium = Controlling playback needs Spotify Premium. I can still tell you what's playing and list your playlists.
error-busy-second = Spotify is busy right now. Please try again in a second.
error-busy-seconds = Spotify is busy right now. Please try again in { $seconds } seconds.
error-busy-minute = Spotify is busy right now. Please try again in a minute.
error-busy-minutes = Spotify is busy right now. Please try again in about { $minutes } minutes.
error-busy = Spotify is busy right now. Please try again in a little while.
error-quota = Spotify's request quota for this skill is used up for now. Please try again in about { $minutes ->
    [one] a minute
   *[other] { $minutes } minutes
  }.
error-quota-unknown = Spotify's request quota for this skill is used up for now. Please try again later.
error-upstream = Spotify isn't responding right now. Please try again in a little while.
error-unavailable = I'm having trouble reaching your linked account right now. Please try again in a few minutes.
error-app-not-permitted = Spotify isn't letting this skill's Spotify app work for your account. Linking again won't fix this; the skill's owner has to act: add your account to the app's users, or renew the app owner's Spotify Premium.
error-forbidden = Spotify says that can't be done right now, for example pausing what is already paused, or skipping during an ad.
error-not-found = Spotify couldn't find that. It may have been removed.
error-bad-request = Sorry, Spotify couldn't do that.
error-service = Sorry, this skill isn't set up correctly right now. Please try again later.
error-transport = Sorry, I couldn't reach Spotify just now. Please try again in a moment.

now-track = This is { $name }.
now-track-by = This is { $name } by { $artists }.
paused-track = Spotify is paused on { $name }.
paused-track-by = Spotify is paused on { $name } by { $artists }.
now-episode = This is the episode { $name }.
now-episode-from = This is the episode { $name }, from the podcast { $show }.
paused-episode = Spotify is paused on the episode { $name }.
paused-episode-from = Spotify is paused on the episode { $name }, from the podcast { $show }.
now-ad = Spotify is playing something it doesn't describe, probably an ad.
nothing-playing = Nothing is playing on Spotify right now.
card-now-playing = Now playing
card-by = { $name } by { $artists }
card-from = { $name }, from the podcast { $show }
sung-by = { $name } is by { $artists }.
sung-by-unknown = Spotify doesn't say who sings { $name }.
album-is = This is from the album { $album }.
album-is-by = This is from the album { $album } by { $artists }.
album-unknown = Spotify doesn't say which album { $name } is from.
not-a-song = This is the episode { $name }, not a song.

playlists-none = You don't have any playlists on Spotify yet.
playlists-one = You have one playlist: { $list }.
playlists-all = You have { $count } playlists: { $list }.
playlists-first = You have { $count } playlists. The first { $shown } are { $list }.
card-playlists = Your playlists
card-more = …and { $count } more.
which-playlist = Which playlist should I play?
which-playlist-reprompt = Which playlist should I play? Say its name.
playing-playlist = Playing your playlist { $name }.
card-playlist = Playlist: { $name }
playlist-ambiguous = I found more than one playlist like that: { $options }. Which one should I play?
playlist-ambiguous-reprompt = Which one: { $options }? Say the first one, the second one, or its name.
playlist-not-found = I couldn't find a playlist called { $name } among your playlists. Which playlist should I play?
choose-nothing = I didn't ask you to choose anything. What would you like?
choose-out-of-range = Please choose a number from one to { $count }.

play-what = What should I play? You can say a song, an artist, an album, a playlist or a podcast.
play-what-reprompt = What should I play?
search-nothing = I couldn't find { $query } on Spotify. What should I play instead?
playing-track = Playing { $name } by { $artists }.
playing-album = Playing the album { $name } by { $artists }.
playing-artist = Playing songs by { $name }.
playing-found-playlist = Playing the playlist { $name }.
playing-show = Playing the podcast { $name }.
playing-episode = Playing the episode { $name }, from { $show }.

devices-none = I can't see any Spotify devices. Open Spotify on your phone, computer or speaker, then ask me again.
devices-list = { $count ->
    [one] You have one Spotify device: { $list }.
   *[other] You have { $count } Spotify devices: { $list }.
  }
devices-active = { $name } is the active one.
card-devices = Your Spotify devices
which-device = Which device should I play on?
which-device-reprompt = Which device should I play on? Say its name.
device-not-found = I couldn't find a device called { $name }. You have { $list }. Which one should I play on?
playing-on = Playing on { $name }.
offer-device = Nothing is playing on an active device right now. Should I play on { $name }?
offer-device-reprompt = Should I play on { $name }? Say yes or no.
nothing-to-confirm = There's nothing to say yes or no to right now. What would you like?

volume-set = Volume { $level }.
volume-which = What volume should I set, from 0 to 100?
volume-range = The volume goes from 0 to 100. What volume should I set?
volume-unsupported = { $name } doesn't let Spotify change its volume.
shuffle-on = Shuffle is on.
shuffle-off = Shuffle is off.
repeat-context = Repeating this playlist or album.
repeat-track = Repeating this song.
repeat-off = Repeat is off.
queued = Added { $name } by { $artists } to the queue.
queued-plain = Added { $name } to the queue.
queue-what = Which song should I add to the queue?
queue-nothing = Nothing is playing, so there's nothing to add. Which song should I add to the queue?

trouble-card-title = Fixing Spotify
trouble-relink-required = Your Spotify link has stopped working, so the skill can't reach Spotify. I sent a card to the Alexa app: link your account again from there.
trouble-relink-soon = Your Spotify link works, but it expires in { $days ->
    [one] one day
   *[other] { $days } days
  }. I sent a card to the Alexa app so you can link it again before then.
trouble-premium = The last time, Spotify said controlling playback needs Spotify Premium. I sent the fix to the Alexa app.
fix-premium = Playback control (play, pause, skip, volume, devices) needs Spotify Premium on the linked account. Upgrade the account, or link a Premium account again from the skill's page in the Alexa app. Asking what's playing and listing playlists work without Premium.
trouble-no-device = The last time, Spotify had no active device to play on. I sent the fix to the Alexa app.
fix-no-device = Open Spotify on your phone, computer or speaker and start playing something, or say "play on" and the device's name. Then ask again.
trouble-cooldown = Spotify asked this skill to slow down. It can try again in about { $minutes ->
    [one] a minute
   *[other] { $minutes } minutes
  }. I sent the details to the Alexa app.
fix-cooldown = Spotify is limiting how often this skill may call it. Nothing needs fixing: wait about { $minutes } minutes and ask again.
trouble-cooldown-over = Spotify asked this skill to slow down a little while ago, but that's over now, so it should work again.
trouble-quota = Spotify's request quota for this skill is used up, so Spotify refuses it until about { $minutes ->
    [one] a minute
   *[other] { $minutes } minutes
  } from now. I sent the details to the Alexa app.
fix-quota = The skill's Spotify app has used its request quota. Wait and ask again later. If it happens often, the skill's owner should check the app's quota in Spotify's developer dashboard.
trouble-app-not-permitted = Spotify doesn't allow this skill's Spotify app to use your account. Linking again won't fix it; the skill's owner has to act: either your account isn't among the app's users, or the app owner's Spotify Premium has lapsed and must be renewed. I sent the details to the Alexa app.
fix-app-not-permitted = Spotify refused the skill's Spotify app. The skill's owner must add your Spotify account to the app's users in Spotify's developer dashboard (User Management), and the app owner's Spotify Premium must be active.
trouble-none = I don't see a problem right now: your Spotify account is linked and nothing went wrong the last time. If music doesn't play, open Spotify on a device and ask again.
fix-none = Everything looks fine. If music doesn't play: open Spotify on a device, play something, then ask again. Say "which devices do I have" to hear the devices Spotify sees.
fix-relink = Open the skill's page in the Alexa app and link your Spotify account again.

account-named = This skill is linked to the Spotify account { $name }.
account-unnamed = This skill is linked to a Spotify account, but Spotify didn't tell me its name.
card-account = Linked Spotify account
playing-found-episode = Playing the episode { $name }.
playing-named = Playing { $name }.
paused = Paused.
resuming = Resuming.
skipping = Skipping ahead.
going-back = Going back.
already-paused = Spotify is already paused. Say resume to carry on.
no-skipping-ad = Spotify doesn't allow skipping during an ad. The music comes back when the ad is over.
