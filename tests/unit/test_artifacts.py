"""covid_pipeline.artifacts: the files Terraform uploads are reproducible and hold what each runtime imports."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from covid_pipeline import artifacts

LAMBDA_PROVIDED = ("boto3", "botocore", "jmespath", "dateutil", "urllib3", "s3transfer", "six")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> artifacts.Artifacts:
    return artifacts.build(tmp_path_factory.mktemp("build"))


def test_building_twice_gives_the_same_bytes(built: artifacts.Artifacts, tmp_path: Path) -> None:
    again = artifacts.build(tmp_path)
    for name in ("glue_script", "glue_libs", "lambda_bundle", "lambda_layer"):
        assert getattr(again, name).read_bytes() == getattr(built, name).read_bytes(), name


def test_bundle_holds_the_handlers_the_package_without_the_local_cloud_and_powertools(
    built: artifacts.Artifacts,
) -> None:
    names = zipfile.ZipFile(built.lambda_bundle).namelist()
    handlers = sorted(path.name for path in (artifacts.LAMBDA_DIR).glob("*.py"))
    assert sorted(name for name in names if "/" not in name) == sorted([*handlers, "typing_extensions.py"])
    assert "aws_lambda_powertools/__init__.py" in names
    assert any(name.startswith("aws_lambda_powertools-3.37.0.dist-info/") for name in names)
    assert "covid_pipeline/monitoring.py" in names and "covid_pipeline/warehouse/run_loader.py" in names
    assert not [name for name in names if name.startswith("covid_pipeline/local/")]
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    assert not [name for name in names if name.startswith("awsglue")], "Glue provides its own awsglue"


def test_layer_puts_pyarrow_under_python(built: artifacts.Artifacts) -> None:
    names = zipfile.ZipFile(built.lambda_layer).namelist()
    assert "python/pyarrow/__init__.py" in names
    assert all(name.startswith("python/") for name in names)
    assert any(name.startswith("python/pyarrow-20.0.0.dist-info/") for name in names)


def test_handlers_import_from_the_bundle_and_the_layer_with_only_what_lambda_provides(
    built: artifacts.Artifacts, tmp_path: Path
) -> None:
    """`python -S`: no site-packages, so a module missing from the bundle or the layer fails here as on Lambda."""
    bundle, layer, site = tmp_path / "task", tmp_path / "opt", tmp_path / "runtime"
    zipfile.ZipFile(built.lambda_bundle).extractall(bundle)
    zipfile.ZipFile(built.lambda_layer).extractall(layer)
    site.mkdir()
    import importlib.util

    for name in LAMBDA_PROVIDED:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (site / source.name).symlink_to(source)
    handlers = sorted(path.stem for path in artifacts.LAMBDA_DIR.glob("*.py"))
    probe = (
        "import importlib\n"
        f"for name in {handlers!r}:\n"
        "    assert callable(importlib.import_module(name).handler), name\n"
        "import covid_pipeline.warehouse.schema, pyarrow, aws_lambda_powertools\n"
        "print(covid_pipeline.__file__, pyarrow.__version__, aws_lambda_powertools.__file__)\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(bundle), str(layer / "python"), str(site)]),
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    result = subprocess.run(
        [sys.executable, "-S", "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    package_file, pyarrow_version, powertools_file = result.stdout.split()
    assert package_file.startswith(str(bundle)) and pyarrow_version == "20.0.0"
    assert powertools_file.startswith(str(bundle))


def test_a_missing_reference_table_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(artifacts.UserError, match="does not exist"):
        artifacts.build(tmp_path, reference_csv=tmp_path / "absent.csv")
