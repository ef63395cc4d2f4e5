"""Where a sound is over time: fixed directions and movements described in words.

Both binaural backends (the spherical head and measured HRTFs) render a
:class:`Trajectory`: azimuth and elevation in degrees (0 front, +90 right, -90
left, 180 behind; elevation +90 above) plus a gain, sampled at any time in
seconds. Words such as "left to right", "circling around me twice", "back and
forth" or "flying overhead" become trajectories here, so the meaning of a motion
does not depend on which renderer runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from audiogpt.models.base import BadInput

UNDERSTOOD = ("'left to right' (or any two of left, right, front, back, above, below), 'circling around' "
              "(clockwise/anticlockwise, N times), 'back and forth', 'flying overhead', 'approaching' or 'moving away'")

_NUMBERS = {"once": 1, "one": 1, "twice": 2, "two": 2, "thrice": 3, "three": 3, "four": 4, "five": 5,
            "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}

# direction words -> (azimuth, elevation); None keeps the other coordinate
_DIRS: list[tuple[str, tuple[float | None, float | None]]] = [
    (r"front[\s-]*left|left[\s-]*front", (-45.0, None)),
    (r"front[\s-]*right|right[\s-]*front", (45.0, None)),
    (r"(?:back|rear|behind)[\s-]*left|left[\s-]*(?:back|rear)", (-135.0, None)),
    (r"(?:back|rear|behind)[\s-]*right|right[\s-]*(?:back|rear)", (135.0, None)),
    (r"left", (-90.0, None)),
    (r"right", (90.0, None)),
    (r"front|ahead|forward", (0.0, None)),
    (r"back|behind|rear", (180.0, None)),
    (r"above|overhead|up|top", (None, 60.0)),
    (r"below|beneath|under|down|bottom", (None, -40.0)),
]
_DIR_RE = "|".join(f"(?:{p})" for p, _v in _DIRS)


@dataclass
class Trajectory:
    """Key points (normalised time 0..1, azimuth, elevation, gain) interpolated linearly.

    Azimuths are unwrapped (they may run past +-180) so interpolation follows the path asked for.
    """

    points: list[tuple[float, float, float, float]]
    summary: str
    moving: bool = False
    notes: list[str] = field(default_factory=list)

    def at(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(azimuth, elevation, gain)`` at normalised times ``u`` (0..1)."""
        pts = np.array(self.points, dtype=np.float64)
        u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
        az = np.interp(u, pts[:, 0], pts[:, 1])
        el = np.interp(u, pts[:, 0], pts[:, 2])
        gain = np.interp(u, pts[:, 0], pts[:, 3])
        return (az + 180.0) % 360.0 - 180.0, el, gain


def where_clause(traj: Trajectory) -> str:
    """'the sound is placed 30° to the left, at ear level' / 'the sound is moving ...' / the default's note."""
    if traj.summary.startswith("no direction"):
        return traj.summary
    return f"the sound is {traj.summary}" if traj.moving else f"the sound is placed {traj.summary}"


def _dir(word: str) -> tuple[float | None, float | None]:
    for pat, val in _DIRS:
        if re.fullmatch(rf"(?:{pat})", word.strip()):
            return val
    return None, None


def _side(az: float) -> str:
    a = (az + 180.0) % 360.0 - 180.0
    if abs(a) < 1:
        return "in front"
    if abs(abs(a) - 180) < 1:
        return "behind"
    side = "right" if a > 0 else "left"
    return f"{abs(a):.0f}° to the {side}"


def _place(az: float) -> str:
    """'the left', 'the front', '45° to the right'."""
    a = (az + 180.0) % 360.0 - 180.0
    named = {0: "the front", 90: "the right", -90: "the left", 180: "behind", -180: "behind"}
    return named.get(round(a), _side(a)) if abs(a - round(a)) < 1e-6 else _side(a)


def _elev(el: float) -> str:
    if abs(el) < 1:
        return "at ear level"
    return f"{abs(el):.0f}° {'above' if el > 0 else 'below'} ear level"


def describe_fixed(az: float, el: float) -> str:
    return f"{_side(az)}, {_elev(el)}"


def _count(text: str, default: int) -> int:
    m = re.search(r"\b(\d+|once|one|twice|two|thrice|three|four|five|six|seven|eight|nine|ten)\b"
                  r"(?:\s+(?:times?|turns?|circles?|rotations?|laps?|loops?|revolutions?))?", text)
    if not m:
        return default
    if m.group(1) in ("once", "twice", "thrice") or re.search(r"times?|turns?|circles?|rotations?|laps?|loops?|revol",
                                                               text[m.end(1) : m.end(1) + 14]):
        n = int(m.group(1)) if m.group(1).isdigit() else _NUMBERS[m.group(1)]
        return max(1, min(n, 50))
    return default


