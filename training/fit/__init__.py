"""Training a model: the trainer, optimisers and schedules, losses, transfer strategies, cross-validation, the pneumo-train CLI."""
