"""Built-in tasks: determinism, sizes, right answers, the date formats, no source shared between splits."""

import re
from datetime import datetime

import pytest

from attnseq.data.tasks import DATE_FORMATS, TASKS, load_task

SMALL = {"num_train": 1500, "num_validation": 200, "num_test": 300}

# Independent readers of the date task's sources: Python's strptime patterns (ordinal suffixes removed first).
STRPTIME_PATTERNS = [
    "%B %d, %Y",
    "%b %d, %Y",
    "%b %d, %y",
    "%A, %B %d, %Y",
    "%a, %b %d, %Y",
    "%A %d %B %Y",
    "%d %B %Y",
    "%d %b %Y",
    "%d-%b-%Y",
    "the %d of %B, %Y",
    "%m/%d/%y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d.%m.%y",
    "%Y/%m/%d",
]
WEEKDAY_NAMES = {datetime(2024, 1, day).strftime(form).lower() for day in range(1, 8) for form in ("%A", "%a")}


@pytest.fixture(scope="module")
def tasks():
    return {name: load_task(name, seed=7, **SMALL) for name in TASKS}


def test_splits_sizes_and_columns(tasks):
    for dataset in tasks.values():
        assert {split: len(part) for split, part in dataset.items()} == {"train": 1500, "validation": 200, "test": 300}
        for part in dataset.values():
            assert part.column_names == ["source", "target"]


def test_same_seed_same_rows_other_seed_other_rows(tasks):
    for name, dataset in tasks.items():
        again = load_task(name, seed=7, **SMALL)
        assert all(again[split].to_dict() == dataset[split].to_dict() for split in dataset)
        other = load_task(name, seed=8, **SMALL)
        assert other["train"]["source"] != dataset["train"]["source"]


def test_no_source_is_shared_between_splits(tasks):
    for name, dataset in tasks.items():
        key = (lambda source: frozenset(source.split("+"))) if name == "addition" else (lambda source: source)
        seen = {split: {key(source) for source in dataset[split]["source"]} for split in dataset}
        assert len(seen["train"]) == 1500  # no repeats inside a split either
        assert not seen["train"] & seen["test"]
        assert not seen["train"] & seen["validation"]
        assert not seen["validation"] & seen["test"]


def test_addition_rows_are_right(tasks):
    rows = tasks["addition"]["train"]
    operands = []
    for source, target in zip(rows["source"], rows["target"]):
        assert re.fullmatch(r"\d{1,3}\+\d{1,3}", source), source
        a, b = (int(part) for part in source.split("+"))
        assert str(a + b) == target
        operands += [a, b]
    assert min(operands) >= 0 and max(operands) <= 999
    # Operands of one, two and three digits all occur; "57+5" style mixes are common.
    assert {len(str(operand)) for operand in operands} == {1, 2, 3}


def parse_date(source):
    """Every strptime reading of `source` as {pattern: date}."""
    text = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", source, flags=re.IGNORECASE)
    readings = {}
    for pattern in STRPTIME_PATTERNS:
        try:
            readings[pattern] = datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return readings


def test_date_sources_read_back_to_their_iso_target(tasks):
    for split in ("train", "test"):
        rows = tasks["date"][split]
        for source, target in zip(rows["source"], rows["target"]):
            readings = set(parse_date(source).values())
            assert readings, f"no strptime pattern reads {source!r}"
            assert {day.isoformat() for day in readings} == {target}, source  # unambiguous and right
            first_word = re.split(r"[ ,]", source)[0].lower()
            if first_word in WEEKDAY_NAMES:
                (day,) = readings
                assert first_word in {day.strftime("%A").lower(), day.strftime("%a").lower()}, source


def test_date_task_covers_every_format_case_and_name_form(tasks):
    sources = tasks["date"]["train"]["source"]
    layouts = set()
    for source in sources:
        ordinal = re.search(r"\d(st|nd|rd|th)\b", source, flags=re.IGNORECASE) is not None
        layouts |= {(pattern, ordinal) for pattern in parse_date(source)}
    assert {pattern for pattern, _ in layouts} == set(STRPTIME_PATTERNS)
    assert len(layouts) >= len(DATE_FORMATS) >= 12  # at least a dozen formats, each one in use
    assert any(source.isupper() and "SEPTEMBER" in source for source in sources)
    assert any(source.islower() and "september" in source for source in sources)
    assert any("Sep " in source for source in sources) and any("September" in source for source in sources)
    assert any(re.fullmatch(r"\d{1,2}/\d{1,2}/\d\d", source) for source in sources)  # 9/27/94
    assert any(re.fullmatch(r"\d\d\.\d\d\.\d{4}", source) for source in sources)  # 27.09.1994
    # tuesday, september 27, 1994
    assert any(re.fullmatch(r"[a-z]+day, [a-z]+ \d+, \d{4}", source) for source in sources)


def test_reverse_rows_and_options():
    rows = load_task("reverse", seed=0, num_train=300, num_validation=10, num_test=10, min_length=2, max_length=5)
    for source, target in zip(rows["train"]["source"], rows["train"]["target"]):
        assert target == source[::-1] and 2 <= len(source) <= 5 and source.isalpha() and source.islower()


def test_bad_requests_are_refused_with_the_allowed_values():
    with pytest.raises(ValueError, match="unknown task 'dates'; allowed: 'addition', 'date', 'reverse'"):
        load_task("dates")
    with pytest.raises(ValueError, match="task 'date' has no option"):
        load_task("date", max_length=4)
    with pytest.raises(ValueError, match="num_test must be a non-negative integer"):
        load_task("reverse", num_test=-1)
    with pytest.raises(ValueError, match="min_length=6 is larger than max_length=5"):
        load_task("reverse", min_length=6, max_length=5)
    with pytest.raises(ValueError, match="could not find 30 different sources"):
        load_task("reverse", num_train=30, num_validation=0, num_test=0, min_length=1, max_length=1)
