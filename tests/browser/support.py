"""What every browser test shares: Debian's Chromium and the vendored axe-core."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
# No background networking: this machine's closed network refuses those connections.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
