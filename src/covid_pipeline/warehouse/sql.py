"""SQL text shared by the targets. Identifiers come only from covid_pipeline.warehouse.schema; values are never
spliced in (callers bind them as parameters)."""

from __future__ import annotations

import re

from covid_pipeline.warehouse.schema import DIM_DATE, DIM_LOCATION, FACT_COVID_DAILY, LOAD_STATE, VIEW_NAMES, Table

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def ident(name: str) -> str:
    """An identifier from our own schema; anything else is a programming error, never silently quoted."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a schema identifier: {name!r}")
    return name


def column_list(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(ident(name) for name in names)


def create_table(table: Table, types: dict[str, str], suffix: str = "", not_null: tuple[str, ...] = ()) -> str:
    lines = [
        f"{ident(name)} {types[kind]}{' NOT NULL' if name in table.primary_key or name in not_null else ''}"
        for name, kind in table.columns
    ]
    if table.primary_key:
        lines.append(f"PRIMARY KEY ({column_list(table.primary_key)})")
    body = ",\n    ".join(lines)
    return f"CREATE TABLE IF NOT EXISTS {ident(table.name)} (\n    {body}\n){suffix}"


def drop_views() -> list[str]:
    return [f"DROP VIEW IF EXISTS {ident(name)}" for name in reversed(VIEW_NAMES)]


def upsert_dates(staging: str) -> str:
    cols = column_list(DIM_DATE.column_names)
    return f"INSERT INTO dim_date ({cols}) SELECT {cols} FROM {ident(staging)} ON CONFLICT (date_key) DO NOTHING"


def upsert_locations(staging: str) -> str:
    """Type-1 upsert: attributes from the newest report date win, whatever order partitions are loaded in."""
    cols = column_list(DIM_LOCATION.column_names)
    updates = ", ".join(f"{ident(name)} = excluded.{ident(name)}" for name in DIM_LOCATION.column_names[1:])
    return (
        f"INSERT INTO dim_location ({cols}) SELECT {cols} FROM {ident(staging)} "
        f"ON CONFLICT (location_key) DO UPDATE SET {updates} "
        "WHERE excluded.attributes_as_of >= dim_location.attributes_as_of"
    )


def delete_partition_facts(placeholder: str, fact: Table = FACT_COVID_DAILY) -> str:
    return f"DELETE FROM {ident(fact.name)} WHERE year = {placeholder} AND month = {placeholder}"


def delete_load_state(placeholder: str, load_state: Table = LOAD_STATE) -> str:
    return f"DELETE FROM {ident(load_state.name)} WHERE partition_key = {placeholder}"


def select_load_state(load_state: Table = LOAD_STATE) -> str:
    return f"SELECT partition_key, fingerprint FROM {ident(load_state.name)}"


def upsert_load_state(placeholder: str, load_state: Table = LOAD_STATE) -> str:
    cols = column_list(load_state.column_names)
    values = ", ".join([placeholder] * (len(load_state.columns) - 1) + ["CURRENT_TIMESTAMP"])
    updates = ", ".join(f"{ident(name)} = excluded.{ident(name)}" for name in load_state.column_names[1:])
    return (
        f"INSERT INTO {ident(load_state.name)} ({cols}) VALUES ({values}) "
        f"ON CONFLICT (partition_key) DO UPDATE SET {updates}"
    )
