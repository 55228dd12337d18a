"""What every way of starting the portal checks first, so a problem is one clear line."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from portal.cache_store import check_backend, make_backend
from portal.settings import Settings, SettingsError


def checked_settings() -> Settings:
    """Settings from the environment, with the shared cache reachable when one is set.

    Raises :class:`SettingsError` naming the setting at fault.
    """
    settings = Settings.from_env()
    if settings.cache_url:
        try:
            check_backend(make_backend(settings.cache_url))
        except ConnectionError as exc:
            raise SettingsError("PORTAL_CACHE_URL", str(exc)) from None
    return settings


def proxy_warning(addresses: Iterable[Any], trusted_proxies: int) -> str | None:
    """What to tell the operator when ``X-Forwarded-For`` is believed (``trusted_proxies``)
    on an address clients may reach directly: there anyone can claim any IP, and slip past
    every per-IP limit. ``addresses`` are ``(host, port)`` pairs (unix sockets: strings).
    """
    if not trusted_proxies:
        return None
    public = [f"{a[0]}:{a[1]}" for a in addresses if isinstance(a, tuple) and not _loopback(a[0])]
    if not public:
        return None
    return (
        f"listening on {', '.join(public)} with PORTAL_TRUSTED_PROXIES={trusted_proxies}: a "
        "client that reaches this port directly can claim any IP in X-Forwarded-For; listen "
        "on 127.0.0.1 behind the proxy, or firewall the port to the proxy alone"
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


#: Worker classes that run requests as greenlets; the portal's locks need them patched.
GREENLET_WORKERS = ("gevent", "eventlet")


def worker_class_problem(worker_class: str, threading_patched: bool) -> str | None:
    """Why gunicorn must not start with this worker class, if it must not.

    ``preload_app`` builds the app in the master before a greenlet worker patches the
    standard library, so the Stripe guard's locks are real thread locks there: one
    greenlet holding one across a Redis call blocks its siblings' only thread, and the
    worker hangs (bench/README, *Sizing*). Patched before anything is imported, gevent
    works (measured there); as a bare ``--worker-class`` switch it does not.
    """
    name = worker_class.rsplit(".", 1)[-1].lower()
    if threading_patched or not any(kind in name for kind in GREENLET_WORKERS):
        return None
    return (
        f"worker class {worker_class} needs the standard library patched before the portal "
        "is imported (a bare switch hangs workers): use the shipped gthread, or a config "
        "that runs gevent.monkey.patch_all() first (bench/README, Sizing)"
    )
