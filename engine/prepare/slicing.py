"""Stage 2, slicing: cut long recordings into utterances (default 2-12 s) at pauses.

Speech is found by silero-vad (its model ships in the wheel) or, when that is unavailable or
`vad="energy"`, by frame energy with hysteresis. Speech closer than `merge_gap_s` stays
together, utterances get `pad_s` of context, fragments join a neighbour and runs longer than
`max_s` are split at their quietest point.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.audio import load_audio, resample, save_wav, to_mono
from engine.errors import AudioError, ConfigError
from engine.prepare.ingest import check_not_silent

logger = logging.getLogger(__name__)

VAD_METHODS = ("silero", "energy")
VAD_RATE = 16000  # silero-vad runs on 16 kHz
FRAME_S = 0.01  # energy analysis hop
LEVEL_FLOOR_DB = -120.0  # digital silence, so log10 never sees 0
QUIET_SMOOTHING_FRAMES = 5  # a quiet point must stay quiet for ~50 ms, not one zero crossing
# How strongly a split prefers even pieces over the very quietest frame: a real pause is 20+ dB
# below speech, so 1 dB per second of distance only decides between similar candidates.
BALANCE_DB_PER_S = 1.0


@dataclass(frozen=True)
class SliceConfig:
    """How recordings are cut into utterances (seconds throughout)."""

    min_s: float = 2.0
    max_s: float = 12.0
    pad_s: float = 0.15  # context kept before and after speech
    min_silence_s: float = 0.3  # a pause shorter than this does not end speech
    merge_gap_s: float = 0.5  # speech closer than this is never cut apart (unless over-long)
    vad: str = "silero"
    vad_threshold: float = 0.5
    min_speech_s: float = 0.25  # shorter detections are clicks and breaths
    max_fragment_gap_s: float = 2.0  # a too-short utterance joins a neighbour this close
    energy_threshold_db: float = -40.0  # energy VAD: speech level relative to the loud frames

    def __post_init__(self) -> None:
        if not 0 < self.min_s < self.max_s:
            raise ConfigError(f"Need 0 < min_s < max_s, got {self.min_s} and {self.max_s}.")
        if self.max_s < 2 * self.min_s:
            # Otherwise an over-long run cannot always be split into pieces within the limits.
            raise ConfigError(f"max_s ({self.max_s}) must be at least twice min_s ({self.min_s}).")
        if not 0 <= self.pad_s < self.min_s / 2:
            raise ConfigError(f"pad_s must be in [0, min_s / 2), got {self.pad_s}.")
        for name in ("min_silence_s", "min_speech_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}.")
        if self.merge_gap_s < 0 or self.max_fragment_gap_s < 0:
            raise ConfigError("merge_gap_s and max_fragment_gap_s must not be negative.")
        if self.vad not in VAD_METHODS:
            raise ConfigError(f"vad must be one of {VAD_METHODS}, got {self.vad!r}.")
        if not 0 < self.vad_threshold < 1:
            raise ConfigError(f"vad_threshold must be in (0, 1), got {self.vad_threshold}.")
        if self.energy_threshold_db >= 0:
            raise ConfigError(
                f"energy_threshold_db must be negative, got {self.energy_threshold_db}."
            )


@dataclass(frozen=True)
class Segment:
    """A span of a recording, in seconds."""

    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class SliceInfo:
    """One written utterance and where it came from in its recording."""

    path: Path
    start_s: float
    end_s: float
    sample_rate: int
    duration_s: float
    speaker: str = ""


class VoiceActivityDetector:
    """Finds speech intervals. Loads silero-vad once, on first use; energy when that fails.

    Not thread-safe (the model keeps state): one detector per worker.
    """

    def __init__(self, config: SliceConfig) -> None:
        self.config = config
        self._model: Any = None
        self._load_failed = config.vad == "energy"

    @property
    def method(self) -> str:
        """The detector the next call uses: "silero" or "energy"."""
        return "energy" if self._load_failed else "silero"

    def speech_intervals(self, audio: np.ndarray, sample_rate: int) -> list[tuple[float, float]]:
        """Speech (start_s, end_s) pairs in time order, no padding."""
        if not self._load_failed and self._model is None:
            self._load_silero()
        if self._load_failed:
            return energy_speech_intervals(audio, sample_rate, self.config)
        return self._silero_intervals(audio, sample_rate)

    def _load_silero(self) -> None:
        import torch

        # silero_vad's import calls torch.set_num_threads(1): process-wide, and inherited by
        # every thread that first touches torch meanwhile (a web-app worker would synthesize on
        # one core for good). The call is made a no-op for the import.
        set_num_threads = torch.set_num_threads
        torch.set_num_threads = lambda _threads: None
        try:
            from silero_vad import load_silero_vad

            # The ONNX model runs in its own onnxruntime session with one thread (what silero's
            # 32 ms steps want), so inference needs no torch.set_num_threads(1) either.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                self._model = load_silero_vad(onnx=True)
        except Exception as error:  # a broken optional install must not stop data preparation
            logger.warning("silero-vad unavailable (%s); using the energy detector.", error)
            self._load_failed = True
        finally:
            torch.set_num_threads = set_num_threads

    def _silero_intervals(self, audio: np.ndarray, sample_rate: int) -> list[tuple[float, float]]:
        import torch
        from silero_vad import get_speech_timestamps_from_probs

        audio_16k = resample(audio, sample_rate, VAD_RATE)
        with torch.inference_mode():
            probs = self._model.audio_forward(torch.from_numpy(audio_16k), VAD_RATE)
        config = self.config
        stamps = get_speech_timestamps_from_probs(
            probs.reshape(-1).tolist(),
            sampling_rate=VAD_RATE,
            threshold=config.vad_threshold,
            min_speech_duration_ms=round(config.min_speech_s * 1000),
            min_silence_duration_ms=round(config.min_silence_s * 1000),
            speech_pad_ms=0,  # padding is ours, clipped at neighbours
            audio_length_samples=len(audio_16k),
        )
        return [(stamp["start"] / VAD_RATE, stamp["end"] / VAD_RATE) for stamp in stamps]


def frame_power(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, float]:
    """Mean power of consecutive ~10 ms frames and the exact frame length in seconds."""
    hop = max(1, round(FRAME_S * sample_rate))
    whole = len(audio) // hop
    blocks = audio[: whole * hop].reshape(whole, hop)  # a view: no copy of an hour of audio
    power = np.einsum("ij,ij->i", blocks, blocks) / hop
    tail = audio[whole * hop :]
    if tail.size:
        power = np.append(power, np.dot(tail, tail) / hop)
    return power, hop / sample_rate


def to_db(power: np.ndarray) -> np.ndarray:
    """Power to dB, with digital silence at LEVEL_FLOOR_DB."""
    return 10 * np.log10(np.maximum(power, 10 ** (LEVEL_FLOOR_DB / 10)))


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) indices of the True runs in a boolean array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def energy_speech_intervals(
    audio: np.ndarray, sample_rate: int, config: SliceConfig
) -> list[tuple[float, float]]:
    """Speech by frame energy: above a level relative to the loud frames, with hysteresis."""
    levels, frame_s = frame_power(to_mono(audio), sample_rate)
    levels = to_db(levels)
    loud = float(np.percentile(levels, 99))
    floor = float(np.percentile(levels, 5))
    # Enter speech well above the noise floor; stay in it down to a lower level.
    enter_db = max(loud + config.energy_threshold_db, floor + 10)
    stay_db = max(enter_db - 6, floor + 5)
    starts, ends = _runs(levels > stay_db)
    entered = np.concatenate([[0], np.cumsum(levels > enter_db)])
    keep = entered[ends] > entered[starts]
    starts, ends = starts[keep], ends[keep]
    if starts.size == 0:
        return []
    # Close pauses shorter than min_silence_s, then drop blips shorter than min_speech_s.
    pause_ok = (starts[1:] - ends[:-1]) * frame_s >= config.min_silence_s
    starts = starts[np.concatenate([[True], pause_ok])]
    ends = ends[np.concatenate([pause_ok, [True]])]
    duration_s = len(audio) / sample_rate
    intervals = [
        (float(s * frame_s), min(float(e * frame_s), duration_s))
        for s, e in zip(starts, ends, strict=True)
    ]
    return [(s, e) for s, e in intervals if e - s >= config.min_speech_s]


def group_speech(
    speech: list[tuple[float, float]], duration_s: float, config: SliceConfig
) -> list[tuple[float, float]]:
    """Join speech closer than merge_gap_s, and too-short pieces with a near neighbour."""

    def padded_length(start: float, end: float) -> float:
        return end - start + min(start, config.pad_s) + min(duration_s - end, config.pad_s)

    groups = [list(speech[0])]
    for start, end in speech[1:]:
        group = groups[-1]
        gap = start - group[1]
        short = min(padded_length(*group), padded_length(start, end)) < config.min_s
        fits = padded_length(group[0], end) <= config.max_s
        if fits and (gap < config.merge_gap_s or (short and gap <= config.max_fragment_gap_s)):
            group[1] = end
        else:
            groups.append([start, end])
    return [(start, end) for start, end in groups]


def pad_groups(
    groups: list[tuple[float, float]], duration_s: float, pad_s: float
) -> list[tuple[float, float]]:
    """Add pad_s of context each side, never past the file or the middle of a pause."""
    padded = []
    for index, (start, end) in enumerate(groups):
        low = (groups[index - 1][1] + start) / 2 if index else 0.0
        high = (end + groups[index + 1][0]) / 2 if index + 1 < len(groups) else duration_s
        padded.append((max(start - pad_s, low), min(end + pad_s, high)))
    return padded


def split_at_quiet_points(
    start: float, end: float, quiet_db: np.ndarray, frame_s: float, config: SliceConfig
) -> list[tuple[float, float]]:
    """Split an over-long span into pieces of min_s..max_s, each cut at the quietest frame."""
    pieces = []
    while end - start > config.max_s:
        ideal = start + (end - start) / math.ceil((end - start) / config.max_s)
        low, high = start + config.min_s, min(start + config.max_s, end - config.min_s)
        frames = np.arange(math.ceil(low / frame_s - 0.5), math.floor(high / frame_s - 0.5) + 1)
        frames = frames[frames < len(quiet_db)]
        if frames.size:
            centres = (frames + 0.5) * frame_s
            cost = quiet_db[frames] + BALANCE_DB_PER_S * np.abs(centres - ideal)
            cut = float(centres[np.argmin(cost)])
        else:
            cut = ideal
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces


def find_segments(
    audio: np.ndarray,
    sample_rate: int,
    config: SliceConfig,
    detector: VoiceActivityDetector | None = None,
) -> list[Segment]:
    """Utterance spans of min_s..max_s (one shorter span only when the whole input is shorter).

    Pass one `detector` for many recordings to load the VAD model once. Raises AudioError
    when there is no usable speech.
    """
    audio = to_mono(audio)
    duration_s = len(audio) / sample_rate
    check_not_silent(audio, "The recording")
    detector = detector or VoiceActivityDetector(config)
    speech = detector.speech_intervals(audio, sample_rate)
    if not speech:
        raise AudioError(f"No speech found by the {detector.method} detector.")
    spans = pad_groups(group_speech(speech, duration_s, config), duration_s, config.pad_s)
    if duration_s < config.min_s:
        return [Segment(spans[0][0], spans[-1][1])]
    power, frame_s = frame_power(audio, sample_rate)
    kernel = np.ones(QUIET_SMOOTHING_FRAMES) / QUIET_SMOOTHING_FRAMES
    quiet_db = to_db(np.convolve(power, kernel, mode="same"))
    segments = []
    for start, end in spans:
        for piece in split_at_quiet_points(start, end, quiet_db, frame_s, config):
            if piece[1] - piece[0] >= config.min_s:
                segments.append(Segment(*piece))
            else:
                logger.debug("Dropped a %.2f s fragment at %.2f s.", piece[1] - piece[0], piece[0])
    if not segments:
        raise AudioError(f"Speech found, but no utterance of at least {config.min_s:g} s.")
    return segments


def slice_recording(
    recording: Path,
    out_dir: Path,
    speaker: str,
    config: SliceConfig,
    detector: VoiceActivityDetector | None = None,
) -> list[SliceInfo]:
    """Write out_dir/<recording stem>_<index:04d>.wav (native rate, atomically) per utterance.

    Slices left over from an earlier run of the same recording with more utterances are removed.
    """
    recording, out_dir = Path(recording), Path(out_dir)
    audio, rate = load_audio(recording)
    segments = find_segments(audio, rate, config, detector)
    slices = []
    for index, segment in enumerate(segments):
        first, last = round(segment.start_s * rate), round(segment.end_s * rate)
        path = save_wav(out_dir / f"{recording.stem}_{index:04d}.wav", audio[first:last], rate)
        slices.append(
            SliceInfo(path, first / rate, last / rate, rate, (last - first) / rate, speaker)
        )
    remove_stale_slices(out_dir, recording.stem, len(slices))
    total_s = sum(info.duration_s for info in slices)
    logger.info("Sliced %s into %d utterances (%.1f s).", recording.name, len(slices), total_s)
    return slices


def remove_stale_slices(out_dir: Path, stem: str, count: int) -> list[Path]:
    """Delete <stem>_<index>.wav files with index >= count (from an earlier, longer slicing)."""
    pattern = re.compile(re.escape(stem) + r"_(\d{4,})\.wav")
    stale = []
    for path in out_dir.glob(f"{glob_escape(stem)}_*.wav"):
        match = pattern.fullmatch(path.name)
        if match and int(match.group(1)) >= count:
            path.unlink(missing_ok=True)
            stale.append(path)
    if stale:
        logger.info("Removed %d stale slices of %s.", len(stale), stem)
    return stale


def glob_escape(text: str) -> str:
    """Escape glob wildcards in a literal file-name part."""
    return re.sub(r"([*?\[])", r"[\1]", text)
