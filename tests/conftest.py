"""Shared pytest set-up for the whole suite.

Plugins of sub-systems (e.g. the HIL `--port` option) are listed in `pytest_plugins` so their
options exist whichever test directory is run.
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"
SEEDS = REPO / "seeds"

pytest_plugins: list[str] = ["hil.pytest_plugin"]
