"""Is this a frontal chest film, and is it a positive? One template answers both.

At 8 x 8 pixels every frontal chest film looks alike: dark lungs either side of a bright
mediastinum and spine, bright shoulders and abdomen. The mean of the training films at that size is
the template (``film_layout.json``, made by ``python -m pneumo.export.guard.layout_fit``). A film's
layout correlation is the Pearson correlation of its own 8 x 8 thumbnail with the template:

- real frontal films correlate strongly (0.38 and up on every Kermany training film);
- a negative (inverted) film anti-correlates just as strongly, because inversion flips the sign of
  every deviation from the mean: negatives are recognised without a single negative to learn from;
- a film turned by 90, 180 or 270 degrees correlates with the template turned the same way;
- a lateral view, a crop or another body part correlates weakly with every one of them.

A film that correlates with the upright template passes. Any other is refused, and the turned or
inverted template it matches best says why.

The template belongs to the kind of film, not to a model, so it ships once, with the runtime.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import cv2
import numpy as np

LAYOUT_SIDE = 8  # px: only the coarse layout of the anatomy counts
# A refusal names a negative or a turned film only when the film matches that template clearly
# (every inverted or turned official test film does, at 0.33 and up); a weaker match is only
# "unlike a frontal film", since a wrong explanation would send the user to fix the wrong thing.
NAMING_MARGIN = 1.2
TEMPLATE_FILE = "film_layout.json"


def layout_thumbnail(prepared: np.ndarray) -> np.ndarray:
    """uint8 (S, S) prepared image -> float64 (64,): the 8 x 8 thumbnail, centred, unit length."""
    thumb = cv2.resize(prepared, (LAYOUT_SIDE, LAYOUT_SIDE), interpolation=cv2.INTER_AREA).astype(np.float64).ravel()
    thumb -= thumb.mean()
    norm = float(np.linalg.norm(thumb))
    return thumb / norm if norm > 0 else thumb


@lru_cache(maxsize=1)
def film_layout() -> dict:
    """The template and its cut-off, as fitted: {"template": [64 floats], "min_correlation": c, ...}."""
    return json.loads((resources.files("pneumo_runtime") / TEMPLATE_FILE).read_text())


@lru_cache(maxsize=1)
def turned_templates() -> np.ndarray:
    """(4, 64): the template turned by 0, 90, 180 and 270 degrees (counter-clockwise), built once."""
    template = np.asarray(film_layout()["template"], np.float64).reshape(LAYOUT_SIDE, LAYOUT_SIDE)
    turned = np.stack([np.rot90(template, quarter).ravel() for quarter in range(4)])
    turned.flags.writeable = False  # cached and shared
    return turned


def layout_correlations(prepared: np.ndarray) -> np.ndarray:
    """Correlations with the template turned by 0, 90, 180 and 270 degrees (counter-clockwise)."""
    return turned_templates() @ layout_thumbnail(prepared)


def _best_match(prepared: np.ndarray) -> tuple[float, np.ndarray, int, float]:
    """(cut-off, the four correlations, the best-matching quarter turn, its correlation)."""
    correlations = layout_correlations(prepared)
    quarter = int(np.abs(correlations).argmax())
    return float(film_layout()["min_correlation"]), correlations, quarter, float(correlations[quarter])


def named_fault(prepared: np.ndarray) -> tuple[int, bool] | None:
    """(quarter turns counter-clockwise, negative) when the refusal names a turned or negative film,
    else None: the film is upright and positive, or only "unlike a frontal film"."""
    cutoff, correlations, quarter, best = _best_match(prepared)
    if correlations[0] >= cutoff or abs(best) < cutoff * NAMING_MARGIN:
        return None
    return quarter, best < 0


def undo_fault(prepared: np.ndarray, quarter: int, negative: bool) -> np.ndarray:
    """The film as it would be upright and positive, if the named fault is the real one."""
    upright = np.ascontiguousarray(np.rot90(prepared, -quarter))
    return 255 - upright if negative else upright


def layout_refusal(prepared: np.ndarray) -> str | None:
    """A reason to reject, or None for a film laid out like an upright, positive frontal chest X-ray."""
    cutoff, correlations, quarter, best = _best_match(prepared)
    if correlations[0] >= cutoff:
        return None
    turned = f", turned by {90 * quarter} degrees counter-clockwise" if quarter else ""
    if abs(best) < cutoff * NAMING_MARGIN:
        return (f"not a frontal chest film: its layout is unlike a frontal chest X-ray (correlation {correlations[0]:.2f} < {cutoff:.2f}; "
                "a lateral view, a crop or another body part?)")
    if best < 0:
        return (f"negative (inverted) film{turned}: dark and bright are swapped (layout correlation {best:.2f}); "
                "submit the positive image, or a DICOM whose Photometric Interpretation says MONOCHROME1")
    return f"film turned by {90 * quarter} degrees counter-clockwise (layout correlation {best:.2f}): submit it upright"
