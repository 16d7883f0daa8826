"""Header eras -> canonical fields, unknown columns kept, the output contract."""

from __future__ import annotations

import schema_evolution as se


def test_every_jhu_era_maps_onto_the_canonical_fields() -> None:
    headers = {
        "jhu_v1": "Province/State,Country/Region,Last Update,Confirmed,Deaths,Recovered",
        "jhu_v2": "Province/State,Country/Region,Last Update,Confirmed,Deaths,Recovered,Latitude,Longitude",
        "jhu_v3": "FIPS,Admin2,Province_State,Country_Region,Last_Update,Lat,Long_,Confirmed,Deaths,Recovered,Active,"
        "Combined_Key",
        "jhu_v4": "FIPS,Admin2,Province_State,Country_Region,Last_Update,Lat,Long_,Confirmed,Deaths,Recovered,Active,"
        "Combined_Key,Incidence_Rate,Case-Fatality_Ratio",
        "jhu_v5": "FIPS,Admin2,Province_State,Country_Region,Last_Update,Lat,Long_,Confirmed,Deaths,Recovered,Active,"
        "Combined_Key,Incident_Rate,Case_Fatality_Ratio",
    }
    for era, header in headers.items():
        mapping = se.map_header(header.split(","), "jhu_daily")
        assert mapping.era == era
        assert tuple(f for f in mapping.field_for_position if f) == se.JHU_ERAS[era]
        assert mapping.new_columns == () and mapping.ok


def test_unknown_columns_are_kept_and_reported_and_missing_required_is_flagged() -> None:
    mapping = se.map_header(["\ufeffCountry_Region", "Confirmed", "People_Tested", "Combined_Key"], "jhu_daily")
    assert mapping.field_for_position == ("country", "confirmed", None, None)
    assert mapping.extra_names == ("people_tested",)
    assert mapping.new_columns == ("people_tested",)
    missing = se.map_header(["Country_Region", "Deaths"], "jhu_daily")
    assert missing.missing_required == ("confirmed",) and not missing.ok


def test_owid_indicators_are_extras_but_not_new() -> None:
    mapping = se.map_header(["iso_code", "continent", "location", "date", "total_cases", "new_cases_smoothed"], "owid")
    assert mapping.era == "owid_v2"
    assert mapping.field_for_position == ("iso3", None, "country", "row_date", "confirmed", None)
    assert mapping.extra_names == ("continent", "new_cases_smoothed") and mapping.new_columns == ()


def test_read_column_names_are_the_header_text_made_unique() -> None:
    assert se.read_column_names(["\ufeffA", "B", "A", ""]) == ["A", "B", "c2_a", "c3_column"]


def test_output_contract_is_versioned_and_ordered() -> None:
    assert se.SCHEMA_VERSION
    assert se.OUTPUT_COLUMNS == (
        "report_date", "country", "iso3", "province", "admin2", "fips", "latitude", "longitude", "population",
        "confirmed", "deaths", "recovered", "active", "new_confirmed", "new_deaths", "case_fatality_rate",
        "incidence_per_100k", "last_update", "source_file", "schema_era", "extra_fields", "year", "month",
    )  # fmt: skip
    assert set(se.COLUMN_DOCS) == set(se.OUTPUT_COLUMNS)
