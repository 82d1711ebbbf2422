"""bench/common.py's CPU reading (what bench/echo.py's ``*_cpu_ms`` keys are made of): a
process's time counts every thread of it and every process below it."""

from __future__ import annotations

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "bench"))

from common import cpu_seconds, descendants  # noqa: E402

# A parent that starts a child; each burns about 0.3 s of CPU in a second thread.
BURN = """
import subprocess, sys, threading, time
def burn():
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
if sys.argv[1:] == ["parent"]:
    child = subprocess.Popen([sys.executable, __file__])
t = threading.Thread(target=burn); t.start(); t.join()
print("done", flush=True)
time.sleep(30)
"""


def test_cpu_of_a_process_tree_counts_threads_and_children(tmp_path):
    script = tmp_path / "burn.py"
    script.write_text(BURN)
    proc = subprocess.Popen(
        [sys.executable, str(script), "parent"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline(), proc.stdout.readline()]  # the parent's and child's
        assert lines == ["done\n", "done\n"]
        tree = descendants(proc.pid)
        assert len(tree) == 2 and tree[0] == proc.pid
        assert 0.5 <= cpu_seconds(tree) < 5
        assert 0.25 <= cpu_seconds([proc.pid]) < 3  # one process: its own threads only
    finally:
        for pid in reversed(descendants(proc.pid)):
            os.kill(pid, 9)
        proc.wait()
