#!/usr/bin/env bash
# Deploy one environment of the pipeline with Terraform.
#
#   scripts/deploy.sh ENV plan|apply|destroy [--dry-run] [--auto-approve] [--local-endpoint URL]
#   scripts/deploy.sh ENV package            build the artifacts only (build/)
#   scripts/deploy.sh ENV bootstrap-state    create the state bucket and lock table named in config/backend-ENV.hcl
#
# ENV is one of config/*.tfvars (dev, staging, prod, test). The script checks its tools and credentials, packages the
# Glue script, its --extra-py-files zip and the Lambda code under build/, runs `terraform init` with
# config/backend-ENV.hcl and `plan`/`apply`/`destroy` with config/ENV.tfvars.
#   --dry-run         print every command instead of running it (no tool, credential or network needed)
#   --auto-approve    apply/destroy without the interactive confirmation (CI)
#   --local-endpoint  apply to the local cloud (`covid-pipeline local up` prints the URL) with terraform/local/
#
# Environment: PYTHON (default .venv/bin/python, else python3), BUILD_DIR (default build/),
# COVID_REFERENCE_CSV (optional path to UID_ISO_FIPS_LookUp_Table.csv, uploaded for enrichment),
# COVID_DEPLOY_OFFLINE=1 (package without the pip downloads of the Lambda dependencies; for inspection and tests).
#
# Exit codes: 0 ok, 2 usage error, 3 missing tool or credentials, other: the failing command's code.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TERRAFORM_DIR="$REPO_ROOT/terraform"
CONFIG_DIR="$REPO_ROOT/config"
BUILD_DIR="${BUILD_DIR:-$REPO_ROOT/build}"
LAMBDA_PLATFORM="manylinux2014_x86_64"
LAMBDA_PYTHON_VERSION="3.11"

usage() {
  # The header comment of this file, without the '#'.
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

die() {
  # die CODE MESSAGE
  echo "deploy.sh: error: $2" >&2
  exit "$1"
}

ENVIRONMENT=""
ACTION=""
DRY_RUN=false
AUTO_APPROVE=false
LOCAL_ENDPOINT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) DRY_RUN=true ;;
    --auto-approve) AUTO_APPROVE=true ;;
    --local-endpoint)
      [[ $# -ge 2 ]] || die 2 "--local-endpoint needs a URL (covid-pipeline local up prints it)"
      LOCAL_ENDPOINT="$2"
      shift
      ;;
    --local-endpoint=*) LOCAL_ENDPOINT="${1#*=}" ;;
    -h | --help)
      usage
      exit 0
      ;;
    -*) die 2 "unknown option $1 (see --help)" ;;
    *)
      if [[ -z "$ENVIRONMENT" ]]; then
        ENVIRONMENT="$1"
      elif [[ -z "$ACTION" ]]; then
        ACTION="$1"
      else
        die 2 "unexpected argument '$1' (see --help)"
      fi
      ;;
  esac
  shift
done

[[ -n "$ENVIRONMENT" && -n "$ACTION" ]] || {
  usage >&2
  exit 2
}
if [[ ! -f "$CONFIG_DIR/$ENVIRONMENT.tfvars" ]]; then
  known="$(cd "$CONFIG_DIR" && ls -- *.tfvars 2>/dev/null | sed 's/\.tfvars$//' | tr '\n' ' ')"
  die 2 "unknown environment '$ENVIRONMENT' (known: ${known% })"
fi
case "$ACTION" in
  plan | apply | destroy | package | bootstrap-state) ;;
  *) die 2 "unknown action '$ACTION' (plan, apply, destroy, package, bootstrap-state)" ;;
