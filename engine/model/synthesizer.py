"""The Bert-VITS2 2.2 generator (`SynthesizerTrn`): text encoder, durations, flow, decoder."""

from __future__ import annotations

import logging
import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from engine.model.alignment import maximum_path
from engine.model.commons import generate_path, rand_slice_segments, sequence_mask
from engine.model.config import ModelConfig
from engine.model.decoder import HifiGanDecoder
from engine.model.duration import DurationPredictor, StochasticDurationPredictor
from engine.model.encoders import PosteriorEncoder, TextEncoder
from engine.model.flows import build_residual_coupling_block, build_transformer_coupling_block
from engine.model.weight_norm import fold_weight_norm

logger = logging.getLogger(__name__)

POSTERIOR_LAYERS = 16  # 2.2 hard-codes these (n_layers_q in the config is not read)
POSTERIOR_KERNEL = 5
FLOW_KERNEL = 5
SDP_FILTER_CHANNELS = 192  # passed by 2.2 but overridden by in_channels inside its SDP
SDP_DROPOUT = 0.5
DP_FILTER_CHANNELS = 256
DP_DROPOUT = 0.5


class InferenceOutput(NamedTuple):
    """What `infer` returns, in 2.2's order: audio first."""

    audio: Tensor  # [b, 1, samples]
    attn: Tensor  # [b, 1, t_y, t_x]
    y_mask: Tensor  # [b, 1, t_y]
    latents: tuple[Tensor, Tensor, Tensor, Tensor]  # (z, z_p, m_p, logs_p), each [b, inter, t_y]


class LatentOutput(NamedTuple):
    """infer() before the decoder: the latent z, the speaker vector and the alignment."""

    z: Tensor  # [b, inter, t_y], unmasked
    g: Tensor | None  # [b, gin, 1]
    attn: Tensor  # [b, 1, t_y, t_x]
    y_mask: Tensor  # [b, 1, t_y]
    z_p: Tensor
    m_p: Tensor
    logs_p: Tensor


class TrainingOutput(NamedTuple):
    """What `forward` returns, in 2.2's order."""

    audio: Tensor  # [b, 1, segment_frames * hop]
    duration_loss: Tensor  # [b]
    attn: Tensor  # [b, 1, t_y, t_x]
    slice_starts: Tensor  # [b], frame index of each decoded segment
    x_mask: Tensor
    y_mask: Tensor
    latents: tuple[
        Tensor, Tensor, Tensor, Tensor, Tensor, Tensor
    ]  # z, z_p, m_p, logs_p, m_q, logs_q
    duration_features: tuple[Tensor, Tensor, Tensor]  # (text hidden, predicted logw, target logw)
    g: Tensor  # [b, gin, 1]
    commit_loss: Tensor  # emotion VQ commitment loss


