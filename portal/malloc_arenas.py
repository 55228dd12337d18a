"""How many malloc arenas a gunicorn worker's threads share (glibc only).

glibc gives threads arenas of their own, up to eight per core. A gthread worker's request
threads, and the short-lived pools that ask Stripe and S3 several things at once, each
come to hold freed memory in an arena of their own that is seldom given back: the
worker's resident memory creeps although Python's own heap stays flat (measured in
issue 16: +0.2 MiB per minute for one worker with glibc's default, flat with two
arenas, on the same load). Two arenas is what ``MALLOC_ARENA_MAX=2`` sets, the usual
advice for threaded Python and Ruby servers; it is set here so that every deployment
that uses ``config/gunicorn.conf.py`` gets it, not only those that read the README.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

#: glibc's ``M_ARENA_MAX`` parameter number for ``mallopt`` (malloc.h).
M_ARENA_MAX = -8
#: Arenas a worker's threads share unless ``MALLOC_ARENA_MAX`` says otherwise.
DEFAULT_ARENAS = 2


def limit_arenas(arenas: int = DEFAULT_ARENAS) -> bool:
    """Cap the process's malloc arenas at ``arenas`` before its threads start; processes
    forked later (gunicorn's workers) inherit the cap. An operator's own
    ``MALLOC_ARENA_MAX`` wins. Returns whether glibc accepted the cap (``False`` on other
    C libraries, which have no such setting)."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_ARENA_MAX, arenas))


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version  # noqa: B018 (only glibc has it)
    except (OSError, AttributeError):
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    return libc
