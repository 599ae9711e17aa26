"""`attnseq train`: arguments, the Trainer, its callbacks, resumption and the recipe that wires them (the data
they read is `attnseq.data`)."""
