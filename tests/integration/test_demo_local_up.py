"""`covid-pipeline local up`: a local cloud in the foreground that a user reaches with boto3 or the AWS CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from covid_pipeline.config import load_config


def test_local_up_serves_until_interrupted_and_saves_its_state(tmp_path: Path) -> None:
    config = load_config("test")
    names = config.names
    env = {**os.environ, "COVID_PIPELINE_LOCAL_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    for key in [k for k in env if k.startswith("AWS_ENDPOINT_URL")]:
        del env[key]
    process = subprocess.Popen(
        [sys.executable, "-m", "covid_pipeline", "--env", "test", "local", "up"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        lines = []
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Ctrl-C stops it"):
                break
        banner = "\n".join(lines)
        exports = dict(
            line.strip()[len("export ") :].split("=", 1) for line in lines if line.strip().startswith("export ")
        )
        endpoint = exports["AWS_ENDPOINT_URL"]
        assert endpoint.startswith("http://127.0.0.1:")
        assert f"aws --endpoint-url {endpoint} s3 cp" in banner
        assert f"s3://{names.raw_bucket}/raw/jhu_daily/" in banner

        client_kwargs = {"endpoint_url": endpoint, "region_name": config.region}
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

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=120) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    state_dir = tmp_path / "test"
    assert not (state_dir / "endpoint.json").exists()
    # The upload survived the stop: the state on disk has the raw bucket's object.
    assert "notes.txt" in "".join(p.read_text(errors="ignore") for p in state_dir.rglob("index.json"))


@pytest.mark.parametrize("argv", [["local"], ["local", "down"]])
def test_local_needs_a_known_subcommand(argv: list[str]) -> None:
    from covid_pipeline.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--env", "test", *argv])
    assert exit_info.value.code == 2
