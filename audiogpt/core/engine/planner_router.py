"""Route a request segment to a tool (or to chat / unsupported) with a learned classifier.

Why a classifier (``intent_model``) and not nearest exemplars plus hand nudges per pair:
users come from many angles ("what is he saying", "type up my voice note", "Transkribiere
das"), and the decision between neighbouring tools has to weigh every exemplar, not the one
that shares a noun. The classes, their exemplars and their descriptions all come from the
catalogue (tools) and from ``planner_exemplars`` (chat and unsupported), so a new tool is
routed as soon as its catalogue entry exists. Cheap facts the text alone cannot carry (is
there an audio file at all? is a text quoted?) adjust the probabilities a little, stated
in terms of catalogue fields, never of tool names.

Without the MiniLM package the English view falls back to a character n-gram embedding;
without the multilingual encoder both views use what is there.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from audiogpt.core.engine import intent_model as IM
from audiogpt.core.engine import planner_args as A
from audiogpt.core.engine.planner_exemplars import EXEMPLARS, NON_TOOL_CLASSES, RECORDINGS, SOUNDS
from audiogpt.core.engine.planner_lang import is_english
from audiogpt.core.engine.planner_text import routing_text, set_domain_vocabulary
from audiogpt.core.tools import TOOLS, ToolSpec


class _ToolNames:
    """The catalogue's tool names, live (a tool registered at run time is one at once)."""

    def __contains__(self, name: object) -> bool:
        return name in TOOLS

    def __iter__(self) -> Iterator[str]:
        return iter(TOOLS.names())


class _RequiredKind:
    """Tool name -> kind of its first required artifact (``None``: it needs no file)."""

    def get(self, name: str, default: str | None = None) -> str | None:
        return TOOLS.get(name).main_input if name in TOOLS else default

    def items(self) -> list[tuple[str, str]]:
        return [(t.name, t.main_input) for t in TOOLS if t.main_input]


TOOL_CLASSES = _ToolNames()
REQUIRED_KIND = _RequiredKind()


def takes_text(name: str) -> bool:
    return name in TOOLS and TOOLS.get(name).takes_text


def has_role(name: str, role: str) -> bool:
    return name in TOOLS and role in TOOLS.get(name).roles


def tool_for(role: str) -> str:
    """Name of the tool that plays ``role`` ('' when this deployment has none)."""
    spec = TOOLS.with_role(role)
    return spec.name if spec else ""


VOICE_REF_RE = re.compile(
    r"\b(my|his|her|their|your|this|that|same|the|whose|speaker'?s?|person'?s?|\w+'s)\s+(own\s+)?voice\b"
    r"(?![\s-]*(?:notes?|messages?|memos?|mails?|recordings?|clips?|files?|msgs?|overs?)\b)|"
    r"\bvoice\s+(in|from|of)\b|\bsounds?\s+like\b|\bclon\w*|\bimitat\w*|\bmimic\w*|\blike\s+(me|him|her|them)\b|"
    r"\breference\b|\bin the style\b|\bsame speaker\b|\bthat speaker\b|\bthis speaker\b|\bimpersonat\w*",
    re.I,
)
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
    image_named: bool = False  # the message talks about a picture ("this photo", "the image", an image id)


def _cache_dir() -> Path:
    base = os.environ.get("AUDIOGPT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "audiogpt"
    )
    return Path(base)


