"""What the bot says: every user-facing sentence in one place."""

from __future__ import annotations

HELP = (
    "Send me a voice message (or an audio file, or a video note) and I say what I heard in my "
    "voice. Send text and I speak it.\n\n"
    "/voices – choose a voice\n"
    "/voice NAME – choose a voice by name\n"
    "/settings – speed, expressiveness (sdp ratio) and language\n"
    "/cancel – drop your messages that are still waiting\n"
    "/clone – record your own voice, /train – make it, /mydata, /forget\n"
    "/help – this text"
)
WELCOME = "Hello! I speak with a trained voice.\n\n" + HELP
NOT_ALLOWED = "Sorry, this bot is private. Ask its owner to add your user id: {user_id}."
RATE_LIMITED_REACTION = "🙈"  # set on each later message skipped in the same window
RATE_LIMITED = (
    "You are sending messages too quickly. You can send again in {seconds} s; until then I "
    f"skip your messages and mark them with {RATE_LIMITED_REACTION}."
)
BUSY = "I'm busy right now. Please try again in a minute."
NO_VOICE = "No voice is loaded yet, so I can't speak. Please try again later."
NO_ASR = "Speech recognition is not available right now; send me text instead."
UNDECODABLE = "I couldn't read that audio. Send a voice message or an OGG, MP3, WAV or M4A file."
TOO_LONG = "That recording is too long: I take up to {limit:.0f} seconds."
TOO_BIG = "That file is too large for me to download."
SILENCE = "I only heard silence. Please record again, a little closer to the microphone."
NOTHING_HEARD = "I couldn't make out any words. Please speak clearly and try again."
UNSUPPORTED_LANGUAGE = "I heard {language}, but I speak only Chinese, Japanese and English."
EMPTY_TEXT = "There is nothing I can say in that message. Send some words in ZH, JP or EN."
TEXT_TOO_LONG = "That text is too long: I read up to {limit} characters at a time."
UNSUPPORTED_MESSAGE = "Send me text or a voice message. /help shows what I can do."
INTERNAL_ERROR = "Sorry, something went wrong on my side. Please try again."
CANCELLED = "Cancelled {count} waiting message(s)."
NOTHING_TO_CANCEL = "Nothing is waiting."
VOICES = "Voices (current: {current}):"
VOICE_SET = "Voice set to {name}."
UNKNOWN_VOICE = "There is no voice called {name!r}. Voices: {names}."
VOICE_USAGE = "Usage: /voice NAME. Voices: {names}."
SETTINGS = (
    "Voice: {speaker}\nSpeed (length scale, higher is slower): {length_scale}\n"
    "SDP ratio: {sdp_ratio}\nLanguage: {language}"
)
SETTINGS_USAGE = (
    "Usage: /settings [speed 0.5-2 | sdp 0-1 | language auto|ZH|JP|EN], or use the buttons."
)
UNKNOWN_SETTING = "There is no setting “{name}”. " + SETTINGS_USAGE
# A refused /settings value: what was wrong, then what is allowed (the setting's hint).
SETTING_LABELS = {"length_scale": "Speed", "sdp_ratio": "SDP ratio", "language": "Language"}
SETTING_HINTS = {
    "length_scale": "use a number from {low:g} to {high:g} (higher is slower), "
    "e.g. /settings speed 1.2",
    "sdp_ratio": "use a number from {low:g} to {high:g} (higher is more expressive), "
    "e.g. /settings sdp 0.5",
    "language": "use auto, ZH, JP or EN, e.g. /settings language EN",
}
SETTING_OUT_OF_RANGE = "{label} {value} is out of range: {hint}."
SETTING_NOT_A_NUMBER = "{label} “{value}” is not a number: {hint}."
SETTING_UNKNOWN_LANGUAGE = "{label} “{value}” is not one I speak: {hint}."
SETTING_WITHOUT_VALUE = "{label}: {hint}."

# --- cloning a user's own voice (bot/cloning.py) ---------------------------------------------
CLONE_HELP = (
    "/clone – record your own voice: I send sentences, you read each as a voice note\n"
    "/free – record free speech instead (about anything)\n"
    "/skip – another sentence\n"
    "/train – make your voice from what you recorded\n"
    "/mydata – what I keep of yours; /forget – delete all of it"
)
CLONE_OFF = "Cloning voices is switched off on this bot."
CLONE_PRIVATE = "Let's record your voice in a private chat: message me directly and send /clone."
CLONE_START = (
    "Let's record your voice. Read each sentence I send aloud as a voice note, in a quiet "
    "place, at your normal pace. /skip gives another sentence, /done stops.\n\n{progress}\n\n"
    "Read this:\n«{prompt}»"
)
FREE_START = (
    "Free speech: talk about anything, a few sentences per voice note. I keep each note with "
    "what I heard. /clone goes back to reading sentences, /done stops.\n\n{progress}"
)
READ_THIS = "Read this:\n«{prompt}»"
TAKE_KEPT = "✓ {message} {progress}"
TAKE_REFUSED = "✗ {message}"
NOT_RECORDING = "Send /clone first to start recording your voice."
RECORDING_DONE = "Recording paused. {progress}\n\n/clone goes on, /train makes your voice."
AUDIO_LIMIT = (
    "You have recorded {minutes:g} minutes, as much as I keep per person. /train makes your "
    "voice from it; /forget deletes it."
)
NOT_ENOUGH_SPEECH = (
    "I need at least {need} of your speech to make a voice; I have {have}. /clone to record more."
)
CLONE_DAILY_LIMIT = "You have started {count} voice(s) today, the most I make a day. Try tomorrow."
CLONE_ALREADY = "Your voice is already being made. I'll tell you when it's ready."
CLONE_QUEUED = "Your voice is in line: number {position}. I'll start as soon as it's your turn."
CLONE_STARTED = "Making your voice now. This takes about {minutes:g} minutes; I'll update this."
CLONE_PROGRESS = "Making your voice: {line}"
CLONE_DONE = (
    "Your voice is ready! {likeness}. From now on I answer you in it; /voices switches to the "
    "shared voices and back."
)
CLONE_FAILED = "I couldn't make your voice: {error}"
CLONE_STOPPED = "Making your voice was stopped; /train goes on from where it was."
MY_VOICE = "my voice"
NO_OWN_VOICE = "You have no voice of your own yet: /clone records one."
MY_DATA_NONE = "I keep nothing of yours (besides your chat settings)."
MY_DATA = "What I keep of yours:\n{lines}\n\n/forget deletes all of it."
FORGET_ASK = (
    "Delete everything I keep of yours: your recordings, your voice and your settings? "
    "This cannot be undone."
)
FORGET_YES, FORGET_NO = "Yes, delete it all", "No, keep it"
FORGOTTEN = "Deleted: {what}. Nothing of yours is left with me."
FORGOTTEN_NOTHING = "There was nothing of yours to delete (your chat settings are reset)."
FORGET_KEPT = "Nothing was deleted."
