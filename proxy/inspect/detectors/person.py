"""Names of people.

Statistical NER on small models both costs milliseconds and mistakes companies, towns and
topics for people, so it is the last resort here. Capitalised word runs are explained first,
cheaply: a known given name followed by a surname, or a title ("Mme", "Dr") followed by one,
is a person; a run next to a legal form ("Dupont SARL", "Martin et Fils") is a company; a run
opened by a place prefix ("Saint", "New", "Lake") is a place. Only runs left unexplained are
sent to the spaCy model of the text's language, and only the sentences that hold them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator, Protocol

import regex

from ..given_names import (PARTICLES, acronyms, common_words, diminutive, is_given_name, is_surname, proper_surnames,
                           surnames, verb_form, word_names, worded_first_names)
from ..hit import Hit
from ..languages import Language, Languages, alternation
from ..public_names import eponym_word, listed, named_after_here

# Any capital letter opens a word: Czech, Polish, Romanian and Turkish names start with Š, Ł, Ș, İ.
_TOKEN = regex.compile(r"(?:\b[dlDL]['’](?=\p{Lu}))?(\p{Lu}[\w’'\-]*\.?)")
_LEGAL_FORMS = (r"Ltd|LLC|L\.L\.C\.|Inc|Corp|Corporation|Co|PLC|LLP|LP|GmbH|AG|KG|KGaA|OHG|GbR|UG|mbH|e\.\s?G\.|"
                r"e\.\s?V\.|e\.\s?K\.|SA|S\.A\.|SAS|S\.A\.S\.|SARL|S\.A\.R\.L\.|SASU|EURL|SCI|SNC|SCOP|SE|BV|B\.V\.|"
                r"NV|N\.V\.|VOF|SpA|SPA|S\.p\.A\.|Srl|SRL|S\.r\.l\.|s\.r\.l\.|s\.p\.a\.|S\.n\.c\.|s\.n\.c\.|S\.a\.s\.|"
                r"s\.a\.s\.|S\.L\.|SL|S\.L\.U\.|S\.L\.N\.E\.?|S\.L\.L\.|S\.A\.U\.|S\.A\.T\.|S\.C\.P\.?|S\.C\.|"
                r"S\.Coop\.?|S\.Com\.?|S\.R\.C\.|Lda|Ltda|S\.A\.R\.L|Oy|AB|ASA|A/S|ApS|sp\. z o\.o\.|s\.c\.|"
                r"Sons|Fils|Frères|Freres|Figli|Filhos|Hijos|Hnos|Associés|Associes|Associati|Asociados|Associados|"
                r"Associates|Partners|Group|Groep|Grupo|Gruppo|Gruppe|Groupe|Holding|Consulting|Conseil|Industries|"
                r"Technologies|Solutions|Services|Brothers|Bros|Company|Compagnie|Cie|Limited|Incorporated|"
                r"Enterprises|Agency|Agence|Studio|Labs")
_LEGAL_AFTER = re.compile(rf"\A(?:['’]s)?\s*,?\s*(?:(?:&|and|et|y|e|und|en|\+)\s+)?(?:{_LEGAL_FORMS})(?![\wÀ-ÿ])")
_LEGAL_TOKEN = re.compile(rf"(?:{_LEGAL_FORMS})\Z")
# "K. ", "J.-P. " before a surname; not the end of an abbreviation ("z. B. Packtermine", "u. U.")
# Initials before a surname, and the given name before them if any ("Olivier B. Bommel").
_INITIALS = regex.compile(
    r"(?:(?<![\w.])(?P<given>\p{Lu}\p{Ll}+) )?(?P<initials>(?<![\w.])(?<!\b\p{Ll}\. )(?:\p{Lu}\.[ -]?){1,2}) $")
_DIGIT = re.compile(r"\d")
# Letters only Vietnamese writes (ơ, ư, ă, đ and the stacked tone marks of Latin Extended Additional).
_VIETNAMESE = re.compile(r"[ơưăđƠƯĂĐ\u1ea0-\u1ef9]")
_INITIAL_GOES_ON = re.compile(r"\.(?:[A-Z]\.)*[ -]?[A-Z]")  # an initial, then more of the name
_TITLE_TAIL = regex.compile(r"\p{Ll}{1,4}(?![\w.])")  # the end of a title abbreviated inside: "Sig.ra"
# a list item's bullet opens one too, and so does a quotation ("'Nikolai slipped…'")
_SENTENCE_END = re.compile(r"(?:[.!?:;\n\"“«„(\[]|(?<!\w)['‘]|^)\s*(?:[-*•]\s+)?$")
_LOWER_NEXT = regex.compile(r",? \p{Ll}")  # "Marta dice", "- Paulo, o nome não diz nada"
_NEXT_WORD = regex.compile(r" (\p{Ll}+)")
_SPEAKER = re.compile(r":[ \t]+\S")
_LINE_START = re.compile(r"(?:^|\n)[ \t]*(?:[-*•][ \t]+|\[[\d:.,/ -]+\][ \t]*)?$")  # after a bullet or a timestamp ("[04-03-25 21:40]")
_WORD_BEFORE = regex.compile(r"(?<![\w.])(\p{Ll}[\w.]*)\s+$")
# searched backwards ((?r)): anchored at the end, a forward search would try every start first
_NOUN_BEFORE = regex.compile(r"(?r)(\p{L}+)(?:\s+(?:de|del|di|van|von|of|do|da|des|du))?\s+$")  # "estación de …"
_WORD_AFTER = regex.compile(r"\s+(\p{L}+)")
# Capitalised joiners inside a run name a place ("Torelli Di Mercogliano", "Villeneuve Sur Lot"); a
# person's particles ("van der") stay in lower case, or follow a given name handled earlier.
_PLACE_JOINERS = frozenset({"di", "del", "della", "delle", "dei", "sur", "sous", "lès", "am", "im", "upon", "on",
                            "under"})
# German adjectives made of a name ("Ohmsches", "Kirchhoffschen", "Gaußsche")
_NAMED_AFTER = re.compile(r"\w{2,}sch(?:e|en|em|er|es)$")
# A surname that is also a place's or a firm's name ("Fitzgerald", "London"): a person
# unless the model reads the other there.
_UNLESS_A_PLACE = "person.proper-surname"
_NOUNS_CAPITALISED = frozenset({"de"})  # where a capitalised word after an article may be any noun
_COMPOUNDING = frozenset({"de", "nl"})  # languages that write compounds as one word
_CAMEL = re.compile(r"\w[a-zà-ÿ]+[A-Z]|[A-Z]{2,}[a-z]")  # "MongoDB", "PostgreSQL": products, not people
_ACRONYMS = re.compile(r"[A-Z]{2,}s")  # "OEMs", "SMEs": an acronym's plural, no surname
_SHORT_MIXED = re.compile(r"[A-Z][a-z]{1,2}[A-Z][a-z]?")  # "VaR", "PoC", "SaaS": a term, no surname
_ELIDED = regex.compile(r"\p{L}['’]\p{Ll}")  # "L'effet", "d'après": an elided article before a word


@dataclass(frozen=True, slots=True)
class _Tok:
    start: int
    end: int
    text: str


def addressed(languages: Languages, code: str) -> re.Pattern[str]:
    """A greeting or a verb of addressing someone, right before the end of the text searched."""
    return re.compile(rf"(?i)(?<![\w'’])(?:{languages.addressing(code)})\s*[,:]?\s+$")


def reported(languages: Languages, code: str) -> re.Pattern[str]:
    """Right after a name, its clause's verb or the team it is from ("zegt", ", de l'équipe")."""
    words = alternation(w for lang in languages.with_english(code) for w in lang.reporting)
    return re.compile(rf"(?i)\s*,?\s+(?:{words})(?!\w)")


