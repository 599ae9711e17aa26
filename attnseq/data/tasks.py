"""Built-in tasks, generated deterministically from a seed as a `DatasetDict` (train/validation/test) of
`source`/`target` strings.

- `addition`: `"57+5"` -> `"62"`, operands 0..999 (the book's chapter 7 task).
- `date`: a date written by people in one of `DATE_FORMATS` (month names full or abbreviated, numeric
  orders, two- or four-digit years, lower/upper/title case) -> ISO `"1994-09-27"` (the book's chapter 8 task).
- `reverse`: a random string of lower-case letters -> the same string reversed (the smallest sanity task).

Every source occurs once across all three splits, so no test or validation source is seen in training
(for `addition`, `a+b` and `b+a` count as the same source).
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import date, timedelta

from datasets import Dataset, DatasetDict, Features, Value

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Each format is a template over: month/mon (full/abbreviated name), weekday/wkd (full/abbreviated name),
# d/dd (day, plain/two-digit), dth (day with ordinal suffix), m/mm (month number, plain/two-digit),
# yyyy/yy (four/two-digit year). Numbers with "/" are always month first, with "." always day first, so no
# source is ambiguous.
DATE_FORMATS = (
    "{month} {d}, {yyyy}",
    "{mon} {d}, {yyyy}",
    "{mon} {d}, {yy}",
    "{weekday}, {month} {d}, {yyyy}",
    "{wkd}, {mon} {d}, {yyyy}",
    "{weekday} {d} {month} {yyyy}",
    "{d} {month} {yyyy}",
    "{d} {mon} {yyyy}",
    "{dd}-{mon}-{yyyy}",
    "{month} {dth}, {yyyy}",
    "the {dth} of {month}, {yyyy}",
    "{m}/{d}/{yy}",
    "{mm}/{dd}/{yyyy}",
    "{dd}.{mm}.{yyyy}",
    "{d}.{m}.{yy}",
    "{yyyy}/{mm}/{dd}",
)
DATE_CASES = ("title", "lower", "upper")
# Two-digit years are read as 1970-2049 (the window Python's `%y` uses as well: 69-99 -> 1900s, 00-68 -> 2000s).
FIRST_DATE = date(1970, 1, 1)
LAST_DATE = date(2049, 12, 31)

SPLITS = ("train", "validation", "test")
FEATURES = Features({"source": Value("string"), "target": Value("string")})


@dataclass(frozen=True)
class Task:
    """A built-in task: a sampler of one `(source, target)` pair from a `random.Random`, the key that makes
    two sources the same, default split sizes and the task's own options with their defaults."""

    name: str
    description: str
    make_sampler: Callable[..., Callable[[random.Random], tuple[str, str]]]
    source_key: Callable[[str], Hashable]
    num_train: int
    num_validation: int
    num_test: int
    options: dict = field(default_factory=dict)


