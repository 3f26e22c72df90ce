"""Names found by where they stand rather than by their capitals: a form field's value
(`Nom : Durand`, `Apellidos: García López`), a user name in a home-directory path
(`/Users/jdoe/`, `C:\\Users\\jdoe\\`) or a folder named after someone (`…\\Anna_Lindqvist\\`),
the focus of a cleft sentence ("c'est Dupont qui", "it was okafor who"), a full name typed in
lower case ("omg sarah whitfield just replied"), a chat mention made of a name
("@dmitri.volkov"), a lone given name after a greeting or a verb of addressing someone ("ping
marta") or before its clause's verb ("bram zegt"), two given names paired ("Mehmet and
Aylin"), a surname before an initial in a rota or a reference list ("Okonkwo, C.", "Mercier
J."), an account named after its person in a log's field (`user=j.whitfield`), and a text
that is nothing but a name handle (a message's `name` field: "sarah_whitfield").
"""
from __future__ import annotations

import re
from typing import Iterator

import regex

from ..hit import Hit
from ..languages import Languages, alternation
from ..public_names import listed
from ..given_names import PARTICLES, common_words, is_given_name, proper_first_names, surnames, word_names
from .person import Ner, addressed, in_no_dictionary, lone_given_name, name_article, particles, reported, short_form, word_name

_WORD = r"\p{L}[\p{L}'’-]*"
_NAME_VALUE = rf"(?:(?:{_WORD})\.?[ \t]+){{0,3}}{_WORD}"
# Accounts that belong to no one: system users, CI runners, placeholders.
_ACCOUNTS = frozenset({
    "user", "username", "user1", "admin", "administrator", "administrateur", "root", "runner", "ubuntu",
    "ec2-user", "centos", "debian", "vagrant", "jenkins", "docker", "app", "www-data", "public", "shared",
    "default", "default user", "all users", "guest", "me", "you", "yourname", "your_name", "your-name",
    "yourusername", "your_username", "name", "myuser", "myname", "foo", "bar", "test", "tester", "dev",
    "developer", "builder", "build", "circleci", "travis", "vscode", "codespace", "node", "git", "pi", "nobody",
    "localadmin", "runneradmin", "appveyor", "buildkite", "gitlab-runner", "postgres", "mysql", "nginx",
    "ubuntu-user", "sysadmin", "operator", "service", "svc", "deploy", "deployer", "ci", "home", "usr",
    "john", "jane", "jdoe", "johndoe", "janedoe", "john.doe", "jane.doe", "alice", "bob", "utilisateur",
    "benutzer", "usuario", "utente", "gebruiker", "utilizador",
})
# Forms of address written out in lower case before a surname ("frau kowalczyk", "señora ruiz"),
# and abbreviations chat writes without their dot that are no words ("mrs pennington"; not "miss"
# or "ms": "don't miss buys", "100 ms timeout").
_COURTESY = frozenset({"herr", "frau", "monsieur", "madame", "mademoiselle", "señor", "señora", "señorita", "doña",
                       "signor", "signore", "signora", "signorina", "senhor", "senhora", "dona", "meneer", "mevrouw",
                       "mr", "mrs", "mx", "mme", "mlle", "dhr", "mevr", "sra", "srta"})
# A `\t` or `\n` opening a Windows user name ("C:\Users\thanh") was read as a JSON escape: allow it.
_HOME = regex.compile(r"(?:(?:(?<![\w.])|(?<=\.\.))/(?:Users|home)/|(?<![\w])[A-Za-z]:[\\/]+(?:Users|Documents and Settings)(?:[\\/]+|(?=\s))|"
                      r"\\\\Users\\\\)(\s?[^\s/\\\"'`:;,<>|*?$%{}()\[\]]{2,40})(?=[/\\])")
