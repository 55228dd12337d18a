"""Building the alert channels from the settings, for the app (webhooks) and the commands."""

from __future__ import annotations

from collections.abc import Callable

from cachelib.base import BaseCache

from portal.fulfilment import sns
from portal.fulfilment.alerts import Alerts, Channel
from portal.fulfilment.dedupe import Once
from portal.fulfilment.event_alerts import EventAlerts
from portal.fulfilment.slack import WebhookChannel
from portal.settings import Settings
from portal.stripe.events import StripeEvent
from portal.stripe.queries import StripeOrders


def alert_channels(settings: Settings) -> list[Channel]:
    """The channels the shop configured (none: alerts go to the log)."""
    channels: list[Channel] = []
    if settings.alert_sns_topic:
        client = sns.make_client(sns.region_of(settings.alert_sns_topic))
        channels.append(sns.SnsChannel(client, settings.alert_sns_topic))
    if settings.alert_webhook_url:
        channels.append(WebhookChannel(settings.alert_webhook_url))
    return channels


def make_alerts(settings: Settings, backend: BaseCache) -> Alerts:
    """Alerts told once per channel, remembered in the shared cache ``backend``."""
    return Alerts(Once(backend), alert_channels(settings), settings.default_locale)


def event_alerts(
    settings: Settings, orders: StripeOrders, backend: BaseCache
) -> Callable[[StripeEvent], None] | None:
    """What the webhook handler calls per new event, when the shop configured a channel."""
    if not alert_channels(settings):
        return None
    return EventAlerts(orders, make_alerts(settings, backend)).notice
