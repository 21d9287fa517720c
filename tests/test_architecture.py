"""The one-way dependencies: engine never imports the apps' UI libraries."""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_engine_imports_neither_gradio_nor_telegram() -> None:
    script = """
import importlib, pkgutil, sys
import engine
names = [m.name for m in pkgutil.walk_packages(engine.__path__, "engine.")]
for name in names:
    if name != "engine.__main__":
        importlib.import_module(name)
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("gradio", "telegram"))
print(len(names))
assert not bad, bad
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout.split()[-1]) >= 5  # the walk really found the engine's modules


def test_apps_import_cleanly() -> None:
    script = "import space_app, bot.__main__, bot.settings; space_app.build_app()"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_hub_and_bot_modules_leave_the_training_loop_unloaded() -> None:
    # Accelerate and the loop cost seconds at start-up (4.8 s measured at the bot's); the Hub
    # sync, the app's run listing and the bot only need checkpoints and job files.
    script = """
import sys
import engine.hub, engine.hub_sync, engine.training.jobs, engine.training.state, bot.speech
import engine.training
loaded = sorted(m for m in sys.modules if m == "accelerate" or m == "engine.training.loop")
assert not loaded, loaded
assert engine.training.RunConfig.__module__ == "engine.training.config"  # still exported
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]


APP_FILES = [ROOT / "space_app.py", *sorted((ROOT / "webapp").glob("*.py")),
             *sorted((ROOT / "bot").glob("*.py"))]  # fmt: skip


def _engine_imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every `from engine… import …` and `import engine…` in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "engine":
            found.append((node.lineno, node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names if a.name.startswith("engine")]
    return found


def test_apps_use_only_the_engines_public_api() -> None:
    # engine or engine.<package or module> only, and only names that module lists in __all__.
    problems = []
    for path in APP_FILES:
        for line, module, names in _engine_imports(path):
            where = f"{path.relative_to(ROOT)}:{line}"
            if module.count(".") > 1:
                problems.append(f"{where}: {module} is deeper than engine.<package or module>")
                continue
            public = getattr(importlib.import_module(module), "__all__", None)
            if public is None:
                problems.append(f"{where}: {module} declares no __all__")
                continue
            problems += [f"{where}: {name} is not in {module}.__all__" for name in names
                         if name not in public]  # fmt: skip
    assert APP_FILES and not problems, "\n".join(problems)


def test_training_and_the_bot_do_not_need_data_preparation() -> None:
    # They read datasets (engine.dataset) and hear speech (engine.asr); preparing is elsewhere.
    script = """
import sys
import engine.training.loop, engine.training.evaluate, engine.training.job_runner
import bot.__main__, bot.speech, bot.handlers
loaded = sorted(m for m in sys.modules if m.startswith("engine.prepare"))
assert not loaded, loaded
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
