"""A whole exported voice (`python -m engine export-onnx`) run by ONNX Runtime; the folder layout.

The folder holds three graphs and a manifest (onnx.json):
- text_encoder.onnx: phones, tones, languages [1, phones] int64, bert/ja_bert/en_bert
  [1, 1024, phones], emo [1, 512], speaker_id [1], duration_noise [1, 2, phones] (standard
  normal), sdp_ratio and noise_scale_w (scalars) -> m_p, logs_p [1, inter, phones],
  log_durations [1, 1, phones], g [1, gin, 1]
- flow.onnx: m_p, logs_p and noise [1, inter, frames] (each phone's prior repeated over its
  frames), noise_scale (scalar), g -> z [1, inter, frames]
- decoder.onnx: z [b, inter, frames], g [b, gin, 1] -> audio [b, 1, frames * hop_length]
Between the first two, `frames_per_phone` turns log-durations into frame counts: a
data-dependent length, so it is a few lines of numpy here rather than part of a graph.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.errors import ConfigError, ModelNotFoundError
from engine.files import read_json_object
from engine.model.onnx_decoder import OnnxDecoder, ort_session

ONNX_FORMAT = "sonare-onnx/1"
MANIFEST_FILE = "onnx.json"
GRAPH_FILES = {
    "text_encoder": "text_encoder.onnx",
    "flow": "flow.onnx",
    "decoder": "decoder.onnx",
}

NoiseSource = Callable[[tuple[int, ...]], np.ndarray]


@dataclass(frozen=True)
class OnnxPhones:
    """One utterance's model inputs, as numpy arrays with a batch axis of 1."""

    phone_ids: np.ndarray  # [1, phones] int64
    tone_ids: np.ndarray  # [1, phones] int64
    language_ids: np.ndarray  # [1, phones] int64
    bert: np.ndarray  # [1, 1024, phones] float32
    ja_bert: np.ndarray
    en_bert: np.ndarray
    emo: np.ndarray  # [1, 512] float32


def read_onnx_manifest(folder: str | Path) -> dict[str, Any]:
    """An export folder's onnx.json, checked for its format tag."""
    manifest = read_json_object(Path(folder) / MANIFEST_FILE, "ONNX export manifest")
    if manifest.get("format") != ONNX_FORMAT:
        raise ConfigError(
            f"{Path(folder) / MANIFEST_FILE} is not a Sonare ONNX manifest "
            f"(format {manifest.get('format')!r}, expected {ONNX_FORMAT!r})."
        )
    return manifest


def frames_per_phone(log_durations: np.ndarray, length_scale: float) -> np.ndarray:
    """Frame counts [phones] from log-durations [1, 1, phones], as 2.2 rounds them (ceil)."""
    # float32 like torch's infer, so a duration on a rounding edge rounds the same way
    scaled = np.exp(log_durations[0, 0].astype(np.float32)) * np.float32(length_scale)
    return np.ceil(scaled).astype(np.int64)


class OnnxGenerator:
    """The three graphs of an export folder: phones in, audio out, no torch model needed."""

    def __init__(self, folder: str | Path, threads: int | None = None) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ModelNotFoundError(f"ONNX export folder not found: {self.folder}")
        self.manifest = read_onnx_manifest(self.folder)
        self.text_encoder = ort_session(self.folder / GRAPH_FILES["text_encoder"], threads)
        self.flow = ort_session(self.folder / GRAPH_FILES["flow"], threads)
        self.decoder = OnnxDecoder(self.folder / GRAPH_FILES["decoder"], threads)

    @property
    def sample_rate(self) -> int:
        return int(self.manifest["sample_rate"])

    def speaker_id(self, name: str) -> int:
        """The id of a speaker name; ConfigError listing the names otherwise."""
        speakers = self.manifest["speakers"]
        if name not in speakers:
            raise ConfigError(f"Unknown speaker {name!r}; this voice has {sorted(speakers)}.")
        return int(speakers[name])

    def infer(
        self,
        phones: OnnxPhones,
        speaker_id: int,
        noise: NoiseSource,
        sdp_ratio: float = 0.2,
        noise_scale: float = 0.6,
        noise_scale_w: float = 0.8,
        length_scale: float = 1.0,
    ) -> np.ndarray:
        """Audio [samples] float32 for one utterance, as SynthesizerTrn.infer computes it."""
        z, g = self.infer_latent(
            phones, speaker_id, noise, sdp_ratio, noise_scale, noise_scale_w, length_scale
        )
        return self.decoder(torch.from_numpy(z), torch.from_numpy(g))[0, 0].numpy()

    def infer_latent(
        self,
        phones: OnnxPhones,
        speaker_id: int,
        noise: NoiseSource,
        sdp_ratio: float = 0.2,
        noise_scale: float = 0.6,
        noise_scale_w: float = 0.8,
        length_scale: float = 1.0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The latent z [1, inter, frames] and speaker g [1, gin, 1] (SynthesizerTrn.infer_latent).

        noise(shape) gives standard normal draws: the durations' [1, 2, phones] first (only when
        sdp_ratio is not 0, as in torch), then the latent's [1, inter, frames]. The same draws
        give torch's output (tests/model/test_onnx_export.py makes them from a torch seed).
        """
        count = phones.phone_ids.shape[1]
        if sdp_ratio != 0:
            duration_noise = noise((1, 2, count)).astype(np.float32)
        else:
            duration_noise = np.zeros((1, 2, count), np.float32)
        m_p, logs_p, log_durations, g = self.text_encoder.run(
            ["m_p", "logs_p", "log_durations", "g"],
            {
                **{key: np.ascontiguousarray(value) for key, value in vars(phones).items()},
                "speaker_id": np.array([speaker_id], np.int64),
                "duration_noise": duration_noise,
                "sdp_ratio": np.array(sdp_ratio, np.float32),
                "noise_scale_w": np.array(noise_scale_w, np.float32),
            },
        )
        repeats = frames_per_phone(log_durations, length_scale)
        if repeats.sum() == 0:  # torch keeps one frame whose prior is zero
            m_p, logs_p, repeats = m_p[..., :1] * 0, logs_p[..., :1] * 0, np.ones(1, np.int64)
        m_p, logs_p = np.repeat(m_p, repeats, axis=-1), np.repeat(logs_p, repeats, axis=-1)
        (z,) = self.flow.run(
            ["z"],
            {
                "m_p": m_p,
                "logs_p": logs_p,
                "noise": noise(m_p.shape).astype(np.float32),
                "noise_scale": np.array(noise_scale, np.float32),
                "g": g,
            },
        )
        return z, g


__all__ = [
    "GRAPH_FILES",
    "MANIFEST_FILE",
    "ONNX_FORMAT",
    "OnnxGenerator",
    "OnnxPhones",
    "frames_per_phone",
    "read_onnx_manifest",
]
