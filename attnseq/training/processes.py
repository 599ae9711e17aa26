"""Several processes, one model: what a launch must say for N processes to train one model with DDP, and the checks
that refuse a launch that would train one model per process instead.

On a machine with an accelerator, `torchrun` and `accelerate launch --multi_gpu` start N processes that join one
DDP group (nccl). Without one, transformers joins them (over gloo) only when told to use the CPU
(`use_cpu=True` or `ACCELERATE_USE_CPU`); otherwise every process trains a model of its own on the whole data set,
and all of them write the same output folder. `accelerate launch --cpu` starts a single
process whatever `--num_processes` says, unless `--mpirun_hostfile` hands the processes to MPI.
"""

from __future__ import annotations

import os

# the variables through which torchrun/accelerate (WORLD_SIZE) and the MPI launchers say how many processes they started
WORLD_SIZE_VARIABLES = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


def launched_processes() -> int:
    """How many processes the launcher started (1 without a launcher)."""
    for name in WORLD_SIZE_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value.isdigit():
            return int(value)
    return 1


def use_cpu_processes_without_accelerator() -> None:
    """Several processes on a machine without an accelerator train with DDP over gloo on the CPU.

    `torchrun --nproc_per_node N` or `accelerate launch --multi_gpu --num_processes N` starts the processes;
    accelerate chooses its multi-CPU mode only when told to use the CPU, which is said here (before transformers
    reads it when the training arguments set up their device).
    """
    import torch

    if launched_processes() > 1 and not torch.cuda.is_available():
        os.environ.setdefault("ACCELERATE_USE_CPU", "true")


def check_launch() -> None:
    """Refuse `accelerate launch --cpu --num_processes N` (N > 1) without MPI, which started this one process only.

    That launcher runs the script once, with `MASTER_ADDR` set (it does so only for several processes or machines)
    but no `WORLD_SIZE`; training on would silently train one process's model. `ValueError` saying what to run.
    """
    launched_by_accelerate = "ACCELERATE_DYNAMO_BACKEND" in os.environ  # set by every `accelerate launch`
    uses_cpu = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
    if not (launched_by_accelerate and uses_cpu and "MASTER_ADDR" in os.environ) or launched_processes() > 1:
        return
    raise ValueError(
        "`accelerate launch --cpu` with --num_processes N > 1 (or --num_machines > 1) started this one process only: "
        "accelerate's CPU launcher runs the script once unless --mpirun_hostfile hands it to MPI. To train one model "
        "on N CPU processes (DDP over gloo) run `accelerate launch --multi_gpu --num_processes N -m attnseq train ...` "
        "(without --cpu: on a machine without GPUs attnseq trains on the CPU) or `torchrun --nproc_per_node N -m "
        "attnseq train ...`; for one process, drop --num_processes."
    )


def check_one_model(world_size: int) -> None:
    """Refuse to train when the launcher started several processes but the Trainer's arguments see only their own
    (`world_size`, `TrainingArguments.world_size`, is 1): each process would train a model of its own and all of them
    would write the same folder. On the CPU the arguments need `use_cpu=True` (or `ACCELERATE_USE_CPU=true` in the
    environment). `ValueError` saying so."""
    launched = launched_processes()
    if launched > 1 and world_size == 1:
        raise ValueError(
            f"the launcher started {launched} processes but the training arguments see 1 (world_size 1): each process "
            "would train its own model and write the same output folder. Without a GPU, pass use_cpu=True to "
            "Seq2SeqTrainingArguments (or set ACCELERATE_USE_CPU=true) so that the processes train one model with "
            "DDP over gloo."
        )
