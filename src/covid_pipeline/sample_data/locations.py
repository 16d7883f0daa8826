"""The sample's reporting locations, read from ``locations.csv`` beside this module, and the names JHU gave them.

``locations.csv`` has one row per location: its canonical (lookup) names and the parameters of its epidemic curve.
Rows of role ``reports`` appear in the daily reports (China's provinces as "Mainland China" until March 2020; US
counties, with Admin2 and FIPS, from 2020-03-22, before which their states report as provinces); rows of role
``lookup_only`` are the country-level rows the real lookup has for countries reported by province. An empty cell
takes the field's default. The file is package data, so an installed package reads it too.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date
from importlib import resources
from typing import Any

EPOCH = date(2020, 1, 22)
LOCATIONS_FILE = "locations.csv"


@dataclass(frozen=True)
class Location:
    """One reporting location, with its canonical (lookup) names and epidemic-curve parameters."""

    uid: int
    iso2: str
    iso3: str
    code3: int
    country: str
    province: str = ""
    admin2: str = ""
    fips: str = ""
    lat: float = 0.0
    lon: float = 0.0
    population: int = 0
    first_report: date = EPOCH
    final_confirmed: int = 1000
    midpoint_day: int = 300
    width_days: float = 60.0
    fatality: float = 0.02
    # Days after the first report over which counts grow into the curve (0: the outbreak began earlier).
    ramp_days: int = 90

    @property
    def is_us_county(self) -> bool:
        return self.country == "US" and bool(self.admin2)

    @property
    def combined_key(self) -> str:
        return ", ".join(part for part in (self.admin2, self.province, self.country) if part)


# Field annotations are strings under `from __future__ import annotations`; these read each kind from CSV text.
_PARSERS: dict[str, Callable[[str], Any]] = {"int": int, "float": float, "str": str, "date": date.fromisoformat}


def read_locations(text: str) -> dict[str, tuple[Location, ...]]:
    """Locations by role, in file order (the order of the rows in every report)."""
    by_role: dict[str, list[Location]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        values = {f.name: _PARSERS[str(f.type)](row[f.name]) for f in fields(Location) if row[f.name] != ""}
        by_role.setdefault(row["role"], []).append(Location(**values))
    return {role: tuple(locations) for role, locations in by_role.items()}


_CSV = resources.files("covid_pipeline.sample_data").joinpath(LOCATIONS_FILE)
_BY_ROLE = read_locations(_CSV.read_text(encoding="utf-8"))
LOCATIONS: tuple[Location, ...] = _BY_ROLE["reports"]
# Country-level rows the real lookup has for countries reported by province.
COUNTRY_ROWS: tuple[Location, ...] = _BY_ROLE["lookup_only"]

# US states as they reported before county rows (name by period), with the counties they aggregate.
US_STATE_EARLY_NAMES = {
    "Washington": ("Washington", "King County, WA", date(2020, 1, 22)),
    "Illinois": ("Illinois", "Cook County, IL", date(2020, 1, 24)),
    "California": ("California", "Los Angeles, CA", date(2020, 1, 26)),
}

# Names JHU used for a country before settling on the canonical one: (alias, first day, last day).
COUNTRY_ALIASES: dict[str, tuple[tuple[str, date, date], ...]] = {
    "China": (("Mainland China", EPOCH, date(2020, 3, 11)),),
    "Korea, South": (
        ("South Korea", EPOCH, date(2020, 3, 9)),
        ("Republic of Korea", date(2020, 3, 10), date(2020, 3, 10)),
    ),
    "United Kingdom": (("UK", EPOCH, date(2020, 3, 10)),),
    "Czechia": (("Czech Republic", EPOCH, date(2020, 3, 21)),),
    "Iran": (("Iran (Islamic Republic of)", date(2020, 3, 10), date(2020, 3, 10)),),
}


def reported_country(canonical: str, day: date) -> str:
    """The country name a daily report of `day` used (JHU renamed several countries over time)."""
    for alias, first, last in COUNTRY_ALIASES.get(canonical, ()):
        if first <= day <= last:
            return alias
    return canonical


def canonical_country(reported: str) -> str:
    """The lookup's name for a reported country name (blanks trimmed, aliases resolved)."""
    name = reported.strip()
    for canonical, aliases in COUNTRY_ALIASES.items():
        if any(alias == name for alias, _, _ in aliases):
            return canonical
    return name
