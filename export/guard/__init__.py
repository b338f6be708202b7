"""Fitting and measuring the runtime's input guard (``pneumo_runtime/guard.py``, ``film_layout.py``).

``feature_fit.py`` fits the feature-distance guard stored in a model's contract at export;
``layout_fit.py`` fits the frontal-film layout template shipped with the runtime; ``rates.py`` and
``refusals.py`` measure what the guard refuses, on real films and on images that are not X-rays.
"""
