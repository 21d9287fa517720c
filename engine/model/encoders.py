"""Text encoder (`enc_p`, with BERT and emotion inputs) and posterior encoder (`enc_q`) of 2.2."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from vector_quantize_pytorch import VectorQuantize

from engine.constants import BERT_HIDDEN_SIZE, CLAP_EMBEDDING_SIZE
from engine.model.attentions import Encoder
from engine.model.commons import sequence_mask
from engine.model.modules import WN

EMOTION_HIDDEN = 1028  # 2.2's width (sic: not 1024)


def build_emotion_quantizer() -> VectorQuantize:
    """The emotion codebook exactly as 2.2 builds it (these arguments shape the state dict)."""
    return VectorQuantize(
        dim=CLAP_EMBEDDING_SIZE,
        codebook_size=64,
        codebook_dim=32,
        commitment_weight=0.1,
        decay=0.85,
        heads=32,
        kmeans_iters=20,
        separate_codebook_per_head=True,
        stochastic_sample_codes=True,
        threshold_ema_dead_code=2,
    )


class GatedMLP(nn.Module):
    """SwiGLU feed-forward: c_proj(silu(c_fc1 x) * c_fc2 x)."""

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.c_fc1 = nn.Linear(dim, hidden_dim, bias=False)
        self.c_fc2 = nn.Linear(dim, hidden_dim, bias=False)
        self.c_proj = nn.Linear(hidden_dim, dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.c_proj(F.silu(self.c_fc1(x)) * self.c_fc2(x))


class ResidualMLPBlock(nn.Module):
    """Pre-norm residual gated MLP (2.2's `Block`)."""

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.mlp = GatedMLP(dim, hidden_dim)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.mlp(self.norm(x))


def build_emotion_feature_net() -> nn.Sequential:
    """CLAP embedding [b, 512] -> [b, 512] before quantisation (indices are state-dict keys)."""
    return nn.Sequential(
        nn.Linear(CLAP_EMBEDDING_SIZE, EMOTION_HIDDEN, bias=False),
        nn.GELU(),
        nn.LayerNorm(EMOTION_HIDDEN),
        ResidualMLPBlock(EMOTION_HIDDEN, 512),
        nn.Linear(EMOTION_HIDDEN, CLAP_EMBEDDING_SIZE, bias=False),
    )


class TextEncoder(nn.Module):
    """Phones, tones, languages, three BERT streams and quantised emotion -> prior per phone."""

    def __init__(
        self,
        n_vocab: int,
        n_tones: int,
        n_languages: int,
        out_channels: int,
        hidden_channels: int,
        filter_channels: int,
        n_heads: int,
        n_layers: int,
        kernel_size: int,
        p_dropout: float,
        gin_channels: int = 0,
        use_emotion: bool = True,
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.hidden_channels = hidden_channels
        self.use_emotion = use_emotion
        self.emb = nn.Embedding(n_vocab, hidden_channels)
        self.tone_emb = nn.Embedding(n_tones, hidden_channels)
        self.language_emb = nn.Embedding(n_languages, hidden_channels)
        for embedding in (self.emb, self.tone_emb, self.language_emb):
            nn.init.normal_(embedding.weight, 0.0, hidden_channels**-0.5)
        self.bert_proj = nn.Conv1d(BERT_HIDDEN_SIZE, hidden_channels, 1)
        self.ja_bert_proj = nn.Conv1d(BERT_HIDDEN_SIZE, hidden_channels, 1)
        self.en_bert_proj = nn.Conv1d(BERT_HIDDEN_SIZE, hidden_channels, 1)
        self.in_feature_net = build_emotion_feature_net()
        self.emo_vq = build_emotion_quantizer()
        self.out_feature_net = nn.Linear(CLAP_EMBEDDING_SIZE, hidden_channels)
        self.encoder = Encoder(
            hidden_channels,
            filter_channels,
            n_heads,
            n_layers,
            kernel_size,
            p_dropout,
            gin_channels=gin_channels,
        )
        self.proj = nn.Conv1d(hidden_channels, out_channels * 2, 1)

    def embed_emotion(self, emo: Tensor) -> tuple[Tensor, Tensor]:
        """CLAP embedding [b, 512] -> (emotion vector [b, 1, h], commitment loss scalar)."""
        if emo.dim() != 2 or emo.size(-1) != CLAP_EMBEDDING_SIZE:
            raise ValueError(f"emo must be [batch, {CLAP_EMBEDDING_SIZE}], got {list(emo.shape)}")
        features = self.in_feature_net(emo).unsqueeze(1)  # [b, 1, 512]
        quantized, _, commit_loss = self.emo_vq(features)
        return self.out_feature_net(quantized), commit_loss.mean()

    def forward(
        self,
        x: Tensor,
        x_lengths: Tensor,
        tone: Tensor,
        language: Tensor,
        bert: Tensor,
        ja_bert: Tensor,
        en_bert: Tensor,
        emo: Tensor,
        g: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Ids [b, t], BERT [b, 1024, t], emo [b, 512] -> (hidden, m_p, logs_p, x_mask, commit).

        Without emotion input (a model trained with no CLAP) the emotion term is left out: the
        codebook's output for a constant input is a constant vector that, measured, had 50x
        the norm of a phone embedding and drowned the phones out before the first layer norm.
        """
        if self.use_emotion:
            emotion, commit_loss = self.embed_emotion(emo)
        else:
            emotion = torch.zeros((), device=x.device)
            commit_loss = torch.zeros((), device=x.device)
        embedded = (
            self.emb(x)
            + self.tone_emb(tone)
            + self.language_emb(language)
            + self.bert_proj(bert).transpose(1, 2)
            + self.ja_bert_proj(ja_bert).transpose(1, 2)
            + self.en_bert_proj(en_bert).transpose(1, 2)
            + emotion
        ) * math.sqrt(self.hidden_channels)  # [b, t, h]
        hidden = embedded.transpose(1, 2)  # [b, h, t]
        x_mask = sequence_mask(x_lengths, hidden.size(2)).unsqueeze(1).to(hidden.dtype)  # [b, 1, t]
        hidden = self.encoder(hidden * x_mask, x_mask, g=g)
        stats = self.proj(hidden) * x_mask
        m_p, logs_p = torch.split(stats, self.out_channels, dim=1)
        return hidden, m_p, logs_p, x_mask, commit_loss


class PosteriorEncoder(nn.Module):
    """Linear spectrogram -> posterior latent z (training only)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden_channels: int,
        kernel_size: int,
        dilation_rate: int,
        n_layers: int,
        gin_channels: int = 0,
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.pre = nn.Conv1d(in_channels, hidden_channels, 1)
        self.enc = WN(
            hidden_channels, kernel_size, dilation_rate, n_layers, gin_channels=gin_channels
        )
        self.proj = nn.Conv1d(hidden_channels, out_channels * 2, 1)

    def forward(
        self, y: Tensor, y_lengths: Tensor, g: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """y [b, spec, t] -> (z, m_q, logs_q, y_mask); z is sampled (reparameterisation)."""
        y_mask = sequence_mask(y_lengths, y.size(2)).unsqueeze(1).to(y.dtype)
        hidden = self.enc(self.pre(y) * y_mask, y_mask, g=g)
        stats = self.proj(hidden) * y_mask
        m_q, logs_q = torch.split(stats, self.out_channels, dim=1)
        z = (m_q + torch.randn_like(m_q) * torch.exp(logs_q)) * y_mask
        return z, m_q, logs_q, y_mask
