"""Synthetic JHU CSSE-style daily reports (and the matching UID lookup) for demos and tests.

The real files are in ../shared/data and must never be copied into the repository, so the demo
generates look-alikes: the five header eras with their exact headers, and the quirks the real
files have (see ../shared/data/README.md): four ``Last Update`` formats (one without seconds),
country renames over time, blanks around names, quoted commas, empty counts, counts written as
floats, a UTF-8 BOM, CRLF line ends, a duplicated key, a negative count, a cumulative count that
goes down, and another column order. Everything is deterministic for a given seed.

Counts follow a logistic epidemic curve per location (cumulative, so mostly monotone), with small
seeded noise; deaths, recovered and active are derived the way JHU reported them (US counties
report no recovered).

The parts: ``eras`` (headers, report dates, quirks per file), ``locations`` (read from ``locations.csv``),
``counts`` (the curves), ``render`` (a report's and the lookup's bytes) and ``dataset`` (files on disk, uploads).
"""

from __future__ import annotations

from covid_pipeline.sample_data.counts import DEFAULT_SEED, Counts, counts_for
from covid_pipeline.sample_data.dataset import (
    LOOKUP_FILE_NAME,
    SOURCE,
    SampleDataset,
    SampleFile,
    generate,
    raw_key,
    report_file_name,
    upload_reference,
    upload_reports,
)
from covid_pipeline.sample_data.eras import ERAS, QUIRKS, REPORT_DATES, HeaderEra, era_of, file_header
from covid_pipeline.sample_data.locations import (
    COUNTRY_ROWS,
    EPOCH,
    LOCATIONS,
    Location,
    canonical_country,
    reported_country,
)
from covid_pipeline.sample_data.render import LOOKUP_HEADER, render_daily_report, render_lookup

__all__ = [
    "COUNTRY_ROWS",
    "DEFAULT_SEED",
    "EPOCH",
    "ERAS",
    "LOCATIONS",
    "LOOKUP_FILE_NAME",
    "LOOKUP_HEADER",
    "QUIRKS",
    "REPORT_DATES",
    "SOURCE",
    "Counts",
    "HeaderEra",
    "Location",
    "SampleDataset",
    "SampleFile",
    "canonical_country",
    "counts_for",
    "era_of",
    "file_header",
    "generate",
    "raw_key",
    "render_daily_report",
    "render_lookup",
    "report_file_name",
    "reported_country",
    "upload_reference",
    "upload_reports",
]