# A folder or file named after someone in a path: `\\fs01\hr$\2024\Bjarke_Mikkelsen\`.
_PATH_NAME = regex.compile(r"(?<=[\\/])(\p{Lu}\p{Ll}+)[_.](\p{Lu}\p{Ll}+(?:-\p{Lu}\p{Ll}+)?)(?=[\\/])")
# A person's profile address: the slug names its holder ("linkedin.com/in/sven-oskarsson-4b8213a").
_PROFILE = regex.compile(r"(?i)\b(?:linkedin\.com/in|xing\.com/profile)/([\w%.-]{3,100})")
_MENTION = regex.compile(r"(?<![\w.@])@(\p{L}{2,})[._-](\p{L}{2,})(?![\w-]|\.\w)")
# A chat export's speaker by handle, after a timestamp or a bullet ("[10:14] tobias.reinholt: …").
_SPEAKER_HANDLE = regex.compile(r"(?m)^[ \t]*(?:\[[\d:.,/ -]+\][ \t]*|[-*•][ \t]+)?(\p{L}{2,})[._](\p{L}{2,})(?=:[ \t])")
# A mention of a name and a short tag (`@vera_k`, `@lucho_gz`); `_MENTION` reads two names.
_SHORT_MENTION = regex.compile(r"(?<![\w.@])@(\p{L}{3,})[._-](\p{L}{1,2}|\d{1,4})(?![\w/(-]|\.\w)")
# A mention in one word, not a package's scope (`@babel/core`), a decorator (`@dataclass(`) or a
# mailbox's domain.
_JOINED_MENTION = regex.compile(r"(?<![\w.@])@(\p{Ll}{4,20})(?![\w/(.-]|\.\w)")
_HANDLE = regex.compile(r"\A\s*(\p{L}{2,})[ ._-](\p{L}{2,})(?:[ ._-](\p{L}{2,}))?(?:[ ._-](\p{L}{2,}))?\s*\Z")
_WITH_INITIAL = regex.compile(r"(?<=\A\s*)(?:(\p{L}{2,})[._-]\p{L}|\p{L}[._-]\p{L}{3,}|\p{Ll}{5,20})(?=\s*\Z)")
# A log's or a config's account field: `user=j.whitfield`, `login: "mkowalczyk"`.
_ACCOUNT_FIELD = regex.compile(r"(?i)(?<![\w-])(?:user(?:_?name|_?id)?|login|account|acct|uid|owner)[\"']?\s*[=:]\s*[\"']?"
                               r"(\p{L}[\p{L}\d._-]{2,40})(?![\w@])")
# "Okonkwo, C.", "Van den Berg, L.", "Mercier J.": a surname, then an initial and its dot.
_SURNAME_INITIAL = regex.compile(
    r"(?<![\w.-])((?:(?:[Vv]an|[Dd]e|[Ll]e|[Dd]a|[Dd]i|[Dd]el)(?: (?:den|der|la|los))? )?\p{Lu}\p{Ll}+(?:-\p{Lu}\p{Ll}+)?)"
    r",? (\p{Lu})\.(?![\w.])")
# A French word elided before a vowel ("c'est", "qu'il", "l'a"): a clause going on, no surname ("d'angelo" is one).
_ELIDED = re.compile(r"(?:c|j|l|m|n|s|t|qu)['’]")
# A word in lower case; an apostrophe inside one ("d'angelo", "dell'ufficio"), not a possessive's
# or a contraction's after it ("jens' PR", "tom's", "don't").
LOWER_WORD = regex.compile(r"(?<![\p{L}\d_@./\\:#-])\p{Ll}(?:\p{Ll}+|['’]\p{Ll}{2})\p{Ll}*(?:['’]\p{Ll}{2,})*(?:-\p{Ll}+)?"
                       r"(?![\p{L}\d_@/\\-]|\.\w)")
_POSSESSIVE = regex.compile(r"['’]s?[ \t]+\p{L}")


