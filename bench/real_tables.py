"""What counts as a correct answer on the real corpus, by meaning (the bench's truth tables).

The corpus names its sounds in its sources' words ("car_horn", "thunderstorm",
"Walk_or_footsteps"); the detector answers in AudioSet's. :data:`ACCEPT` says,
for each truth label, which AudioSet labels *mean* it. A parent is not the
same meaning ("Animal" or "Domestic animals, pets" for a sheep, "Vehicle" for
a car horn), and neither is a sibling ("Rain" for a thunderstorm, "Turkey" for
a sheep): a person asked what they hear would not accept those. Written once
from the label meanings, never fitted to what the detector outputs.
"""

from __future__ import annotations

_DOG = ["Dog", "Bark", "Yip", "Howl", "Bow-wow", "Growling", "Whimper (dog)", "Canidae, dogs, wolves"]
_BIRD = ["Bird", "Bird vocalization, bird call, bird song", "Chirp, tweet", "Squawk", "Crow", "Caw",
         "Pigeon, dove", "Coo", "Owl", "Hoot", "Bird flight, flapping wings"]
_GUITAR = ["Guitar", "Electric guitar", "Bass guitar", "Acoustic guitar", "Steel guitar, slide guitar",
           "Tapping (guitar technique)", "Strum", "Plucked string instrument"]
_SPEECH = ["Speech", "Conversation", "Narration, monologue", "Child speech, kid speaking", "Shout", "Yell",
           "Speech synthesizer", "Whispering"]
_ENGINE = ["Engine", "Idling", "Light engine (high frequency)", "Medium engine (mid frequency)",
           "Heavy engine (low frequency)", "Engine starting", "Accelerating, revving, vroom", "Engine knocking"]
_TRAFFIC = ["Traffic noise, roadway noise", "Car passing by", "Car", "Motor vehicle (road)", "Bus", "Truck",
            "Outside, urban or manmade", "Vehicle horn, car horn, honking", "Motorcycle"]

ACCEPT: dict[str, list[str]] = {
    "hen": ["Chicken, rooster", "Cluck", "Crowing, cock-a-doodle-doo"],
    "chicken": ["Chicken, rooster", "Cluck", "Crowing, cock-a-doodle-doo"],
    "sheep": ["Sheep", "Bleat"],
    "dog": _DOG, "dog bark": _DOG, "bark": ["Bark", "Dog"], "dog howling": ["Howl", "Dog"],
    "car horn": ["Vehicle horn, car horn, honking", "Toot", "Air horn, truck horn"],
    "thunderstorm": ["Thunderstorm", "Thunder"], "thunder": ["Thunder", "Thunderstorm"],
    "chirping birds": _BIRD, "bird": _BIRD, "robin": _BIRD, "night flight call": _BIRD,
    "whale": ["Whale vocalization"], "humpback whale song": ["Whale vocalization"],
    "applause": ["Applause", "Clapping"], "clapping": ["Clapping", "Applause"],
    "music": ["Music"], "arcade/video game music": ["Video game music", "Music", "Electronic music"],
    "guitar": _GUITAR, "electric guitar": _GUITAR, "jazz": ["Jazz"],
    "piano": ["Piano", "Electric piano", "Keyboard (musical)"],
    "engine": _ENGINE, "car engine": _ENGINE,
    "crowd cheering": ["Cheering", "Crowd", "Applause"], "cheering": ["Cheering", "Crowd"],
    "gunshot": ["Gunshot, gunfire", "Machine gun", "Fusillade", "Cap gun", "Artillery fire"],
    "rain": ["Rain", "Raindrop", "Rain on surface"],
    "snoring": ["Snoring"],
    "train": ["Train", "Rail transport", "Railroad car, train wagon", "Train wheels squealing", "Train horn",
              "Train whistle", "Clickety-clack", "Subway, metro, underground"],
    "keyboard typing": ["Typing", "Computer keyboard", "Typewriter"], "typing": ["Typing", "Computer keyboard"],
    "washing dishes": ["Dishes, pots, and pans", "Cutlery, silverware", "Sink (filling or washing)",
                       "Water tap, faucet", "Chink, clink"],
    "dishes": ["Dishes, pots, and pans", "Cutlery, silverware", "Chink, clink"],
    "exercise bike": ["Bicycle", "Mechanisms", "Whir", "Ratchet, pawl", "Gears", "Pulleys"],
    "mechanical noise": ["Mechanisms", "Whir", "Gears", "Vibration", "Rattle"],
    "street": _TRAFFIC, "traffic": _TRAFFIC, "street ambience": _TRAFFIC,
    "human voice": _SPEECH, "speech": _SPEECH,
    "fan": ["Mechanical fan", "Air conditioning", "Whir"], "machine": ["Mechanisms", "Whir", "Hum", "Vibration"],
    "crushing": ["Crushing", "Crumpling, crinkling", "Crunch", "Breaking"],
    "walk or footsteps": ["Walk, footsteps", "Run", "Shuffle"],
    # FSD50K's own names (soundata_fsd50k_99 lists a scene's worth)
    "chatter": ["Chatter", "Hubbub, speech noise, speech babble", *_SPEECH],
    "chirp and tweet": _BIRD, "bird vocalization and bird call and bird song": _BIRD,
    "traffic noise and roadway noise": _TRAFFIC,
    "child speech and kid speaking": ["Child speech, kid speaking", "Speech"],
    "chewing and mastication": ["Chewing, mastication"],
}


def key(label: str) -> str:
    return label.replace("_", " ").strip().lower()


def accepted(truth_labels: list[str]) -> set[str]:
    """Every AudioSet label that means one of the truth labels (empty: nothing to find)."""
    out: set[str] = set()
    for lab in truth_labels:
        out.update(ACCEPT.get(key(lab), []))
    return out


# Caption items: words a fair caption names ("a|b" = either). The Clotho clips are cut to 1-2 s, so
# only what is audible in that cut is asked for; music asks for "music" and the instrument or style.
CAPTION_WORDS: dict[str, list[str]] = {
    "caption/clotho_clotho_Ambience_Birds.wav": ["bird|birds|birdsong", "outdoors|outside|nature|field"],
    "caption/clotho_dcase23_task6a_1.wav": ["rain"],
    "music/ballroom_waltz_Media-105901.wav": ["music", "waltz|dance|ballroom"],
    "music/gtzan_country.00000.wav": ["music", "country|guitar"],
    "music/irmas_clarinet_0189.wav": ["music", "clarinet|woodwind"],
    "music/librosa_147793__setuniman__sweet-waltz-0i-22mi.wav": ["music", "waltz|piano|dance"],
    "music/librosa_442789__lena-orsa__happy-music-pistachio.wav": ["music", "piano|ragtime"],
    "music/librosa_Hungarian_Dance_number_5_-_Allegro_in_F_.wav": ["music", "strings|string|orchestra|violin|orchestral|classical"],
    "music/librosa_Karissa_Hobbs_-_Lets_Go_Fishin.wav": ["music"],
    "music/librosa_Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of.wav": ["music", "classical|orchestra|orchestral|celesta|bells"],
    "music/librosa_Kevin_MacLeod_-_Vibe_Ace.wav": ["music", "jazz"],
    "music/librosa_admiralbob77_-_Choice_-_Drum-bass.wav": ["music", "drums|drum|bass|percussion"],
    "music/librosa_sorohanro_-_solo-trumpet-06.wav": ["music", "trumpet|brass|jazz"],
    "music/medleysolos_flute.wav": ["music", "flute|woodwind"],
}
