"""National identifiers with check characters, and patient and staff numbers: found with a
valid check character, left alone with an invalid one, settled by context words, and kept
on-prem by the shipped policy."""
from __future__ import annotations

import random

import pytest

from proxy.inspect.checksums import VALIDATORS
from proxy.routing import RouteContext

from .conftest import found

# (validator, published valid value, the same value with its check character changed)
CHECKS = [
    ("es_dni", "12345678Z", "12345678A"),
    ("es_dni", "X1234567L", "X1234567M"),
    ("it_cf", "RSSMRA85T10A562S", "RSSMRA85T10A562T"),
    ("it_cf", "RCCMNL83S18D969H", "RCCMNL83S18D969J"),
    ("de_tax_id", "36574261809", "36574261808"),
    ("de_tax_id", "86095742719", "86095742718"),
    ("de_id_card", "T220001293", "T220001294"),
    ("nl_bsn", "111222333", "111222334"),
    ("pt_nif", "123456789", "123456788"),
    ("pt_cc", "000000000ZZ4", "000000000ZZ5"),
    ("be_nrn", "85073003328", "85073003329"),
    ("at_ssn", "1237010180", "1238010180"),
    ("mod97", "539007547034RF18", "539007547034RF19"),
    ("luhn", "79927398713", "79927398714"),
    ("iban", "DE64370400440532014711", "DE64370400440532014712"),
    ("fr_nir", "248017940038917", "248017940038918"),
    ("pl_pesel", "44051401359", "44051401358"),
    ("pl_pesel", "02070803628", "02070803629"),
    ("pl_pesel", "02270803624", "02270803628"),  # born in the 2000s: the month is 27
]


@pytest.mark.parametrize("name,valid,invalid", CHECKS, ids=[f"{c[0]}-{i}" for i, c in enumerate(CHECKS)])
def test_validators_accept_the_check_character_and_reject_any_other(name, valid, invalid):
    assert VALIDATORS[name](valid) and not VALIDATORS[name](invalid)


def test_validators_never_raise_on_junk():
    rng = random.Random(7)
    alphabet = "0123456789ABCXYZaz٣É ·-/.\u00a0"
    for _ in range(5000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 18)))
        for validator in VALIDATORS.values():
            assert validator(value) in (True, False)


def test_belgian_numbers_of_people_born_from_2000_count_the_2_prefix():
    body = "030512123"  # born 12 May 2003, serial 123
    assert VALIDATORS["be_nrn"](body + f"{97 - int('2' + body) % 97:02d}")
    assert not VALIDATORS["be_nrn"](body + f"{(97 - int('2' + body) % 97 + 1) % 97:02d}")


