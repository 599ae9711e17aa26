"""The one flag dialect of every `attnseq` subcommand: `--max_new_tokens` (as `Seq2SeqTrainingArguments` spells its
flags, which `attnseq train` takes), with `--max-new-tokens` accepted as the same flag, as transformers'
`HfArgumentParser` accepts it; options and positional arguments in any order (`attnseq generate CKPT --num_beams 4
"text"` as well as `attnseq generate CKPT "text" --num_beams 4`)."""

from __future__ import annotations

import argparse


class FlagParser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` whose `--snake_case` options also answer to `--kebab-case`, and whose `parse_args`
    takes positional arguments between options (`parse_intermixed_args`): plain argparse gives all the positional
    arguments of one `nargs="*"` run to the first group of them, so that `CKPT --num_beams 4 "text"` left "text"
    unrecognized."""

    def parse_args(self, args=None, namespace=None):
        return self.parse_intermixed_args(args, namespace)

    def add_argument(self, *names, **kwargs):
        return super().add_argument(*_with_dashed_aliases(names), **kwargs)

    def add_argument_group(self, *args, **kwargs):
        group = super().add_argument_group(*args, **kwargs)
        add = group.add_argument
        group.add_argument = lambda *names, **options: add(*_with_dashed_aliases(names), **options)
        return group

    def add_mutually_exclusive_group(self, **kwargs):
        group = super().add_mutually_exclusive_group(**kwargs)
        add = group.add_argument
        group.add_argument = lambda *names, **options: add(*_with_dashed_aliases(names), **options)
        return group


def _with_dashed_aliases(names: tuple[str, ...]) -> tuple[str, ...]:
    aliases = [name.replace("_", "-") for name in names if name.startswith("--") and "_" in name]
    return (*names, *(alias for alias in aliases if alias not in names))
