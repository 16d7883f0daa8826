"""Which raw objects the pipeline takes in: the key and size rules, written once.

The S3 event handler (covid_pipeline.raw_events.settings) applies the key rules to decide whether an upload starts a job
run; the Glue job (glue_job/covid_transform.py) applies the same rules to every object it lists, and quarantines
what the handler would have ignored (``unsafe_key``) instead of reading it. The job also applies the size rules
(``too_large``): the stored size against the compressed limit, and for gzip the decompressed size, measured by
streaming with a cap so that a gzip bomb is stopped after at most the cap, never held in memory.

Pure functions on names, sizes and byte chunks (standard library only): the Glue job ships this module in its
--extra-py-files zip and the Lambda bundle holds the whole package, so both run exactly this code.

Names Spark can read literally are accepted, whatever they hold: spaces, ``+``, ``%``, unicode, and glob
characters (``[ ] { } * ? \\``), which the job escapes before handing paths to Spark. Rejected are keys that are
hostile or that Spark/Hadoop cannot address: control characters, empty, ``.`` or ``..`` segments (``//``, a
leading or trailing ``/``), a colon (a Hadoop path cannot hold one in a name), hidden or marker names (Spark's
convention for files that are not data), and keys longer than the limit.
"""

from __future__ import annotations

import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

UNSAFE_KEY = "unsafe_key"
TOO_LARGE = "too_large"
POISON = "poison"
NOT_A_DATA_FILE = "not_a_data_file"
# The gzip reasons the job's sniff already gives for a broken head; the full stream can find the same later on.
NOT_GZIP = "not_gzip"
CORRUPT_GZIP = "corrupt_gzip"
TRUNCATED_GZIP = "truncated_gzip"

MIB = 1 << 20
DEFAULT_MAX_KEY_LENGTH = 512
# Defaults of terraform/variables.tf (max_input_compressed_mib, max_input_uncompressed_mib, poison_after_failures,
# max_removal_share), for runs outside Terraform (tests, a script run by hand); a deployed job gets Terraform's.
DEFAULT_MAX_COMPRESSED_BYTES = 512 * MIB
DEFAULT_MAX_UNCOMPRESSED_BYTES = 4096 * MIB
DEFAULT_POISON_AFTER_FAILURES = 3
DEFAULT_MAX_REMOVAL_SHARE = 0.10

GLOB_CHARACTERS = frozenset("[]{}*?\\")
COMPRESSED_SUFFIXES = (".gz",)
GZIP_MAGIC = b"\x1f\x8b"
# Output produced per decompression step while measuring: what the measurement holds in memory at most.
DECOMPRESS_STEP_BYTES = 1 * MIB


@dataclass(frozen=True)
class Problem:
    """Why an object is not taken in: a short reason (as recorded in manifests) and a sentence for people."""

    reason: str
    detail: str


@dataclass(frozen=True)
class SizeLimits:
    max_compressed_bytes: int = DEFAULT_MAX_COMPRESSED_BYTES
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES

    def __post_init__(self) -> None:
        if self.max_compressed_bytes <= 0 or self.max_uncompressed_bytes <= 0:
            raise ValueError("size limits must be positive")


def has_control_characters(text: str) -> bool:
    """C0 and C1 control characters and DEL (Unicode category Cc): never part of a legitimate file name."""
    return any(unicodedata.category(char) == "Cc" for char in text)


def key_problem(key: str, relative_path: str, max_key_length: int = DEFAULT_MAX_KEY_LENGTH) -> Problem | None:
    """Why an object key is unsafe to take in, or None.

    ``key`` is the whole object key (its length is what is limited); ``relative_path`` the part below the folder
    the caller reads (the raw prefix for the handler, the job's input path for the job), whose segments are checked.
    """
    if len(key) > max_key_length:
        return Problem(UNSAFE_KEY, f"key is {len(key)} characters long, over the limit of {max_key_length}")
    if has_control_characters(key):
        return Problem(UNSAFE_KEY, "key contains control characters")
    segments = relative_path.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        return Problem(UNSAFE_KEY, "key has an empty, '.' or '..' path segment")
    if ":" in relative_path:
        return Problem(UNSAFE_KEY, "key contains ':', which a Hadoop path cannot hold (Spark could not read it)")
    return None


def hidden_problem(relative_path: str) -> Problem | None:
    """A hidden or marker name (Spark's convention: names starting with '.' or '_' are not data), or None."""
    *folders, name = relative_path.split("/")
    if name.startswith((".", "_")):
        return Problem(UNSAFE_KEY, "hidden or marker file (Spark skips names starting with '.' or '_')")
    if any(folder.startswith((".", "_")) for folder in folders):
        return Problem(UNSAFE_KEY, "hidden or marker folder (Spark skips names starting with '.' or '_')")
    return None


