"""A sample dataset on disk (the daily reports and the lookup) and its upload to the pipeline's buckets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from covid_pipeline.common import split_s3_uri
from covid_pipeline.config import PipelineConfig
from covid_pipeline.sample_data.counts import DEFAULT_SEED
from covid_pipeline.sample_data.eras import QUIRKS, REPORT_DATES, era_of
from covid_pipeline.sample_data.render import render_daily_report, render_lookup

SOURCE = "jhu_daily"
LOOKUP_FILE_NAME = "UID_ISO_FIPS_LookUp_Table.csv"


@dataclass(frozen=True)
class SampleFile:
    report_date: date
    path: Path
    rows: int
    era: str
    quirks: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class SampleDataset:
    files: tuple[SampleFile, ...]
    lookup: Path
    seed: int
    quirks_covered: frozenset[str] = field(default_factory=frozenset)

    @property
    def rows(self) -> int:
        return sum(file.rows for file in self.files)


def report_file_name(day: date) -> str:
    return f"{day:%m-%d-%Y}.csv"


def generate(out_dir: Path, seed: int = DEFAULT_SEED, dates: Iterable[date] = REPORT_DATES) -> SampleDataset:
    """Write the daily reports and the lookup into `out_dir` (re-running rewrites the same bytes)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for day in sorted(dates):
        data, rows = render_daily_report(day, seed)
        path = out_dir / report_file_name(day)
        path.write_bytes(data)
        files.append(SampleFile(day, path, rows, era_of(day).name, QUIRKS.get(day, ())))
    lookup = out_dir / LOOKUP_FILE_NAME
    lookup.write_bytes(render_lookup())
    covered = frozenset(quirk for file in files for quirk in file.quirks)
    return SampleDataset(tuple(files), lookup, seed, covered)


def raw_key(config: PipelineConfig, file: SampleFile) -> str:
    return f"{config['raw_prefix']}{SOURCE}/{file.name}"


def upload_reference(config: PipelineConfig, dataset: SampleDataset, s3: Any) -> str:
    """Put the lookup at config.reference_path (the job reads it from there)."""
    bucket, key = split_s3_uri(config.reference_path)
    s3.put_object(Bucket=bucket, Key=key, Body=dataset.lookup.read_bytes(), ContentType="text/csv")
    return config.reference_path


def upload_reports(config: PipelineConfig, files: Iterable[SampleFile], s3: Any) -> list[str]:
    """Put daily reports under raw/jhu_daily/ (each upload is one S3 event -> the pipeline runs)."""
    uris = []
    for file in files:
        key = raw_key(config, file)
        s3.put_object(Bucket=config.names.raw_bucket, Key=key, Body=file.path.read_bytes(), ContentType="text/csv")
        uris.append(f"s3://{config.names.raw_bucket}/{key}")
    return uris
