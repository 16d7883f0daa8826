"""The emulator's edge, checked through the AWS APIs as clients see it: one loopback port that speaks HTTPS with
the local CA's certificate and plain HTTP, TLS-only policies that hold as on AWS, and a moto that leaves
executing Lambda functions and Glue job runs to the local cloud's runtimes."""

from __future__ import annotations

import http.client
import io
import json
import os
import socket
import ssl
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from covid_pipeline.local.emulator import DUMMY_CREDENTIALS, ClientCache, Emulator, client_ssl_context, emulator_env

REGION = "us-east-1"
ACCOUNT = "123456789012"


class SchemeRecorder:
    """A WSGI layer around the emulator's stack (as a request gate would be): which scheme each request had."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.schemes: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        self.schemes.append(environ["wsgi.url_scheme"])
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def recorder_and_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SchemeRecorder, Emulator]]:
    emulator = Emulator(REGION, tls_dir=tmp_path_factory.mktemp("tls"))
    recorders: list[SchemeRecorder] = []

    def wrap(app: Callable[..., Iterable[bytes]]) -> SchemeRecorder:
        recorders.append(SchemeRecorder(app))
        return recorders[0]

    emulator.wrap(wrap)
    emulator.start()
    try:
        yield recorders[0], emulator
    finally:
        emulator.stop()


@pytest.fixture
def emulator(recorder_and_emulator: tuple[SchemeRecorder, Emulator]) -> Emulator:
    return recorder_and_emulator[1]


@pytest.fixture
def aws(emulator: Emulator) -> ClientCache:
    """Clients over HTTPS, verifying the endpoint's certificate with the local CA."""
    return ClientCache(emulator.endpoint_url, REGION)


@pytest.fixture
def plain(emulator: Emulator) -> Callable[[str], Any]:
    """Clients over plain HTTP, on the same port."""

    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=emulator.http_endpoint_url,
            region_name=REGION,
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    return client


