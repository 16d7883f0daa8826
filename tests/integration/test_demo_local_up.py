"""`covid-pipeline local up` / `local down`: a local cloud in the foreground that a user reaches with boto3 or the AWS
CLI, stopped by another command, its state saved and found again by the next `local up` without a new apply."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from covid_pipeline.config import PipelineConfig


def start_local_up(root: Path) -> tuple[subprocess.Popen[str], list[str]]:
    env = {**os.environ, "COVID_PIPELINE_LOCAL_DIR": str(root), "PYTHONUNBUFFERED": "1"}
    for key in [k for k in env if k.startswith(("AWS_ENDPOINT_URL", "AWS_CA_BUNDLE"))]:
        del env[key]
    process = subprocess.Popen(
        [sys.executable, "-m", "covid_pipeline", "--env", "test", "local", "up"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("Ctrl-C"):
            break
    return process, lines


def local_down(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COVID_PIPELINE_LOCAL_DIR": str(root)}
    return subprocess.run(
        [sys.executable, "-m", "covid_pipeline", "--env", "test", "local", "down"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )


def test_local_up_serves_until_local_down_and_comes_back_without_an_apply(
    test_config: PipelineConfig, cloud_state_dir: Callable[[], Path]
) -> None:
    names = test_config.names
    state_dir = cloud_state_dir()
    root = state_dir.parent
    process, lines = start_local_up(root)
    try:
        banner = "\n".join(lines)
        assert "terraform: no changes" in banner, banner
        exports = dict(
            line.strip()[len("export ") :].split("=", 1) for line in lines if line.strip().startswith("export ")
        )
        endpoint, ca_bundle = exports["AWS_ENDPOINT_URL"], exports["AWS_CA_BUNDLE"]
        assert endpoint.startswith("https://127.0.0.1:")
        assert f"aws --endpoint-url {endpoint} s3 cp" in banner
        assert f"s3://{names.raw_bucket}/raw/jhu_daily/" in banner
        assert f"scripts/deploy.sh test plan --local-endpoint {endpoint}" in banner

        client_kwargs = {"endpoint_url": endpoint, "region_name": test_config.region, "verify": ca_bundle}
        s3 = boto3.client("s3", **client_kwargs)
        logs = boto3.client("logs", **client_kwargs)
        # An upload the handler must refuse: it proves the event source mapping is live without starting Spark.
        s3.put_object(Bucket=names.raw_bucket, Key="raw/jhu_daily/notes.txt", Body=b"not data")
        group = f"/aws/lambda/{names.lambda_functions['s3-event-handler']}"
        deadline = time.monotonic() + 60
        reasons: list[str] = []
        while time.monotonic() < deadline and not reasons:
            try:
                events = logs.filter_log_events(logGroupName=group)["events"]
            except logs.exceptions.ResourceNotFoundException:
                events = []
            reasons = [
                json.loads(e["message"])["reason"]
                for e in events
                if e["message"].startswith("{") and "object ignored" in e["message"]
            ]
            time.sleep(0.5)
        assert reasons == ["unsupported suffix (supported: .csv, .csv.gz, .json, .jsonl, .parquet)"]

        stopped = local_down(root)
        assert stopped.returncode == 0, stopped.stderr
        assert stopped.stdout.strip() == f"local cloud 'test' stopped; its state is saved in {state_dir}"
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not (state_dir / "endpoint.json").exists()
    assert local_down(root).stdout.strip() == "no local cloud of 'test' is running"

    # Up again: the upload survived, and nothing was applied.
    process, lines = start_local_up(root)
    try:
        assert "terraform: no changes" in "\n".join(lines)
        exports = dict(
            line.strip()[len("export ") :].split("=", 1) for line in lines if line.strip().startswith("export ")
        )
        s3 = boto3.client(
            "s3",
            endpoint_url=exports["AWS_ENDPOINT_URL"],
            region_name=test_config.region,
            verify=exports["AWS_CA_BUNDLE"],
        )
        assert s3.get_object(Bucket=names.raw_bucket, Key="raw/jhu_daily/notes.txt")["Body"].read() == b"not data"
        assert local_down(root).returncode == 0
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("argv", [["local"], ["local", "sideways"]])
def test_local_needs_a_known_subcommand(argv: list[str]) -> None:
    from covid_pipeline.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--env", "test", *argv])
    assert exit_info.value.code == 2
