"""What the bot says: every user-facing sentence in one place."""

from __future__ import annotations

HELP = (
    "Send me a voice message (or an audio file, or a video note) and I say what I heard in my "
    "voice. Send text and I speak it.\n\n"
    "/voices – choose a voice\n"
    "/voice NAME – choose a voice by name\n"
    "/settings – speed, expressiveness (sdp ratio) and language\n"
    "/cancel – drop your messages that are still waiting\n"
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
