"""A tokenizer with separate source and target vocabularies, for models with `decoder_vocab_size` set.

`SourceTargetTokenizer` is one `PreTrainedTokenizerFast` holding two `tokenizers` backends, as Marian's tokenizer
holds two SentencePiece models: `tokenizer(text)` encodes with the source vocabulary, `tokenizer(text_target=...)`
with the target vocabulary (transformers' `_switch_to_target_mode`/`_switch_to_input_mode` hooks swap the backend
for the target call), and `decode`/`batch_decode` read ids with the target vocabulary, since they decode what
`generate()` returns (`use_source_tokenizer=True` decodes source ids). Both sides have the special tokens at the
same ids: pad 0, bos 1, eos 2, unk 3.

A saved folder holds the two sides as `source_tokenizer.json` and `target_tokenizer.json` (each a `tokenizers` file),
as Marian's holds `source.spm` and `target.spm`; `tokenizer_config.json` names the class, so
`AutoTokenizer.from_pretrained` after `import attnseq` brings back both sides and the training options. There is
deliberately no `tokenizer.json`: transformers without attnseq would load it as a plain tokenizer of the source
vocabulary and encode targets and decode outputs with the wrong vocabulary, silently; without it loading fails
(load the remote-code export, `attnseq export`, where attnseq is not installed). A tokenizer with one shared
vocabulary is not this class: it stays the `PreTrainedTokenizerFast` that `train_subword_tokenizer` returns, with
the same files as before.
"""

from __future__ import annotations

import copy
import os
from contextlib import contextmanager

from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerFast

from .char import DEFAULT_SPECIAL_TOKENS

SOURCE_TOKENIZER_FILE = "source_tokenizer.json"
TARGET_TOKENIZER_FILE = "target_tokenizer.json"


