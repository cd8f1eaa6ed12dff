"""What the core announces (`barometre.signals`) reaches one receiver each, however many
apps are made: alerts connects module-level functions, which blinker keeps once."""

from __future__ import annotations

from pathlib import Path

from barometre import create_app, signals
from barometre.settings import Settings


def test_an_app_made_again_connects_nothing_twice(tmp_path: Path) -> None:
    for name in ("first", "second"):
        create_app(
            Settings(
                testing=True,
                secret_key="test-secret-key-" + "x" * 32,
                instance_path=str(tmp_path / name),
            )
        )
    receivers = {name: len(signal.receivers) for name, signal in signals.signals.items()}
    assert receivers == dict.fromkeys(signals.signals, 1)
