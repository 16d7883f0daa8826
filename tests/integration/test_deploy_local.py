"""Drill: scripts/deploy.sh against a running `covid-pipeline local up`, as a user runs them from two shells.

`local up` of dev applies terraform/ + terraform/local/; right after it `deploy.sh dev apply` changes nothing (the
same working copy and state). `deploy.sh staging plan`, then `apply`, create staging beside dev in the same local
cloud; an upload to staging's raw bucket runs staging's job to SUCCEEDED through staging's own queue, mapping and
handler; `deploy.sh staging destroy` leaves none of staging's resources behind, and dev's untouched. Timings are
printed (pytest -s).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from covid_pipeline.config import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

DEPLOY = REPO_ROOT / "scripts" / "deploy.sh"
CLI = Path(sys.executable).parent / "covid-pipeline"
SAMPLE = REPO_ROOT / "tests" / "fixtures" / "jhu" / "01-22-2020.csv"
LOOKUP = REPO_ROOT / "tests" / "fixtures" / "jhu" / "UID_lookup_small.csv"
STAGING = "covid-pipeline-staging"
# Resources of one environment in the local cloud: terraform/ plus terraform/local/ (the alerts inbox).
RESOURCES_PER_ENVIRONMENT = 110
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Timings:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, label: str, action: Callable[[], Any]) -> Any:
        started = time.monotonic()
        try:
            return action()
        finally:
            self.seconds[label] = round(time.monotonic() - started, 1)
            print(f"{label}: {self.seconds[label]:.1f} s", flush=True)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def child_env(tmp_path: Path) -> dict[str, str]:
    """The environment of every command: our own state and certificate folders, no endpoint inherited."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_ENDPOINT_URL", "AWS_CA"))}
    env.update(
        {
            "COVID_PIPELINE_LOCAL_DIR": str(tmp_path / "local"),
            "COVID_PIPELINE_TLS_DIR": str(tmp_path / "tls"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("BUILD_DIR", None)  # the default build/, the one `local up` builds into
    return env


@pytest.fixture
def local_up(tmp_path: Path, child_env: dict[str, str]) -> Iterator[dict[str, Any]]:
    """`covid-pipeline --env dev local up` in a child process; yields its endpoint.json; `local down` at the end."""
    log = (tmp_path / "local-up.log").open("w")
    started = time.monotonic()
    process = subprocess.Popen(
        [str(CLI), "--env", "dev", "local", "up"], stdout=log, stderr=subprocess.STDOUT, env=child_env, text=True
    )
    endpoint_file = tmp_path / "local" / "dev" / "endpoint.json"
    try:

        def ready() -> dict[str, Any] | None:
            assert process.poll() is None, f"local up exited:\n{(tmp_path / 'local-up.log').read_text()[-4000:]}"
            return json.loads(endpoint_file.read_text()) if endpoint_file.is_file() else None

        info = wait_for(ready, 900, "local up to write endpoint.json")
        assert info["pid"] == process.pid
        print(f"local up (dev, terraform apply included): {time.monotonic() - started:.1f} s", flush=True)
        yield dict(info)
        stopped = time.monotonic()
        down = subprocess.run(
            [str(CLI), "--env", "dev", "local", "down"], env=child_env, capture_output=True, text=True, timeout=300
        )
        assert down.returncode == 0, down.stdout + down.stderr
        assert process.wait(timeout=120) == 0
        print(f"local down: {time.monotonic() - stopped:.1f} s", flush=True)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # the process this test started, by its pid
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


class DeployTimedOut(AssertionError):
    pass


def deploy(env: dict[str, str], *args: str, timeout: float = 900) -> str:
    """scripts/deploy.sh in its own process group, so that a timeout ends Terraform too, not only bash."""
    process = subprocess.Popen(
        ["bash", str(DEPLOY), *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        raw, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)  # the group this call started: deploy.sh and its Terraform
        try:
            raw, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raw, _ = process.communicate()
        raise DeployTimedOut(
            f"deploy.sh {' '.join(args)} still running after {timeout:.0f} s:\n{raw[-4000:]}"
        ) from None
    output = ANSI.sub("", raw)  # deploy.sh leaves Terraform's colours on
    assert process.returncode == 0, f"deploy.sh {' '.join(args)} failed ({process.returncode}):\n{output[-6000:]}"
    return output


def clients(info: dict[str, Any]) -> dict[str, Any]:
    env = info["env"]
    session = boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    )
    return {
        service: session.client(service, endpoint_url=info["endpoint_url"], verify=env["AWS_CA_BUNDLE"])
        for service in ("s3", "sqs", "lambda", "glue")
    }


def environment_resources(aws: dict[str, Any], prefix: str) -> dict[str, list[str]]:
    """Buckets, queues, functions and Glue jobs whose names start with the prefix."""
    functions = [
        function["FunctionName"]
        for page in aws["lambda"].get_paginator("list_functions").paginate()
        for function in page["Functions"]
    ]
    jobs = [
        name for page in aws["glue"].get_paginator("get_jobs").paginate() for name in (j["Name"] for j in page["Jobs"])
    ]
    return {
        "buckets": sorted(b["Name"] for b in aws["s3"].list_buckets()["Buckets"] if b["Name"].startswith(prefix)),
        "queues": sorted(
            url.rsplit("/", 1)[1] for url in aws["sqs"].list_queues(QueueNamePrefix=prefix).get("QueueUrls", [])
        ),
        "functions": sorted(name for name in functions if name.startswith(prefix)),
        "jobs": sorted(name for name in jobs if name.startswith(prefix)),
    }


def test_deploy_sh_applies_beside_and_after_local_up(
    local_up: dict[str, Any], child_env: dict[str, str], tmp_path: Path
) -> None:
    endpoint = local_up["endpoint_url"]
    assert re.fullmatch(r"https://127\.0\.0\.1:\d+", endpoint)
    aws = clients(local_up)
    timed = Timings()

    # Right after `local up`, the same environment applied again changes nothing.
    output = timed(
        "deploy.sh dev apply (no changes)",
        lambda: deploy(child_env, "dev", "apply", "--auto-approve", "--local-endpoint", endpoint),
    )
    assert "No changes." in output
    assert "Apply complete! Resources: 0 added, 0 changed, 0 destroyed." in output

    output = timed("deploy.sh staging plan", lambda: deploy(child_env, "staging", "plan", "--local-endpoint", endpoint))
    assert f"Plan: {RESOURCES_PER_ENVIRONMENT} to add, 0 to change, 0 to destroy." in output

    output = timed(
        "deploy.sh staging apply",
        lambda: deploy(child_env, "staging", "apply", "--auto-approve", "--local-endpoint", endpoint),
    )
    assert f"Apply complete! Resources: {RESOURCES_PER_ENVIRONMENT} added, 0 changed, 0 destroyed." in output
    staging = environment_resources(aws, STAGING)
    assert staging == {
        "buckets": [
            f"{STAGING}-{b}" for b in ("access-logs", "cloudtrail", "processed", "quarantine", "raw", "scripts")
        ],
        "queues": [f"{STAGING}-{q}" for q in ("alerts-inbox", "lambda-async-dlq", "raw-events", "raw-events-dlq")],
        "functions": [
            f"{STAGING}-{f}" for f in ("data-quality-monitor", "ingestion", "s3-event-handler", "warehouse-loader")
        ],
        "jobs": [f"{STAGING}-covid-transform"],
    }
    dev_before = environment_resources(aws, "covid-pipeline-dev")

    # An upload to staging's raw bucket runs staging's job, through staging's own queue, mapping and handler.
    job = f"{STAGING}-covid-transform"

    # The job reads the UID lookup table on every run; deploy.sh uploads it only from COVID_REFERENCE_CSV, and
    # `local up` builds into the shared build/ folder, so here it goes where the job's own arguments say.
    reference = aws["glue"].get_job(JobName=job)["Job"]["DefaultArguments"]["--reference_path"]
    bucket, key = reference.removeprefix("s3://").split("/", 1)
    aws["s3"].put_object(Bucket=bucket, Key=key, Body=LOOKUP.read_bytes())

    def run_succeeded() -> dict[str, Any]:
        aws["s3"].put_object(Bucket=f"{STAGING}-raw", Key="raw/jhu_daily/01-22-2020.csv", Body=SAMPLE.read_bytes())

        def finished() -> dict[str, Any] | None:
            runs = aws["glue"].get_job_runs(JobName=job)["JobRuns"]
            done = [run for run in runs if run["JobRunState"] not in {"STARTING", "RUNNING", "STOPPING", "WAITING"}]
            return done[0] if done else None

        return dict(wait_for(finished, 900, f"a run of {job} to finish"))

    run = timed("staging upload -> job run SUCCEEDED", run_succeeded)
    assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
    assert run["Arguments"]["--input_path"] == f"s3://{STAGING}-raw/raw/jhu_daily/"
    # The monitor checks the run (its marker); wait for it so that nothing writes while staging is destroyed.
    marker = f"_state/jhu_daily/monitor/{run['Id']}.SUCCEEDED.json"

    def monitored() -> bool:
        listed = aws["s3"].list_objects_v2(Bucket=f"{STAGING}-processed", Prefix="_state/jhu_daily/monitor/")
        return any(item["Key"] == marker for item in listed.get("Contents", []))

    timed("run SUCCEEDED -> monitor's marker", lambda: wait_for(monitored, 300, "the data quality monitor"))

    # Versioning is suspended before force_destroy empties the buckets; moto's delete of a key holding a delete
    # marker then failed (moto_patches.s3.patch_s3_delete_marker_disposal).
    output = timed(
        "deploy.sh staging destroy",
        lambda: deploy(child_env, "staging", "destroy", "--auto-approve", "--local-endpoint", endpoint, timeout=600),
    )
    assert f"Destroy complete! Resources: {RESOURCES_PER_ENVIRONMENT} destroyed." in output
    assert environment_resources(aws, STAGING) == {"buckets": [], "queues": [], "functions": [], "jobs": []}
    state = json.loads((tmp_path / "local" / "staging" / "terraform.tfstate").read_text())
    assert state["resources"] == []
    assert environment_resources(aws, "covid-pipeline-dev") == dev_before, "destroying staging touched dev"
    print("timings:", json.dumps(timed.seconds), flush=True)