def tls_only_policy(bucket: str) -> str:
    """The statement terraform/modules/secure_bucket renders (aws_iam_policy_document: single values unwrapped)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": [
                        "s3:PutObject",
                        "s3:ListBucket",
                        "s3:GetObject",
                        "s3:GetBucketLocation",
                        "s3:DeleteObject",
                    ],
                    "Resource": [f"arn:aws:s3:::{bucket}/*", f"arn:aws:s3:::{bucket}"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


def error_of(call: Callable[[], Any]) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


# --- one port, two protocols -------------------------------------------------------------------------------------


def test_the_endpoint_is_https_and_the_same_port_answers_plain_http(
    recorder_and_emulator: tuple[SchemeRecorder, Emulator], aws: ClientCache, plain: Callable[[str], Any]
) -> None:
    recorder, emulator = recorder_and_emulator
    assert emulator.endpoint_url == f"https://127.0.0.1:{emulator.port}"
    assert emulator.http_endpoint_url == f"http://127.0.0.1:{emulator.port}"
    recorder.schemes.clear()
    aws("s3").list_buckets()
    plain("s3").list_buckets()
    assert recorder.schemes == ["https", "http"]


def test_a_connection_that_sends_nothing_does_not_disturb_the_server(emulator: Emulator, aws: ClientCache) -> None:
    for _ in range(3):
        socket.create_connection(("127.0.0.1", emulator.port), timeout=5).close()  # a port probe
    aws("sqs").list_queues()


def test_internal_urllib_calls_verify_with_the_local_ca(emulator: Emulator) -> None:
    context = client_ssl_context(emulator.endpoint_url)
    assert context is not None and context.verify_mode == ssl.CERT_REQUIRED
    with urllib.request.urlopen(f"{emulator.endpoint_url}/moto-api/", timeout=30, context=context) as response:
        assert response.status == 200
    assert client_ssl_context(emulator.http_endpoint_url) is None


def test_a_connection_serves_request_after_request_whatever_the_app_read(emulator: Emulator) -> None:
    """Keep-alive as AWS endpoints do it: several requests on one TLS connection, including ones whose body the
    app never reads (an error before the body matters) and a chunked one."""
    context = client_ssl_context(emulator.endpoint_url)
    connection = http.client.HTTPSConnection("127.0.0.1", emulator.port, context=context, timeout=30)
    try:
        statuses = []
        for method, path, body in [
            ("GET", "/moto-api/", None),
            ("PUT", "/no-such-bucket-edge/key", b"x" * 70_000),  # NoSuchBucket: the body is left unread
            ("PUT", "/no-such-bucket-edge/key", iter([b"abc", b"def"])),  # chunked
            ("GET", "/moto-api/", None),
        ]:
            chunked = not isinstance(body, bytes | None)
            connection.request(method, path, body=body, encode_chunked=chunked)
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
            assert response.getheader("Connection") != "close"
        assert statuses == [200, 404, 404, 200]
    finally:
        connection.close()


def test_a_child_process_trusts_the_endpoint_through_the_environment(emulator: Emulator) -> None:
    code = "import boto3; print(len(boto3.client('s3').list_buckets()['Buckets']) >= 0)"
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(emulator_env(emulator.endpoint_url, REGION))
    assert env["AWS_CA_BUNDLE"] == str(emulator.ca_bundle)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    # Without the local CA the certificate is not trusted: verification is really on.
    del env["AWS_CA_BUNDLE"]
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in result.stderr


# --- TLS-only policies -------------------------------------------------------------------------------------------


def test_a_tls_only_bucket_serves_https_and_denies_plain_http_as_aws_does(
    aws: ClientCache, plain: Callable[[str], Any]
) -> None:
    bucket = "edge-tls-only"
    s3 = aws("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=tls_only_policy(bucket))
    s3.put_object(Bucket=bucket, Key="raw/a.csv", Body=b"a,b\n1,2\n")
    assert s3.get_object(Bucket=bucket, Key="raw/a.csv")["Body"].read() == b"a,b\n1,2\n"
    assert s3.head_object(Bucket=bucket, Key="raw/a.csv")["ContentLength"] == 8
    assert [item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["raw/a.csv"]

    http = plain("s3")
    assert error_of(lambda: http.put_object(Bucket=bucket, Key="raw/b.csv", Body=b"x")) == ("AccessDenied", 403)
    assert error_of(lambda: http.get_object(Bucket=bucket, Key="raw/a.csv")) == ("AccessDenied", 403)
    assert error_of(lambda: http.list_objects_v2(Bucket=bucket)) == ("AccessDenied", 403)
    assert error_of(lambda: http.get_bucket_location(Bucket=bucket)) == ("AccessDenied", 403)
    # HEAD has no body on AWS either: the status is all a client gets.
    assert error_of(lambda: http.head_object(Bucket=bucket, Key="raw/a.csv")) == ("403", 403)
    assert "raw/b.csv" not in [item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]]


def test_a_bucket_without_a_policy_answers_plain_http(aws: ClientCache, plain: Callable[[str], Any]) -> None:
    aws("s3").create_bucket(Bucket="edge-no-policy")
    plain("s3").put_object(Bucket="edge-no-policy", Key="k", Body=b"v")
    assert aws("s3").get_object(Bucket="edge-no-policy", Key="k")["Body"].read() == b"v"


def test_known_gap_moto_does_not_evaluate_queue_or_topic_policies(
    aws: ClientCache, plain: Callable[[str], Any]
) -> None:
    """AWS denies a plain-HTTP SendMessage/Publish under a TLS-only queue or topic policy; moto evaluates no SQS or
    SNS resource policy at all, so here it succeeds. Kept as a test so that a moto that starts evaluating them is
    noticed (then the request context this edge provides applies to them too)."""
    queue_url = aws("sqs").create_queue(QueueName="edge-tls-only")["QueueUrl"]
    arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:edge-tls-only"
    policy = json.loads(tls_only_policy("x"))
    policy["Statement"][0].update(Action=["sqs:SendMessage"], Resource=arn)
    aws("sqs").set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    plain("sqs").send_message(QueueUrl=queue_url, MessageBody="over plain http")


# --- SQS as AWS answers it ---------------------------------------------------------------------------------------


def test_setting_one_queue_attribute_leaves_the_others_alone(aws: ClientCache) -> None:
    sqs, kms = aws("sqs"), aws("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    url = sqs.create_queue(QueueName="edge-dlq", Attributes={"KmsMasterKeyId": key})["QueueUrl"]
    statement = {"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sqs:SendMessage"}
    policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
    allow = {"redrivePermission": "byQueue", "sourceQueueArns": [f"arn:aws:sqs:{REGION}:{ACCOUNT}:edge-src"]}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedriveAllowPolicy": json.dumps(allow)})
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert json.loads(attributes["Policy"]) == json.loads(policy)  # moto used to drop it here
    assert json.loads(attributes["RedriveAllowPolicy"]) == allow
    assert attributes["KmsMasterKeyId"] == key
    assert attributes["SqsManagedSseEnabled"] == "false"  # SSE-KMS, not SSE-SQS
    with pytest.raises(ClientError):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedriveAllowPolicy": '{"redrivePermission": "x"}'})


# --- what moto must not execute ----------------------------------------------------------------------------------


def _function_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return None\n")
    return buffer.getvalue()


def test_moto_leaves_queue_messages_to_the_local_lambda_runtime(aws: ClientCache) -> None:
    iam, lam, sqs = aws("iam"), aws("lambda"), aws("sqs")
    trust = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    assume = {"Version": "2012-10-17", "Statement": [trust]}
    role = iam.create_role(RoleName="edge-fn", AssumeRolePolicyDocument=json.dumps(assume))["Role"]["Arn"]
    function = lam.create_function(FunctionName="edge-fn", Runtime="python3.11", Role=role, Handler="handler.handler",
                                   Code={"ZipFile": _function_zip()})["FunctionArn"]  # fmt: skip
    url = sqs.create_queue(QueueName="edge-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    mapping = lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=function, BatchSize=10)
    for index in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"event {index}")
    # The mapping is recorded as Terraform created it (the local runtime reads it from here)...
    assert lam.get_event_source_mapping(UUID=mapping["UUID"])["EventSourceArn"] == queue_arn
    # ...and every message is still there, never received by moto (a first receive, by us).
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert sorted(message["Body"] for message in received) == ["event 0", "event 1", "event 2"]
    assert {message["Attributes"]["ApproximateReceiveCount"] for message in received} == {"1"}


def test_glue_job_runs_stay_with_the_local_executor(emulator: Emulator, aws: ClientCache) -> None:
    started: list[dict[str, Any]] = []

    def start_job_run(params: dict[str, Any]) -> dict[str, Any]:
        started.append(params)
        return {"JobRunId": "jr_local_executor"}

    emulator.glue_actions.actions = {"StartJobRun": start_job_run}
    try:
        run = aws("glue").start_job_run(JobName="covid-transform", Arguments={"--source": "jhu"})
    finally:
        emulator.glue_actions.actions = {}
    assert run["JobRunId"] == "jr_local_executor"
    assert started == [{"JobName": "covid-transform", "Arguments": {"--source": "jhu"}}]


# --- answers Terraform's provider reads back -----------------------------------------------------------------------


def test_budget_notifications_have_subscribers_and_budgets_have_tags(aws: ClientCache) -> None:
    budgets = aws("budgets")
    notification = {"NotificationType": "ACTUAL", "ComparisonOperator": "GREATER_THAN", "Threshold": 80.0}
    subscriber = {"SubscriptionType": "EMAIL", "Address": "alerts@example.com"}
    budget = {"BudgetName": "edge", "BudgetLimit": {"Amount": "50", "Unit": "USD"}, "TimeUnit": "MONTHLY",
              "BudgetType": "COST"}  # fmt: skip
    budgets.create_budget(AccountId=ACCOUNT, Budget=budget, ResourceTags=[{"Key": "Stack", "Value": "edge"}])
    budgets.create_notification(AccountId=ACCOUNT, BudgetName="edge", Notification=notification,
                                Subscribers=[subscriber])  # fmt: skip
    found = budgets.describe_subscribers_for_notification(
        AccountId=ACCOUNT, BudgetName="edge", Notification={**notification, "ThresholdType": "PERCENTAGE"}
    )
    assert found["Subscribers"] == [subscriber]
    arn = f"arn:aws:budgets::{ACCOUNT}:budget/edge"
    assert budgets.list_tags_for_resource(ResourceARN=arn)["ResourceTags"] == [{"Key": "Stack", "Value": "edge"}]


def test_kms_rotation_period_is_kept(aws: ClientCache) -> None:
    kms = aws("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=365)
    status = kms.get_key_rotation_status(KeyId=key)
    assert (status["KeyRotationEnabled"], status["RotationPeriodInDays"], status["KeyId"]) == (True, 365, key)


def test_logging_to_a_target_that_grants_by_wildcard_policy(aws: ClientCache) -> None:
    s3 = aws("s3")
    for bucket in ("edge-logs", "edge-source"):
        s3.create_bucket(Bucket=bucket)
    # A target that still uses ACLs must grant the logging service: a wildcard covering the prefix is enough.
    s3.put_bucket_ownership_controls(
        Bucket="edge-logs", OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
    )
    grant = {"Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
             "Resource": "arn:aws:s3:::edge-logs/s3/*"}  # fmt: skip
    status = {"LoggingEnabled": {"TargetBucket": "edge-logs", "TargetPrefix": "s3/edge-source/"}}
    refused = error_of(lambda: s3.put_bucket_logging(Bucket="edge-source", BucketLoggingStatus=status))
    assert refused == ("InvalidTargetBucketForLogging", 400)  # no grant yet
    s3.put_bucket_policy(Bucket="edge-logs", Policy=json.dumps({"Version": "2012-10-17", "Statement": [grant]}))
    s3.put_bucket_logging(Bucket="edge-source", BucketLoggingStatus=status)
    assert s3.get_bucket_logging(Bucket="edge-source")["LoggingEnabled"]["TargetPrefix"] == "s3/edge-source/"
    s3.put_object(Bucket="edge-source", Key="k", Body=b"v")
    assert "Contents" not in s3.list_objects_v2(Bucket="edge-logs")  # delivered later on AWS, never here


def test_lambda_reads_back_its_logging_and_dead_letter_configuration(aws: ClientCache) -> None:
    trust = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    role = aws("iam").create_role(RoleName="edge-cfg", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17",
                                  "Statement": [trust]}))["Role"]["Arn"]  # fmt: skip
    dlq = f"arn:aws:sqs:{REGION}:{ACCOUNT}:edge-async-dlq"
    aws("lambda").create_function(FunctionName="edge-cfg", Runtime="python3.11", Role=role, Handler="handler.handler",
                                  Code={"ZipFile": _function_zip()}, DeadLetterConfig={"TargetArn": dlq},
                                  LoggingConfig={"LogFormat": "JSON", "LogGroup": "/aws/lambda/edge-cfg"})  # fmt: skip
    config = aws("lambda").get_function_configuration(FunctionName="edge-cfg")
    assert config["DeadLetterConfig"] == {"TargetArn": dlq}
    assert config["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": "/aws/lambda/edge-cfg",
                                       "ApplicationLogLevel": "INFO", "SystemLogLevel": "INFO"}  # fmt: skip


def test_a_glue_job_without_an_execution_class_reads_back_without_one(aws: ClientCache) -> None:
    glue = aws("glue")
    glue.create_job(Name="edge-job", Role="arn:aws:iam::123456789012:role/glue",
                    Command={"Name": "glueetl", "ScriptLocation": "s3://edge/script.py"})  # fmt: skip
    assert "ExecutionClass" not in glue.get_job(JobName="edge-job")["Job"]


def test_update_job_overwrites_the_definition_as_glue_does(aws: ClientCache) -> None:
    glue = aws("glue")
    glue.create_job(
        Name="edge-update",
        Role="arn:aws:iam::123456789012:role/glue",
        Command={"Name": "glueetl", "ScriptLocation": "s3://edge/one.py"},
        DefaultArguments={"--kept": "no"},
        Timeout=5,
    )
    glue.update_job(
        JobName="edge-update",
        JobUpdate={
            "Role": "arn:aws:iam::123456789012:role/glue-2",
            "Command": {"Name": "glueetl", "ScriptLocation": "s3://edge/two.py"},
            "Timeout": 9,
        },
    )
    job = glue.get_job(JobName="edge-update")["Job"]
    assert (job["Role"], job["Command"]["ScriptLocation"], job["Timeout"]) == (
        "arn:aws:iam::123456789012:role/glue-2",
        "s3://edge/two.py",
        9,
    )
    assert job.get("DefaultArguments", {}) == {}, "UpdateJob replaces the whole definition"
    with pytest.raises(ClientError) as missing:
        glue.update_job(JobName="edge-absent", JobUpdate={"Role": "r"})
    assert missing.value.response["Error"]["Code"] == "EntityNotFoundException"


def test_trails_are_described_by_name_or_arn_and_deleted_by_arn(aws: ClientCache) -> None:
    """Two environments' trails in one account: the provider reads and deletes one trail by its ARN."""
    s3 = aws("s3")
    cloudtrail = aws("cloudtrail")
    arns = {}
    for name in ("edge-dev-audit", "edge-staging-audit"):
        s3.create_bucket(Bucket=f"{name}-logs")
        arns[name] = cloudtrail.create_trail(Name=name, S3BucketName=f"{name}-logs", IsMultiRegionTrail=True)[
            "TrailARN"
        ]
    by_arn = cloudtrail.describe_trails(trailNameList=[arns["edge-staging-audit"]])["trailList"]
    assert [trail["Name"] for trail in by_arn] == ["edge-staging-audit"]
    by_name = cloudtrail.describe_trails(trailNameList=["edge-dev-audit"])["trailList"]
    assert [trail["TrailARN"] for trail in by_name] == [arns["edge-dev-audit"]]
    assert {t["Name"] for t in cloudtrail.describe_trails()["trailList"]} >= set(arns)

    cloudtrail.delete_trail(Name=arns["edge-staging-audit"])
    left = {trail["Name"] for trail in cloudtrail.describe_trails()["trailList"]}
    assert "edge-staging-audit" not in left and "edge-dev-audit" in left
    cloudtrail.delete_trail(Name="edge-dev-audit")


