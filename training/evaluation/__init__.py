"""Prediction sources, metrics with intervals, uncertainty, explanation statistics, the report and the pneumo-evaluate CLI."""
