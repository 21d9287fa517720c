"""Length buckets and loading: every clip the slicer can make is trained on; with several
processes every process draws from the same bucket in each step (as 2.2's
DistributedBucketSampler); a GPU gets loader workers and pinned memory."""

from __future__ import annotations

import torch
from accelerate.data_loader import BatchSamplerShard

from engine.prepare.slicing import SliceConfig
from engine.training.config import RunConfig
from engine.training.data import BucketBatchSampler
from tests.training.conftest import ROOT

BOUNDARIES = (32, 300, 400, 500, 600, 700, 800, 900, 1040)


def _bucket_of(length: int) -> int:
    return next(
        b for b in range(len(BOUNDARIES) - 1) if BOUNDARIES[b] < length <= BOUNDARIES[b + 1]
    )


def test_the_longest_slice_fits_the_top_bucket_of_every_preset() -> None:
    for preset in ("train_base.json", "train_small.json"):
        run = RunConfig.from_file(ROOT / "configs" / preset)
        audio = run.audio
        longest = int(SliceConfig().max_s * audio.sampling_rate) // audio.hop_length
        assert longest <= run.train.bucket_boundaries[-1], (preset, longest)
        sampler = BucketBatchSampler([longest, 100], 1, run.train.bucket_boundaries)
        assert sorted(i for batch in sampler for i in batch) == [0, 1]


def test_each_step_of_two_processes_comes_from_one_bucket() -> None:
    lengths = [40 + (i * 37) % 990 for i in range(203)]  # all buckets, uneven sizes
    sampler = BucketBatchSampler(lengths, batch_size=3, boundaries=BOUNDARIES, seed=5, replicas=2)
    sampler.set_epoch(1)
    # Accelerate's own sharding: process p gets batches p, p + 2, p + 4, ...
    shards = [list(BatchSamplerShard(sampler, num_processes=2, process_index=p)) for p in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == len(sampler) // 2
    for first, second in zip(*shards, strict=True):
        assert len(first) == len(second) == 3
        assert {_bucket_of(lengths[i]) for i in first + second} == {_bucket_of(lengths[first[0]])}
    seen = {i for shard in shards for batch in shard for i in batch}
    assert seen == set(range(len(lengths)))  # every clip, each epoch


def test_one_process_batches_cover_everything_once_plus_padding() -> None:
    lengths = [50] * 7 + [350] * 4 + [2000]  # the last is longer than any bucket
    sampler = BucketBatchSampler(lengths, batch_size=3, boundaries=BOUNDARIES)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 5  # 7 -> 3 batches, 4 -> 2
    assert {i for batch in batches for i in batch} == set(range(11))


def test_loader_workers_and_pinned_memory_follow_the_device() -> None:
    from engine.training.loop import loader_settings

    assert loader_settings(None, torch.device("cuda", 0), cores=8) == (4, True)
    assert loader_settings(None, torch.device("cuda", 0), cores=2) == (1, True)
    assert loader_settings(None, torch.device("cpu"), cores=8) == (0, False)
    assert loader_settings(2, torch.device("cpu"), cores=8) == (2, False)  # a config's choice wins
