"""What the full (transformers) speech backends share: weights lookup, devices, languages.

Full backends never download anything: a model is either a local folder or a
Hugging Face id already in the local HF cache. ``describe()`` answers that
question by looking at files only (no torch, no transformers import), and
``load()`` always passes ``local_files_only=True`` so a missing file becomes
one clear :class:`ModelNotInstalled` sentence instead of a network call.

The language table is the union of what Whisper recognises and what M2M100
translates, with ISO 639-3 codes for the MMS-TTS voices, so names ("Spanish"),
codes ("es", "es-ES", "spa") and model tokens ("<|es|>", "__es__") all resolve
to one canonical code without importing a model package.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from audiogpt.models.base import ModelNotInstalled, have_module

log = logging.getLogger(__name__)

T = TypeVar("T")

FULL_EXTRA = "pip install 'audiogpt[full]'"
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


def hf_cache_dir() -> Path:
    """The HF hub cache as the environment says *now* (tests and deployments change it)."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HF_HOME")
    if not home:
        home = os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(home).expanduser() / "hub"


def stack_missing() -> str:
    """Which of torch/transformers is absent ("" when both import), without importing them."""
    absent = [m for m in ("torch", "transformers") if not have_module(m)]
    return " and ".join(absent)


@dataclass(frozen=True)
class HFModel:
    """One model: a Hugging Face id (looked up in the local cache only) or a local folder."""

    ref: str
    revision: str | None = None
    cache_dir: str | None = None

    @property
    def is_local(self) -> bool:
        r = self.ref
        return r.startswith(("/", "./", "../", "~")) or Path(r).expanduser().is_dir()

    def _cache(self) -> Path:
        return Path(self.cache_dir).expanduser() if self.cache_dir else hf_cache_dir()

    def _cached_file(self, name: str) -> bool:
        if not have_module("huggingface_hub"):
            return False
        try:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(
                self.ref, name, cache_dir=str(self._cache()), revision=self.revision
            )
        except Exception:  # an id that is not a valid repo name, an unreadable cache
            return False
        return isinstance(found, str) and os.path.isfile(found)

    def has(self, name: str) -> bool:
        if self.is_local:
            return (Path(self.ref).expanduser() / name).is_file()
        return self._cached_file(name)

    def missing(self, *required: str | tuple[str, ...]) -> list[str]:
        """Required files that are absent; a tuple means "any one of these"."""
        if not self.has("config.json"):
            return ["config.json"]
        groups = [WEIGHT_FILES, *[(r,) if isinstance(r, str) else r for r in required]]
        return ["model weights" if g is WEIGHT_FILES else " or ".join(g)
                for g in groups if not any(self.has(f) for f in g)]

    def source(self) -> str:
        """What ``from_pretrained`` receives."""
        return str(Path(self.ref).expanduser()) if self.is_local else self.ref

    def kwargs(self) -> dict[str, Any]:
        """``from_pretrained`` arguments that can never reach the network."""
        kw: dict[str, Any] = {"local_files_only": True}
        if not self.is_local:
            kw["cache_dir"] = str(self._cache())
            if self.revision:
                kw["revision"] = self.revision
        return kw

    def absent_sentence(self, what: str, missing: list[str]) -> str:
        """One sentence: the model is not there at all, or which files of it are missing."""
        if self.is_local:
            if missing == ["config.json"]:
                return f"The {what} model folder {self.ref} has no config.json, so the model is not installed."
            return f"The {what} model folder {self.ref} is incomplete ({', '.join(missing)} missing)."
        if missing == ["config.json"]:
            return f"The {what} model {self.ref} is not in the local Hugging Face cache."
        return f"The {what} model {self.ref} is incomplete in the local Hugging Face cache ({', '.join(missing)} missing)."

    def hint(self) -> str:
        return install_hint([self], extra=False)


