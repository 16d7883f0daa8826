"""`schema`: the Glue table of a source, its columns and versions; `--update` applies the job's schema contract."""

from __future__ import annotations

import argparse
import sys

from covid_pipeline.commands.plumbing import _print_json, _session, _when, format_table


def cmd_schema(args: argparse.Namespace) -> int:
    from covid_pipeline.catalog_schema import apply_contract, describe_table, resolve_table

    with _session(args) as (config, session):
        glue = session.client("glue")
        table = resolve_table(config, args.table)
        if args.update:
            source = next(s for s, t in config.names.glue_tables.items() if t == table)
            change = apply_contract(glue, config.names.glue_database, table, location=config.output_path(source))
            if args.json:
                _print_json(change)
            elif change["added"] or change["created"]:
                what = "created" if change["created"] else f"added {', '.join(change['added'])}"
                print(f"{config.names.glue_database}.{table}: {what} (version {change['version']})")
            else:
                print(f"{config.names.glue_database}.{table}: already matches the contract")
            for conflict in change["conflicts"]:
                print(f"warning: {conflict} (type changes are not applied: they are not additive)", file=sys.stderr)
            return 0
        info = describe_table(glue, config.names.glue_database, table)
        if args.json:
            _print_json(info)
            return 0
        print(f"{info['database']}.{info['table']}  location {info['location']}  ({len(info['versions'])} version(s))")
        rows = [[c["name"], c["type"], ""] for c in info["columns"]] + [
            [c["name"], c["type"], "partition key"] for c in info["partition_keys"]
        ]
        print(format_table(["column", "type", ""], rows))
        if info["versions"]:
            print()
            version_rows = [[v["version"], _when(v["updated"]), v["columns"], v["change"]] for v in info["versions"]]
            print(format_table(["version", "updated", "columns", "change"], version_rows, (2,)))
        return 0
