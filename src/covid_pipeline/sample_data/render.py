"""The bytes of one daily report (its era's header, the day's rows, the file's quirks) and of the UID lookup."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from covid_pipeline.sample_data.counts import DEFAULT_SEED, counts_for
from covid_pipeline.sample_data.eras import QUIRKS, era_of, file_header
from covid_pipeline.sample_data.locations import COUNTRY_ROWS, LOCATIONS, US_STATE_EARLY_NAMES, reported_country

LOOKUP_HEADER = (
    "UID",
    "iso2",
    "iso3",
    "code3",
    "FIPS",
    "Admin2",
    "Province_State",
    "Country_Region",
    "Lat",
    "Long_",
    "Combined_Key",
    "Population",
)


def _last_update(day: date, quirks: Sequence[str], rng: random.Random) -> str:
    # Reports were published shortly after midnight UTC of the next day, or at 17:00 early on.
    moment = datetime(day.year, day.month, day.day, 23, 0, 0) + timedelta(seconds=rng.randrange(0, 7200))
    if "last_update_m/d/yyyy" in quirks:
        return f"{day.month}/{day.day}/{day.year} 17:00"
    if "last_update_m/d/yy" in quirks:
        return f"{day.month}/{day.day}/{day.year % 100} 17:00"
    if "last_update_m/d/yy_no_seconds" in quirks:
        return f"{moment.month}/{moment.day}/{moment.year % 100} {moment:%H:%M}"
    if "last_update_no_seconds" in quirks:
        return f"{moment:%Y-%m-%d %H:%M}"
    era = era_of(day)
    if era.name in ("2020-01", "2020-03"):
        return f"{moment:%Y-%m-%dT%H:%M:%S}"
    return f"{moment:%Y-%m-%d %H:%M:%S}"


def _rate(numerator: float, denominator: float, scale: float) -> str:
    return "" if not denominator else repr(round(numerator / denominator * scale, 8))


def _rows_for_day(day: date, seed: int, rng: random.Random) -> list[dict[str, str]]:
    """Canonical-named rows of one report date (before per-file quirks)."""
    era = era_of(day)
    quirks = QUIRKS.get(day, ())
    county_era = era.name not in ("2020-01", "2020-03")
    rows: list[dict[str, str]] = []
    last_update = _last_update(day, quirks, rng)
    # US states reported as provinces before county rows existed.
    if not county_era:
        for state, (name, march_name, first) in US_STATE_EARLY_NAMES.items():
            if day < first:
                continue
            counties = [loc for loc in LOCATIONS if loc.is_us_county and loc.province == state]
            # A handful of travel cases, then growth: quadratic in the days since the state's first case.
            days = (day - first).days
            confirmed = 1 + len(counties) * days * days // 40
            province = march_name if date(2020, 3, 1) <= day < date(2020, 3, 10) else name
            deaths = round(confirmed * 0.02) if day >= date(2020, 2, 29) else 0
            rows.append(
                {
                    "province": province,
                    "country": "US",
                    "confirmed": str(confirmed),
                    "deaths": str(deaths),
                    "recovered": "0",
                    "lat": repr(counties[0].lat),
                    "lon": repr(counties[0].lon),
                    "location": f"US/{state}",
                }
            )
    for location in LOCATIONS:
        if day < location.first_report or (location.is_us_county and not county_era):
            continue
        counts = counts_for(location, day, seed)
        row = {
            "fips": str(int(location.fips)) if location.fips else "",
            "admin2": location.admin2,
            "province": location.province,
            "country": location.country if county_era else reported_country(location.country, day),
            "confirmed": str(counts.confirmed),
            "deaths": str(counts.deaths),
            "recovered": "" if counts.recovered is None else str(counts.recovered),
            "active": "" if counts.active is None else str(counts.active),
            "lat": repr(location.lat),
            "lon": repr(location.lon),
            "combined_key": location.combined_key,
            "incidence": _rate(counts.confirmed, location.population, 100_000),
            "cfr": _rate(counts.deaths, counts.confirmed, 100),
            "location": f"{location.country}/{location.province}/{location.admin2}",
        }
        rows.append(row)
    for row in rows:
        row["last_update"] = last_update
    return rows


def _apply_quirks(day: date, rows: list[dict[str, str]]) -> list[dict[str, str]]:
    quirks = QUIRKS.get(day, ())
    if "empty_counts" in quirks:
        for row in rows:  # the first reports left zero deaths/recovered empty
            for key in ("deaths", "recovered"):
                if row[key] == "0":
                    row[key] = ""
    if "blanks_around_names" in quirks:
        for row in rows:
            if row["country"] == "Japan":
                row["country"] = " Japan"
            if row["province"] == "Hubei":
                row["province"] = "Hubei "
    if "duplicate_key" in quirks:
        cook = next(row for row in rows if row.get("admin2") == "Cook")
        rows.insert(rows.index(cook) + 1, dict(cook))
    if "negative_count" in quirks:
        snohomish = next(row for row in rows if row.get("admin2") == "Snohomish")
        snohomish["recovered"] = "-1"
    if "cumulative_goes_down" in quirks:
        france = next(row for row in rows if row["country"] == "France")
        # A revision: confirmed and recovered fell below the previous report's.
        france["confirmed"] = str(int(france["confirmed"]) * 2 // 5)
        france["recovered"] = str(int(france["recovered"]) * 2 // 5)
        france["active"] = str(int(france["confirmed"]) - int(france["deaths"]) - int(france["recovered"]))
    if "empty_recovered_active" in quirks:
        for row in rows:
            if row["country"] == "US":
                row["recovered"] = ""
                row["active"] = ""
    return rows


def _as_record(row: dict[str, str], header: Sequence[str], float_counts: bool) -> list[str]:
    def count(key: str) -> str:
        value = row.get(key, "")
        return f"{value}.0" if float_counts and value not in ("", None) else value

    values = {
        "Province/State": row["province"],
        "Country/Region": row["country"],
        "Last Update": row["last_update"],
        "Confirmed": count("confirmed"),
        "Deaths": count("deaths"),
        "Recovered": count("recovered"),
        "Latitude": row.get("lat", ""),
        "Longitude": row.get("lon", ""),
        "FIPS": row.get("fips", ""),
        "Admin2": row.get("admin2", ""),
        "Province_State": row["province"],
        "Country_Region": row["country"],
        "Last_Update": row["last_update"],
        "Lat": row.get("lat", ""),
        "Long_": row.get("lon", ""),
        "Active": count("active"),
        "Combined_Key": row.get("combined_key", ""),
        "Incidence_Rate": row.get("incidence", ""),
        "Incident_Rate": row.get("incidence", ""),
        "Case-Fatality_Ratio": row.get("cfr", ""),
        "Case_Fatality_Ratio": row.get("cfr", ""),
    }
    return [values[column] for column in header]


def render_daily_report(day: date, seed: int = DEFAULT_SEED) -> tuple[bytes, int]:
    """One daily report file's bytes and its number of data rows."""
    rng = random.Random(f"{seed}:{day.isoformat()}")
    quirks = QUIRKS.get(day, ())
    rows = _apply_quirks(day, _rows_for_day(day, seed, rng))
    header = file_header(day)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n" if "crlf" in quirks else "\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(_as_record(row, header, "float_counts" in quirks))
    text = buffer.getvalue()
    data = ("\ufeff" + text if "bom" in quirks else text).encode("utf-8")
    return data, len(rows)


def render_lookup() -> bytes:
    """The UID lookup (canonical names) for every generated location, in the real table's shape."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(LOOKUP_HEADER)
    for location in sorted((*COUNTRY_ROWS, *LOCATIONS), key=lambda loc: loc.uid):
        writer.writerow(
            [
                location.uid,
                location.iso2,
                location.iso3,
                location.code3,
                f"{float(location.fips):.1f}" if location.fips else "",
                location.admin2,
                location.province,
                location.country,
                repr(location.lat),
                repr(location.lon),
                location.combined_key,
                location.population,
            ]
        )
    return buffer.getvalue().encode("utf-8")
