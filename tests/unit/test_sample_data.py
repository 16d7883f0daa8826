"""The synthetic JHU-style sample data: eras, quirks, determinism, and a lookup that covers every location."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
from datetime import date
from pathlib import Path

import pytest

from covid_pipeline import sample_data as sd

# Copied from ../shared/data/README.md on purpose: the generator must match the documented headers.
README_HEADERS = {
    "2020-01": "Province/State,Country/Region,Last Update,Confirmed,Deaths,Recovered",
    "2020-03": "Province/State,Country/Region,Last Update,Confirmed,Deaths,Recovered,Latitude,Longitude",
    "2020-03-22": "FIPS,Admin2,Province_State,Country_Region,Last_Update,Lat,Long_,Confirmed,Deaths,Recovered,Active,"
    "Combined_Key",
    "2020-05-29": "FIPS,Admin2,Province_State,Country_Region,Last_Update,Lat,Long_,Confirmed,Deaths,Recovered,Active,"
    "Combined_Key,Incidence_Rate,Case-Fatality_Ratio",
    "2020-11-09": "FIPS,Admin2,Province_State,Country_Region,Last_Update,Lat,Long_,Confirmed,Deaths,Recovered,Active,"
    "Combined_Key,Incident_Rate,Case_Fatality_Ratio",
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> sd.SampleDataset:
    return sd.generate(tmp_path_factory.mktemp("sample"))


def read_rows(path: Path) -> list[dict[str, str]]:
    text = path.read_bytes().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def by_date(dataset: sd.SampleDataset, day: date) -> sd.SampleFile:
    return next(file for file in dataset.files if file.report_date == day)


def test_every_era_occurs_with_its_exact_header(dataset: sd.SampleDataset) -> None:
    seen = {}
    for file in dataset.files:
        header = file.path.read_bytes().decode("utf-8-sig").splitlines()[0]
        if "other_column_order" not in file.quirks:
            seen.setdefault(file.era, header)
            assert header == README_HEADERS[file.era], file.name
    assert set(seen) == set(README_HEADERS)
    assert 12 <= len(dataset.files) <= 20


def test_every_quirk_of_the_real_files_is_present(dataset: sd.SampleDataset) -> None:
    # The quirks ../shared/data/README.md documents, written out here rather than read back from sd.QUIRKS.
    assert dataset.quirks_covered == {
        *("last_update_m/d/yyyy", "last_update_m/d/yy", "last_update_iso_t", "last_update_m/d/yy_no_seconds"),
        *("last_update_no_seconds", "empty_counts", "crlf", "blanks_around_names", "renamed_countries", "bom"),
        *("duplicate_key", "negative_count", "cumulative_goes_down", "float_counts", "other_column_order"),
        "empty_recovered_active",
    }


def test_bom_and_crlf_files(dataset: sd.SampleDataset) -> None:
    bom = [file.name for file in dataset.files if file.path.read_bytes().startswith(b"\xef\xbb\xbf")]
    crlf = [file.name for file in dataset.files if b"\r\n" in file.path.read_bytes()]
    assert bom == ["03-22-2020.csv"]
    assert crlf == ["01-23-2020.csv"]


def test_file_names_and_row_counts_match_the_metadata(dataset: sd.SampleDataset) -> None:
    for file in dataset.files:
        assert file.name == f"{file.report_date:%m-%d-%Y}.csv"
        assert len(read_rows(file.path)) == file.rows
    assert dataset.rows == sum(len(read_rows(file.path)) for file in dataset.files)


def test_four_last_update_formats_and_one_without_seconds(dataset: sd.SampleDataset) -> None:
    def last_update(day: date) -> str:
        row = read_rows(by_date(dataset, day).path)[0]
        return row.get("Last Update") or row["Last_Update"]

    assert last_update(date(2020, 1, 22)) == "1/22/2020 17:00"
    assert last_update(date(2020, 1, 23)) == "1/23/20 17:00"
    assert last_update(date(2020, 2, 15)).startswith("2020-02-15T")
    assert len(last_update(date(2020, 4, 15))) == len("2020-06-02 02:33:08")
    assert len(last_update(date(2020, 11, 8))) == len("2020-11-09 05:25")


def test_countries_are_renamed_over_time(dataset: sd.SampleDataset) -> None:
    countries = {
        file.report_date: {(r.get("Country/Region") or r["Country_Region"]).strip() for r in read_rows(file.path)}
        for file in dataset.files
    }
    assert {"Mainland China", "South Korea", "UK"} <= countries[date(2020, 2, 29)]
    assert {"Republic of Korea", "Iran (Islamic Republic of)", "Czech Republic"} <= countries[date(2020, 3, 10)]
    assert {"China", "Korea, South", "United Kingdom", "Czechia", "Iran"} <= countries[date(2020, 4, 15)]


def test_quoted_commas_blanks_floats_and_empty_counts(dataset: sd.SampleDataset) -> None:
    assert '"Korea, South"' in by_date(dataset, date(2020, 4, 15)).path.read_text()
    assert '"King, Washington, US"' in by_date(dataset, date(2020, 4, 15)).path.read_text()
    feb = read_rows(by_date(dataset, date(2020, 2, 15)).path)
    assert {" Japan", "Hubei "} <= {r["Country/Region"] for r in feb} | {r["Province/State"] for r in feb}
    aug = read_rows(by_date(dataset, date(2020, 8, 1)).path)
    assert all(r["Confirmed"].endswith(".0") for r in aug)
    first = read_rows(by_date(dataset, date(2020, 1, 22)).path)
    assert any(r["Deaths"] == "" for r in first)
    feb21 = read_rows(by_date(dataset, date(2021, 2, 1)).path)
    us = [r for r in feb21 if r["Country_Region"] == "US"]
    assert us and all(r["Recovered"] == "" and r["Active"] == "" for r in us)


def test_duplicate_key_negative_count_and_other_column_order(dataset: sd.SampleDataset) -> None:
    april = read_rows(by_date(dataset, date(2020, 4, 15)).path)
    keys = [(r["Province_State"], r["Country_Region"], r["Admin2"]) for r in april]
    assert [key for key in set(keys) if keys.count(key) > 1] == [("Illinois", "US", "Cook")]
    may = read_rows(by_date(dataset, date(2020, 5, 28)).path)
    assert [r["Admin2"] for r in may if r["Recovered"].startswith("-")] == ["Snohomish"]
    header = by_date(dataset, date(2020, 11, 9)).path.read_text().splitlines()[0].split(",")
    assert header != README_HEADERS["2020-11-09"].split(",")
    assert sorted(header) == sorted(README_HEADERS["2020-11-09"].split(","))


def test_cumulative_counts_only_fall_where_a_revision_was_planted(dataset: sd.SampleDataset) -> None:
    previous: dict[tuple[str, str, str], int] = {}
    falls = []
    for file in dataset.files:
        for row in read_rows(file.path):
            country = row.get("Country/Region", row.get("Country_Region", "")).strip()
            key = (
                sd.canonical_country(country),
                row.get("Province/State", row.get("Province_State", "")).strip(),
                row.get("Admin2", ""),
            )
            confirmed = int(float(row["Confirmed"]))
            if key in previous and confirmed < previous[key]:
                falls.append((file.name, key))
            previous[key] = confirmed
    assert falls == [("05-28-2020.csv", ("France", "", ""))]


def test_lookup_has_the_real_header_and_covers_every_location(dataset: sd.SampleDataset) -> None:
    lookup = read_rows(dataset.lookup)
    assert tuple(lookup[0]) == sd.LOOKUP_HEADER
    keys = {(r["Country_Region"], r["Province_State"], r["Admin2"]) for r in lookup}
    for file in dataset.files:
        if file.era not in ("2020-03-22", "2020-05-29", "2020-11-09"):
            continue
        for row in read_rows(file.path):
            key = (row["Country_Region"].strip(), row["Province_State"].strip(), row["Admin2"])
            assert key in keys, (file.name, key)
    king = next(r for r in lookup if r["Admin2"] == "King")
    assert (king["UID"], king["FIPS"], king["Combined_Key"]) == ("84053033", "53033.0", "King, Washington, US")


def test_generation_is_deterministic_per_seed(tmp_path: Path, dataset: sd.SampleDataset) -> None:
    again = sd.generate(tmp_path / "again")
    other = sd.generate(tmp_path / "other", seed=7)
    for a, b in zip(dataset.files, again.files, strict=True):
        assert a.path.read_bytes() == b.path.read_bytes()
    assert any(a.path.read_bytes() != c.path.read_bytes() for a, c in zip(dataset.files, other.files, strict=True))


# The default dataset's files, digested in order (name and sha256 of each). The demo's numbers and the drills' expected
# rows rest on these bytes: a change that moves them must be deliberate, and update this digest.
DEFAULT_DATASET_DIGEST = "32b788749f2a13d985b64acc6f71d1897fe641cae549ea7d0a34ae576008dd44"


def test_the_default_dataset_s_bytes_are_pinned(dataset: sd.SampleDataset) -> None:
    digest = hashlib.sha256()
    for path in [*(file.path for file in dataset.files), dataset.lookup]:
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    assert (digest.hexdigest(), dataset.rows) == (DEFAULT_DATASET_DIGEST, 396)


def test_locations_come_from_the_package_data_file() -> None:
    king = next(location for location in sd.LOCATIONS if location.admin2 == "King")
    # uid, iso2, iso3, code3, country, province, admin2, fips, lat, lon, population, then the curve.
    assert dataclasses.astuple(king) == (
        *(84053033, "US", "USA", 840, "US", "Washington", "King", "53033", 47.49137892, -121.8346131, 2_252_782),
        *(date(2020, 3, 22), 105_000, 380, 70.0, 0.014, 90),
    )
    # Lookup-only rows leave the curve empty in the file: they take the defaults.
    assert [(row.country, row.first_report, row.ramp_days) for row in sd.COUNTRY_ROWS] == [
        ("China", date(2020, 1, 22), 90),
        ("Australia", date(2020, 1, 22), 90),
        ("Canada", date(2020, 1, 22), 90),
        ("US", date(2020, 1, 22), 90),
    ]


def test_a_date_outside_the_eras_is_refused() -> None:
    with pytest.raises(ValueError, match="outside the JHU daily report eras"):
        sd.era_of(date(2021, 6, 1))


def test_setup_script_writes_the_files(tmp_path: Path, repo_root: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, str(repo_root / "scripts" / "setup_sample_data.py"), "--env", "test", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "wrote 17 daily reports" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir())[-1] == sd.LOOKUP_FILE_NAME
