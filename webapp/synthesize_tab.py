"""Synthesize tab: pick a voice and speaker, type text, listen as it is spoken, download."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
import numpy as np

from engine import AUTO_LANGUAGE, ConfigError, SonareError, SynthesisParams, TextError
from engine.builtin_voice import DEFAULT_VOICE_NAME, builtin_voice_dir, has_builtin_voice
from engine.synthesis import DEFAULT_KNOBS, read_voice_defaults
from engine.training import GENERATOR_DIR, CheckpointStore, find_runs
from webapp.access import AccessMode
from webapp.limits import LimitError
from webapp.messages import fail
from webapp.recording import CLONE_DIR, MY_VOICE_LABEL
from webapp.services import Services

if TYPE_CHECKING:
    from engine.synthesis import Voice

logger = logging.getLogger(__name__)

# Longer text is refused with a message: a Space is shared, and 5,000 characters already
# take minutes on a CPU. Split long documents and synthesize them in parts.
MAX_TEXT_CHARS = 5000
LANGUAGES = [AUTO_LANGUAGE, "ZH", "JP", "EN"]
EMOTION_MODES = ["text prompt", "reference audio"]
StreamUpdate = tuple[Any, Any, str]


def find_voices(services: Services) -> list[tuple[str, str]]:
    """(label, folder) of every voice: trained runs, pulled, hand-placed, then the built-in one.

    The user's own voices come first, so the dropdown opens on theirs once they have one.
    """
    voices = []
    mine = services.workspace is not None
    for run in find_runs(services.datasets_dir) if mine else []:
        latest = CheckpointStore(run / "checkpoints").latest()
        if latest is not None and (latest / GENERATOR_DIR).is_dir():
            dataset = run.parent.name if run.name == "models" else run.name
            voices.append((f"{dataset} (trained, {latest.name})", str(latest / GENERATOR_DIR)))
    if mine and (services.workspace / CLONE_DIR / "voice" / "config.json").is_file():
        voices.append((MY_VOICE_LABEL, str(services.workspace / CLONE_DIR / "voice")))
    shared = [(services.voices_dir, "shared" if services.access.per_user else "local")]
    for folder, kind in ([(services.models_dir, "Hub")] if mine else []) + shared:
        if folder.is_dir():
            for path in sorted(p for p in folder.iterdir() if (p / "config.json").is_file()):
                voices.append((f"{path.name} ({kind})", str(path)))
    if has_builtin_voice():
        voices.append((f"{DEFAULT_VOICE_NAME} (built-in)", str(builtin_voice_dir())))
    return voices


def check_voice(services: Services, folder: str | None) -> str:
    """The folder, when the visitor may speak with it: on a shared Space only a voice on
    their list (find_voices), never another visitor's folder; the owner of a private app may
    name any voice folder."""
    if not folder:
        raise TextError("No voice selected. " + _no_voice_message())
    if services.access.mode is AccessMode.PRIVATE:
        return folder
    allowed = {str(Path(path).resolve()) for _, path in find_voices(services)}
    if str(Path(folder).resolve()) not in allowed:
        raise ConfigError("That voice is not available to you; choose one from the list.")
    return folder


def refresh_voices(services: Services, current: str | None) -> Any:
    """The voice dropdown with what exists now (keeping the selection when it still exists)."""
    voices = find_voices(services)
    folders = [folder for _, folder in voices]
    value = current if current in folders else (folders[0] if folders else None)
    return gr.update(choices=voices, value=value)


def load_voice(services: Services, folder: str | None) -> Voice:
    """The voice in `folder`, when the visitor may speak with it (check_voice), loaded."""
    return services.voices.get(check_voice(services, folder))


def voice_speakers(services: Services, folder: str | None) -> tuple[Any, str]:
    """Load the chosen voice; (speaker dropdown update, status)."""
    if not folder:
        return gr.update(choices=[], value=None), _no_voice_message()
    try:
        voice = load_voice(services, folder)
    except Exception as error:  # noqa: BLE001 - ours explain themselves; others are logged
        return gr.update(choices=[], value=None), fail(error)
    speakers = voice.speakers
    return (
        gr.update(choices=speakers, value=speakers[0] if speakers else None),
        f"Voice **{voice.name}**: {len(speakers)} speaker(s), {voice.sample_rate} Hz.",
    )


KNOBS = ("sdp_ratio", "noise_scale", "noise_scale_w", "length_scale")


def voice_knobs(services: Services, folder: str | None) -> list[Any]:
    """The four sliders set to the chosen voice's own defaults (unchanged for a voice the
    visitor may not use: check_voice's message is voice_speakers' to show)."""
    try:
        defaults = read_voice_defaults(check_voice(services, folder))
    except SonareError:
        return [gr.update() for _ in KNOBS]
    return [gr.update(value=defaults[name]) for name in KNOBS]


def build_params(
    speaker: str | None,
    language: str,
    sdp_ratio: float,
    noise_scale: float,
    noise_scale_w: float,
    length_scale: float,
    pause_s: float,
    emotion_mode: str,
    emotion_text: str,
    emotion_audio: tuple[int, np.ndarray] | None,
    seed: float | None = None,
) -> SynthesisParams:
    """The UI's values as SynthesisParams (ConfigError for out-of-range values)."""
    emotion: Any = (emotion_text or "").strip() or None
    if emotion_mode == EMOTION_MODES[1]:
        if emotion_audio is None:
            raise TextError("Reference-audio emotion was chosen but no clip was given.")
        emotion = (int(emotion_audio[0]), np.asarray(emotion_audio[1]))
    return SynthesisParams(
        speaker=speaker or None,
        language=language or AUTO_LANGUAGE,
        sdp_ratio=float(sdp_ratio),
        noise_scale=float(noise_scale),
        noise_scale_w=float(noise_scale_w),
        length_scale=float(length_scale),
        pause_s=float(pause_s),
        emotion=emotion,
        seed=int(seed) if seed else None,  # 0 or empty: a new random take each time
    )


