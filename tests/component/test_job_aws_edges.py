"""The job's AWS edges (S3 storage, Glue catalog, CloudWatch metrics) against moto over HTTP on a free port."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
import schema_evolution
from moto.server import ThreadedMotoServer
from utils import catalog, metrics, storage, validators


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    storage._s3_client.cache_clear()
    yield endpoint
    storage._s3_client.cache_clear()


def test_storage_lists_reads_writes_copies_and_deletes_on_s3(aws: str) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="raw")
    body = b"Province/State,Country/Region,Last Update,Confirmed,Deaths,Recovered\n,Japan,1/22/2020 17:00,2,,\n"
    s3.put_object(Bucket="raw", Key="jhu/daily/01-22-2020.csv", Body=body)
    s3.put_object(Bucket="raw", Key="jhu/daily/sub/README.md", Body=b"x")
    s3.put_object(Bucket="raw", Key="jhu/other.csv", Body=b"x")

    listed = storage.list_objects("s3://raw/jhu/daily/")
    assert [(o.relative_path, o.size) for o in listed] == [("01-22-2020.csv", len(body)), ("sub/README.md", 1)]
    assert listed[0].uri == "s3://raw/jhu/daily/01-22-2020.csv" and listed[0].fingerprint
    head = storage.read_head(listed[0].uri, 20)
    assert head == body[:20]
    verdict = validators.check_file("01-22-2020.csv", storage.read_head(listed[0].uri, 1 << 16), len(body), "jhu_daily")
    assert verdict.quarantine_reason is None and verdict.mapping is not None
    assert storage.path_key(listed[0].uri) == "raw/jhu/daily/01-22-2020.csv"

    storage.write_json("s3://raw/state/ledger.json", {"files": {"a": 1}})
    assert storage.read_json("s3://raw/state/ledger.json") == {"files": {"a": 1}}
    assert storage.read_json("s3://raw/state/missing.json") is None
    storage.copy_object(listed[0].uri, "s3://raw/quarantine/run_id=1/files/01-22-2020.csv")
    assert storage.read_bytes("s3://raw/quarantine/run_id=1/files/01-22-2020.csv") == body
    assert storage.delete_prefix("s3://raw/quarantine/run_id=1") == 1
    assert storage.list_objects("s3://raw/quarantine/") == []


def test_staging_leftovers_of_a_killed_run_are_found_only_at_the_output_root(aws: str, tmp_path) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="processed")
    for key in (
        "jhu_daily/.spark-staging-1111/_temporary/0/part-0.parquet",
        "jhu_daily/.spark-staging-2222/year=2020/month=3/part-1.parquet",
        "jhu_daily/.publish-staging-run-3/year=2020/month=3/part-2.parquet",
        "jhu_daily/year=2020/month=3/part-0.parquet",
        "jhu_daily/year=2020/month=3/.spark-staging-nested/part.parquet",
    ):
        s3.put_object(Bucket="processed", Key=key, Body=b"x")
    leftovers = storage.staging_leftovers("s3://processed/jhu_daily/")
    assert leftovers == [
        "s3://processed/jhu_daily/.publish-staging-run-3/",
        "s3://processed/jhu_daily/.spark-staging-1111/",
        "s3://processed/jhu_daily/.spark-staging-2222/",
    ]
    for leftover in leftovers:
        storage.delete_prefix(leftover)
    remaining = [o.relative_path for o in storage.list_objects("s3://processed/jhu_daily/")]
    assert remaining == ["year=2020/month=3/.spark-staging-nested/part.parquet", "year=2020/month=3/part-0.parquet"]

    (tmp_path / ".spark-staging-3333" / "_temporary").mkdir(parents=True)
    (tmp_path / ".publish-staging-run-4" / "year=2020").mkdir(parents=True)
    (tmp_path / "year=2020").mkdir()
    assert storage.staging_leftovers(str(tmp_path)) == [
        str(tmp_path / ".publish-staging-run-4"),
        str(tmp_path / ".spark-staging-3333"),
    ]
    assert storage.staging_leftovers(str(tmp_path / "missing")) == []


def test_a_staged_partition_moves_into_place_whole(aws: str, tmp_path) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="moves")
    staged = "out/.publish-staging-r1/year=2020/month=3"
    for name in ("part-0.parquet", ".part-0.parquet.crc", "nested/part-1.parquet"):
        s3.put_object(Bucket="moves", Key=f"{staged}/{name}", Body=name.encode())
    s3.put_object(Bucket="moves", Key=f"{staged}0/part-9.parquet", Body=b"x")  # month=30: not under month=3
    assert (
        storage.move_prefix("s3://moves/out/.publish-staging-r1/year=2020/month=3", "s3://moves/out/year=2020/month=3")
        == 3
    )
    remaining = sorted(item["Key"] for item in s3.list_objects_v2(Bucket="moves")["Contents"])
    assert remaining == [
        "out/.publish-staging-r1/year=2020/month=30/part-9.parquet",
        "out/year=2020/month=3/.part-0.parquet.crc",
        "out/year=2020/month=3/nested/part-1.parquet",
        "out/year=2020/month=3/part-0.parquet",
    ]
    assert storage.read_bytes("s3://moves/out/year=2020/month=3/nested/part-1.parquet") == b"nested/part-1.parquet"
    assert storage.move_prefix("s3://moves/out/.publish-staging-r1/year=2020/month=4", "s3://moves/out/x") == 0

    source = tmp_path / ".publish-staging-r1" / "year=2020" / "month=3"
    source.mkdir(parents=True)
    (source / "part-0.parquet").write_bytes(b"rows")
    assert storage.move_prefix(str(source), str(tmp_path / "year=2020" / "month=3")) == 1
    assert (tmp_path / "year=2020" / "month=3" / "part-0.parquet").read_bytes() == b"rows" and not source.exists()
    assert storage.move_prefix(str(source), str(tmp_path / "year=2020" / "month=4")) == 0
    with pytest.raises(ValueError, match="one is on S3"):
        storage.move_prefix(str(tmp_path), "s3://moves/out/")


def test_catalog_table_is_created_extended_additively_and_partitions_registered(aws: str) -> None:
    glue = boto3.client("glue")
    first = catalog.sync_table(glue, "covid_db", "covid_jhu_daily", "s3://processed/jhu_daily", [(2020, 1), (2020, 2)])
    assert first == {"table_created": True, "columns_added": [], "partitions_added": 2}
    table = glue.get_table(DatabaseName="covid_db", Name="covid_jhu_daily")["Table"]
    columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    assert columns[:3] == [("report_date", "date"), ("country", "string"), ("iso3", "string")]
    assert ("extra_fields", "map<string,string>") in columns and ("confirmed", "bigint") in columns
    assert [k["Name"] for k in table["PartitionKeys"]] == ["year", "month"]
    assert table["StorageDescriptor"]["Location"] == "s3://processed/jhu_daily/"
    assert table["Parameters"]["schema_version"] == schema_evolution.SCHEMA_VERSION

    # An older table version without two columns, plus a column of its own: columns are only ever added.
    old = [c for c in table["StorageDescriptor"]["Columns"] if c["Name"] not in ("extra_fields", "schema_era")]
    old.append({"Name": "legacy_col", "Type": "string"})
    glue.update_table(
        DatabaseName="covid_db",
        TableInput={
            "Name": "covid_jhu_daily",
            "StorageDescriptor": {**table["StorageDescriptor"], "Columns": old},
            "PartitionKeys": table["PartitionKeys"],
            "Parameters": {**table["Parameters"], "schema_version": "0.9.0"},
        },
    )
    second = catalog.sync_table(
        glue, "covid_db", "covid_jhu_daily", "s3://processed/jhu_daily/", [(2020, 2), (2020, 3)]
    )
    assert second == {"table_created": False, "columns_added": ["schema_era", "extra_fields"], "partitions_added": 1}
    names = [c["Name"] for c in glue.get_table(DatabaseName="covid_db", Name="covid_jhu_daily")["Table"][
        "StorageDescriptor"]["Columns"]]  # fmt: skip
    assert "legacy_col" in names and names[-2:] == ["schema_era", "extra_fields"]
    partitions = glue.get_partitions(DatabaseName="covid_db", TableName="covid_jhu_daily")["Partitions"]
    assert sorted(tuple(p["Values"]) for p in partitions) == [("2020", "1"), ("2020", "2"), ("2020", "3")]


def test_metrics_carry_the_manifest_numbers_with_the_job_name(aws: str) -> None:
    manifest = {"rows_in": 10, "rows_out": 8, "rows_quarantined": 1, "rows_duplicate": 1, "files_processed": 2,
                "files_skipped": 0, "files_quarantined": 0, "duration_seconds": 3.5,
                "data_quality": {"score": 0.9, "results": []}}  # fmt: skip
    cloudwatch = boto3.client("cloudwatch")
    assert metrics.publish(cloudwatch, "CovidPipeline", manifest, "covid-job") == 9
    listed = cloudwatch.list_metrics(Namespace="CovidPipeline", Dimensions=[{"Name": "JobName", "Value": "covid-job"}])
    assert {m["MetricName"] for m in listed["Metrics"]} == set(metrics.METRIC_UNITS)
    data = {d["MetricName"]: d["Value"] for d in metrics.metric_data(manifest, "covid-job")}
    assert (data["rows_out"], data["dq_score"]) == (8.0, 0.9)
    assert json.dumps(metrics.metric_data({"rows_in": None}, "j")) == "[]"
