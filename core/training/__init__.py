"""Training: corpus loading, the training loop with callbacks, checkpoints, command line."""
