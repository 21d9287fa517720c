"""Clone yourself from voice notes: record takes (/clone, /free, /skip, /done), make the voice
(/train, one clone per user, in line with everyone's), follow it (one message per user, edited
in place by a JobQueue job), and your data (/mydata, /forget).

Blocking work (decoding, checking a take, the line's files) runs in BotState's worker pool.
Each user's files are found from their own Telegram id only (bot/people.py).
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot import replies
from bot.people import Person
from bot.speech import Refusal
from engine.asr import AsrConfig
from engine.audio import load_audio
from engine.cloning import CloneJobStatus, CloneQueue, CloneRequest
from engine.constants import AUTO_LANGUAGE, Language
from engine.errors import AudioError, SonareError
from engine.similarity import describe_similarity
from engine.synthesis import SynthesisParams
from engine.takes import TakeLimits, TakeVerdict, check_take

logger = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
RECORDING = "recording"  # chat_data: "prompts", "free" or absent
PROMPTS, FREE = "prompts", "free"
READY_NOTE = "Hello! This is my own voice now. How do I sound?"


def _state(context: Context) -> Any:
    from bot.handlers import state_of  # handlers imports this module: import late

    return state_of(context)


def person_of(update: Update, context: Context) -> Person:
    return Person(_state(context).settings.people_dir, update.effective_user.id)


def take_language(context: Context) -> Language:
    """The language the takes are read in: the chat's setting (auto: EN)."""
    chosen = context.chat_data.get("voice", {}).get("language", AUTO_LANGUAGE)
    return Language.EN if chosen == AUTO_LANGUAGE else Language.parse(chosen)


def recording(context: Context) -> str | None:
    return context.chat_data.get(RECORDING)


async def _allowed(update: Update, context: Context) -> bool:
    """Cloning is on and this is a private chat (a voice is one person's)."""
    message = update.effective_message
    if not _state(context).settings.clone.enabled:
        await message.reply_text(replies.CLONE_OFF)
        return False
    if update.effective_chat.type != ChatType.PRIVATE:
        await message.reply_text(replies.CLONE_PRIVATE)
        return False
    return True


# --- recording ---------------------------------------------------------------------------------


async def clone_command(update: Update, context: Context) -> None:
    """/clone: start (or go on) reading prompt sentences as voice notes."""
    if not await _allowed(update, context):
        return
    store = person_of(update, context).takes(take_language(context))
    context.chat_data[RECORDING] = PROMPTS
    prompt, summary = await _state(context).run(lambda: (store.prompt(), store.summary()))
    await update.effective_message.reply_text(
        replies.CLONE_START.format(prompt=prompt, progress=summary.progress())
    )


async def free_command(update: Update, context: Context) -> None:
    """/free: record free speech, each note kept with its transcript."""
    if not await _allowed(update, context):
        return
    store = person_of(update, context).takes(take_language(context))
    context.chat_data[RECORDING] = FREE
    summary = await _state(context).run(store.summary)
    await update.effective_message.reply_text(
        replies.FREE_START.format(progress=summary.progress())
    )


async def skip_command(update: Update, context: Context) -> None:
    """/skip: another sentence to read."""
    if recording(context) != PROMPTS:
        await update.effective_message.reply_text(replies.NOT_RECORDING)
        return
    store = person_of(update, context).takes(take_language(context))
    prompt = await _state(context).run(store.skip)
    await update.effective_message.reply_text(replies.READ_THIS.format(prompt=prompt))


async def done_command(update: Update, context: Context) -> None:
    """/done: stop recording for now."""
    context.chat_data.pop(RECORDING, None)
    store = person_of(update, context).takes(take_language(context))
    summary = await _state(context).run(store.summary)
    await update.effective_message.reply_text(
        replies.RECORDING_DONE.format(progress=summary.progress())
    )


async def on_take(update: Update, context: Context, data: bytes) -> str:
    """A voice note while recording: check it, keep it if good; returns the reply text."""
    state = _state(context)
    person, mode = person_of(update, context), recording(context)
    store = person.takes(take_language(context))
    settings = state.settings.clone
    summary = await state.run(store.summary)
    if summary.seconds >= settings.max_audio_minutes * 60:
        return replies.AUDIO_LIMIT.format(minutes=settings.max_audio_minutes)
    prompt = await state.run(store.prompt) if mode == PROMPTS else None
    verdict: TakeVerdict = await state.run(_check, state, data, prompt, store.language)
    if not verdict.accepted:
        again = f"\n\n{replies.READ_THIS.format(prompt=prompt)}" if prompt else ""
        return replies.TAKE_REFUSED.format(message=verdict.message) + again
    summary = await state.run(store.add, verdict)
    kept = replies.TAKE_KEPT.format(message=verdict.message, progress=summary.progress())
    if mode != PROMPTS:
        return kept
    following = await state.run(store.prompt)
    return f"{kept}\n\n{replies.READ_THIS.format(prompt=following)}"


