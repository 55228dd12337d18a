"""The Amazon SNS adapter: alerts published to the shop's topic (``PORTAL_ALERT_SNS_TOPIC``).

Subscribe staff by email or SMS, or a chat bot, to the topic. Only this module (of the
alerts) imports boto3; credentials and region come the standard boto3 way.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from portal.fulfilment.alerts import AlertNotSent

#: SNS takes a subject of at most 100 printable ASCII characters.
SUBJECT_LIMIT = 100


def make_client(region: str | None = None) -> Any:
    """One SNS client, with short timeouts: an alert must not hang a webhook."""
    config = Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 3})
    return boto3.client("sns", region_name=region, config=config)


class SnsChannel:
    """Publishes each alert message to one topic."""

    name = "sns"

    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self._topic = topic_arn

    def send(self, subject: str, text: str) -> None:
        """Publish, or raise :class:`AlertNotSent` naming SNS's error code."""
        try:
            self._client.publish(TopicArn=self._topic, Subject=_subject(subject), Message=text)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise AlertNotSent(f"SNS refused the message ({code})") from exc
        except BotoCoreError as exc:
            raise AlertNotSent(f"SNS did not answer ({type(exc).__name__})") from exc


def _subject(subject: str) -> str:
    """SNS takes only printable ASCII subjects: a Japanese one becomes a plain English
    subject (the message itself keeps the shop's language)."""
    if not subject.isascii() or not subject.isprintable():
        return "Order Portal alert"
    return subject[:SUBJECT_LIMIT]


def region_of(topic_arn: str) -> str:
    """The topic's region, from its ARN (``arn:aws:sns:<region>:<account>:<name>``)."""
    return topic_arn.split(":")[3]
