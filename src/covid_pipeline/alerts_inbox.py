"""Read the alerts that reached the SNS topic, through an SQS queue subscribed to it (the "inbox").

On AWS the topic mails people; an SQS subscription (the local cloud always creates
`<prefix>-alerts-inbox`) makes the same messages readable by the CLI and by tests.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from covid_pipeline.errors import UserError

RECEIVE_BATCH = 10
HOLD_SECONDS = 30


def parse_message(body: str) -> dict[str, Any]:
    """An SNS envelope (or a raw-delivery body) -> subject, timestamp, payload and a one-line summary."""
    try:
        envelope = json.loads(body)
    except ValueError:
        envelope = None
    if isinstance(envelope, dict) and envelope.get("Type") == "Notification":
        subject, timestamp, message = envelope.get("Subject"), envelope.get("Timestamp"), envelope.get("Message", "")
        topic = envelope.get("TopicArn")
    else:
        subject, timestamp, message, topic = None, None, body, None
    try:
        payload: Any = json.loads(message)
    except (TypeError, ValueError):
        payload = message
    return {
        "subject": subject,
        "timestamp": timestamp,
        "topic_arn": topic,
        "payload": payload,
        "summary": _summary(payload),
    }


def _summary(payload: Any) -> str:
    if isinstance(payload, dict):
        if "AlarmName" in payload:  # CloudWatch alarm notification
            return f"{payload['AlarmName']}: {payload.get('OldStateValue')} -> {payload.get('NewStateValue')}: " + str(
                payload.get("NewStateReason", "")
            )
        for key in ("message", "summary", "reason", "detail"):
            if key in payload:
                rest = {k: v for k, v in payload.items() if k != key and not isinstance(v, dict | list)}
                extras = " ".join(f"{k}={v}" for k, v in rest.items())
                return f"{payload[key]}" + (f" ({extras})" if extras else "")
        return json.dumps(payload, default=str)
    return str(payload)


def read_inbox(sqs: Any, queue_name: str, ack: bool = False, limit: int = 50) -> list[dict[str, Any]]:
    """Messages in the inbox, oldest first. Without `ack` they are released again (visibility 0), so reading is free."""
    try:
        queue_url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    except ClientError as exc:
        if "NonExistentQueue" in str(exc.response.get("Error", {}).get("Code", "")):
            raise UserError(
                f"no alerts inbox queue {queue_name} (subscribe an SQS queue to the alerts topic)"
            ) from None
        raise
    received: dict[str, dict[str, Any]] = {}
    handles: list[str] = []
    while len(received) < limit:
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(RECEIVE_BATCH, limit - len(received)),
            VisibilityTimeout=HOLD_SECONDS,
            WaitTimeSeconds=0,
            AttributeNames=["SentTimestamp"],
        )
        batch = response.get("Messages", [])
        if not batch:
            break
        for message in batch:
            handles.append(message["ReceiptHandle"])
            if message["MessageId"] in received:
                continue
            parsed = parse_message(message["Body"])
            parsed["message_id"] = message["MessageId"]
            parsed["sent_timestamp"] = int(message.get("Attributes", {}).get("SentTimestamp", 0))
            received[message["MessageId"]] = parsed
    for handle in handles:
        if ack:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=handle)
        else:
            sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return sorted(received.values(), key=lambda m: (m["sent_timestamp"], m["message_id"]))
