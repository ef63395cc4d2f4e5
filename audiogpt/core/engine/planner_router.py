"""Route a request segment to a tool (or to chat / unsupported) by embedding similarity.

Why nearest exemplars instead of nearest description: a description is one
phrasing; users come from many angles ("what is he saying", "type up my voice
note", "I need the minutes as text"). Each class is scored by its closest
exemplars (max blended with the mean of the top three, so one lucky neighbour
does not win alone). Cheap lexical cues (a quoted text, an attached image, a
language name) nudge scores a little; they never route on their own.

Without the MiniLM package the router falls back to a character n-gram
embedding: worse, but the offline engine still works on a bare install.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from audiogpt.core.engine.planner_args import azimuth, motion, target_language_named
from audiogpt.core.engine.planner_exemplars import EXEMPLARS, NON_TOOL_CLASSES
from audiogpt.core.engine.planner_text import first_verb, set_domain_vocabulary
from audiogpt.core.tools import TOOLS

TOOL_CLASSES = tuple(t.name for t in TOOLS)
# Tools that take words from the user (quoted text is for them).
TEXT_TOOLS = frozenset({"text_to_speech", "style_transfer", "singing_synthesis", "talking_head"})
# Required input kind of each tool that has one.
REQUIRED_KIND = {
    t.name: kind for t in TOOLS for (_, kind, required) in t.args.artifact_fields()[:1] if required
}
VOICE_REF_RE = re.compile(
    r"\b(my|his|her|their|your|this|that|same|the|whose|speaker'?s?|person'?s?|\w+'s)\s+(own\s+)?voice\b"
    r"(?![\s-]*(?:notes?|messages?|memos?|mails?|recordings?|clips?|files?|msgs?|overs?)\b)|"
    r"\bvoice\s+(in|from|of)\b|\bsounds?\s+like\b|\bclon\w*|\bimitat\w*|\bmimic\w*|\blike\s+(me|him|her|them)\b|"
    r"\breference\b|\bin the style\b|\bsame speaker\b|\bthat speaker\b|\bthis speaker\b|\bimpersonat\w*",
    re.I,
)
VERB_WEIGHT = 0.1


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)).astype(np.float32)


class Embedder(Protocol):
    def embed(self, texts: list[str]) -> np.ndarray: ...


class NGramEmbedder:
    """Hashed character n-grams of words: a dependency-free stand-in for MiniLM."""

    dim = 1 << 14

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                w = f"<{word}>"
                grams = [w[j : j + n] for n in (3, 4, 5) for j in range(max(1, len(w) - n + 1))]
                for g in [*grams, "W:" + word]:
                    h = int.from_bytes(hashlib.blake2b(g.encode(), digest_size=4).digest(), "little")
                    out[i, h % self.dim] += 1.0
        out = np.sqrt(out)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)


def default_embedder() -> Embedder:
    """MiniLM when installed, else the n-gram fallback."""
    from audiogpt.models.base import ModelNotInstalled
    from audiogpt.models.text_embedding import get_embedder

    try:
        return get_embedder()
    except ModelNotInstalled:
        return NGramEmbedder()


@dataclass
class Routed:
    """Scores of one segment, best first."""

    ranking: list[tuple[str, float]]

    @property
    def best(self) -> str:
        return self.ranking[0][0]

    @property
    def best_score(self) -> float:
        return self.ranking[0][1]

    def best_tool(self) -> tuple[str, float]:
        return next((c, s) for c, s in self.ranking if c in TOOL_CLASSES)

    def tools(self) -> list[tuple[str, float]]:
        return [(c, s) for c, s in self.ranking if c in TOOL_CLASSES]

    def score(self, cls: str) -> float:
        return dict(self.ranking).get(cls, -1.0)


@dataclass
class Cues:
    """Lexical facts about a segment and its context, used as small score nudges."""

    quoted: bool = False
    image_here: bool = False  # an image is attached this turn or named by id
    audio_here: bool = False  # an audio is attached this turn
    audio_any: bool = True  # some audio exists in the conversation
    image_any: bool = True
    voice_ref: bool = False  # the message names a voice to imitate ("my voice", "like him")


def _cache_dir() -> Path:
    base = os.environ.get("AUDIOGPT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "audiogpt"
    )
    return Path(base)


def _cached_embeddings(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """Exemplar embeddings, kept on disk between runs (start-up drops from ~3 s to ~0.1 s).

    The key covers the texts and the embedder (class and, for MiniLM, the weights file), so
    any change to either recomputes. Any disk problem just means computing them again.
    """
    folder = getattr(embedder, "folder", None)
    if folder is None:  # only the MiniLM model is slow enough to be worth a file
        return np.asarray(embedder.embed(texts), dtype=np.float32)
    h = hashlib.sha256(type(embedder).__name__.encode())
    st = (Path(folder) / "model.safetensors").stat()
    h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    h.update("\x1f".join(texts).encode())
    path = _cache_dir() / f"router-{h.hexdigest()[:24]}.npy"
    try:
        arr = np.load(path)
        if arr.shape[0] == len(texts):
            return arr
    except (OSError, ValueError):
        pass
    arr = np.asarray(embedder.embed(texts), dtype=np.float32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, arr)
        os.replace(tmp, path)
    except OSError:
        pass
    return arr


def _verb_prior(texts: list[str], labels: list[str]) -> dict[str, dict[str, float]]:
    """P(class | request verb) over the exemplars, for verbs seen at least three times."""
    counts: dict[str, dict[str, int]] = {}
    for text, label in zip(texts, labels, strict=True):
        v = first_verb(text.lower())
        if v:
            counts.setdefault(v, {}).setdefault(label, 0)
            counts[v][label] += 1
    prior = {}
    for v, per in counts.items():
        total = sum(per.values())
        if total >= 3:
            prior[v] = {c: n / total for c, n in per.items()}
    return prior


class Router:
    """Scores segments against every class. Build once; ``route`` is thread-safe."""

    def __init__(self, embedder: Embedder | None = None) -> None:
        self._embedder = embedder
        self._lock = threading.Lock()
        self._ready = False
        self.labels: np.ndarray
        self.matrix: np.ndarray
        self.mean: np.ndarray
        self.verb_prior: dict[str, dict[str, float]] = {}
        self.classes: list[str] = [*TOOL_CLASSES, *NON_TOOL_CLASSES]

    def _build(self) -> None:
        with self._lock:
            if self._ready:
                return
            if self._embedder is None:
                self._embedder = default_embedder()
            texts: list[str] = []
            labels: list[int] = []
            for ci, cls in enumerate(self.classes):
                ex = list(EXEMPLARS.get(cls, ()))
                spec = next((t for t in TOOLS if t.name == cls), None)
                if spec is not None:
                    ex += [s.strip() for s in re.split(r"(?<=[.)])\s+", spec.description) if len(s) > 20]
                texts += ex
                labels += [ci] * len(ex)
            raw = _cached_embeddings(self._embedder, texts)
            # Centre on the exemplar mean: MiniLM vectors share a large common direction, and
            # removing it spreads the similarities (wider margins between neighbouring tools).
            self.mean = raw.mean(axis=0)
            self.matrix = _unit(raw - self.mean)
            self.labels = np.asarray(labels)
            self.verb_prior = _verb_prior(texts, [self.classes[i] for i in labels])
            vocab = {w for t in texts for w in re.findall(r"[a-z]+", t.lower())}
            vocab |= {w for t in TOOLS for w in re.findall(r"[a-z]+", t.description.lower())}
            set_domain_vocabulary(vocab)
            self._ready = True

    def warm(self) -> None:
        """Load the embedder and embed the exemplars now (else on first use)."""
        self._build()

    def embed(self, texts: list[str]) -> np.ndarray:
        self._build()
        assert self._embedder is not None
        return self._embedder.embed(texts)

    def route_many(self, texts: list[str], cues: list[Cues] | None = None) -> list[Routed]:
        if not texts:
            return []
        self._build()
        vecs = _unit(self.embed(texts) - self.mean)
        sims = vecs @ self.matrix.T  # (n, E)
        out: list[Routed] = []
        for i, text in enumerate(texts):
            scores = self._class_scores(sims[i])
            if cues is not None:
                self._nudge(scores, text, cues[i])
            ranking = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
            out.append(Routed(ranking))
        return out

    def route(self, text: str, cues: Cues | None = None) -> Routed:
        return self.route_many([text], [cues] if cues else None)[0]

    def _class_scores(self, sim: np.ndarray) -> dict[str, float]:
        scores: dict[str, float] = {}
        for ci, cls in enumerate(self.classes):
            s = np.sort(sim[self.labels == ci])[::-1]
            if s.size == 0:
                continue
            top = s[:3]
            scores[cls] = float(0.6 * top[0] + 0.4 * top.mean())
        return scores

    def _nudge(self, scores: dict[str, float], text: str, cues: Cues) -> None:
        """Small, explainable adjustments from facts the embedding does not see well."""

        def add(cls: str, v: float) -> None:
            if cls in scores:
                scores[cls] += v

        t = text.lower()
        # The request verb, weighted by how the exemplars use it ("separate" -> separation).
        verb = first_verb(t)
        dist = self.verb_prior.get(verb or "")
        if dist:
            for cls, share in dist.items():
                add(cls, VERB_WEIGHT * share)
        # Quoted words are text to use verbatim: a text-taking tool is meant.
        if cues.quoted:
            for cls in TOOL_CLASSES:
                add(cls, 0.04 if cls in TEXT_TOOLS else -0.04)
        if cues.image_here:
            add("image_to_audio", 0.06)
            add("talking_head", 0.06)
        # A tool whose required input does not exist anywhere is less likely meant.
        for cls, kind in REQUIRED_KIND.items():
            if cls == "talking_head":  # can speak given text first
                continue
            if (kind == "audio" and not cues.audio_any) or (kind == "image" and not cues.image_any):
                add(cls, -0.08)
        if cues.audio_here:  # with a recording attached, pure generators are less likely
            for cls in ("text_to_audio", "text_to_music", "singing_synthesis"):
                add(cls, -0.03)
        if not (VOICE_REF_RE.search(t) or cues.voice_ref):  # voice cloning names whose voice to use
            add("style_transfer", -0.05)
        elif cues.audio_any:
            add("style_transfer", 0.04)
        if re.search(r"\b(sing|sings|sung|singing|lyrics)\b", t):
            add("singing_synthesis", 0.03)
        if re.search(r"\b(spoken|aloud|out loud|pronounce|pronounced|read (?:out|it|this|the))\b", t):
            add("text_to_speech", 0.03)
        if target_language_named(text):
            add("speech_translation", 0.03)
        elif not re.search(r"\b(translat\w*|interpret\w*|dub\w*|subtitles?|foreign)\b", t):
            add("speech_translation", -0.05)  # a translation names a language or says 'translate'
        # Word order the embedding blurs: "speech to text" is the opposite of "text to speech".
        if re.search(r"\b(speech|voice|audio)[\s-]+(to|into)[\s-]+(text|words|writing)\b|\bstt\b", t):
            add("speech_recognition", 0.06)
        if re.search(r"\btext[\s-]+(to|into)[\s-]+(speech|voice|audio)\b|\btts\b", t):
            add("text_to_speech", 0.06)
        # Where a sound sits or how it moves around the listener is what binaural rendering sets.
        if re.search(r"\b(?:binaural|3d|8d|spatiali[sz]\w*|spatial|surround|immersive)\b", t):
            add("mono_to_binaural", 0.06)
        elif motion(t) or azimuth(t) is not None:
            add("mono_to_binaural", 0.07)
        # Captioning is "describe"; the event tagger is about lists and times.
        if re.search(r"\b(describe|description|caption|summari[sz]e)\b", t):
            add("audio_to_text", 0.12)
