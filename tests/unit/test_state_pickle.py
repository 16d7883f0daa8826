"""Snapshots written before local/state.py was split name their reconstructors in covid_pipeline.local.state."""

from __future__ import annotations

import io
from pathlib import Path
from types import ModuleType

import pytest

from covid_pipeline.local import state_backends, state_pickle
from covid_pipeline.local.state_blobs import BlobFolder
from covid_pipeline.local.state_pickle import Unpickler


def load(text: str, blobs: Path) -> object:
    # Protocol 0 spells a global as "c<module>\n<name>\n": what the former module's snapshots hold.
    return Unpickler(io.BytesIO(text.encode()), BlobFolder(blobs)).load()


@pytest.mark.parametrize(
    ("name", "home"),
    [("_dead_reference", state_pickle), ("_set_attributes", state_pickle), ("_live_backend_dict", state_backends)],
)
def test_a_reconstructor_named_in_the_former_module_is_found_where_it_lives_now(
    tmp_path: Path, name: str, home: ModuleType
) -> None:
    assert load(f"ccovid_pipeline.local.state\n{name}\n.", tmp_path) is getattr(home, name)


def test_an_s3_body_named_in_the_former_module_is_still_loaded_from_the_blobs(tmp_path: Path) -> None:
    # _blob(None, 0, 10): a deleted version's body, an empty buffer that moto has closed.
    body = load("ccovid_pipeline.local.state\n_blob\n(NI0\nI10\ntR.", tmp_path)
    assert getattr(body, "closed", False) is True


def test_other_modules_are_looked_up_as_they_are(tmp_path: Path) -> None:
    assert load("cpathlib\nPath\n.", tmp_path) is Path
