"""The emulator's whole state on disk, so that the local cloud comes back after a restart exactly as it was.

moto keeps every resource in memory, in per-service ``BackendDict`` s (account ->
region -> backend object) that die with the process. ``EmulatorState`` pickles
those backend objects as they are, in this process, and on the next start loads
them back into the same BackendDicts, so the running server answers from them:
same KMS key ids and key material, queue URLs and messages in flight, object
versions and version ids, function code, alarms, log events, ... and
``terraform plan`` against the restored cloud has nothing to change::

    <state_dir>/emulator/index.json            format, moto and Python versions, which state file, counts
    <state_dir>/emulator/state-<sha256>.pickle  every backend, without S3 object bodies
    <state_dir>/emulator/blobs/ab/<sha256>      one S3 object version's bytes

Bodies are files of their own, named by a hash of (account, bucket, key,
version id, ETag, size): a snapshot writes only versions that it has not
written before, and removes the files of versions that are gone. The state
file is named by its content's hash and written only when it changed; the index
is replaced last (write, then ``os.replace``), so a crash mid-snapshot leaves
the previous snapshot whole. A snapshot with nothing changed writes no file.
"Nothing changed" is moto's view: reads change some state (an S3 GET or HEAD
advances the object's restore-status tick), so after any traffic the state file
is written again (about 0.2 MB for the demo, 2 MB for 3000 objects), never a
body that is already on disk. The first snapshot after a restore writes it
again too: objects that were shared before the restore can be separate copies
after it, and pickle's bytes follow that sharing.

What plain pickling cannot carry is reduced here, generically (``_Pickler``):
locks and conditions are made anew, unlocked; private and public keys and
certificates travel as DER; functions defined inside other functions (a
defaultdict's factory) travel as code; weak dictionaries as their live items;
dict subclasses that override ``items``/``__setitem__`` (S3's versioned key
store keeps a list of versions per key) as their raw items.

A snapshot pickles with the emulator's ``RequestGate`` paused, so it sees moto
between requests. The pickle is only readable by the moto and Python versions
that wrote it: a snapshot records both, and a restore under others stops with
a UserError that says to move the folder away. The Glue executor's run history
(``<state_dir>/glue_runs.json``) is its own file, written by the executor.
"""

from __future__ import annotations

import contextlib
import copyreg
import hashlib
import importlib
import io
import json
import logging
import marshal
import os
import pickle
import sys
import tempfile
import threading
import time
import types
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import moto
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from moto.core.base_backend import AccountSpecificBackend, BackendDict

from covid_pipeline.errors import UserError
from covid_pipeline.local.request_gate import RequestGate

log = logging.getLogger(__name__)

# Bump when the layout of the files or of the pickled payload changes.
SNAPSHOT_FORMAT = 1
FOLDER_NAME = "emulator"
INDEX_FILE = "index.json"
BLOBS_FOLDER = "blobs"
STATE_PREFIX = "state-"
STATE_SUFFIX = ".pickle"
PICKLE_PROTOCOL = 5
# What only the previous state store (JSON documents per bucket, database and log group) left in the state dir.
LEGACY_ENTRIES = ("s3/*/index.json", "catalog/*.json", "glue_jobs.json")
COPY_CHUNK = 1 << 20
# Byte strings at least this long are kept as blobs (function and layer zips), not in the state file.
LARGE_BYTES = 256 * 1024
UNGATED_ATTEMPTS = 3
# marshal's format 2 has no back-references, which depend on reference counts: the same code object gives the
# same bytes after a round trip, so a snapshot right after a restore can match the restored state file.
MARSHAL_VERSION = 2

# pickle's NEWOBJ: cls.__new__(cls), then the state; the stubs do not declare it.
_NEW_OBJECT: Callable[..., Any] = copyreg.__newobj__  # type: ignore[attr-defined]
_LOCK_TYPE = type(threading.Lock())
_RLOCK_TYPE = type(threading.RLock())
# BackendDict attributes that every BackendDict has and __init__ sets: the rest (S3's bucket_accounts) is state.
_BACKEND_DICT_ATTRIBUTES = frozenset({"backend", "service_name", "_use_boto3_regions", "_additional_regions", "_id"})
_PRIVATE_KEYS = (
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    dsa.DSAPrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
    x25519.X25519PrivateKey,
    x448.X448PrivateKey,
)
_PUBLIC_KEYS = (
    rsa.RSAPublicKey,
    ec.EllipticCurvePublicKey,
    dsa.DSAPublicKey,
    ed25519.Ed25519PublicKey,
    ed448.Ed448PublicKey,
    x25519.X25519PublicKey,
    x448.X448PublicKey,
)


