"""Fixed vocabularies for the synthetic world: genre families, fine genres, name parts.

Kept apart from the generators so the numbers and words can change without touching logic.
"""
from __future__ import annotations

# Family key -> fine-grained genre names (real-sounding, Spotify style). Order matters: earlier names
# are drawn more often (Zipf weights), as "pop" or "rock" are far commoner than "neo-psychedelic".
GENRE_FAMILIES: dict[str, list[str]] = {
    "rock": [
        "rock", "indie rock", "alternative rock", "classic rock", "album rock", "modern rock", "hard rock",
        "indie pop rock", "garage rock", "post-punk revival", "psychedelic rock", "soft rock", "art rock",
        "blues rock", "shoegaze", "dream pop", "britpop", "post-rock", "stoner rock", "math rock",
        "neo-psychedelic", "southern rock", "surf rock", "yacht rock", "noise rock", "krautrock",
    ],
    "pop": [
        "pop", "dance pop", "post-teen pop", "electropop", "indie pop", "art pop", "pop rap", "synthpop",
        "bubblegum pop", "k-pop", "europop", "chamber pop", "bedroom pop", "hyperpop", "teen pop",
        "canadian pop", "uk pop", "acoustic pop", "baroque pop", "sophisti-pop", "city pop", "j-pop",
    ],
    "hip hop": [
        "hip hop", "rap", "trap", "southern hip hop", "gangster rap", "conscious hip hop", "east coast hip hop",
        "west coast rap", "underground hip hop", "alternative hip hop", "drill", "uk drill", "boom bap",
        "melodic rap", "emo rap", "jazz rap", "atl hip hop", "cloud rap", "grime", "g funk", "hardcore hip hop",
        "dirty south rap", "abstract hip hop", "lo-fi hip hop",
    ],
    "electronic": [
        "edm", "house", "deep house", "tech house", "techno", "electro house", "big room", "progressive house",
        "trance", "drum and bass", "dubstep", "future bass", "tropical house", "minimal techno", "ambient",
        "idm", "uk garage", "electronica", "downtempo", "synthwave", "hardstyle", "breakbeat", "chillwave",
        "melodic techno", "acid house", "liquid funk",
    ],
    "r&b": [
        "r&b", "urban contemporary", "neo soul", "soul", "contemporary r&b", "quiet storm", "new jack swing",
        "classic soul", "motown", "funk", "alternative r&b", "southern soul", "philly soul", "disco",
        "p-funk", "chicago soul", "memphis soul", "gospel", "boogie",
    ],
    "jazz": [
        "jazz", "vocal jazz", "bebop", "cool jazz", "hard bop", "smooth jazz", "jazz fusion", "swing",
        "contemporary jazz", "modal jazz", "free jazz", "blues", "chicago blues", "delta blues",
        "electric blues", "soul jazz", "big band", "latin jazz", "nu jazz", "jazz funk", "gypsy jazz",
    ],
    "classical": [
        "classical", "baroque", "early romantic era", "late romantic era", "classical era", "opera",
        "orchestral", "chamber music", "contemporary classical", "minimalism", "impressionism",
        "neoclassical", "choral", "string quartet", "classical piano", "renaissance", "early music",
        "post-romantic era", "compositional ambient", "film score",
    ],
    "folk": [
        "folk", "country", "contemporary country", "indie folk", "americana", "singer-songwriter",
        "outlaw country", "bluegrass", "folk rock", "country rock", "alt-country", "stomp and holler",
        "red dirt", "traditional folk", "nashville sound", "honky tonk", "country road", "folk-pop",
        "new americana", "anti-folk", "appalachian folk", "texas country",
    ],
    "latin": [
        "latin pop", "reggaeton", "latin hip hop", "tropical", "urbano latino", "trap latino", "bachata",
        "salsa", "cumbia", "merengue", "latin", "regional mexican", "corrido", "banda", "dembow",
        "latin alternative", "bolero", "mariachi", "moombahton", "norteno",
    ],
    "metal": [
        "metal", "thrash metal", "heavy metal", "alternative metal", "nu metal", "death metal", "black metal",
        "metalcore", "doom metal", "power metal", "progressive metal", "punk", "pop punk", "hardcore punk",
        "skate punk", "post-hardcore", "glam metal", "sludge metal", "grindcore", "melodic death metal",
        "emo", "screamo", "deathcore", "crust punk",
    ],
    "reggae": [
        "reggae", "roots reggae", "dancehall", "dub", "ska", "rocksteady", "lovers rock", "reggae fusion",
        "modern reggae", "ragga", "ska punk", "two tone", "steppers", "uk reggae",
    ],
    "world": [
        "afrobeat", "afrobeats", "highlife", "afropop", "amapiano", "bossa nova", "mpb", "samba",
        "flamenco", "fado", "celtic", "bhangra", "k-indie", "j-rock", "turkish pop", "arabesque",
        "chanson", "soukous", "mbalax", "qawwali", "gnawa", "balkan brass", "tuareg guitar", "cumbia andina",
    ],
}

FAMILIES: list[str] = list(GENRE_FAMILIES)

