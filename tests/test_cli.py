"""The command line exists with --help everywhere, and bad input is one line on stderr with no traceback."""
import subprocess
import sys

import pytest

from mglib.cli import build_parser

COMMANDS = [[], ["data"], ["data", "generate"], ["data", "inspect"], ["data", "ensure"], ["data", "fetch"], ["eval"],
            ["eval", "detection"], ["eval", "online"], ["eval", "errors"], ["train"], ["run"], ["book"]]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c) or "top")
def test_help_everywhere(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(cmd + ["--help"])
    assert e.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_bad_parameter_is_one_line_without_traceback():
    proc = subprocess.run([sys.executable, "-m", "mglib", "run", "--profile", "smoke", "--only", "no_such_nb"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: --only 'no_such_nb': no such notebook")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_import_mglib_does_not_import_optional_gpu_packages():
    code = "import sys, mglib; print(sorted(m for m in ('torchvision', 'mamba_ssm', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
