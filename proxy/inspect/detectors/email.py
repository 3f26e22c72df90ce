"""E-mail addresses, except documentation placeholders such as `user@example.com`."""
from __future__ import annotations

import re
from typing import Iterator

from ..examples import EXAMPLE_DOMAIN
from ..hit import Hit
from ..public_names import listed

_EMAIL = re.compile(r"(?<![\w.%+-])[A-Za-z0-9][\w.%+-]{0,63}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}(?![\w-])")
# At a documentation domain (`examples.EXAMPLE_DOMAIN`) a personal-looking mailbox is still a
# person's address in a test set, a CRM export or an anonymisation gone wrong: only obvious
# placeholders (and listed names) are let through.
_PLACEHOLDER_LOCAL = frozenset({
    "user", "username", "user.name", "name", "first.last", "firstname.lastname", "you", "your.name",
    "yourname", "your-email", "youremail", "email", "mail", "me", "someone", "somebody", "foo",
    "bar", "foo.bar", "test", "tester", "john.doe", "jane.doe", "johndoe", "janedoe", "jdoe",
    "prenom.nom", "nom", "prenom", "utilisateur", "admin", "noreply", "no-reply", "alice", "bob",
    "info", "contact", "support", "hello", "sales", "team", "example", "demo", "dev", "api",
    # roles and test words of the other languages; any of them may carry a number ("user1", "kunde_001")
    "kunde", "client", "cliente", "klant", "customer", "usuario", "utente", "gebruiker", "utilizador",
    "benutzer", "prueba", "pruebas", "prova", "teste", "testes", "essai", "billing", "compta", "factura",
    "facturation", "rechnung", "fatturazione", "facturatie", "faturacao", "orders", "newsletter", "office", "qa",
})
# A word saying the mailbox is made up, beside a name ("jean.exemple", "max.beispiel", "anna.test").
_EXAMPLE_WORDS = frozenset({"example", "exemple", "beispiel", "ejemplo", "esempio", "voorbeeld", "exemplo", "sample",
                            "dummy", "fake", "test", "muster", "fictif", "ficticio", "fittizio"})
_NUMBERED = re.compile(r"[._-]?\d{1,4}$")
_SEPARATORS = re.compile(r"[._-]+")


class EmailDetector:
    name = "email"
    entities = frozenset({"EMAIL_ADDRESS"})

    def detect(self, text: str, lang: str) -> Iterator[Hit]:
        for m in _EMAIL.finditer(text):
            local, _, domain = m.group().rpartition("@")
            local = local.split("+", 1)[0]  # "bob+newsletter": the tag after "+" is the sender's filter
            if EXAMPLE_DOMAIN.search(domain) and (_placeholder(local) or listed(_SEPARATORS.sub(" ", local))):
                continue  # "user1@example.com", "qa-admin@example.test", "jean.dupont@exemple.fr"
            yield Hit("EMAIL_ADDRESS", m.start(), m.end(), 0.95, "email")


def _placeholder(local: str) -> bool:
    """A placeholder's mailbox, one made of placeholders ("qa-admin", "test_user_02"), or one
    that says it is made up ("jean.exemple")."""
    parts = [_NUMBERED.sub("", p) for p in _SEPARATORS.split(local.lower())]
    return (_NUMBERED.sub("", local.lower()) in _PLACEHOLDER_LOCAL or all(p in _PLACEHOLDER_LOCAL for p in parts if p)
            or any(p in _EXAMPLE_WORDS for p in parts))