def parse_motion(motion: str | None, azimuth: float | None, elevation: float | None,
                 duration: float) -> Trajectory:
    """A trajectory from the tool's arguments, or :class:`BadInput` naming what is understood."""
    el0 = float(elevation) if elevation is not None else 0.0
    if not motion or not motion.strip():
        if azimuth is None and elevation is None:
            turns = max(1, round(duration / 8.0))
            return Trajectory([(0.0, 0.0, 0.0, 1.0), (1.0, 360.0 * turns, 0.0, 1.0)],
                              f"no direction was given, so the sound circles {_times(turns)} around the listener "
                              "(clockwise from the front)", moving=True)
        az = float(azimuth) if azimuth is not None else 0.0
        return Trajectory([(0.0, az, el0, 1.0), (1.0, az, el0, 1.0)], describe_fixed(az, el0))
    text = motion.lower().strip()
    az0 = float(azimuth) if azimuth is not None else 0.0

    if re.search(r"circl|orbit|around|spin|rotat|\b8d\b|\bround\b|revolv", text):
        turns = _count(text, max(1, round(duration / 5.0)))
        sign = -1.0 if re.search(r"counter|anti|\bccw\b|leftward", text) else 1.0
        way = "anticlockwise" if sign < 0 else "clockwise"
        return Trajectory([(0.0, az0, el0, 1.0), (1.0, az0 + sign * 360.0 * turns, el0, 1.0)],
                          f"circling {_times(turns)} around the listener ({way} seen from above, starting "
                          f"{_side(az0)}), {_elev(el0)}", moving=True)
    if re.search(r"back and forth|to and fro|side to side|ping[\s-]*pong|left and right|sway|swing", text):
        cycles = _count(text, max(1, round(duration / 3.0)))
        pts = []
        for i in range(2 * cycles + 1):
            pts.append((i / (2 * cycles), -90.0 if i % 2 == 0 else 90.0, el0, 1.0))
        return Trajectory(pts, f"swinging between left and right {_times(cycles)}, {_elev(el0)}", moving=True)
    if re.search(r"overhead|over (?:my|your|the) head|fly(?:ing)? over|flyover|over me", text):
        return Trajectory([(0.0, 0.0, 0.0, 1.0), (0.5, 0.0, 88.0, 1.0), (0.5001, 180.0, 88.0, 1.0),
                           (1.0, 180.0, 0.0, 1.0)],
                          "flying from the front over the listener's head to behind", moving=True)
    if re.search(r"approach|closer|coming (?:in|toward|towards)|nearer|come to me", text):
        return Trajectory([(0.0, az0, el0, 0.2), (1.0, az0, el0, 1.0)],
                          f"approaching from {_side(az0)}, {_elev(el0)} (level rising 14 dB)", moving=True,
                          notes=["distance is rendered as level only"])
    if re.search(r"away|receding|recede|further|farther|leaving|fade out|fading", text):
        return Trajectory([(0.0, az0, el0, 1.0), (1.0, az0, el0, 0.2)],
                          f"moving away {_side(az0)}, {_elev(el0)} (level falling 14 dB)", moving=True,
                          notes=["distance is rendered as level only"])
    m = re.search(rf"(?:from\s+)?(?:the\s+)?({_DIR_RE})\s+(?:side\s+)?(?:to|towards?|into|->|-)\s+(?:the\s+)?({_DIR_RE})",
                  text)
    if m:
        a1, e1 = _dir(m.group(1))
        a2, e2 = _dir(m.group(2))
        start_az = a1 if a1 is not None else az0
        end_az = a2 if a2 is not None else start_az
        start_el = e1 if e1 is not None else el0
        end_el = e2 if e2 is not None else el0
        behind = bool(re.search(r"behind|\bback of\b|\bvia (?:the )?back|\brear\b", text)) and 180.0 not in (a1, a2)
        end_az = _path_end(start_az, end_az, via_back=behind)
        via = ", passing behind" if behind else ""
        if start_el == end_el:
            summary = f"moving from {_place(start_az)} to {_place(end_az)}{via}, {_elev(start_el)}"
        else:
            summary = (f"moving from {describe_fixed(start_az, start_el)} to "
                       f"{describe_fixed(end_az, end_el)}{via}")
        return Trajectory([(0.0, start_az, start_el, 1.0), (1.0, end_az, end_el, 1.0)], summary, moving=True)
    if re.search(r"pass(?:es|ing)? by|fly(?:ing)? by|flyby|drive by|passing", text):
        return Trajectory([(0.0, -90.0, el0, 1.0), (1.0, 90.0, el0, 1.0)],
                          f"passing by in front from left to right, {_elev(el0)}", moving=True)
    a, e = _dir(text.replace("the ", "").replace("to ", "").strip())
    if a is not None or e is not None:
        az = a if a is not None else az0
        el = e if e is not None else el0
        return Trajectory([(0.0, az, el, 1.0), (1.0, az, el, 1.0)], describe_fixed(az, el))
    raise BadInput(f"I did not understand the movement '{motion}'; I understand {UNDERSTOOD}.")


def _path_end(start: float, end: float, via_back: bool) -> float:
    """Unwrapped end azimuth: the shorter arc, through the front on a tie unless ``via_back``."""
    delta = (end - start + 180.0) % 360.0 - 180.0  # in [-180, 180)
    mid = (start + delta / 2 + 180.0) % 360.0 - 180.0
    in_front = abs(mid) < 90.0
    if abs(abs(delta) - 180.0) < 1e-6:  # left <-> right: both arcs are as long
        if in_front == via_back:
            delta = -delta
    elif via_back and in_front:  # the short arc passes in front: go the long way round
        delta -= 360.0 * float(np.sign(delta))
    return start + delta


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")