class NameShapeDetector:
    name = "name-shape"
    entities = frozenset({"PERSON"})

    def __init__(self, ner: Ner, languages: Languages) -> None:
        self._ner = ner
        self._surnames = languages.surnames
        self._titles = languages.titles
        # what may stand before a surname written in lower case: a form of address written out or
        # a title's abbreviation without its dot
        self._title_words = _COURTESY | {t[:-1] for t in self._titles if t.endswith(".")}
        self._determiners = languages.union("determiners")
        self._articles = {code: languages.get(code).articles for code in languages.codes}
        self._codes = languages.codes
        self._languages = languages
        self._example_words = frozenset(w.lower() for w in languages.entries("example_cues") if " " not in w)
        labels = alternation(languages.entries("form_labels"), regex=False)
        # A label opening a line or a field (`"Nom": "Durand"`, `- Prénom : Claire`, a keyword
        # argument `Cliente(nome="Mario"`, SQL's `WHERE surname = 'Durand'`), then the value up to
        # the end of the line or of the field.
        self._form = regex.compile(
            rf"(?im)(?:^|[\n,;{{(|]|\t|\b(?:where|and|or|set)[ \t]+)[ \t]*(?:[-*•>][ \t]*)?[\"']?(?:{labels})[\"']?[ \t]*[:=][ \t]*[\"']?"
            rf"({_NAME_VALUE})(?=[ \t]*(?:$|[\n\"',;|}}(]))")
        # A lone given name in lower case after a person cue ("ping marta", "chiedi a giulia"), or
        # before its clause's verb ("bram zegt", "kwame just sent").
        self._cued = {code: addressed(languages, code) for code in languages.codes}
        self._reporting = {code: reported(languages, code) for code in languages.codes}
        # ...or a short form after the article everyday speech puts before one ("o zé", "la bea")
        self._name_article = {code: name_article(languages, code) for code in languages.codes}
        # Two given names paired by a conjunction ("Mehmet and Aylin", "Anouk en Daan").
        conjunctions = alternation(languages.entries("conjunctions"), regex=False)
        self._pair = regex.compile(
            rf"(?<![\w-])(\p{{Lu}}\p{{Ll}}+)\s+(?:{conjunctions})\s+(\p{{Lu}}\p{{Ll}}+)(?![\w-])")
        # ...or in lower case, as the subject of a clause going on ("ale e fede hanno litigato")
        self._lower_pair = regex.compile(
            rf"(?<![\w-])(\p{{Ll}}{{2,}})\s+(?:{conjunctions})\s+(\p{{Ll}}{{2,}})(?=\s+\p{{Ll}})")
        self._clefts = {code: regex.compile(
            "(?i)(?<!\\w)(?:" + "|".join(_cleft(c) for c in languages.get(code).clefts) + ")")
            for code in languages.codes if languages.get(code).clefts}

    def detect(self, text: str, lang: str) -> Iterator[Hit]:
        yield from self._form_fields(text)
        for m in _HOME.finditer(text):
            if m.group(1).strip().lower() not in _ACCOUNTS:
                yield Hit("PERSON", m.start(1), m.end(1), 0.8, "name-shape.home-dir")
        for m in _PATH_NAME.finditer(text) if ("/" in text or "\\" in text) else ():
            if is_given_name(m.group(1)) and self._title_handle([m.group(2)]):
                yield Hit("PERSON", m.start(1), m.end(2), 0.75, "name-shape.path")
        for m in _PROFILE.finditer(text) if "/" in text else ():
            yield Hit("PERSON", m.start(1), m.end(1), 0.8, "name-shape.profile")
        yield from self._cleft(text, lang)
        for m in _MENTION.finditer(text) if "@" in text else ():
            if self._is_name([m.group(1), m.group(2)], lang, joined=True):
                yield Hit("PERSON", m.start(1), m.end(2), 0.75, "name-shape.mention")
        for m in _SPEAKER_HANDLE.finditer(text) if ":" in text else ():
            if self._is_name([m.group(1), m.group(2)], lang, joined=True):
                yield Hit("PERSON", m.start(1), m.end(2), 0.75, "name-shape.speaker")
        for m in _SHORT_MENTION.finditer(text) if "@" in text else ():
            if is_given_name(m.group(1)) or short_form(m.group(1), self._languages.get(lang), self._ner):
                yield Hit("PERSON", m.start(1), m.end(2), 0.75, "name-shape.mention")  # `@vera_k`, `@lucho_gz`
        for m in _JOINED_MENTION.finditer(text) if "@" in text else ():
            if self._personal_account(m.group(1)):  # "@pmartins", "@fbianchi": an initial and a surname
                yield Hit("PERSON", m.start(1), m.end(1), 0.75, "name-shape.mention")
        yield from self._lower_case(text, lang)
        yield from self._given_pairs(text, lang)
        yield from self._surname_initials(text)
        for m in _ACCOUNT_FIELD.finditer(text):
            if self._personal_account(m.group(1)):
                yield Hit("PERSON", m.start(1), m.end(1), 0.75, "name-shape.account")
        initial = _WITH_INITIAL.match(text) if len(text) <= 60 else None
        if initial and (is_given_name(initial.group(1)) if initial.group(1) else self._personal_account(initial.group())):
            # `giulia_b`, `lotte.w`, `y.elkaddouri`, `wbakker`: a given name and an initial, or an
            # initial and a surname
            yield Hit("PERSON", initial.start(), initial.end(), 0.75, "name-shape.handle")
        handle = _HANDLE.match(text) if len(text) <= 60 else None
        if handle and (self._is_name(parts := [w for w in handle.groups() if w], lang, joined=True)
                       or self._title_handle(parts) or _surname_first(parts)
                       or (" " not in handle.group().strip() and self._joined_handle(parts))):
            yield Hit("PERSON", handle.start(1), handle.end(handle.lastindex), 0.75, "name-shape.handle")

    def _form_fields(self, text: str) -> Iterator[Hit]:
        for m in self._form.finditer(text):
            value = m.group(1).rstrip("'’")  # `name: 'Jane Doe'`: the closing quote is no apostrophe
            words = value.split()
            while words and words[0].lower().rstrip(".") in self._titles | {w.rstrip(".") for w in self._titles}:
                words = words[1:]
            if not words or not all(w[0].isupper() for w in words):
                continue  # `name: nginx-deployment`: a value in lower case names a thing
            if all(self._ner.is_common_anywhere(w) for w in words) and not any(is_given_name(w) for w in words):
                continue  # `Name: Project Alpha`
            if any(w.lower().strip("'’") in self._example_words for w in words):
                continue  # `nombre: "Usuario Prueba"`, `Name: Test User`: a fixture's
            yield Hit("PERSON", m.start(1), m.start(1) + len(value), 0.8, "name-shape.form-field")

    def _cleft(self, text: str, lang: str) -> Iterator[Hit]:
        pattern = self._clefts.get(lang)
        if pattern is None:
            return
        for m in pattern.finditer(text):
            group = next(g for g in range(1, (m.lastindex or 0) + 1) if m.group(g))
            words = m.group(group).split()
            if all(self._is_person_word(w, lang) for w in words):
                yield Hit("PERSON", m.start(group), m.end(group), 0.7, "name-shape.cleft")

    def _lower_case(self, text: str, lang: str) -> Iterator[Hit]:
        """A given name and a surname in lower case, side by side: chat style; not after an
        article ("the job lives", "la rose fane")."""
        words = list(LOWER_WORD.finditer(text))
        lows = [w.group().lower() for w in words]  # read once: a document has thousands of words
        cued = self._cued.get(lang) or next(iter(self._cued.values()))
        paired: set[int] = set()
        # a function word of the text's language is that word, whatever name it is too ("che conti")
        function_words = self._languages.function_words_of.get(lang, frozenset())
        for i, (first, second) in enumerate(zip(words, words[1:])):
            if not is_given_name(first.group()) or lows[i] in self._determiners or lows[i] in function_words \
                    or text[first.end():second.start()] != " " or (
                    i and lows[i - 1] in self._determiners and not text[words[i - 1].end():first.start()].strip()):
                continue  # "una sala": an article and a noun
            if first.start() in paired:
                continue  # the second word of a listed name ("chimamanda ngozi adichie")
            listed_span = _listed_span(words, i)
            if listed_span:  # "angela merkel", "rui tavares": whole, for the lists and the ties to judge
                paired.update(w.start() for w in words[listed_span[0]:listed_span[1]])
                yield Hit("PERSON", words[listed_span[0]].start(), words[listed_span[1] - 1].end(), 0.7, "name-shape.lower-case")
            elif self._is_name([first.group(), second.group()], lang) and not _ELIDED.match(second.group()) \
                    and not self._word_then_unknown(first.group(), second.group(), lang):
                paired.update((first.start(), second.start()))
                yield Hit("PERSON", first.start(), second.end(), 0.7, "name-shape.lower-case")
            elif second.group() in PARTICLES and (end := _particle_surname(text, words, i + 1)):
                # "jan de vries", "pim van der berg": a given name, one or two particles, a surname of the list
                paired.update(w.start() for w in words[i:end])
                yield Hit("PERSON", first.start(), words[end - 1].end(), 0.7, "name-shape.lower-case")
        titles = {j for j, low in enumerate(lows) if low in self._title_words}
        for k in sorted({k for j in titles for k in range(j + 1, min(j + 4, len(words)))}):
            if words[k].start() in paired:
                continue
            # the title right before, or before a particle ("meneer de graaf")
            for j in range(k - 1, max(0, k - 3) - 1, -1):
                if j in titles and self._titled(text, words[j], words[k]):
                    yield Hit("PERSON", words[j].start(), words[k].end(), 0.7, "name-shape.lower-case-title")
                    break
        reporting = self._reporting.get(lang) or next(iter(self._reporting.values()))
        language = self._languages.get(lang)
        kinds: dict[str, tuple[bool, bool, bool]] = {}  # a document repeats its words: judge each once
        verbs_at = {m.start() for m in reporting.finditer(text)}  # where a clause's verb follows a word
        for i, word in enumerate(words):
            if word.start() in paired:
                continue
            kind = kinds.get(word.group())
            if kind is None:
                given = lone_given_name(word.group(), self._ner, lang)
                nickname = not given and short_form(word.group(), language, self._ner)  # "le digo a nacho que…"
                # a given name that is also a word counts only right after a verb of addressing someone:
                # "ask will if…", "tell hope her budget…", « dire à marine », "digam à graça"
                worded = not (given or nickname) and word_name(word.group(), self._languages)
                kind = kinds[word.group()] = (given, nickname, worded)
            given, nickname, worded = kind
            cue = (given or nickname or worded) and cued.search(text[max(0, word.start() - 24):word.start()])
            owner = (given or nickname) and len(word.group()) > 2 and _POSSESSIVE.match(text, word.end())
            if owner:  # "warum jens' PR rot ist", "tom's laptop"
                yield Hit("PERSON", word.start(), word.end(), 0.6, "name-shape.lower-case-possessive")
            elif given and (cue or self._chat_name(text, words, i, lang)):
                yield Hit("PERSON", word.start(), word.end(), 0.6, "name-shape.lower-case-given-name")
            elif nickname and (cue or self._after_name_article(text, word, lang)):
                yield Hit("PERSON", word.start(), word.end(), 0.6, "name-shape.lower-case-nickname")
            elif worded and cue:
                yield Hit("PERSON", word.start(), word.end(), 0.6, "name-shape.lower-case-addressed")
            elif word.end() in verbs_at and self._subject(text, words, i, lang, reporting, word.end()):
                yield Hit("PERSON", word.start(), word.end(), 0.6, "name-shape.lower-case-subject")
            elif (initial := _INITIAL.match(text, word.end())) and initial.end() in verbs_at \
                    and self._subject(text, words, i, lang, reporting, initial.end()):  # "dave p from finance"
                yield Hit("PERSON", word.start(), initial.end(), 0.6, "name-shape.lower-case-subject")

    def _subject(self, text: str, words: list[regex.Match[str]], i: int, lang: str,
                 reporting: re.Pattern[str], end: int) -> bool:
        """A given name or a short form in lower case before its clause's verb ("bram zegt", "paco
        dice", "tom from accounts"), also one that is a word elsewhere, if not in the text's own
        language, nor after an article other than one everyday speech puts before names ("el
        nacho del almacén", "der müller aus dem vertrieb": a surname too, there); its verb at `end`,
        after the name or its initial."""
        word = words[i].group()
        if len(word) <= 2 or not reporting.match(text, end):
            return False
        before = words[i - 1] if i else None
        article = before is not None and before.group().lower() in self._determiners \
            and not text[before.end():words[i].start()].strip()
        named = self._name_article_before(text, words[i], lang)
        # "der müller aus dem vertrieb": a surname, after the article speech puts before names
        surname = named and self._known_surname(word.lower()) and word.lower() not in common_words(lang) \
            and not self._ner.is_common(word, lang)
        # a given name that is a word too, where only a person stands: after that article, or
        # opening the text ("a glória disse", "prune m'a dit ce matin")
        opening = not text[:words[i].start()].strip()
        given = (named or opening) and is_given_name(word)
        return (self._someone(word, lang) or surname or given) and not (article and not named)

    def _known_surname(self, low: str) -> bool:
        return low in self._surnames or low in surnames()

    def _after_name_article(self, text: str, word: regex.Match[str], lang: str) -> bool:
        """A short form that is no word of the language, after an article that everyday speech
        puts before names ("o zé ainda não respondeu"; not "la fede", the faith, nor "el nacho"
        on a menu)."""
        low = word.group().lower()
        return self._name_article_before(text, word, lang) and low not in common_words(lang) and low not in word_names(lang)

    def _name_article_before(self, text: str, word: regex.Match[str], lang: str) -> bool:
        article = self._name_article.get(lang)
        return bool(article and article.search(text, max(0, word.start() - 6), word.start()))

    def _personal_account(self, account: str) -> bool:
        """An account named after its person: a given name or an initial and a surname, split
        (`j.whitfield`, `anna_kowalska`) or joined to a known surname (`fbianchi`); not a
        system account (`www-data`, `svc_backup`)."""
        if account.lower() in _ACCOUNTS:
            return False
        parts = [p for p in regex.split(r"[._-]", account) if p]
        if len(parts) == 2 and all(p.isalpha() for p in parts):
            first, last = parts
            if len(last) == 1:
                return len(first) > 2 and is_given_name(first)  # `alvaro.r`: a given name and an initial
            surname = last.lower() in self._surnames or (len(last) > 3 and not self._ner.is_common_anywhere(last))
            return surname and (len(first) == 1 or is_given_name(first))
        return len(parts) == 1 and account.isalpha() and account[1:].lower() in self._surnames

    def _surname_initials(self, text: str) -> Iterator[Hit]:
        """A surname before an initial: one with a particle ("Van den Berg"), a known surname, or
        a word in no configured language ("Plan B.", "Vitamin D." are words); not a given name
        ("Alice E.": a fixture's display name, an anonymised initial)."""
        for m in _SURNAME_INITIAL.finditer(text):
            words = m.group(1).split()
            if len(words) > 1 or (not is_given_name(words[0]) and all(
                    p.lower() in self._surnames or not self._ner.is_common_anywhere(p) for p in words[0].split("-"))):
                yield Hit("PERSON", m.start(), m.end(), 0.7, "name-shape.surname-initial")

    def _given_pairs(self, text: str, lang: str) -> Iterator[Hit]:
        """"Mehmet and Aylin are fighting again": two given names that are no words, paired; in
        lower case, two short forms or given names that are no words of the text's language."""
        for m in self._pair.finditer(text):
            if all(lone_given_name(g, self._ner, lang) and not listed(g) for g in m.groups()) and not listed(m.group()):
                for g in (1, 2):
                    yield Hit("PERSON", m.start(g), m.end(g), 0.6, "name-shape.given-pair")
        for m in self._lower_pair.finditer(text):
            if all(self._someone(g, lang) for g in m.groups()) and not listed(m.group()):
                for g in (1, 2):
                    yield Hit("PERSON", m.start(g), m.end(g), 0.6, "name-shape.given-pair")

    def _someone(self, word: str, lang: str) -> bool:
        """A short form of the language's ("fede", "ritinha") or a given name that is none of its words ("sabine")."""
        return short_form(word, self._languages.get(lang), self._ner) or (
            is_given_name(word) and not self._ner.is_common(word, lang) and word not in common_words(lang)
            and not listed(word))

    def _titled(self, text: str, title: regex.Match[str], word: regex.Match[str]) -> bool:
        """A title and a surname in lower case ("frau kowalczyk", "sr. abílio"): the title is
        an abbreviation with its dot or a form of address written out (not a profession: "avvocato
        d'impresa"), and the name is a word in no configured language. `title` is one of
        `_title_words` (the caller filters: every word is tried against three before it)."""
        t = title.group().lower()
        gap = text[title.end():word.start()]
        dotted = gap.startswith(".") and t + "." in self._titles
        between = gap.strip(" .")
        return ((not between or particles(between)) and gap.count(".") <= 1 and (dotted or t in _COURTESY)
                and len(word.group()) > 2 and not self._ner.is_common_anywhere(word.group()))

    def _chat_name(self, text: str, words: list[regex.Match[str]], i: int, lang: str) -> bool:
        """A given name alone in lower case is chat about someone ("mathilde (compta) fête ses
        40 ans"), unless it is also a word ("vida", "dev"), opens a clause as a conjunction does
        (an article of the text's language right after it: "solange der Vorrat reicht"), or is
        part of a listed name written in lower case ("ronaldo", "angela merkel", "chimamanda
        ngozi adichie", "annie m.g. schmidt")."""
        word = words[i].group()
        if len(word) < 4 or word in common_words(lang) or word in word_names(lang):
            return False
        following = text[words[i].end():words[i].end() + 60].split()
        if following and following[0].strip(".,:;!?") in self._articles.get(lang, ()):
            return False
        return not in_a_listed_name(text, words, i)

    def _word_then_unknown(self, first: str, second: str, lang: str) -> bool:
        """A word of the text's language that is also a given name, then a word no list holds as
        a surname ("en cas d'écart", "rose garden"): words, not a name ("pierre dupont" is one),
        unless English writes it capitalised ("rebecca thornbury": the dictionary's "Rebecca")."""
        return self._ner.is_common(first, lang) and not (lang == "en" and first.lower() in proper_first_names()) \
            and second.lower() not in surnames() and second.lower() not in self._surnames

    def _is_name(self, words: list[str], lang: str, joined: bool = False) -> bool:
        """A given name, then a known surname, or a word in no dictionary of any configured
        language where the text's language has a dictionary to tell ("mark down" is words), or,
        where it has none, a surname of the long list that is none of its common words ("uwe
        kessler"). Joined into one handle (`valentina.orlando`, `@marta_ruiz`), the surname may be any
        of the common surnames of many countries: prose would take "rose garden" for a name."""
        if not is_given_name(words[0]):
            return False
        return all(w.lower() in self._surnames or (joined and w.lower() in surnames())
                   or (self._ner.has_lexicon(lang) and not self._ner.is_common_anywhere(w)
                       and not (joined and self._ner.is_common_anywhere(w.removesuffix("s"))))  # `max_tokens`
                   or (not self._ner.has_lexicon(lang) and w.lower() in surnames() and w.lower() not in common_words(lang)
                       and not self._ner.is_common_anywhere(w)) for w in words[1:])

    def _joined_handle(self, parts: list[str]) -> bool:
        """`sanne_de_bruijn`, `dele_ogunbiyi`: parts joined without a space (a message's `name`,
        a login) that are a known surname in no dictionary, closing it; or, particles aside,
        given names, known surnames and words in no dictionary, one at least a name
        (`support_bot`, `jira_search`, `max_tokens` hold a word that is none)."""
        parts = [p for p in parts if p.lower() not in PARTICLES]
        last = parts[-1].lower()
        if len(parts) >= 2 and last in surnames() and in_no_dictionary(last, self._ner, self._codes):
            return True
        named = [is_given_name(p) or p.lower() in surnames() for p in parts]
        return len(parts) >= 2 and any(named) and all(
            n or in_no_dictionary(p, self._ner, self._codes) for p, n in zip(parts, named))

    def _title_handle(self, parts: list[str]) -> bool:
        """`Oluwaseun_Adeyemi`: each part capitalised and a word in no configured language (a
        message's `name` field names its author; `Support_Bot` names a program)."""
        return all(p[0].isupper() and p[1:].islower()
                   and (p.lower() in self._surnames or not self._ner.is_common_anywhere(p)) for p in parts)

    def _is_person_word(self, word: str, lang: str) -> bool:
        if word[0].isupper():
            return is_given_name(word) or word.lower() in self._surnames or not self._ner.is_common_anywhere(word)
        # in lower case, a name of the lists: "è vero che", "è stato intitolato a" are words
        return (is_given_name(word) or self._known_surname(word)) and in_no_dictionary(word, self._ner, self._codes)


