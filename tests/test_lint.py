"""ruff over the whole tree, with the settings in pyproject.toml (part of the test command)."""

import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_ruff_finds_nothing():
    ruff = os.path.join(os.path.dirname(sys.executable), "ruff")
    ruff = ruff if os.path.exists(ruff) else shutil.which("ruff")
    assert ruff, "ruff is a test dependency (pip install '.[test]')"
    result = subprocess.run([ruff, "check", "--no-cache", "--output-format", "concise", ROOT],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]