def suffix_problem(relative_path: str, suffixes: Sequence[str]) -> Problem | None:
    """A name without one of the suffixes that are read as data, or None."""
    if relative_path.lower().endswith(tuple(suffix.lower() for suffix in suffixes)):
        return None
    return Problem(NOT_A_DATA_FILE, f"unsupported suffix (supported: {', '.join(suffixes)})")


def classify_key(
    key: str, relative_path: str, data_suffixes: Sequence[str], max_key_length: int = DEFAULT_MAX_KEY_LENGTH
) -> Problem | None:
    """The key rules in their order: a hostile key first (whatever its suffix), then a name that is not data
    (``not_a_data_file``: a README, ``.gitignore``, ``_SUCCESS``), then a data file under a hidden or marker name
    (``unsafe_key``: Spark's conventions would drop it silently). None: the key is fine."""
    return (
        key_problem(key, relative_path, max_key_length)
        or suffix_problem(relative_path, data_suffixes)
        or hidden_problem(relative_path)
    )


def is_compressed(relative_path: str) -> bool:
    return relative_path.lower().endswith(COMPRESSED_SUFFIXES)


def stored_size_problem(relative_path: str, size: int, limits: SizeLimits) -> Problem | None:
    """The size as stored against the limits: the compressed limit for every object, and the uncompressed
    limit as well for an object that is not compressed (its stored size is its data's size)."""
    if size > limits.max_compressed_bytes:
        return Problem(TOO_LARGE, f"{size} bytes stored, over the limit of {limits.max_compressed_bytes}")
    if not is_compressed(relative_path) and size > limits.max_uncompressed_bytes:
        return Problem(TOO_LARGE, f"{size} bytes, over the uncompressed limit of {limits.max_uncompressed_bytes}")
    return None


def gzip_size_problem(chunks: Iterable[bytes], max_uncompressed_bytes: int) -> Problem | None:
    """Decompress a gzip stream (every member) chunk by chunk and stop as soon as the output passes the limit.

    Memory stays at one input chunk plus DECOMPRESS_STEP_BYTES of output whatever the ratio: a bomb of 1 GiB of
    zeros in 1 MB is given up after the limit's worth of output. Also tells a stream that is not gzip, is corrupt
    or ends early (the reasons the job's sniff gives when it sees the same in a file's head). Data after the last
    member that is not another member is ignored, as Java's GZIPInputStream (Hadoop's gzip reader) ignores it.
    """
    decompressor: Any = None  # None between members
    members = 0
    total = 0
    carried = b""  # fewer bytes than the magic number at the start of a member: wait for the next chunk
    for chunk in chunks:
        pending, carried = carried + bytes(chunk), b""
        while pending:
            if decompressor is None:
                if len(pending) < len(GZIP_MAGIC):
                    carried = pending
                    break
                if not pending.startswith(GZIP_MAGIC):
                    return None if members else Problem(NOT_GZIP, "the name says gzip but the content is not")
                decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
                members += 1
            try:
                while True:
                    budget = min(DECOMPRESS_STEP_BYTES, max_uncompressed_bytes - total + 1)
                    output = decompressor.decompress(pending, budget)
                    total += len(output)
                    if total > max_uncompressed_bytes:
                        return Problem(
                            TOO_LARGE, f"decompresses to more than the uncompressed limit of {max_uncompressed_bytes}"
                        )
                    pending = decompressor.unconsumed_tail
                    # Output short of the budget: the input is used up (or the member ended).
                    if decompressor.eof or len(output) < budget:
                        break
            except zlib.error as error:
                return Problem(CORRUPT_GZIP, f"gzip stream is corrupt: {error}")
            if decompressor.eof:
                pending, decompressor = decompressor.unused_data, None
    if decompressor is not None:
        return Problem(TRUNCATED_GZIP, "gzip stream ends before its end marker")
    if carried and not members:
        return Problem(NOT_GZIP, "the name says gzip but the content is not")
    return None


def escape_glob(path: str) -> str:
    """A path Hadoop's glob expansion (used by Spark for every input path) reads literally: each glob character
    escaped with a backslash. Unchanged when there is none, so most paths are not globbed at all."""
    if not GLOB_CHARACTERS.intersection(path):
        return path
    return "".join(f"\\{char}" if char in GLOB_CHARACTERS else char for char in path)


def removal_share(removed: int, ledgered: int) -> float:
    """The share of the ledgered files a run would remove (0 when the ledger is empty)."""
    return removed / ledgered if ledgered else 0.0
