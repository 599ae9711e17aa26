"""Training and data: built-in tasks, readers, tokenization pipeline, metrics, trainer and command line."""