esac
if [[ -n "$LOCAL_ENDPOINT" && ! "$LOCAL_ENDPOINT" =~ ^http://127\.0\.0\.1:[0-9]+/?$ ]]; then
  die 2 "--local-endpoint must be the loopback URL the local cloud prints (http://127.0.0.1:PORT), got '$LOCAL_ENDPOINT'"
fi

VAR_FILE="$CONFIG_DIR/$ENVIRONMENT.tfvars"
BACKEND_FILE="$CONFIG_DIR/backend-$ENVIRONMENT.hcl"
if [[ -x "$REPO_ROOT/.venv/bin/python" ]]; then
  PYTHON="${PYTHON:-$REPO_ROOT/.venv/bin/python}"
else
  PYTHON="${PYTHON:-python3}"
fi

# --- helpers ------------------------------------------------------------------------------------------------------

quote() {
  local out="" arg
  for arg in "$@"; do
    out+="$(printf '%q' "$arg") "
  done
  printf '%s' "${out% }"
}

run() {
  # Runs a command, or prints it under --dry-run.
  if $DRY_RUN; then
    echo "+ $(quote "$@")"
  else
    echo "+ $(quote "$@")" >&2
    "$@"
  fi
}

backend_setting() {
  # backend_setting KEY: a string value from the environment's backend file.
  sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"\\(.*\\)\"[[:space:]]*$/\\1/p" "$BACKEND_FILE" | head -1
}

tfvar() {
  # tfvar NAME: a string value from the environment's var file.
  sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"\\(.*\\)\"[[:space:]]*$/\\1/p" "$VAR_FILE" | head -1
}

requirement_pin() {
  # requirement_pin PACKAGE: the pinned line of requirements.txt (so Lambda gets what the tests ran with).
  grep -i -E "^$1==" "$REPO_ROOT/requirements.txt" | head -1
}

check_tools() {
  local missing=()
  command -v "$PYTHON" >/dev/null 2>&1 || missing+=("python ($PYTHON): Python 3.11 builds the artifacts")
  if [[ "$ACTION" != package ]]; then
    command -v terraform >/dev/null 2>&1 || missing+=("terraform >= 1.5: https://developer.hashicorp.com/terraform/install")
    if [[ -z "$LOCAL_ENDPOINT" ]]; then
      command -v aws >/dev/null 2>&1 || missing+=("aws CLI: used to check credentials (pip install awscli, or AWS CLI v2)")
    fi
  fi
  if [[ ${#missing[@]} -gt 0 ]]; then
    if $DRY_RUN; then
      printf 'deploy.sh: note: not installed here (fine for --dry-run): %s\n' "${missing[@]}" >&2
      return
    fi
    printf 'deploy.sh: error: missing tool: %s\n' "${missing[@]}" >&2
    exit 3
  fi
  if [[ "$ACTION" != package ]] && ! $DRY_RUN; then
    local version
    version="$(terraform version 2>/dev/null | sed -n 's/^Terraform v\([0-9.]*\).*/\1/p' | head -1)"
    if [[ -n "$version" ]] && ! printf '1.5.0\n%s\n' "$version" | sort -V -C; then
      die 3 "terraform $version is too old: terraform/versions.tf requires >= 1.5.0"
    fi
  fi
}

check_credentials() {
  if [[ -n "$LOCAL_ENDPOINT" ]]; then
    # The local cloud accepts any credentials; never send real ones to it.
    export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
    unset AWS_SESSION_TOKEN AWS_PROFILE
    return
  fi
  if $DRY_RUN; then
    echo "+ aws sts get-caller-identity   # credentials check"
    return
  fi
  local identity
  if ! identity="$(aws sts get-caller-identity --query Arn --output text 2>&1)"; then
    die 3 "no usable AWS credentials (aws sts get-caller-identity said: ${identity//$'\n'/ }). Configure them with 'aws configure', AWS_PROFILE or SSO, then retry."
  fi
  echo "deploy.sh: deploying '$ENVIRONMENT' as $identity (region $(tfvar aws_region))" >&2
}

# --- packaging ----------------------------------------------------------------------------------------------------

package_artifacts() {
  echo "deploy.sh: packaging into $BUILD_DIR" >&2
  run rm -rf "$BUILD_DIR/glue" "$BUILD_DIR/lambda" "$BUILD_DIR/reference"
  run mkdir -p "$BUILD_DIR/glue" "$BUILD_DIR/lambda/bundle" "$BUILD_DIR/lambda/pyarrow_layer/python"

  # Glue: the entry script, and everything else of glue_job/ as the --extra-py-files zip.
  [[ -f "$REPO_ROOT/glue_job/covid_transform.py" ]] || $DRY_RUN || die 3 "glue_job/covid_transform.py not found"
  run cp "$REPO_ROOT/glue_job/covid_transform.py" "$BUILD_DIR/glue/covid_transform.py"
  run env PYTHONPATH="$REPO_ROOT/src" "$PYTHON" -c \
    "import sys; from pathlib import Path; from covid_pipeline.glue_package import build_extra_py_files_zip; build_extra_py_files_zip(Path(sys.argv[1]))" \
    "$BUILD_DIR/glue/glue_job_libs.zip"

  # Optional enrichment lookup table (glue.tf uploads it when present).
  if [[ -n "${COVID_REFERENCE_CSV:-}" ]]; then
    [[ -f "$COVID_REFERENCE_CSV" ]] || $DRY_RUN || die 3 "COVID_REFERENCE_CSV=$COVID_REFERENCE_CSV does not exist"
    run mkdir -p "$BUILD_DIR/reference"
    run cp "$COVID_REFERENCE_CSV" "$BUILD_DIR/reference/UID_ISO_FIPS_LookUp_Table.csv"
  else
    echo "deploy.sh: note: COVID_REFERENCE_CSV not set; the UID lookup table is not uploaded (enrichment columns stay empty)" >&2
  fi

  # Lambda: the handlers, the covid_pipeline package they import (without the local cloud), and its dependencies
  # built for the Lambda platform; pyarrow goes into its own layer (only the warehouse loader needs it).
  local handler
  for handler in "$REPO_ROOT"/lambda/*.py; do
    run cp "$handler" "$BUILD_DIR/lambda/bundle/"
  done
  run cp -R "$REPO_ROOT/src/covid_pipeline" "$BUILD_DIR/lambda/bundle/covid_pipeline"
  run rm -rf "$BUILD_DIR/lambda/bundle/covid_pipeline/local"
  local pip_target=(-m pip install --quiet --disable-pip-version-check --no-compile --platform "$LAMBDA_PLATFORM"
    --implementation cp --python-version "$LAMBDA_PYTHON_VERSION" --only-binary=:all:)
  if [[ "${COVID_DEPLOY_OFFLINE:-}" == 1 ]]; then
    echo "deploy.sh: note: COVID_DEPLOY_OFFLINE=1: Lambda dependencies (python-hcl2, pyarrow) not downloaded; this build cannot be deployed" >&2
  else
    run "$PYTHON" "${pip_target[@]}" --target "$BUILD_DIR/lambda/bundle" "$(requirement_pin python-hcl2)"
    run "$PYTHON" "${pip_target[@]}" --target "$BUILD_DIR/lambda/pyarrow_layer/python" "$(requirement_pin pyarrow)"
  fi
  if ! $DRY_RUN; then
    find "$BUILD_DIR/lambda" -name __pycache__ -type d -prune -exec rm -rf {} +
  fi
}

# --- state backend ------------------------------------------------------------------------------------------------

bootstrap_state() {
  local bucket table region
  bucket="$(backend_setting bucket)"
  table="$(backend_setting dynamodb_table)"
  region="$(backend_setting region)"
  [[ -n "$bucket" && -n "$table" && -n "$region" ]] || die 2 "$BACKEND_FILE must set bucket, dynamodb_table and region"
  if [[ "$region" == us-east-1 ]]; then
    run aws s3api create-bucket --bucket "$bucket" --region "$region"
  else
    run aws s3api create-bucket --bucket "$bucket" --region "$region" \
      --create-bucket-configuration "LocationConstraint=$region"
  fi
  run aws s3api put-bucket-versioning --bucket "$bucket" --versioning-configuration Status=Enabled
  run aws s3api put-bucket-encryption --bucket "$bucket" \
    --server-side-encryption-configuration '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"aws:kms"},"BucketKeyEnabled":true}]}'
  run aws s3api put-public-access-block --bucket "$bucket" \
    --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
  run aws dynamodb create-table --region "$region" --table-name "$table" \
    --attribute-definitions AttributeName=LockID,AttributeType=S --key-schema AttributeName=LockID,KeyType=HASH \
    --billing-mode PAY_PER_REQUEST --sse-specification Enabled=true
}

# --- terraform ----------------------------------------------------------------------------------------------------

terraform_workdir() {
  if [[ -z "$LOCAL_ENDPOINT" ]]; then
    echo "$TERRAFORM_DIR"
  else
    echo "$BUILD_DIR/terraform-local"
  fi
}

prepare_local_copy() {
  # terraform/ plus the local override, in a copy: terraform/ itself only ever targets AWS.
  local workdir="$1"
  # The copy keeps its .terraform/ (providers) and its local state between runs.
  run mkdir -p "$workdir"
  run find "$workdir" -maxdepth 1 -name '*.tf' -delete
  run rm -rf "$workdir/modules"
  run cp -R "$TERRAFORM_DIR/modules" "$TERRAFORM_DIR"/*.tf "$TERRAFORM_DIR/local/local_endpoint.tf" \
    "$TERRAFORM_DIR/local/local_override.tf" "$workdir/"
}

terraform_run() {
  local workdir
  workdir="$(terraform_workdir)"
  local vars=(-var-file="$VAR_FILE" -var "artifacts_dir=$BUILD_DIR")
  if [[ -n "$LOCAL_ENDPOINT" ]]; then
    prepare_local_copy "$workdir"
    vars+=(-var "local_endpoint=${LOCAL_ENDPOINT%/}")
    run terraform -chdir="$workdir" init -input=false -reconfigure
  else
    [[ -f "$BACKEND_FILE" ]] || die 2 "no backend config for '$ENVIRONMENT': create $BACKEND_FILE (see config/backend-dev.hcl)"
    run terraform -chdir="$workdir" init -input=false -reconfigure -backend-config="$BACKEND_FILE"
  fi

  local plan_file="$BUILD_DIR/$ENVIRONMENT.tfplan"
  case "$ACTION" in
    plan)
      run terraform -chdir="$workdir" plan -input=false "${vars[@]}" -out="$plan_file"
      ;;
    apply)
      run terraform -chdir="$workdir" plan -input=false "${vars[@]}" -out="$plan_file"
      if ! $AUTO_APPROVE && ! $DRY_RUN; then
        [[ -t 0 ]] || die 2 "apply needs a terminal to confirm, or --auto-approve"
        read -r -p "Apply this plan to '$ENVIRONMENT'? Type yes: " answer
        [[ "$answer" == yes ]] || die 2 "apply cancelled"
      fi
      run terraform -chdir="$workdir" apply -input=false "$plan_file"
      ;;
    destroy)
      if grep -Eq '^[[:space:]]*deletion_protection[[:space:]]*=[[:space:]]*true' "$VAR_FILE"; then
        echo "deploy.sh: note: $ENVIRONMENT has deletion_protection = true: non-empty buckets stay and Redshift keeps a final snapshot" >&2
      fi
      local approve=()
      $AUTO_APPROVE && approve=(-auto-approve)
      run terraform -chdir="$workdir" destroy -input=false "${vars[@]}" "${approve[@]}"
      ;;
  esac
}

# --- main ---------------------------------------------------------------------------------------------------------

check_tools
case "$ACTION" in
  package)
    package_artifacts
    ;;
  bootstrap-state)
    check_credentials
    bootstrap_state
    ;;
  plan | apply | destroy)
    check_credentials
    package_artifacts
    terraform_run
    ;;
esac
if $DRY_RUN; then
  echo "deploy.sh: dry run: nothing was executed" >&2
fi
