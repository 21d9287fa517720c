"""Recordings as a person makes them: a corpus voice reading sentences one after another, with
pauses, into files of about a minute each. What the clone benchmark and tests feed `clone`
instead of someone's phone takes.

    files = record_person("awb", "takes/", minutes=5)
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.audio import resample, save_wav
from engine.corpus.build import corpus_sentences
from engine.corpus.voices import corpus_voice

FILE_S = 60.0  # seconds of audio per recording file
RATE = 22050


@dataclass(frozen=True)
class PersonRecordings:
    """The files written, the sentences read in them (in order) and the seconds of speech."""

    files: list[Path]
    sentences: list[str]
    speech_s: float


def record_person(
    speaker: str,
    folder: str | Path,
    minutes: float,
    seed: int = 0,
    skip: int = 0,
    sentences: list[str] | None = None,
) -> PersonRecordings:
    """`speaker` (a corpus voice) reads shuffled sentences (after the first `skip` of the
    shuffle, so two calls can use disjoint text) until `minutes` of speech are in `folder`
    as take_NN.wav files; pauses of 0.4-1.2 s between sentences. Existing takes are replaced."""
    folder = Path(folder)
    order = list(sentences if sentences is not None else corpus_sentences("EN"))
    random.Random(seed).shuffle(order)
    order = order[skip:]
    voice = corpus_voice(speaker).speaker()
    rng = random.Random(seed + 1)
    files, used, pieces, speech_s, file_s = [], [], [], 0.0, 0.0

    def flush() -> None:
        nonlocal pieces, file_s
        if pieces:
            path = folder / f"take_{len(files):02d}.wav"
            files.append(save_wav(path, np.concatenate(pieces), RATE))
            pieces, file_s = [], 0.0

    for text in order:
        if speech_s >= minutes * 60:
            break
        rate, audio = voice.speak(text)
        audio = resample(audio, rate, RATE)
        pause = np.zeros(int(rng.uniform(0.4, 1.2) * RATE), dtype=np.float32)
        pieces += [pause, audio]
        used.append(text)
        speech_s += len(audio) / RATE
        file_s += (len(audio) + len(pause)) / RATE
        if file_s >= FILE_S:
            pieces.append(np.zeros(int(0.5 * RATE), dtype=np.float32))
            flush()
    if pieces:
        pieces.append(np.zeros(int(0.5 * RATE), dtype=np.float32))
        flush()
    if speech_s < minutes * 60:
        raise ValueError(f"The sentence list ran out at {speech_s / 60:.1f} minutes of speech.")
    return PersonRecordings(files, used, round(speech_s, 2))
