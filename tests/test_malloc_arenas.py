"""The workers' malloc arenas are capped (glibc): threads stop keeping freed memory each in
an arena of their own, which made the soak's workers creep (issue 16)."""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: In a fresh interpreter: an optional set-up line, then 12 threads that each malloc at
#: once, then how many arenas (``<heap nr=…>`` in glibc's ``malloc_info``) the process has.
_PROBE = """
import ctypes, runpy, sys, tempfile, threading
sys.path.insert(0, {root!r})
{setup}
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.fopen.restype = ctypes.c_void_p
together = threading.Barrier(12)
def work():
    libc.malloc(4096)
    together.wait()
threads = [threading.Thread(target=work) for _ in range(12)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
path = tempfile.mktemp()
out = libc.fopen(path.encode(), b"w")
libc.malloc_info(0, ctypes.c_void_p(out))
libc.fclose(ctypes.c_void_p(out))
print(open(path).read().count("<heap nr="))
"""

pytestmark = pytest.mark.skipif(
    not (ctypes.util.find_library("c") or "").startswith("libc.so"), reason="glibc only"
)


def _arenas(setup: str = "", **env: str) -> int:
    clean = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    code = textwrap.dedent(_PROBE).format(root=str(ROOT), setup=setup)
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return int(done.stdout.split()[-1])


def test_without_a_cap_each_thread_gets_an_arena_of_its_own():
    # The behaviour the cap is for: if glibc stopped doing this, the cap would be moot.
    assert _arenas() > 2


def test_loading_the_gunicorn_config_caps_the_arenas_at_two():
    setup = "runpy.run_path(sys.path[0] + '/config/gunicorn.conf.py')"
    assert _arenas(setup) == 2


def test_an_operators_malloc_arena_max_wins_over_the_configs_cap():
    setup = "runpy.run_path(sys.path[0] + '/config/gunicorn.conf.py')"
    assert _arenas(setup, MALLOC_ARENA_MAX="4") == 4
