"""E-mail addresses, except documentation placeholders such as `user@example.com`."""
from __future__ import annotations

import re
from typing import Iterator

from ..hit import Hit
from ..public_names import listed

_EMAIL = re.compile(r"(?<![\w.%+-])[A-Za-z0-9][\w.%+-]{0,63}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}(?![\w-])")
# Documentation domains, where no one receives mail: the names RFC 2606/6761 reserve, and by
# convention "example" in the seven languages before any top-level domain...
_EXAMPLE_DOMAIN = re.compile(
    r"(?i)(?:^|\.)(?:(?:example|exemple|beispiel|ejemplo|esempio|voorbeeld|exemplo)\.[a-z]{2,6}|example|test|invalid|localhost)$")
# ...but a personal-looking mailbox there is still a person's address in a test set, a CRM
# export or an anonymisation gone wrong: only obvious placeholders (and listed names) are let through.
_PLACEHOLDER_LOCAL = frozenset({
    "user", "username", "user.name", "name", "first.last", "firstname.lastname", "you", "your.name",
    "yourname", "your-email", "youremail", "email", "mail", "me", "someone", "somebody", "foo",
    "bar", "foo.bar", "test", "tester", "john.doe", "jane.doe", "johndoe", "janedoe", "jdoe",
    "prenom.nom", "nom", "prenom", "utilisateur", "admin", "noreply", "no-reply", "alice", "bob",
    "info", "contact", "support", "hello", "sales", "team", "example", "demo", "dev", "api",
    # roles and test words of the other languages; any of them may carry a number ("user1", "kunde_001")
    "kunde", "client", "cliente", "klant", "customer", "usuario", "utente", "gebruiker", "utilizador",
    "benutzer", "prueba", "pruebas", "prova", "teste", "testes", "essai", "billing", "compta", "factura",
    "facturation", "rechnung", "fatturazione", "facturatie", "faturacao", "orders", "newsletter", "office",
})
_NUMBERED = re.compile(r"[._-]?\d{1,4}$")
_SEPARATORS = re.compile(r"[._-]+")


class EmailDetector:
    name = "email"
    entities = frozenset({"EMAIL_ADDRESS"})

    def detect(self, text: str, lang: str) -> Iterator[Hit]:
        for m in _EMAIL.finditer(text):
            local, _, domain = m.group().rpartition("@")
            if _EXAMPLE_DOMAIN.search(domain) and (_NUMBERED.sub("", local.lower()) in _PLACEHOLDER_LOCAL
                                                   or listed(_SEPARATORS.sub(" ", local))):
                continue  # "user1@example.com", "jean.dupont@exemple.fr": a placeholder's mailbox
            yield Hit("EMAIL_ADDRESS", m.start(), m.end(), 0.95, "email")
