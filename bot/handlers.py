"""The bot's handlers: small async functions; blocking work goes to BotState's worker pool."""

from __future__ import annotations

import asyncio
import functools
import io
import logging
import math
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction, ChatType, MessageLimit
from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes
from telegram.warnings import PTBDeprecationWarning

from bot import cloning, replies
from bot.limits import ChatQueue, QueueFull, RateLimiter, Ticket
from bot.settings import BotSettings, LimitSettings
from bot.speech import VOICE_LOAD_ERRORS, Heard, Refusal, SpeechService, VoiceNote
from engine.cloning import CloneQueue
from engine.constants import AUTO_LANGUAGE, Language
from engine.errors import ModelNotFoundError
from engine.synthesis import SynthesisParams

logger = logging.getLogger(__name__)

STATE_KEY = "sonare"
T = TypeVar("T")
Context = ContextTypes.DEFAULT_TYPE
CHAT_DEFAULTS: dict[str, Any] = {
    "speaker": None,
    "length_scale": 1.0,
    "sdp_ratio": 0.2,
    "language": AUTO_LANGUAGE,
}
SPEED_CHOICES = (0.8, 1.0, 1.2, 1.5)
SDP_CHOICES = (0.0, 0.2, 0.5, 0.8)
LANGUAGE_CHOICES = (AUTO_LANGUAGE, "ZH", "JP", "EN")
_SETTING_RANGES = {"length_scale": (0.5, 2.0), "sdp_ratio": (0.0, 1.0)}
_SETTING_ALIASES = {"speed": "length_scale", "sdp": "sdp_ratio", "language": "language"}
_SHOWN_VALUE_CHARS = 20  # a refused value is echoed back, shortened
_CHAT_ACTION_EVERY_S = 4.0  # Telegram shows a chat action for 5 s


@dataclass
class BotState:
    """What the handlers share: settings, the speech service, the pool and the limits."""

    settings: BotSettings
    speech: SpeechService
    pool: ThreadPoolExecutor
    rate: RateLimiter
    queue: ChatQueue
    clones: CloneQueue  # everyone's clones, in line (bot/cloning.py)

    @classmethod
    def create(cls, settings: BotSettings) -> BotState:
        """Fresh state for one Application."""
        limits = settings.limits
        return cls(
            settings=settings,
            speech=SpeechService(settings),
            pool=ThreadPoolExecutor(limits.worker_count, thread_name_prefix="sonare-bot"),
            rate=RateLimiter(limits.messages_per_minute),
            queue=ChatQueue(limits.queue_size),
            clones=CloneQueue(settings.clone_jobs_dir, settings.clone.parallel),
        )

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run blocking `function(*args)` in the worker pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(function, *args))


def state_of(context: Context) -> BotState:
    """The BotState stored in bot_data by build_application."""
    return context.bot_data[STATE_KEY]


def chat_prefs(context: Context) -> dict[str, Any]:
    """This chat's voice settings (persisted by PTB with chat_data)."""
    prefs = context.chat_data.setdefault("voice", {})
    for key, value in CHAT_DEFAULTS.items():
        prefs.setdefault(key, value)
    return prefs


def current_speaker(context: Context) -> str | None:
    """The chat's speaker if the voice has it, else the configured default or the first one."""
    state, speaker = state_of(context), chat_prefs(context)["speaker"]
    speakers = state.speech.speakers()
    if speaker in speakers:
        return speaker
    default = state.settings.default_speaker
    if default in speakers:
        return default
    return speakers[0] if speakers else None


def synthesis_params(context: Context, language: str | None = None) -> SynthesisParams:
    """SynthesisParams from the chat's settings; `language` (a transcript's) wins over auto."""
    prefs = chat_prefs(context)
    chosen = prefs["language"] if prefs["language"] != AUTO_LANGUAGE else language
    return SynthesisParams(
        speaker=current_speaker(context),
        language=chosen or AUTO_LANGUAGE,
        length_scale=float(prefs["length_scale"]),
        sdp_ratio=float(prefs["sdp_ratio"]),
    )


# --- gate: allow-list and rate limit, before every other handler --------------------------------