POSITIVE = [
    # (entity, text, value as written): every language's own words, separators as people write them
    ("ES_NIF", "Mi DNI es 12345678Z, ¿puedes rellenar el formulario?", "12345678Z"),
    ("ES_NIF", "NIE: X-1234567-L, permiso de residencia en trámite.", "X-1234567-L"),
    ("ES_NIF", "Please update the file: 12.345.678-Z belongs to the new hire.", "12.345.678-Z"),
    ("IT_FISCAL_CODE", "Il mio codice fiscale è BNCGLI90A41H501E, compila il modulo.", "BNCGLI90A41H501E"),
    ("IT_FISCAL_CODE", "Send the form for rccmnl83s18d969h today.", "rccmnl83s18d969h"),
    ("IT_FISCAL_CODE", "cod. fisc.: BNCGLI 90A41 H501E", "BNCGLI 90A41 H501E"),  # in its printed groups
    ("DE_TAX_ID", "Meine Steuer-ID lautet 36 574 261 809.", "36 574 261 809"),
    ("DE_ID_CARD", "Personalausweis Nr. T220001293, gültig bis 2031.", "T220001293"),
    ("NL_BSN", "Mijn BSN is 1112.22.333, kun je de brief opstellen?", "1112.22.333"),
    ("NL_BSN", "Burgerservicenummer: 111222333", "111222333"),
    ("PT_NIF", "O meu NIF é 123 456 789, preciso da fatura.", "123 456 789"),
    ("PT_CC", "Cartão de cidadão n.º 00000000 0 ZZ4, válido.", "00000000 0 ZZ4"),
    ("BE_NATIONAL_NUMBER", "Rijksregisternummer 85.07.30-033.28 voor de aangifte.", "85.07.30-033.28"),
    ("BE_NATIONAL_NUMBER", "Numéro de registre national : 85073003328.", "85073003328"),
    ("AT_SSN", "Meine Sozialversicherungsnummer ist 1237 010180.", "1237 010180"),
    ("AT_SSN", "SVNR: 1237010180 (e-card)", "1237010180"),
    ("ES_NSS", "Número de la Seguridad Social: 28 12345678 40", "28 12345678 40"),
    ("PT_NISS", "NISS 12034567897 do trabalhador, para o contrato.", "12034567897"),
    ("IE_PPS", "Her PPS number is 1234567T and she starts Monday.", "1234567T"),
    ("IE_PPS", "PPSN: 1234567FA", "1234567FA"),
    ("PL_PESEL", "Our Kraków contractor's PESEL is 44051401359, is it needed on the invoice?", "44051401359"),
    ("UK_NINO", "My National Insurance number is AB 12 34 56 C, can you fill in the form?", "AB 12 34 56 C"),
    ("UK_NINO", "Payroll needs SJ612844B before Friday.", "SJ612844B"),
    ("PATIENT_ID", "IPP 594726692 : la biopsie est revenue positive.", "594726692"),
    ("PATIENT_ID", "Patient no. A-20931 was readmitted after surgery.", "A-20931"),
    ("PATIENT_ID", "Número de historia clínica 88231004, resultados del análisis.", "88231004"),
    ("PATIENT_ID", '{"patnr": "7730158", "diagnose": "pneumonie, COPD"}', "7730158"),  # keys of structured data
    ("PATIENT_ID", '{"patient_id": "A-20931", "dx": "diabetes"}', "A-20931"),
    ("EMPLOYEE_ID", "Staff no. 02-4098 has joined Unite.", "02-4098"),
    ("EMPLOYEE_ID", "Personalnummer: 47110815, Krankmeldung seit Montag.", "47110815"),
    ("EMPLOYEE_ID", "Le matricule 00451872 a demandé un rendez-vous avec le délégué syndical.", "00451872"),
    # abbreviated labels, and the role a number stands for
    ("EMPLOYEE_ID", "Personalnr. 20871 hat einen Schwerbehindertenausweis.", "20871"),
    ("EMPLOYEE_ID", "personeelsnr 55310 zit in een re-integratietraject.", "55310"),
    ("PATIENT_ID", "Planning: pat.nr. 0098123 chemo-kuur verschuiven.", "0098123"),
    ("PATIENT_ID", "cliëntnummer 480193, vasculaire dementie.", "480193"),
    ("PATIENT_ID", "Pt #P-448213, HIV+ on Biktarvy.", "P-448213"),
    ("EMPLOYEE_ID", "El trabajador P-55812 es testigo de Jehová.", "P-55812"),
    ("EMPLOYEE_ID", "Operador 3318: baixa por gravidez de risco.", "3318"),
]

