"""The service's malloc bounds take effect on glibc and are skipped elsewhere."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from llmrec.serve.allocator import bound_malloc


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_bounds_are_set_on_glibc():
    # in a child process: the limits are process-wide and would outlive this test
    code = (
        "import numpy as np; from llmrec.serve.allocator import bound_malloc;"
        "assert bound_malloc(2, 256 << 10); a = np.ones(1 << 20); del a; print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_other_platforms_are_left_alone(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert bound_malloc(2, 256 << 10) is False
