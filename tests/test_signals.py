"""What the core announces (`barometre.signals`) reaches its receivers once each, however
many apps are made: alerts connects module-level functions, which blinker keeps once."""

from __future__ import annotations

from pathlib import Path

from barometre import create_app, signals
from barometre.settings import Settings

# Signals that more than one part of alerts answers: the privacy page's data kept
# (following, channels).
SEVERAL = {"holdings-asked": 2}


def test_an_app_made_again_connects_nothing_twice(tmp_path: Path) -> None:
    counts = []
    for name in ("first", "second"):
        create_app(
            Settings(
                testing=True,
                secret_key="test-secret-key-" + "x" * 32,
                instance_path=str(tmp_path / name),
            )
        )
        counts.append({name: len(signal.receivers) for name, signal in signals.signals.items()})
    assert counts[0] == counts[1] == {name: SEVERAL.get(name, 1) for name in signals.signals}
