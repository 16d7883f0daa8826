"""Resources of every kind the pipeline's Terraform creates, made through boto3 on a gated moto server, and the
checks that a restored emulator answers for them exactly as before (tests/integration/test_emulator_state.py).

``build(clients)`` creates them and returns what must come back: values written here by hand, plus the
identities the emulator chose (key ids, version ids, receipt handles), as JSON. ``check(clients, expected)``
asserts them field by field. ``python -m tests.integration.emulator_resources check STATE_DIR EXPECTED.json``
runs the check in a fresh process: a new emulator restored from STATE_DIR, as after ``local down`` /
``local up``; ``... plan STATE_DIR TERRAFORM_DIR`` runs ``terraform plan`` there instead.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from covid_pipeline.local import moto_patches
from covid_pipeline.local.request_gate import RequestGate

ACCOUNT = "123456789012"
REGION = "us-east-1"
VERSIONED_BUCKET = "covid-state-raw"
PLAIN_BUCKET = "covid-state-plain"
TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
INLINE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{VERSIONED_BUCKET}/*"}],
}
TLS_ONLY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DenyDelete",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:DeleteBucket",
            "Resource": f"arn:aws:s3:::{VERSIONED_BUCKET}",
        }
    ],
}
EVENT_PATTERN = {"source": ["aws.glue"], "detail-type": ["Glue Job Run Status"]}
DASHBOARD_BODY = {
    "widgets": [{"type": "text", "x": 0, "y": 0, "width": 6, "height": 3, "properties": {"markdown": "hi"}}]
}
LOG_MESSAGES = ["job started", "rows read: 396", "job succeeded"]
IN_FLIGHT_SECONDS = 8

Clients = Callable[[str], Any]


@contextmanager
def gated_emulator() -> Iterator[tuple[str, RequestGate]]:
    """moto's app behind a RequestGate on a free loopback port, in a thread (as the local cloud serves it), with the
    emulator's patches in every process: state saved by patched classes is restored into patched classes."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    moto_patches.install()
    gate = RequestGate(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, gate, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="gated-moto", daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    reset(endpoint)
    try:
        yield endpoint, gate
    finally:
        reset(endpoint)
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


def reset(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST", data=b"")
    urllib.request.urlopen(request, timeout=30).close()


def clients_for(endpoint: str) -> Clients:
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    made: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in made:
            made[service] = session.client(service, endpoint_url=endpoint)
        return made[service]

    return client


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


FUNCTION_ZIP = _zip({"handler.py": "def handler(event, context):\n    return {'ok': True}\n"})
LAYER_ZIP = _zip({"python/shared.py": "NAME = 'shared'\n"})


def build(client: Clients) -> dict[str, Any]:
    """Create one of everything; return the identities and values a restore must give back."""
    expected: dict[str, Any] = {}

    kms = client("kms")
    key_id = kms.create_key(Description="pipeline data key", Tags=[{"TagKey": "env", "TagValue": "test"}])[
        "KeyMetadata"
    ]["KeyId"]
    kms.create_alias(AliasName="alias/covid-pipeline", TargetKeyId=key_id)
    kms.enable_key_rotation(KeyId=key_id)
    ciphertext = kms.encrypt(KeyId=key_id, Plaintext=b"warehouse password")["CiphertextBlob"]
    signing_key = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    signature = kms.sign(
        KeyId=signing_key, Message=b"manifest", MessageType="RAW", SigningAlgorithm="RSASSA_PSS_SHA_256"
    )["Signature"]
    public_key = kms.get_public_key(KeyId=signing_key)["PublicKey"]
    expected["kms"] = {
        "key_id": key_id,
        "ciphertext": _b64(ciphertext),
        "signing_key": signing_key,
        "signature": _b64(signature),
        "public_key": _b64(public_key),
    }

    sqs = client("sqs")
    dlq_url = sqs.create_queue(QueueName="covid-raw-events-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})
    queue_url = sqs.create_queue(
        QueueName="covid-raw-events", Attributes={"VisibilityTimeout": "30", "RedrivePolicy": redrive}
    )["QueueUrl"]
    first = sqs.send_message(
        QueueUrl=queue_url,
        MessageBody="first",
        MessageAttributes={"origin": {"DataType": "String", "StringValue": "test"}},
    )["MessageId"]
    second = sqs.send_message(QueueUrl=queue_url, MessageBody="second")["MessageId"]
    expected["sqs"] = {
        "queue_url": queue_url,
        "dlq_url": dlq_url,
        "dlq_arn": dlq_arn,
        "in_flight_id": first,
        "visible_id": second,
    }

    s3 = client("s3")
    s3.create_bucket(Bucket=VERSIONED_BUCKET)
    s3.put_object(Bucket=VERSIONED_BUCKET, Key="raw/day.csv", Body=b"v0 before versioning")
    s3.put_bucket_versioning(Bucket=VERSIONED_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(
        Bucket=VERSIONED_BUCKET,
        Key="raw/day.csv",
        Body=b"v1",
        ContentType="text/csv",
        Metadata={"origin": "upload-1"},
    )
    s3.put_object(Bucket=VERSIONED_BUCKET, Key="raw/day.csv", Body=b"v2", ContentType="text/csv")
    s3.put_object(Bucket=VERSIONED_BUCKET, Key="raw/deleted.csv", Body=b"soon gone")
    s3.delete_object(Bucket=VERSIONED_BUCKET, Key="raw/deleted.csv")
    s3.put_object_tagging(
        Bucket=VERSIONED_BUCKET, Key="raw/day.csv", Tagging={"TagSet": [{"Key": "stage", "Value": "raw"}]}
    )
    s3.put_bucket_encryption(
        Bucket=VERSIONED_BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_id},
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    s3.put_public_access_block(
        Bucket=VERSIONED_BUCKET,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_policy(Bucket=VERSIONED_BUCKET, Policy=json.dumps(TLS_ONLY_POLICY))
    s3.put_bucket_lifecycle_configuration(
        Bucket=VERSIONED_BUCKET,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "expire-old-versions",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "raw/"},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                }
            ]
        },
    )
    s3.put_bucket_tagging(Bucket=VERSIONED_BUCKET, Tagging={"TagSet": [{"Key": "project", "Value": "covid"}]})
    notify_url = sqs.create_queue(QueueName="covid-bucket-events")["QueueUrl"]
    notify_arn = sqs.get_queue_attributes(QueueUrl=notify_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=VERSIONED_BUCKET,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "raw-uploads",
                    "QueueArn": notify_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}},
                }
            ]
        },
    )
    s3.create_bucket(Bucket=PLAIN_BUCKET)
    s3.put_object(Bucket=PLAIN_BUCKET, Key="plain.txt", Body=b"plain body")
    upload = s3.create_multipart_upload(Bucket=PLAIN_BUCKET, Key="multi.bin")["UploadId"]
    part_body = b"p" * (5 * 1024 * 1024)
    part_etag = s3.upload_part(Bucket=PLAIN_BUCKET, Key="multi.bin", UploadId=upload, PartNumber=1, Body=part_body)[
        "ETag"
    ]
    versions = s3.list_object_versions(Bucket=VERSIONED_BUCKET)
    expected["s3"] = {
        "versions": [_version_row(version) for version in versions.get("Versions", [])],
        "delete_markers": [(m["Key"], m["VersionId"], m["IsLatest"]) for m in versions.get("DeleteMarkers", [])],
        "bodies": {version["VersionId"]: None for version in versions.get("Versions", [])},
        "key_id": key_id,
        "upload_id": upload,
        "part_etag": part_etag,
        "part_sha256": hashlib.sha256(part_body).hexdigest(),
    }
    for version in versions.get("Versions", []):
        body = s3.get_object(Bucket=VERSIONED_BUCKET, Key=version["Key"], VersionId=version["VersionId"])["Body"]
        expected["s3"]["bodies"][version["VersionId"]] = body.read().decode()

    iam = client("iam")
    role = iam.create_role(RoleName="covid-lambda", AssumeRolePolicyDocument=json.dumps(TRUST_POLICY))["Role"]
    iam.put_role_policy(RoleName="covid-lambda", PolicyName="read-raw", PolicyDocument=json.dumps(INLINE_POLICY))
    policy = iam.create_policy(PolicyName="covid-logs", PolicyDocument=json.dumps(INLINE_POLICY))["Policy"]
    iam.attach_role_policy(RoleName="covid-lambda", PolicyArn=policy["Arn"])
    expected["iam"] = {"role_arn": role["Arn"], "role_id": role["RoleId"], "policy_arn": policy["Arn"]}

    awslambda = client("lambda")
    layer = awslambda.publish_layer_version(
        LayerName="covid-shared", Content={"ZipFile": LAYER_ZIP}, CompatibleRuntimes=["python3.11"]
    )
    function = awslambda.create_function(
        FunctionName="s3-event-handler",
        Runtime="python3.11",
        Role=role["Arn"],
        Handler="handler.handler",
        Code={"ZipFile": FUNCTION_ZIP},
        Description="raw events to job runs",
        Timeout=60,
        MemorySize=256,
        Environment={"Variables": {"RAW_BUCKET": VERSIONED_BUCKET}},
        Layers=[layer["LayerVersionArn"]],
    )
    awslambda.add_permission(
        FunctionName="s3-event-handler",
        StatementId="allow-events",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
    )
    # A queue of its own: moto itself would try to invoke the function (in Docker) for messages sent to it.
    esm_queue = sqs.create_queue(QueueName="covid-esm-source")["QueueUrl"]
    esm_arn = sqs.get_queue_attributes(QueueUrl=esm_queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    mapping = awslambda.create_event_source_mapping(
        EventSourceArn=esm_arn,
        FunctionName="s3-event-handler",
        BatchSize=7,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    expected["lambda"] = {
        "function_arn": function["FunctionArn"],
        "code_sha256": base64.b64encode(hashlib.sha256(FUNCTION_ZIP).digest()).decode(),
        "layer_arn": layer["LayerVersionArn"],
        "layer_sha256": base64.b64encode(hashlib.sha256(LAYER_ZIP).digest()).decode(),
        "mapping_uuid": mapping["UUID"],
        "esm_arn": esm_arn,
    }

    sns = client("sns")
    topic = sns.create_topic(Name="covid-alerts", Attributes={"DisplayName": "Covid alerts"})["TopicArn"]
    alerts_url = sqs.create_queue(QueueName="covid-alerts-inbox")["QueueUrl"]
    alerts_arn = sqs.get_queue_attributes(QueueUrl=alerts_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=alerts_arn)["SubscriptionArn"]
    expected["sns"] = {"topic": topic, "subscription": subscription, "inbox": alerts_url}

    glue = client("glue")
    glue.create_database(DatabaseInput={"Name": "covid", "Description": "curated"})
    columns = [{"Name": "country", "Type": "string"}, {"Name": "confirmed", "Type": "bigint"}]
    table_input = {
        "Name": "jhu_daily",
        "PartitionKeys": [{"Name": "year", "Type": "int"}, {"Name": "month", "Type": "int"}],
        "StorageDescriptor": {"Columns": columns[:1], "Location": "s3://covid-state-plain/jhu_daily/"},
        "TableType": "EXTERNAL_TABLE",
    }
    glue.create_table(DatabaseName="covid", TableInput=table_input)
    glue.update_table(
        DatabaseName="covid",
        TableInput={**table_input, "StorageDescriptor": {**table_input["StorageDescriptor"], "Columns": columns}},
    )
    for values in (["2021", "1"], ["2021", "2"]):
        glue.create_partition(
            DatabaseName="covid",
            TableName="jhu_daily",
            PartitionInput={
                "Values": values,
                "StorageDescriptor": {"Location": f"s3://covid-state-plain/jhu_daily/year={values[0]}/"},
            },
        )
    glue.create_security_configuration(
        Name="covid-encryption",
        EncryptionConfiguration={"S3Encryption": [{"S3EncryptionMode": "SSE-KMS", "KmsKeyArn": key_id}]},
    )
    glue.create_job(
        Name="covid_transform",
        Role=role["Arn"],
        Command={"Name": "glueetl", "ScriptLocation": "s3://covid-state-plain/job.py", "PythonVersion": "3"},
        DefaultArguments={"--job-bookmark-option": "job-bookmark-disable"},
        GlueVersion="5.0",
        WorkerType="G.1X",
        NumberOfWorkers=2,
        SecurityConfiguration="covid-encryption",
    )
    expected["glue"] = {"columns": columns}

    events = client("events")
    rule_arn = events.put_rule(Name="glue-job-finished", EventPattern=json.dumps(EVENT_PATTERN))["RuleArn"]
    events.put_targets(Rule="glue-job-finished", Targets=[{"Id": "loader", "Arn": function["FunctionArn"]}])
    expected["events"] = {"rule_arn": rule_arn}

    cloudwatch = client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="covid-job-failed",
        MetricName="FailedRuns",
        Namespace="CovidPipeline",
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[topic],
    )
    cloudwatch.set_alarm_state(AlarmName="covid-job-failed", StateValue="ALARM", StateReason="run jr_1 failed")
    cloudwatch.put_dashboard(DashboardName="covid", DashboardBody=json.dumps(DASHBOARD_BODY))
    metric_time = time.time() - 60
    cloudwatch.put_metric_data(
        Namespace="CovidPipeline",
        MetricData=[{"MetricName": "RowsRead", "Value": value, "Timestamp": metric_time} for value in (396.0, 4.0)],
    )
    expected["cloudwatch"] = {"metric_time": metric_time}

    logs = client("logs")
    logs.create_log_group(logGroupName="/aws-glue/jobs/output")
    logs.put_retention_policy(logGroupName="/aws-glue/jobs/output", retentionInDays=7)
    logs.create_log_stream(logGroupName="/aws-glue/jobs/output", logStreamName="jr_1")
    now_ms = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName="/aws-glue/jobs/output",
        logStreamName="jr_1",
        logEvents=[{"timestamp": now_ms + i, "message": message} for i, message in enumerate(LOG_MESSAGES)],
    )
    expected["logs"] = {"first_timestamp": now_ms}

    client("budgets").create_budget(
        AccountId=ACCOUNT,
        Budget={
            "BudgetName": "covid-monthly",
            "BudgetLimit": {"Amount": "25.0", "Unit": "USD"},
            "TimeUnit": "MONTHLY",
            "BudgetType": "COST",
        },
    )

    secrets = client("secretsmanager")
    secret = secrets.create_secret(Name="covid/redshift", SecretString='{"password": "first"}')
    second_version = secrets.put_secret_value(SecretId="covid/redshift", SecretString='{"password": "second"}')
    expected["secrets"] = {"arn": secret["ARN"], "version": second_version["VersionId"]}

    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="redshift", Description="warehouse", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 5439, "ToPort": 5439, "IpRanges": [{"CidrIp": "10.20.0.0/16"}]}
        ],
    )
    expected["ec2"] = {"vpc": vpc, "subnet": subnet, "group": group}

    redshift = client("redshift")
    redshift.create_cluster_subnet_group(
        ClusterSubnetGroupName="covid-warehouse", Description="private", SubnetIds=[subnet]
    )
    redshift.create_cluster(
        ClusterIdentifier="covid-warehouse",
        NodeType="ra3.xlplus",
        MasterUsername="loader",
        MasterUserPassword="Passw0rd!x",
        ClusterType="multi-node",
        NumberOfNodes=2,
        ClusterSubnetGroupName="covid-warehouse",
        VpcSecurityGroupIds=[group],
        Encrypted=True,
    )

    # Last, so that it is still in flight when the snapshot is restored.
    in_flight = sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=IN_FLIGHT_SECONDS, MaxNumberOfMessages=1)
    assert in_flight["Messages"][0]["MessageId"] == first
    expected["sqs"]["in_flight_receipt"] = in_flight["Messages"][0]["ReceiptHandle"]
    expected["sqs"]["in_flight_until"] = time.time() + IN_FLIGHT_SECONDS
    return expected


