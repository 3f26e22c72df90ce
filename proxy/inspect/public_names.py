"""Names that are no one's personal data: public figures, placeholders ("John Doe", "Max
Mustermann"), fictional characters, and terms named after someone ("Alzheimer's disease",
"Gare Saint-Lazare", "Christian Dior" the brand). The lists are versioned data
(`data/names/`, see its README), loaded once per worker process.

A person hit whose words are such a name (or several joined, or one and what is named after
it: "Taylor Swift Eras Tour", with no unlisted given name among them) becomes a PUBLIC_NAME hit, labelled with the list
that decided (`public-name.athletes`), which the default policy lets go to the cloud. Unless
the text ties the name to the company's own business (an e-mail to send, a contract, a
salary, a ticket, "our", "my colleague", contact details nearby): then an employee who shares
a famous name stays a PERSON (`public-name.tied-to-business`). That tie is for public
figures: placeholders, fictional characters and eponyms are nobody's name ("Max Mustermann"
as the sample customer of a form). Entries the lists mark `# ambiguous` (also common among
private people: "Mario Rossi") count only where the text frames them as an example ("for
example", "test fixture", "nome fittizio"); the business words of that sentence then describe
the sample ("an example invoice for Mario Rossi"), and only a tie outside it is a real one;
another name in that sentence is a sample too ("datos de ejemplo: Juan Pérez como arrendador,
María López como arrendataria").
The fields that follow a placeholder on its line ("Jean Dupont, né le 01/01/1970, 1 rue de
l'Exemple, 75000 Paris") are its sample record where the text frames it as an example: they
are dropped too.

No list holds every public figure, so a name none holds is one too where the text asks about a
life, a legacy or a role ("Quem foi …", "the life of …", "… is best known for": `public-name.biography`) or names it
among two or more listed people (`public-name.among-public-figures`) or beside a listed
character of a work of fiction the text names (`public-name.among-characters`), and nothing
around it ties it to the business, nor its sentence to the writer's private life ("my
daughter", "mon voisin"), nor does the text address it ("ask", "schreib").
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Iterable

from .examples import dummy_number, example_address
from .given_names import PARTICLES, is_given_name, is_surname, surnames
from .hit import Hit
from .languages import Languages, alternation, stem

ENTITY = "PUBLIC_NAME"
_WINDOW = 120  # characters either side of a name in which a business tie counts
_RECORD = 120  # characters after a placeholder, on its line, that hold its sample record
_PAIRED_FIELDS = 80  # characters between the given name's and the surname's fields of one record
# What a sample record holds; identifiers, accounts and secrets are judged on their own.
_RECORD_FIELDS = frozenset({"STREET_ADDRESS", "DATE_OF_BIRTH", "PHONE_NUMBER", "EMAIL_ADDRESS"})
# An e-mail address or a phone number; not a life's years ("Konrad Zuse (1910-1995)").
_CONTACT = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+|(?!(?:1\d|20)\d\d ?- ?(?:1\d|20)\d\d\b)\+?\d[\d ().-]{7,}\d")


# A unit test's code frames its values as samples too: `def test_…`, `@Test`, `@pytest.fixture`,
# `KundeTest`, `assertEquals(…)`.
_TEST_CODE = r"(?<!\w)(?:test_\w+|@Test\b|@pytest\.fixture|assert\w*)|(?-i:\b[A-Z]\w*Test\b)"

# Alice and Bob named together, with no contract or colleague near: the cast of a protocol's
# explanation (Eve, Mallory, Trent…), a frame as clear as "for example".
_CAST = re.compile(r"\bAlice\b[^\n]{0,80}\bBob\b|\bBob\b[^\n]{0,80}\bAlice\b")
# Capitalised words in a row, particles between them ("Keir Starmer", "Ursula von der Leyen").
_NAME_RUN = re.compile(r"(?:[A-ZÀ-ÖØ-Þ][\w'’.-]*\s+(?:(?:de|da|di|van|von|der|den|del|la|le|du)\s+)*)+[A-ZÀ-ÖØ-Þ][\w'’-]*")
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n")
_REGNAL = r"X{0,3}(?:IX|IV|VI{0,3}|I{2,3})|X{1,3}"  # II to XXXIX: not "I", a pronoun or an initial
_REGNAL_END = re.compile(rf"\s(?:{_REGNAL})$")
# A form's blank field ("Adresse : ____"): its label is the template's, no tie to anyone.
_BLANK_FIELD = re.compile(r"(?m)^[^\n:]{1,40}:[ \t]*(?:_{2,}|\.{3,}|…+|\[ *\])[ \t]*$")
_FIELD_LABEL = re.compile(r"[\"']?\b[\w-]+[\"']?[ \t]*[:=]")
_CLOCK = re.compile(r"(?i)\b\d{1,2}(?:[:.h]\d{2}|h|\s?[ap]\.?m\.?)(?!\w)")  # "7h", "14:30", "9 am"
_CAPITALISED = re.compile(r"\b[A-ZÀ-ÖØ-Þ][\w'’-]+")
_TWO_WORDS = re.compile(r"\S*(?:[ \t]+\S+)?")
_CLOSING_QUOTES = frozenset("\"'»”’“")
_WORD_BEFORE = re.compile(r"([A-ZÀ-ÖØ-Þ][\w'’-]+)[ \t]+$")
# Up to three words after a name, the last capitalised: a pair's joiner and second name ("e
# Lucia"), a band's ("and the Queens").
_WORDS_AFTER = re.compile(r"[ \t]+(?:[\w'’-]+[ \t]+){0,2}[A-ZÀ-ÖØ-Þ][\w'’-]+")
_SPECIAL = frozenset({"HEALTH_DATA", "SPECIAL_CATEGORY"})
_NOBODY = frozenset({"placeholders", "fictional", "eponyms"})  # lists of names that are no one's
# An account's name (a message's `name`, `/home/…`, `user=…`, `@…`) is its holder's, however
# famous the name: a footballer does not log in to the company's assistant.
_ACCOUNTS = frozenset({"name-shape.handle", "name-shape.account", "name-shape.home-dir", "name-shape.mention",
                       "name-shape.profile"})
# The person rules that read names written out in prose.
_PROSE = frozenset({"person.given-name", "person.given-name-alone", "person.context", "person.ner", "person.known-surname",
                    "person.short-form", "person.articled", "person.family", "person.surname-first",
                    "learned-name.lower-case", "name-shape.lower-case", "name-shape.given-pair", "person.title",
                    "name-shape.lower-case-given-name", "person.initial"})
# What a sample's sentence turns into samples too: names in prose, a form's fields, and a public
# figure cast as a sample customer ("dati di esempio: Mario Rossi … e Giuseppe Verdi come cliente").
_BESIDE_A_SAMPLE = _PROSE | {"name-shape.form-field", "public-name.tied-to-business"}


@lru_cache(maxsize=1)
def _lists() -> tuple[dict[str, str], dict[str, list[str]], dict[str, str]]:
    """(normalised name -> list it is in, word -> eponymous terms that hold it, name also
    common among private people -> its list)."""
    root = resources.files("proxy.inspect").joinpath("data/names")
    names: dict[str, str] = {}
    eponyms: dict[str, list[str]] = {}
    ambiguous: dict[str, str] = {}
    files = [(f"public_figures/{p.name}", p) for p in root.joinpath("public_figures").iterdir()] + \
        [(p.name, p) for p in root.iterdir() if p.name.endswith(".txt")]
    for rel, path in sorted(files, key=lambda f: f[0]):
        if not rel.endswith(".txt") or rel == "works.txt":  # titles, not names: `_works`
            continue
        kind = rel.rsplit("/", 1)[-1].removesuffix(".txt")
        for line in path.read_text("utf-8").splitlines():
            entry, _, comment = line.partition("  #")
            entry = entry.strip()
            if not entry or entry.startswith("#"):
                continue
            if "ambiguous" in comment:
                ambiguous.setdefault(_norm(entry), kind)
                continue
            if kind == "eponyms":
                for word in entry.split():
                    eponyms.setdefault(_norm(word), []).append(entry)
            else:
                names.setdefault(_norm(entry), kind)
    return names, eponyms, ambiguous


@lru_cache(maxsize=1)
def _works() -> tuple[tuple[str, bool], ...]:
    """The titles of works of fiction (`works.txt`), each with whether it is also an ordinary
    phrase, a place or a name (`# ambiguous`)."""
    path = resources.files("proxy.inspect").joinpath("data/names/works.txt")
    titles = []
    for line in path.read_text("utf-8").splitlines():
        entry, _, comment = line.partition("  #")
        if entry.strip() and not entry.startswith("#"):
            titles.append((entry.strip(), "ambiguous" in comment))
    return tuple(titles)


@lru_cache(maxsize=1)
def _people() -> frozenset[str]:
    """The lists of people (public figures, fictional characters) whose names vouch for the
    unlisted names among them; not placeholders or eponyms."""
    return frozenset(_lists()[0].values()) - {"placeholders", "eponyms"}


def _words(entries: Iterable[str]) -> re.Pattern[str]:
    return re.compile(rf"(?i)(?<![\w-])(?:{alternation(entries)})(?![\w-])")  # not "Notre-Dame"


def listed(name: str) -> bool:
    """Whether `name` is on any of the lists, whatever its case ("angela merkel")."""
    names, _, ambiguous = _lists()
    return _norm(name) in names or _norm(name) in ambiguous


def eponym_word(word: str) -> bool:
    """Whether `word` is in a term named after someone ("Dijkstra" of "Dijkstra's algorithm")."""
    return _norm(word) in _lists()[1]


def named_after_here(text: str, start: int, end: int, name: str | None = None) -> bool:
    """Whether the name text[start:end] (or `name`, said of that span) is the one inside a term
    named after someone that stands around it ("la maladie d'Alzheimer", "Gare Saint-Lazare",
    "Suárez" of "Adolfo Suárez Madrid-Barajas"; in lower case too, as chat writes them: "ha
    ganado ya roland garros?")."""
    name = name or text[start:end]
    fold = str.lower if name.islower() else str
    near = fold(text[max(0, start - 40):end + 40])
    return any(name in fold(term) and fold(term) in near for term in _lists()[1].get(_norm(name.split()[0]), ()))


def _title_key(words: list[str]) -> str:
    """Words of a title as it is looked up: normalised, without the punctuation around each."""
    return " ".join(filter(None, (_norm(w.strip(",.;:!?()«»\"“”„'’")) for w in words)))


@lru_cache(maxsize=1 << 16)
def _norm(name: str) -> str:
    # a closing quote a name's span took along ("si usa 'Mario Rossi'"); "ada lovelace's note"
    name = name.casefold().replace("’", "'").strip("'\"«»“”‘ ").removesuffix("'s")
    decomposed = unicodedata.normalize("NFKD", name.replace(".", " "))  # "Mr. Darcy"
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


@dataclass(frozen=True, slots=True)
class _Ties:
    """The words that tie a name to the company's business, in texts of one language."""

    any: re.Pattern[str]
    person: re.Pattern[str]  # a person word, not a possessive alone ("contract", "colleague")
    # A possessive's tie ("our", "my manager") holds only in the name's own sentence: in the next
    # one it is about someone else ("What did Satya Nadella change? My manager keeps quoting him").
    owned: re.Pattern[str]
    other: re.Pattern[str]

    @classmethod
    def of(cls, ties: list[str], possessives: frozenset[str]) -> "_Ties":
        owned = [t for t in ties if any(re.fullmatch(stem(t.split()[0]), p) for p in possessives)]
        return cls(_words(ties), _words([t for t in ties if not any(re.fullmatch(stem(t), p) for p in possessives)]),
                   _words(owned), _words([t for t in ties if t not in owned]))


def _ties_in(languages: Languages, code: str) -> list[str]:
    """The ties that count in a text of `code`: its own and every other language's, but for
    another's that is one of its function words ("nos", French "our", is Portuguese "in the";
    "onze", Dutch "our", is French "eleven")."""
    own = set(languages.get(code).business_ties)
    function = "\n".join(languages.function_words_of[code])  # one search a tie, not one a word
    return [t for t in languages.entries("business_ties")
            if t in own or not re.search(f"(?im)^(?:{stem(t)})$", function)]


class PublicNames:
    entities = frozenset({ENTITY})

    def __init__(self, languages: Languages) -> None:
        self._titles = languages.titles
        possessives = languages.union("possessives")
        words = {code: tuple(_ties_in(languages, code)) for code in languages.codes}
        compiled = {ties: _Ties.of(list(ties), possessives) for ties in set(words.values())}  # most languages share one
        self._ties = {code: compiled[ties] for code, ties in words.items()}
        # Not inside an address: "example.fr", "test@…" frame nothing. A cue of seven letters or
        # more may open a compound or take a plural ("Beispielnamen", "ejemplos"; not "Muster",
        # which opens "Mustermann" too); one of eight or more may close one ("Ausfüllbeispiel").
        cues = languages.entries("example_cues")
        # a name that says it is one ("Jane Placeholder", "Max Beispiel"); not "Test", "Demo", surnames too
        self._example_words = frozenset(c.lower() for c in cues if c.isalpha() and len(c) >= 7)
        heads = alternation([c for c in cues if len(c) >= 7], regex=False)
        tails = alternation([c for c in cues if len(c) >= 8 and " " not in c], regex=False)
        self._example = re.compile(rf"(?i)(?<![\w@.])(?:(?:{alternation(cues, regex=False)})(?![\w@]|\.\w)"
                                   rf"|(?:{heads})\w+(?![@]|\.\w)|\w+(?:{tails})(?![\w@]|\.\w))|{_TEST_CODE}")
        # "for our company book club", „für unsere Vereinszeitung“: who the text is written for
        self._audience = re.compile(rf"(?i)(?<![\w'’])(?:{alternation(possessives)})\w*\s+(?:[\w-]+\s+){{0,2}}?"
                                    rf"(?:{alternation(languages.entries('audiences'))})(?!\w)")
        self._addressed = re.compile(rf"(?i)(?<![\w'’])(?:{alternation(languages.entries('addressing'), regex=False)})"
                                     rf"\s*[,:]?\s+$")
        # the writer's own relations ("my daughter"), not a public figure's ("his boss Mike Sendall")
        self._relations = re.compile(rf"(?i)(?<![\w'’])(?:{alternation(languages.union('own_possessives'))})\s+(?:[\w-]+\s+)?"
                                     rf"(?:{alternation(languages.entries('relations'))})(?![\w-])")
        self._works = _words(languages.entries("works"))
        # Inside a work the text names ("In Breaking Bad, …", « Dans Le Bureau des légendes, … »,
        # "Nell'Amica geniale, …", "na série Glória"): its title after a preposition (its article
        # merged into it) or after the work's kind, which makes an ambiguous title one too.
        articles = re.compile(rf"(?i)^(?:{alternation(languages.union('articles'), regex=False)})(?:\s+|(?<=['’]))")
        forms = [(_title_key(form.split()), ambiguous) for title, ambiguous in _works() for form in (title, articles.sub("", title))]
        self._titles_sure = frozenset(form for form, ambiguous in forms if not ambiguous)
        self._titles_any = frozenset(form for form, _ in forms)
        self._title_heads = frozenset(" ".join(form.split()[:2]) for form in self._titles_any if len(form.split()) > 2)
        self._title_words = max(len(form.split()) for form in self._titles_any)
        self._work_preposition = re.compile(rf"(?i)(?<![\w'’])(?:{alternation(languages.union('work_prepositions'))})"
                                            rf"(?:\s+|(?<=['’]))(?:(?P<kind>(?:\w+\s+)?(?:{alternation(languages.entries('works'))})\s+))?"
                                            rf"[«\"“„]?\s*(?=\w)")
        # A work's title in quotation marks after its kind ("o poema 'Mar Português'"): no one.
        self._work_title = re.compile(rf"(?i)(?<![\w'’])(?:{alternation(languages.entries('works'))})\s+(?:[\w-]+\s+){{0,2}}?"
                                      rf"[\"'«“‘„]\s?$")
        # A regnal number or, after the name and its comma, a title of nobility: "Pie VII",
        # "Henry Wriothesley, 3rd Earl of Southampton", "Felipe VI".
        self._royal = re.compile(rf"(?i)\s+(?-i:{_REGNAL})(?![\w'’])|,?\s+(?:the\s+)?(?:\d{{1,2}}(?:st|nd|rd|th|e|er|º|ª|\.)\s+)?"
                                 rf"(?:{alternation(languages.entries('nobility'))})(?![\w'’])")
        # also with a word and the article speech puts before names between ("quem era afinal o
        # Gomes de Sá", "chi era il Pertini")
        self._biography = re.compile(rf"(?i)(?<![\w'’])(?:{alternation(languages.entries('biography_cues'))})"
                                     rf"(?:(?:\s+\w+)?\s+(?:{alternation(languages.entries('name_articles'), regex=False)}))?\s*$")
        self._known_for = re.compile(rf"(?i),?[ \t]+(?:{alternation(languages.entries('known_for'))})(?!\w)")
        _lists()

    def _settings(self, text: str) -> list[int]:
        """Where the text sets what follows in a listed work ("In Breaking Bad, …"): the
        prepositions' offsets."""
        found = []
        for m in self._work_preposition.finditer(text):
            titles = self._titles_any if m.group("kind") else self._titles_sure
            two = _TWO_WORDS.match(text, m.end()).group().split()
            one, both = _title_key(two[:1]), _title_key(two)
            if one not in titles and both not in titles and both not in self._title_heads:
                continue  # most open no title: one look at their next two words
            words = text[m.end():m.end() + 160].split()[:self._title_words]
            prefix = ""
            for word in words:
                prefix = f"{prefix} {_title_key([word])}".strip()
                if prefix in titles:
                    found.append(m.start())
                    break
        return found

    def framed_as_example(self, text: str, start: int, end: int) -> bool:
        """Whether the words around text[start:end] frame it as an example ("sample", "z. B."), or
        the text holds a placeholder's record at a documentation domain."""
        return bool(self._example.search(text[max(0, start - _WINDOW):end + _WINDOW])) or _documented_sample(text)

    def judge(self, text: str, hits: Iterable[Hit], lang: str) -> list[Hit]:
        """The hits of a text in `lang`, each person whose name is public turned into a
        PUBLIC_NAME hit, without the fields of a placeholder's sample record."""
        hits, ties = list(hits), self._ties[lang]
        split = self._split_placeholders(text, hits, ties)
        judged = [split[i] if i in split else self._judge(text, hit, ties)
                  if hit.entity == "PERSON" and hit.detector not in _ACCOUNTS else hit for i, hit in enumerate(hits)]
        people = _people() | {"among-public-figures", "among-characters", "biography", "royal"}
        # Listed people no detector reported (one opening a sentence: "Summarise Keir Starmer's
        # rules") vouch as well.
        unreported = _listed_people(text) if any(h.entity == "PERSON" and h.detector in _PROSE for h in judged) else set()
        # A work of fiction named (its kind, or a listed title) beside a listed character: the
        # other names are its cast.
        cast = any(h.entity == ENTITY and h.detector == "public-name.fictional" for h in judged) \
            and bool(self._works.search(text) or any(_title_key(r.group().split()) in self._titles_sure
                                                     for r in _NAME_RUN.finditer(text)))  # "Je relis Les Misérables"
        prose = any(h.entity == "PERSON" and h.detector in _PROSE for h in judged)
        works = self._settings(text) if prose else []
        counted = -1
        for _ in range(2):  # one made public beside listed ones vouches too ("Franklin, Wilkins and Gosling")
            public = unreported | {_norm(text[h.start:h.end]) for h in judged
                                   if h.entity == ENTITY and h.detector.removeprefix("public-name.") in people}
            if len(public) == counted:
                break  # nothing new became public: the second pass would judge the same
            counted = len(public)
            judged = [self._unlisted(text, h, public, cast, works, ties) if h.entity == "PERSON" and h.detector in _PROSE else h
                      for h in judged]
        # placeholders, and fictional characters cast as sample data ("fake rows using Star Trek characters")
        samples = [h for h in judged if h.entity == ENTITY and h.detector in ("public-name.placeholders", "public-name.fictional")]
        if samples:
            judged = [self._beside_a_sample(text, h, samples, ties) if h.entity == "PERSON" and h.detector in _BESIDE_A_SAMPLE
                      else h for h in judged]
        judged = self._history(text, judged, people, ties)
        if not any(h.entity in _RECORD_FIELDS for h in judged):
            return judged
        # also a placeholder no detector reported ("«Fulano de Tal, calle Mayor 1, 28001 Madrid»")
        placeholders = [(h.start, h.end) for h in judged if h.entity == ENTITY and h.detector == "public-name.placeholders"]
        placeholders += _written_placeholders(text)
        framed = placeholders and (self._example.search(text) or _documented_sample(text))
        records = [(end, _record_end(text, start, end)) for start, end in placeholders] if framed else []
        return [h for h in judged
                if h.entity not in _RECORD_FIELDS or not any(a <= h.start and h.end <= b for a, b in records)]

    def _history(self, text: str, hits: list[Hit], people: set[str], ties: _Ties) -> list[Hit]:
        """Without the special categories of a text whose only people are public figures, and
        that ties none to the business or the writer's private life: a public life's history
        ("Arthur Ashe announced he had AIDS in 1992", « Jacques Brel a annoncé son cancer »).
        Any other finding (a private name, a record's number, a contact) keeps them all, and so
        does a time of day: an appointment is no history ("ressonância marcada para as 7h")."""
        if not any(h.entity in _SPECIAL for h in hits) or any(h.entity not in _SPECIAL | {ENTITY} for h in hits):
            return hits
        public = any(h.detector.removeprefix("public-name.") in people for h in hits if h.entity == ENTITY)
        if not (public or _listed_people(text)) or ties.any.search(text) \
                or self._relations.search(text) or _contact(text) or _CLOCK.search(text):
            return hits
        return [h for h in hits if h.entity not in _SPECIAL]

    def _split_placeholders(self, text: str, hits: list[Hit], ties: _Ties) -> dict[int, Hit]:
        """A placeholder written over two form fields, given name and surname in either order
        (`nome="Mario", cognome="Rossi"`, `"nom": "Dupont", "prenom": "Jean"`): both fields are
        the placeholder, judged as one name (framed as an example, tied to no one). Not a
        public figure's name: a customer record that splits one is someone's."""
        fields = [i for i, h in enumerate(hits) if h.entity == "PERSON" and h.detector == "name-shape.form-field"]
        found: dict[int, Hit] = {}
        for i, j in zip(fields, fields[1:]):
            a, b = hits[i], hits[j]
            if b.start - a.end > _PAIRED_FIELDS:
                continue
            whole = Hit("PERSON", a.start, b.end, a.score, a.detector)
            for first, second in ((a, b), (b, a)):
                judged = self._judge(text, whole, ties, f"{text[first.start:first.end]} {text[second.start:second.end]}")
                if judged.detector == "public-name.placeholders":
                    found[i], found[j] = (Hit(ENTITY, h.start, h.end, 0.9, judged.detector) for h in (a, b))
                    break
        return found

    def _judge(self, text: str, hit: Hit, ties: _Ties, name: str | None = None) -> Hit:
        if hit.detector in _PROSE and text[hit.end:hit.end + 2].strip()[:1] in _CLOSING_QUOTES \
                and self._work_title.search(text, max(0, hit.start - 40), hit.start):
            return Hit(ENTITY, hit.start, hit.end, 0.9, "public-name.work-title")
        kind, sure = self._kind(text, hit, ties, name)
        if kind is None:
            if hit.detector in _PROSE and _title_key(text[hit.start:hit.end].split()) in self._titles_sure:
                return Hit(ENTITY, hit.start, hit.end, 0.9, "public-name.work-title")  # "better than Citizen Kane"
            return hit
        # A placeholder real people share counts as one where the text frames it as an example;
        # the ties in that same sentence then describe the sample ("an example invoice for
        # Mario Rossi, via Roma 1"), and only a tie elsewhere makes it someone's.
        outside = _sentence(text, hit.start, hit.end) if kind in _NOBODY and not sure else None
        if (kind not in _NOBODY or not sure) and self._tied(text, hit, ties, person=kind in _NOBODY, outside=outside):
            return Hit("PERSON", hit.start, hit.end, hit.score, "public-name.tied-to-business")
        return Hit(ENTITY, hit.start, hit.end, 0.9, f"public-name.{kind}")

    def _beside_a_sample(self, text: str, hit: Hit, samples: list[Hit], ties: _Ties) -> Hit:
        """A name in the sentence of a placeholder, where that sentence frames them as examples
        ("datos de ejemplo: Juan Pérez como arrendador, María López como arrendataria"), is a
        sample too, unless a person tie outside the sentence makes it someone's."""
        a, b = _sentence(text, hit.start, hit.end)
        if not any(a <= s.start < b for s in samples) or not self._example.search(text, a, b) \
                or self._tied(text, hit, ties, person=True, outside=(a, b)):
            return hit
        return Hit(ENTITY, hit.start, hit.end, 0.9, "public-name.placeholders")

    def _unlisted(self, text: str, hit: Hit, public: set[str], cast: bool, works: list[int], ties: _Ties) -> Hit:
        """A name no list holds is a public figure's where the text asks about a life or a
        legacy ("Quem foi …", "the life of …") or names it among two or more listed public
        figures (an essay on a club's history, a literary comparison), or beside one listed
        character of a work the text names (`cast`: "em «Os Maias», o Ega, Carlos e Maria
        Eduarda"), and nothing around it
        ties it to the company's business, nor its sentence to the writer's private life ("my
        daughter Emma loves Taylor Swift and Billie Eilish"), nor does the text address it
        ("schreib Lena Brenner…"). So is a listed one that private people share, a name with a
        regnal number or a title of nobility (`public-name.royal`), and one that the text makes
        public where it writes it again ("bacalhau à Gomes de Sá … quem foi o Gomes de Sá"). So is
        a name in the sentence that sets it in a listed work (`works`, where such a setting
        starts: "In Breaking Bad, at what point does Walter White…": `public-name.in-a-work`)."""
        name = _norm(text[hit.start:hit.end])
        sentence = _sentence(text, hit.start, hit.end)
        staged = any(sentence[0] <= start < sentence[1] for start in works)
        asked = self._biography.search(text[max(0, hit.start - 40):hit.start]) or name in public or (
            self._known_for.match(text, hit.end) and _question(text, hit))  # asked
        royal = self._royal.match(text, hit.end) or _REGNAL_END.search(text, hit.start, hit.end)
        # A public figure's name that private people share too ("Robbie Keane") needs one
        # listed public figure beside it, not two. One is not enough for an unlisted name:
        # "a birthday card for Anna Schmidt, a huge fan of Taylor Swift".
        shared = _lists()[2].get(name) in _people()
        if not (asked or royal or staged or len(public) >= (1 if shared or cast else 2)) or self._tied(text, hit, ties) \
                or self._relations.search(text, *sentence) \
                or self._addressed.search(text, max(0, hit.start - 24), hit.start):
            return hit
        rule = "public-name.biography" if asked else "public-name.royal" if royal else "public-name.in-a-work" if staged else \
            "public-name.among-public-figures" if len(public) >= (1 if shared else 2) else "public-name.among-characters"
        return Hit(ENTITY, hit.start, hit.end, 0.9, rule)

    def _tied(self, text: str, hit: Hit, ties: _Ties, person: bool = False, outside: tuple[int, int] | None = None) -> bool:
        """A tie within `_WINDOW` characters of the name, not inside the span `outside`, nor the
        audience a text is written for; with `person`, a person word's only (a placeholder is
        tied by "contract", not by "our": "our manual uses Jan Jansen" is still the example).
        Around a sample framed as an example (`outside`), the labels of its record's fields
        (`email:`, `"telefono":`) are the sample's, no tie."""
        start, end = outside or (hit.start, hit.end)
        before = text[max(0, hit.start - _WINDOW):min(start, hit.start)]
        around = _BLANK_FIELD.sub(" ", self._audience.sub(" ", before + " " + text[max(end, hit.end):hit.end + _WINDOW]))
        if outside:
            around = _FIELD_LABEL.sub(" ", around)
        if person:
            return bool(ties.person.search(around) or _contact(around))
        a, b = _sentence(text, hit.start, hit.end)
        own = self._audience.sub(" ", text[max(a, hit.start - _WINDOW, 0):min(start, hit.start)] + " "
                                 + text[max(end, hit.end):min(b, hit.end + _WINDOW)])
        return bool(ties.other.search(around) or ties.owned.search(own) or _contact(around))

    def _kind(self, text: str, hit: Hit, ties: _Ties, name: str | None = None) -> tuple[str | None, bool]:
        """The list the name (`name`, or the hit's text) is in, and whether it is surely that
        (not a name real people share)."""
        names, _, ambiguous = _lists()
        spanned, name = name is None, name or text[hit.start:hit.end]
        words = name.split()
        kind = names.get(_norm(" ".join(words)))  # "Don Quijote", "Mr Darcy": the title is the name's
        while not kind and len(words) > 1 and words[0].lower() in self._titles:
            words = words[1:]
        kind = kind or names.get(_norm(" ".join(words)))
        if not kind and len(words) >= 3 and all(w[:1].isupper() for w in words):
            kind = names.get(_norm(f"{words[0]} {words[-1]}"))  # a middle name the list omits: "Otto Robert Frisch"
            last = words[-1]  # a brand the span took along ("¿Cómo fundó Amancio Ortega Zara?"), no surname
            if not kind and not is_surname(last) and (is_given_name(last) or eponym_word(last)):
                kind = names.get(_norm(" ".join(words[:-1])))
        before = _WORD_BEFORE.search(text, max(0, hit.start - 30), hit.start) if spanned else None
        if not kind and before:  # a first name the span left out, no given name of the lists: "Chimamanda Ngozi Adichie",
            # "Franklin D. Roosevelt" (its "D." read as a title)
            kind = names.get(_norm(f"{before.group(1)} {' '.join(words)}")) or names.get(_norm(f"{before.group(1)} {name}"))
        after = _WORDS_AFTER.match(text, hit.end) if spanned else None
        if not kind and after:  # a listed pair the span cut after its first name: "Renzo e Lucia" opening a sentence
            kind = names.get(_norm(f"{' '.join(words)}{after.group()}"))
        if kind:
            return kind, True
        if any(w.lower() in self._example_words for w in words[1:]):
            return "placeholders", True
        kind = ambiguous.get(_norm(" ".join(words))) or _placeholder_head(ambiguous, words)
        window = text[max(0, hit.start - _WINDOW):hit.end + _WINDOW]
        cast = kind == "placeholders" and _CAST.search(window) and not ties.person.search(window)
        # Its record at a documentation domain makes it the sample ("Jan Janssen", jan@example.nl),
        # a frame as clear as "for example".
        documented = kind == "placeholders" and _documented(text, hit.end)
        if kind and (cast or documented or self._example.search(window)):
            return kind, documented
        if named_after_here(text, hit.start, hit.end, name):
            return "eponyms", True
        return _joined(words), True


def _contact(text: str) -> bool:
    """Contact details in `text`: an e-mail address or a phone number; not a mailbox at a
    documentation domain, nor a number no network issues, a sample's ("mario.rossi@example.com",
    "+44 20 0000 0000")."""
    return any(not example_address(m.group()) and not dummy_number(m.group()) and _phone_or_mail(m.group())
               for m in _CONTACT.finditer(text))


def _phone_or_mail(found: str) -> bool:
    """An address, or a number of eight digits or more that no sentence's end splits: not a
    year and what follows it ("la loi de 1975. 200 mots")."""
    return "@" in found or (sum(c.isdigit() for c in found) >= 8 and ". " not in found)


def _question(text: str, hit: Hit) -> bool:
    """Whether the sentence holding the hit ends with a question mark."""
    end = _sentence(text, hit.start, hit.end)[1]
    return text[end:end + 1] == "?"


def _listed_people(text: str) -> set[str]:
    """The listed public figures and characters written in `text` (two to four capitalised
    words, possibly joined by a particle, or one the lists hold alone: "Stromae"), normalised."""
    names, people = _lists()[0], _people()
    whole: list[str] = []
    for run in _NAME_RUN.finditer(text):
        words = run.group().split()
        for i in range(len(words)):
            for j in range(i + 2, min(i + 4, len(words)) + 1):
                name = _norm(" ".join(words[i:j]))
                # not one another capitalised word follows: someone else ("Ana Belén Cortés" is not the singer)
                if names.get(name) in people and not (j < len(words) and words[j][:1].isupper()):
                    whole.append(name)
    # One listed alone, unless it is only the short form inside a name found whole: "Gheorghe
    # Hagi" is one person, not two; "Alzheimer … Alois Alzheimer" writes him twice.
    inside = Counter(w for name in whole for w in name.split())
    alone = Counter(_norm(w) for w in _CAPITALISED.findall(text))
    return set(whole) | {name for name, n in alone.items() if names.get(name) in people and n > inside[name]}


def _written_placeholders(text: str) -> list[tuple[int, int]]:
    """The spans of the placeholders written in `text` that private people do not share
    ("Fulano de Tal", "Max Mustermann"; not "Mario Rossi")."""
    names = _lists()[0]
    return [run.span() for run in _NAME_RUN.finditer(text) if names.get(_norm(run.group())) == "placeholders"]


def _documented(text: str, end: int) -> bool:
    """Whether the record after a name ending at `end`, on its line, holds an address at a
    documentation domain ("Jan Janssen, jan@example.nl")."""
    return example_address(text[end:_line_end(text, end, _RECORD)])


def _documented_sample(text: str) -> bool:
    """A placeholder whose record has its address at a documentation domain ("Max Mustermann",
    max@example.com): the text is a sample, as clearly as where it says "for example"."""
    names, _, ambiguous = _lists()
    return "@" in text and any(
        "placeholders" in (names.get(_norm(run.group())), ambiguous.get(_norm(run.group()))) and _documented(text, run.end())
        for run in _NAME_RUN.finditer(text))


def _joined(words: list[str]) -> str | None:
    """The list of the first name in a run that joins listed names to each other or to what
    is named after them ("Frida Kahlo y Diego Rivera", "Taylor Swift Eras Tour", "Konrad
    Adenauers Rolle"); None when the run holds no listed name, or a given name outside one
    (someone unlisted beside them)."""
    names = _lists()[0]
    kind, i = None, 0
    while i < len(words):
        found = next(((j, k) for j in range(len(words), i, -1) if (k := _listed(names, words[i:j]))), None)
        if found and found[0] == len(words) - 1 and words[-1].lower() in surnames():
            return None  # a listed name and a surname: someone else ("Ana Belén Soto")
        if found and found[0] == i + 1 < len(words) and is_given_name(words[i]):
            return None  # a listed name of one word that is a given name, then more: "Tiziano Rocchi"
        if found:
            i, kind = found[0], kind or found[1]
        elif words[i][:1].isupper() and is_given_name(words[i]):
            return None
        else:
            i += 1  # a joiner, an article or a word of the thing named
    return kind


def _placeholder_head(ambiguous: dict[str, str], words: list[str]) -> str | None:
    """"placeholders" where the name opens with a placeholder real people share and adds a
    surname ("Juan Pérez García", "Beltrano da Silva"): the same sample name, written out."""
    head = words[:-1]
    while head and head[-1].lower() in PARTICLES:
        head = head[:-1]
    return "placeholders" if head and ambiguous.get(_norm(" ".join(head))) == "placeholders" else None


def _listed(names: dict[str, str], words: list[str]) -> str | None:
    """The list holding `words`, also with a genitive s ("Adenauers")."""
    name = _norm(" ".join(words))
    return names.get(name) or (names.get(name[:-1]) if name.endswith("s") and len(words) > 1 else None)


def _sentence(text: str, start: int, end: int) -> tuple[int, int]:
    """The bounds of the sentence that holds text[start:end]: a stop before a space or a line
    break ends one; not the dot of "etc.)," or of "@exemple.fr". Searched backwards from the
    name, not from the text's start: a long text holds many names."""
    i = start
    while (j := max(text.rfind(c, 0, i) for c in ".!?\n")) >= 0 and not _SENTENCE_END.match(text, j):
        i = j
    after = _SENTENCE_END.search(text, end)
    return max(j + 1, 0), after.start() if after else len(text)


def _record_end(text: str, start: int, end: int) -> int:
    """Where a placeholder's sample record ends: its line, or in code the object literal it
    opens (`{ fullName: "John Doe",\n  address: "123 Main Street" }`)."""
    line = _line_end(text, end, _RECORD)
    brace = text.find("}", end, end + 3 * _RECORD)
    if brace > line and text.rfind("{", 0, start) > text.rfind("}", 0, start) and "\n\n" not in text[end:brace]:
        return brace
    return line


def _line_end(text: str, start: int, limit: int) -> int:
    end = text.find("\n", start, start + limit)
    return min(start + limit, len(text)) if end < 0 else end
