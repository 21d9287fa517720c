import json
import subprocess
import sys
from pathlib import Path

import soundfile as sf
import torch
from safetensors import safe_open

from engine.__main__ import main
from tests.fixtures.tiny_models import feature_cli_args
from tests.fixtures.tiny_voice import build_tiny_voice

ROOT = Path(__file__).resolve().parents[1]


def test_phonemize_prints_json() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "engine", "phonemize", "Hello world.", "--language", "EN"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["segments"][0]["phones"][:3] == ["_", "hh", "ah"]
    assert output["phones"][:4] == ["_", "_", "_", "hh"]  # blank, pad, blank, first phone


def test_synthesize_writes_a_wav_and_lists_speakers(
    tmp_path, tiny_bert_dirs, tiny_clap_dir, capsys
) -> None:
    model = build_tiny_voice(tmp_path / "voice")
    features = feature_cli_args(tiny_bert_dirs, tiny_clap_dir)
    assert main(["synthesize", "--model", str(model), "--list-speakers", *features]) == 0
    assert capsys.readouterr().out.split() == ["alice", "bob"]
    out = tmp_path / "out.wav"
    args = ["synthesize", "--model", str(model), "--text", "Hello world.", "--speaker", "bob"]
    assert main([*args, "--out", str(out), "--seed", "1", *features]) == 0
    info = sf.info(out)
    assert info.samplerate == 44100 and info.frames > 0
    # --decoder picks the decoder's arithmetic: fp32 and bf16 speak alike, not bit-identically.
    takes = {}
    for backend in ("fp32", "bf16"):
        path = tmp_path / f"{backend}.wav"
        assert (
            main([*args, "--out", str(path), "--seed", "1", "--decoder", backend, *features]) == 0
        )
        takes[backend] = torch.from_numpy(sf.read(path, dtype="float32")[0])
    fp32, bf16 = takes["fp32"], takes["bf16"]
    assert fp32.shape == bf16.shape and not torch.equal(fp32, bf16)
    assert torch.linalg.vector_norm(bf16 - fp32) < 0.05 * torch.linalg.vector_norm(fp32)


def test_synthesize_needs_no_model_speaker_or_network(tmp_path) -> None:
    """A fresh install speaks with the built-in voice, from any folder, offline."""
    out = tmp_path / "x.wav"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
           "HOME": str(tmp_path)}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "engine", "synthesize", "--text", "Hello there. How are you?",
         "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "built-in voice base-en" in result.stderr
    info = sf.info(out)
    assert info.samplerate == 22050 and info.duration > 1.0


def test_synthesize_errors_are_one_line_and_exit_2(
    tmp_path, tiny_bert_dirs, tiny_clap_dir, capsys
) -> None:
    model = build_tiny_voice(tmp_path / "voice")
    features = feature_cli_args(tiny_bert_dirs, tiny_clap_dir)
    out = str(tmp_path / "x.wav")
    args = ["synthesize", "--model", str(model), "--text", "Hi.", "--out", out, *features]
    assert main([*args, "--speaker", "carol"]) == 2
    assert "alice, bob" in capsys.readouterr().err
    assert main([*args, "--length-scale", "0"]) == 2
    assert "length_scale" in capsys.readouterr().err
    assert main(["synthesize", "--model", str(tmp_path / "missing"), "--list-speakers"]) == 2
    assert "Voice folder not found" in capsys.readouterr().err


def test_convert_round_trip(tmp_path) -> None:
    ours = build_tiny_voice(tmp_path / "ours")
    assert main(["convert", str(ours), "--to", "2.2", "--out", str(tmp_path / "up")]) == 0
    up = tmp_path / "up"
    assert (up / "config.json").is_file() and (up / "G_0.pth").is_file()
    back = tmp_path / "back"
    args = ["convert", str(up / "config.json"), "--checkpoint", str(up / "G_0.pth")]
    assert main([*args, "--to", "ours", "--out", str(back)]) == 0
    # Compare tensors and metadata, not bytes: safetensors writes its metadata map in hash order.
    with (
        safe_open(ours / "model.safetensors", "pt") as before,
        safe_open(back / "model.safetensors", "pt") as after,
    ):
        assert before.metadata() == after.metadata()
        assert sorted(before.keys()) == sorted(after.keys())
        for key in before.keys():  # noqa: SIM118
            assert torch.equal(before.get_tensor(key), after.get_tensor(key)), key