def load_task(
    name: str,
    seed: int = 42,
    num_train: int | None = None,
    num_validation: int | None = None,
    num_test: int | None = None,
    **options,
) -> DatasetDict:
    """Generate the built-in task `name` (one of `TASKS`) as a `DatasetDict` with train/validation/test splits
    of `source`/`target` strings. The same arguments always give the same rows. Sizes left at `None` take the
    task's defaults; `options` are the task's own (e.g. `min_length`/`max_length` of `reverse`)."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; allowed: {', '.join(map(repr, TASKS))}.")
    task = TASKS[name]
    unknown = sorted(set(options) - set(task.options))
    if unknown:
        allowed = ", ".join(task.options) or "none"
        raise ValueError(f"task {name!r} has no option(s) {', '.join(map(repr, unknown))}; its options: {allowed}.")
    sizes = {
        "train": task.num_train if num_train is None else num_train,
        "validation": task.num_validation if num_validation is None else num_validation,
        "test": task.num_test if num_test is None else num_test,
    }
    for split, size in sizes.items():
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"num_{split} must be a non-negative integer, got {size!r}.")
    sample = task.make_sampler(**{**task.options, **options})
    rows = _unique_rows(sample, task.source_key, sum(sizes.values()), random.Random(seed), name)
    splits, start = {}, 0
    for split in SPLITS:
        part = rows[start : start + sizes[split]]
        start += sizes[split]
        splits[split] = Dataset.from_dict(
            {"source": [source for source, _ in part], "target": [target for _, target in part]}, features=FEATURES
        )
    return DatasetDict(splits)


def _unique_rows(sample, source_key, count: int, rng: random.Random, name: str) -> list[tuple[str, str]]:
    """Draw `count` pairs whose sources are pairwise different (by `source_key`)."""
    rows, seen = [], set()
    attempts = 0
    while len(rows) < count:
        attempts += 1
        if attempts > 20 * count + 1000:
            raise ValueError(
                f"task {name!r} could not find {count} different sources (found {len(rows)}); ask for fewer rows "
                "or widen the task's options."
            )
        source, target = sample(rng)
        key = source_key(source)
        if key not in seen:
            seen.add(key)
            rows.append((source, target))
    return rows


def addition_sampler(max_digits: int = 3) -> Callable[[random.Random], tuple[str, str]]:
    """`"a+b"` -> `"a+b"`'s sum; each operand first draws its number of digits (1..max_digits), then a value
    with that many digits, so short and long operands are equally common (as in the book's data)."""
    if isinstance(max_digits, bool) or not isinstance(max_digits, int) or max_digits < 1:
        raise ValueError(f"max_digits must be a positive integer, got {max_digits!r}.")

    def operand(rng: random.Random) -> int:
        digits = rng.randint(1, max_digits)
        return rng.randint(0 if digits == 1 else 10 ** (digits - 1), 10**digits - 1)

    def sample(rng: random.Random) -> tuple[str, str]:
        a, b = operand(rng), operand(rng)
        return f"{a}+{b}", str(a + b)

    return sample


def _addition_key(source: str) -> Hashable:
    return frozenset(source.split("+")) if source.count("+") == 1 else source


def date_sampler() -> Callable[[random.Random], tuple[str, str]]:
    """A day between `FIRST_DATE` and `LAST_DATE` written in one of `DATE_FORMATS` and `DATE_CASES` -> its
    ISO form `YYYY-MM-DD`."""
    span = (LAST_DATE - FIRST_DATE).days

    def sample(rng: random.Random) -> tuple[str, str]:
        day = FIRST_DATE + timedelta(days=rng.randint(0, span))
        template = rng.choice(DATE_FORMATS)
        return format_date(day, template, rng.choice(DATE_CASES)), day.isoformat()

    return sample


def format_date(day: date, template: str, case: str = "title") -> str:
    """Write `day` with one of `DATE_FORMATS` in one of `DATE_CASES` (`"title"` keeps names capitalised)."""
    if case not in DATE_CASES:
        raise ValueError(f"case={case!r} is not supported; allowed: {', '.join(map(repr, DATE_CASES))}.")
    month, weekday = MONTHS[day.month - 1], WEEKDAYS[day.weekday()]
    text = template.format(
        month=month,
        mon=month[:3],
        weekday=weekday,
        wkd=weekday[:3],
        d=day.day,
        dd=f"{day.day:02d}",
        dth=f"{day.day}{_ordinal_suffix(day.day)}",
        m=day.month,
        mm=f"{day.month:02d}",
        yyyy=day.year,
        yy=f"{day.year % 100:02d}",
    )
    return text.lower() if case == "lower" else text.upper() if case == "upper" else text


def _ordinal_suffix(day: int) -> str:
    if 11 <= day <= 13:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def reverse_sampler(min_length: int = 3, max_length: int = 12) -> Callable[[random.Random], tuple[str, str]]:
    """A random string of `min_length`..`max_length` lower-case letters -> the same string reversed."""
    for option, value in (("min_length", min_length), ("max_length", max_length)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{option} must be a positive integer, got {value!r}.")
    if min_length > max_length:
        raise ValueError(f"min_length={min_length} is larger than max_length={max_length}.")

    def sample(rng: random.Random) -> tuple[str, str]:
        text = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(min_length, max_length)))
        return text, text[::-1]

    return sample


TASKS: dict[str, Task] = {
    "addition": Task(
        name="addition",
        description="integer addition, '57+5' -> '62', operands 0..999",
        make_sampler=addition_sampler,
        source_key=_addition_key,
        num_train=50_000,
        num_validation=2_000,
        num_test=5_000,
        options={"max_digits": 3},
    ),
    "date": Task(
        name="date",
        description="human-written dates in many formats -> ISO 8601, 'Sep 27, 94' -> '1994-09-27'",
        make_sampler=date_sampler,
        source_key=str,
        num_train=50_000,
        num_validation=2_000,
        num_test=5_000,
    ),
    "reverse": Task(
        name="reverse",
        description="string reversal of random lower-case letters, 'abc' -> 'cba'",
        make_sampler=reverse_sampler,
        source_key=str,
        num_train=20_000,
        num_validation=1_000,
        num_test=1_000,
        options={"min_length": 3, "max_length": 12},
    ),
}
