"""Analyses of trained models (corner reliance, ablations): research, not the product path."""