class SynthesizerTrn(nn.Module):
    """Bert-VITS2 2.2 generator; attribute names match 2.2 so its checkpoints load strictly."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.n_speakers < 1:
            raise ValueError(
                "Sonare needs n_speakers >= 1 (2.2's reference-encoder mode is unsupported)"
            )
        self.config = config
        self.current_mas_noise_scale = (
            config.mas_noise_scale_initial if config.use_noise_scaled_mas else 0.0
        )
        self.enc_p = TextEncoder(
            config.n_vocab,
            config.n_tones,
            config.n_languages,
            config.inter_channels,
            config.hidden_channels,
            config.filter_channels,
            config.n_heads,
            config.n_layers,
            config.kernel_size,
            config.p_dropout,
            gin_channels=config.encoder_gin_channels,
            use_emotion=config.use_clap_features,
        )
        self.dec = HifiGanDecoder(
            config.inter_channels,
            config.resblock,
            config.resblock_kernel_sizes,
            config.resblock_dilation_sizes,
            config.upsample_rates,
            config.upsample_initial_channel,
            config.upsample_kernel_sizes,
            gin_channels=config.gin_channels,
        )
        self.enc_q = PosteriorEncoder(
            config.spec_channels,
            config.inter_channels,
            config.hidden_channels,
            POSTERIOR_KERNEL,
            1,
            POSTERIOR_LAYERS,
            gin_channels=config.gin_channels,
        )
        if config.use_transformer_flow:
            self.flow = build_transformer_coupling_block(
                config.inter_channels,
                config.hidden_channels,
                config.filter_channels,
                config.n_heads,
                config.n_layers_trans_flow,
                FLOW_KERNEL,
                config.p_dropout,
                config.n_flow_layer,
                config.gin_channels,
            )
        else:
            self.flow = build_residual_coupling_block(
                config.inter_channels,
                config.hidden_channels,
                FLOW_KERNEL,
                1,
                config.n_flow_layer,  # 2.2 passes n_flow_layer as the WaveNet depth here
                4,
                config.gin_channels,
            )
        self.sdp = StochasticDurationPredictor(
            config.hidden_channels, 3, SDP_DROPOUT, 4, gin_channels=config.gin_channels
        )
        self.dp = DurationPredictor(
            config.hidden_channels,
            DP_FILTER_CHANNELS,
            3,
            DP_DROPOUT,
            gin_channels=config.gin_channels,
        )
        self.emb_g = nn.Embedding(config.n_speakers, config.gin_channels)

    def speaker_embedding(self, sid: Tensor) -> Tensor:
        """Speaker ids [b] -> conditioning vectors [b, gin, 1]."""
        if int(sid.min()) < 0 or int(sid.max()) >= self.config.n_speakers:
            raise ValueError(
                f"speaker id out of range [0, {self.config.n_speakers}): {sid.tolist()}"
            )
        return self.emb_g(sid).unsqueeze(-1)

    def forward(
        self,
        x: Tensor,
        x_lengths: Tensor,
        y: Tensor,
        y_lengths: Tensor,
        sid: Tensor,
        tone: Tensor,
        language: Tensor,
        bert: Tensor,
        ja_bert: Tensor,
        en_bert: Tensor,
        emo: Tensor,
    ) -> TrainingOutput:
        """Training pass on linear spectrograms y [b, spec, t_y]; decodes one random segment."""
        g = self.speaker_embedding(sid)
        hidden, m_p, logs_p, x_mask, commit_loss = self.enc_p(
            x, x_lengths, tone, language, bert, ja_bert, en_bert, emo, g=g
        )
        z, m_q, logs_q, y_mask = self.enc_q(y, y_lengths, g=g)
        z_p = self.flow(z, y_mask, g=g)

        attn = self._align(z_p, m_p, logs_p, x_mask, y_mask)  # [b, 1, t_y, t_x]
        durations = attn.sum(2)  # [b, 1, t_x]
        sdp_loss = self.sdp(hidden, x_mask, durations, g=g) / torch.sum(x_mask)
        target_logw = torch.log(durations + 1e-6) * x_mask
        predicted_logw = self.dp(hidden, x_mask, g=g)
        dp_loss = torch.sum((predicted_logw - target_logw) ** 2, [1, 2]) / torch.sum(x_mask)

        m_p = torch.matmul(attn.squeeze(1), m_p.transpose(1, 2)).transpose(1, 2)  # [b, d, t_y]
        logs_p = torch.matmul(attn.squeeze(1), logs_p.transpose(1, 2)).transpose(1, 2)
        z_slice, slice_starts = rand_slice_segments(z, y_lengths, self.config.segment_frames)
        audio = self.dec(z_slice, g=g)
        return TrainingOutput(
            audio,
            dp_loss + sdp_loss,
            attn,
            slice_starts,
            x_mask,
            y_mask,
            (z, z_p, m_p, logs_p, m_q, logs_q),
            (hidden, predicted_logw, target_logw),
            g,
            commit_loss,
        )

    @torch.no_grad()
    def _align(
        self, z_p: Tensor, m_p: Tensor, logs_p: Tensor, x_mask: Tensor, y_mask: Tensor
    ) -> Tensor:
        """Monotonic alignment maximising the prior log-likelihood of z_p (optionally noised).

        Always in float32, autocast or not: summed over 192 channels the quadratic term passes
        float16's 65504 as soon as the prior's variance gets small, and the path through
        -inf scores is silently degenerate while every loss stays finite.
        """
        with torch.autocast(z_p.device.type, enabled=False):
            return self._align_fp32(z_p.float(), m_p.float(), logs_p.float(), x_mask, y_mask)

    def _align_fp32(
        self, z_p: Tensor, m_p: Tensor, logs_p: Tensor, x_mask: Tensor, y_mask: Tensor
    ) -> Tensor:
        inv_var = torch.exp(-2 * logs_p)  # [b, d, t_x]
        # log N(z_p | m_p, s_p) summed over channels, for every (frame, token) pair: [b, t_y, t_x]
        const_term = torch.sum(-0.5 * math.log(2 * math.pi) - logs_p, [1], keepdim=True)
        quadratic = torch.matmul(-0.5 * (z_p**2).transpose(1, 2), inv_var)
        cross = torch.matmul(z_p.transpose(1, 2), m_p * inv_var)
        mean_term = torch.sum(-0.5 * (m_p**2) * inv_var, [1], keepdim=True)
        log_likelihood = const_term + quadratic + cross + mean_term
        if self.config.use_noise_scaled_mas and self.current_mas_noise_scale > 0:
            noise = torch.std(log_likelihood) * torch.randn_like(log_likelihood)
            log_likelihood = log_likelihood + noise * self.current_mas_noise_scale
        attn_mask = x_mask.unsqueeze(2) * y_mask.unsqueeze(-1)  # [b, 1, t_y, t_x]
        return maximum_path(log_likelihood, attn_mask.squeeze(1)).unsqueeze(1)

    @torch.no_grad()
    def infer(
        self,
        x: Tensor,
        x_lengths: Tensor,
        sid: Tensor,
        tone: Tensor,
        language: Tensor,
        bert: Tensor,
        ja_bert: Tensor,
        en_bert: Tensor,
        emo: Tensor,
        noise_scale: float = 0.667,
        length_scale: float = 1.0,
        noise_scale_w: float = 0.8,
        max_len: int | None = None,
        sdp_ratio: float = 0.0,
        y: Tensor | None = None,
    ) -> InferenceOutput:
        """Synthesize audio [b, 1, samples] from phone ids [b, t], with 2.2's semantics.

        `y` is accepted for signature compatibility; 2.2 reads it only without speaker embeddings.
        """
        del y
        latent = self.infer_latent(
            x, x_lengths, sid, tone, language, bert, ja_bert, en_bert, emo,
            noise_scale, length_scale, noise_scale_w, sdp_ratio,
        )  # fmt: skip
        audio = self.dec((latent.z * latent.y_mask)[:, :, :max_len], g=latent.g)
        return InferenceOutput(
            audio, latent.attn, latent.y_mask, (latent.z, latent.z_p, latent.m_p, latent.logs_p)
        )

    @torch.no_grad()
    def infer_latent(
        self,
        x: Tensor,
        x_lengths: Tensor,
        sid: Tensor,
        tone: Tensor,
        language: Tensor,
        bert: Tensor,
        ja_bert: Tensor,
        en_bert: Tensor,
        emo: Tensor,
        noise_scale: float = 0.667,
        length_scale: float = 1.0,
        noise_scale_w: float = 0.8,
        sdp_ratio: float = 0.0,
        max_frames: int | None = None,
    ) -> LatentOutput:
        """infer() up to the decoder (streaming decodes the latent itself, piece by piece).

        max_frames: keep only the first frames before the flow. Not 2.2's semantics (its max_len
        cuts after the flow), but it bounds the flow's attention, which is quadratic in frames,
        when an untrained duration predictor asks for very long output (training samples).
        """
        g = self.speaker_embedding(sid)
        hidden, m_p, logs_p, x_mask, _ = self.enc_p(
            x, x_lengths, tone, language, bert, ja_bert, en_bert, emo, g=g
        )
        logw = self.predict_log_durations(hidden, x_mask, g, sdp_ratio, noise_scale_w)
        durations = torch.ceil(torch.exp(logw) * x_mask * length_scale)  # [b, 1, t_x]
        y_lengths = torch.clamp_min(torch.sum(durations, [1, 2]), 1).long()
        y_mask = sequence_mask(y_lengths).unsqueeze(1).to(x_mask.dtype)  # [b, 1, t_y]
        attn_mask = x_mask.unsqueeze(2) * y_mask.unsqueeze(-1)
        attn = generate_path(durations, attn_mask)  # [b, 1, t_y, t_x]

        frames_by_token = attn.squeeze(1)  # [b, t_y, t_x]
        m_p = torch.matmul(frames_by_token, m_p.transpose(1, 2)).transpose(1, 2)  # [b, d, t_y]
        logs_p = torch.matmul(frames_by_token, logs_p.transpose(1, 2)).transpose(1, 2)
        z_p = m_p + torch.randn_like(m_p) * torch.exp(logs_p) * noise_scale
        if max_frames is not None and z_p.size(-1) > max_frames:
            z_p, y_mask, attn = (
                z_p[..., :max_frames],
                y_mask[..., :max_frames],
                attn[:, :, :max_frames],
            )
            m_p, logs_p = m_p[..., :max_frames], logs_p[..., :max_frames]
        z = self.flow.inverse(z_p, y_mask, g=g)
        return LatentOutput(z, g, attn, y_mask, z_p, m_p, logs_p)

    def predict_log_durations(
        self, hidden: Tensor, x_mask: Tensor, g: Tensor, sdp_ratio: float, noise_scale_w: float
    ) -> Tensor:
        """Mix of the stochastic and deterministic predictors, [b, 1, t_x]."""
        # 2.2 always runs both; skipping the unused one changes no output and saves time.
        logw = torch.zeros_like(x_mask)
        if sdp_ratio != 0:
            logw = logw + self.sdp.infer(hidden, x_mask, g=g, noise_scale=noise_scale_w) * sdp_ratio
        if sdp_ratio != 1:
            logw = logw + self.dp(hidden, x_mask, g=g) * (1 - sdp_ratio)
        return logw

    def prepare_for_inference(self, decoder: str = "auto") -> SynthesizerTrn:
        """Eval mode, weight norm folded, no gradients, decoder backend chosen; returns self.

        decoder: the CPU decoder arithmetic (engine.model.decoder_backend): "auto" is bf16 on
        CPUs with native bf16, fp32 elsewhere.
        """
        self.eval()
        folded = fold_weight_norm(self)
        self.requires_grad_(False)
        logger.debug("Folded weight norm in %d layers", folded)
        backend = self.dec.set_inference_backend(decoder)
        logger.debug("Decoder backend for CPU inference: %s", backend)
        return self
