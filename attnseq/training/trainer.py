"""The Trainer of `attnseq train`: `Seq2SeqTrainer` with each row scored once, the wall-clock minutes in its log,
attnseq's model card and the checkpoints kept for averaging."""

from __future__ import annotations

from pathlib import Path

from transformers import Seq2SeqTrainer
from transformers.trainer_utils import get_last_checkpoint

from ..modeling.hooks import installed_trainer_card
from .callbacks import TrainingClock
from .processes import check_one_model
from .resume import minutes_spent


class AttnseqTrainer(Seq2SeqTrainer):
    """`Seq2SeqTrainer` whose model card (also the one `push_to_hub` uploads) is attnseq's card, whose evaluation
    scores each row once, and whose log says the minutes since training began on the run's one `clock` (the clock
    the time budget reads; a resumed run's counts on from the minutes its checkpoint logged). Under checkpoint
    averaging (a `CheckpointAveraging` callback) it keeps the checkpoints the average needs whatever
    `save_total_limit` says.

    Under a launcher of several processes it refuses arguments that leave every process training a model of its own
    (`attnseq.training.processes.check_one_model`: on the CPU they need `use_cpu=True`)."""

    def __init__(self, *args, clock: TrainingClock | None = None, **kwargs):
        self.clock = clock if clock is not None else TrainingClock()
        super().__init__(*args, **kwargs)
        check_one_model(self.args.world_size)

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None, **gen_kwargs):
        """`Seq2SeqTrainer.prediction_step`, keeping each row's summed token loss and token count (see
        `evaluation_loop`). (The generation defaults it fills into the model's generation config are the model's
        concern: `attnseq.configuration.generation`.)"""
        captured = {}

        def keep_logits(module, args, kwargs, output):
            if kwargs.get("labels") is not None and getattr(output, "logits", None) is not None:
                captured["logits"], captured["labels"] = output.logits, kwargs["labels"]

        hook = self.model.register_forward_hook(keep_logits, with_kwargs=True)
        try:
            result = super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys, **gen_kwargs)
        finally:
            hook.remove()
        rows = getattr(self, "_row_losses", None)
        if rows is not None and "logits" in captured:
            row_loss = token_losses_per_row(captured["logits"], captured["labels"], self.args.label_smoothing_factor)
            rows.append(self.accelerator.gather_for_metrics(row_loss).detach().cpu())
        return result

    def _get_eval_sampler(self, eval_dataset):
        """Evaluation reads its rows in order, whatever `train_sampling_strategy` says: the evaluation and test sets
        are already sorted by length, and predictions must come back in that order to be matched with their rows
        (transformers' `group_by_length` also shuffles evaluation batches).

        With several processes accelerate hands out the batches of this order in turn (batch i to process
        i mod N), so gathering them step by step gives the rows back in order (see `evaluation_loop`).
        """
        if eval_dataset is None or not hasattr(eval_dataset, "__len__"):
            return super()._get_eval_sampler(eval_dataset)
        from torch.utils.data import SequentialSampler

        return SequentialSampler(eval_dataset)

    def evaluation_loop(self, *args, **kwargs):
        """Transformers' evaluation loop, gathering predictions, labels and losses with `gather_for_metrics`.

        `Seq2SeqTrainer.evaluate`/`predict` switch the gathering to `accelerator.gather`, which keeps the rows that
        the last, uneven batches repeat to give every process a full share: with N processes a set of R rows came
        back as up to R + N * batch_size - 1 rows, some scored twice. `gather_for_metrics` drops the repeats, so
        every figure is computed on each row exactly once, in order, with one process or many.

        The loss is likewise each row's once: the mean over every target token of the set (transformers averages
        batch means, into which the repeated rows of the last batches enter).
        """
        import torch

        self.gather_function = self.accelerator.gather_for_metrics
        self._row_losses = []
        try:
            output = super().evaluation_loop(*args, **kwargs)
        finally:
            rows, self._row_losses = self._row_losses, None
        prefix = kwargs.get("metric_key_prefix", args[4] if len(args) > 4 else "eval")
        if rows and f"{prefix}_loss" in output.metrics:
            sums, counts = torch.cat(rows).double().sum(0)  # (2,): summed loss, token count
            output.metrics[f"{prefix}_loss"] = (sums / counts.clamp(min=1)).item()
        return output

    @property
    def checkpoint_averaging(self):
        """The run's `CheckpointAveraging` callback (`--average_last`/`--average_best`), or None."""
        from .averaging import CheckpointAveraging

        found = [cb for cb in self.callback_handler.callbacks if isinstance(cb, CheckpointAveraging)]
        return found[0] if found else None

    def _save_checkpoint(self, model, trial) -> None:
        """Save a checkpoint as the Trainer does; under checkpoint averaging (where `train` hands the Trainer no
        `save_total_limit`), old checkpoints are then removed down to that limit, but not the ones the average is
        made of, the best or the newest."""
        super()._save_checkpoint(model, trial)
        averaging = self.checkpoint_averaging
        if averaging is None or not self.args.should_save:
            return
        from .averaging import checkpoint_folders, rotate_checkpoints

        run_dir = self._get_output_dir(trial=trial)
        keep = set(averaging.chosen(checkpoint_folders(run_dir), self.args, self.state))
        if self.state.best_model_checkpoint is not None:
            keep.add(Path(self.state.best_model_checkpoint))
        rotate_checkpoints(run_dir, averaging.save_total_limit, keep)

    def train(self, resume_from_checkpoint: str | bool | None = None, *args, **kwargs):
        checkpoint = resume_from_checkpoint
        if checkpoint is True:  # the Trainer's own meaning: the newest checkpoint in output_dir
            checkpoint = get_last_checkpoint(self.args.output_dir)
        self.clock.start(minutes_spent(checkpoint) if isinstance(checkpoint, str) else 0.0)
        averaging = self.checkpoint_averaging
        limit = self.args.save_total_limit
        if averaging is not None:
            # The Trainer's own removals (after each save, and of all but the best at the end of a run with a limit
            # of 1) know nothing of the checkpoints to average: `_save_checkpoint` applies the limit instead.
            averaging.save_total_limit = limit
            self.args.save_total_limit = None
        try:
            return super().train(resume_from_checkpoint, *args, **kwargs)
        finally:
            self.args.save_total_limit = limit

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        """Every log line (and `trainer_state.json`'s log history) also says how many minutes of wall-clock time have
        passed since training began, so that a curve of validation BLEU against training time can be read off."""
        minutes = self.clock.minutes()
        if minutes is not None and self.state.global_step:
            logs = {**logs, "minutes": round(minutes, 2)}
        super().log(logs, *args, **kwargs)

    def create_model_card(self, **kwargs) -> None:
        """attnseq's card (the hook `attnseq/__init__.py` installs), else transformers' Trainer card."""
        write_card = installed_trainer_card()
        if write_card is None:
            return super().create_model_card(**kwargs)
        if self.is_world_process_zero():
            write_card(self, **_card_arguments(kwargs))


def token_losses_per_row(logits, labels, label_smoothing: float = 0.0):
    """Each row's summed cross-entropy over its target tokens and its token count, `(batch, 2)`, from `logits`
    `(batch, length, vocab)` and `labels` `(batch, length)` padded with -100 (`label_smoothing` as the Trainer's
    `label_smoothing_factor`)."""
    import torch
    import torch.nn.functional as F

    losses = F.cross_entropy(
        logits.float().transpose(1, 2), labels, ignore_index=-100, reduction="none", label_smoothing=label_smoothing
    )
    counts = (labels != -100).sum(-1)
    return torch.stack([losses.sum(-1), counts.to(losses.dtype)], dim=-1)


def _card_arguments(kwargs: dict) -> dict:
    """The arguments of transformers' `create_model_card` that attnseq's card understands."""
    renamed = {"dataset": "dataset", "model_name": "model_name", "license": "license", "language": "language"}
    return {ours: kwargs[theirs] for theirs, ours in renamed.items() if kwargs.get(theirs) is not None}
