"""Fitting temperature, threshold and referral cut-off, and applying them to a checkpoint."""
