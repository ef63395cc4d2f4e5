"""Language names (English and native) and ISO 639-1 codes.

Why a table: the translation and speech tools take language codes, users write
names ("Spanish", "español", "Mandarin") or codes ("es"). A lookup is exact,
where an embedding would blur "Swedish" and "Swiss".
"""

from __future__ import annotations

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