def name_article(languages: Languages, code: str) -> re.Pattern[str] | None:
    """An article that everyday speech puts before a name ("o zé", "la bea", "el Nacho"),
    right before the end of the text searched; None for a language that puts none."""
    return _article_before(languages.get(code).name_articles)


def _article_before(articles: frozenset[str]) -> re.Pattern[str] | None:
    # not an elided article's apostrophe ("dell'"), but an opening quotation mark ("'la Fernández dijo…'")
    return re.compile(rf"(?i)(?<!\w)(?<!\w['’])(?:{alternation(articles, regex=False)})[ \t]+$") if articles else None


def short_form(word: str, language: Language, ner: "Ner | None") -> bool:
    """A short form of the language's: one of its nicknames ("fede", "nacho") or a given name's
    diminutive that is none of its words ("ritinha", "juanito", "sanneke"; not "mattina")."""
    low = word.lower()
    return low in language.nicknames or (
        ner is not None and diminutive(low, language.diminutives) and not ner.is_common(low, language.code)
        and low not in common_words(language.code) and low not in word_names(language.code))


def word_name(word: str, languages: Languages) -> bool:
    """A given name of three letters or more that is no function word or month of a configured
    language: "Hope", "marine", "Grace" may name someone; "del", "June" never. (A listed public
    name among them is the public-name stage's to judge.)"""
    return len(word) > 2 and is_given_name(word) and word.lower() not in languages.function_words


def lone_given_name(word: str, ner: "Ner | None", lang: str) -> bool:
    """A given name that is no word ("Marta", "Sanne"; not "Will", "Rose", "Grace", "juni"):
    alone after a person cue, it names someone. Capitalised, the words that count are the text's
    language's, English's (every language's prompts borrow it) and the function words and
    months of any configured language, not another pipeline's lemma tables, which hold names
    too: French ones "marisa", yet a Spanish "Marisa dice…" names someone. In lower case, a
    word of any configured language is read as that word ("when claude stops", "the meta block")."""
    if ner is None or not is_given_name(word):
        return False
    return not (ner.is_common_for(word, lang) if word[:1].isupper() else ner.is_common_anywhere(word))


def _opens_a_clause(text: str, start: int, end: int) -> bool:
    """A word opening a sentence whose clause goes on in lower case ("Marta dice que…"), or a
    line as its speaker ("Federica: rilascio spostato", "- Kevin: ok")."""
    return bool(_SENTENCE_END.search(text[max(0, start - 3):start]) and _LOWER_NEXT.match(text[end:])) or bool(
        _SPEAKER.match(text, end) and _LINE_START.search(text, max(0, start - 24), start))


def in_no_dictionary(word: str, ner: "Ner", codes: Iterable[str]) -> bool:
    """A word of no configured language: neither in a spaCy dictionary (en, fr), nor a verb's
    "-s" form of one ("Reads", "Fixes"), nor among the common words of the others."""
    low = word.lower()
    return not any(ner.is_common_anywhere(w) for w in (word, low.removesuffix("s"), low.removesuffix("es")) if w) \
        and not any(low in common_words(code) or verb_form(low, code) for code in codes)


class Ner(Protocol):
    def entities(self, text: str, lang: str, runs: list[tuple[int, int]]) -> dict[tuple[int, int], str]: ...

    def is_common(self, word: str, lang: str) -> bool: ...

    def is_common_anywhere(self, word: str) -> bool: ...

    def is_common_for(self, word: str, lang: str) -> bool: ...

    def has_lexicon(self, lang: str) -> bool: ...


