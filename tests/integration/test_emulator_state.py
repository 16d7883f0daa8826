"""The emulator's whole state survives a reset or a new process: every kind of resource, with the same identities.

Resources are made through boto3 on a real moto server (behind the RequestGate, as the local cloud serves it);
EmulatorState snapshots moto's backends in this process and restores them into a server that was reset, or
into a new process's server; the answers are compared with hand-written expectations
(tests/integration/emulator_resources.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from covid_pipeline.errors import UserError
from covid_pipeline.local.state import EmulatorState

pytest.register_assert_rewrite("tests.integration.emulator_resources")  # its checks report values as tests do

from tests.integration.emulator_resources import (  # noqa: E402 - after the rewrite hook
    PLAIN_BUCKET,
    VERSIONED_BUCKET,
    build,
    check,
    clients_for,
    gated_emulator,
    plan_args,
    provider_mirror,
    reset,
    terraform,
)

REPO = Path(__file__).resolve().parents[2]
TERRAFORM_FIXTURE = REPO / "tests" / "fixtures" / "emulator_state"


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its inode and modification time: what a snapshot rewrote shows here."""
    return {
        str(path.relative_to(folder)): (path.stat().st_ino, path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _blob_files(state: EmulatorState) -> set[str]:
    return {path.name for path in (state.folder / "blobs").glob("*/*")}


def test_every_kind_of_resource_comes_back_after_a_reset_and_in_a_new_process(tmp_path: Path) -> None:
    with gated_emulator() as (endpoint, gate):
        client = clients_for(endpoint)
        expected = build(client)
        state = EmulatorState(tmp_path, gate)
        saved = state.snapshot()
        assert saved.object_versions == 6  # 3 of raw/day.csv, raw/deleted.csv, plain.txt, the upload's part
        assert saved.blobs_written == 6 and saved.files_written == 8  # blobs, state file, index
        (tmp_path / "expected.json").write_text(json.dumps(expected))

        reset(endpoint)
        assert client("s3").list_buckets()["Buckets"] == []
        assert client("sqs").list_queues().get("QueueUrls", []) == []
        restored = state.restore()
        assert restored.resources["S3 object versions"] == 5  # the unfinished upload's part is no object yet
        assert restored.resources["S3 delete markers"] == 1
        assert restored.resources["SQS messages"] == 3  # two sent, and S3's test event for the notification
        assert restored.resources["KMS keys"] == 2
        assert restored.resources["log events"] == 3
        assert restored.resources["Glue partitions"] == 2
        check(client, expected)

        # A new process: moto starts empty there, as after `local down` then `local up`.
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.integration.emulator_resources",
                "check",
                str(tmp_path),
                str(tmp_path / "expected.json"),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PYTHONHASHSEED": "random"},
        )
        assert result.returncode == 0, result.stderr[-3000:]

        # New resources after a restore get new identities next to the restored ones.
        client("s3").put_object(Bucket=VERSIONED_BUCKET, Key="raw/day.csv", Body=b"v3")
        versions = client("s3").list_object_versions(Bucket=VERSIONED_BUCKET, Prefix="raw/day.csv")["Versions"]
        assert [v["VersionId"] for v in versions][1:] == [row[1] for row in expected["s3"]["versions"][:3]]
        assert client("kms").create_key()["KeyMetadata"]["KeyId"] != expected["kms"]["key_id"]


def test_snapshots_write_only_what_changed_and_remove_what_is_gone(tmp_path: Path) -> None:
    with gated_emulator() as (endpoint, gate):
        s3 = clients_for(endpoint)("s3")
        s3.create_bucket(Bucket=PLAIN_BUCKET)
        s3.create_bucket(Bucket=VERSIONED_BUCKET)
        s3.put_bucket_versioning(Bucket=VERSIONED_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        for index in range(5):
            s3.put_object(Bucket=PLAIN_BUCKET, Key=f"day-{index}.csv", Body=f"rows {index}\n".encode() * 1000)
        s3.put_object(Bucket=VERSIONED_BUCKET, Key="kept.csv", Body=b"version one")
        state = EmulatorState(tmp_path, gate)
        first = state.snapshot()
        assert (first.blobs_written, first.files_written, first.state_written) == (6, 8, True)

        before = _files(state.folder)
        unchanged = state.snapshot()
        assert (unchanged.blobs_written, unchanged.blobs_removed, unchanged.files_written) == (0, 0, 0)
        assert unchanged.bytes_written == 0
        assert not unchanged.state_written
        assert _files(state.folder) == before  # not one file rewritten, the index included

        s3.put_object(Bucket=PLAIN_BUCKET, Key="day-5.csv", Body=b"a new day\n")
        added = state.snapshot()
        assert (added.blobs_written, added.blob_bytes_written, added.blobs_removed) == (1, 10, 0)
        assert added.files_written == 3  # the new blob, the new state file, the index
        after = _files(state.folder)
        untouched = {name: stamp for name, stamp in before.items() if name.startswith("blobs/")}
        assert {name: after[name] for name in untouched} == untouched

        blobs = _blob_files(state)
        s3.delete_object(Bucket=PLAIN_BUCKET, Key="day-0.csv")  # its only version is gone
        s3.delete_object(Bucket=VERSIONED_BUCKET, Key="kept.csv")  # a delete marker: the version stays
        s3.put_object(Bucket=PLAIN_BUCKET, Key="day-1.csv", Body=b"rewritten\n")  # replaces the null version
        removed = state.snapshot()
        assert (removed.blobs_written, removed.blobs_removed) == (1, 2)
        assert len(_blob_files(state)) == len(blobs) - 1
        assert len(list(state.folder.glob("state-*.pickle"))) == 1

        reset(endpoint)
        state.restore()
        assert s3.get_object(Bucket=PLAIN_BUCKET, Key="day-1.csv")["Body"].read() == b"rewritten\n"
        kept = s3.list_object_versions(Bucket=VERSIONED_BUCKET)
        assert [v["Key"] for v in kept["Versions"]] == ["kept.csv"]
        assert [m["Key"] for m in kept["DeleteMarkers"]] == ["kept.csv"]
        assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=PLAIN_BUCKET)["Contents"]) == [
            "day-1.csv",
            "day-2.csv",
            "day-3.csv",
            "day-4.csv",
            "day-5.csv",
        ]


