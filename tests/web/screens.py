"""Screenshots of the people's pages: checked every run, kept in docs/screens/ (shown in the README)
when TIENDO_SCREENSHOTS=1 — then commit them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"
WIDTHS = (390, 1280)  # a phone, a desktop


def check_and_keep(shots: list[Path]) -> None:
    """Each shot is a PNG as wide as the page it was taken at (`<name>-<width>.png`)."""
    assert shots
    for shot in shots:
        head = shot.read_bytes()[:24]
        assert head[:8] == b"\x89PNG\r\n\x1a\n"
        assert int.from_bytes(head[16:20], "big") == int(shot.stem.rsplit("-", 1)[1])  # the page's width
    if os.environ.get("TIENDO_SCREENSHOTS") == "1":
        SCREENS.mkdir(parents=True, exist_ok=True)
        for shot in shots:
            shutil.copyfile(shot, SCREENS / shot.name)
