"""Evaluation draws from a fixed seed and leaves the training RNG where it was, on the CPU and on
the training device (a fake CUDA generator here: no GPU on the test machines)."""

from __future__ import annotations

import contextlib

import pytest
import torch

from engine.training.evaluate import evaluation_rng


class FakeCudaGenerator:
    """torch.cuda's RNG functions over one integer state per device, recording every seeding."""

    def __init__(self) -> None:
        self.states = {0: 11, 1: 22}
        self.seeded: list[tuple[int, int]] = []
        self.current = 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        cuda = torch.cuda
        monkeypatch.setattr(cuda, "get_rng_state", self._get)
        monkeypatch.setattr(cuda, "set_rng_state", self._set)
        monkeypatch.setattr(cuda, "manual_seed", self._seed)
        monkeypatch.setattr(cuda, "manual_seed_all", self._seed_all)
        monkeypatch.setattr(cuda, "current_device", lambda: self.current)
        monkeypatch.setattr(cuda, "device", self._device)

    def _get(self, device: int = 0) -> torch.Tensor:
        return torch.tensor([self.states[device]])

    def _set(self, state: torch.Tensor, device: int = 0) -> None:
        self.states[device] = int(state[0])

    def _seed(self, seed: int) -> None:
        self.seeded.append((self.current, seed))
        self.states[self.current] = 1000 + seed

    def _seed_all(self, seed: int) -> None:
        for device in self.states:
            self.seeded.append((device, seed))
            self.states[device] = 1000 + seed

    @contextlib.contextmanager
    def _device(self, index: int):  # type: ignore[no-untyped-def]
        previous, self.current = self.current, index
        try:
            yield
        finally:
            self.current = previous


def test_the_training_device_generator_is_seeded_inside_and_restored_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeCudaGenerator()
    fake.install(monkeypatch)
    with evaluation_rng(torch.device("cuda", 1)):
        assert fake.states == {0: 11, 1: 1000}  # only the training device, seeded
    assert fake.states == {0: 11, 1: 22} and fake.seeded == [(1, 0)]


def test_the_cpu_generator_goes_on_as_if_nothing_was_drawn() -> None:
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    with evaluation_rng(torch.device("cpu")):
        inside = torch.rand(3)
        torch.rand(100)
    assert torch.equal(torch.rand(3), expected)
    with evaluation_rng(torch.device("cpu")):
        assert torch.equal(torch.rand(3), inside)  # the same draws every evaluation