def install_hint(models: Iterable[HFModel], extra: bool = True) -> str:
    """One clause: the extra, then how to get every named model (cache download or folder)."""
    models = list(models)
    hub = [m.ref for m in models if not m.is_local]
    local = [m.ref for m in models if m.is_local]
    parts: list[str] = []
    if hub:
        cmd = f"hf download {hub[0]}" if len(hub) == 1 else "hf download <id>"
        parts.append(f"download {', '.join(hub)} into the Hugging Face cache on a machine with network "
                     f"({cmd}) or configure a local model folder")
    if local:
        parts.append(f"put the model files (config.json and weights) in {', '.join(local)}")
    how = " and ".join(parts)
    return f"{FULL_EXTRA}, then {how}" if extra else how


def why_missing(what: str, items: Iterable[tuple[str, HFModel, tuple[str | tuple[str, ...], ...]]]) -> str:
    """One sentence on the first absent thing, or "" when everything is there."""
    gone = stack_missing()
    if gone:
        verb = "are" if " and " in gone else "is"
        return f"The full {what} backend needs {gone}, which {verb} not installed."
    for label, model, required in items:
        absent = model.missing(*required)
        if absent:
            return model.absent_sentence(label, absent)
    return ""


def load_pretrained(loader: Callable[..., T], model: HFModel, what: str, **extra: Any) -> T:
    """``loader(source, local_files_only=True, ...)``; a missing file becomes :class:`ModelNotInstalled`."""
    try:
        return loader(model.source(), **model.kwargs(), **extra)
    except (OSError, ValueError) as exc:  # missing/partial files: OSError; a missing tokenizer file: ValueError
        log.warning("could not load %s from %s: %s", what, model.ref, exc)
        raise ModelNotInstalled(
            f"The {what} model {model.ref} could not be loaded from local files ({type(exc).__name__}, "
            f"details in the log); {model.hint()}."
        ) from exc


def torch_device_dtype(preference: str, fp16: bool = True) -> tuple[str, Any]:
    """The device ``pick_device`` chooses, and float16 there when it is a GPU."""
    import torch

    from audiogpt.models.runtime import pick_device

    device = pick_device(preference)
    dtype = torch.float16 if fp16 and device == "cuda" else torch.float32
    return device, dtype


def memory_mb(ref: str, table: dict[str, int], default: int) -> int:
    """Rough resident size from the model id (the cache budget only needs an estimate)."""
    low = ref.lower()
    for key, mb in table.items():
        if key in low:
            return mb
    return default


# --- languages -----------------------------------------------------------------------------

