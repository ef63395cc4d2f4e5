"""Language names (English and native) and ISO 639-1 codes.

Why a table: the translation and speech tools take language codes, users write
names ("Spanish", "español", "Mandarin") or codes ("es"). A lookup is exact,
where an embedding would blur "Swedish" and "Swiss".
"""

from __future__ import annotations

import re

LANGUAGE_CODES: dict[str, str] = {
    "english": "en", "spanish": "es", "español": "es", "espanol": "es", "castilian": "es",
    "french": "fr", "français": "fr", "francais": "fr", "german": "de", "deutsch": "de",
    "italian": "it", "italiano": "it", "portuguese": "pt", "português": "pt", "brazilian portuguese": "pt",
    "dutch": "nl", "flemish": "nl", "nederlands": "nl", "russian": "ru", "chinese": "zh", "mandarin": "zh",
    "cantonese": "yue", "japanese": "ja", "korean": "ko", "arabic": "ar", "hindi": "hi",
    "turkish": "tr", "polish": "pl", "swedish": "sv", "norwegian": "no", "danish": "da",
    "finnish": "fi", "greek": "el", "hebrew": "he", "ukrainian": "uk", "czech": "cs",
    "slovak": "sk", "romanian": "ro", "hungarian": "hu", "vietnamese": "vi", "thai": "th",
    "indonesian": "id", "malay": "ms", "catalan": "ca", "persian": "fa", "farsi": "fa",
    "urdu": "ur", "bengali": "bn", "bangla": "bn", "tamil": "ta", "telugu": "te", "marathi": "mr",
    "gujarati": "gu", "punjabi": "pa", "swahili": "sw", "filipino": "tl", "tagalog": "tl",
    "irish": "ga", "welsh": "cy", "icelandic": "is", "estonian": "et", "latvian": "lv",
    "lithuanian": "lt", "bulgarian": "bg", "serbian": "sr", "croatian": "hr", "slovenian": "sl",
    "afrikaans": "af", "basque": "eu", "galician": "gl", "latin": "la", "esperanto": "eo",
    "zulu": "zu", "amharic": "am", "nepali": "ne", "khmer": "km", "mongolian": "mn",
}

ISO_CODES: frozenset[str] = frozenset(LANGUAGE_CODES.values()) | {"zh-cn", "zh-tw", "pt-br", "en-us", "en-gb"}

LANGUAGE_NAMES: dict[str, str] = {}
for _name, _code in LANGUAGE_CODES.items():
    LANGUAGE_NAMES.setdefault(_code, _name.capitalize())


def language_code(word: str) -> str | None:
    """'Spanish' -> 'es', 'es' -> 'es', 'pt-BR' -> 'pt'; None when not a language."""
    w = word.strip().lower()
    if w in LANGUAGE_CODES:
        return LANGUAGE_CODES[w]
    if w in ISO_CODES:
        return w.split("-")[0]
    return None


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


# Words of other languages that English requests do not use: a clause with two or more of
# them (or written in a non-Latin script) is routed with the multilingual view alone.
_FOREIGN_WORDS = frozenset(
    ["bitte", "diese", "dieser", "dieses", "diesen", "das", "die", "der", "und", "mit", "aus", "ein", "eine", "einen", "mir", "mich", "ich", "kannst", "kannst", "du", "sie", "ist", "sind", "was", "wie", "wann", "wird", "auf", "fur", "für", "von", "zu", "im", "ins", "por", "favor", "este", "esta", "estos", "esto", "qué", "que", "cuando", "cuándo", "una", "un", "el", "los", "las", "del", "con", "para", "puedes", "me", "mi", "ce", "cet", "cette", "ces", "est", "les", "des", "une", "pour", "avec", "dans", "quand", "moi", "mon", "ma", "peux", "tu", "vous", "qu'est", "questo", "questa", "il", "della", "per", "con", "puoi", "mio"]
)
_NON_LATIN = re.compile(r"[\u0400-\u04ff\u0600-\u06ff\u0e00-\u0e7f\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_ENGLISH_WORDS = frozenset(["the", "this", "that", "what", "is", "are", "please", "can", "you", "me", "my", "it", "to", "of", "and", "with", "from", "for", "a", "an"])


def is_english(text: str) -> bool:
    if _NON_LATIN.search(text):
        return False
    words = re.findall(r"[\w']+", text.lower())
    foreign = sum(w in _FOREIGN_WORDS and w not in _ENGLISH_WORDS for w in words)
    english = sum(w in _ENGLISH_WORDS for w in words)
    return not (foreign >= 2 and foreign > english) and not re.search(r"[äöüßñéèêàçìòù¿¡]", text.lower())