def test_a_snapshot_that_crashed_before_its_index_leaves_the_previous_one_whole(tmp_path: Path) -> None:
    with gated_emulator() as (endpoint, gate):
        s3 = clients_for(endpoint)("s3")
        s3.create_bucket(Bucket=PLAIN_BUCKET)
        s3.put_object(Bucket=PLAIN_BUCKET, Key="before.csv", Body=b"saved")
        state = EmulatorState(tmp_path / "live", gate)
        state.snapshot()
        previous = tmp_path / "previous"
        shutil.copytree(state.folder, previous)

        s3.put_object(Bucket=PLAIN_BUCKET, Key="after.csv", Body=b"not saved")
        s3.delete_object(Bucket=PLAIN_BUCKET, Key="before.csv")
        state.snapshot()
        # What a crash just before the index is replaced leaves: the previous snapshot's files, the new blob and
        # state file beside them, and a half-written temporary file.
        crashed = tmp_path / "crashed" / "emulator"
        shutil.copytree(previous, crashed)
        for path in state.folder.rglob("*"):
            target = crashed / path.relative_to(state.folder)
            if path.is_file() and not target.exists() and path.name != "index.json":
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
        (crashed / "blobs" / "ab").mkdir(parents=True, exist_ok=True)
        (crashed / "blobs" / "ab" / ("ab" + "0" * 62 + ".tmp")).write_bytes(b"half")

        reset(endpoint)
        recovered = EmulatorState(tmp_path / "crashed", gate)
        recovered.restore()
        assert [o["Key"] for o in s3.list_objects_v2(Bucket=PLAIN_BUCKET)["Contents"]] == ["before.csv"]
        assert s3.get_object(Bucket=PLAIN_BUCKET, Key="before.csv")["Body"].read() == b"saved"
        # The next snapshot tidies up what the crashed one left.
        report = recovered.snapshot()
        assert report.blobs_removed == 1
        assert not list(crashed.rglob("*.tmp"))
        assert len(list(crashed.glob("state-*.pickle"))) == 1