async def gate(update: Update, context: Context) -> None:
    """Refuse users not on the allow-list and users over their rate limit."""
    state = state_of(context)
    user = update.effective_user
    chat = update.effective_chat
    user_id, chat_id = (user.id if user else None), (chat.id if chat else None)
    if not state.settings.access.allows(user_id, chat_id):
        logger.info("Refused user %s in chat %s (not on the allow-list)", user_id, chat_id)
        await _refuse(update, replies.NOT_ALLOWED.format(user_id=user_id))
        raise ApplicationHandlerStop
    if update.message is not None and user_id is not None and not state.rate.allow(user_id):
        await _skip_flooded(update.message, state.rate, user_id)
        raise ApplicationHandlerStop


async def _skip_flooded(message: Message, rate: RateLimiter, user_id: int) -> None:
    """A message over the rate limit: in a private chat the first in a window is answered with
    when the user may send again; every other one is marked with a reaction (groups: all)."""
    if message.chat.type == ChatType.PRIVATE and rate.first_refusal(user_id):
        seconds = max(1, math.ceil(rate.wait_s(user_id)))
        logger.info("User %s is over the rate limit for %d s", user_id, seconds)
        try:
            await message.reply_text(replies.RATE_LIMITED.format(seconds=seconds), do_quote=True)
        except TelegramError as error:  # the message must stay skipped all the same
            logger.warning("Could not tell user %s about the rate limit: %r", user_id, error)
        return
    try:
        await message.set_reaction(replies.RATE_LIMITED_REACTION)
    except TelegramError as error:  # reactions may be off in this chat: the reply said enough
        logger.debug("Could not mark a skipped message: %s", error)


async def _refuse(update: Update, text: str) -> None:
    """Answer a button with an alert, a private message with a reply; stay quiet in groups."""
    if update.callback_query is not None:
        await update.callback_query.answer(text, show_alert=True)
    elif update.effective_message is not None and update.effective_chat.type == "private":
        await update.effective_message.reply_text(text)


# --- commands ---------------------------------------------------------------------------------


async def start(update: Update, context: Context) -> None:
    """/start: greet and explain."""
    await update.effective_message.reply_text(replies.WELCOME)


async def help_command(update: Update, context: Context) -> None:
    """/help: what the bot does."""
    await update.effective_message.reply_text(replies.HELP)


MY_VOICE_KEY = "__mine__"  # the /voices button of the user's own voice


def current_voice_name(update: Update, context: Context) -> str | None:
    """What the chat speaks with: "my voice" or a shared speaker."""
    if cloning.own_voice_of(update, context) is not None:
        return replies.MY_VOICE
    return current_speaker(context)


async def voices(update: Update, context: Context) -> None:
    """/voices: the speakers (and the user's own voice), one button each."""
    speakers = state_of(context).speech.speakers()
    mine = cloning.person_of(update, context).has_voice() if update.effective_user else False
    if not speakers and not mine:
        await update.effective_message.reply_text(replies.NO_VOICE)
        return
    current = current_voice_name(update, context)
    await update.effective_message.reply_text(
        replies.VOICES.format(current=current),
        reply_markup=voices_keyboard(speakers, current, mine),
    )


def voices_keyboard(
    speakers: list[str], current: str | None, mine: bool = False
) -> InlineKeyboardMarkup:
    """Two buttons a row (the user's own voice first); the current voice is ticked."""
    names = [(replies.MY_VOICE, MY_VOICE_KEY)] if mine else []
    names += [(name, name) for name in speakers]
    buttons = [
        InlineKeyboardButton(
            ("✓ " if label == current else "") + label, callback_data=f"voice:{key}"
        )
        for label, key in names
    ]
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


async def voice_command(update: Update, context: Context) -> None:
    """/voice NAME: choose a speaker by name."""
    speakers = state_of(context).speech.speakers()
    names = ", ".join(speakers) or "none loaded"
    if not context.args:
        await update.effective_message.reply_text(replies.VOICE_USAGE.format(names=names))
        return
    name = " ".join(context.args)
    if name.lower() in ("mine", replies.MY_VOICE):
        await update.effective_message.reply_text(_choose_mine(update, context))
        return
    if name not in speakers:
        await update.effective_message.reply_text(
            replies.UNKNOWN_VOICE.format(name=name, names=names)
        )
        return
    chat_prefs(context)["speaker"] = name
    chat_prefs(context)["mine"] = False
    await update.effective_message.reply_text(replies.VOICE_SET.format(name=name))