def check(client: Clients, expected: dict[str, Any]) -> None:
    """Assert that the emulator answers for everything ``build`` made as it did before."""
    kms = client("kms")
    known = expected["kms"]
    metadata = kms.describe_key(KeyId="alias/covid-pipeline")["KeyMetadata"]
    assert (metadata["KeyId"], metadata["Description"], metadata["KeyState"]) == (
        known["key_id"],
        "pipeline data key",
        "Enabled",
    )
    assert kms.get_key_rotation_status(KeyId=known["key_id"])["KeyRotationEnabled"] is True
    assert kms.list_resource_tags(KeyId=known["key_id"])["Tags"] == [{"TagKey": "env", "TagValue": "test"}]
    decrypted = kms.decrypt(CiphertextBlob=base64.b64decode(known["ciphertext"]))
    assert (decrypted["Plaintext"], decrypted["KeyId"].split("/")[-1]) == (b"warehouse password", known["key_id"])
    assert _b64(kms.get_public_key(KeyId=known["signing_key"])["PublicKey"]) == known["public_key"]
    verified = kms.verify(
        KeyId=known["signing_key"],
        Message=b"manifest",
        MessageType="RAW",
        Signature=base64.b64decode(known["signature"]),
        SigningAlgorithm="RSASSA_PSS_SHA_256",
    )
    assert verified["SignatureValid"] is True

    sqs = client("sqs")
    known = expected["sqs"]
    # moto writes the endpoint a request came to into a queue URL (a new process listens on another port):
    # the account and name are the queue's identity, and the old URL keeps working (it is used below).
    assert (
        urlsplit(sqs.get_queue_url(QueueName="covid-raw-events")["QueueUrl"]).path == urlsplit(known["queue_url"]).path
    )
    attributes = sqs.get_queue_attributes(QueueUrl=known["queue_url"], AttributeNames=["All"])["Attributes"]
    assert (attributes["VisibilityTimeout"], json.loads(attributes["RedrivePolicy"])) == (
        "30",
        {"deadLetterTargetArn": known["dlq_arn"], "maxReceiveCount": 3},
    )
    in_flight = time.time() < known["in_flight_until"] - 1
    if in_flight:  # restored in time: the message received before the snapshot is still hidden
        assert sqs.get_queue_attributes(
            QueueUrl=known["queue_url"],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"] == {"ApproximateNumberOfMessages": "1", "ApproximateNumberOfMessagesNotVisible": "1"}
        visible = sqs.receive_message(QueueUrl=known["queue_url"], MaxNumberOfMessages=10, VisibilityTimeout=30)
        assert [message["MessageId"] for message in visible["Messages"]] == [known["visible_id"]]
        time.sleep(max(0.0, known["in_flight_until"] - time.time()) + 0.5)
    received = sqs.receive_message(
        QueueUrl=known["queue_url"],
        MaxNumberOfMessages=10,
        VisibilityTimeout=30,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    )["Messages"]
    again = [m for m in received if m["MessageId"] == known["in_flight_id"]]
    assert len(received) == (1 if in_flight else 2)
    assert [(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in again] == [("first", "2")]
    assert again[0]["MessageAttributes"]["origin"]["StringValue"] == "test"
    # The receipt handle of the first receive is still the message's (moto honours old handles for deletes).
    sqs.delete_message(QueueUrl=known["queue_url"], ReceiptHandle=known["in_flight_receipt"])

    s3 = client("s3")
    known = expected["s3"]
    versions = s3.list_object_versions(Bucket=VERSIONED_BUCKET)
    assert [_version_row(version) for version in versions["Versions"]] == [tuple(row) for row in known["versions"]]
    assert [(m["Key"], m["VersionId"], m["IsLatest"]) for m in versions["DeleteMarkers"]] == [
        tuple(marker) for marker in known["delete_markers"]
    ]
    assert [row[1] for row in known["versions"] if row[0] == "raw/day.csv"][-1] == "null"
    for version_id, body in known["bodies"].items():
        key = "raw/day.csv" if body != "soon gone" else "raw/deleted.csv"
        restored = s3.get_object(Bucket=VERSIONED_BUCKET, Key=key, VersionId=version_id)
        assert restored["Body"].read().decode() == body
    latest = s3.get_object(Bucket=VERSIONED_BUCKET, Key="raw/day.csv")
    assert (latest["ContentType"], latest["VersionId"]) == ("text/csv", known["versions"][0][1])
    middle = s3.head_object(Bucket=VERSIONED_BUCKET, Key="raw/day.csv", VersionId=known["versions"][1][1])
    assert middle["Metadata"] == {"origin": "upload-1"}
    assert s3.get_object_tagging(Bucket=VERSIONED_BUCKET, Key="raw/day.csv")["TagSet"] == [
        {"Key": "stage", "Value": "raw"}
    ]
    assert s3.get_bucket_versioning(Bucket=VERSIONED_BUCKET)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=VERSIONED_BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": known["key_id"]}
    assert rule["BucketKeyEnabled"] is True
    assert s3.get_public_access_block(Bucket=VERSIONED_BUCKET)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    assert json.loads(s3.get_bucket_policy(Bucket=VERSIONED_BUCKET)["Policy"]) == TLS_ONLY_POLICY
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=VERSIONED_BUCKET)["Rules"]
    assert [(r["ID"], r["Status"], r["NoncurrentVersionExpiration"]["NoncurrentDays"]) for r in lifecycle] == [
        ("expire-old-versions", "Enabled", 30)
    ]
    assert s3.get_bucket_tagging(Bucket=VERSIONED_BUCKET)["TagSet"] == [{"Key": "project", "Value": "covid"}]
    queues = s3.get_bucket_notification_configuration(Bucket=VERSIONED_BUCKET)["QueueConfigurations"]
    assert [(q["Id"], q["Events"], q["Filter"]["Key"]["FilterRules"]) for q in queues] == [
        ("raw-uploads", ["s3:ObjectCreated:*"], [{"Name": "prefix", "Value": "incoming/"}])
    ]
    assert s3.get_object(Bucket=PLAIN_BUCKET, Key="plain.txt")["Body"].read() == b"plain body"
    uploads = s3.list_multipart_uploads(Bucket=PLAIN_BUCKET)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("multi.bin", known["upload_id"])]
    s3.complete_multipart_upload(
        Bucket=PLAIN_BUCKET,
        Key="multi.bin",
        UploadId=known["upload_id"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": known["part_etag"]}]},
    )
    assembled = s3.get_object(Bucket=PLAIN_BUCKET, Key="multi.bin")["Body"].read()
    assert hashlib.sha256(assembled).hexdigest() == known["part_sha256"]

    iam = client("iam")
    known = expected["iam"]
    role = iam.get_role(RoleName="covid-lambda")["Role"]
    assert (role["Arn"], role["RoleId"], role["AssumeRolePolicyDocument"]) == (
        known["role_arn"],
        known["role_id"],
        TRUST_POLICY,
    )
    assert iam.get_role_policy(RoleName="covid-lambda", PolicyName="read-raw")["PolicyDocument"] == INLINE_POLICY
    attached = iam.list_attached_role_policies(RoleName="covid-lambda")["AttachedPolicies"]
    assert attached == [{"PolicyName": "covid-logs", "PolicyArn": known["policy_arn"]}]

    awslambda = client("lambda")
    known = expected["lambda"]
    configuration = awslambda.get_function(FunctionName="s3-event-handler")["Configuration"]
    assert {
        "FunctionArn": configuration["FunctionArn"],
        "CodeSha256": configuration["CodeSha256"],
        "CodeSize": configuration["CodeSize"],
        "Description": configuration["Description"],
        "Timeout": configuration["Timeout"],
        "MemorySize": configuration["MemorySize"],
        "Environment": configuration["Environment"],
        "Layers": [layer["Arn"] for layer in configuration["Layers"]],
    } == {
        "FunctionArn": known["function_arn"],
        "CodeSha256": known["code_sha256"],
        "CodeSize": len(FUNCTION_ZIP),
        "Description": "raw events to job runs",
        "Timeout": 60,
        "MemorySize": 256,
        "Environment": {"Variables": {"RAW_BUCKET": VERSIONED_BUCKET}},
        "Layers": [known["layer_arn"]],
    }
    by_arn = awslambda.get_function(FunctionName=known["function_arn"])["Configuration"]  # moto's weak ARN index
    assert by_arn["CodeSha256"] == known["code_sha256"]
    layer_name, layer_version = known["layer_arn"].split(":")[-2:]
    layer = awslambda.get_layer_version(LayerName=layer_name, VersionNumber=int(layer_version))
    assert layer["Content"]["CodeSha256"] == known["layer_sha256"]
    statements = json.loads(awslambda.get_policy(FunctionName="s3-event-handler")["Policy"])["Statement"]
    assert [(s["Sid"], s["Principal"], s["Action"]) for s in statements] == [
        ("allow-events", {"Service": "events.amazonaws.com"}, "lambda:InvokeFunction")
    ]
    mapping = awslambda.get_event_source_mapping(UUID=known["mapping_uuid"])
    assert (mapping["EventSourceArn"], mapping["BatchSize"], mapping["FunctionResponseTypes"]) == (
        known["esm_arn"],
        7,
        ["ReportBatchItemFailures"],
    )

    sns = client("sns")
    known = expected["sns"]
    assert sns.get_topic_attributes(TopicArn=known["topic"])["Attributes"]["DisplayName"] == "Covid alerts"
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=known["topic"])["Subscriptions"]
    assert [s["SubscriptionArn"] for s in subscriptions] == [known["subscription"]]
    sns.publish(TopicArn=known["topic"], Message="after restore")  # delivered through the restored subscription
    delivered = sqs.receive_message(QueueUrl=known["inbox"], MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["Message"] for m in delivered] == ["after restore"]

    glue = client("glue")
    assert glue.get_database(Name="covid")["Database"]["Description"] == "curated"
    table = glue.get_table(DatabaseName="covid", Name="jhu_daily")["Table"]
    assert table["StorageDescriptor"]["Columns"] == expected["glue"]["columns"]
    assert [p["Name"] for p in table["PartitionKeys"]] == ["year", "month"]
    assert len(glue.get_table_versions(DatabaseName="covid", TableName="jhu_daily")["TableVersions"]) == 2
    partitions = glue.get_partitions(DatabaseName="covid", TableName="jhu_daily")["Partitions"]
    assert sorted(p["Values"] for p in partitions) == [["2021", "1"], ["2021", "2"]]
    job = glue.get_job(JobName="covid_transform")["Job"]
    assert (job["GlueVersion"], job["WorkerType"], job["NumberOfWorkers"], job["SecurityConfiguration"]) == (
        "5.0",
        "G.1X",
        2,
        "covid-encryption",
    )
    assert job["DefaultArguments"] == {"--job-bookmark-option": "job-bookmark-disable"}
    encryption = glue.get_security_configuration(Name="covid-encryption")["SecurityConfiguration"]
    assert encryption["EncryptionConfiguration"]["S3Encryption"] == [
        {"S3EncryptionMode": "SSE-KMS", "KmsKeyArn": expected["kms"]["key_id"]}
    ]

    events = client("events")
    rule = events.describe_rule(Name="glue-job-finished")
    assert (rule["Arn"], json.loads(rule["EventPattern"]), rule["State"]) == (
        expected["events"]["rule_arn"],
        EVENT_PATTERN,
        "ENABLED",
    )
    targets = events.list_targets_by_rule(Rule="glue-job-finished")["Targets"]
    assert [(t["Id"], t["Arn"]) for t in targets] == [("loader", expected["lambda"]["function_arn"])]

    cloudwatch = client("cloudwatch")
    alarm = cloudwatch.describe_alarms(AlarmNames=["covid-job-failed"])["MetricAlarms"][0]
    assert (
        alarm["MetricName"],
        alarm["Threshold"],
        alarm["AlarmActions"],
        alarm["StateValue"],
        alarm["StateReason"],
    ) == ("FailedRuns", 0.0, [expected["sns"]["topic"]], "ALARM", "run jr_1 failed")
    assert json.loads(cloudwatch.get_dashboard(DashboardName="covid")["DashboardBody"]) == DASHBOARD_BODY
    metric_time = expected["cloudwatch"]["metric_time"]
    statistics = cloudwatch.get_metric_statistics(
        Namespace="CovidPipeline",
        MetricName="RowsRead",
        StartTime=metric_time - 300,
        EndTime=metric_time + 300,
        Period=600,
        Statistics=["Sum", "SampleCount"],
    )["Datapoints"]
    assert [(d["Sum"], d["SampleCount"]) for d in statistics] == [(400.0, 2.0)]

    logs = client("logs")
    group = logs.describe_log_groups(logGroupNamePrefix="/aws-glue/jobs/output")["logGroups"][0]
    assert group["retentionInDays"] == 7
    events_out = logs.get_log_events(logGroupName="/aws-glue/jobs/output", logStreamName="jr_1", startFromHead=True)
    first = expected["logs"]["first_timestamp"]
    assert [(e["timestamp"], e["message"]) for e in events_out["events"]] == [
        (first + i, message) for i, message in enumerate(LOG_MESSAGES)
    ]

    budget = client("budgets").describe_budget(AccountId=ACCOUNT, BudgetName="covid-monthly")["Budget"]
    assert (budget["BudgetLimit"], budget["TimeUnit"]) == ({"Amount": "25.0", "Unit": "USD"}, "MONTHLY")

    secret = client("secretsmanager").get_secret_value(SecretId="covid/redshift")
    assert (secret["ARN"], secret["VersionId"], secret["SecretString"]) == (
        expected["secrets"]["arn"],
        expected["secrets"]["version"],
        '{"password": "second"}',
    )

    ec2 = client("ec2")
    known = expected["ec2"]
    vpc = ec2.describe_vpcs(VpcIds=[known["vpc"]])["Vpcs"][0]
    assert vpc["CidrBlock"] == "10.20.0.0/16"
    subnet = ec2.describe_subnets(SubnetIds=[known["subnet"]])["Subnets"][0]
    assert (subnet["VpcId"], subnet["CidrBlock"], subnet["AvailabilityZone"]) == (
        known["vpc"],
        "10.20.1.0/24",
        "us-east-1a",
    )
    group = ec2.describe_security_groups(GroupIds=[known["group"]])["SecurityGroups"][0]
    assert [(p["FromPort"], p["IpRanges"][0]["CidrIp"]) for p in group["IpPermissions"]] == [(5439, "10.20.0.0/16")]

    cluster = client("redshift").describe_clusters(ClusterIdentifier="covid-warehouse")["Clusters"][0]
    assert (
        cluster["NodeType"],
        cluster["NumberOfNodes"],
        cluster["ClusterSubnetGroupName"],
        cluster["Encrypted"],
        [g["VpcSecurityGroupId"] for g in cluster["VpcSecurityGroups"]],
    ) == ("ra3.xlplus", 2, "covid-warehouse", True, [known["group"]])


