"""moto's backends as the emulator's state sees them: every BackendDict in use with its backend objects, where
each lives (module and name, for a restore to find it), putting them back, and counting what they hold."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Any

from moto.core.base_backend import AccountSpecificBackend, BackendDict

# BackendDict attributes that every BackendDict has and __init__ sets: the rest (S3's bucket_accounts) is state.
_BACKEND_DICT_ATTRIBUTES = frozenset({"backend", "service_name", "_use_boto3_regions", "_additional_regions", "_id"})


@dataclass(frozen=True)
class Entry:
    """One backend object: where it lives (BackendDict's module and name, account, region) and the object."""

    module: str
    attribute: str
    account: str
    region: str
    backend: Any


def live_payload() -> tuple[dict[str, Any], list[Entry]]:
    """Every BackendDict in use, with its extra attributes and its backends, in a stable order."""
    dicts = []
    entries = []
    for backend_dict in sorted(backend_dicts_in_use(), key=backend_dict_location):
        module, attribute = backend_dict_location(backend_dict)
        extras = {key: value for key, value in vars(backend_dict).items() if key not in _BACKEND_DICT_ATTRIBUTES}
        backends = []
        for account, account_backends in dict.items(backend_dict):
            for region, backend in dict.items(account_backends):
                backends.append((account, region, backend))
                entries.append(Entry(module, attribute, account, region, backend))
        dicts.append({"module": module, "attribute": attribute, "extras": extras, "backends": backends})
    return {"backend_dicts": dicts}, entries


_locations: dict[int, tuple[str, str]] = {}


def backend_dicts_in_use() -> list[BackendDict[Any]]:
    return list(BackendDict._instances)  # type: ignore[misc]  # moto's own registry of dicts in use


def backend_dict_location(backend_dict: BackendDict[Any]) -> tuple[str, str]:
    """The module-level name of a BackendDict (``moto.s3.models``, ``s3_backends``): how a restore finds it."""
    known = _locations.get(id(backend_dict))
    if known is not None:
        return known
    home = backend_dict.backend.__module__
    candidates = [home, *sorted(name for name in list(sys.modules) if name.startswith("moto.") and name != home)]
    for module_name in candidates:
        module = sys.modules.get(module_name)
        for attribute, value in list(vars(module).items()) if module is not None else []:
            if value is backend_dict:
                _locations[id(backend_dict)] = (module_name, attribute)
                return module_name, attribute
    raise RuntimeError(f"moto's BackendDict for {backend_dict.service_name} is not a module attribute")


def _live_backend_dict(module: str, attribute: str) -> BackendDict[Any]:
    backend_dict = getattr(importlib.import_module(module), attribute)
    if not isinstance(backend_dict, BackendDict):
        raise TypeError(f"{module}.{attribute} is not a BackendDict")
    return backend_dict


def _live_account_backends(module: str, attribute: str, account: str) -> AccountSpecificBackend[Any]:
    return _live_backend_dict(module, attribute)[account]


def install(payload: dict[str, Any]) -> list[Entry]:
    """Put the loaded backends into moto's BackendDicts: the server looks them up there on every request."""
    installed = []
    for saved in payload["backend_dicts"]:
        backend_dict = _live_backend_dict(saved["module"], saved["attribute"])
        for key, value in saved["extras"].items():
            setattr(backend_dict, key, value)
        for account, region, backend in saved["backends"]:
            account_backends = backend_dict[account]  # creates the account's dict and marks the BackendDict in use
            dict.__setitem__(account_backends, region, backend)
            installed.append(Entry(saved["module"], saved["attribute"], account, region, backend))
    return installed


def reset_emulator() -> None:
    """What POST /moto-api/reset does: every backend of every service back to empty."""
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()


def count_resources(entries: list[Entry]) -> dict[str, int]:
    """A few counts for the log line and the report; a moto upgrade that renames an attribute only drops a count."""
    from moto.s3.models import FakeDeleteMarker

    counts: dict[str, int] = {}

    def add(label: str, amount: int) -> None:
        if amount:
            counts[label] = counts.get(label, 0) + amount

    for entry in entries:
        backend = entry.backend
        service = entry.module.split(".")[1]
        if service == "s3":
            buckets = getattr(backend, "buckets", {})
            add("S3 buckets", len(buckets))
            versions = [version for bucket in buckets.values() for key in bucket.keys.lists() for version in key[1]]
            markers = sum(isinstance(version, FakeDeleteMarker) for version in versions)
            add("S3 object versions", len(versions) - markers)
            add("S3 delete markers", markers)
        elif service == "sqs":
            queues = getattr(backend, "queues", {})
            add("SQS queues", len(queues))
            add("SQS messages", sum(len(getattr(queue, "_messages", ())) for queue in queues.values()))
        elif service == "awslambda":
            add("Lambda functions", len(getattr(getattr(backend, "_lambdas", None), "_functions", {})))
        elif service == "glue":
            databases = getattr(backend, "databases", {})
            tables = [table for database in databases.values() for table in getattr(database, "tables", {}).values()]
            add("Glue databases", len(databases))
            add("Glue tables", len(tables))
            add("Glue partitions", sum(len(getattr(table, "partitions", {})) for table in tables))
            add("Glue jobs", len(getattr(backend, "jobs", {})))
        elif service == "logs":
            streams = [stream for group in getattr(backend, "groups", {}).values() for stream in group.streams.values()]
            add("log groups", len(getattr(backend, "groups", {})))
            add("log events", sum(len(getattr(stream, "events", ())) for stream in streams))
        elif service == "kms":
            add("KMS keys", len(getattr(backend, "keys", {})))
        elif service == "iam":
            add("IAM roles", len(getattr(backend, "roles", {})))
    return counts