# code: (English name, ISO 639-3). Whisper's 100 languages plus M2M100's.
LANGUAGES: dict[str, tuple[str, str]] = {
    "en": ("English", "eng"), "zh": ("Chinese", "zho"), "de": ("German", "deu"),
    "es": ("Spanish", "spa"), "ru": ("Russian", "rus"), "ko": ("Korean", "kor"),
    "fr": ("French", "fra"), "ja": ("Japanese", "jpn"), "pt": ("Portuguese", "por"),
    "tr": ("Turkish", "tur"), "pl": ("Polish", "pol"), "ca": ("Catalan", "cat"),
    "nl": ("Dutch", "nld"), "ar": ("Arabic", "ara"), "sv": ("Swedish", "swe"),
    "it": ("Italian", "ita"), "id": ("Indonesian", "ind"), "hi": ("Hindi", "hin"),
    "fi": ("Finnish", "fin"), "vi": ("Vietnamese", "vie"), "he": ("Hebrew", "heb"),
    "uk": ("Ukrainian", "ukr"), "el": ("Greek", "ell"), "ms": ("Malay", "msa"),
    "cs": ("Czech", "ces"), "ro": ("Romanian", "ron"), "da": ("Danish", "dan"),
    "hu": ("Hungarian", "hun"), "ta": ("Tamil", "tam"), "no": ("Norwegian", "nor"),
    "th": ("Thai", "tha"), "ur": ("Urdu", "urd"), "hr": ("Croatian", "hrv"),
    "bg": ("Bulgarian", "bul"), "lt": ("Lithuanian", "lit"), "la": ("Latin", "lat"),
    "mi": ("Maori", "mri"), "ml": ("Malayalam", "mal"), "cy": ("Welsh", "cym"),
    "sk": ("Slovak", "slk"), "te": ("Telugu", "tel"), "fa": ("Persian", "fas"),
    "lv": ("Latvian", "lav"), "bn": ("Bengali", "ben"), "sr": ("Serbian", "srp"),
    "az": ("Azerbaijani", "aze"), "sl": ("Slovenian", "slv"), "kn": ("Kannada", "kan"),
    "et": ("Estonian", "est"), "mk": ("Macedonian", "mkd"), "br": ("Breton", "bre"),
    "eu": ("Basque", "eus"), "is": ("Icelandic", "isl"), "hy": ("Armenian", "hye"),
    "ne": ("Nepali", "nep"), "mn": ("Mongolian", "mon"), "bs": ("Bosnian", "bos"),
    "kk": ("Kazakh", "kaz"), "sq": ("Albanian", "sqi"), "sw": ("Swahili", "swa"),
    "gl": ("Galician", "glg"), "mr": ("Marathi", "mar"), "pa": ("Punjabi", "pan"),
    "si": ("Sinhala", "sin"), "km": ("Khmer", "khm"), "sn": ("Shona", "sna"),
    "yo": ("Yoruba", "yor"), "so": ("Somali", "som"), "af": ("Afrikaans", "afr"),
    "oc": ("Occitan", "oci"), "ka": ("Georgian", "kat"), "be": ("Belarusian", "bel"),
    "tg": ("Tajik", "tgk"), "sd": ("Sindhi", "snd"), "gu": ("Gujarati", "guj"),
    "am": ("Amharic", "amh"), "yi": ("Yiddish", "yid"), "lo": ("Lao", "lao"),
    "uz": ("Uzbek", "uzb"), "fo": ("Faroese", "fao"), "ht": ("Haitian Creole", "hat"),
    "ps": ("Pashto", "pus"), "tk": ("Turkmen", "tuk"), "nn": ("Norwegian Nynorsk", "nno"),
    "mt": ("Maltese", "mlt"), "sa": ("Sanskrit", "san"), "lb": ("Luxembourgish", "ltz"),
    "my": ("Burmese", "mya"), "bo": ("Tibetan", "bod"), "tl": ("Tagalog", "tgl"),
    "mg": ("Malagasy", "mlg"), "as": ("Assamese", "asm"), "tt": ("Tatar", "tat"),
    "haw": ("Hawaiian", "haw"), "ln": ("Lingala", "lin"), "ha": ("Hausa", "hau"),
    "ba": ("Bashkir", "bak"), "jv": ("Javanese", "jav"), "su": ("Sundanese", "sun"),
    "yue": ("Cantonese", "yue"),
    # M2M100 only
    "ast": ("Asturian", "ast"), "ceb": ("Cebuano", "ceb"), "ff": ("Fula", "ful"),
    "fy": ("Western Frisian", "fry"), "ga": ("Irish", "gle"), "gd": ("Scottish Gaelic", "gla"),
    "ig": ("Igbo", "ibo"), "ilo": ("Ilocano", "ilo"), "lg": ("Ganda", "lug"),
    "ns": ("Northern Sotho", "nso"), "or": ("Odia", "ory"), "ss": ("Swati", "ssw"),
    "tn": ("Tswana", "tsn"), "wo": ("Wolof", "wol"), "xh": ("Xhosa", "xho"), "zu": ("Zulu", "zul"),
}

# Older or alternative codes some models' vocabularies use for the same language.
CODE_ALIASES: dict[str, tuple[str, ...]] = {
    "he": ("iw",), "jv": ("jw",), "id": ("in",), "yi": ("ji",), "no": ("nb",), "tl": ("fil",),
}