def _choose_mine(update: Update, context: Context) -> str:
    """Speak in the user's own voice from now on, if they have one; the reply."""
    if not cloning.person_of(update, context).has_voice():
        return replies.NO_OWN_VOICE
    chat_prefs(context)["mine"] = True
    return replies.VOICE_SET.format(name=replies.MY_VOICE)


async def choose_voice(update: Update, context: Context) -> None:
    """A /voices button: set the speaker and redraw the list."""
    query = update.callback_query
    name = query.data.removeprefix("voice:")
    speakers = state_of(context).speech.speakers()
    mine = cloning.person_of(update, context).has_voice()
    if name == MY_VOICE_KEY:
        await query.answer(_choose_mine(update, context))
    elif name in speakers:
        chat_prefs(context)["speaker"], chat_prefs(context)["mine"] = name, False
        await query.answer(replies.VOICE_SET.format(name=name))
    else:
        await query.answer(replies.UNKNOWN_VOICE.format(name=name, names=", ".join(speakers)))
        return
    current = current_voice_name(update, context)
    await query.edit_message_text(
        replies.VOICES.format(current=current),
        reply_markup=voices_keyboard(speakers, current, mine),
    )


async def settings_command(update: Update, context: Context) -> None:
    """/settings [speed X | sdp X | language L]: show or change this chat's settings."""
    if context.args:
        word = context.args[0].lower()
        if word not in _SETTING_ALIASES:
            name = _shorten(context.args[0])
            await update.effective_message.reply_text(replies.UNKNOWN_SETTING.format(name=name))
            return
        value = " ".join(context.args[1:]) or None
        refusal = apply_setting(chat_prefs(context), _SETTING_ALIASES[word], value)
        if refusal is not None:
            await update.effective_message.reply_text(refusal)
            return
    await update.effective_message.reply_text(
        settings_text(context), reply_markup=settings_keyboard(chat_prefs(context))
    )


async def change_setting(update: Update, context: Context) -> None:
    """A /settings button ("set:NAME:VALUE"): change one setting and redraw."""
    query = update.callback_query
    _, name, value = query.data.split(":", 2)
    refusal = apply_setting(chat_prefs(context), name, value)
    if refusal is not None:
        await query.answer(refusal)
        return
    await query.answer()
    await query.edit_message_text(
        settings_text(context), reply_markup=settings_keyboard(chat_prefs(context))
    )


def apply_setting(prefs: dict[str, Any], name: str, value: str | None) -> str | None:
    """Validate and store one setting; when refused, the reply saying what is allowed."""
    if name not in replies.SETTING_LABELS:
        return replies.UNKNOWN_SETTING.format(name=_shorten(name))
    low, high = _SETTING_RANGES.get(name, (None, None))
    hint = replies.SETTING_HINTS[name].format(low=low, high=high)
    say = {"label": replies.SETTING_LABELS[name], "hint": hint}
    if value is None:
        return replies.SETTING_WITHOUT_VALUE.format(**say)
    shown = _shorten(value)
    if name == "language":
        if value.lower() == AUTO_LANGUAGE:
            prefs["language"] = AUTO_LANGUAGE
            return None
        try:
            prefs["language"] = Language.parse(value).value
        except ValueError:
            return replies.SETTING_UNKNOWN_LANGUAGE.format(value=shown, **say)
        return None
    try:
        number = float(value)
    except ValueError:
        return replies.SETTING_NOT_A_NUMBER.format(value=shown, **say)
    if not low <= number <= high:  # NaN is refused here too
        return replies.SETTING_OUT_OF_RANGE.format(value=shown, **say)
    prefs[name] = number
    return None


def _shorten(text: str) -> str:
    return text if len(text) <= _SHOWN_VALUE_CHARS else text[:_SHOWN_VALUE_CHARS] + "…"


def settings_text(context: Context) -> str:
    """The chat's settings, readable."""
    prefs = chat_prefs(context)
    return replies.SETTINGS.format(
        speaker=current_speaker(context) or "none",
        length_scale=prefs["length_scale"],
        sdp_ratio=prefs["sdp_ratio"],
        language=prefs["language"],
    )