_INITIAL = re.compile(r" [a-z]\.?(?= )")  # a surname's initial after a given name: "dave p from finance"


def _particle_surname(text: str, words: list[regex.Match[str]], i: int) -> int | None:
    """The end (an index into `words`) of a surname of the list that opens with the particle
    words[i] and one more particle or none ("de vries", "van der berg"), one space apart."""
    for end in (i + 2, i + 3):
        parts = words[i:end]
        if end <= len(words) and all(p.group() in PARTICLES for p in parts[:-1]) \
                and all(text[a.end():b.start()] == " " for a, b in zip(parts, parts[1:])) \
                and " ".join(p.group() for p in parts) in surnames():
            return end
    return None


def _surname_first(parts: list[str]) -> bool:
    """A handle that puts the surname first, as Vietnamese, Chinese or Hungarian names do
    (`nguyen_thi_lan`): a surname of the long list, then a given name."""
    return len(parts) >= 2 and parts[0].lower() in surnames() and any(is_given_name(p) for p in parts[1:])


def in_a_listed_name(text: str, words: list[regex.Match[str]], i: int) -> bool:
    """Whether the lower-case word words[i] is a listed name, opens one written in lower case
    ("ronaldo", "angela merkel", German's genitive "dirk nowitzkis") or closes one ("chimamanda
    ngozi adichie")."""
    following = [w.strip(".,:;!?") for w in text[words[i].end():words[i].end() + 60].split()]
    names = [" ".join([words[i].group(), *following[:k]]) for k in range(0, 4)]
    return (i > 0 and _in_a_listed_name(words, i - 1)) or any(
        listed(name) or (k and name.endswith("s") and listed(name[:-1])) for k, name in enumerate(names))


def _in_a_listed_name(words: list[regex.Match[str]], i: int) -> bool:
    """Whether the pair words[i], words[i + 1] is a listed name, or part of one with the word
    before or after ("chimamanda ngozi adichie")."""
    return _listed_span(words, i) is not None


def _listed_span(words: list[regex.Match[str]], i: int) -> tuple[int, int] | None:
    """The listed name (indices into `words`) that holds the pair words[i], words[i + 1]."""
    return next(((a, b) for a, b in ((i, i + 2), (i - 1, i + 2), (i, i + 3))
                 if a >= 0 and b <= len(words) and listed(" ".join(w.group() for w in words[a:b]))), None)


def _cleft(template: str) -> str:
    before, _, after = template.partition("{name}")
    return (r"\s+".join(map(re.escape, before.split())) + r"\s+" + rf"({_WORD}(?:\s{_WORD})?)"
            + (r",?\s+" + r"\s+".join(map(re.escape, after.replace(",", "").split())) if after.strip() else ""))
