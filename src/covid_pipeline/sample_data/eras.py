"""The five header eras of the real daily reports, the report dates the sample covers, and each file's quirks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

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

# Which file carries which quirk (each described in the docstring of covid_pipeline.sample_data).
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


def era_of(day: date) -> HeaderEra:
    for era in ERAS:
        if era.first <= day <= era.last:
            return era
    raise ValueError(f"{day} is outside the JHU daily report eras ({ERAS[0].first} .. {ERAS[-1].last})")


def file_header(day: date) -> tuple[str, ...]:
    header = era_of(day).header
    if "other_column_order" in QUIRKS.get(day, ()):
        # Another publisher's export: names first, then counts, then the rest.
        first = ("Country_Region", "Province_State", "Admin2", "FIPS", "Confirmed", "Deaths")
        return first + tuple(column for column in header if column not in first)
    return header