def settings_keyboard(prefs: dict[str, Any]) -> InlineKeyboardMarkup:
    """One row per setting; the current values are ticked."""

    def row(name: str, label: str, choices: tuple) -> list[InlineKeyboardButton]:
        return [
            InlineKeyboardButton(
                ("✓" if str(prefs[name]) == str(value) else "") + f"{label} {value}",
                callback_data=f"set:{name}:{value}",
            )
            for value in choices
        ]

    return InlineKeyboardMarkup(
        [
            row("length_scale", "speed", SPEED_CHOICES),
            row("sdp_ratio", "sdp", SDP_CHOICES),
            row("language", "", LANGUAGE_CHOICES),
        ]
    )


async def cancel(update: Update, context: Context) -> None:
    """/cancel: drop this chat's messages that wait or are being worked on."""
    count = state_of(context).queue.cancel(update.effective_chat.id)
    text = replies.CANCELLED.format(count=count) if count else replies.NOTHING_TO_CANCEL
    await update.effective_message.reply_text(text)


# --- messages ---------------------------------------------------------------------------------


async def on_text(update: Update, context: Context) -> None:
    """Text in: the chat's voice speaks it."""
    message = update.effective_message
    text = message.text.strip()
    limit = state_of(context).settings.limits.max_text_chars
    if len(text) > limit:
        await message.reply_text(replies.TEXT_TOO_LONG.format(limit=limit))
        return
    params, own = speaking_voice(update, context)

    async def work(ticket: Ticket) -> tuple[list[VoiceNote], str | None]:
        state = state_of(context)
        return await state.run(state.speech.speak, text, params, own), None

    await serve(update, context, work)


async def on_audio(update: Update, context: Context) -> None:
    """A voice note, audio file or video note in: transcribe it and say it in the voice."""
    message = update.effective_message
    media = message.voice or message.audio or message.video_note or message.document
    limits = state_of(context).settings.limits
    with warnings.catch_warnings():  # PTB 22 warns that duration becomes a timedelta later
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        duration = getattr(media, "duration", None)
    seconds = duration.total_seconds() if hasattr(duration, "total_seconds") else duration
    if seconds and seconds > limits.max_voice_s:
        await message.reply_text(replies.TOO_LONG.format(limit=limits.max_voice_s))
        return
    if media.file_size and media.file_size > limits.max_file_bytes:
        await message.reply_text(replies.TOO_BIG)
        return
    if cloning.recording(context):  # a take for the user's own voice
        await record_take(update, context, media)
        return
    language = chat_prefs(context)["language"]

    async def work(ticket: Ticket) -> tuple[list[VoiceNote], str | None]:
        state = state_of(context)
        data = await download(media)
        heard: Heard = await state.run(_decode_and_transcribe, state.speech, data, language)
        if ticket.cancelled:
            return [], None
        params, own = speaking_voice(update, context, heard.language)
        return await state.run(state.speech.speak, heard.text, params, own), heard.text

    await serve(update, context, work)


async def record_take(update: Update, context: Context, media: Any) -> None:
    """A voice note while the user records their voice: checked, kept or asked again (a text
    reply, no voice note)."""

    async def work(ticket: Ticket) -> tuple[list[VoiceNote], str | None]:
        return [], await cloning.on_take(update, context, await download(media))

    await serve(update, context, work)


def speaking_voice(
    update: Update, context: Context, language: str | None = None
) -> tuple[SynthesisParams, Path | None]:
    """The chat's synthesis settings and, when it speaks in the user's own voice, its folder."""
    params = synthesis_params(context, language)
    own = cloning.own_voice_of(update, context)
    if own is None:
        return params, None
    return params.replace(speaker=own.speaker), own.voice_dir


async def on_other(update: Update, context: Context) -> None:
    """Anything else (stickers, photos...): say what the bot understands."""
    await update.effective_message.reply_text(replies.UNSUPPORTED_MESSAGE)


def _decode_and_transcribe(speech: SpeechService, data: bytes, language: str) -> Heard:
    return speech.transcribe(speech.decode(data), language)


async def download(media: Any) -> bytes:
    """The file's bytes, through getFile and the file URL."""
    file = await media.get_file()
    buffer = io.BytesIO()
    await file.download_to_memory(buffer)
    return buffer.getvalue()


