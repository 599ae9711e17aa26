"""Sharing checkpoints: model cards, the Hub upload, and the export for users without attnseq."""

from .card import extract_usage_snippet, write_model_card, write_model_card_for_trainer
from .export import ExportError, export_for_remote_code
from .push import push_folder

__all__ = [
    "ExportError",
    "export_for_remote_code",
    "extract_usage_snippet",
    "push_folder",
    "write_model_card",
    "write_model_card_for_trainer",
]