def check_text(text: str | None) -> str:
    """The text to speak, or TextError for empty or over-long text."""
    text = (text or "").strip()
    if not text:
        raise TextError("The text is empty; type something to speak.")
    if len(text) > MAX_TEXT_CHARS:
        raise TextError(
            f"The text has {len(text):,} characters; the limit here is {MAX_TEXT_CHARS:,}. "
            "Split it and synthesize the parts one after another."
        )
    return text


def synthesize_stream(
    services: Services, folder: str | None, text: str | None, params: SynthesisParams
) -> Iterator[StreamUpdate]:
    """Yield (streamed chunk, full audio, status): chunks as sentences are spoken, then the
    whole take for the player with its download button."""
    try:
        text = check_text(text)
        folder = check_voice(services, folder)
        _check_rate(services)
        voice = services.voices.get(folder)  # loaded here, so a new ZeroGPU worker has it
        rate = voice.sample_rate
        chunks = []
        yield None, None, "Speaking…"
        for chunk in services.gpu.speak(folder, text, params):
            chunks.append(chunk)
            yield (rate, chunk), gr.update(), f"Speaking… {sum(map(len, chunks)) / rate:.1f} s"
    except Exception as error:  # noqa: BLE001 - ours explain themselves; others are logged
        yield None, None, fail(error)
        return
    audio = np.concatenate(chunks)
    seconds = len(audio) / rate
    yield None, (rate, audio), f"Done: {seconds:.1f} s of audio from {voice_label(folder)}."


def _check_rate(services: Services) -> None:
    """Signed-out visitors of a shared Space speak a limited number of times per hour."""
    visitor = services.visitor
    if services.access.mode is AccessMode.PRIVATE or visitor.signed_in:
        return
    address, _, session = visitor.client.partition("|")
    wait = services.anonymous_speech.acquire(f"ip:{address}", f"session:{session}")
    if wait is not None:
        limit = services.limits.anonymous_per_hour
        raise LimitError(
            f"Signed out, you can speak {limit} times an hour; try again in {wait / 60:.0f} "
            "minutes, or sign in with Hugging Face."
        )


