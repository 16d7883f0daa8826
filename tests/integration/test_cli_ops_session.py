"""Where the CLI's calls go (covid_pipeline.local.session): endpoint variable, a running local cloud's endpoint
file, AWS credentials, or a clear error. A real moto server plays the running local cloud."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from covid_pipeline.cli import main
from covid_pipeline.config import load_config
from covid_pipeline.errors import UserError
from covid_pipeline.local.session import aws_session_for

ENV = "test"


def _without_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No endpoint and no credentials anywhere."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name == "COVID_PIPELINE_LOCAL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No endpoint, no credentials anywhere, and an empty local state folder."""
    _without_aws(monkeypatch, tmp_path)
    monkeypatch.setenv("COVID_PIPELINE_LOCAL_DIR", str(tmp_path / "local"))
    return tmp_path / "local" / ENV


@pytest.fixture
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.get_host_and_port()[1]}"
    finally:
        server.stop()


def test_without_credentials_or_local_cloud_the_error_says_how_to_choose(no_aws: Path, capsys):
    with pytest.raises(UserError, match="pass --local"), aws_session_for(load_config(ENV)):
        pass
    assert main(["--env", ENV, "status"]) == 2
    assert "no AWS credentials and no local cloud running" in capsys.readouterr().err


def test_a_running_local_cloud_is_found_through_its_endpoint_file(no_aws: Path, moto_endpoint: str):
    no_aws.mkdir(parents=True)
    (no_aws / "endpoint.json").write_text(
        json.dumps({"endpoint_url": moto_endpoint, "env": {"AWS_ENDPOINT_URL": moto_endpoint}})
    )
    with aws_session_for(load_config(ENV)) as session:
        assert os.environ["AWS_ENDPOINT_URL"] == moto_endpoint
        session.client("s3").create_bucket(Bucket="seen-through-the-endpoint-file")
        names = [b["Name"] for b in session.client("s3").list_buckets()["Buckets"]]
        assert "seen-through-the-endpoint-file" in names
    assert "AWS_ENDPOINT_URL" not in os.environ  # restored after the command


def test_a_stale_endpoint_file_is_ignored(no_aws: Path):
    no_aws.mkdir(parents=True)
    (no_aws / "endpoint.json").write_text(json.dumps({"endpoint_url": "http://127.0.0.1:9"}))
    with pytest.raises(UserError, match="no local cloud running"), aws_session_for(load_config(ENV)):
        pass


def test_an_explicit_endpoint_wins(no_aws: Path, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with aws_session_for(load_config(ENV), local=True) as session:
        assert session.region_name == load_config(ENV).region
        assert session.client("sqs").list_queues().get("QueueUrls", []) == []


def test_a_provisioned_local_cloud_is_brought_up_for_a_command_without_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cloud_state_dir: Callable[[], Path], capsys
):
    """After `make demo` a newcomer's first `covid-pipeline runs` shows the demo's runs: no credentials, no cloud
    running, but the environment's local cloud is provisioned in .local/ (here the session's test cloud)."""
    _without_aws(monkeypatch, tmp_path)
    state_dir = cloud_state_dir()
    assert main(["--env", ENV, "runs", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == []  # the baseline has no run yet; the call reached its Glue API
    assert f"no AWS credentials: using the local cloud of {ENV} saved in {state_dir}" in captured.err
    assert "AWS_ENDPOINT_URL" not in os.environ  # the cloud stopped with the command
