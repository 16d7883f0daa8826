"""The job's input guards (issue 17): unsafe keys and oversized files quarantined, odd legitimate names read
literally, poison files set aside after failing runs in a row, and runs that would remove too much refused."""

from __future__ import annotations

import hashlib
import json
import random
import re
import resource
import zlib
from collections.abc import Iterator
from pathlib import Path

import boto3
import covid_transform as job
import pytest
from utils import storage

pytestmark = pytest.mark.spark
pytest_plugins = ["tests.moto_fixture"]  # moto_endpoint

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "jhu"
LOOKUP = FIXTURES / "UID_lookup_small.csv"
MIB = 1 << 20


def options(root: Path, run_id: str | None = None, **overrides: object) -> job.JobOptions:
    values: dict[str, object] = {
        "job_name": "test-job",
        "source": "jhu_daily",
        "input_path": str(root / "in"),
        "output_path": str(root / "out"),
        "quarantine_path": str(root / "quarantine"),
        "state_path": str(root / "state"),
        "reference_path": str(LOOKUP),
        "run_id": run_id,
    }
    return job.JobOptions(**(values | overrides))  # type: ignore[arg-type]


def put(folder: Path, name: str, fixture: str) -> bytes:
    data = (FIXTURES / fixture).read_bytes()
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def data_rows(fixture: str) -> int:
    return len((FIXTURES / fixture).read_text().strip().splitlines()) - 1


def ledger(root: Path) -> dict:
    return json.loads((root / "state" / "ledger.json").read_text())


def files_jsonl(root: Path, run_id: str) -> dict[str, dict]:
    lines = (root / "quarantine" / f"run_id={run_id}" / "files.jsonl").read_text().splitlines()
    return {record["source_file"]: record for record in map(json.loads, lines)}


