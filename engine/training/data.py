"""Training data in 2.2's layout: cleaned lists, per-utterance features, length buckets, padding.

An utterance `x.wav` (44.1 kHz, 16-bit mono) has beside it `x.bert.pt` ([1024, phones] for its
own language, torch.save), `x.emo.npy` ([512, 1] CLAP vector, torch.save despite the name) and
`x.spec.pt` (linear spectrogram, computed and cached here when missing).

A model trained at another rate (the small CPU preset runs at 22.05 kHz) reads the same wavs
resampled on the fly, and caches its spectrograms under a name that records their settings.
A model without BERT or CLAP inputs reads zeros in their place and needs no feature files.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf
import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from engine.audio import resample
from engine.constants import Language
from engine.dataset.labels import CleanedLine, read_cleaned_list
from engine.dataset.layout import DatasetLayout, feature_path
from engine.errors import SonareError
from engine.files import write_atomic
from engine.model.config import AudioConfig
from engine.spectrogram import linear_spectrogram
from engine.text import cleaned_text_to_sequence, intersperse

logger = logging.getLogger(__name__)

BERT_DIM = 1024
EMO_DIM = 512
EMPTY_EMO_FILE = "empty_emo.npy"  # 2.2 ships one; put it in the dataset folder to use it
# 2.2's spectrogram settings: only a spectrogram of exactly these is cached as x.spec.pt.
UPSTREAM_SPEC_SETTINGS = (44100, 2048, 512, 2048)


class DatasetError(SonareError, ValueError):
    """A training dataset that cannot be used as it is (missing or mis-shaped files)."""


class Utterance(NamedTuple):
    """One training example, unpadded."""

    phones: Tensor  # [t_x] long
    spec: Tensor  # [spec_channels, t_y]
    wav: Tensor  # [1, t_y * hop]
    speaker: int
    tones: Tensor  # [t_x]
    languages: Tensor  # [t_x]
    bert: Tensor  # [1024, t_x] ZH stream
    ja_bert: Tensor  # [1024, t_x]
    en_bert: Tensor  # [1024, t_x]
    emo: Tensor  # [512]


class Batch(NamedTuple):
    """Padded batch in 2.2's collate order (sorted by spectrogram length, longest first)."""

    phones: Tensor  # [b, t_x]
    phone_lengths: Tensor  # [b]
    spec: Tensor  # [b, spec_channels, t_y]
    spec_lengths: Tensor
    wav: Tensor  # [b, 1, samples]
    wav_lengths: Tensor
    speakers: Tensor  # [b]
    tones: Tensor
    languages: Tensor
    bert: Tensor  # [b, 1024, t_x]
    ja_bert: Tensor
    en_bert: Tensor
    emo: Tensor  # [b, 512]


def load_torch_tensor(path: Path) -> Tensor:
    """A tensor saved with torch.save (2.2's *.pt and *.emo.npy), or a real .npy file."""
    data = path.read_bytes()
    if data[:6] == b"\x93NUMPY":
        return torch.from_numpy(np.load(io.BytesIO(data)))
    value = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if not isinstance(value, Tensor):
        raise DatasetError(f"{path} does not hold a tensor")
    return value


def read_speaker_ids(dataset_dir: Path, lines: Sequence[CleanedLine]) -> dict[str, int]:
    """data.spk2id of the dataset's config.json, else the listed speakers in sorted order."""
    config_json = DatasetLayout(dataset_dir).config_json
    if config_json.is_file():
        spk2id = json.loads(config_json.read_text(encoding="utf-8")).get("data", {}).get("spk2id")
        if spk2id:
            return {str(name): int(index) for name, index in spk2id.items()}
    return {name: index for index, name in enumerate(sorted({line.speaker for line in lines}))}


@dataclass(frozen=True)
class DataOptions:
    """How the dataset reads its lines (a subset of TrainConfig)."""

    min_text_len: int = 1
    max_text_len: int = 384
    empty_emo_probability: float = 0.1
    cache_spec: bool = True
    bert_features: bool = True  # False: zeros for all three BERT streams (model.use_bert_features)
    clap_features: bool = True  # False: a zero emotion vector (model.use_clap_features)
    seed: int = 0  # of the per-item draws (TrainingDataset.item_generator)