_NAME_ALIASES: dict[str, str] = {
    "burmese": "my", "myanmar": "my", "valencian": "ca", "flemish": "nl", "haitian": "ht",
    "letzeburgesch": "lb", "pushto": "ps", "panjabi": "pa", "moldavian": "ro", "moldovan": "ro",
    "sinhalese": "si", "castilian": "es", "mandarin": "zh", "farsi": "fa", "oriya": "or",
    "filipino": "tl", "sepedi": "ns", "gaelic": "gd", "frisian": "fy", "bokmal": "no",
    "norwegian bokmal": "no", "nynorsk": "nn", "fulah": "ff", "luganda": "lg", "iloko": "ilo",
    "swazi": "ss", "kiswahili": "sw", "slovene": "sl",
}
# ISO 639-2/B codes that differ from the 639-3 codes in the table.
_BIBLIOGRAPHIC: dict[str, str] = {
    "ger": "de", "fre": "fr", "chi": "zh", "cmn": "zh", "dut": "nl", "gre": "el", "per": "fa",
    "cze": "cs", "rum": "ro", "arm": "hy", "geo": "ka", "ice": "is", "mac": "mk", "may": "ms",
    "alb": "sq", "baq": "eu", "bur": "my", "wel": "cy", "slo": "sk", "tib": "bo", "zlm": "ms",
    "swh": "sw", "nob": "no", "arb": "ar", "pes": "fa", "ori": "or",
}
_BY_NAME = {name.lower(): code for code, (name, _iso3) in LANGUAGES.items()}
_BY_ISO3 = {iso3: code for code, (_name, iso3) in LANGUAGES.items()}
_ALIAS_TO_CODE = {alias: code for code, aliases in CODE_ALIASES.items() for alias in aliases}
_TOKEN = re.compile(r"^(?:<\|(.+)\|>|__(.+)__)$")


def language_code(value: str | None) -> str | None:
    """Canonical code for a language name, code, locale or model token; None when unknown."""
    if value is None:
        return None
    text = value.strip()
    m = _TOKEN.match(text)
    if m:
        text = m.group(1) or m.group(2)
    text = re.sub(r"\s*\(.*?\)\s*", " ", text).strip().lower().replace("_", "-")
    if not text:
        return None
    candidates = [text]
    if "-" in text:
        candidates.append(text.split("-", 1)[0])  # es-ES, zh-Hans, spa-Latn
    for cand in candidates:
        if cand in LANGUAGES:
            return cand
        if cand in _ALIAS_TO_CODE:
            return _ALIAS_TO_CODE[cand]
        if cand in _BY_ISO3:
            return _BY_ISO3[cand]
        if cand in _BIBLIOGRAPHIC:
            return _BIBLIOGRAPHIC[cand]
    words = text.replace("-", " ")
    words = re.sub(r"\s+language$", "", words)
    return _BY_NAME.get(words) or _NAME_ALIASES.get(words)


def language_name(code: str | None) -> str:
    if not code:
        return "an unknown language"
    entry = LANGUAGES.get(code)
    return entry[0] if entry else code


def code_variants(code: str) -> tuple[str, ...]:
    """``code`` and the older spellings a model vocabulary may use instead (he -> iw)."""
    return (code, *CODE_ALIASES.get(code, ()))


def iso3(code: str) -> str | None:
    entry = LANGUAGES.get(code)
    return entry[1] if entry else None


def is_english(code: str | None) -> bool:
    return code is None or code == "en"


# --- signal helpers -----------------------------------------------------------------------


def trim_silence(x: np.ndarray, rate: int, floor_db: float = -40.0, block_s: float = 0.02) -> np.ndarray:
    """``x`` without leading/trailing blocks quieter than ``floor_db`` below its loudest block.

    Blocks under -80 dBFS count as silence whatever the loudest block is, so an
    all-silent clip trims to nothing.
    """
    block = max(1, int(block_s * rate))
    n = x.size // block
    if n == 0:
        return x
    rms = np.sqrt(np.mean(x[: n * block].reshape(n, block).astype(np.float64) ** 2, axis=1) + 1e-12)
    loud = np.nonzero((20 * np.log10(rms / rms.max()) > floor_db) & (rms > 1e-4))[0]
    if loud.size == 0:
        return x[:0]
    return x[loud[0] * block : min(x.size, (loud[-1] + 1) * block)]