# Share of artists whose true family is each family (the catalog's genre mix).
FAMILY_SHARE: dict[str, float] = {
    "pop": 0.15, "rock": 0.14, "hip hop": 0.14, "electronic": 0.12, "r&b": 0.08, "latin": 0.07,
    "folk": 0.08, "metal": 0.06, "jazz": 0.05, "classical": 0.04, "reggae": 0.03, "world": 0.04,
}

# Families that sound alike: an artist's stray genre comes from a neighbour more often than at random.
NEIGHBOURS: dict[str, list[str]] = {
    "rock": ["metal", "folk", "pop"], "pop": ["electronic", "r&b", "rock"], "hip hop": ["r&b", "pop", "latin"],
    "electronic": ["pop", "hip hop"], "r&b": ["hip hop", "pop", "jazz"], "jazz": ["r&b", "classical", "world"],
    "classical": ["jazz", "world"], "folk": ["rock", "world"], "latin": ["pop", "hip hop", "world"],
    "metal": ["rock"], "reggae": ["world", "hip hop"], "world": ["latin", "reggae", "jazz"],
}

# Probability that a track is explicit, by family (explicit is mostly hip hop).
EXPLICIT_P: dict[str, float] = {
    "hip hop": 0.6, "latin": 0.18, "r&b": 0.2, "metal": 0.15, "pop": 0.1, "electronic": 0.06, "rock": 0.07,
    "reggae": 0.08, "folk": 0.02, "jazz": 0.01, "classical": 0.0, "world": 0.03,
}

# Mean age in years of releases (exponential scale): jazz and classical skew old, hip hop and electronic new.
RELEASE_AGE_SCALE: dict[str, float] = {
    "rock": 16, "pop": 9, "hip hop": 7, "electronic": 6, "r&b": 14, "jazz": 26, "classical": 22, "folk": 14,
    "latin": 7, "metal": 14, "reggae": 18, "world": 12,
}

ONSETS = ["b", "br", "c", "ch", "d", "dr", "f", "fl", "g", "gr", "h", "j", "k", "kr", "l", "m", "n", "p",
          "pr", "r", "s", "sh", "st", "t", "tr", "v", "w", "z", "", "", "y", "bl", "cl", "sl", "th"]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ou", "ee", "ia", "a", "e", "o", "i"]
CODAS = ["", "", "", "n", "r", "l", "s", "x", "m", "nd", "rk", "ck", "th", "v", "ll", "sh", "z", "t"]

WORDS = [
    "midnight", "river", "golden", "echo", "summer", "shadow", "velvet", "neon", "paper", "honey", "silver",
    "wild", "blue", "fire", "ghost", "heart", "city", "ocean", "stone", "glass", "dream", "run", "dance",
    "night", "light", "rain", "storm", "sun", "moon", "star", "road", "home", "lost", "young", "gold",
    "sugar", "diamond", "electric", "broken", "falling", "rising", "slow", "fast", "love", "lonely",
    "crystal", "black", "white", "red", "garden", "highway", "window", "mirror", "winter", "spring", "autumn",
    "thunder", "desert", "island", "machine", "satellite", "cherry", "lemon", "smoke", "shiver", "orbit",
    "signal", "tide", "harbor", "wolf", "tiger", "dove", "raven", "bloom", "ember", "frost", "static",
    "velour", "saint", "riot", "vapor", "cosmic", "hollow", "secret", "sweet", "bitter", "tender",
    "kingdom", "empire", "party", "money", "fever", "rhythm", "motion", "memory", "horizon", "paradise",
    "sirens", "waves", "letters", "colours", "stairs", "bridges", "streets", "flowers", "lights", "days",
]
TITLE_SUFFIXES = ["", "", "", "", "", " (Remix)", " - Live", " (Acoustic)", " Pt. 2", " (Interlude)",
                  " - Remastered", " (feat. Someone)", " (Radio Edit)", " Reprise"]
CLASSICAL_FORMS = ["Sonata", "Nocturne", "Prelude", "Etude", "Concerto", "Symphony", "Fugue", "Suite",
                   "Rhapsody", "Serenade", "Mazurka", "Waltz", "Impromptu", "Partita", "Requiem"]
ARTIST_PATTERNS = ["{F} {L}", "{F} {L}", "The {W}s", "{W} {W2}", "{F}", "DJ {F}", "{L} & the {W}s",
                   "Lil {F}", "{F} {L} Trio", "{W} Club", "MC {F}", "{L} Quartet", "{F} {W}"]

PLAYLIST_THEMES = {
    # name -> (description, feature to favour, sign)
    "chill": ("slow evenings", "energy", -1.0),
    "gym": ("lift heavy", "energy", 1.0),
    "Liked mix": ("", None, 0.0),
    "focus": ("deep work", "instrumentalness", 1.0),
    "party": ("friday", "danceability", 1.0),
    "road trip": ("windows down", "valence", 1.0),
    "sad hours": ("", "valence", -1.0),
    "throwbacks": ("old favourites", "release_year", -1.0),
}

PODCASTS = [
    ("Mythical Monsters", ["Welcome to Mythical Monsters", "Zagreus: Heir of Hades", "The Kraken"]),
    ("Daily Brief", ["Monday news", "Tuesday news", "Weekend special"]),
    ("Deep Science", ["Black holes", "Tardigrades", "Why we sleep"]),
]

PLATFORMS = ["android", "ios", "windows", "osx", "web_player", "linux"]