# A valid check character alone is not enough where random numbers of that shape pass often,
# and an invalid one counts only right after the word that names it (below).
NOT_COUNTED = [
    "Reference 111222333 was shipped on Monday.",
    "Reference RSSMRA85T10A562T is not valid?",
    "Order 92071404578 is late.",  # a PESEL's shape, its check digit wrong, nothing names it
    "The form shows 48213377A in the DNI field.",  # the word comes after
    "Mi DNI es 12345678A, ¿puedes rellenar el formulario?",  # a dummy, its check wrong
    "A encomenda 2024-PT-55410 chegou danificada.",  # a label's letters inside an order reference
    "Order 36574261809 is delayed.",
    "IBAN DE64 3704 0044 0532 0147 11",  # an IBAN, found as such, is no identity number
    "Compute the checksum of ISBN 978-2-07-036760-7.",
    "Call 06 12 34 56 78 tomorrow.",
    "The build 1700000000 took 20240101 seconds.",
    "Why does git revert 3f9c2a1b7e conflict?",
    "Explain what a UUID like 018f3e1c-7d2a-7b4e-9c1a-2b3c4d5e6f70 encodes.",
    "The patient was 45 years old in the case study.",
    "Our staff of 2024 grew by 12 percent.",
    "How many employees 1200 or more count as a large company?",
    "Order 1234567T shipped on Monday.",  # a valid PPS shape, but nothing says it is one
    "NI number GB123456C",  # a prefix never issued
    "NI number QQ123456C",  # the prefix of examples
]

ID_TYPES = {"ES_NIF", "IT_FISCAL_CODE", "DE_TAX_ID", "DE_ID_CARD", "NL_BSN", "PT_NIF", "PT_CC",
            "BE_NATIONAL_NUMBER", "AT_SSN", "ES_NSS", "PT_NISS", "IE_PPS", "PL_PESEL", "UK_NINO", "PATIENT_ID",
            "EMPLOYEE_ID"}


@pytest.mark.parametrize("entity,text,value", POSITIVE, ids=[f"{p[0]}-{i}" for i, p in enumerate(POSITIVE)])
def test_finds_identifiers_with_a_valid_check_character(inspector, entity, text, value):
    assert (entity, value) in found(inspector, text), found(inspector, text)


@pytest.mark.parametrize("text", NOT_COUNTED)
def test_invalid_or_ambiguous_numbers_do_not_count(inspector, text):
    assert [f for f in found(inspector, text) if f[0] in ID_TYPES] == []


@pytest.mark.parametrize("entity,text,value", [
    ("IE_PPS", "An employee gave us PPS number 7612345FA but the Revenue portal rejects it.", "7612345FA"),
    ("ES_NIF", "Mi DNI es 48213377A, ¿puedes rellenar el formulario?", "48213377A"),
    ("IT_FISCAL_CODE", "Il codice fiscale RSSMRA85T10A562T non è valido?", "RSSMRA85T10A562T"),
    ("NL_BSN", "Mijn BSN is 111222334.", "111222334"),
    ("DE_TAX_ID", "Steuer-ID 36 574 261 808 stimmt nicht.", "36 574 261 808"),
])
def test_a_mistyped_identifier_right_after_the_word_that_names_it_counts(inspector, entity, text, value):
    # Someone's identifier with a typo in it still identifies them.
    assert (entity, value) in found(inspector, text), found(inspector, text)


def test_context_words_settle_an_ambiguous_number(inspector):
    def score(text: str, entity: str) -> float:
        return max(h.score for h in inspector.inspect(text) if h.entity == entity)

    assert score("Nummer 111222333", "NL_BSN") < 0.5 <= score("BSN 111222333", "NL_BSN")
    assert score("111222333 (burgerservicenummer)", "NL_BSN") >= 0.5  # the word may follow
    assert score("Ref 1237010180", "AT_SSN") < 0.5 <= score("e-card 1237010180", "AT_SSN")


@pytest.mark.parametrize("text,rule", [
    ("Mi DNI es 12345678Z, redacta la carta.", "identity-numbers"),
    ("Mijn BSN is 111222333, schrijf een brief.", "identity-numbers"),
    ("IPP 594726692 : la biopsie est revenue positive, rédige le courrier.", "special-category-data"),
    ("Staff no. 02-4098 has joined Unite; draft the payroll note.", "personal-data"),
])
async def test_shipped_policy_keeps_them_on_prem(router, text, rule):
    body = {"model": "deepseek-chat", "messages": [{"role": "user", "content": text}]}
    decision = await router.decide(body, RouteContext("eval", "deepseek-chat"))
    assert decision.route == "onprem" and rule in decision.rules