def _check(state: Any, data: bytes, prompt: str | None, language: Language) -> TakeVerdict:
    speech = state.speech
    if speech.transcriber is None:
        raise Refusal(replies.NO_ASR)
    try:
        audio, rate = load_audio(data)
    except AudioError as error:
        raise Refusal(replies.UNDECODABLE) from error
    limits = TakeLimits(max_s=state.settings.limits.max_voice_s + 1.0,
                        max_cer=state.settings.clone.max_take_cer)  # fmt: skip
    return check_take(audio, rate, prompt, speech.transcriber, language, limits,
                      denoise=speech.denoiser().denoise)  # fmt: skip


# --- training -----------------------------------------------------------------------------------


def clone_request(state: Any, person: Person, language: Language) -> CloneRequest:
    """The clone of a user's takes onto the configured base, into their own folder."""
    settings, clone = state.settings, state.settings.clone
    asr = AsrConfig(model=clone.asr_model or settings.asr.model, backend=settings.asr.backend,
                    compute_type=settings.asr.compute_type)  # fmt: skip
    return CloneRequest(
        audio=(person.takes_dir,), name=person.speaker, language=language.value,
        minutes=clone.minutes, out=person.voice_dir, work=person.work_dir, base=clone.base,
        config=clone.config, asr=asr, data_dir=settings.data_dir,
        min_speech_s=min(clone.min_speech_s, 60.0), chunk_s=clone.eval_every_s,
    )  # fmt: skip


async def train_command(update: Update, context: Context) -> None:
    """/train: make the user's voice from their takes (in line with everyone's)."""
    if not await _allowed(update, context):
        return
    state, person = _state(context), person_of(update, context)
    message, clone = update.effective_message, state.settings.clone
    queue: CloneQueue = state.clones
    store = person.takes(take_language(context))
    summary = await state.run(store.summary)
    if summary.seconds < clone.min_speech_s:
        need, have = _duration(clone.min_speech_s), _duration(summary.seconds)
        await message.reply_text(replies.NOT_ENOUGH_SPEECH.format(need=need, have=have))
        return
    status = await state.run(queue.status, person.owner)
    if status is not None and status.active:
        await message.reply_text(replies.CLONE_ALREADY)
        return
    if person.clones_today() >= clone.jobs_per_day:
        await message.reply_text(replies.CLONE_DAILY_LIMIT.format(count=clone.jobs_per_day))
        return
    request = clone_request(state, person, store.language)
    try:
        position = await state.run(queue.submit, person.owner, request)
    except SonareError as error:
        await message.reply_text(replies.CLONE_FAILED.format(error=error))
        return
    person.note_clone_started()
    context.chat_data.pop(RECORDING, None)
    text = (replies.CLONE_QUEUED.format(position=position) if position
            else replies.CLONE_STARTED.format(minutes=clone.minutes))  # fmt: skip
    shown = await message.reply_text(text)
    person.update(progress={"chat_id": shown.chat_id, "message_id": shown.message_id,
                            "text": text})  # fmt: skip


def progress_text(status: CloneJobStatus, minutes: float) -> str:
    """One line about a clone in line or running."""
    if status.state == "queued":
        return replies.CLONE_QUEUED.format(position=status.position or 1)
    progress = status.progress or {}
    if progress.get("similarity") is not None:
        parts = [f"step {progress['step']}",
                 describe_similarity(progress["similarity"], progress.get("ceiling"))]  # fmt: skip
        if progress.get("seconds_left") is not None:
            parts.append(f"about {max(1, round(progress['seconds_left'] / 60))} min left")
        return replies.CLONE_PROGRESS.format(line="; ".join(parts))
    if progress.get("message"):
        return replies.CLONE_PROGRESS.format(line=progress["message"])
    return replies.CLONE_STARTED.format(minutes=minutes)


async def watch_clones(context: Context) -> None:
    """JobQueue job: move the line on, edit each user's progress message, and greet a user
    whose voice is ready with a voice note in it."""
    state = _state(context)
    queue: CloneQueue = state.clones
    ended = {status.owner: status for status in await state.run(queue.poll)}
    people_dir = state.settings.people_dir
    folders = sorted(people_dir.iterdir()) if people_dir.is_dir() else []
    for folder in folders:
        if not folder.name.isdigit():
            continue
        person = Person(people_dir, int(folder.name))
        shown = person.record().get("progress")
        if not shown:
            continue
        status = ended.get(person.owner) or await state.run(queue.status, person.owner)
        if status is None:
            person.update(progress=None)
            continue
        if status.active:
            text = progress_text(status, state.settings.clone.minutes)
            if await _edit(context, shown, text):
                person.update(progress=shown | {"text": text})
            continue
        person.update(progress=None)  # before any await: the next run must not finish it again
        await _finish(context, person, shown, status)


