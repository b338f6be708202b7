"""Hypothesis fuzzing: arbitrary bytes into decoding and preprocessing, arbitrary arrays into predict.
Only a result or the project's own error (``PneumoError``) may come out.

Bounded here (``PNEUMO_FUZZ_EXAMPLES``, default 25 examples per test); the long run is its own
command, ``bash scripts/fuzz_long.sh`` (README, Reliability).
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pneumo_runtime.errors import PneumoError
from pneumo_runtime.inputs import load_image
from pneumo_runtime.predictor import Prediction
from pneumo_runtime.preprocess import PreprocessSettings, preprocess

EXAMPLES = int(os.environ.get("PNEUMO_FUZZ_EXAMPLES", "25"))
BOUNDED = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

SIGNATURES = [b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM", b"\x00" * 128 + b"DICM", b"GIF89a", b"II*\x00"]


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@st.composite
def image_like_bytes(draw) -> bytes:
    """Random bytes behind a real signature, or a PNG with a random but well-formed header, so that
    the fuzzing reaches the decoders and not only the format check."""
    if draw(st.booleans()):
        width, height = draw(st.integers(0, 70_000)), draw(st.integers(0, 70_000))
        depth, colour = draw(st.sampled_from([(8, 0), (16, 0), (8, 2), (8, 6), (16, 6), (1, 0), (8, 3)]))
        header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))
        body = png_chunk(b"IDAT", zlib.compress(draw(st.binary(max_size=4096))))
        return b"\x89PNG\r\n\x1a\n" + header + body + png_chunk(b"IEND", b"")
    return draw(st.sampled_from(SIGNATURES)) + draw(st.binary(max_size=4096))


def only_ours(call):
    try:
        return call()
    except PneumoError as error:
        assert str(error) and "\n" not in str(error)
        return error


@BOUNDED
@given(st.binary(max_size=8192))
def test_arbitrary_bytes_decode_or_raise_our_error(data):
    result = only_ours(lambda: load_image(data, max_pixels=4_000_000))
    if not isinstance(result, PneumoError):
        assert result.gray.dtype == np.uint8 and result.gray.ndim == 2


@BOUNDED
@given(image_like_bytes())
def test_bytes_with_image_signatures_decode_and_preprocess_or_raise_our_error(data):
    contract = PreprocessSettings(input_size=64)
    loaded = only_ours(lambda: load_image(data, max_pixels=4_000_000))
    if not isinstance(loaded, PneumoError):
        out = preprocess(loaded.gray, contract)
        assert out.shape == (3, 64, 64) and np.isfinite(out).all()


ARRAYS = hnp.arrays(
    dtype=st.sampled_from([np.uint8, np.uint16, np.int16, np.int32, np.float32, np.float64, np.bool_, np.complex64]),
    shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=96),
    elements=None,
)


@pytest.fixture(scope="module")
def tiny_predictor(tiny_model):
    from pneumo_runtime.predictor import Predictor

    return Predictor(tiny_model, threads=1)


@pytest.mark.filterwarnings("error::RuntimeWarning")  # an overflow is a wrong image, not only noise
@BOUNDED
@given(array=ARRAYS)
def test_arbitrary_arrays_predict_or_raise_our_error(tiny_predictor, array):
    result = only_ours(lambda: tiny_predictor.predict(array))
    if isinstance(result, Prediction):
        assert result.decision in ("NORMAL", "PNEUMONIA", "REFER", "REJECTED")
        assert all(np.isfinite(p) for p in result.probabilities.values())