def snapshot(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


# --- keys ----------------------------------------------------------------------------------------------------------

ODD_NAMES = {  # legitimate names Spark would glob or mis-parse unless read literally -> their fixture
    "01-23-2020 [1].csv": "01-23-2020.csv",  # as a glob, [1] matches "01-23-2020 1.csv" and never this file
    "03-01-2020 *.csv": "03-01-2020.csv",  # as a glob, * matches the decoy below too
    "03-01-2020 decoy.csv": "03-01-2020.csv",
    "03-22-2020 {a,b}? back\\slash.csv": "03-22-2020.csv",
    "nested/05-29-2020 plus+ ünï 数 %20.csv": "05-29-2020.csv",
}
HOSTILE = {  # key rules' rejections that a local folder can hold -> what the manifest says
    "_01-24-2020.csv": "hidden or marker file (Spark skips names starting with '.' or '_')",
    ".cache/01-25-2020.csv": "hidden or marker folder (Spark skips names starting with '.' or '_')",
    "tab\there-01-26-2020.csv": "key contains control characters",
    "esc\x1b[2J-01-26-2020.csv": "key contains control characters",
    "colon:01-27-2020.csv": "key contains ':', which a Hadoop path cannot hold (Spark could not read it)",
}
LONG = "/".join(["d" * 200, "e" * 200, "f" * 100 + "-01-28-2020.csv"])


def test_hostile_keys_are_quarantined_and_odd_legitimate_names_are_read_literally(spark, tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    put(inbox, "01-22-2020.csv", "01-22-2020.csv")
    for name, fixture in ODD_NAMES.items():
        put(inbox, name, fixture)
    hostile = {name: put(inbox, name, "01-23-2020.csv") for name in [*HOSTILE, LONG]}
    (inbox / "README.md").write_text("not data")
    (inbox / ".gitignore").write_text("*\n")

    manifest = job.run_job(spark, options(tmp_path, run_id="keys"))

    assert manifest["status"] == "succeeded"
    expected = {**HOSTILE, LONG: f"key is {len(LONG)} characters long, over the limit of 512"}
    assert manifest["quarantined_files"] == dict.fromkeys(expected, "unsafe_key")
    assert manifest["quarantine_details"] == expected
    assert manifest["skipped_reasons"] == {"not_a_data_file": 2, "unchanged": 0}  # README.md, .gitignore
    assert manifest["files_processed"] == 1 + len(ODD_NAMES)
    assert manifest["rows_in"] == manifest["rows_out"] + manifest["rows_quarantined"] + manifest["rows_duplicate"]
    assert manifest["rows_in"] == data_rows("01-22-2020.csv") + sum(map(data_rows, ODD_NAMES.values()))

    # Each odd name was read once, as itself: the ledger's rows per file are its own (a glob would have read the
    # decoy twice, or failed on "[1]"), and its rows reached the output under its name.
    files = ledger(tmp_path)["files"]
    assert {name: files[name]["rows"] for name in ODD_NAMES} == {n: data_rows(f) for n, f in ODD_NAMES.items()}
    published = {r.source_file for r in spark.read.parquet(str(tmp_path / "out")).select("source_file").collect()}
    assert {"01-22-2020.csv", "01-23-2020 [1].csv", "03-22-2020 {a,b}? back\\slash.csv"} <= published
    assert "nested/05-29-2020 plus+ ünï 数 %20.csv" in published

    # The quarantine keeps each key exactly as it was; the copies are named by a digest, never by the key.
    records = files_jsonl(tmp_path, "keys")
    assert set(records) == set(expected)
    for name, data in hostile.items():
        digest = hashlib.sha256(name.encode()).hexdigest()
        assert records[name]["copied_to"] == f"files/unsafe_key/{digest}"
        assert (tmp_path / "quarantine" / "run_id=keys" / "files" / "unsafe_key" / digest).read_bytes() == data
        assert files[name]["status"] == "quarantined" and files[name]["reason"] == "unsafe_key"

    before = snapshot(tmp_path / "out")
    assert job.run_job(spark, options(tmp_path, run_id="again"))["status"] == "no_new_input"
    assert snapshot(tmp_path / "out") == before


@pytest.fixture
def s3_endpoint(moto_endpoint: str) -> Iterator[str]:
    storage._s3_client.cache_clear()  # a client for this test's endpoint
    yield moto_endpoint
    storage._s3_client.cache_clear()


def test_keys_only_s3_can_hold_are_quarantined_as_they_were(spark, s3_endpoint: str, tmp_path: Path) -> None:
    """'..', '//', a leading '/' and control characters: S3 keeps such keys verbatim; none may be read or reused."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="raw")
    body = (FIXTURES / "01-22-2020.csv").read_bytes()
    keys = {
        "raw/jhu_daily/../01-22-2020.csv": "key has an empty, '.' or '..' path segment",
        "raw/jhu_daily/a/../../01-23-2020.csv": "key has an empty, '.' or '..' path segment",
        "raw/jhu_daily//01-24-2020.csv": "key has an empty, '.' or '..' path segment",
        "raw/jhu_daily/./01-25-2020.csv": "key has an empty, '.' or '..' path segment",
        "raw/jhu_daily/bell\x07-01-26-2020.csv": "key contains control characters",
        "raw/jhu_daily/" + "k" * 600 + "-01-27-2020.csv": "key is 629 characters long, over the limit of 512",
    }
    for key in keys:
        s3.put_object(Bucket="raw", Key=key, Body=body)
    # A legitimate key with '?' and '#' (a URL's query and fragment): it is sniffed and copied under its own name.
    odd = "what?#-01-28-2020.csv"
    s3.put_object(Bucket="raw", Key=f"raw/jhu_daily/{odd}", Body=b"\x00\x01binary")
    assert storage.split_s3(f"s3://raw/raw/jhu_daily/{odd}") == ("raw", f"raw/jhu_daily/{odd}")
    run = options(tmp_path, run_id="s3-keys", input_path="s3://raw/raw/jhu_daily/")

    manifest = job.run_job(spark, run)

    relative = {key.removeprefix("raw/jhu_daily/"): detail for key, detail in keys.items()}
    assert manifest["quarantined_files"] == dict.fromkeys(relative, "unsafe_key") | {odd: "binary_content"}
    odd_copy = tmp_path / "quarantine" / "run_id=s3-keys" / "files" / odd
    assert odd_copy.read_bytes() == b"\x00\x01binary"
    assert manifest["quarantine_details"] == relative
    assert (manifest["status"], manifest["files_processed"], manifest["rows_in"]) == ("succeeded", 0, 0)
    records = files_jsonl(tmp_path, "s3-keys")
    assert {name: r.get("detail") for name, r in records.items()} == relative | {odd: None}
    copies = sorted((tmp_path / "quarantine" / "run_id=s3-keys" / "files" / "unsafe_key").iterdir())
    assert [p.read_bytes() for p in copies] == [body] * len(keys)
    assert job.run_job(spark, run)["status"] == "no_new_input"


# --- sizes ---------------------------------------------------------------------------------------------------------


def write_gzip_bomb(path: Path, uncompressed: int) -> None:
    """`uncompressed` bytes of zeros, gzipped by streaming (never held in memory)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(MIB)
    with path.open("wb") as handle:
        for _ in range(uncompressed // MIB):
            handle.write(compressor.compress(zeros))
        handle.write(compressor.flush())


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def test_a_gzip_bomb_and_an_oversized_file_are_quarantined_as_too_large(spark, tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    put(inbox, "01-22-2020.csv", "01-22-2020.csv")
    write_gzip_bomb(inbox / "01-23-2020.csv.gz", 1024 * MIB)  # 1 GiB of zeros
    bomb_size = (inbox / "01-23-2020.csv.gz").stat().st_size
    assert bomb_size < 2 * MIB
    header = (FIXTURES / "01-22-2020.csv").read_bytes()
    (inbox / "01-24-2020.csv").write_bytes(header + b"#" * (5 * MIB))  # plain, over the uncompressed limit
    (inbox / "01-25-2020.csv.gz").write_bytes(b"\x1f\x8b" + random.randbytes(8 * MIB))  # over the compressed limit
    limits = {"max_compressed_bytes": 8 * MIB, "max_uncompressed_bytes": 4 * MIB}
    rss_before = peak_rss_bytes()

    manifest = job.run_job(spark, options(tmp_path, run_id="sizes", **limits))

    assert manifest["status"] == "succeeded"
    assert manifest["quarantined_files"] == dict.fromkeys(
        ["01-23-2020.csv.gz", "01-24-2020.csv", "01-25-2020.csv.gz"], "too_large"
    )
    assert manifest["quarantine_details"] == {
        "01-23-2020.csv.gz": f"decompresses to more than the uncompressed limit of {4 * MIB}",
        "01-24-2020.csv": f"{len(header) + 5 * MIB} bytes, over the uncompressed limit of {4 * MIB}",
        "01-25-2020.csv.gz": f"{8 * MIB + 2} bytes stored, over the limit of {8 * MIB}",
    }
    # The good file's rows landed; the bomb was never decompressed whole in this process (nor read by Spark).
    assert manifest["rows_in"] == manifest["rows_out"] + manifest["rows_duplicate"] == data_rows("01-22-2020.csv")
    assert peak_rss_bytes() - rss_before < 256 * MIB
    quarantined = tmp_path / "quarantine" / "run_id=sizes" / "files" / "01-23-2020.csv.gz"
    assert quarantined.stat().st_size == bomb_size
    assert ledger(tmp_path)["files"]["01-23-2020.csv.gz"]["reason"] == "too_large"


# --- poison --------------------------------------------------------------------------------------------------------


def test_a_file_failing_n_runs_in_a_row_is_quarantined_as_poison_and_the_next_run_goes_on(
    spark, tmp_path: Path
) -> None:
    inbox = tmp_path / "in"
    put(inbox, "01-22-2020.csv", "01-22-2020.csv")
    # Passes the sniff (it starts as Parquet does) and fails Spark's read: every run fails on it.
    (inbox / "01-23-2020.parquet").write_bytes(b"PAR1" + bytes(range(256)) * 20 + b"PAR1")
    run = options(tmp_path, poison_after_failures=2)

    for attempt in (1, 2):
        with pytest.raises(Exception, match=r"(?i)footer|parquet"):
            job.run_job(spark, options(tmp_path, run_id=f"fail-{attempt}", poison_after_failures=2))
        failures = ledger(tmp_path)["failures"]
        # The error names its file: the good file read in the same run is not blamed.
        assert list(failures) == ["01-23-2020.parquet"]
        assert failures["01-23-2020.parquet"]["failures"] == attempt
        assert "01-23-2020.parquet" in failures["01-23-2020.parquet"]["last_error"]
        assert ledger(tmp_path)["files"] == {}  # nothing was processed
        assert not (tmp_path / "out").exists()

    manifest = job.run_job(spark, options(tmp_path, run_id="goes-on", poison_after_failures=2))
    assert manifest["status"] == "succeeded"
    assert manifest["quarantined_files"] == {"01-23-2020.parquet": "poison"}
    poison = manifest["poison_files"]["01-23-2020.parquet"]
    assert poison["failures"] == 2 and "01-23-2020.parquet" in poison["last_error"]
    assert manifest["quarantine_details"]["01-23-2020.parquet"].startswith("failed 2 runs in a row: ")
    assert files_jsonl(tmp_path, "goes-on")["01-23-2020.parquet"]["last_error"] == poison["last_error"]
    assert manifest["rows_out"] + manifest["rows_duplicate"] == data_rows("01-22-2020.csv")
    state = ledger(tmp_path)
    assert state["failures"] == {}
    assert state["files"]["01-23-2020.parquet"]["reason"] == "poison"
    assert job.run_job(spark, run)["status"] == "no_new_input"

    # A new version of the file is a new file: it is tried again (and fails on its own count).
    (inbox / "01-23-2020.parquet").write_bytes(b"PAR1" + bytes(range(255, -1, -1)) * 20 + b"PAR1")
    with pytest.raises(Exception, match=r"(?i)footer|parquet"):
        job.run_job(spark, run)
    assert ledger(tmp_path)["failures"]["01-23-2020.parquet"]["failures"] == 1


def test_an_error_that_names_no_input_file_counts_against_none(spark, tmp_path: Path) -> None:
    """A missing reference table fails every run; holding that against the files would set them all aside."""
    put(tmp_path / "in", "01-22-2020.csv", "01-22-2020.csv")
    missing = options(
        tmp_path, run_id="no-lookup", reference_path=str(tmp_path / "missing.csv"), poison_after_failures=1
    )
    for _ in range(2):
        with pytest.raises(Exception, match=r"missing\.csv"):
            job.run_job(spark, missing)
    assert not (tmp_path / "state" / "ledger.json").exists()
    manifest = job.run_job(spark, options(tmp_path, run_id="ok", poison_after_failures=1))
    assert (manifest["status"], manifest["quarantined_files"]) == ("succeeded", {})


# --- removals ------------------------------------------------------------------------------------------------------


def test_a_run_over_an_emptied_prefix_refuses_unless_removals_are_allowed(spark, tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    for name in ("01-22-2020.csv", "01-23-2020.csv", "03-01-2020.csv"):
        put(inbox, name, name)
    assert job.run_job(spark, options(tmp_path, run_id="first"))["status"] == "succeeded"
    output_before = snapshot(tmp_path / "out")
    ledger_before = (tmp_path / "state" / "ledger.json").read_text()
    assert ledger(tmp_path)["input_path"] == str(inbox)

    for path in inbox.iterdir():
        path.unlink()
    with pytest.raises(job.RunRefused, match="--allow_removals true") as refused:
        job.run_job(spark, options(tmp_path, run_id="emptied"))
    assert "3 of the 3 files on record (100%) are gone" in str(refused.value)
    manifest = json.loads((tmp_path / "state" / "runs" / "emptied.json").read_text())
    assert (manifest["status"], manifest["removal_share"]) == ("refused_removals", 1.0)
    assert manifest["refusal"] == str(refused.value)
    assert snapshot(tmp_path / "out") == output_before  # nothing deleted
    assert (tmp_path / "state" / "ledger.json").read_text() == ledger_before

    # One file of three back: a third is still gone, over 10%; a limit of 50% lets the run remove it.
    put(inbox, "01-22-2020.csv", "01-22-2020.csv")
    put(inbox, "01-23-2020.csv", "01-23-2020.csv")
    with pytest.raises(job.RunRefused, match="1 of the 3 files on record"):
        job.run_job(spark, options(tmp_path, run_id="a-third"))
    partial = job.run_job(spark, options(tmp_path, run_id="half", max_removal_share=0.5))
    assert (partial["status"], partial["files_removed"]) == ("succeeded", ["03-01-2020.csv"])
    assert partial["partitions_removed"] == ["year=2020/month=3"]

    for path in inbox.iterdir():
        path.unlink()
    allowed = job.run_job(spark, options(tmp_path, run_id="allowed", allow_removals=True))
    assert allowed["status"] == "succeeded"
    assert allowed["files_removed"] == ["01-22-2020.csv", "01-23-2020.csv"]
    assert not [p for p in (tmp_path / "out").rglob("*.parquet")]
    assert ledger(tmp_path)["files"] == {}


def test_a_ledger_refuses_a_run_on_another_input_path_with_a_clear_error(
    spark, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    put(tmp_path / "in", "01-22-2020.csv", "01-22-2020.csv")
    assert job.run_job(spark, options(tmp_path))["status"] == "succeeded"
    output_before = snapshot(tmp_path / "out")
    put(tmp_path / "other", "01-23-2020.csv", "01-23-2020.csv")

    with pytest.raises(job.RunRefused, match=re.escape(f"belongs to input path {tmp_path / 'in'}, not")):
        job.run_job(spark, options(tmp_path, run_id="moved", input_path=str(tmp_path / "other")))
    assert json.loads((tmp_path / "state" / "runs" / "moved.json").read_text())["status"] == "refused_input_path"
    assert snapshot(tmp_path / "out") == output_before
    # The same path with or without its trailing slash is the same input.
    same = job.run_job(spark, options(tmp_path, input_path=str(tmp_path / "in") + "/"))
    assert same["status"] == "no_new_input"

    # As Glue runs it: exit code 1 and one line that says why, no traceback.
    argv = ["covid_transform.py", "--JOB_NAME", "n", "--source", "jhu_daily", "--input_path", str(tmp_path / "other"),
            "--output_path", str(tmp_path / "out"), "--quarantine_path", str(tmp_path / "quarantine"),
            "--state_path", str(tmp_path / "state"), "--reference_path", str(LOOKUP)]  # fmt: skip
    caplog.clear()
    assert job.main(argv) == 1
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.getMessage().split(" (or")[0] for r in errors] == [
        f"run refused, nothing changed: the ledger at this --state_path belongs to input path {tmp_path / 'in'}, "
        f"not {tmp_path / 'other'}: a run on another input would take every file on record for removed and delete "
        "their output. Point --state_path at the state of this input"
    ]
    assert errors[0].exc_info is None  # one line, no traceback
