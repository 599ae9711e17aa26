"""Print the options that make `uv pip install` look for packages where pip would, one per line.

scripts/setup.sh installs a lock with uv when it can (several times faster than pip for the same wheels), and the
packages must come from the places the machine's pip is configured with: PIP_* variables and pip.conf files, e.g.
a folder holding torch's CPU wheel (find-links) or PyTorch's CPU index (extra-index-url). uv reads neither, so this
reads `pip config list` (run with the venv's pip: each section's value with pip's files already merged) and prints
the matching uv options; as in pip's `install`, the `install` section wins over `global` and PIP_* over both.
Several indexes are searched for the best match, as pip does (`--index-strategy unsafe-best-match`).

Usage: python scripts/uv_args.py PIP   (PIP: the venv's pip executable)
"""

import shlex
import subprocess
import sys

# pip's option name -> uv's, for the options that say where packages come from
LOCATION_OPTIONS = {"index-url": "--index-url", "extra-index-url": "--extra-index-url", "find-links": "--find-links"}
# the sections `pip install` reads, lowest precedence first (":env:" holds the PIP_* variables)
SECTION_RANK = {"global": 0, "install": 1, ":env:": 2}


def pip_settings(listing: str) -> dict[str, str]:
    """The effective value of each location option in `pip config list`'s output (lines `section.key='value'`)."""
    found = []
    for line in listing.splitlines():
        name, _, quoted = line.partition("=")
        section, _, key = name.rpartition(".")
        if key in LOCATION_OPTIONS and section in SECTION_RANK and quoted:
            found.append((SECTION_RANK[section], key, shlex.split(quoted)[0]))
    return {key: value for _, key, value in sorted(found)}


def uv_arguments(settings: dict[str, str]) -> list[str]:
    """uv options for pip's settings: one option per index or folder (pip's values are space-separated lists)."""
    arguments = ["--index-strategy", "unsafe-best-match"]
    for key, option in LOCATION_OPTIONS.items():
        for value in settings.get(key, "").split():
            arguments += [option, value]
    return arguments


def main(pip: str) -> None:
    listing = subprocess.run([pip, "config", "list"], capture_output=True, text=True, check=True).stdout
    print("\n".join(uv_arguments(pip_settings(listing))))


if __name__ == "__main__":
    main(sys.argv[1])
