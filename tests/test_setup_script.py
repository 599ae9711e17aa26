"""scripts/uv_args.py: scripts/setup.sh's uv looks for packages where the machine's pip would."""

import importlib.util
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "uv_args.py"
spec = importlib.util.spec_from_file_location("uv_args", SCRIPT)
uv_args = importlib.util.module_from_spec(spec)
spec.loader.exec_module(uv_args)

LISTING = """\
:env:.cert='/etc/ssl/certs/ca-certificates.crt'
:env:.find-links='/opt/env-wheels'
global.constraint='/etc/xdg/pip/constraints.txt'
global.extra-index-url='file:///opt/pypi/simple file:///opt/pypi-more/simple'
global.find-links='/opt/wheels'
global.index-url='https://mirror.example/simple'
install.index-url='https://install.example/simple'
download.find-links='/not/for/install'
"""


def test_the_environment_wins_over_the_install_section_over_global():
    assert uv_args.pip_settings(LISTING) == {
        "find-links": "/opt/env-wheels",
        "extra-index-url": "file:///opt/pypi/simple file:///opt/pypi-more/simple",
        "index-url": "https://install.example/simple",
    }


def test_each_index_and_folder_becomes_one_uv_option():
    assert uv_args.uv_arguments(uv_args.pip_settings(LISTING)) == [
        "--index-strategy", "unsafe-best-match",
        "--index-url", "https://install.example/simple",
        "--extra-index-url", "file:///opt/pypi/simple",
        "--extra-index-url", "file:///opt/pypi-more/simple",
        "--find-links", "/opt/env-wheels",
    ]  # fmt: skip


def test_no_pip_configuration_leaves_uv_its_defaults():
    assert uv_args.uv_arguments(uv_args.pip_settings("")) == ["--index-strategy", "unsafe-best-match"]


def test_the_script_reads_a_real_pip(tmp_path):
    """PIP_FIND_LINKS reaches uv through `pip config list` of an actual pip."""
    config = tmp_path / "pip.conf"
    config.write_text("[global]\nextra-index-url = https://extra.example/simple\n")
    env = {"PIP_CONFIG_FILE": str(config), "PIP_FIND_LINKS": "/some/wheels", "PATH": "/usr/bin:/bin"}
    pip = str(Path(sys.executable).with_name("pip"))
    printed = subprocess.run(
        [sys.executable, str(SCRIPT), pip], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert printed == [
        "--index-strategy", "unsafe-best-match",
        "--extra-index-url", "https://extra.example/simple",
        "--find-links", "/some/wheels",
    ]  # fmt: skip
