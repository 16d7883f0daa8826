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
"""

from __future__ import annotations

import csv
import io
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from covid_pipeline.config import PipelineConfig

SOURCE = "jhu_daily"
DEFAULT_SEED = 2020
LOOKUP_FILE_NAME = "UID_ISO_FIPS_LookUp_Table.csv"
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
_COUNTY_BASE = ["FIPS", "Admin2", "Province_State", "Country_Region", "Last_Update", "Lat", "Long_"]
_COUNTY_COUNTS = ["Confirmed", "Deaths", "Recovered", "Active", "Combined_Key"]


@dataclass(frozen=True)
class HeaderEra:
    name: str
    first: date
    last: date
    header: tuple[str, ...]


_ERA1_HEADER = ("Province/State", "Country/Region", "Last Update", "Confirmed", "Deaths", "Recovered")
# The five header eras of the real daily reports (../shared/data/README.md), oldest first.
ERAS = (
    HeaderEra("2020-01", date(2020, 1, 22), date(2020, 2, 29), _ERA1_HEADER),
    HeaderEra("2020-03", date(2020, 3, 1), date(2020, 3, 21), (*_ERA1_HEADER, "Latitude", "Longitude")),
    HeaderEra("2020-03-22", date(2020, 3, 22), date(2020, 5, 28), (*_COUNTY_BASE, *_COUNTY_COUNTS)),
    HeaderEra(
        "2020-05-29",
        date(2020, 5, 29),
        date(2020, 11, 8),
        (*_COUNTY_BASE, *_COUNTY_COUNTS, "Incidence_Rate", "Case-Fatality_Ratio"),
    ),
    HeaderEra(
        "2020-11-09",
        date(2020, 11, 9),
        date(2021, 5, 30),
        (*_COUNTY_BASE, *_COUNTY_COUNTS, "Incident_Rate", "Case_Fatality_Ratio"),
    ),
)

# Report dates: several per era; the last one is held back by the demo as its "one more upload".
REPORT_DATES = (
    date(2020, 1, 22),
    date(2020, 1, 23),
    date(2020, 2, 15),
    date(2020, 2, 29),
    date(2020, 3, 1),
    date(2020, 3, 10),
    date(2020, 3, 21),
    date(2020, 3, 22),
    date(2020, 4, 15),
    date(2020, 5, 28),
    date(2020, 5, 29),
    date(2020, 8, 1),
    date(2020, 11, 8),
    date(2020, 11, 9),
    date(2021, 2, 1),
    date(2021, 5, 29),
    date(2021, 5, 30),
)

# Which file carries which quirk (each documented in the module docstring).
QUIRKS: dict[date, tuple[str, ...]] = {
    date(2020, 1, 22): ("last_update_m/d/yyyy", "empty_counts"),
    date(2020, 1, 23): ("last_update_m/d/yy", "crlf"),
    date(2020, 2, 15): ("last_update_iso_t", "blanks_around_names"),
    date(2020, 3, 10): ("renamed_countries",),
    date(2020, 3, 22): ("bom", "last_update_m/d/yy_no_seconds"),
    date(2020, 4, 15): ("duplicate_key",),
    date(2020, 5, 28): ("negative_count", "cumulative_goes_down"),
    date(2020, 8, 1): ("float_counts",),
    date(2020, 11, 8): ("last_update_no_seconds",),
    date(2020, 11, 9): ("other_column_order",),
    date(2021, 2, 1): ("empty_recovered_active",),
}

EPOCH = date(2020, 1, 22)


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


def _county(fips: str, admin2: str, state: str, lat: float, lon: float, pop: int, **curve: Any) -> Location:
    return Location(
        uid=84000000 + int(fips),
        iso2="US",
        iso3="USA",
        code3=840,
        country="US",
        province=state,
        admin2=admin2,
        fips=fips,
        lat=lat,
        lon=lon,
        population=pop,
        first_report=date(2020, 3, 22),
        **curve,
    )


LOCATIONS: tuple[Location, ...] = (
    # China: reported as "Mainland China" until March 2020.
    Location(
        15608,
        "CN",
        "CHN",
        156,
        "China",
        "Hubei",
        lat=30.9756,
        lon=112.2707,
        population=57_752_000,
        final_confirmed=68_160,
        midpoint_day=18,
        width_days=5.0,
        fatality=0.067,
        ramp_days=0,
    ),
    Location(
        15606,
        "CN",
        "CHN",
        156,
        "China",
        "Guangdong",
        lat=23.3417,
        lon=113.4244,
        population=113_460_000,
        final_confirmed=2_400,
        midpoint_day=16,
        width_days=6.0,
        fatality=0.004,
        ramp_days=0,
    ),
    Location(
        15601,
        "CN",
        "CHN",
        156,
        "China",
        "Beijing",
        lat=40.1824,
        lon=116.4142,
        population=21_540_000,
        final_confirmed=1_060,
        midpoint_day=20,
        width_days=10.0,
        fatality=0.01,
        ramp_days=0,
    ),
    Location(
        15625,
        "CN",
        "CHN",
        156,
        "China",
        "Shanghai",
        lat=31.202,
        lon=121.4491,
        population=24_280_000,
        final_confirmed=2_100,
        midpoint_day=40,
        width_days=40.0,
        fatality=0.004,
        ramp_days=0,
    ),
    Location(
        410,
        "KR",
        "KOR",
        410,
        "Korea, South",
        lat=35.907757,
        lon=127.766922,
        population=51_269_183,
        final_confirmed=140_000,
        midpoint_day=330,
        width_days=60.0,
        fatality=0.014,
    ),
    Location(
        392,
        "JP",
        "JPN",
        392,
        "Japan",
        lat=36.204824,
        lon=138.252924,
        population=126_476_458,
        final_confirmed=750_000,
        midpoint_day=440,
        width_days=40.0,
        fatality=0.017,
    ),
    Location(
        380,
        "IT",
        "ITA",
        380,
        "Italy",
        lat=41.87194,
        lon=12.56738,
        population=60_461_828,
        first_report=date(2020, 1, 31),
        final_confirmed=4_200_000,
        midpoint_day=330,
        width_days=50.0,
        fatality=0.03,
    ),
    Location(
        276,
        "DE",
        "DEU",
        276,
        "Germany",
        lat=51.165691,
        lon=10.451526,
        population=83_783_945,
        first_report=date(2020, 1, 28),
        final_confirmed=3_700_000,
        midpoint_day=360,
        width_days=50.0,
        fatality=0.024,
    ),
    Location(
        250,
        "FR",
        "FRA",
        250,
        "France",
        lat=46.2276,
        lon=2.2137,
        population=65_273_512,
        first_report=date(2020, 1, 24),
        final_confirmed=5_700_000,
        midpoint_day=350,
        width_days=60.0,
        fatality=0.019,
    ),
    Location(
        364,
        "IR",
        "IRN",
        364,
        "Iran",
        lat=32.427908,
        lon=53.688046,
        population=83_992_953,
        first_report=date(2020, 2, 19),
        final_confirmed=2_900_000,
        midpoint_day=420,
        width_days=80.0,
        fatality=0.028,
    ),
    Location(
        203,
        "CZ",
        "CZE",
        203,
        "Czechia",
        lat=49.8175,
        lon=15.473,
        population=10_708_982,
        first_report=date(2020, 3, 1),
        final_confirmed=1_660_000,
        midpoint_day=360,
        width_days=35.0,
        fatality=0.018,
    ),
    Location(
        826,
        "GB",
        "GBR",
        826,
        "United Kingdom",
        lat=55.3781,
        lon=-3.436,
        population=67_886_004,
        first_report=date(2020, 1, 31),
        final_confirmed=4_500_000,
        midpoint_day=350,
        width_days=45.0,
        fatality=0.028,
    ),
    Location(
        76,
        "BR",
        "BRA",
        76,
        "Brazil",
        lat=-14.235,
        lon=-51.9253,
        population=212_559_409,
        first_report=date(2020, 2, 26),
        final_confirmed=17_000_000,
        midpoint_day=420,
        width_days=90.0,
        fatality=0.028,
    ),
    Location(
        356,
        "IN",
        "IND",
        356,
        "India",
        lat=20.593684,
        lon=78.96288,
        population=1_380_004_385,
        first_report=date(2020, 1, 30),
        final_confirmed=28_000_000,
        midpoint_day=440,
        width_days=50.0,
        fatality=0.012,
    ),
    Location(
        3604,
        "AU",
        "AUS",
        36,
        "Australia",
        "New South Wales",
        lat=-33.8688,
        lon=151.2093,
        population=8_118_000,
        first_report=date(2020, 1, 26),
        final_confirmed=5_500,
        midpoint_day=80,
        width_days=30.0,
        fatality=0.01,
    ),
    Location(
        3607,
        "AU",
        "AUS",
        36,
        "Australia",
        "Victoria",
        lat=-37.8136,
        lon=144.9631,
        population=6_629_900,
        first_report=date(2020, 1, 26),
        final_confirmed=20_500,
        midpoint_day=200,
        width_days=20.0,
        fatality=0.04,
    ),
    Location(
        12406,
        "CA",
        "CAN",
        124,
        "Canada",
        "Ontario",
        lat=51.2538,
        lon=-85.3232,
        population=14_711_827,
        first_report=date(2020, 1, 26),
        final_confirmed=530_000,
        midpoint_day=420,
        width_days=60.0,
        fatality=0.017,
    ),
    Location(
        12402,
        "CA",
        "CAN",
        124,
        "Canada",
        "British Columbia",
        lat=53.7267,
        lon=-127.6476,
        population=5_110_917,
        first_report=date(2020, 1, 28),
        final_confirmed=143_000,
        midpoint_day=430,
        width_days=60.0,
        fatality=0.012,
    ),
    # US counties (Admin2 + FIPS) from 2020-03-22; before that the states report as provinces.
    _county(
        "53033",
        "King",
        "Washington",
        47.49137892,
        -121.8346131,
        2_252_782,
        final_confirmed=105_000,
        midpoint_day=380,
        width_days=70.0,
        fatality=0.014,
    ),
    _county(
        "53061",
        "Snohomish",
        "Washington",
        48.04615983,
        -121.7170703,
        822_083,
        final_confirmed=38_000,
        midpoint_day=380,
        width_days=70.0,
        fatality=0.013,
    ),
    _county(
        "17031",
        "Cook",
        "Illinois",
        41.84144849,
        -87.81658794,
        5_150_233,
        final_confirmed=540_000,
        midpoint_day=320,
        width_days=50.0,
        fatality=0.019,
    ),
    _county(
        "06037",
        "Los Angeles",
        "California",
        34.30828379,
        -118.2282411,
        10_039_107,
        final_confirmed=1_240_000,
        midpoint_day=350,
        width_days=30.0,
        fatality=0.019,
    ),
    _county(
        "36061",
        "New York City",
        "New York",
        40.76727260,
        -73.97152637,
        8_336_817,
        final_confirmed=930_000,
        midpoint_day=330,
        width_days=80.0,
        fatality=0.035,
    ),
    _county(
        "22071",
        "Orleans",
        "Louisiana",
        30.06971962,
        -89.93028627,
        390_144,
        final_confirmed=50_000,
        midpoint_day=320,
        width_days=80.0,
        fatality=0.022,
    ),
    _county(
        "04013",
        "Maricopa",
        "Arizona",
        33.34883,
        -112.49123,
        4_485_414,
        final_confirmed=560_000,
        midpoint_day=340,
        width_days=40.0,
        fatality=0.018,
    ),
    _county(
        "12086",
        "Miami-Dade",
        "Florida",
        25.61123,
        -80.55171,
        2_716_940,
        final_confirmed=490_000,
        midpoint_day=340,
        width_days=70.0,
        fatality=0.013,
    ),
    _county(
        "48201",
        "Harris",
        "Texas",
        29.85864939,
        -95.39339932,
        4_713_325,
        final_confirmed=400_000,
        midpoint_day=350,
        width_days=60.0,
        fatality=0.014,
    ),
    _county(
        "11001",
        "District of Columbia",
        "District of Columbia",
        38.90481,
        -77.01629,
        705_749,
        final_confirmed=49_000,
        midpoint_day=330,
        width_days=80.0,
        fatality=0.023,
    ),
)
# Country-level rows the real lookup has for countries reported by province.
COUNTRY_ROWS = (
    Location(156, "CN", "CHN", 156, "China", lat=30.5928, lon=114.3055, population=1_404_676_330),
    Location(36, "AU", "AUS", 36, "Australia", lat=-25.0, lon=133.0, population=25_459_700),
    Location(124, "CA", "CAN", 124, "Canada", lat=60.0, lon=-95.0, population=37_855_702),
    Location(840, "US", "USA", 840, "US", lat=40.0, lon=-100.0, population=329_466_283),
)
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


def era_of(day: date) -> HeaderEra:
    for era in ERAS:
        if era.first <= day <= era.last:
            return era
    raise ValueError(f"{day} is outside the JHU daily report eras ({ERAS[0].first} .. {ERAS[-1].last})")


# --- counts ---------------------------------------------------------------------------------------


def _logistic(location: Location, day: date) -> float:
    t = (day - EPOCH).days
    curve = location.final_confirmed / (1.0 + math.exp(-(t - location.midpoint_day) / location.width_days))
    if location.ramp_days:  # both factors grow with time, so the product stays monotone
        curve *= min(1.0, max(0.0, ((day - location.first_report).days + 1) / location.ramp_days)) ** 2
    return curve


@dataclass
class Counts:
    confirmed: int
    deaths: int
    recovered: int | None
    active: int | None


def counts_for(location: Location, day: date, seed: int = DEFAULT_SEED) -> Counts:
    # The noise is per location, not per day, so cumulative counts never fall by accident.
    scale = random.Random(f"{seed}:{location.uid}").uniform(0.9, 1.1)
    confirmed = max(1, round(_logistic(location, day) * scale))
    deaths = round(confirmed * location.fatality * min(1.0, 0.3 + (day - EPOCH).days / 60))
    recovered: int | None
    if location.is_us_county:
        recovered = 0  # JHU reported no recovered for US counties
    else:
        recovered = round((confirmed - deaths) * min(0.92, max(0.0, ((day - EPOCH).days - 14) / 120)))
    return Counts(confirmed, deaths, recovered, confirmed - deaths - (recovered or 0))


# --- rendering ------------------------------------------------------------------------------------


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


def file_header(day: date) -> tuple[str, ...]:
    header = era_of(day).header
    if "other_column_order" in QUIRKS.get(day, ()):
        # Another publisher's export: names first, then counts, then the rest.
        first = ("Country_Region", "Province_State", "Admin2", "FIPS", "Confirmed", "Deaths")
        return first + tuple(column for column in header if column not in first)
    return header


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


# --- files on disk and in S3 ----------------------------------------------------------------------


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


def _split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def upload_reference(config: PipelineConfig, dataset: SampleDataset, s3: Any) -> str:
    """Put the lookup at config.reference_path (the job reads it from there)."""
    bucket, key = _split_s3_uri(config.reference_path)
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