class SourceTargetTokenizer(PreTrainedTokenizerFast):
    """Two subword vocabularies in one tokenizer: sources (`text`) are encoded with the source vocabulary, targets
    (`text_target`) with the target vocabulary, and `decode`/`batch_decode` use the target vocabulary.

    Sizes: `len(tokenizer)` and `vocab_size` describe the source side (the model's `vocab_size`);
    `target_len()` and `target_vocab_size` describe the target side (the model's `decoder_vocab_size`). Tokens
    added with `add_tokens` join the source side only. `convert_ids_to_tokens` reads target ids, as `decode` does;
    `convert_tokens_to_ids` and `get_vocab()` are the source side's, as encoding is (`get_target_vocab()`,
    `target_tokens_to_ids` for the target side).

    Build one from two trained tokenizers with `from_tokenizers`, or train both with
    `attnseq.tokenization.train_seq2seq_tokenizer(sources, targets, shared=False)`.

    Args:
        tokenizer_object, source_tokenizer_file: the source side, a `tokenizers.Tokenizer` or the path of its JSON
            file.
        target_tokenizer_object, target_tokenizer_file: the target side, likewise.
        Other arguments: as for `PreTrainedTokenizerFast` (special tokens, options saved in `tokenizer_config.json`).
    """

    vocab_files_names = {"source_tokenizer_file": SOURCE_TOKENIZER_FILE, "target_tokenizer_file": TARGET_TOKENIZER_FILE}
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(
        self,
        *args,
        source_tokenizer_file: str | None = None,
        target_tokenizer_object: Tokenizer | None = None,
        target_tokenizer_file: str | None = None,
        **kwargs,
    ):
        if kwargs.get("tokenizer_object") is None and source_tokenizer_file is not None:
            if not os.path.isfile(source_tokenizer_file):
                raise ValueError(f"SourceTargetTokenizer: the source side {source_tokenizer_file} is not a file.")
            kwargs["tokenizer_object"] = Tokenizer.from_file(source_tokenizer_file)
        if kwargs.get("tokenizer_object") is None and kwargs.get("tokenizer_file") is None:
            raise ValueError(
                "SourceTargetTokenizer needs its source side: pass tokenizer_object (a tokenizers.Tokenizer) or "
                f"source_tokenizer_file (a saved folder's {SOURCE_TOKENIZER_FILE}), got neither."
            )
        if target_tokenizer_object is not None:
            target = copy.deepcopy(target_tokenizer_object)
        elif target_tokenizer_file is not None and os.path.isfile(target_tokenizer_file):
            target = Tokenizer.from_file(target_tokenizer_file)
        else:
            raise ValueError(
                "SourceTargetTokenizer needs its target side: pass target_tokenizer_object (a tokenizers.Tokenizer) "
                f"or target_tokenizer_file (a saved folder's {TARGET_TOKENIZER_FILE}), got neither."
            )
        for name, token in DEFAULT_SPECIAL_TOKENS.items():
            kwargs.setdefault(name, token)
        super().__init__(*args, **kwargs)
        self._source_backend = self._tokenizer
        self._target_backend = target
        for name in DEFAULT_SPECIAL_TOKENS:
            token = str(getattr(self, name))
            source_id, target_id = self._source_backend.token_to_id(token), target.token_to_id(token)
            if source_id != target_id or source_id is None:
                raise ValueError(
                    f"{name} {token!r} has id {source_id} in the source vocabulary but {target_id} in the target "
                    "vocabulary; both sides need the special tokens at the same ids (pad 0, bos 1, eos 2, unk 3)."
                )

    @classmethod
    def convert_to_native_format(cls, trust_remote_code: bool = False, **kwargs):
        """Loading: `__init__` reads both sides from their JSON files, as `PreTrainedTokenizerFast` reads
        `tokenizer.json` (transformers would otherwise try to rebuild the tokenizer from other files)."""
        if os.path.isfile(kwargs.get("source_tokenizer_file") or ""):
            return dict(kwargs)
        return super().convert_to_native_format(trust_remote_code=trust_remote_code, **kwargs)

    @classmethod
    def from_tokenizers(cls, source: PreTrainedTokenizerFast, target: PreTrainedTokenizerFast, **kwargs):
        """The pair of two trained tokenizers (`train_subword_tokenizer`'s); their special tokens and the source
        side's saved options (`init_kwargs` beyond the files) carry over, `kwargs` add or replace options."""
        options = {
            key: value
            for key, value in source.init_kwargs.items()
            if key not in ("tokenizer_object", "tokenizer_file", "name_or_path", "added_tokens_decoder")
        }
        for name in DEFAULT_SPECIAL_TOKENS:
            options[name] = str(getattr(source, name))
        return cls(
            tokenizer_object=source.backend_tokenizer,
            target_tokenizer_object=target.backend_tokenizer,
            **{**options, **kwargs},
        )

    # transformers calls these around the `text_target` part of `__call__`
    def _switch_to_target_mode(self) -> None:
        self._tokenizer = self._target_backend

    def _switch_to_input_mode(self) -> None:
        self._tokenizer = self._source_backend

    @contextmanager
    def _side(self, target: bool):
        previous = self._tokenizer
        self._tokenizer = self._target_backend if target else self._source_backend
        try:
            yield
        finally:
            self._tokenizer = previous

    @property
    def source_tokenizer(self) -> Tokenizer:
        """The source side's `tokenizers.Tokenizer`."""
        return self._source_backend

    @property
    def target_tokenizer(self) -> Tokenizer:
        """The target side's `tokenizers.Tokenizer`."""
        return self._target_backend

    @property
    def target_vocab_size(self) -> int:
        """Size of the target vocabulary without added tokens (`vocab_size` is the source side's)."""
        return self._target_backend.get_vocab_size(with_added_tokens=False)

    def target_len(self) -> int:
        """Size of the target vocabulary with its special tokens: a model's `decoder_vocab_size` (`len()` is the
        source side's, its `vocab_size`)."""
        return self._target_backend.get_vocab_size(with_added_tokens=True)

    def get_target_vocab(self) -> dict[str, int]:
        """The target vocabulary, token -> id (`get_vocab()` is the source side's)."""
        return self._target_backend.get_vocab(with_added_tokens=True)

    def _decode(self, token_ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces=None, **kwargs):
        """Decode with the target vocabulary, or with the source vocabulary under `use_source_tokenizer=True`."""
        use_source = kwargs.pop("use_source_tokenizer", False)
        with self._side(target=not use_source):
            return super()._decode(
                token_ids,
                skip_special_tokens=skip_special_tokens,
                clean_up_tokenization_spaces=clean_up_tokenization_spaces,
                **kwargs,
            )

    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False, use_source_tokenizer: bool = False):
        """Tokens of target ids (of source ids with `use_source_tokenizer=True`), like `decode`."""
        with self._side(target=not use_source_tokenizer):
            return super().convert_ids_to_tokens(ids, skip_special_tokens=skip_special_tokens)

    def _save_pretrained(self, save_directory, file_names, legacy_format=None, filename_prefix=None):
        """Write `source_tokenizer.json` and `target_tokenizer.json` (and no `tokenizer.json`, see the module)."""
        prefix = filename_prefix + "-" if filename_prefix else ""
        written = []
        for name, backend in (
            (SOURCE_TOKENIZER_FILE, self._source_backend),
            (TARGET_TOKENIZER_FILE, self._target_backend),
        ):
            path = os.path.join(str(save_directory), prefix + name)
            backend.save(path)
            written.append(path)
        return tuple(file_names) + tuple(written)


def source_ids_to_tokens(tokenizer, ids: list[int]) -> list[str]:
    """The tokens of source ids, with the source vocabulary of a `SourceTargetTokenizer` (whose
    `convert_ids_to_tokens` reads target ids) or the one vocabulary of any other tokenizer."""
    if isinstance(tokenizer, SourceTargetTokenizer):
        return tokenizer.convert_ids_to_tokens(ids, use_source_tokenizer=True)
    return tokenizer.convert_ids_to_tokens(ids)


def target_tokens_to_ids(tokenizer, tokens: list[str]) -> list[int]:
    """The ids of target tokens, with the target vocabulary of a `SourceTargetTokenizer` (whose
    `convert_tokens_to_ids` reads source tokens, as transformers' encoding expects) or the one vocabulary of any
    other tokenizer."""
    if isinstance(tokenizer, SourceTargetTokenizer):
        with tokenizer._side(target=True):
            return tokenizer.convert_tokens_to_ids(tokens)
    return tokenizer.convert_tokens_to_ids(tokens)
