"""Loading a script of `benchmarks/` as a module, for the tests of its functions."""

import importlib.util
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load_benchmark(relative_path: str, name: str):
    """The script `benchmarks/<relative_path>` imported as the module `name` (it is not a package)."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / relative_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