class PersonDetector:
    name = "person"
    entities = frozenset({"PERSON"})

    def __init__(self, ner: Ner | None, languages: Languages) -> None:
        self._ner = ner
        self._languages = languages
        self._titles = languages.titles  # any configured language's: "Frau Keller" in an English mail
        self._determiners = languages.union("determiners")
        # any configured language's: "Groupe Martin" and "Janssen Systems" in an English text too
        self._openers, self._endings = languages.union("name_openers"), languages.union("name_endings")
        self._surnames = languages.surnames
        closings = alternation(languages.entries("closings"))
        # A signature on the closing's line: "groet, Sanne", "Cheers - Tom".
        self._signed = re.compile(rf"(?i)(?<![\w'’])(?:{closings})[ \t]*[,!–-][ \t]*$")
        # Per text language (and English, which every language's prompts borrow): the words
        # after which a capitalised run opened by a non-dictionary word is someone's name ("a
        # note for Fabrice Bernard", « écrire à Fabrice Bernard »), even when the model misses
        # it; or the name under a closing formula, in a signature.
        self._context: dict[str, re.Pattern[str]] = {}
        self._name_cues: dict[str, re.Pattern[str]] = {}
        self._addressed: dict[str, re.Pattern[str]] = {}
        self._reported: dict[str, re.Pattern[str]] = {}
        for code in languages.codes:
            langs = languages.with_english(code)
            cues = languages.person_cues(code)
            self._addressed[code] = addressed(languages, code)
            self._reported[code] = reported(languages, code)
            self._context[code] = re.compile(
                rf"(?i)(?:(?<![\w'’])(?:{cues}))\s*[,:]?\s+$|(?i:{closings})[,.!]?[ \t]*\n\s*$")
            self._name_cues[code] = re.compile(
                rf"(?i)(?<![\w'’])(?:{alternation(c for lang in langs for c in lang.name_cues)})\s*$")
        # Per text language: the articles speech puts before names ("o Zé", "la Giulia").
        self._name_article = {code: name_article(languages, code) for code in languages.codes}
        # Per text language: the article grammar puts before every given name (Portuguese "a Joana").
        self._given_name_article = {code: _article_before(languages.get(code).given_name_articles) for code in languages.codes}
        # Per text language: a word for a family right before its surname ("Familie", "famille"),
        # and "chez", "bei": at someone's.
        self._family = {code: _article_before(languages.get(code).family_words) for code in languages.codes}
        self._at_someone = {code: _article_before(languages.get(code).at_someone) for code in languages.codes}
        # The writer's possessive and a relation right before a name: "my flatmate", "ma collègue"
        # (not "her daughter Irène": a public figure's family is history).
        self._apposed = {code: re.compile(
            rf"(?i)(?<![\w'’])(?:{alternation(w for lang in languages.with_english(code) for w in lang.own_possessives)})"
            rf"\s+(?:{alternation(w for lang in languages.with_english(code) for w in lang.relations)})[ \t]+$")
            for code in languages.codes}
        # Per text language (and English): the nouns of places named after someone ("estadio").
        self._places = {code: frozenset().union(*(lang.place_nouns for lang in languages.with_english(code)))
                        for code in languages.codes}
        self._default = languages.codes[0]

    def detect(self, text: str, lang: str) -> Iterator[Hit]:
        unexplained: list[tuple[int, int]] = []
        unsure: list[Hit] = []  # names unless the model reads a place or an organisation there
        for run in _runs(text, self._titles):
            hit, open_questions = self._explain(text, run, lang)
            if hit and hit.detector == _UNLESS_A_PLACE:
                unsure.append(hit)
            elif hit:
                yield hit
            unexplained.extend(open_questions)
        if (unexplained or unsure) and self._ner is not None:
            labels = self._ner.entities(text, lang, unexplained + [(h.start, h.end) for h in unsure])
            for start, end in unexplained:
                words = text[start:end].split()
                if labels.get((start, end)) == "PERSON" and not self._common_phrase(text[start:end], lang) \
                        and not _DIGIT.search(text, start, end):  # a name holds no digit: "Aurora X2" is a product
                    yield Hit("PERSON", start, end, 0.7 if len(words) > 1 else 0.6, "person.ner")
            yield from (h for h in unsure if labels.get((h.start, h.end), "PERSON") == "PERSON")

    def _explain(self, text: str, run: list[_Tok], lang: str) -> tuple[Hit | None, list[tuple[int, int]]]:
        """A hit when the run is surely a person; else the spans to ask the model about, if any."""
        for k, tok in enumerate(run):
            if (k and _LEGAL_TOKEN.match(tok.text)) or _LEGAL_AFTER.match(text[tok.end:tok.end + 24]):
                return None, []  # "Jean Joly S.A.S.", "Martin et Fils": a company, not its founder
        if len(run) > 2 and run[0].text.lower() in self._determiners and run[1].text.lower() in self._titles:
            run = run[1:]  # "La Sra. Echeverría" opening a sentence: an article, not a place's "La"
        if len(run) == 2 and run[0].text.lower() in self._languages.get(lang).name_articles \
                and self._known_surname(run[1].text.lower()) and not _noun(run[1].text, lang) \
                and self._reported_after(text, run[1], lang):
            # the article speech puts before a surname, capitalised opening the sentence ("La Rossi ha detto")
            return Hit("PERSON", run[1].start, run[1].end, 0.6, "person.short-form"), []
        if 2 <= len(run) <= 4 and any(_VIETNAMESE.search(t.text) for t in run) and is_surname(run[0].text):
            # a Vietnamese name, family name first: "Trần Văn Hùng", "Nguyễn Thị Lan"
            return Hit("PERSON", run[0].start, run[-1].end, 0.8, "person.surname-first"), []
        addressing = self._addressed.get(lang) or self._addressed[self._default]
        if run and len(run) <= 2 and word_name(run[-1].text, self._languages) and not run[-1].text.isupper() \
                and addressing.search(text, max(0, run[-1].start - 24), run[-1].start) \
                and (len(run) == 1 or addressing.search(text, run[0].start, run[-1].start)):
            # "Tell Paz the deck…", "ask Grace": after a verb of addressing (opening the run or
            # before it), even a given name that is a word names someone
            return Hit("PERSON", run[-1].start, run[-1].end, 0.6, "person.given-name-alone"), []
        family = self._family_name(text, run, lang)
        if family:  # "Die Familie Osterhagen im 2. OG", "de familie Verhoeven"
            return Hit("PERSON", family[0].start, family[-1].end, 0.75, "person.family"), []
        if run[0].text.lower() in self._openers or self._names_a_place(text, run, lang):
            return None, []
        context = self._context.get(lang) or self._context[self._default]
        if all(len(t.text) < 2 for t in run if t.text.lower() not in self._titles):
            return None, []  # "Mr. A", "Mme X", "Patient B": a case study's anonymised person
        if len(run) == 2 and len(run[1].text) == 1 and text.startswith(". ", run[1].end) and is_given_name(run[0].text):
            dot = _Tok(run[1].start, run[1].end + 1, run[1].text + ".")
            if self._reported_after(text, dot, lang) or _LOWER_NEXT.match(text, dot.end):
                # a given name and an initial, its clause going on ("Lena K. aus dem Labor hat…")
                return Hit("PERSON", run[0].start, dot.end, 0.7, "person.given-name-initial"), []
        if len(run[-1].text.rstrip(".")) == 1 and _INITIAL_GOES_ON.match(text, run[-1].start + 1):
            return None, []  # "Annie M.G. Schmidt": the surname's run reads the whole name
        initials = _INITIALS.search(text, max(0, run[0].start - 30), run[0].start)
        if initials and self._surname(run[0].text):
            given = initials.group("given")
            start = initials.start("given" if given and is_given_name(given) else "initials")
            return Hit("PERSON", start, run[-1].end, 0.75, "person.initial"), []
        title = _WORD_BEFORE.search(text[max(0, run[0].start - 16):run[0].start])
        # "mevrouw Hoogendijk", "dott.ssa Bellandi"; not a bare two-letter word ("me", "pr").
        if title and title.group(1).lower() in self._titles and (len(title.group(1)) > 2 or title.group(1).endswith(".")):
            return Hit("PERSON", run[0].start - len(title.group()), run[-1].end, 0.85, "person.title"), []
        for i, tok in enumerate(run[:-1]):
            if tok.text.lower() in self._titles:
                return Hit("PERSON", tok.start, run[-1].end, 0.85, "person.title"), []
            # not an acronym before a word in lower case ("JO de Paris": the Olympic Games)
            acronym = tok.text.isupper() and not run[i + 1].text.isupper()
            # in capitals, a heading's words ("SUMMER PARTY"), unless the second is a surname too
            shouted = tok.text.isupper() and run[i + 1].text.isupper() \
                and (self._common(run[i + 1].text, lang) or _common_word(run[i + 1].text, lang)) \
                and not self._known_surname(run[i + 1].text.lower())
            # a function word of the text's language opening the sentence ("Nel Pinocchio di Collodi"):
            # where the language has no dictionary, its known words are its stop words and openers
            opener = i == 0 and self._ner is not None and not self._ner.has_lexicon(lang) and self._ner.is_common(tok.text, lang) \
                and not self._known_surname(run[1].text.lower()) and self._opens_sentence(text, tok, lang)
            if is_given_name(tok.text) and not acronym and not shouted and not opener and _surname_like(run[i + 1].text) \
                    and run[i + 1].text not in acronyms() and not _ACRONYMS.fullmatch(run[i + 1].text) \
                    and not _SHORT_MIXED.fullmatch(run[i + 1].text) and not self._product(run):
                return Hit("PERSON", tok.start, run[-1].end, 0.85, "person.given-name"), []
        # A surname with its particle, opening a clause ("De Wit heeft…", "Van den Berg says…"):
        # its words would pass for common words or a sentence's article below.
        if 2 <= len(run) <= 3 and text[run[0].start:run[-1].end].lower() in surnames() \
                and _opens_a_clause(text, run[0].start, run[-1].end):
            return Hit("PERSON", run[0].start, run[-1].end, 0.6, "person.lone-surname"), []
        if any(t.text.lower() in _PLACE_JOINERS for t in run[1:-1]):
            return None, []
        for k, tok in enumerate(run):
            # "une PME de Sainte Geneviève"; inside a run, an article opens a surname ("Le Bihan")
            if k and tok.text.lower() in self._openers and tok.text.lower() not in ("le", "la", "les"):
                run = run[:k]
                break
        while run and (run[0].text.isupper() or len(run[0].text) < 2):
            run = run[1:]
        apposed = self._apposed.get(lang) or self._apposed[self._default]
        if len(run) == 1 and is_given_name(run[0].text) and apposed.search(text, max(0, run[0].start - 40), run[0].start):
            # "my flatmate Toby", « ma collègue Clémence »: after a relation of the writer's, even a
            # given name that is a word names someone
            return Hit("PERSON", run[0].start, run[0].end, 0.6, "person.apposed"), []
        if len(run) == 1 and self._articled_given_name(text, run[0], lang):
            # "a Joana e a Graça pediram…": capitalised after the article speech puts before names
            return Hit("PERSON", run[0].start, run[0].end, 0.6, "person.articled"), []
        if len(run) == 1 and word_name(run[0].text, self._languages) and self._reported_after(text, run[0], lang):
            # "Rose m'a dit…", "Julien a encore oublié…": a given name that is a word, then its verb
            return Hit("PERSON", run[0].start, run[0].end, 0.6, "person.given-name-alone"), []
        if len(run) == 1 and self._short_form(text, run[0], lang):
            # "o Zé disse", "grazie, Fede": a short form, also one that is a word
            return Hit("PERSON", run[0].start, run[0].end, 0.6, "person.short-form"), []
        if len(run) == 1 and self._proper_surname(text, run[0], lang):  # "Fitzgerald called in sick"
            return Hit("PERSON", run[0].start, run[0].end, 0.6, _UNLESS_A_PLACE), []
        common = [self._common(t.text, lang) for t in run]
        if run and all(common):  # "Web Services", "Cloud Platform": words, not names
            if len(run) == 1 and self._lone_surname(text, run[0], lang):  # « chez Moreau »: a word too (a black horse)
                return Hit("PERSON", run[0].start, run[0].end, 0.6, "person.lone-surname"), []
            return None, []
        if len(run) == 2 and self._unknown_then_surname(run, text[run[0].end:run[1].start].strip(), lang):
            return Hit("PERSON", run[0].start, run[-1].end, 0.75, "person.known-surname"), []
        # The first word of a sentence is capitalised whatever it is ("Thank Wei Zhang"), so the
        # model may name the run with or without it.
        if len(run) >= 2 and self._opens_sentence(text, run[0], lang):
            if common[0] or (self._ner is not None and self._ner.is_common_anywhere(run[0].text)):
                run, common = run[1:], common[1:]
            elif not context.search(text[max(0, run[0].start - 24):run[0].start]):
                if self._unknown_subject(text, run, lang):
                    return Hit("PERSON", run[0].start, run[-1].end, 0.7, "person.unknown-words"), []
                return None, [(t.start, run[-1].end) for t in run[:2 if len(run) > 2 else 1]]
        # The dictionaries hold many surnames (Martin, Bernard), so only the first word must be unknown.
        if (len(run) >= 2 and self._ner is not None and not common[0]
                and run[-1].text.lower() not in self._endings
                and (is_given_name(run[0].text) or not self._ner.is_common_anywhere(run[0].text))
                and len(run[-1].text) > 1 and not any(_CAMEL.search(t.text) for t in run)
                and context.search(text[max(0, run[0].start - 24):run[0].start])
                and not self._common_phrase(text[run[0].start:run[-1].end], lang)
                and not (_conjoined(text, run) and not is_given_name(run[0].text)  # "de Mercadona y Lidl": two things
                         and not listed(text[run[0].start:run[-1].end]))):  # not "Mortadelo y Filemón"
            return Hit("PERSON", run[0].start, run[-1].end, 0.75, "person.context"), []
        if len(run) == 1 and lone_given_name(run[0].text, self._ner, lang) and (
                any(p.search(text, max(0, run[0].start - 24), run[0].start) for p in (addressing, self._signed))
                or self._reported_after(text, run[0], lang) or _opens_a_clause(text, run[0].start, run[0].end)
                or (text[max(0, run[0].start - 2):run[0].start] == ", " and _LOWER_NEXT.match(text, run[0].end))):
            # "ask Marta", "groet, Sanne", "Rachid, de l'équipe logistique", "Marta dice que…"
            return Hit("PERSON", run[0].start, run[0].end, 0.6, "person.given-name-alone"), []
        if len(run) == 1 and self._short_form(text, run[0], lang):  # "Según el Nacho": the run's opener dropped
            return Hit("PERSON", run[0].start, run[0].end, 0.6, "person.short-form"), []
        if len(run) == 1 and (self._lone_surname(text, run[0]) or self._lone_surname(text, run[0], lang)):
            # "Whitfield approved it"; "habla con Ibarra", "Relance Lemaire" (its verb opening the sentence)
            return Hit("PERSON", run[0].start, run[0].end, 0.6, "person.lone-surname"), []
        name_cues = self._name_cues.get(lang) or self._name_cues[self._default]
        # not "Lidl Nederland", "Aldi Nord": an organisation's ending after no given name
        organisation = len(run) >= 2 and (self._product(run) or (run[-1].text.lower() in self._endings
                                                                 and not is_given_name(run[0].text)))
        if (len(run) >= 2 and not organisation) or (
                len(run) == 1 and name_cues.search(text[max(0, run[0].start - 16):run[0].start])):
            return None, [(run[0].start, run[-1].end)]
        return None, []

    def _common(self, word: str, lang: str) -> bool:
        """A word of the text's language, or an English one of five letters or more that is no
        given name (prompts in every language borrow English terms: "bei Software-defined
        Vehicle"; short ones are names too: "Ion Ciobanu")."""
        if self._ner is None:
            return False
        return self._ner.is_common(word, lang) or self._compound(word, lang) or (
            lang != "en" and len(word) >= 5 and self._ner.has_lexicon("en") and not is_given_name(word)
            and all(part and self._ner.is_common(part, "en") for part in word.split("-")))

    def _compound(self, word: str, lang: str) -> bool:
        """Words or a prefix joined by hyphens ("Event-Driven", "Multi-stage", "Self-Hosted"): a
        word too. Not where a part is a given name or a surname ("Jean-Pierre", "Smith-Jones")."""
        if "-" not in word.strip("-"):
            return False
        parts = word.lower().split("-")
        prefixes = self._languages.get(lang).word_prefixes | self._languages.get("en").word_prefixes
        return all(
            p in prefixes or (p and (self._ner.is_common(p, lang) or self._ner.is_common(p, "en"))
                              and not is_given_name(p) and not self._known_surname(p)) for p in parts)

    def _product(self, run: list[_Tok]) -> bool:
        """A run closed by an organisation's or a product's word ("Tom Ford Fashion", "HANA
        Cloud"); after a given name alone, not a surname that is one too ("Jin Park")."""
        last = run[-1].text.lower()
        return last in self._endings and (len(run) > 2 or not self._known_surname(last))

    def _short_form(self, text: str, tok: _Tok, lang: str) -> bool:
        """A short form of the text's language ("Zé", "Nacho", "Fede") after an article that
        speech puts before names, a greeting or a verb of addressing, or before its verb; or
        a surname between such an article and its verb ("der Müller aus dem Vertrieb")."""
        low = tok.text.lower()
        articled = self._articled(text, tok, lang)
        reported = self._reported_after(text, tok, lang)
        if not short_form(low, self._languages.get(lang), self._ner):
            # a surname, then its verb, or a word of no dictionary ("o Sousa voltou"; not "la Vera
            # y"); a short form no list holds, then its verb ("la Encarni dice")
            if not articled or self._ner is None:
                return False
            if not self._known_surname(low):
                return reported and lang not in _NOUNS_CAPITALISED and tok.text.isalpha() and not tok.text.isupper() \
                    and in_no_dictionary(tok.text, self._ner, self._languages.codes)
            if _noun(tok.text, lang):
                return False  # "der Kunde sagt": a noun, whatever surname it is too
            after = _WORD_AFTER.match(text, tok.end)
            return reported or bool(after and after.group(1).islower() and not self._ner.is_common(after.group(1), lang)
                                    and not _common_word(tok.text, lang))  # "solange die Ware reicht": a noun
        addressing = self._addressed.get(lang) or self._addressed[self._default]
        return articled or reported or bool(addressing.search(text, max(0, tok.start - 24), tok.start))

    def _articled_given_name(self, text: str, tok: _Tok, lang: str) -> bool:
        """A capitalised given name after the article a language's grammar puts before every
        given name ("a Graça", "o Rodrigo"); elsewhere such an article is colloquial and, before
        a capital, names clubs, places and lotteries as often ("il Milan", "la Primitiva")."""
        article = self._given_name_article.get(lang)
        return bool(article and tok.text[1:].islower() and is_given_name(tok.text)
                    and article.search(text, max(0, tok.start - 6), tok.start))

    def _opens_sentence(self, text: str, tok: _Tok, lang: str) -> bool:
        """First in its sentence, or after the article speech puts before names that opens it
        ("A Djamila Semedo está grávida")."""
        article = self._name_article.get(lang)
        m = article.search(text, max(0, tok.start - 6), tok.start) if article else None
        start = m.start() if m else tok.start
        return bool(_SENTENCE_END.search(text[max(0, start - 3):start]))

    def _articled(self, text: str, tok: _Tok, lang: str) -> bool:
        """After the article that everyday speech puts before names ("a Joana", "la Giulia")."""
        article = self._name_article.get(lang)
        return bool(article and article.search(text, max(0, tok.start - 6), tok.start))

    def _reported_after(self, text: str, tok: _Tok, lang: str) -> bool:
        """The team or the verb of the one named, after a comma or not ("Rachid, de l'équipe
        logistique", "in ufficio Arianna ha detto a tutti")."""
        return bool((self._reported.get(lang) or self._reported[self._default]).match(text, tok.end))

    def _names_a_place(self, text: str, run: list[_Tok], lang: str) -> bool:
        """"Hospital Gregorio Marañón", "estadio Santiago Bernabéu", "het Antoni van Leeuwenhoek
        ziekenhuis": a place named after someone, not the person."""
        places = self._places.get(lang) or self._places[self._default]
        before = _NOUN_BEFORE.search(text[max(0, run[0].start - 30):run[0].start])
        after = _WORD_AFTER.match(text, run[-1].end)
        if run[0].text.lower() in places or any(m and m.group(1).lower() in places for m in (before, after)):
            return True
        article = _WORD_BEFORE.search(text[max(0, run[0].start - 8):run[0].start])
        if len(run) > 1 and article and article.group(1) in self._languages.get(lang).venue_articles \
                and run[0].text.lower() not in self._titles:  # "el Sr. García" is a man
            return True  # "el Santiago Bernabéu", "le Charles de Gaulle": in lower case, not opening a sentence
        # Inside the run or closing it: "Atocha al Hospital Gregorio Marañón", "Euston Road",
        # "Sophia Kinderziekenhuis", "Campus Virchow-Klinikum"; not a last word that is a surname too
        # ("Jin Park").
        last = run[-1].text.lower()
        return (any(t.text.lower() in places for t in run[1:-1]) or any(_closes_a_place(t.text, places) for t in run[1:])
                or (len(run) > 1 and last in places and not self._known_surname(last)))

    def _common_phrase(self, span: str, lang: str) -> bool:
        """Where the model is borrowed (no German, Spanish… pipeline), it takes capitalised nouns
        for people ("Bestellung Nr", "Kurze Analyse", "Übernahme von Schenker"): a run holding
        a stop word (not a name particle) or a word with a noun's ending, or opening with a
        common word, is a phrase, not a name. Only the opening word counts: many surnames are
        words too ("Vogel", "Romano"), after a given name nobody listed."""
        if self._ner is None or self._ner.has_lexicon(lang) or listed(span):
            return False  # a listed name holds such words too ("Fulano de Tal")
        suffixes = tuple(self._languages.get(lang).noun_suffixes)
        words = span.split()
        if (_common_word(words[0], lang) or self._common(words[0], lang)) and not _names_after_a_noun(words, lang):
            return True  # "Kurze Analyse", "Governance von Würth" (an English noun opening it)
        if len(words) > 1 and _NAMED_AFTER.search(words[0]) and words[0].lower() not in self._surnames \
                and _common_word(words[-1], lang):
            return True  # "Ohmsches Gesetz", "Gaußsche Summenformel": a law or a formula named after someone
        if len(words) > 1 and _noun(words[-1], lang) and not self._known_surname(words[-1].lower()) and not is_given_name(words[0]):
            return True  # "Berchtesgadener Land", "Rheinische Post": closed by a noun, no surname
        return any((w.lower() not in PARTICLES and self._ner.is_common(w, lang))
                   or (w.lower().endswith(suffixes) and len(w) > 5) for w in words)

    def _unknown_subject(self, text: str, run: list[_Tok], lang: str) -> bool:
        """Two or three capitalised words of no configured language, opening a clause that goes
        on in lower case ("Sevda Arslan wil vrij", "Nkechi Okonkwo has missed"): a name the
        lists and the model do not know. Not an acronym, a product ("MongoDB") or an
        organisation's ending ("… Holdings")."""
        return (2 <= len(run) <= 3 and self._ner is not None and bool(_LOWER_NEXT.match(text[run[-1].end:]))
                and run[-1].text.lower() not in self._endings
                and all(len(t.text) > 1 and not t.text.isupper() and _surname_like(t.text)
                        and not _CAMEL.search(t.text) and in_no_dictionary(t.text, self._ner, self._languages.codes)
                        and not _common_word(t.text, lang) for t in run))  # "Schwarzwälder Kirschtorte": compounds

    def _surname(self, word: str) -> bool:
        """A known surname, or a capitalised word of no dictionary ("Janssen", not "Street")."""
        return len(word) > 1 and (word.lower() in self._surnames or (
            self._ner is not None and not self._ner.is_common_anywhere(word) and not _CAMEL.search(word)))

    def _unknown_then_surname(self, run: list[_Tok], particle: str, lang: str) -> bool:
        """A word of no dictionary, then a surname of the long list (or a double-barrelled one
        holding one, or one with its particle): "Marloes Verbeek", "Darnell Okafor-Price",
        "Marloes de Jong", wherever they stand; the given name is one the lists lack, the model
        may take the pair for an organisation. Or a given name that is a word, then a known
        surname that is none: "Precious Nwachukwu", "Florin Popescu"."""
        first, last = run[0].text, run[1].text
        if particle:  # "de Jong": only a surname the list holds with that particle
            surname = particle.lower() in PARTICLES and f"{particle} {last}".lower() in surnames()
        else:
            surname = any(self._known_surname(part) for part in last.lower().split("-") if len(part) > 2)
        if not surname or self._ner is None:
            return False
        codes = self._languages.codes
        # a given name that is a word too ("Precious", "Florin"), no surname itself ("Baker McKenzie"
        # is a firm), only before a surname that is no word
        given = in_no_dictionary(first, self._ner, codes) or (
            first.lower() in worded_first_names() and not self._known_surname(first.lower()) and not particle
            and in_no_dictionary(last, self._ner, codes))
        return (given and len(first) > 2 and not any(part.isupper() for part in first.split("-"))  # not "QR-Codes"
                and not _ELIDED.match(first)  # "L'effet Dunning-Kruger": an article and a noun
                and not _CAMEL.search(first) and first not in acronyms() and not eponym_word(first)
                and not _common_word(first, lang) and not listed(f"{first} {last}")
                and not last.isupper() and last.lower() not in self._endings)

    def _known_surname(self, low: str) -> bool:
        """In a language's short list or the common surnames of many countries; lower case."""
        return low in self._surnames or low in surnames()

    def _proper_surname(self, text: str, tok: _Tok, lang: str) -> bool:
        """A surname English writes capitalised though WordNet lists it (a famous bearer's:
        "Fitzgerald"), alone, opening a clause that goes on in lower case: someone, unless the
        model reads the place ("London is…") or the firm the lists share it with, or the text's
        language has the word ("„Frisch aus dem Ofen“")."""
        return (tok.text.lower() in proper_surnames() and _opens_a_clause(text, tok.start, tok.end)
                and not eponym_word(tok.text) and not _common_word(tok.text, lang))

    def _lone_surname(self, text: str, tok: _Tok, lang: str | None = None) -> bool:
        """A known surname alone, never the name in a term named after someone ("Dijkstra vs
        Bellman-Ford"): opening a clause (or a sentence) that goes on in lower case, a word of no dictionary
        ("Whitfield approved it", "Lefebvre m'a encore envoyé…"); or, given `lang`, right after
        a verb of addressing someone or a word for "at someone's", an article between or not
        ("habla con Ibarra", "fala com o Fonseca", « chez Moreau »)."""
        if self._ner is None or not self._known_surname(tok.text.lower()):
            return False
        if lang is None:  # also opening a clause after a comma ("…near the baler, Petrov drove him"), its
            # verb next, not a list's joiner ("apellidos como Herrero, Molina y Pereira")
            after = _NEXT_WORD.match(text, tok.end)
            opens = _opens_a_clause(text, tok.start, tok.end) or (
                text[max(0, tok.start - 2):tok.start] == ", " and bool(after)
                and after.group(1).lower() not in self._languages.function_words)
            return opens and not eponym_word(tok.text) and in_no_dictionary(tok.text, self._ner, self._languages.codes)
        article = self._name_article.get(lang)
        m = article.search(text, max(0, tok.start - 6), tok.start) if article else None
        start = m.start() if m else tok.start
        addressing = self._addressed.get(lang) or self._addressed[self._default]
        at = self._at_someone.get(lang)
        # Capitalised inside a sentence, a surname that is a word of a language that writes its
        # nouns in lower case is the name ("met Visser", « chez Moreau »), but not an English
        # word, which names software as often ("with Rust", "met Docker"), nor a German noun.
        # Someone's after such a word, though a term named after someone holds the surname ("con
        # Martínez", "bei Müller"), unless that term stands there ("fly with Adolfo Suárez Madrid-Barajas").
        return bool(addressing.search(text, max(0, start - 24), start) or (at and at.search(text, max(0, start - 8), start))) \
            and not _SENTENCE_END.search(text[max(0, start - 3):start]) and not self._ner.is_common(tok.text, "en") \
            and (lang not in _NOUNS_CAPITALISED or in_no_dictionary(tok.text, self._ner, self._languages.codes)) \
            and not named_after_here(text, tok.start, tok.end)

    def _family_name(self, text: str, run: list[_Tok], lang: str) -> list[_Tok]:
        """The one or two capitalised words after a word for a family (in the run, as German
        writes it, or before it), each a known surname or no common word, and none a brand's
        ("Familie Osterhagen"; not "la familia Real"); else nothing."""
        family = self._family.get(lang)
        if not family:
            return []
        words = [t.text.lower() for t in run[:2]]
        if len(run) > 2 and words[0] in self._determiners and words[1] in self._languages.get(lang).family_words:
            run = run[2:]  # "Die Familie Osterhagen" opening a sentence
        elif len(run) > 1 and words[0] in self._languages.get(lang).family_words:
            run = run[1:]
        elif not family.search(text, max(0, run[0].start - 12), run[0].start):
            return []
        named = len(run) <= 2 and all(not eponym_word(t.text) and (
            self._known_surname(t.text.lower()) or not (self._common(t.text, lang) or _common_word(t.text, lang))) for t in run)
        return run if named else []


