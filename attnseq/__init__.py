"""attnseq: attention LSTM and small Transformer sequence-to-sequence models for Hugging Face transformers.

Importing the package registers both model families with `AutoConfig`, `AutoModel`,
`AutoModelForSeq2SeqLM` and `AutoTokenizer`. It loads the models and tokenizers only: the training
stack (`datasets`, `evaluate`, `accelerate`) is imported by `attnseq.training` when it is used, and
`load_task` (`attnseq.data.tasks`) is imported on first use. It also installs the hooks through which a model's
`push_to_hub` uploads, and a training run writes, attnseq's model card (`attnseq.hub_cards`, imported when a card
is written).
"""

from transformers import AutoConfig, AutoModel, AutoModelForSeq2SeqLM, AutoTokenizer

from .configuration.lstm import Seq2SeqLSTMConfig
from .configuration.transformer import Seq2SeqTransformerConfig
from .families import DEFAULT_TOKENIZER, FAMILIES
from .modeling.hooks import install_push_folder, install_trainer_card
from .modeling.lstm import Seq2SeqLSTMCache, Seq2SeqLSTMForConditionalGeneration, Seq2SeqLSTMModel
from .modeling.transformer import Seq2SeqTransformerForConditionalGeneration, Seq2SeqTransformerModel
from .tokenization import (
    CharTokenizer,
    SourceTargetTokenizer,
    train_seq2seq_tokenizer,
    train_seq2seq_tokenizers,
    train_subword_tokenizer,
)
from .version import __version__

for _family in FAMILIES.values():
    AutoConfig.register(_family.model_type, _family.config_class, exist_ok=True)
    AutoModel.register(_family.config_class, _family.base_model_class, exist_ok=True)
    AutoModelForSeq2SeqLM.register(_family.config_class, _family.generation_class, exist_ok=True)
    # The separate-vocabulary tokenizer is registered by name (tokenizer_config.json names it); the class a bare
    # AutoTokenizer lookup by config gives stays the default tokenizer, registered last.
    AutoTokenizer.register(_family.config_class, tokenizer_class=SourceTargetTokenizer, exist_ok=True)
    AutoTokenizer.register(_family.config_class, tokenizer_class=DEFAULT_TOKENIZER, exist_ok=True)


def _push_folder(folder, repo_id: str, **upload):
    """Upload the checkpoint `folder` to `repo_id` with attnseq's card: `attnseq.hub_cards.push.push_folder`,
    imported on the first push (the card writer builds on the models and on huggingface_hub's upload)."""
    from .hub_cards.push import push_folder

    return push_folder(folder, repo_id, **upload)


def _trainer_card(trainer, **card_arguments):
    """Write attnseq's card into a Trainer's output folder: `attnseq.hub_cards.card.write_model_card_for_trainer`,
    imported when a run writes its card."""
    from .hub_cards.card import write_model_card_for_trainer

    return write_model_card_for_trainer(trainer, **card_arguments)


install_push_folder(_push_folder)
install_trainer_card(_trainer_card)


def __getattr__(name: str):
    if name == "load_task":  # the built-in tasks build on `datasets`, imported only when a task is loaded
        from .data.tasks import load_task

        return load_task
    raise AttributeError(f"module 'attnseq' has no attribute {name!r}")


__all__ = [
    "CharTokenizer",
    "Seq2SeqLSTMCache",
    "Seq2SeqLSTMConfig",
    "Seq2SeqLSTMForConditionalGeneration",
    "Seq2SeqLSTMModel",
    "Seq2SeqTransformerConfig",
    "Seq2SeqTransformerForConditionalGeneration",
    "Seq2SeqTransformerModel",
    "SourceTargetTokenizer",
    "__version__",
    "load_task",
    "train_seq2seq_tokenizer",
    "train_seq2seq_tokenizers",
    "train_subword_tokenizer",
]