async def serve(
    update: Update,
    context: Context,
    work: Callable[[Ticket], Awaitable[tuple[list[VoiceNote], str | None]]],
) -> None:
    """Queue the message in its chat, show "recording voice", run `work`, send the notes (or,
    when `work` made none, its text)."""
    message = update.effective_message
    state = state_of(context)
    try:
        async with state.queue.enter(message.chat_id) as ticket:
            if ticket.cancelled:
                return
            try:
                async with recording_voice(context, message.chat_id):
                    notes, caption = await work(ticket)
            except Refusal as refusal:
                if not ticket.cancelled:
                    await message.reply_text(refusal.reply, do_quote=True)
                return
            if not notes and caption and not ticket.cancelled:
                await message.reply_text(caption, do_quote=True)
                return
            await send_notes(message, notes, caption, ticket, state.settings.limits)
    except QueueFull:
        logger.warning(
            "Queue full (%d pending); told chat %s to retry", state.queue.pending, message.chat_id
        )
        await message.reply_text(replies.BUSY, do_quote=True)


async def send_notes(
    message: Message,
    notes: list[VoiceNote],
    caption: str | None,
    ticket: Ticket,
    limits: LimitSettings,
) -> None:
    """Reply with each note in turn (sent again after server and network errors); the caption
    goes with the first."""
    for index, note in enumerate(notes):
        if ticket.cancelled:
            return
        text = caption if index == 0 and caption else None
        if text and len(text) > MessageLimit.CAPTION_LENGTH:
            text = text[: MessageLimit.CAPTION_LENGTH - 1] + "…"
        send = functools.partial(
            message.reply_voice,
            voice=note.data,
            duration=max(1, round(note.duration_s)),
            caption=text,
            filename=f"voice-{index + 1}.ogg",
            do_quote=True,
        )
        await send_with_retries(send, limits, f"voice note {index + 1} to chat {message.chat_id}")


async def send_with_retries(
    send: Callable[[], Awaitable[T]], limits: LimitSettings, what: str
) -> T:
    """`send()`, made again after Telegram's 5xx answers and network errors (the reply is made
    already: only the upload is repeated), waiting longer each time; the last error is raised."""
    attempt, delay_s = 1, limits.send_retry_s
    while True:
        try:
            return await send()
        except NetworkError as error:  # 5xx, timeouts, dropped connections; not 4xx
            if isinstance(error, BadRequest) or attempt >= limits.send_attempts:
                raise
            logger.warning(
                "Sending %s failed (%s); trying again in %.1f s (attempt %d of %d)",
                what, error, delay_s, attempt + 1, limits.send_attempts,
            )  # fmt: skip
        await asyncio.sleep(delay_s)
        attempt, delay_s = attempt + 1, delay_s * 2


@asynccontextmanager
async def recording_voice(context: Context, chat_id: int) -> AsyncIterator[None]:
    """Show "recording voice..." in the chat until the block ends."""

    async def keep_showing() -> None:
        while True:
            try:
                await context.bot.send_chat_action(chat_id, ChatAction.RECORD_VOICE)
            except TelegramError as error:  # cosmetic: never fail a reply because of it
                logger.debug("Chat action failed: %s", error)
            await asyncio.sleep(_CHAT_ACTION_EVERY_S)

    task = asyncio.create_task(keep_showing())
    try:
        yield
    finally:
        task.cancel()


# --- errors and jobs ----------------------------------------------------------------------------


async def on_error(update: object, context: Context) -> None:
    """Log every exception (the log filter hides the token) and apologise when possible."""
    error = context.error
    update_id = update.update_id if isinstance(update, Update) else None
    logger.error("Error while handling update %s: %r", update_id, error, exc_info=error)
    if isinstance(update, Update) and update.effective_message is not None:
        text = replies.NO_VOICE if isinstance(error, ModelNotFoundError) else replies.INTERNAL_ERROR
        try:
            await update.effective_message.reply_text(text)
        except TelegramError as reply_error:
            logger.warning("Could not send the apology: %r", reply_error)


async def refresh_voice(context: Context) -> None:
    """JobQueue job: re-pull the Hub voice and switch to it if it changed."""
    state = state_of(context)
    try:
        changed = await state.run(state.speech.reload_voice)
    except VOICE_LOAD_ERRORS as error:
        logger.warning("Voice refresh failed (keeping the current voice): %s", error)
        return
    if changed:
        logger.info("Switched to the newly pulled voice")
