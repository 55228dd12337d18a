"""The Amazon SES adapter: the buyer's "your files are ready" mail (``PORTAL_MAIL_FROM``).

SES v2 ``SendEmail`` with simple content (UTF-8 subject and text). The sender's address or
domain must be verified in SES, and the account out of the sandbox to mail any buyer.
Credentials and region come the standard boto3 way.
"""

from __future__ import annotations

from email.utils import formataddr, parseaddr
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from portal.fulfilment.mail import MailNotSent


def make_client() -> Any:
    """One SES v2 client with short timeouts."""
    config = Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 3})
    return boto3.client("sesv2", config=config)


class SesMailer:
    """Sends plain-text mails from the shop's verified sender."""

    def __init__(self, client: Any, sender: str) -> None:
        self._client = client
        # SES wants a non-ASCII display name (写真館さくら) as a MIME encoded word.
        self._sender = formataddr(parseaddr(sender), charset="utf-8")

    def send(self, to: str, subject: str, text: str) -> None:
        """Send one mail, or raise :class:`MailNotSent`."""
        content = {
            "Simple": {
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": text, "Charset": "UTF-8"}},
            }
        }
        try:
            self._client.send_email(
                FromEmailAddress=self._sender,
                Destination={"ToAddresses": [to]},
                Content=content,
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise MailNotSent(f"SES refused the mail ({code})") from exc
        except BotoCoreError as exc:
            raise MailNotSent(f"SES did not answer ({type(exc).__name__})") from exc
