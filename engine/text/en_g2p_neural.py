"""A numpy GRU encoder-decoder that spells out-of-dictionary English words as ARPAbet phones.

It runs the weights shipped in the g2p_en wheel (`checkpoint20.npz`), the model 2.2 uses for OOV
words, without importing g2p_en (whose import calls `nltk.download`).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

from engine.errors import ModelNotFoundError

WEIGHTS_FILE = "checkpoint20.npz"
MAX_PHONES = 20  # the decoder stops after this many phones, as g2p_en does

GRAPHEMES: tuple[str, ...] = ("<pad>", "<unk>", "</s>", *"abcdefghijklmnopqrstuvwxyz")
_VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW")
_CONSONANTS = (
    "B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG",
    "P", "R", "S", "SH", "T", "TH", "V", "W", "Y", "Z", "ZH",
)  # fmt: skip
# The output vocabulary is sorted ARPAbet plus a stray unstressed "UW" the model was trained with.
PHONEMES: tuple[str, ...] = ("<pad>", "<unk>", "<s>", "</s>") + tuple(
    sorted({v + s for v in _VOWELS for s in "012"} | set(_CONSONANTS) | {"UW"})
)
_START, _END = PHONEMES.index("<s>"), PHONEMES.index("</s>")
_UNKNOWN_GRAPHEME = GRAPHEMES.index("<unk>")
_GRAPHEME_ID = {grapheme: index for index, grapheme in enumerate(GRAPHEMES)}


def find_weights() -> Path:
    """Path of g2p_en's bundled weights, found without importing the package."""
    spec = importlib.util.find_spec("g2p_en")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / WEIGHTS_FILE
        if path.is_file():
            return path
    raise ModelNotFoundError(
        f"The English OOV model ({WEIGHTS_FILE}) was not found: install g2p_en==2.1.0, "
        "whose wheel ships it (Sonare reads the file and never imports g2p_en)."
    )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class _GRU:
    """One PyTorch-layout GRU layer: gates ordered (reset, update, new)."""

    def __init__(self, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray):
        self.w_ih_t, self.w_hh_t = w_ih.T, w_hh.T
        self.b_ih, self.b_hh = b_ih, b_hh
        self.hidden_size = w_hh.shape[1]

    def step(self, x: np.ndarray, h: np.ndarray) -> np.ndarray:
        """x [1, emb], h [1, hidden] -> the next h [1, hidden]."""
        gates_x = x @ self.w_ih_t + self.b_ih  # [1, 3 * hidden]
        gates_h = h @ self.w_hh_t + self.b_hh
        split = 2 * self.hidden_size
        reset, update = np.split(_sigmoid(gates_x[:, :split] + gates_h[:, :split]), 2, axis=-1)
        candidate = np.tanh(gates_x[:, split:] + reset * gates_h[:, split:])
        return (1 - update) * candidate + update * h


class NeuralG2p:
    """Greedy grapheme-to-phoneme decoding of one lowercase word; deterministic."""

    def __init__(self, weights: dict[str, np.ndarray]):
        self.encoder_embedding = weights["enc_emb"]  # [graphemes, emb]
        self.decoder_embedding = weights["dec_emb"]  # [phonemes, emb]
        self.encoder = _GRU(*(weights[f"enc_{k}"] for k in ("w_ih", "w_hh", "b_ih", "b_hh")))
        self.decoder = _GRU(*(weights[f"dec_{k}"] for k in ("w_ih", "w_hh", "b_ih", "b_hh")))
        self.output_t, self.output_bias = weights["fc_w"].T, weights["fc_b"]
        if self.encoder_embedding.shape[0] != len(GRAPHEMES) or self.output_bias.shape != (
            len(PHONEMES),
        ):
            raise ModelNotFoundError("The English OOV model's vocabulary sizes do not match.")

    @classmethod
    def from_file(cls, path: Path) -> NeuralG2p:
        """Load the npz weights (g2p_en's `checkpoint20.npz` layout)."""
        with np.load(path) as archive:
            return cls({name: archive[name] for name in archive.files})

    def predict(self, word: str) -> list[str]:
        """ARPAbet phones with stress digits; characters outside a-z count as unknown."""
        ids = [_GRAPHEME_ID.get(char, _UNKNOWN_GRAPHEME) for char in word]
        ids.append(_GRAPHEME_ID["</s>"])
        h = np.zeros((1, self.encoder.hidden_size), np.float32)
        for grapheme_id in ids:
            h = self.encoder.step(self.encoder_embedding[grapheme_id : grapheme_id + 1], h)
        phones: list[str] = []
        previous = _START
        for _ in range(MAX_PHONES):
            h = self.decoder.step(self.decoder_embedding[previous : previous + 1], h)
            previous = int((h @ self.output_t + self.output_bias).argmax())
            if previous == _END:
                break
            phones.append(PHONEMES[previous])
        return phones


@functools.cache
def load_default_model() -> NeuralG2p:
    """The model from g2p_en's wheel, loaded once per process (read-only afterwards)."""
    return NeuralG2p.from_file(find_weights())
