"""Mixed precision for the training loop: one autocast, one GradScaler, one update per step.

Why the loop owns this instead of Accelerate: Accelerate's optimizer wrapper calls
`scaler.update()` inside every `optimizer.step()`, and a Bert-VITS2 step steps three optimizers
(D and the duration discriminator together, then G). After the first update the second
optimizer's "already unscaled" mark is gone, so its gradients were divided by the loss scale a
second time (and clipping raised "unscale_() has already been called"). Bert-VITS2 2.2 keeps one
GradScaler and updates it once, after the generator; so does this module. The same code runs on
CPU (`torch.autocast("cpu", torch.float16)`, `GradScaler("cpu")`), which is how it is tested
without a GPU.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from engine.errors import ConfigError

logger = logging.getLogger(__name__)

DTYPES = {"no": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def inner_optimizer(optimizer: Any) -> torch.optim.Optimizer:
    """The torch optimizer inside Accelerate's wrapper (or the optimizer itself)."""
    return getattr(optimizer, "optimizer", optimizer)


@dataclass
class Precision:
    """Autocast dtype and loss scaler of a run on `device_type` ("cuda", "cpu", ...)."""

    mode: str
    device_type: str
    scaler: torch.amp.GradScaler = field(init=False)

    def __post_init__(self) -> None:
        if self.mode not in DTYPES:
            raise ConfigError(f"mixed precision must be one of {tuple(DTYPES)}, got {self.mode!r}")
        # Only float16 needs loss scaling: bfloat16 has float32's exponent range.
        self.scaler = torch.amp.GradScaler(self.device_type, enabled=self.mode == "fp16")

    @property
    def dtype(self) -> torch.dtype | None:
        return DTYPES[self.mode]

    @property
    def scaling(self) -> bool:
        """Whether losses are scaled (float16)."""
        return self.scaler.is_enabled()

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """Forward passes in the run's precision (a no-op in fp32)."""
        if self.dtype is None:
            yield
            return
        with torch.autocast(self.device_type, dtype=self.dtype):
            yield

    def scale(self, loss: Tensor) -> Tensor:
        return self.scaler.scale(loss)

    def unscale(self, optimizers: list[Any]) -> None:
        """Divide the gradients by the loss scale, once, before measuring or clipping them."""
        for optimizer in optimizers:
            self.scaler.unscale_(inner_optimizer(optimizer))

    def step(self, optimizers: list[Any]) -> None:
        """Step each optimizer (GradScaler skips one whose gradients hold inf/NaN)."""
        for optimizer in optimizers:
            self.scaler.step(inner_optimizer(optimizer))

    def update(self) -> None:
        """Once per training step, after every optimizer has stepped."""
        self.scaler.update()

    def state_dict(self) -> dict[str, Any]:
        return self.scaler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:  # a run saved in fp32 has an empty scaler state
            self.scaler.load_state_dict(state)


def enable_tf32(device: torch.device) -> bool:
    """TF32 matmuls and convolutions on Ampere or newer (2.2's float32 runs got them by default
    from the PyTorch of its day); returns whether it was enabled. Process-wide: call it only in
    a training process."""
    if device.type != "cuda" or torch.cuda.get_device_capability(device)[0] < 8:
        return False
    torch.backends.cuda.matmul.fp32_precision = "tf32"
    torch.backends.cudnn.conv.fp32_precision = "tf32"
    return True
