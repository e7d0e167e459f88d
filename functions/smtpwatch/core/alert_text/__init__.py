"""What an alert says: pure formatting of an ``Alert``; the sinks only deliver.

``subject`` (one ASCII line under 100 characters, as SNS wants) and ``sms``; ``text``
for email and the console; ``document`` for machines; ``sns_message``, the ``Publish``
arguments with ``MessageStructure=json`` and filterable message attributes; ``locations``
what they say of a verdict's locations. Alerts hold a target's public facts and a
result document, never a secret.
"""

from smtpwatch.core.alert_text.body import text
from smtpwatch.core.alert_text.document import (
    ALERT_SCHEMA_VERSION,
    MAX_TAG_ATTRIBUTES,
    document,
    left_out_tags,
    message_attributes,
    sns_message,
)
from smtpwatch.core.alert_text.headline import MAX_SMS, MAX_SUBJECT, failure_line, sms, subject

__all__ = [
    "ALERT_SCHEMA_VERSION",
    "MAX_SMS",
    "MAX_SUBJECT",
    "MAX_TAG_ATTRIBUTES",
    "document",
    "failure_line",
    "left_out_tags",
    "message_attributes",
    "sms",
    "sns_message",
    "subject",
    "text",
]