def _version_row(version: dict[str, Any]) -> tuple[Any, ...]:
    return (version["Key"], version["VersionId"], version["IsLatest"], version["ETag"], version["Size"])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def provider_mirror() -> Path | None:
    """The offline provider mirror holding hashicorp/aws, found as the project finds it (terraform_cli)."""
    from covid_pipeline.terraform_cli import find_provider_mirror

    return find_provider_mirror()


def terraform(work_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run Terraform in ``work_dir`` (a copy of tests/fixtures/emulator_state) offline, with dummy credentials and
    the project's CLI configuration (the provider mirror it finds)."""
    from covid_pipeline.terraform_cli import find_cli, write_cli_config

    env = {
        **os.environ,
        "TF_CLI_CONFIG_FILE": str(write_cli_config()),
        "TF_IN_AUTOMATION": "1",
        "CHECKPOINT_DISABLE": "1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    return subprocess.run(
        [*find_cli(), f"-chdir={work_dir}", *args, "-input=false", "-no-color"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def plan_args(endpoint: str) -> tuple[str, ...]:
    return ("plan", "-detailed-exitcode", f"-var=endpoint={endpoint}")


def main(mode: str, state_dir: str, other: str) -> int:
    """In this (new) process, restore a fresh emulator from ``state_dir``, then either check it against the
    expectations in the file ``other`` (mode ``check``) or run ``terraform plan`` in the folder ``other``
    (mode ``plan``: the exit code is the plan's, 0 = no changes)."""
    from covid_pipeline.local.state import EmulatorState

    with gated_emulator() as (endpoint, gate):
        report = EmulatorState(Path(state_dir), gate).restore()
        print(json.dumps({"restored": report.resources}))
        if mode == "plan":
            result = terraform(Path(other), *plan_args(endpoint))
            print(result.stdout[-6000:], result.stderr[-3000:])
            return result.returncode
        check(clients_for(endpoint), json.loads(Path(other).read_text()))
        return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
