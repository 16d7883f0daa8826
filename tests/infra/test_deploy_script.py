"""scripts/deploy.sh: argument handling, tool and credential checks, packaging, and the exact Terraform commands.

Terraform and AWS cannot be reached here, so the commands are checked through --dry-run (which prints them) and
the checks through a PATH that lacks the tools or holds stand-ins for the third-party `terraform`/`aws` CLIs.
Packaging runs for real (without the pip downloads, COVID_DEPLOY_OFFLINE=1) into a temporary build folder.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.infra.hcl_eval import load_hcl, load_tfvars, unquote
from tests.infra.terraform_model import CONFIG_DIR, ENVIRONMENTS, REPO_ROOT

DEPLOY = REPO_ROOT / "scripts" / "deploy.sh"
# What the script itself needs from PATH (everything else is a bash builtin).
BASE_TOOLS = (
    "bash",
    "env",
    "sed",
    "awk",
    "grep",
    "dirname",
    "ls",
    "tr",
    "head",
    "sort",
    "cp",
    "rm",
    "mkdir",
    "find",
    "cat",
)


def deploy(*args: str, build_dir: Path, path: str | None = None, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BUILD_DIR": str(build_dir), "PYTHON": sys.executable, **extra_env}
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


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_dry_run_plan_prints_init_with_the_backend_and_plan_with_the_var_file(tmp_path: Path, environment: str) -> None:
    build = tmp_path / "build"
    result = deploy(environment, "plan", "--dry-run", build_dir=build)
    assert result.returncode == 0, result.stderr
    lines = commands(result.stdout)
    init = f"terraform -chdir={REPO_ROOT}/terraform init -input=false -reconfigure "
    init += f"-backend-config={CONFIG_DIR}/backend-{environment}.hcl"
    plan = f"terraform -chdir={REPO_ROOT}/terraform plan -input=false -var-file={CONFIG_DIR}/{environment}.tfvars "
    plan += f"-var artifacts_dir={build} -out={build}/{environment}.tfplan"
    assert init in lines and plan in lines
    assert lines.index(init) < lines.index(plan)
    # Packaging comes first: the Glue script, its libraries and the Lambda bundle are built before plan.
    packaging = [i for i, line in enumerate(lines) if "glue_job_libs.zip" in line or "lambda/bundle" in line]
    assert packaging and max(packaging) < lines.index(init)
    assert "aws sts get-caller-identity" in result.stdout
    assert not build.exists(), "a dry run must not create anything"


def test_dry_run_apply_applies_the_saved_plan_and_destroy_uses_the_var_file(tmp_path: Path) -> None:
    build = tmp_path / "build"
    apply = commands(deploy("staging", "apply", "--dry-run", build_dir=build).stdout)
    assert apply[-1] == f"terraform -chdir={REPO_ROOT}/terraform apply -input=false {build}/staging.tfplan"
    assert any(line.endswith(f"-out={build}/staging.tfplan") for line in apply)
    destroy = deploy("prod", "destroy", "--dry-run", "--auto-approve", build_dir=build)
    assert destroy.returncode == 0
    last = commands(destroy.stdout)[-1]
    assert last.startswith(
        f"terraform -chdir={REPO_ROOT}/terraform destroy -input=false -var-file={CONFIG_DIR}/prod.tfvars"
    )
    assert last.endswith("-auto-approve")
    assert "deletion_protection = true" in destroy.stderr


def test_dry_run_against_the_local_cloud_uses_the_override_copy(tmp_path: Path) -> None:
    build = tmp_path / "build"
    result = deploy("dev", "apply", "--dry-run", "--local-endpoint", "http://127.0.0.1:45678", build_dir=build)
    assert result.returncode == 0, result.stderr
    lines = commands(result.stdout)
    workdir = build / "terraform-local"
    assert any("local/local_override.tf" in line and str(workdir) in line for line in lines)
    assert f"terraform -chdir={workdir} init -input=false -reconfigure" in lines
    assert not any("-backend-config" in line for line in lines), "local state, not the S3 backend"
    assert any("-var local_endpoint=http://127.0.0.1:45678" in line for line in lines)
    assert "sts get-caller-identity" not in result.stdout, "never check (or send) real credentials locally"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nowhere", "plan"), "unknown environment 'nowhere' (known: dev prod staging test)"),
        (("dev", "deploy"), "unknown action 'deploy'"),
        (("dev",), "ENV plan|apply|destroy"),
        (("dev", "plan", "--local-endpoint", "http://10.0.0.5:4566"), "must be the loopback URL"),
        (("dev", "plan", "--force"), "unknown option --force"),
    ],
)
def test_usage_errors_exit_2_with_a_clear_message(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = deploy(*args, build_dir=tmp_path / "build")
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_terraform_and_aws_cli_are_named(tmp_path: Path) -> None:
    result = deploy("dev", "plan", build_dir=tmp_path / "build", path=tool_dir(tmp_path))
    assert result.returncode == 3
    assert "missing tool: terraform >= 1.5" in result.stderr
    assert "missing tool: aws CLI" in result.stderr


def test_old_terraform_is_refused(tmp_path: Path) -> None:
    path = tool_dir(tmp_path, ("terraform", 'echo "Terraform v1.4.6"'), ("aws", "exit 0"))
    result = deploy("dev", "plan", build_dir=tmp_path / "build", path=path)
    assert result.returncode == 3
    assert "terraform 1.4.6 is too old" in result.stderr


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


def test_package_builds_the_glue_and_lambda_artifacts(tmp_path: Path) -> None:
    build = tmp_path / "build"
    result = deploy("dev", "package", build_dir=build, COVID_DEPLOY_OFFLINE="1")
    assert result.returncode == 0, result.stderr
    script = build / "glue" / "covid_transform.py"
    assert script.read_bytes() == (REPO_ROOT / "glue_job" / "covid_transform.py").read_bytes()
    with zipfile.ZipFile(build / "glue" / "glue_job_libs.zip") as libs:
        names = set(libs.namelist())
    assert "schema_evolution.py" in names and "covid_transform.py" not in names
    bundle = build / "lambda" / "bundle"
    handlers = sorted(p.name for p in (REPO_ROOT / "lambda").glob("*.py"))
    assert sorted(p.name for p in bundle.glob("*.py")) == handlers
    assert (bundle / "covid_pipeline" / "monitoring.py").is_file()
    assert not (bundle / "covid_pipeline" / "local").exists(), "the local cloud is not shipped to Lambda"
    assert not list(bundle.rglob("__pycache__"))


# What a function has at run time besides its bundle: the Lambda Python runtime's boto3 (with its dependencies),
# the pyarrow layer, and the pip-installed python-hcl2 (with lark and regex) that COVID_DEPLOY_OFFLINE leaves out.
LAMBDA_PROVIDED = ("boto3", "botocore", "jmespath", "dateutil", "urllib3", "s3transfer", "six")
BUILT_BY_PIP = ("pyarrow", "hcl2", "lark", "regex")


def lambda_site(tmp_path: Path) -> Path:
    """A site folder holding only what Lambda provides (symlinked from this environment)."""
    site = tmp_path / "lambda-site"
    site.mkdir()
    for name in (*LAMBDA_PROVIDED, *BUILT_BY_PIP):
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin, f"{name} is not installed"
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (site / source.name).symlink_to(source)
    return site


def test_packaged_handlers_import_with_only_what_lambda_provides(tmp_path: Path) -> None:
    """Each handler, and the covid_pipeline it imports, loads from the bundle plus the runtime's libraries only
    (`python -S`: no site-packages, so a module missing from the bundle fails here as it would on Lambda)."""
    build = tmp_path / "build"
    assert deploy("dev", "package", build_dir=build, COVID_DEPLOY_OFFLINE="1").returncode == 0
    bundle = build / "lambda" / "bundle"
    handlers = sorted(p.stem for p in (REPO_ROOT / "lambda").glob("*.py"))
    probe = (
        "import importlib, sys\n"
        f"for name in {handlers!r}:\n"
        "    module = importlib.import_module(name)\n"
        "    assert callable(module.handler), name\n"
        "import covid_pipeline\n"
        "print(covid_pipeline.__file__)\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(bundle), str(lambda_site(tmp_path))]),
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    result = subprocess.run(
        [sys.executable, "-S", "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(bundle)), "covid_pipeline must come from the bundle"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_backend_config_per_environment(environment: str) -> None:
    raw = load_hcl(CONFIG_DIR / f"backend-{environment}.hcl")
    backend = {
        key: unquote(value) if isinstance(value, str) else value
        for key, value in raw.items()
        if not key.startswith("__")
    }
    assert set(backend) == {"bucket", "key", "region", "dynamodb_table", "encrypt"}
    assert environment in backend["bucket"] and environment in backend["dynamodb_table"]
    assert backend["key"] == f"covid-pipeline/{environment}/terraform.tfstate"
    assert backend["region"] == load_tfvars(CONFIG_DIR / f"{environment}.tfvars")["aws_region"]
    assert backend["encrypt"] is True


def test_bootstrap_state_dry_run_creates_a_locked_down_bucket_and_the_lock_table(tmp_path: Path) -> None:
    result = deploy("prod", "bootstrap-state", "--dry-run", build_dir=tmp_path / "build")
    assert result.returncode == 0, result.stderr
    lines = commands(result.stdout)
    assert any(line.startswith("aws s3api create-bucket --bucket covid-pipeline-tfstate-prod") for line in lines)
    assert any("put-public-access-block" in line and "BlockPublicPolicy=true" in line for line in lines)
    assert any("put-bucket-versioning" in line for line in lines)
    assert any("dynamodb create-table" in line and "covid-pipeline-tflock-prod" in line for line in lines)