class TrainingDataset(Dataset):
    """2.2's TextAudioSpeakerLoader over one list file of a prepared dataset."""

    def __init__(
        self,
        list_file: Path,
        spk2id: dict[str, int],
        audio: AudioConfig,
        options: DataOptions | None = None,
    ) -> None:
        self.layout = DatasetLayout(Path(list_file).parent)
        self.audio = audio
        self.spk2id = spk2id
        self.options = options or DataOptions()
        self.empty_emo = self._read_empty_emo()
        self.epoch = 0
        self.lines: list[CleanedLine] = []
        self.lengths: list[int] = []  # spectrogram frames, for bucketing
        self._filter(read_cleaned_list(Path(list_file)))

    def _read_empty_emo(self) -> Tensor | None:
        path = self.layout.root / EMPTY_EMO_FILE
        if not self.options.clap_features:
            return None
        if self.options.empty_emo_probability > 0 and not path.is_file():
            logger.info("No %s in %s: emotion vectors are never swapped out", EMPTY_EMO_FILE,
                        self.layout.root)  # fmt: skip
            return None
        return load_torch_tensor(path).reshape(EMO_DIM) if path.is_file() else None

    def _filter(self, lines: list[CleanedLine]) -> None:
        skipped = 0
        for line in lines:
            if line.speaker not in self.spk2id:
                raise DatasetError(f"{line.path}: speaker {line.speaker!r} is not in spk2id")
            if not self.options.min_text_len <= len(line.phones) <= self.options.max_text_len:
                skipped += 1
                continue
            info = sf.info(str(self.layout.resolve(line.path)))
            frames = info.frames * self.audio.sampling_rate // info.samplerate
            self.lines.append(line)
            self.lengths.append(frames // self.audio.hop_length)
        logger.info("Dataset: %d utterances, %d skipped by text length", len(self.lines), skipped)
        if not self.lines:
            raise DatasetError("No usable utterances in the training list")

    def __len__(self) -> int:
        return len(self.lines)

    def set_epoch(self, epoch: int) -> None:
        """Fresh per-item draws for this epoch (see item_generator)."""
        self.epoch = epoch

    def item_generator(self, index: int) -> torch.Generator:
        """The generator of one item's draws (2.2's BERT noise, the empty-emotion swap), seeded
        by (seed, epoch, item) instead of the global RNG: the draws are the same whenever and
        wherever the item is loaded (Accelerate fetches one batch ahead), so a resumed run
        repeats the steps of the run it continues exactly."""
        seed = ((self.options.seed * 1_000_003 + self.epoch) * 1_000_003 + index) % 2**63
        return torch.Generator().manual_seed(seed)

    def __getitem__(self, index: int) -> Utterance:
        line = self.lines[index]
        wav_path = self.layout.resolve(line.path)
        generator = self.item_generator(index)
        phones, tones, languages = self._text(line)
        bert, ja_bert, en_bert = self._bert(wav_path, line.language, len(phones), generator)
        spec, wav = self._audio(wav_path)
        return Utterance(
            phones, spec, wav, self.spk2id[line.speaker], tones, languages,
            bert, ja_bert, en_bert, self._emo(wav_path, generator),
        )  # fmt: skip

    def _text(self, line: CleanedLine) -> tuple[Tensor, Tensor, Tensor]:
        phones, tones, languages = cleaned_text_to_sequence(line.phones, line.tones, line.language)
        if self.audio.add_blank:
            phones, tones, languages = (intersperse(v) for v in (phones, tones, languages))
        return torch.LongTensor(phones), torch.LongTensor(tones), torch.LongTensor(languages)

    def _bert(
        self, wav_path: Path, language: Language, length: int, generator: torch.Generator
    ) -> tuple[Tensor, ...]:
        if not self.options.bert_features:
            return tuple(torch.zeros(BERT_DIM, length) for _ in range(3))
        path = feature_path(wav_path, "bert")
        if not path.is_file():
            raise DatasetError(f"Missing BERT features {path}: run the prepare command")
        spoken = load_torch_tensor(path).float()
        if spoken.shape != (BERT_DIM, length):
            raise DatasetError(
                f"{path} is shaped {tuple(spoken.shape)}, expected ({BERT_DIM}, {length}): "
                "re-run the BERT stage of prepare"
            )
        # As 2.2: the two languages not spoken get uniform noise, not zeros.
        streams = [torch.rand(BERT_DIM, length, generator=generator) for _ in range(3)]
        streams[[Language.ZH, Language.JP, Language.EN].index(language)] = spoken
        return tuple(streams)

    def _emo(self, wav_path: Path, generator: torch.Generator) -> Tensor:
        if not self.options.clap_features:
            return torch.zeros(EMO_DIM)
        swap = float(torch.rand((), generator=generator)) < self.options.empty_emo_probability
        if self.empty_emo is not None and swap:
            return self.empty_emo
        path = feature_path(wav_path, "clap")
        if not path.is_file():
            raise DatasetError(f"Missing emotion features {path}: run the prepare command")
        return load_torch_tensor(path).float().reshape(EMO_DIM)

    def _audio(self, wav_path: Path) -> tuple[Tensor, Tensor]:
        samples, rate = sf.read(str(wav_path), dtype="int16", always_2d=True)
        if samples.shape[1] != 1:
            raise DatasetError(f"{wav_path}: expected mono audio, got {samples.shape[1]} channels")
        audio = samples[:, 0].astype(np.float32) / self.audio.max_wav_value
        if rate != self.audio.sampling_rate:
            # Back to 16-bit steps after resampling, as if the wav had been written at this rate.
            audio = resample(audio, rate, self.audio.sampling_rate)
            audio = np.round(audio * self.audio.max_wav_value) / self.audio.max_wav_value
        wav = torch.from_numpy(audio.astype(np.float32))[None]
        return self._spec(wav_path, wav), wav

    def _spec_path(self, wav_path: Path) -> Path:
        """x.spec.pt for 2.2's settings, else x.spec.<rate>-<fft>-<hop>-<win>.pt."""
        a = self.audio
        settings = (a.sampling_rate, a.filter_length, a.hop_length, a.win_length)
        path = feature_path(wav_path, "spec")
        if settings == UPSTREAM_SPEC_SETTINGS:
            return path
        return path.with_name(
            path.name.replace(".spec.pt", ".spec.{}-{}-{}-{}.pt".format(*settings))
        )

    def _spec(self, wav_path: Path, wav: Tensor) -> Tensor:
        audio, path = self.audio, self._spec_path(wav_path)
        bins = audio.filter_length // 2 + 1
        if path.is_file():
            spec = load_torch_tensor(path)
            if spec.dim() == 2 and spec.size(0) == bins:
                return spec.float()
        spec = linear_spectrogram(wav, audio.filter_length, audio.hop_length, audio.win_length)[0]
        # Cache only where nothing is: a spec of other settings stays for the runs that use it.
        if self.options.cache_spec and not path.exists():
            buffer = io.BytesIO()
            torch.save(spec.contiguous().clone(), buffer)
            write_atomic(path, buffer.getvalue())
        return spec


def collate_batch(items: Sequence[Utterance]) -> Batch:
    """Zero-pad a list of utterances into a Batch, longest spectrogram first (as 2.2)."""
    order = sorted(range(len(items)), key=lambda i: items[i].spec.size(1), reverse=True)
    items = [items[i] for i in order]
    size, max_text = len(items), max(item.phones.size(0) for item in items)
    max_spec, max_wav = max(i.spec.size(1) for i in items), max(i.wav.size(1) for i in items)
    phones, tones, languages = (torch.zeros(size, max_text, dtype=torch.long) for _ in range(3))
    bert, ja_bert, en_bert = (torch.zeros(size, BERT_DIM, max_text) for _ in range(3))
    spec = torch.zeros(size, items[0].spec.size(0), max_spec)
    wav = torch.zeros(size, 1, max_wav)
    for row, item in enumerate(items):
        length = item.phones.size(0)
        for padded, value in ((phones, item.phones), (tones, item.tones),
                              (languages, item.languages)):  # fmt: skip
            padded[row, :length] = value
        for padded, value in ((bert, item.bert), (ja_bert, item.ja_bert), (en_bert, item.en_bert)):
            padded[row, :, :length] = value
        spec[row, :, : item.spec.size(1)] = item.spec
        wav[row, :, : item.wav.size(1)] = item.wav
    return Batch(
        phones,
        torch.tensor([item.phones.size(0) for item in items]),
        spec,
        torch.tensor([item.spec.size(1) for item in items]),
        wav,
        torch.tensor([item.wav.size(1) for item in items]),
        torch.tensor([item.speaker for item in items]),
        tones,
        languages,
        bert,
        ja_bert,
        en_bert,
        torch.stack([item.emo for item in items]),
    )


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar spectrogram length (2.2's DistributedBucketSampler).

    Lengths outside (boundaries[0], boundaries[-1]] are dropped. With `replicas` processes the
    batches come in runs of `replicas` from one bucket: Accelerate hands batch i to process
    i % replicas, so in every step all processes train on the same bucket and none waits for
    another's longer clips. Each bucket is padded by repetition to whole runs.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        boundaries: Sequence[int],
        seed: int = 0,
        replicas: int = 1,
    ) -> None:
        self.batch_size = batch_size
        self.replicas = replicas
        self.seed = seed
        self.epoch = 0
        self.buckets = self._make_buckets(lengths, list(boundaries))
        if not self.buckets:
            raise DatasetError(
                f"No utterance has a length within the buckets {list(boundaries)} (frames)"
            )

    @staticmethod
    def _make_buckets(lengths: Sequence[int], boundaries: list[int]) -> list[list[int]]:
        buckets: list[list[int]] = [[] for _ in range(len(boundaries) - 1)]
        dropped = 0
        for index, length in enumerate(lengths):
            slot = next(
                (b for b in range(len(buckets)) if boundaries[b] < length <= boundaries[b + 1]),
                None,
            )
            if slot is None:
                dropped += 1
            else:
                buckets[slot].append(index)
        if dropped:
            logger.warning("%d utterances fall outside the length buckets and are unused", dropped)
        return [bucket for bucket in buckets if bucket]

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle deterministically for this epoch."""
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        run = self.batch_size * self.replicas  # one step's items over all processes
        runs = []
        for bucket in self.buckets:
            order = torch.randperm(len(bucket), generator=generator).tolist()
            short = -len(order) % run  # repeat items to fill the last run
            order = (order * (1 + short // len(order) + 1))[: len(order) + short]
            runs += [
                [[bucket[i] for i in order[at : at + self.batch_size]]
                 for at in range(start, start + run, self.batch_size)]
                for start in range(0, len(order), run)
            ]  # fmt: skip
        shuffled = torch.randperm(len(runs), generator=generator).tolist()
        return [batch for i in shuffled for batch in runs[i]]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        run = self.batch_size * self.replicas
        return sum(-(-len(bucket) // run) * self.replicas for bucket in self.buckets)