def test_a_versioned_key_with_a_delete_marker_can_be_emptied_and_its_bucket_deleted(aws: ClientCache) -> None:
    """What `terraform destroy` of a force_destroy bucket does: versioning suspended (its resource goes first), then
    every version deleted, delete markers included (moto raised AttributeError on the marker)."""
    s3 = aws("s3")
    s3.create_bucket(Bucket="edge-versioned-destroy")
    s3.put_bucket_versioning(Bucket="edge-versioned-destroy", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="edge-versioned-destroy", Key="jhu_daily/part-0.parquet", Body=b"one")
    s3.put_object(Bucket="edge-versioned-destroy", Key="jhu_daily/part-0.parquet", Body=b"two")
    s3.delete_object(Bucket="edge-versioned-destroy", Key="jhu_daily/part-0.parquet")  # a delete marker on top
    s3.put_bucket_versioning(Bucket="edge-versioned-destroy", VersioningConfiguration={"Status": "Suspended"})
    listing = s3.list_object_versions(Bucket="edge-versioned-destroy")
    every = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in listing["Versions"] + listing["DeleteMarkers"]]
    assert len(every) == 3
    answer = s3.delete_objects(Bucket="edge-versioned-destroy", Delete={"Objects": every[::-1]})
    assert answer.get("Errors", []) == [] and len(answer["Deleted"]) == 3
    listing = s3.list_object_versions(Bucket="edge-versioned-destroy")
    assert listing.get("Versions", []) == listing.get("DeleteMarkers", []) == []
    s3.delete_bucket(Bucket="edge-versioned-destroy")