async def _edit(context: Context, shown: dict[str, Any], text: str) -> bool:
    """Show `text` in the progress message; whether it now shows it."""
    if text == shown.get("text"):
        return False
    try:
        await context.bot.edit_message_text(text, chat_id=shown["chat_id"],
                                            message_id=shown["message_id"])  # fmt: skip
    except BadRequest as error:  # "message is not modified" or deleted by the user
        logger.debug("Progress message not edited: %s", error)
    except TelegramError as error:
        logger.warning("Progress message not edited: %s", error)
        return False
    return True


async def _finish(
    context: Context, person: Person, shown: dict[str, Any], status: CloneJobStatus
) -> None:
    """The clone ended: say how, and on success answer in the new voice."""
    state, chat_id = _state(context), shown["chat_id"]
    if status.state == "stopped":
        await _edit(context, shown, replies.CLONE_STOPPED)
        return
    if status.state != "done" or status.voice_dir is None:
        await _edit(context, shown, replies.CLONE_FAILED.format(error=status.error))
        return
    result = status.result or {}
    likeness = describe_similarity(result.get("similarity") or 0.0, result.get("ceiling"))
    text = replies.CLONE_DONE.format(likeness=likeness[0].upper() + likeness[1:])
    await _edit(context, shown, text)
    prefs = context.application.chat_data[chat_id].setdefault("voice", {})
    prefs["mine"] = True
    try:
        params = SynthesisParams(speaker=person.speaker, seed=1)
        notes = await state.run(state.speech.speak, READY_NOTE, params, person.voice_dir)
    except Refusal as refusal:
        logger.warning("The new voice of %s did not speak: %s", person.owner, refusal.reply)
        return
    await context.bot.send_voice(chat_id, notes[0].data, caption=likeness,
                                 duration=max(1, round(notes[0].duration_s)))  # fmt: skip


def _duration(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return (
        f"{minutes} min {rest} s"
        if minutes and rest
        else f"{minutes} min"
        if minutes
        else f"{rest} s"
    )


# --- your data ---------------------------------------------------------------------------------


async def my_data(update: Update, context: Context) -> None:
    """/mydata: what the bot keeps of this user."""
    state, person = _state(context), person_of(update, context)
    stored = await state.run(person.stored)
    status = await state.run(state.clones.status, person.owner)
    lines = [f"• {line}" for line in stored.lines()] if stored.bytes else []
    if status is not None and status.active:
        lines.append(f"• {progress_text(status, state.settings.clone.minutes)}")
    text = replies.MY_DATA.format(lines="\n".join(lines)) if lines else replies.MY_DATA_NONE
    await update.effective_message.reply_text(text)


async def forget_command(update: Update, context: Context) -> None:
    """/forget: ask before deleting everything of this user."""
    keyboard = InlineKeyboardMarkup([[
        InlineKeyboardButton(replies.FORGET_YES, callback_data="forget:yes"),
        InlineKeyboardButton(replies.FORGET_NO, callback_data="forget:no"),
    ]])  # fmt: skip
    await update.effective_message.reply_text(replies.FORGET_ASK, reply_markup=keyboard)


async def forget_answer(update: Update, context: Context) -> None:
    """The /forget buttons: delete it all (stopping a clone first), or keep it."""
    query = update.callback_query
    await query.answer()
    if query.data != "forget:yes":
        await query.edit_message_text(replies.FORGET_KEPT)
        return
    state, person = _state(context), person_of(update, context)
    await state.run(state.clones.forget, person.owner)
    state.speech.drop_own_voice(person.voice_dir)
    stored = await state.run(person.delete)
    context.chat_data.clear()  # settings, the chosen voice, the recording mode
    what = ", ".join(stored.lines()) if stored.bytes else ""
    await query.edit_message_text(
        replies.FORGOTTEN.format(what=what) if what else replies.FORGOTTEN_NOTHING
    )


def own_voice_of(update: Update, context: Context) -> Person | None:
    """The user, when the chat speaks in their own voice and they have one."""
    prefs = context.chat_data.get("voice", {})
    if not prefs.get("mine") or update.effective_user is None:
        return None
    person = person_of(update, context)
    return person if person.has_voice() else None


__all__ = [
    "FREE",
    "PROMPTS",
    "RECORDING",
    "clone_command",
    "done_command",
    "forget_answer",
    "forget_command",
    "free_command",
    "my_data",
    "on_take",
    "own_voice_of",
    "progress_text",
    "skip_command",
    "train_command",
    "watch_clones",
]