# What the emulator holds after the failed restore: errors found before loading leave it alone; a load that
# fails half-way leaves it empty rather than half restored.
@pytest.mark.parametrize(
    ("damage", "message", "left_alone"),
    [
        ("moto_version", r"moto 0\.0\.1.*this is format 1, moto 5\..*move .* away", True),
        ("format", r"snapshot format 999.*move .* away", True),
        ("garbage_index", r"is damaged \(index\.json.*move .* away", True),
        ("garbage_state", r"is damaged \(state-.*checksum.*move .* away", True),
        ("legacy_layout", r"older layout \(s3/\*/index\.json, glue_jobs\.json\).*move .* away", True),
        ("missing_blob", r"is damaged \(FileNotFoundError.*move .* away", False),
        ("unloadable_state", r"is damaged \(.*move .* away", False),
    ],
)
def test_a_snapshot_it_cannot_read_is_one_clear_error(
    tmp_path: Path, damage: str, message: str, left_alone: bool
) -> None:
    with gated_emulator() as (endpoint, gate):
        s3 = clients_for(endpoint)("s3")
        s3.create_bucket(Bucket=PLAIN_BUCKET)
        s3.put_object(Bucket=PLAIN_BUCKET, Key="kept.csv", Body=b"kept")
        state = EmulatorState(tmp_path, gate)
        state.snapshot()
        index = json.loads(state.index_file.read_text())
        state_file = state.folder / index["state_file"]
        if damage == "moto_version":
            state.index_file.write_text(json.dumps({**index, "moto": "0.0.1"}))
        elif damage == "format":
            state.index_file.write_text(json.dumps({**index, "format": 999}))
        elif damage == "garbage_index":
            state.index_file.write_text("{not json")
        elif damage == "garbage_state":
            state_file.write_bytes(b"\x00" * 100)
        elif damage == "missing_blob":
            next((state.folder / "blobs").glob("*/*")).unlink()
        elif damage == "unloadable_state":
            bad = b"\x80\x05not a pickle."
            state_file.write_bytes(bad)
            state.index_file.write_text(json.dumps({**index, "state_sha256": hashlib.sha256(bad).hexdigest()}))
        elif damage == "legacy_layout":
            shutil.rmtree(state.folder)
            (tmp_path / "s3" / PLAIN_BUCKET).mkdir(parents=True)
            (tmp_path / "s3" / PLAIN_BUCKET / "index.json").write_text("{}")
            (tmp_path / "glue_jobs.json").write_text("{}")

        with pytest.raises(UserError, match=message):
            EmulatorState(tmp_path, gate).restore()
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ([PLAIN_BUCKET] if left_alone else [])


def test_nothing_saved_restores_nothing(tmp_path: Path) -> None:
    with gated_emulator() as (endpoint, gate):
        s3 = clients_for(endpoint)("s3")
        s3.create_bucket(Bucket=PLAIN_BUCKET)
        state = EmulatorState(tmp_path, gate)
        assert not state.exists
        report = state.restore()
        assert (report.backends, report.resources) == (0, {})
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [PLAIN_BUCKET]  # left as it was


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("terraform") is None or provider_mirror() is None, reason="needs Terraform and its provider mirror"
)
def test_terraform_plan_finds_nothing_to_change_after_a_restart(tmp_path: Path) -> None:
    """What `local down` / `local up` must give Terraform: the resources it created, with their ids, and nothing
    it would change. Applied to one emulator, planned against another in a new process restored from the snapshot
    (listening on another port, as a restarted local cloud may)."""
    work_dir = tmp_path / "terraform"
    shutil.copytree(TERRAFORM_FIXTURE, work_dir)
    with zipfile.ZipFile(work_dir / "handler.zip", "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return 1\n")
    init = terraform(work_dir, "init")
    assert init.returncode == 0, init.stderr[-3000:]
    with gated_emulator() as (endpoint, gate):
        applied = terraform(work_dir, "apply", "-auto-approve", f"-var=endpoint={endpoint}")
        assert applied.returncode == 0, applied.stdout[-3000:] + applied.stderr[-3000:]
        resources = json.loads((work_dir / "terraform.tfstate").read_text())["resources"]
        assert len(resources) >= 20
        planned = terraform(work_dir, *plan_args(endpoint))
        assert planned.returncode == 0, "the plan right after apply is not empty:\n" + planned.stdout[-3000:]
        EmulatorState(tmp_path / "state", gate).snapshot()

    result = subprocess.run(
        [sys.executable, "-m", "tests.integration.emulator_resources", "plan", str(tmp_path / "state"), str(work_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "No changes." in result.stdout