def _names_after_a_noun(words: list[str], lang: str) -> bool:
    """"Mitarbeiterin Kübra Aydın": the model took a role noun in with the name after it. What
    follows the common words is a name if it holds a given name, or two words of no
    dictionary ("Übernahme von Schenker", "Familie Schaeffler" keep one)."""
    rest = words[1:]
    while rest and (rest[0].lower() in PARTICLES or rest[0].isupper() or _common_word(rest[0], lang)):
        rest = rest[1:]
    return any(is_given_name(w) for w in rest) or len(rest) >= 2


def _closes_a_place(word: str, places: frozenset[str]) -> bool:
    """A compound closed by a place noun ("Kinderziekenhuis", "Virchow-Klinikum"); only long
    nouns close compounds without a hyphen, as surnames end in short ones ("Hochpark")."""
    low = word.lower()
    head, _, tail = low.rpartition("-")
    return (bool(head) and tail in places) or any(
        low.endswith(p) and len(low) >= len(p) + 4 for p in places if len(p) >= 6)


def _conjoined(text: str, run: list[_Tok]) -> bool:
    """Whether a conjunction that joins double surnames ("Ortega y Gasset") joins the run's words."""
    return any(text[a.end:b.start].split()[:1] in (["y"], ["i"], ["e"]) for a, b in zip(run, run[1:]))


