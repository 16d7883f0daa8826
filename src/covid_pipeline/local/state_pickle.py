"""Pickling moto's backends, including what plain pickle cannot carry (see the docstring of
``covid_pipeline.local.state``), and unpickling them with S3 bodies read back from the blob folder.

The reconstructors a pickle names keep their names: a snapshot records them by module and name."""

from __future__ import annotations

import copyreg
import hashlib
import importlib
import io
import marshal
import pickle
import sys
import tempfile
import threading
import types
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from moto.core.base_backend import AccountSpecificBackend, BackendDict

from covid_pipeline.local.state_backends import (
    _live_account_backends,
    _live_backend_dict,
    backend_dict_location,
    backend_dicts_in_use,
)
from covid_pipeline.local.state_blobs import COPY_CHUNK, BlobFolder, Body

PICKLE_PROTOCOL = 5
# Byte strings at least this long are kept as blobs (function and layer zips), not in the state file.
LARGE_BYTES = 256 * 1024
# marshal's format 2 has no back-references, which depend on reference counts: the same code object gives the
# same bytes after a round trip, so a snapshot right after a restore can match the restored state file.
MARSHAL_VERSION = 2
# pickle's NEWOBJ: cls.__new__(cls), then the state; the stubs do not declare it.
_NEW_OBJECT: Callable[..., Any] = copyreg.__newobj__  # type: ignore[attr-defined]
_LOCK_TYPE = type(threading.Lock())
_RLOCK_TYPE = type(threading.RLock())
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


class Pickler(pickle.Pickler):
    """Pickles moto's backends: S3 object bodies become blob references (their bytes captured for writing), and
    the objects plain pickle refuses are reduced to something that rebuilds an equivalent one."""

    def __init__(self, output: io.BytesIO, on_disk: frozenset[str], capture: bool = True) -> None:
        super().__init__(output, protocol=PICKLE_PROTOCOL)
        self.output = output
        self.on_disk = on_disk
        self.capture = capture
        self.captures: dict[str, Body] = {}  # blobs to write: not on disk yet
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
            return lambda backend_dict: (_live_backend_dict, backend_dict_location(backend_dict))
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
                    self.captures[name] = Body.capture(key, buffer, size)
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
                self.captures[name] = Body(obj, None, len(obj))
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
    raise RuntimeError("S3 bodies are loaded by EmulatorState.restore")  # Unpickler.find_class substitutes it


def _new_disposed_key(cls: Any) -> Any:
    # What NEWOBJ does (moto's BaseModel.__new__ tracks the instance, no __init__), and marked disposed until its
    # state is set: a key whose load failed half-way is then collected quietly (FakeKey.__del__ reads the flag).
    key = cls.__new__(cls)
    vars(key)["disposed"] = True
    return key


def _set_attributes(obj: Any, state: dict[str, Any]) -> None:
    vars(obj).update(state)


def _reduce_account_backends(account_backends: AccountSpecificBackend[Any]) -> Any:
    for backend_dict in backend_dicts_in_use():
        if dict.get(backend_dict, account_backends.account_id) is account_backends:
            return _live_account_backends, (*backend_dict_location(backend_dict), account_backends.account_id)
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


# Where the reconstructors were defined until covid_pipeline.local.state was split: older snapshots name it.
_FORMER_MODULE = "covid_pipeline.local.state"


class Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, blobs: BlobFolder) -> None:
        super().__init__(file)
        self.blobs = blobs
        self.blob_bytes = 0

    def find_class(self, module: str, name: str) -> Any:
        if module == _FORMER_MODULE:  # a snapshot written before this module was split out of it
            module = __name__ if name in globals() else _live_backend_dict.__module__
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
