"""What every way of starting the portal checks first, so a problem is one clear line."""

from __future__ import annotations

from portal.order_cache import check_backend, make_backend
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