def _noun(word: str, lang: str) -> bool:
    """A common word where nouns are capitalised: after an article, "Kunde" is the customer,
    whatever surname it is too."""
    return lang in _NOUNS_CAPITALISED and _common_word(word, lang)


def _common_word(word: str, lang: str) -> bool:
    """A word of the language's common words (or a verb inflected from one: "Werkte"), or a
    compound ending in one of six letters or more ("Fahrerassistenzsysteme"), and no given name; in German and Dutch also a compound of
    two words of four letters or more, a linking "s", "n" or "e" between ("Speiseplan",
    "Temperaturskala"), or of three and five or more ("Zugfahrt"), that is no known surname ("Zimmermann"), and in German a verb's
    imperative opening a request ("Charakterisiere", "Schreib")."""
    words, low = common_words(lang), word.lower()
    if is_given_name(word):
        return False
    if low in words or any(low[k:] in words for k in range(3, len(low) - 5)) or verb_form(low, lang):
        return True
    if lang not in _COMPOUNDING or low in surnames():
        return False
    return any(low[k:] in words and (low[:k] in words or (low[k - 1] in "sne" and low[:k - 1] in words))
               for k in range(4, len(low) - 3)) or (lang == "de" and (low + "n" in words or low + "en" in words)) \
        or (len(low) >= 8 and low[:3] in words and low[3:] in words)  # "Zugfahrt": a short word, a long one