def voice_label(folder: str | Path) -> str:
    """A short name for a voice folder: a run's dataset and step, else the folder's name."""
    path = Path(folder)
    if path.name == GENERATOR_DIR and len(path.parents) > 3:
        return f"{path.parents[3].name} ({path.parent.name})"
    return path.name


def _no_voice_message() -> str:
    return (
        "No voice yet: train one in the Train tab, pull one in the Hub tab, "
        "or put a voice folder under the data root's voices/."
    )


def build_synthesize_tab(services: Services) -> dict[str, Any]:
    """The Synthesize tab; returns components other tabs refresh."""
    voices = find_voices(services)
    # The sliders open at the first voice's own defaults and follow the chosen voice.
    knobs = read_voice_defaults(voices[0][1]) if voices else dict(DEFAULT_KNOBS)
    with gr.Tab("Synthesize", id="synthesize") as tab:
        with gr.Row():
            # Both lists are filled per visitor; any value is checked (check_voice, the voice's
            # own speakers), so the API may name them too.
            voice = gr.Dropdown(voices, value=voices[0][1] if voices else None, label="Voice",
                                scale=3, elem_id="tts-voice", allow_custom_value=True)  # fmt: skip
            refresh = gr.Button("Refresh voices", scale=1)
            speaker = gr.Dropdown([], label="Speaker", scale=2, allow_custom_value=True)
        text = gr.Textbox(
            label="Text", lines=4, placeholder="Hello there. How are you today?", elem_id="tts-text"
        )
        language = gr.Radio(LANGUAGES, value=AUTO_LANGUAGE, label="Language")
        with gr.Accordion("Voice settings", open=False):
            sdp_ratio = gr.Slider(0.0, 1.0, value=knobs["sdp_ratio"], step=0.05,
                                  label="sdp_ratio")  # fmt: skip
            noise_scale = gr.Slider(0.0, 2.0, value=knobs["noise_scale"], step=0.05,
                                    label="noise_scale")  # fmt: skip
            noise_scale_w = gr.Slider(0.0, 2.0, value=knobs["noise_scale_w"], step=0.05,
                                      label="noise_scale_w")  # fmt: skip
            length_scale = gr.Slider(0.1, 5.0, value=knobs["length_scale"], step=0.05,
                                     label="length_scale (>1 slower)")  # fmt: skip
            pause_s = gr.Slider(0.0, 3.0, value=0.3, step=0.05, label="pause between sentences (s)")
            seed = gr.Number(value=0, precision=0, label="Seed (0: random)")
        with gr.Accordion("Emotion", open=False):
            emotion_mode = gr.Radio(EMOTION_MODES, value=EMOTION_MODES[0], label="Emotion from")
            emotion_text = gr.Textbox(value="Happy", label="Emotion prompt")
            emotion_audio = gr.Audio(label="Reference clip", type="numpy", sources=["upload"])
        speak = gr.Button("Speak", variant="primary", elem_id="speak")
        status = gr.Markdown(elem_id="tts-status")
        streamed = gr.Audio(label="Listen (streamed)", streaming=True, autoplay=False)
        result = gr.Audio(
            label="Result", type="numpy", buttons=["download"], interactive=False, elem_id="result"
        )

        # Each callback sees the services of the visitor who asked (webapp/access.py).
        def _speak(
            folder: str, who: str | None, text_value: str, lang: str, sdp: float, noise: float,
            noise_w: float, length: float, pause: float, mode: str, prompt: str,
            clip: tuple[int, np.ndarray] | None, seed_value: float | None, request: gr.Request,
        ) -> Iterator[StreamUpdate]:  # fmt: skip
            try:
                params = build_params(who, lang, sdp, noise, noise_w, length, pause, mode,
                                      prompt, clip, seed_value)  # fmt: skip
            except SonareError as error:
                yield None, None, fail(error)
                return
            yield from synthesize_stream(services.for_request(request), folder, text_value, params)

        def _speakers(folder: str | None, request: gr.Request) -> tuple[Any, str]:
            return voice_speakers(services.for_request(request), folder)

        def _voices(folder: str | None, request: gr.Request) -> Any:
            return refresh_voices(services.for_request(request), folder)

        def _knobs(folder: str | None, request: gr.Request) -> list[Any]:
            return voice_knobs(services.for_request(request), folder)

        sliders = [sdp_ratio, noise_scale, noise_scale_w, length_scale]

        # Python defaults let clients leave inputs out; the API shows the fields' own values
        # as the defaults (voice: the first voice when the app was built).
        def synthesize(
            request: gr.Request, text: str, voice: str, speaker: str | None = None,
            language: str = AUTO_LANGUAGE, sdp_ratio: float = knobs["sdp_ratio"],
            noise_scale: float = knobs["noise_scale"],
            noise_scale_w: float = knobs["noise_scale_w"],
            length_scale: float = knobs["length_scale"], pause_s: float = 0.3,
            seed: float | None = None, emotion: str = "Happy",
            emotion_clip: tuple[int, np.ndarray] | None = None,
        ) -> tuple[Any, str]:  # fmt: skip
            """Speak `text` with a voice; the whole take as one audio file.

            Parameters:
                text: what to say (up to 5,000 characters)
                voice: a voice folder from /voices
                speaker: one of the voice's speakers (/speakers); empty for a one-speaker voice
                language: auto, ZH, JP or EN
                sdp_ratio: share of the stochastic duration predictor (0-1)
                noise_scale: variation of the voice (0-2)
                noise_scale_w: variation of the durations (0-2)
                length_scale: speed, above 1 slower
                pause_s: pause between sentences in seconds
                seed: 0 for a new random take, else the same take each time
                emotion: an emotion prompt, e.g. Happy
                emotion_clip: a reference clip whose emotion to take instead (optional)
            Returns:
                the audio file (None when nothing was spoken), and a status message
            """
            mode = EMOTION_MODES[1] if emotion_clip is not None else EMOTION_MODES[0]
            take, message = None, ""
            updates = _speak(voice, speaker, text, language, sdp_ratio, noise_scale,
                             noise_scale_w, length_scale, pause_s, mode, emotion, emotion_clip,
                             seed, request)  # fmt: skip
            for _, audio, status_text in updates:
                take = audio if isinstance(audio, tuple) else take
                message = status_text
            return take, message

        voice.change(_speakers, [voice], [speaker, status], api_visibility="private").then(
            _knobs, [voice], sliders, api_visibility="private"
        )
        for event in (refresh.click, tab.select):
            # Then load it: the voice chosen when the page was built (the built-in one on a
            # fresh machine) never fires .change, and its speakers would stay empty.
            event(_voices, [voice], [voice], api_visibility="private").then(
                _speakers, [voice], [speaker, status], api_visibility="private"
            ).then(_knobs, [voice], sliders, api_visibility="private")
        speak.click(
            _speak,
            [voice, speaker, text, language, sdp_ratio, noise_scale, noise_scale_w,
             length_scale, pause_s, emotion_mode, emotion_text, emotion_audio, seed],
            [streamed, result, status],
            concurrency_id="synthesis",
            concurrency_limit=2,
            api_visibility="private",  # streams to the page; scripts use /synthesize
        )  # fmt: skip
        # API only (no trigger): the same synthesis, the whole take at once.
        gr.on(
            [],
            synthesize,
            [text, voice, speaker, language, sdp_ratio, noise_scale, noise_scale_w,
             length_scale, pause_s, seed, emotion_text, emotion_audio],
            [result, status],
            api_name="synthesize",
            concurrency_id="synthesis",
            concurrency_limit=2,
        )  # fmt: skip
    return {"voice": voice, "speaker": speaker, "status": status, "tab": tab}


__all__ = ["MAX_TEXT_CHARS", "build_synthesize_tab", "find_voices", "synthesize_stream"]
