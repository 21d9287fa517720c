"""Several processes (`accelerate launch --multi_gpu`, torchrun): how the ranks join, and how
each network is wrapped in DistributedDataParallel.

Accelerate applies one set of DDP options to every model it prepares. Sonare's three networks
differ: `find_unused_parameters=True` makes DDP walk the autograd graph after every backward to
find parameters that got no gradient, which costs time, and it is only needed where a network
has such parameters. With it off where one is unused, DDP fails at the next step ("Expected to
have finished reduction in the prior iteration"). So each network is prepared with its own.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs
from torch import nn

from engine.model.config import ModelConfig

logger = logging.getLogger(__name__)


def cpu_processes() -> bool:
    """Whether a launcher (torchrun) started several processes on a machine without a GPU.

    Accelerate builds a CPU process group (gloo) only when asked for the CPU; otherwise each rank
    would see no process group, believe it is the main process, and write the same checkpoints.
    """
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.accelerator.is_available()


def unused_parameter_search(model: ModelConfig) -> tuple[bool, bool, bool]:
    """find_unused_parameters for (generator, discriminator, duration discriminator).

    The generator of a model without CLAP features never runs its emotion network (a constant
    input would swamp the phone embeddings), so those parameters get no gradient. Every
    parameter of the discriminators and of a CLAP model's generator does, in every step
    (tests/training/test_distributed.py checks this against a real step). The generator step
    runs the discriminators unwrapped, so DDP sees one forward and one backward per network.
    """
    return (not model.use_clap_features, False, False)


def prepare_networks(
    accelerator: Accelerator, networks: Sequence[nn.Module], search_unused: Sequence[bool]
) -> list[nn.Module]:
    """Prepare each network with its own DDP options (one process: only the device move)."""
    prepared = []
    for network, search in zip(networks, search_unused, strict=True):
        # Accelerate reads this handler when it wraps a model in DDP, once per prepare call.
        accelerator.ddp_handler = DistributedDataParallelKwargs(find_unused_parameters=search)
        prepared.append(accelerator.prepare(network))
    if accelerator.num_processes > 1:
        logger.info("DDP find_unused_parameters per network: %s", list(search_unused))
    return prepared
