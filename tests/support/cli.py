"""Run the real ``farm`` command line in a fresh process."""

from __future__ import annotations

import subprocess
import sys


def farm(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "farm.cli", *args], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
