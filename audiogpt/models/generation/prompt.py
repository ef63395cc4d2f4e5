"""Descriptions in words -> what to generate: sound layers for text-to-audio, a plan for text-to-music.

Keywords decide first (they are exact and explain themselves: "rain" makes
rain). A description with no known word is matched by meaning with MiniLM
sentence embeddings against one sentence per sound we can make, and the
answer says which sound was chosen and why; a description that matches
nothing well enough (gibberish) gets one sentence asking for a sound.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field

from audiogpt.models.base import BadInput

# --- sound effects ---------------------------------------------------------------------------

# kind -> (keyword stems, one sentence for meaning-matching)
SOUNDS: dict[str, tuple[tuple[str, ...], str]] = {
    "rain": (("rain", "drizzl", "downpour", "shower", "raindrop"), "rain falling, raindrops pattering on a roof"),
    "wind": (("wind", "breez", "gust", "gale", "blizzard", "howl"), "wind blowing, a gusty breeze"),
    "siren": (("siren", "ambulance", "police car", "fire truck", "fire engine"), "an emergency siren wailing"),
    "engine": (("engine", "motor", "idling", "revving", "truck", "motorbike", "motorcycle", "tractor"),
               "a car engine idling and revving"),
    "traffic": (("traffic", "cars passing", "car passing", "highway", "road", "street", "car "),
                "cars driving past on a busy road"),
    "knock": (("knock", "door", "tapping"), "someone knocking on a wooden door"),
    "impact": (("crash", "bang", "smash", "shatter", "slam", "hit", "clang", "break", "drop"),
               "something crashing and breaking, a loud metallic bang"),
    "footsteps": (("footstep", "steps", "walking", "running", "stomp", "marching"), "footsteps walking on the ground"),
    "crowd": (("crowd", "people talking", "chatter", "babble", "conversation", "audience", "voices", "murmur"),
              "a crowd of people talking, murmuring voices"),
    "birds": (("bird", "chirp", "tweet", "song bird", "songbird", "sparrow", "robin", "seagull", "gull"),
              "birds chirping and singing"),
    "water": (("stream", "river", "brook", "creek", "water", "bubbl", "fountain", "tap running", "faucet", "waterfall"),
              "water flowing in a babbling stream"),
    "waves": (("wave", "ocean", "sea", "surf", "shore", "beach"), "ocean waves crashing on the shore"),
    "fire": (("fire", "crackl", "flame", "campfire", "fireplace", "bonfire", "burning"),
             "a fire crackling and burning"),
    "thunder": (("thunder", "lightning", "storm"), "thunder rumbling in a storm"),
    "dog": (("dog", "bark", "woof", "puppy", "hound"), "a dog barking"),
    "bell": (("bell", "chime", "church", "gong"), "a church bell ringing"),
    "clock": (("clock", "tick", "tock", "ticking"), "a clock ticking"),
    "beep": (("beep", "alarm", "phone ring", "telephone", "ringing", "buzzer", "timer"), "an electronic alarm beeping"),
    "crickets": (("cricket", "insect", "cicada", "night"), "crickets chirping at night"),
    "applause": (("applau", "clapping", "clap", "cheering", "ovation"), "an audience applauding and clapping"),
    "typing": (("typing", "keyboard", "typewriter", "keystroke"), "someone typing on a keyboard"),
    "hum": (("hum", "buzz", "electrical", "transformer", "fridge", "refrigerator", "mains"),
            "an electrical hum, a buzzing transformer"),
    "explosion": (("explosion", "explode", "blast", "boom", "bomb", "firework", "gunshot"), "a loud explosion"),
    "helicopter": (("helicopter", "chopper", "rotor"), "a helicopter flying overhead"),
    "train": (("train", "railway", "locomotive", "subway", "metro", "tram"), "a train rolling along the tracks"),
}

LABELS = {  # how the answer names each recipe
    "siren": "a siren", "engine": "an engine", "knock": "knocking", "impact": "a crash", "crowd": "a crowd",
    "birds": "birdsong", "water": "flowing water", "dog": "a dog barking", "bell": "a bell", "clock": "a ticking clock",
    "beep": "beeping", "hum": "an electrical hum", "explosion": "an explosion", "helicopter": "a helicopter",
    "train": "a train", "fire": "a crackling fire", "waves": "ocean waves",
}

# Compound scenes: a phrase -> layers (kind, gain, extras). Checked before single sounds.
SCENES: dict[str, tuple[tuple[str, ...], str, tuple[tuple[str, float, tuple[str, ...]], ...]]] = {
    "thunderstorm": (("thunderstorm", "storm"), "a thunderstorm with heavy rain and thunder",
                     (("rain", 1.0, ()), ("thunder", 0.9, ()), ("wind", 0.4, ()))),
    "train station": (("train station", "railway station", "station", "platform", "airport", "terminal"),
                      "a busy train station with people and trains",
                      (("crowd", 1.0, ()), ("train", 0.45, ()), ("footsteps", 0.3, ()))),
    "city": (("city", "busy street", "downtown", "urban"), "a busy city street",
             (("traffic", 1.0, ()), ("crowd", 0.35, ()), ("footsteps", 0.2, ()))),
    "forest": (("forest", "woods", "jungle", "garden", "park", "meadow", "countryside"), "birds in a forest",
               (("birds", 1.0, ()), ("wind", 0.35, ()))),
    "beach": (("beach", "seaside", "coast", "harbour", "harbor"), "waves on a beach with seagulls",
              (("waves", 1.0, ()), ("birds", 0.25, ()), ("wind", 0.3, ()))),
    "cafe": (("cafe", "café", "coffee shop", "restaurant", "bar", "pub", "party"), "people chatting in a busy cafe",
             (("crowd", 1.0, ()), ("impact", 0.1, ("glass",)))),
    "office": (("office", "workplace", "desk"), "an office with typing and a humming air conditioner",
               (("typing", 1.0, ()), ("hum", 0.25, ()), ("crowd", 0.15, ()))),
    "campfire": (("campfire", "camping"), "a campfire at night with crickets", (("fire", 1.0, ()), ("crickets", 0.4, ()))),
}

INTENSITY = {"light": 0.3, "gentle": 0.3, "soft": 0.3, "quiet": 0.3, "calm": 0.3, "drizzl": 0.2, "faint": 0.25,
             "distant": 0.4, "heavy": 0.9, "loud": 0.85, "strong": 0.85, "violent": 1.0, "torrential": 1.0,
             "pouring": 0.9, "intense": 0.9, "big": 0.8, "busy": 0.85, "huge": 1.0, "howling": 0.9}
SPEED = {"slow": 0.6, "slowly": 0.6, "fast": 1.8, "quick": 1.6, "running": 1.9, "rapid": 1.8, "hurried": 1.6}
SURFACES = {"tin": "metal", "metal": "metal", "steel": "metal", "iron": "metal", "wood": "wood", "wooden": "wood",
            "glass": "glass", "window": "glass", "gravel": "gravel", "snow": "snow", "leaves": "leaves",
            "stone": "stone", "concrete": "stone"}
EXTRAS = ("howling", "two-tone", "passing", "small", "horn", "whistle", "ring", "60")
DISTANT = ("distant", "far away", "far off", "in the distance", "muffled", "next door")
MIN_SIMILARITY = 0.3  # below this the nearest sound is not a real match (gibberish scores ~0.15-0.25)


@dataclass
class Layer:
    kind: str
    gain: float = 1.0
    extras: set[str] = field(default_factory=set)


@dataclass
class SoundPlan:
    """What the procedural generator will make, and how it was decided (for the answer)."""

    layers: list[Layer]
    intensity: float = 0.6
    speed: float = 1.0
    surface: str = ""
    distant: bool = False
    matched: list[str] = field(default_factory=list)  # the words that decided
    nearest: str = ""  # set when meaning-matching chose the sound
    similarity: float = 0.0
    by_meaning: list[tuple[str, str]] = field(default_factory=list)  # (phrase, sound) matched by meaning
    not_understood: list[str] = field(default_factory=list)  # named phrases no recipe could make

    def summary(self) -> str:
        names = [LABELS.get(layer.kind, layer.kind) for layer in self.layers]
        main = names[0] + ("" if len(names) == 1 else " with " + ", ".join(names[1:]))
        mods = []
        if self.intensity >= 0.8:
            mods.append("heavy")
        elif self.intensity <= 0.35:
            mods.append("light")
        if self.speed > 1.3:
            mods.append("fast")
        elif self.speed < 0.8:
            mods.append("slow")
        if self.surface:
            mods.append(f"on {self.surface}")
        if self.distant:
            mods.append("distant")
        far = [LABELS.get(layer.kind, layer.kind) for layer in self.layers if "distant" in layer.extras]
        if far and not self.distant:
            mods.append("distant " + " and ".join(far))
        return main + (f" ({', '.join(mods)})" if mods else "")


def _has(text: str, stem: str) -> bool:
    """``stem`` starts a word of ``text``; a trailing space in the stem ("car ", "fun ") demands a word end."""
    return re.search(r"(?<![a-z])" + re.escape(stem.lstrip()), text) is not None if stem.strip() else False


def _clean(text: str) -> str:
    return " " + " ".join(re.findall(r"[a-z0-9'\-]+", (text or "").lower())) + " "


def check_prompt(text: str | None, what: str, example: str) -> str:
    t = " ".join((text or "").split())
    if not t or not re.search(r"[A-Za-z]", t):
        raise BadInput(f"Describe the {what} in words, e.g. '{example}'.")
    if len(t) > 500:
        raise BadInput(f"The description is {len(t)} characters long; keep it under 500.")
    return t


def plan_sound(text: str, *, use_embeddings: bool = True) -> SoundPlan:
    """Layers and modifiers for a sound description (keywords first, then nearest meaning)."""
    raw = check_prompt(text, "sound", "rain on a tin roof")
    t = _clean(raw)
    layers: list[Layer] = []
    matched: list[str] = []
    seen: set[str] = set()
    rest = t
    for _name, (stems, _desc, parts) in SCENES.items():
        hit = next((s for s in stems if _has(t, s)), None)
        if hit:
            matched.append(hit)
            layers = [Layer(kind, gain, set(extras)) for kind, gain, extras in parts]
            seen = {layer.kind for layer in layers}
            rest = t.replace(hit, " ")  # "train station" must not also add a train in front
            break  # one scene is enough: their layers already overlap
    named: list[tuple[int, str, str]] = []  # (position in the text, kind, word)
    for kind, (stems, _desc) in SOUNDS.items():
        hits = [(m.start(), s) for s in stems if (m := re.search(r"(?<![a-z])" + re.escape(s.lstrip()), rest))]
        if hits:
            pos, word = min(hits)
            named.append((pos, kind, word.strip()))
    named.sort()
    front: list[Layer] = []
    for _pos, kind, word in named:  # named sounds lead, in the order they were written
        matched.append(word)
        old = next((x for x in layers if x.kind == kind), None)
        if old is not None:
            layers.remove(old)
        front.append(Layer(kind, 1.0 if not front else 0.8, old.extras if old else set()))
        seen.add(kind)
    layers = front + layers
    plan = SoundPlan(layers=layers, matched=matched)
    # Every sound the request names must be in the result: a phrase ("people speaking") that no
    # keyword covered is matched by meaning; one that matches nothing is reported, not dropped.
    if layers and use_embeddings:
        for phrase in _uncovered_phrases(rest, matched):
            kind, sim = nearest_sound(phrase)
            if kind and sim >= MIN_SIMILARITY and kind in SOUNDS:
                if kind not in {layer.kind for layer in plan.layers}:
                    plan.layers.append(Layer(kind, 0.8))
                plan.by_meaning.append((phrase, kind))
            else:
                plan.not_understood.append(phrase)
    if not layers:
        kind, sim = nearest_sound(raw) if use_embeddings else ("", 0.0)
        if not kind or sim < MIN_SIMILARITY:
            raise BadInput(f"I could not tell what sound '{raw[:60]}' describes; describe a sound such as "
                           "'rain on a tin roof', 'a crowd in a train station' or 'a dog barking'.")
        if kind in SCENES:
            plan.layers = [Layer(k, g, set(e)) for k, g, e in SCENES[kind][2]]
        else:
            plan.layers = [Layer(kind)]
        plan.nearest, plan.similarity = kind, sim
    for word, value in INTENSITY.items():
        if _has(t, word):
            plan.intensity = value if plan.intensity == 0.6 else max(plan.intensity, value)
    for word, value in SPEED.items():
        if _has(t, word + " "):
            plan.speed = value
    for word, surface in SURFACES.items():
        if _has(t, word):
            plan.surface = surface
            break
    extras = {e for e in EXTRAS if _has(t, e)}
    if "whistle" in extras:
        extras.add("horn")
    if _has(t, "hi-lo") or _has(t, "two tone") or _has(t, "european"):
        extras.add("two-tone")
    if _has(t, "phone") or _has(t, "telephone"):
        extras.add("ring")
    if _has(t, "passing") or _has(t, "drives by") or _has(t, "going by"):
        extras.add("passing")
    for layer in plan.layers:
        layer.extras |= extras
    for phrase in DISTANT:
        for m in re.finditer(r"(?<![a-z])" + re.escape(phrase), t):
            after = t[m.end() :].split()[:3]  # "distant thunder": only the thunder is far away
            near = " " + " ".join(after) + " "
            kinds = [k for k, (stems, _d) in SOUNDS.items() if any(_has(near, st) for st in stems)]
            targets = [layer for layer in plan.layers if layer.kind in kinds]
            if targets:
                for layer in targets:
                    layer.extras.add("distant")
            else:
                plan.distant = True
    return plan


_PHRASE_SPLIT = re.compile(r"\s*(?:,|;|\band\b|\bwith\b|\bplus\b|\bover\b|\bunder\b|\bwhile\b|\bthen\b)\s*")
_NOT_A_SOUND = frozenset(
    ["a", "an", "the", "some", "of", "in", "on", "at", "to", "for", "from", "background", "foreground", "sound", "sounds", "noise", "noises", "ambience", "audio", "clip", "soundscape", "scene", "effect", "effects", "that", "which", "includes", "include", "including", "contains", "containing", "featuring", "has", "lots", "lot", "little", "bit", "very", "soft", "loud", "quiet", "gentle", "heavy", "light", "distant", "far", "away", "nearby", "close", "slow", "fast", "seconds", "second", "minutes", "minute", "long", "short"]
)


def _uncovered_phrases(text: str, matched: list[str]) -> list[str]:
    """Pieces of the description that name something and contain none of the matched words."""
    out = []
    for piece in _PHRASE_SPLIT.split(text):
        words = re.findall(r"[a-z']+", piece)
        content = [w for w in words if w not in _NOT_A_SOUND and not w.isdigit()]
        if len(content) < 1 or any(_has(" " + piece + " ", m.strip()) for m in matched if m.strip()):
            continue
        out.append(" ".join(words))
    return out


def nearest_sound(text: str) -> tuple[str, float]:
    """The sound or scene whose description is closest in meaning (MiniLM cosine), and the similarity."""
    from audiogpt.models import text_embedding

    if not text_embedding.available():
        return "", 0.0
    names = list(SOUNDS) + list(SCENES)
    descs = [SOUNDS[n][1] for n in SOUNDS] + [SCENES[n][1] for n in SCENES]
    emb = text_embedding.embed([text, *descs])
    sims = emb[1:] @ emb[0]
    best = int(sims.argmax())
    return names[best], float(sims[best])


def seed_for(text: str, salt: str = "") -> int:
    """A stable seed from the words: the same description gives the same sound, others differ."""
    return zlib.crc32((salt + " ".join(text.lower().split())).encode("utf-8"))


# --- music ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Genre:
    tempo: float
    instruments: tuple[str, ...]
    drums: str | None  # pattern name in composer.DRUM_PATTERNS, None for no drums
    swing: float = 0.0  # 0 straight .. 0.33 full triplet swing
    beats_per_bar: int = 4
    mode: str | None = None  # a genre's usual mode, when the mood does not say


GENRES: dict[str, Genre] = {
    "lofi": Genre(78, ("epiano", "bass", "pad"), "hiphop", 0.18),
    "hip hop": Genre(90, ("epiano", "bass"), "hiphop", 0.12),
    "rock": Genre(124, ("guitar", "bass"), "rock"),
    "pop": Genre(112, ("piano", "bass", "pad"), "pop"),
    "house": Genre(124, ("synth", "bass", "pad"), "house"),
    "techno": Genre(130, ("synth", "bass"), "house", mode="minor"),
    "edm": Genre(128, ("synth", "bass", "pad"), "house"),
    "jazz": Genre(120, ("piano", "bass"), "jazz", 0.3),
    "blues": Genre(88, ("guitar", "bass"), "rock", 0.3),
    "ambient": Genre(68, ("pad", "bells"), None),
    "classical": Genre(92, ("strings", "piano"), None),
    "orchestral": Genre(92, ("strings", "piano"), None),
    "cinematic": Genre(84, ("strings", "pad", "piano"), "toms", mode="minor"),
    "folk": Genre(100, ("guitar", "bass"), None),
    "country": Genre(110, ("guitar", "bass"), "pop"),
    "funk": Genre(104, ("guitar", "bass", "epiano"), "funk"),
    "reggae": Genre(80, ("guitar", "bass", "organ"), "reggae"),
    "drum and bass": Genre(172, ("synth", "bass", "pad"), "dnb", mode="minor"),
    "waltz": Genre(90, ("piano", "strings"), None, beats_per_bar=3),
    "lullaby": Genre(66, ("bells", "pad"), None, beats_per_bar=3, mode="major"),
    "march": Genre(112, ("brass", "bass"), "march"),
    "chiptune": Genre(140, ("chip", "bass"), "pop"),
}
GENRE_WORDS = {"lo-fi": "lofi", "lo fi": "lofi", "lofi": "lofi", "hip-hop": "hip hop", "hiphop": "hip hop",
               "rap": "hip hop", "trap": "hip hop", "dance": "edm", "electronic": "edm", "dnb": "drum and bass",
               "jungle": "drum and bass", "film": "cinematic", "epic": "cinematic", "soundtrack": "cinematic",
               "trailer": "cinematic", "acoustic": "folk", "piano ballad": "pop", "8-bit": "chiptune",
               "8 bit": "chiptune", "video game": "chiptune", "symphon": "orchestral", "disco": "house"}
MOODS: dict[str, tuple[str | None, float]] = {  # word -> (mode, energy 0..1)
    "sad": ("minor", 0.25), "melanchol": ("minor", 0.3), "dark": ("minor", 0.45), "gloomy": ("minor", 0.3),
    "somber": ("minor", 0.25), "sombre": ("minor", 0.25), "tense": ("minor", 0.6), "scary": ("minor", 0.5),
    "mysterious": ("minor", 0.4), "haunting": ("minor", 0.35), "angry": ("minor", 0.9), "tragic": ("minor", 0.3),
    "lonely": ("minor", 0.25), "heartbreak": ("minor", 0.3), "epic": ("minor", 0.8), "dramatic": ("minor", 0.7),
    "happy": ("major", 0.75), "upbeat": ("major", 0.85), "cheerful": ("major", 0.75), "joyful": ("major", 0.8),
    "bright": ("major", 0.7), "uplifting": ("major", 0.75), "playful": ("major", 0.7), "fun ": ("major", 0.75),
    "calm": ("major", 0.2), "relaxing": ("major", 0.2), "peaceful": ("major", 0.2), "chill": (None, 0.3),
    "dreamy": ("major", 0.25), "romantic": ("major", 0.4), "hopeful": ("major", 0.5), "triumphant": ("major", 0.9),
    "energetic": (None, 0.9), "intense": (None, 0.9), "aggressive": ("minor", 1.0), "gentle": (None, 0.2),
    "soft": (None, 0.2), "quiet": (None, 0.15), "sleepy": ("major", 0.1), "nostalgic": ("major", 0.35),
    # how the listener feels: music for them, not about them ("I am tired today" -> something soothing)
    "tired": ("major", 0.2), "exhausted": ("major", 0.15), "stressed": ("major", 0.2), "anxious": ("major", 0.2),
    "bored": ("major", 0.75), "unwind": ("major", 0.2),
}
TEMPO_WORDS = [("very slow", 56.0), ("very fast", 170.0), ("slow", 68.0), ("laid back", 80.0), ("relaxed", 80.0),
               ("moderate", 100.0), ("medium", 100.0), ("mid-tempo", 100.0), ("fast", 144.0), ("quick", 140.0),
               ("rapid", 160.0), ("frantic", 170.0), ("upbeat", 124.0)]
INSTRUMENT_WORDS = {
    "piano": "piano", "keys": "piano", "rhodes": "epiano", "electric piano": "epiano", "guitar": "guitar",
    "acoustic guitar": "guitar", "ukulele": "guitar", "harp": "guitar", "bass": "bass", "drum": "drums",
    "beat": "drums", "percussion": "drums", "pad": "pad", "synth": "synth", "synthesizer": "synth",
    "strings": "strings", "violin": "strings", "cello": "strings", "orchestra": "strings", "organ": "organ",
    "bell": "bells", "glockenspiel": "bells", "music box": "bells", "marimba": "bells", "flute": "flute",
    "whistle": "flute", "brass": "brass", "trumpet": "brass", "horn": "brass", "8-bit": "chip",
}
KEY_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
MIN_BPM, MAX_BPM = 40.0, 220.0


@dataclass
class MusicPlan:
    tempo: float  # beats per minute
    tempo_source: str  # "asked", a word, or the genre
    mode: str  # "major" | "minor"
    root: int  # pitch class 0 = C
    energy: float  # 0 calm .. 1 driving
    instruments: list[str]
    drums: str | None
    swing: float
    beats_per_bar: int
    genre: str
    moods: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # things the answer must say (a clamped tempo)

    @property
    def key_name(self) -> str:
        return f"{KEY_NAMES[self.root]} {self.mode}"

    def summary(self) -> str:
        genre = f"{self.genre} " if self.genre else "music "
        drums = f", {self.drums} drums" if self.drums else ", no drums"
        return (f"{genre}in {self.key_name} at {self.tempo:.0f} BPM ({self.beats_per_bar}/4), "
                f"{', '.join(i for i in self.instruments if i != 'drums')}{drums}")


def plan_music(text: str) -> MusicPlan:
    """Genre, key, mode, tempo and instruments from a music description."""
    raw = check_prompt(text, "music", "calm lo-fi piano")
    t = _clean(raw)
    genre_name = ""
    for word, name in [(g, g) for g in GENRES] + list(GENRE_WORDS.items()):
        if _has(t, word):
            genre_name = name
            break
    genre = GENRES.get(genre_name)
    moods = [m.strip() for m in MOODS if _has(t, m)]
    mood_of = {k.strip(): v for k, v in MOODS.items()}
    mode = next((mood_of[m][0] for m in moods if mood_of[m][0]), None) or (genre.mode if genre else None) or "major"
    energy = sum(mood_of[m][1] for m in moods) / len(moods) if moods else 0.55
    notes: list[str] = []
    tempo: float | None = None
    source = ""
    m = re.search(r"(\d{2,3}(?:\.\d+)?)\s*(?:bpm|beats per minute|beats a minute)", t)
    if m:
        asked = float(m.group(1))
        tempo = min(max(asked, MIN_BPM), MAX_BPM)
        source = "asked"
        if tempo != asked:
            notes.append(f"{asked:g} BPM is outside {MIN_BPM:.0f}-{MAX_BPM:.0f}, so it plays at {tempo:.0f} BPM")
    if tempo is None:
        for word, bpm in TEMPO_WORDS:
            if _has(t, word):
                tempo, source = bpm, f"'{word}'"
                break
    if tempo is None and genre:
        tempo, source = genre.tempo, f"{genre_name} default"
    if tempo is None:
        tempo = 70 + 70 * energy
        source = "mood" if moods else "default"
    if source.startswith("'"):
        word = source.strip("'")
        if word in ("fast", "quick", "rapid", "frantic", "very fast", "upbeat"):
            energy = max(energy, 0.8)
        elif word in ("slow", "very slow"):
            energy = min(energy, 0.3)
    named: list[str] = []
    for word, inst in INSTRUMENT_WORDS.items():
        if _has(t, word) and inst not in named:
            named.append(inst)
    if "epiano" in named and "piano" in named:
        named.remove("piano")
    if named:
        instruments = named
        if instruments == ["drums"] or (genre and "bass" in genre.instruments and "bass" not in instruments):
            instruments = [*instruments, "bass"]  # a bass line carries the key under a groove ("lo-fi piano")
    else:
        instruments = list(genre.instruments) if genre else (["piano", "bass", "pad"] if energy < 0.6
                                                            else ["piano", "bass", "synth"])
    drums: str | None
    drums = genre.drums if genre else "pop" if energy >= 0.55 else None
    if "drums" in named and drums is None:
        drums = "pop"
    if named and "drums" not in named and not genre:
        drums = None  # "slow sad piano": only what was asked for
    if any(_has(t, w) for w in ("no drums", "without drums", "drumless")):
        drums = None
    if drums and "drums" not in instruments:
        instruments.append("drums")
    if drums is None and "drums" in instruments:
        instruments.remove("drums")
    seed = seed_for(raw, "key")
    key_match = re.search(r"\b(?:in\s+)?([a-g])\s*(#|sharp|b|flat)?\s+(major|minor)\b", t)
    if key_match:
        root = KEY_NAMES.index(key_match.group(1).upper())
        acc = key_match.group(2) or ""
        root = (root + (1 if acc in ("#", "sharp") else -1 if acc in ("b", "flat") else 0)) % 12
        mode = key_match.group(3)
    else:
        root = [0, 2, 4, 5, 7, 9, 10][seed % 7]  # C D E F G A Bb: comfortable keys for every instrument
    return MusicPlan(tempo=float(tempo), tempo_source=source, mode=mode, root=root, energy=float(energy),
                     instruments=instruments, drums=drums, swing=genre.swing if genre else 0.0,
                     beats_per_bar=genre.beats_per_bar if genre else 4, genre=genre_name, moods=moods, notes=notes)
