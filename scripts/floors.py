#!/usr/bin/env python3
"""Print the lower bound of every direct dependency in setup.cfg as an exact pin (name==floor).

scripts/refresh_lock.sh writes this to requirements/floors.txt and compiles requirements/lock-oldest.txt
with it as a constraint file, so the oldest lock follows setup.cfg's floors without anyone typing a version.
Covers install_requires and every extra. A dependency without a ">=" floor is an error: declare one.
"""

import configparser
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*([^;]*)(;.*)?$")


def requirement_lines(cfg: configparser.ConfigParser):
    yield from cfg["options"]["install_requires"].splitlines()
    for extra in cfg["options.extras_require"]:
        yield from cfg["options.extras_require"][extra].splitlines()


def main() -> int:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    floors: dict[str, str] = {}
    for line in requirement_lines(cfg):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = REQUIREMENT.match(line)
        if match is None:
            sys.exit(f"setup.cfg: cannot read the requirement {line!r}")
        name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
        floor = [s.strip()[2:].strip() for s in match.group(3).split(",") if s.strip().startswith(">=")]
        if len(floor) != 1:
            sys.exit(f"setup.cfg: {line!r} needs exactly one '>=' lower bound")
        if floors.get(name, floor[0]) != floor[0]:
            sys.exit(f"setup.cfg: {name} has two different floors ({floors[name]} and {floor[0]})")
        floors[name] = floor[0]
    print("# The lower bound of every direct dependency in setup.cfg, written by scripts/floors.py; do not edit.")
    for name in sorted(floors):
        print(f"{name}=={floors[name]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
