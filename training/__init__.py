"""pneumo.training: datasets, models, losses and the ``pneumo-train`` command (torch side)."""