def _runs(text: str, titles: frozenset[str]) -> Iterator[list[_Tok]]:
    """Maximal runs of capitalised words separated by single spaces (particles allowed inside)."""
    run: list[_Tok] = []
    last_end = -1
    for m in _TOKEN.finditer(text):
        word = m.group(1)
        start, end = m.start(1), m.end(1)
        if word.endswith(("'s", "’s")):
            word, end = word[:-2], end - 2
        if word.endswith(("'", "’")):  # a closing quotation mark: 'Otto Normalverbraucher'
            word, end = word[:-1], end - 1
        tail = _TITLE_TAIL.match(text, end) if word.endswith(".") else None
        if tail and (word + tail.group()).lower() in titles:  # "Sig.ra", "Dott.ssa"
            word, end = word + tail.group(), tail.end()
        elif word.endswith(".") and word.lower() not in titles:
            word, end = word[:-1], end - 1
        gap = text[last_end:start] if run else ""
        if run and not (gap == " " or (gap.count("\n") == 0 and particles(gap))):
            yield run
            run = []
        run.append(_Tok(start, end, word))
        last_end = end
    if run:
        yield run


def particles(gap: str) -> bool:
    """Whether the text between two capitalised words is name particles ("van der", "de la")."""
    words = gap.split()
    return bool(words) and all(w.lower() in PARTICLES for w in words)


def _surname_like(word: str) -> bool:
    return len(word) > 1 and not word.endswith(".") and not any(c.isdigit() for c in word)
