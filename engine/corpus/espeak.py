"""espeak-ng as a speaker: text in, a waveform out (the engine's synthetic test voice).

espeak-ng is a formant synthesizer from Debian's packages (`apt-get install espeak-ng`); its
output is deterministic for one version, which makes a corpus rebuildable bit for bit.
"""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import soundfile as sf

from engine.errors import SonareError

ESPEAK = "espeak-ng"
ESPEAK_TIMEOUT_S = 60.0


class EspeakError(SonareError, RuntimeError):
    """espeak-ng is missing or failed."""


def espeak_path() -> str:
    """The espeak-ng executable, or an EspeakError saying how to install it."""
    path = shutil.which(ESPEAK)
    if path is None:
        raise EspeakError(
            "espeak-ng is not installed: run `sudo apt-get install espeak-ng` (Debian/Ubuntu)."
        )
    return path


def espeak_version() -> str:
    """espeak-ng's version line, e.g. 'eSpeak NG text-to-speech: 1.51' (without the data path,
    which names the machine, not the program)."""
    result = subprocess.run(
        [espeak_path(), "--version"], capture_output=True, text=True, timeout=ESPEAK_TIMEOUT_S
    )
    return result.stdout.split("Data at:")[0].strip()


def speak(text: str, voice: str, words_per_minute: int = 175) -> tuple[int, np.ndarray]:
    """(sample_rate, float32 mono waveform) of espeak-ng reading `text` with `voice`."""
    if not text.strip():
        raise EspeakError("espeak-ng was given empty text.")
    command = [espeak_path(), "-v", voice, "-s", str(words_per_minute), "--stdout", text]
    try:
        result = subprocess.run(command, capture_output=True, timeout=ESPEAK_TIMEOUT_S, check=True)
    except subprocess.CalledProcessError as error:
        detail = error.stderr.decode("utf-8", "replace").strip()
        raise EspeakError(f"espeak-ng failed for voice {voice!r}: {detail}") from None
    except subprocess.TimeoutExpired:
        raise EspeakError(
            f"espeak-ng took over {ESPEAK_TIMEOUT_S:.0f} s for {text[:40]!r}"
        ) from None
    # espeak-ng writes a WAV header with an unknown length to a pipe; soundfile reads it.
    audio, rate = sf.read(io.BytesIO(result.stdout), dtype="float32", always_2d=True)
    if audio.size == 0:
        raise EspeakError(f"espeak-ng produced no audio for {text[:40]!r} (voice {voice!r}).")
    return int(rate), audio[:, 0]