def _cached_embeddings(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """Exemplar embeddings, kept on disk between runs and filled in text by text.

    One file per embedder (class and, for MiniLM, the weights file's size and time) maps each
    text to its vector, so a new catalogue entry embeds only its own exemplars. Any disk
    problem just means computing them again.
    """
    folder = getattr(embedder, "folder", None)
    if folder is None:  # only the MiniLM model is slow enough to be worth a file
        return np.asarray(embedder.embed(texts), dtype=np.float32)
    h = hashlib.sha256(type(embedder).__name__.encode())
    st = (Path(folder) / "model.safetensors").stat()
    h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    path = _cache_dir() / f"router-emb-{h.hexdigest()[:20]}.npz"
    known: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as z:
            known = dict(zip(z["texts"].tolist(), z["vectors"], strict=True))
    except (OSError, ValueError, KeyError):
        pass
    todo = list(dict.fromkeys(t for t in texts if t not in known))
    if todo:
        for t, v in zip(todo, np.asarray(embedder.embed(todo), dtype=np.float32), strict=True):
            known[t] = v
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
            keys = list(known)
            np.savez(tmp, texts=np.asarray(keys), vectors=np.stack([known[k] for k in keys]))
            os.replace(tmp, path)
        except OSError:
            pass
    return np.stack([known[t] for t in texts]).astype(np.float32)


def _multilingual() -> Embedder | None:
    from audiogpt.models.base import ModelNotInstalled
    from audiogpt.models.text_embedding_multilingual import get_multilingual_embedder

    try:
        return get_multilingual_embedder()
    except ModelNotInstalled:
        return None


# Deterministic augmentations: the frames people wrap a request in. Each exemplar gets one,
# picked by hash, so the data grows by a known factor and every run trains the same model.
_FRAMES = ("can you {x}", "please {x}", "{x} please", "could you {x} for me", "I want you to {x}",
           "hey, {x}", "{x}, thanks", "I need you to {x}")
# Where a step sits in a chain says nothing about which tool it is ("denoise this first",
# "then read it out"): a second frame per exemplar teaches the classifier to ignore it.
_CHAIN_FRAMES = ("{x} first", "first {x}", "then {x}", "and then {x}", "after that, {x}", "now {x}")


def _typo(text: str, h: int) -> str:
    words = text.split()
    long = [i for i, w in enumerate(words) if len(w) >= 6 and w.isalpha()]
    if not long:
        return text
    i = long[h % len(long)]
    w = words[i]
    j = 1 + (h // 7) % (len(w) - 2)
    words[i] = w[:j] + w[j + 1 :]
    return " ".join(words)


def _augment(text: str) -> list[str]:
    h = int(hashlib.md5(text.encode()).hexdigest()[:8], 16)
    x = text[0].lower() + text[1:] if text[:1].isupper() and not text[1:2].isupper() else text
    return [_FRAMES[h % len(_FRAMES)].format(x=x), _CHAIN_FRAMES[(h // 11) % len(_CHAIN_FRAMES)].format(x=x),
            _typo(text, h)]


def _key(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def training_examples(classes: list[str]) -> list[IM.Example]:
    """Every routing example, from the catalogue and the engine's non-tool classes."""
    index = {c: i for i, c in enumerate(classes)}
    out: list[IM.Example] = []

    def add(text: str, cls: str, weight: float = 1.0, aug: bool = True) -> None:
        if cls not in index or not text.strip():
            return
        out.append(IM.Example(text, index[cls], weight))
        if aug:
            out.extend(IM.Example(a, index[cls], 0.5 * weight, source=text) for a in _augment(text) if a != text)

    for spec in TOOLS:
        for ex in spec.exemplars:
            add(ex, spec.name)
        for k, tpl in enumerate(spec.templates):
            slot = SOUNDS if "{sound}" in tpl else RECORDINGS
            for j, filler in enumerate(slot):
                if (j + k) % 3 == 0:  # a third of the fillers per template: variety without flooding
                    add(tpl.format(sound=filler, recording=filler), spec.name, 0.5, aug=False)
        for sentence in re.split(r"(?<=[.)])\s+", spec.description):
            if len(sentence) > 20:
                add(sentence.strip(), spec.name, 0.5, aug=False)
        for text, other in spec.contrasts:
            add(text, other)
    # A phrasing a tool claims is that tool's, even when the engine's lists decline it: a tool
    # added later ("reverse the audio") takes over the requests that used to be unsupported.
    claimed = {_key(ex) for spec in TOOLS for ex in spec.exemplars}
    for cls in NON_TOOL_CLASSES:
        for ex in EXEMPLARS.get(cls, ()):
            if _key(ex) not in claimed:
                add(ex, cls, aug=cls == "unsupported")
    return out


# Evidence for an argument, by argument name: a request that gives a value only one tool's
# argument model takes ("from the listener's left", "into Japanese", "C4 D4 E4") leans to that
# tool. Keyed by argument names of the catalogue's models, so a new tool with such an argument
# gets the same evidence.
ARGUMENT_EVIDENCE = {
    "azimuth": lambda t: A.azimuth(t) is not None,
    "motion": lambda t: A.motion(t) is not None,
    "target_language": A.target_language_named,
    "notes": lambda t: A.notes(t) is not None,
    "start": lambda t: A.time_range(t)[0] is not None,
    "speakers": lambda t: A.speakers(t) is not None,
}


def _argument_factor(spec: ToolSpec, text: str, voice_ref: bool) -> float:
    factor = 1.0
    fields = spec.args.model_fields
    if any(name in fields and found(text) for name, found in ARGUMENT_EVIDENCE.items()):
        factor *= 1.6
    # A tool whose required audio argument is a voice to imitate needs the message to name one.
    ref = fields.get("reference")
    if ref is not None and ref.is_required():
        factor *= 1.5 if voice_ref or VOICE_REF_RE.search(text) else 0.6
    return factor


def _payload_fields(spec: ToolSpec) -> list[str]:
    """Free-text arguments that take words as given (what to say, generate, look for), not settings."""
    return [f for f in spec.args.text_fields() if "language" not in f and f != "voice"]


PAYLOAD_MIN = 0.5  # how sure the router must be that an instruction takes words before a colon


class Router:
    """Scores segments against every class. Build once (per catalogue version); thread-safe."""

    def __init__(self, embedder: Embedder | None = None, multilingual: Embedder | bool | None = True) -> None:
        self._embedder = embedder
        self._ml_arg = multilingual
        self._ml: Embedder | None = None
        self._lock = threading.Lock()
        self._version = -1
        self.model: IM.IntentModel | None = None
        self.classes: list[str] = []

    @property
    def report(self) -> IM.TrainReport:
        self._build()
        assert self.model is not None
        return self.model.report

    def _build(self) -> None:
        if self._version == TOOLS.version and self.model is not None:
            return
        with self._lock:
            if self._version == TOOLS.version and self.model is not None:
                return
            if self._embedder is None:
                self._embedder = default_embedder()
            if self._ml_arg is True:
                self._ml = _multilingual()
            elif self._ml_arg:
                self._ml = self._ml_arg  # type: ignore[assignment]
            classes = [*TOOLS.names(), *NON_TOOL_CLASSES]
            examples = training_examples(classes)
            texts = [e.text for e in examples]
            en = _cached_embeddings(self._embedder, texts)
            ml = np.asarray(self._ml.embed(texts), dtype=np.float32) if self._ml is not None else en
            key = hashlib.sha256()
            key.update(type(self._embedder).__name__.encode())
            key.update(type(self._ml).__name__.encode())
            key.update(repr((IM.L2, IM.ITERS, IM.LR)).encode())
            key.update("\x1f".join(f"{e.label}:{e.weight}:{e.text}" for e in examples).encode())
            key.update("\x1f".join(classes).encode())
            cache = key.hexdigest()[:24] if getattr(self._embedder, "folder", None) else ""
            self.model = IM.train(classes, examples, en, ml, cache_key=cache)
            self.classes = classes
            vocab = {w for t in texts for w in re.findall(r"[a-z]+", t.lower())}
            vocab |= {w for t in TOOLS for w in re.findall(r"[a-z]+", t.description.lower())}
            set_domain_vocabulary(vocab)
            self._version = TOOLS.version

    def warm(self) -> None:
        """Load the embedders and fit (or load) the classifier now (else on first use)."""
        self._build()

    def embed(self, texts: list[str]) -> np.ndarray:
        self._build()
        assert self._embedder is not None
        return self._embedder.embed(texts)

    def route_many(self, texts: list[str], cues: list[Cues] | None = None) -> list[Routed]:
        if not texts:
            return []
        self._build()
        assert self.model is not None and self._embedder is not None
        english = [is_english(t) for t in texts]
        en = np.asarray(self._embedder.embed(texts), dtype=np.float32)
        ml = np.asarray(self._ml.embed(texts), dtype=np.float32) if self._ml is not None else en
        if self._ml is None:
            english = [True] * len(texts)
        probs = IM.predict(self.model, en, ml, english)
        out: list[Routed] = []
        for i, text in enumerate(texts):
            scores = {c: float(probs[i, j]) for j, c in enumerate(self.classes)}
            if cues is not None:
                self._nudge(scores, text, cues[i])
            ranking = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
            out.append(Routed(ranking))
        return out

    def takes_payload(self, head: str) -> bool:
        """Does this instruction ask for a tool that takes words (to say, sing, generate, find)?

        Decided by routing the instruction and reading the tool's argument model, so it holds in
        every language the router reads and for any tool with a free-text argument.
        """
        asks = [s for s in re.split(r"(?<=[.!?。！？])\s*", head) if re.search(r"\w", s)] or [head]
        for r in self.route_many([routing_text(a) for a in asks[-1:]]):
            if r.best in TOOLS and r.best_score >= PAYLOAD_MIN and _payload_fields(TOOLS.get(r.best)):
                return True
        return False

    def route(self, text: str, cues: Cues | None = None) -> Routed:
        return self.route_many([text], [cues] if cues else None)[0]

    def _nudge(self, scores: dict[str, float], text: str, cues: Cues) -> None:
        """Priors from the conversation that the words do not carry, applied as odds factors.

        Stated with catalogue fields (what a tool needs, whether it takes typed text), so they
        hold for any tool, including one added later. The scores are renormalised afterwards,
        so they stay probabilities.
        """
        for spec in TOOLS:
            if spec.name not in scores:
                continue
            need = spec.main_input
            factor = 1.0
            # A tool whose required input exists nowhere in the conversation is unlikely meant
            # (a tool that takes typed text can make its own input first, e.g. speech for a face).
            missing = (need == "audio" and not cues.audio_any) or (need == "image" and not cues.image_any)
            if missing and not spec.takes_text:
                factor *= 0.25
            # A picture attached this turn is for a tool that takes one (required or not: a face for
            # the talking head); more so when the message talks about the picture.
            takes_image = any(kind == "image" for _, kind, _ in spec.args.artifact_fields())
            if takes_image and cues.image_here:
                factor *= 6.0 if cues.image_named else 3.0
            # A picture attached this turn (and no recording) is what "it" is about: a generator that
            # needs no file is less likely meant than the tool that reads the picture.
            if cues.image_here and not cues.audio_here and not need and not spec.takes_text:
                factor *= 0.4 if cues.image_named else 0.6
            # Quoted words are text to use as given: a tool with a free-text argument is meant.
            if cues.quoted:
                factor *= 2.0 if _payload_fields(spec) else 0.6
            # With a recording attached, a tool that needs no file (a pure generator) is less likely.
            if cues.audio_here and not need and not spec.takes_text:
                factor *= 0.5
            factor *= _argument_factor(spec, text, cues.voice_ref)
            scores[spec.name] *= factor
        total = sum(scores.values())
        if total > 0:
            for k in scores:
                scores[k] /= total
