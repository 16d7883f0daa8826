"""The AWS/SQS queue metrics that AWS publishes every minute and moto publishes none of.

The local cloud puts them before it evaluates the alarms, so that alarms on queues (the dlq-not-empty alarm watches
ApproximateNumberOfMessagesVisible of the DLQs) see what they would see on AWS.
"""

from __future__ import annotations

from typing import Any

# Queue attribute -> the metric AWS publishes it as.
METRIC_OF_ATTRIBUTE = {
    "ApproximateNumberOfMessages": "ApproximateNumberOfMessagesVisible",
    "ApproximateNumberOfMessagesNotVisible": "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed": "ApproximateNumberOfMessagesDelayed",
}
# PutMetricData takes at most this many datapoints per call.
PUT_BATCH = 500


def publish_sqs_metrics(sqs: Any, cloudwatch: Any) -> int:
    """Put the queue metrics of every queue now; returns how many datapoints."""
    data = []
    for page in sqs.get_paginator("list_queues").paginate():
        for url in page.get("QueueUrls", []):
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(METRIC_OF_ATTRIBUTE))["Attributes"]
            queue_name = url.rstrip("/").rsplit("/", 1)[-1]
            data += [
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": "QueueName", "Value": queue_name}],
                    "Value": float(attributes.get(attribute, 0)),
                    "Unit": "Count",
                }
                for attribute, metric in METRIC_OF_ATTRIBUTE.items()
            ]
    for start in range(0, len(data), PUT_BATCH):
        cloudwatch.put_metric_data(Namespace="AWS/SQS", MetricData=data[start : start + PUT_BATCH])
    return len(data)