@dataclass
class SnapshotReport:
    backends: int = 0  # (service, account, region) backend objects saved
    object_versions: int = 0  # S3 object versions (and parts of unfinished multipart uploads)
    blobs_written: int = 0
    blob_bytes_written: int = 0
    blobs_removed: int = 0
    state_bytes: int = 0  # size of the pickled backends, bodies excluded
    state_written: bool = False
    files_written: int = 0  # blobs, state file and index
    bytes_written: int = 0
    paused_seconds: float = 0.0  # requests were held at the gate this long
    seconds: float = 0.0


@dataclass
class RestoreReport:
    backends: int = 0
    resources: dict[str, int] = field(default_factory=dict)  # e.g. {"S3 buckets": 5, "SQS messages": 2}
    blob_bytes: int = 0
    seconds: float = 0.0

    @property
    def objects(self) -> int:
        return self.resources.get("S3 object versions", 0)

    @property
    def tables(self) -> int:
        return self.resources.get("Glue tables", 0)


class EmulatorState:
    """Snapshots moto's backends (this process's) to ``<state_dir>/emulator`` and restores them from there."""

    def __init__(self, state_dir: Path, gate: RequestGate | None = None, pause_timeout: float = 30.0) -> None:
        self.folder = Path(state_dir) / FOLDER_NAME
        self.state_dir = Path(state_dir)
        self.gate = gate
        self.pause_timeout = pause_timeout
        self._blobs = _BlobFolder(self.folder / BLOBS_FOLDER)
        self._lock = threading.Lock()  # one snapshot or restore at a time

    @property
    def index_file(self) -> Path:
        return self.folder / INDEX_FILE

    @property
    def exists(self) -> bool:
        return self.index_file.is_file()

    # --- snapshot ---------------------------------------------------------------------------------

    def snapshot(self) -> SnapshotReport:
        with self._lock:
            started = time.monotonic()
            report = SnapshotReport()
            pickling_started = time.monotonic()
            pickler, entries = self._pickle_live()
            # Without a gate nothing was held: the figure is then how long a consistent copy took.
            report.paused_seconds = (
                self.gate.last_pause_seconds if self.gate is not None else time.monotonic() - pickling_started
            )
            report.backends = len(entries)
            report.object_versions = pickler.object_versions
            try:
                self._write(pickler.output.getvalue(), pickler, report)
            finally:
                pickler.discard_captures()
            report.seconds = time.monotonic() - started
            log.info("emulator state saved: %s", report)
            return report

    def _pickle_live(self) -> tuple[_Pickler, list[_Entry]]:
        on_disk = self._blobs.names()
        # Without a gate a request may change a dict while it is pickled: try again, a few times.
        attempts = 1 if self.gate is not None else UNGATED_ATTEMPTS
        for attempt in range(1, attempts + 1):
            pickler = _Pickler(io.BytesIO(), on_disk)
            with self._paused():
                payload, entries = _live_payload()
                try:
                    pickler.dump(payload)
                    return pickler, entries
                except Exception as exc:
                    pickler.discard_captures()
                    if attempt < attempts and isinstance(exc, RuntimeError) and "changed size" in str(exc):
                        continue
                    raise _snapshot_error(entries, exc) from exc
        raise AssertionError("unreachable")

    def _paused(self) -> contextlib.AbstractContextManager[None]:
        return self.gate.paused(self.pause_timeout) if self.gate is not None else contextlib.nullcontext()

    def _write(self, state: bytes, pickler: _Pickler, report: SnapshotReport) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, source in pickler.captures.items():
            report.blob_bytes_written += self._blobs.write(name, source)
            report.blobs_written += 1
        digest = hashlib.sha256(state).hexdigest()
        state_file = f"{STATE_PREFIX}{digest}{STATE_SUFFIX}"
        report.state_bytes = len(state)
        if not (self.folder / state_file).is_file():
            _write_atomically(self.folder / state_file, [state])
            report.state_written = True
            report.bytes_written += len(state)
        index = {
            "format": SNAPSHOT_FORMAT,
            "moto": moto.__version__,
            "python": _python_version(),
            "state_file": state_file,
            "state_sha256": digest,
            "backends": report.backends,
            "object_versions": report.object_versions,
            "blobs": len(pickler.referenced),
            "blob_bytes": pickler.referenced_bytes,
        }
        index_text = json.dumps(index, indent=1, sort_keys=True) + "\n"
        if not self.index_file.is_file() or self.index_file.read_text() != index_text:
            _write_atomically(self.index_file, [index_text.encode()])
            report.files_written += 1
            report.bytes_written += len(index_text.encode())
        report.files_written += report.blobs_written + report.state_written
        report.bytes_written += report.blob_bytes_written
        # The new index is in place: what only the previous snapshots used can go.
        for stale in sorted(self._blobs.names() - pickler.referenced):
            self._blobs.remove(stale)
            report.blobs_removed += 1
        for path in self.folder.glob(f"{STATE_PREFIX}*{STATE_SUFFIX}"):
            if path.name != state_file:
                path.unlink(missing_ok=True)

    # --- restore ----------------------------------------------------------------------------------

    def restore(self) -> RestoreReport:
        """Replace everything the emulator holds with the saved state (nothing saved: nothing changes)."""
        with self._lock:
            started = time.monotonic()
            report = RestoreReport()
            if not self.exists:
                legacy = [pattern for pattern in LEGACY_ENTRIES if any(self.state_dir.glob(pattern))]
                if legacy:
                    raise UserError(
                        f"{self.state_dir} holds local cloud state in an older layout ({', '.join(legacy)}) that this"
                        f" version cannot restore: move {self.state_dir} away to start with an empty cloud"
                    )
                return report
            index = self._read_index()
            state = self._read_state(index)
            with self._paused():
                _reset_emulator()
                unpickler = _Unpickler(io.BytesIO(state), self._blobs)
                try:
                    payload = unpickler.load()
                    installed = _install(payload)
                except UserError:
                    _reset_emulator()
                    raise
                except Exception as exc:  # any failure to rebuild an object means the file is not what we wrote
                    _reset_emulator()
                    raise self._corrupted(f"{type(exc).__name__}: {exc}") from exc
            report.backends = len(installed)
            report.resources = _count_resources(installed)
            report.blob_bytes = unpickler.blob_bytes
            report.seconds = time.monotonic() - started
            log.info("emulator state restored in %.2f s: %s", report.seconds, report.resources)
            return report

    def _read_index(self) -> dict[str, Any]:
        try:
            index = json.loads(self.index_file.read_text())
            if not isinstance(index, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            raise self._corrupted(f"{self.index_file.name}: {exc}") from exc
        found = (index.get("format"), index.get("moto"), index.get("python"))
        expected = (SNAPSHOT_FORMAT, moto.__version__, _python_version())
        if found != expected:
            raise UserError(
                f"the local cloud's saved state in {self.folder} was written by snapshot format {found[0]}, moto"
                f" {found[1]}, Python {found[2]}; this is format {expected[0]}, moto {expected[1]}, Python"
                f" {expected[2]}, which cannot read it: move {self.state_dir} away to start with an empty cloud"
                " (or go back to the versions that wrote it)"
            )
        return index

    def _read_state(self, index: dict[str, Any]) -> bytes:
        name = str(index.get("state_file", ""))
        try:
            if Path(name).name != name or not name.startswith(STATE_PREFIX):
                raise ValueError(f"bad state file name {name!r}")
            state = (self.folder / name).read_bytes()
        except (OSError, ValueError) as exc:
            raise self._corrupted(str(exc)) from exc
        if hashlib.sha256(state).hexdigest() != index.get("state_sha256"):
            raise self._corrupted(f"{name} does not match the checksum in {INDEX_FILE}")
        return state

    def _corrupted(self, detail: str) -> UserError:
        return UserError(
            f"the local cloud's saved state in {self.folder} is damaged ({detail}): move {self.state_dir} away to"
            " start with an empty cloud"
        )


# --- what is saved --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """One backend object: where it lives (BackendDict's module and name, account, region) and the object."""

    module: str
    attribute: str
    account: str
    region: str
    backend: Any


def _live_payload() -> tuple[dict[str, Any], list[_Entry]]:
    """Every BackendDict in use, with its extra attributes and its backends, in a stable order."""
    dicts = []
    entries = []
    for backend_dict in sorted(_backend_dicts_in_use(), key=_backend_dict_location):
        module, attribute = _backend_dict_location(backend_dict)
        extras = {key: value for key, value in vars(backend_dict).items() if key not in _BACKEND_DICT_ATTRIBUTES}
        backends = []
        for account, account_backends in dict.items(backend_dict):
            for region, backend in dict.items(account_backends):
                backends.append((account, region, backend))
                entries.append(_Entry(module, attribute, account, region, backend))
        dicts.append({"module": module, "attribute": attribute, "extras": extras, "backends": backends})
    return {"backend_dicts": dicts}, entries


_locations: dict[int, tuple[str, str]] = {}


def _backend_dicts_in_use() -> list[BackendDict[Any]]:
    return list(BackendDict._instances)  # type: ignore[misc]  # moto's own registry of dicts in use


def _backend_dict_location(backend_dict: BackendDict[Any]) -> tuple[str, str]:
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


def _install(payload: dict[str, Any]) -> list[_Entry]:
    """Put the loaded backends into moto's BackendDicts: the server looks them up there on every request."""
    installed = []
    for saved in payload["backend_dicts"]:
        backend_dict = _live_backend_dict(saved["module"], saved["attribute"])
        for key, value in saved["extras"].items():
            setattr(backend_dict, key, value)
        for account, region, backend in saved["backends"]:
            account_backends = backend_dict[account]  # creates the account's dict and marks the BackendDict in use
            dict.__setitem__(account_backends, region, backend)
            installed.append(_Entry(saved["module"], saved["attribute"], account, region, backend))
    return installed


def _reset_emulator() -> None:
    """What POST /moto-api/reset does: every backend of every service back to empty."""
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()


def _snapshot_error(entries: list[_Entry], exc: Exception) -> RuntimeError:
    """Name the backend that could not be pickled (pickle's own message names only a type)."""
    for entry in entries:
        try:
            _Pickler(io.BytesIO(), frozenset(), capture=False).dump(entry.backend)
        except Exception as inner:
            return RuntimeError(
                f"cannot save moto's {entry.module}.{entry.attribute}[{entry.account}][{entry.region}]:"
                f" {type(inner).__name__}: {inner}"
            )
    return RuntimeError(f"cannot save the emulator's state: {type(exc).__name__}: {exc}")


# --- pickling what plain pickle cannot ------------------------------------------------------------


class _Pickler(pickle.Pickler):
    """Pickles moto's backends: S3 object bodies become blob references (their bytes captured for writing), and
    the objects plain pickle refuses are reduced to something that rebuilds an equivalent one."""

    def __init__(self, output: io.BytesIO, on_disk: frozenset[str], capture: bool = True) -> None:
        super().__init__(output, protocol=PICKLE_PROTOCOL)
        self.output = output
        self.on_disk = on_disk
        self.capture = capture
        self.captures: dict[str, _Body] = {}  # blobs to write: not on disk yet
        self.referenced: set[str] = set()
        self.referenced_bytes = 0
        self.object_versions = 0
        self._reducers: dict[type, Callable[[Any], Any] | None] = {}
        from moto.s3.models import FakeKey

        self._fake_key = FakeKey

    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        try:
            reducer = self._reducers[kind]
        except KeyError:
            reducer = self._reducers[kind] = self._reducer_for(kind)
        return NotImplemented if reducer is None else reducer(obj)

    def _reducer_for(self, kind: type) -> Callable[[Any], Any] | None:
        if kind is _LOCK_TYPE:
            return lambda _lock: (threading.Lock, ())
        if kind is _RLOCK_TYPE:
            return lambda _lock: (threading.RLock, ())
        if kind is threading.Condition:
            return lambda condition: (threading.Condition, (condition._lock,))
        if issubclass(kind, self._fake_key):
            return self._reduce_fake_key
        if issubclass(kind, BackendDict):
            return lambda backend_dict: (_live_backend_dict, _backend_dict_location(backend_dict))
        if issubclass(kind, AccountSpecificBackend):
            return _reduce_account_backends
        if kind in (weakref.WeakValueDictionary, weakref.WeakKeyDictionary, weakref.WeakSet):
            return _reduce_weak_collection
        if kind is weakref.ReferenceType:
            return _reduce_weak_reference
        if kind is types.FunctionType:
            return _reduce_function
        if kind is types.CellType:
            return _reduce_cell
        if issubclass(kind, _PRIVATE_KEYS):
            return _reduce_private_key
        if issubclass(kind, _PUBLIC_KEYS):
            return _reduce_public_key
        if issubclass(kind, x509.Certificate):
            return lambda certificate: (
                x509.load_der_x509_certificate,
                (certificate.public_bytes(serialization.Encoding.DER),),
            )
        if issubclass(kind, dict) and _pickles_through_items(kind):
            return _reduce_dict_subclass
        return None

    def _reduce_fake_key(self, key: Any) -> Any:
        state = dict(vars(key))
        buffer = state.pop("_value_buffer", None)
        self.object_versions += 1
        if buffer is None or getattr(buffer, "closed", True) or key.disposed:
            body: tuple[Any, ...] = (None, 0, key._max_buffer_size)  # deleted: moto closed its buffer
        else:
            size = int(key.contentsize)
            etag = key.etag  # computes and keeps the MD5 if moto has not yet
            identity = "\0".join(
                str(part) for part in (key.account_id, key.partition, key.bucket_name, key.name, key.version_id, etag)
            )
            name = hashlib.sha256(f"{identity}\0{size}".encode()).hexdigest()
            if name not in self.referenced:
                self.referenced.add(name)
                self.referenced_bytes += size
                if self.capture and name not in self.on_disk:
                    self.captures[name] = _Body.capture(key, buffer, size)
            body = (name, size, key._max_buffer_size)
        # FakeKey.__getstate__ would copy the body into the pickle: pickle its attributes, the body by name.
        state["_value_buffer"] = _BlobReference(*body)
        return _new_disposed_key, (type(key),), state, None, None, _set_attributes

    def persistent_id(self, obj: Any) -> Any:
        """Large byte strings outside S3 (a Lambda function's or layer's zip, which moto keeps in memory) go to a
        blob named by their content, so an unchanged one is not written into every state file again."""
        if type(obj) is not bytes or len(obj) < LARGE_BYTES:
            return None
        name = hashlib.sha256(obj).hexdigest()  # by content: S3 bodies are named by their identity instead
        if name not in self.referenced:
            self.referenced.add(name)
            self.referenced_bytes += len(obj)
            if self.capture and name not in self.on_disk:
                self.captures[name] = _Body(obj, None, len(obj))
        return ("bytes", name, len(obj))

    def discard_captures(self) -> None:
        for body in self.captures.values():
            body.close()
        self.captures.clear()


@dataclass(frozen=True)
class _BlobReference:
    name: str | None
    size: int
    max_size: int

    def __reduce__(self) -> tuple[Any, ...]:
        return _blob, (self.name, self.size, self.max_size)


def _blob(name: str | None, size: int, max_size: int) -> Any:
    raise RuntimeError("S3 bodies are loaded by EmulatorState.restore")  # _Unpickler.find_class substitutes it


def _new_disposed_key(cls: Any) -> Any:
    # What NEWOBJ does (moto's BaseModel.__new__ tracks the instance, no __init__), and marked disposed until its
    # state is set: a key whose load failed half-way is then collected quietly (FakeKey.__del__ reads the flag).
    key = cls.__new__(cls)
    vars(key)["disposed"] = True
    return key


def _set_attributes(obj: Any, state: dict[str, Any]) -> None:
    vars(obj).update(state)


def _reduce_account_backends(account_backends: AccountSpecificBackend[Any]) -> Any:
    for backend_dict in _backend_dicts_in_use():
        if dict.get(backend_dict, account_backends.account_id) is account_backends:
            return _live_account_backends, (*_backend_dict_location(backend_dict), account_backends.account_id)
    raise pickle.PicklingError(f"an AccountSpecificBackend of {account_backends.service_name} outside moto's dicts")


def _reduce_weak_collection(collection: Any) -> Any:
    if isinstance(collection, weakref.WeakSet):
        return weakref.WeakSet, (list(collection),)
    # The items are pickled strongly: what nothing else in the state keeps alive goes, as it would have.
    return type(collection), (), None, None, iter(list(collection.items()))


def _reduce_weak_reference(reference: weakref.ReferenceType[Any]) -> Any:
    target = reference()
    return (weakref.ref, (target,)) if target is not None else (_dead_reference, ())


class _Gone:
    pass


def _dead_reference() -> weakref.ReferenceType[Any]:
    return weakref.ref(_Gone())  # the _Gone dies at once: a dead reference


def _reduce_function(function: types.FunctionType) -> Any:
    if _importable(function):
        return NotImplemented
    # A function made inside another one (defaultdict(lambda: {})) has no importable name: save its code.
    # marshal's format is the interpreter's: a snapshot is only restored by the Python version that wrote it.
    attributes = dict(vars(function)) or None
    return (
        _function,
        (
            marshal.dumps(function.__code__, MARSHAL_VERSION),
            function.__module__,
            function.__name__,
            function.__qualname__,
            function.__defaults__,
            function.__kwdefaults__,
            function.__closure__,
        ),
        attributes,
        None,
        None,
        _set_attributes,
    )


def _importable(function: types.FunctionType) -> bool:
    module = sys.modules.get(function.__module__ or "")
    target: Any = module
    for part in function.__qualname__.split("."):
        target = getattr(target, part, None)
    return target is function


def _function(
    code: bytes,
    module: str,
    name: str,
    qualname: str,
    defaults: tuple[Any, ...] | None,
    kwdefaults: dict[str, Any] | None,
    closure: tuple[types.CellType, ...] | None,
) -> types.FunctionType:
    function = types.FunctionType(marshal.loads(code), vars(importlib.import_module(module)), name, defaults, closure)
    function.__qualname__ = qualname
    function.__kwdefaults__ = kwdefaults
    return function


def _reduce_cell(cell: types.CellType) -> Any:
    # The contents go in as state, after the cell exists: a closure may refer to its own function.
    contents: tuple[Any, ...]
    try:
        contents = (cell.cell_contents,)
    except ValueError:  # empty cell
        contents = ()
    return types.CellType, (), contents, None, None, _set_cell


def _set_cell(cell: types.CellType, contents: tuple[Any, ...]) -> None:
    if contents:
        cell.cell_contents = contents[0]


def _reduce_private_key(key: Any) -> Any:
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return _private_key, (der,)


def _private_key(der: bytes) -> Any:
    return serialization.load_der_private_key(der, password=None)


def _reduce_public_key(key: Any) -> Any:
    return serialization.load_der_public_key, (
        key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
    )


def _pickles_through_items(kind: type) -> bool:
    """A dict subclass that pickle would save through ``items()`` and rebuild through ``__setitem__``."""
    return (
        kind.__reduce_ex__ is object.__reduce_ex__
        and kind.__reduce__ is object.__reduce__
        and kind.__getstate__ is object.__getstate__  # type: ignore[attr-defined]
        and not any("__slots__" in vars(base) for base in kind.__mro__)
    )


def _reduce_dict_subclass(mapping: dict[Any, Any]) -> Any:
    # S3's _VersionedKeyStore maps a key to its list of versions, but its items() yields the latest version only
    # and its __setitem__ appends: save and restore the raw entries, as plain dict methods see them.
    attributes = dict(vars(mapping)) if hasattr(mapping, "__dict__") else {}
    return _NEW_OBJECT, (type(mapping),), (list(dict.items(mapping)), attributes), None, None, _set_dict_state


def _set_dict_state(mapping: dict[Any, Any], state: tuple[list[tuple[Any, Any]], dict[str, Any]]) -> None:
    items, attributes = state
    dict.update(mapping, items)
    if attributes:
        vars(mapping).update(attributes)


# --- S3 bodies ------------------------------------------------------------------------------------


class _Body:
    """An object version's bytes, taken while the gate is paused and written after it opens again.

    A body small enough to be in memory is copied. A larger one is a temporary file: its descriptor is duplicated,
    and read later with pread, which leaves the file position moto uses alone; the duplicate keeps the bytes
    readable even if the object is deleted (and moto closes its file) before they are written."""

    def __init__(self, data: bytes | None, descriptor: int | None, size: int) -> None:
        self.data = data
        self.descriptor = descriptor
        self.size = size

    @classmethod
    def capture(cls, key: Any, buffer: Any, size: int) -> _Body:
        with key.lock:
            if getattr(buffer, "_rolled", False):
                buffer.flush()
                return cls(None, os.dup(buffer.fileno()), size)
            buffer.seek(0)  # moto seeks before every read too
            return cls(buffer.read(), None, size)

    def chunks(self) -> Iterator[bytes]:
        if self.data is not None:
            yield self.data
            return
        assert self.descriptor is not None
        offset = 0
        while offset < self.size:
            chunk = os.pread(self.descriptor, min(COPY_CHUNK, self.size - offset), offset)
            if not chunk:
                raise OSError(f"an S3 body ended after {offset} of {self.size} bytes")
            yield chunk
            offset += len(chunk)

    def close(self) -> None:
        if self.descriptor is not None:
            os.close(self.descriptor)
            self.descriptor = None
        self.data = None


class _BlobFolder:
    """blobs/ab/<name>: one file per object version, written once. Knows what it holds without listing the folder
    every time (a snapshot runs after every job run)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._names: set[str] | None = None

    def path(self, name: str) -> Path:
        if len(name) != 64 or not all(character in "0123456789abcdef" for character in name):
            raise ValueError(f"bad blob name {name!r}")
        return self.folder / name[:2] / name

    def names(self) -> frozenset[str]:
        if self._names is None:
            self._names = set()
            for path in self.folder.glob("*/*") if self.folder.is_dir() else []:
                if path.name.endswith(".tmp"):
                    path.unlink(missing_ok=True)  # a snapshot that crashed while writing it
                else:
                    self._names.add(path.name)
        return frozenset(self._names)

    def write(self, name: str, body: _Body) -> int:
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(path, body.chunks())
        self.names()
        assert self._names is not None
        self._names.add(name)
        return body.size

    def remove(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)
        if self._names is not None:
            self._names.discard(name)


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, blobs: _BlobFolder) -> None:
        super().__init__(file)
        self.blobs = blobs
        self.blob_bytes = 0

    def find_class(self, module: str, name: str) -> Any:
        if module == __name__ and name == "_blob":
            return self._load_blob
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        kind, name, size = pid
        if kind != "bytes":
            raise pickle.UnpicklingError(f"unknown persistent reference {kind!r}")
        data = self.blobs.path(name).read_bytes()
        if len(data) != size:
            raise ValueError(f"{name} holds {len(data)} bytes where the snapshot recorded {size}")
        self.blob_bytes += size
        return data

    def _load_blob(self, name: str | None, size: int, max_size: int) -> Any:
        # The buffer moto gives every FakeKey: in memory up to max_size, then a temporary file.
        buffer = tempfile.SpooledTemporaryFile(max_size)  # noqa: SIM115 - the FakeKey owns it from here
        if name is None:
            buffer.close()
            return buffer
        path = self.blobs.path(name)
        with path.open("rb") as source:
            while chunk := source.read(COPY_CHUNK):
                buffer.write(chunk)
        if buffer.tell() != size:
            raise ValueError(f"{path.name} holds {buffer.tell()} bytes where the snapshot recorded {size}")
        self.blob_bytes += size
        return buffer


# --- reports and files ----------------------------------------------------------------------------


def _count_resources(entries: list[_Entry]) -> dict[str, int]:
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


def _write_atomically(path: Path, chunks: Iterable[bytes]) -> None:
    """Write beside ``path``, then rename: ``path`` is either whole or as it was (a crash, a full disk)."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        with temporary.open("wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"
