"""Each detector on values it must find and look-alikes it must leave alone, EN and FR."""
from __future__ import annotations

import pytest

from proxy.inspect import DetectorSettings, Inspector
from proxy.inspect.checksums import iban_ok, luhn_ok, nir_ok

from .conftest import found

POSITIVE = [
    # (entity, text, the value that must be found, as written)
    ("PERSON", "Draft a thank-you note for Rachel Whitfield, she stayed late.", "Rachel Whitfield"),
    ("PERSON", "Rédige un mail à Grégoire Lemaire pour reporter la réunion.", "Grégoire Lemaire"),
    ("PERSON", "Le client s'appelle Jean-Baptiste Morel.", "Jean-Baptiste Morel"),
    ("PERSON", "Relance Mme Castellane au sujet de la facture.", "Mme Castellane"),
    ("PERSON", "Send the contract to Dr. Okafor before noon.", "Dr. Okafor"),
    ("PERSON", "Please send the report to Wei Zhang before Friday.", "Wei Zhang"),
    ("PERSON", "Prépare une lettre pour Oluwaseun Adeyemi, stagiaire.", "Oluwaseun Adeyemi"),
    ("EMAIL_ADDRESS", "Forward it to lindqvist.m@proton.me please.", "lindqvist.m@proton.me"),
    ("EMAIL_ADDRESS", "Write to qkelley@example.com about the delay.", "qkelley@example.com"),
    ("EMAIL_ADDRESS", "Écris à solene.morel arobase orange point fr demain.", "solene.morel arobase orange point fr"),
    ("EMAIL_ADDRESS", "mail: marc [at] gmail [dot] com", "marc [at] gmail [dot] com"),
    ("EMAIL_ADDRESS", "contact: ｊｅａｎ＠ｏｒａｎｇｅ．ｆｒ", "ｊｅａｎ＠ｏｒａｎｇｅ．ｆｒ"),
    ("PHONE_NUMBER", "Appelle le +33 (0)4 72 28 55 96 demain.", "+33 (0)4 72 28 55 96"),
    ("PHONE_NUMBER", "Mon portable : 06.45.82.19.33", "06.45.82.19.33"),
    ("PHONE_NUMBER", "Numéro d'astreinte : 0698411667.", "0698411667"),
    ("PHONE_NUMBER", "Rappelle-moi au ０６ ４５ ８２ １９ ３３.", "０６ ４５ ８２ １９ ３３"),
    ("PHONE_NUMBER", "Call me on 07\u200b700\u200b900\u200b123 after lunch.", "07\u200b700\u200b900\u200b123"),
    ("PHONE_NUMBER", "Our US office: (415) 555-0134.", "(415) 555-0134"),
    ("PHONE_NUMBER", "Ring +44 20 7946 0958 for the Berlin desk.", "+44 20 7946 0958"),
    ("PHONE_NUMBER", "Call the vendor at (973)700-2458x92152 tomorrow.", "(973)700-2458x92152"),
    ("PHONE_NUMBER", "Reach me at 5335907579 after six.", "5335907579"),
    ("IBAN_CODE", "Virement sur FR76 1010 7001 7500 0101 2345 690 stp.", "FR76 1010 7001 7500 0101 2345 690"),
    ("IBAN_CODE", "Pay DE64370400440532014711 by Friday.", "DE64370400440532014711"),
    # right after another one: the first match runs into the second, which is looked for after it
    ("IBAN_CODE", "Pay FR76 3000 6000 0112 3456 7890 189 and NL91 ABNA 0417 1643 00 today", "NL91 ABNA 0417 1643 00"),
    # a card number alone in a CSV field, after a field that ends in a digit
    ("CREDIT_CARD", "txn_id,pan,amount\nTX-77120,6011038475629105,64.90", "6011038475629105"),
    ("CREDIT_CARD", "Card 4539 1488 0343 6467 was charged twice.", "4539 1488 0343 6467"),
    ("CREDIT_CARD", "Ma carte bancaire 5234-5678-9012-3453 est refusée.", "5234-5678-9012-3453"),
    ("CREDIT_CARD", "Amex 349876543210127, refund it.", "349876543210127"),
    ("FR_NIR", "Mon NIR est 248017940038917, que faire ?", "248017940038917"),
    ("CREDIT_CARD", "Carte Maestro 502091347687, remboursez-la.", "502091347687"),
    ("FR_NIR", "NIR d'un salarié né en Corse : 219092A00488025.", "219092A00488025"),
    ("FR_NIR", "Numéro de sécu : 2 48 01 79 400 389 17.", "2 48 01 79 400 389 17"),
    ("US_SSN", "Employee SSN 219-09-9999 was entered twice.", "219-09-9999"),
    ("STREET_ADDRESS", "My home address is 7389 Morrison Summit, Ronaldview, IA 66880.", "7389 Morrison Summit"),
    ("STREET_ADDRESS", "J'habite au 12, rue des Lilas, 69003 Lyon.", "12, rue des Lilas"),
    ("STREET_ADDRESS", "Send it to Unit 1787 Box 8379, DPO AE 15751.", "Unit 1787 Box 8379, DPO AE 15751"),
    ("STREET_ADDRESS", "Send it to 91 Vaughan Walks, New Derek, RG6 5RX.", "New Derek, RG6 5RX"),
    ("STREET_ADDRESS", "Mon adresse : boulevard Pasquier, 61154 Fleury.", "boulevard Pasquier, 61154 Fleury"),
    ("SECRET", 'access_key = "AKIALVHKPO2DRVAUK7VW"', "AKIALVHKPO2DRVAUK7VW"),
    ("SECRET", "token glpat-o3pxTnHyf6t5YdIngBaV expired", "glpat-o3pxTnHyf6t5YdIngBaV"),
    ("SECRET", "GH token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"),
    ("SECRET", "DATABASE_URL=postgresql://app:Xk29fjQ0pLm@db.acme.fr/sales", "postgresql://app:Xk29fjQ0pLm@db.acme.fr"),
    ("SECRET", "Mon mot de passe est Soleil2024!, il est bon ?", "Soleil2024!"),
    ("SECRET", "Le token est glpat\u200b-x7Kd9QpLmN2vB8sR4tYw, il ne marche plus.", "glpat\u200b-x7Kd9QpLmN2vB8sR4tYw"),
    ("SECRET", "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
    ("PRIVATE_KEY", "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
     "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"),
    ("IP_ADDRESS", "The customer's IP 84.23.117.9 is blocked.", "84.23.117.9"),
    ("DATE_OF_BIRTH", "Mon fils est né le 3 mars 2015.", "3 mars 2015"),
    ("DATE_OF_BIRTH", "DOB: 1979-11-02, please file the claim.", "1979-11-02"),
    ("PASSPORT", "Passport number 23AB45871, expiring soon.", "23AB45871"),
    ("HEALTH_DATA", "My colleague was diagnosed with cancer last week.", "cancer"),
    ("HEALTH_DATA", "Mon collaborateur est en arrêt maladie depuis lundi.", "arrêt maladie"),
    ("HEALTH_DATA", "Je suis enceinte de trois mois.", "enceinte"),
    ("SPECIAL_CATEGORY", "He is a union member and asked about his promotion.", "union member"),
    ("CONFIDENTIAL_MARKING", "DIFFUSION RESTREINTE — Plan social à Nantes.", "DIFFUSION RESTREINTE"),
    ("CONFIDENTIAL_MARKING", "CONFIDENTIAL\nQ3 board deck.", "CONFIDENTIAL"),
    ("CONFIDENTIAL_MARKING", "Note interne, ne pas diffuser : résultats.", "ne pas diffuser"),
    ("CONFIDENTIAL_MARKING", "Strictly Private & Confidential - merger memo", "Private & Confidential"),
    ("EMPLOYEE_ID", "Ticket from EMP-104233: screen broken.", "EMP-104233"),
    # names: particles, capitals beyond Latin-1, given names of further EU locales, cues
    ("PERSON", "Customer complaint from Luuk van der Berg: the parcel arrived damaged.", "Luuk van der Berg"),
    ("PERSON", "Transmets le dossier à Ilse van den Bosch avant midi.", "Ilse van den Bosch"),
    ("PERSON", "Please reply to Šárka Novotná about the delay.", "Šárka Novotná"),
    ("PERSON", "Écris un mail d'excuses à Ştefan Ionescu pour le retard.", "Ştefan Ionescu"),
    ("PERSON", "Traduis : « Amandine Roussel est absente jusqu'au 12. »", "Amandine Roussel"),
    ("PERSON", "Remercie Fabrice Bernard pour son aide au salon.", "Fabrice Bernard"),
    ("PERSON", "Our sales rep Tendai Moyo closed the deal; write a shout-out.", "Tendai Moyo"),
    ("PERSON", "Notre commercial Tendai Moyo a signé le contrat.", "Tendai Moyo"),
    ("PERSON", "Regards,\nNnamdi Okonkwo\nHead of Procurement", "Nnamdi Okonkwo"),
    ("PERSON", '{"owner": "\\u00c9milie Bourdon", "status": "active"}', "\\u00c9milie Bourdon"),
    ("STREET_ADDRESS", "Le salarié a déménagé au Viale Tomasini, 86, 32028 Montella.", "Viale Tomasini, 86, 32028 Montella"),
    ("STREET_ADDRESS", "Ship it to Calle de Alcalá 42 Piso 3, 28014 Madrid.", "Calle de Alcalá 42 Piso 3, 28014 Madrid"),
    ("STREET_ADDRESS", "Morada: Rua Augusta, 100, 1100-053 Lisboa", "Rua Augusta, 100, 1100-053 Lisboa"),
    ("STREET_ADDRESS", "Send it to Prinsengracht 263, 1016 GV Amsterdam.", "Prinsengracht 263, 1016 GV Amsterdam"),
    ("PASSPORT", "Passport no. T91760974, please fill the visa form.", "T91760974"),
    ("PASSPORT", "Passeport n° 19XK40213, expiré le mois dernier.", "19XK40213"),
    ("SECRET", "Le mot de passe du compte admin est TlTDdzS71?, rédige la note.", "TlTDdzS71?"),
    ("SECRET", "The password for the staging VPN is Hz8!kq2P now.", "Hz8!kq2P"),
    ("PHONE_NUMBER", "Tel.: 641 839 535, llámame mañana.", "641 839 535"),
    ("PHONE_NUMBER", "Text the courier at 684 495 898 when the dock opens.", "684 495 898"),
    ("CONFIDENTIAL_MARKING", "Sensitivity: Confidential. Summarize the RFP answer.", "Confidential"),
    ("HEALTH_DATA", "I'm on sick leave for depression; write to my manager.", "depression"),
    ("HEALTH_DATA", "Şeyda Kaya a un cancer, écris un mot de soutien.", "cancer"),
]

NEGATIVE = [
    # texts in which nothing may count
    "Write a LinkedIn post celebrating Castillo LLC's tenth anniversary in East Stephentown.",
    "Propose un plan marketing pour Jean Joly S.A.S., une PME de Sainte Geneviève.",
    "Propose un plan marketing pour Leleu Carpentier et Fils, une PME de Pottier.",
    "Write a press release for Hargreaves & Sons Ltd in Leeds.",
    "Summarize the annual report of Jacobi Jäckel Barth GmbH & Co. KG.",
    'In settings.py, SECRET = os.environ["APP_SECRET"] and Level.CONFIDENTIAL is an enum member.',
    "Invoice 4502781139 is overdue; ticket 7038902660 tracks it.",
    "Donne trois idées de sortie d'équipe à Bordeaux.",
    "Plan a three-day offsite in San Francisco.",
    "Summarize the plot of Les Misérables in five sentences.",
    "Write a short biography of Marie Curie.",
    "Compare Redis and Memcached for session storage.",
    "We migrated from Amazon Web Services to Google Cloud Platform last year.",
    "Upgrade from Django 4.2.7 to 5.0.1; build 10.0.19045.3693 is affected.",
    "Why does git revert 3f9c2a1b7e conflict?",
    "Explain what a UUID like 018f3e1c-7d2a-7b4e-9c1a-2b3c4d5e6f70 encodes.",
    "La commande n° 4502781139 est bloquée.",
    "Order #A-2024-001873 shipped on 12/03/2024.",
    "Replace user@example.com with your own address.",
    "INSERT INTO users VALUES (3, 'qa-admin@example.test');",  # a mailbox made of placeholder words
    # an Italian cleft around a word, an article before a noun, an abbreviation before a noun
    "ma è vero che la consegna è delle 12:07?",
    "La fede nuziale va incisa all'interno: dammi tre frasi brevi.",  # a nickname's word, no cue before it
    "ale and lager taste different, and salt and pepper are all a steak needs.",  # words paired
    "Ci serve una sala privata per venticinque persone.",
    "Sollen konkrete Daten rein, z. B. Packtermine und der erste Arbeitstag?",
    "Quantas caixas cabem numa palete? É para a encomenda PT-2024-11-3381.",  # a country code, not "pt #"
    "See https://docs.python.org/3/library/asyncio-task.html for wait_for.",
    "nginx listens on 127.0.0.1:8080 and proxies to 10.0.3.12:9000.",
    "Google's DNS at 8.8.8.8 answers slowly.",
    "password = os.environ['DB_PASSWORD']",
    "api_key: ${OPENAI_API_KEY}",
    "The AWS docs use AKIAIOSFODNN7EXAMPLE as a sample key.",
    "Set max_tokens = 100000 and temperature = 0.6.",
    "Calcule la TVA à 20 % sur 1 250 €.",
    "Is 2027-02-29 a valid date?",
    "Explain how insulin regulates blood sugar.",
    "Quels sont les symptômes courants de la grippe ?",
    "How should confidential documents be stored under ISO 27001?",
    "Comment rendre un document confidentiel dans SharePoint ?",
    "What's the secret to a crispy pizza crust?",
    "Compute 2^64 = 18446744073709551616.",
    # companies of neighbouring countries, places, products, numbers that are no phone
    "Create a SWOT for Hnos Gonzalez S.L. entering the Álava market.",
    "Summarize Tomás Fajardo Cabello S.Coop.'s 2023 annual report.",
    "Prépare un mail de prospection pour Mülichen Girschner e.G..",
    "Compare Carpentier et Basadonna SPA comme fournisseurs.",
    "Remercie Bouvet pour son soutien au salon de Pegnitz.",
    "Fais une analyse SWOT de Gulotta-Virgilio Group pour s'implanter à Torelli Di Mercogliano.",
    "Avantages et inconvénients de Jenkins X pour une PME ?",
    "Compute the checksum of ISBN 978-2-07-036760-7.",
    "We sold Model 3, 12000 Units in Q2.",
    "Le capital social est de 732 829 320 euros selon le Kbis.",
    "Que signifie le mot « confidentialité » dans un contrat ?",
    "The password is required and must be at least 12 characters.",
    "What is Simone Veil best known for?",
    "How do I keep the passport office's opening hours in a calendar?",
]


@pytest.mark.parametrize("entity,text,value", POSITIVE, ids=[f"{p[0]}-{i}" for i, p in enumerate(POSITIVE)])
def test_finds_the_value_where_it_was_written(inspector, entity, text, value):
    assert (entity, value) in found(inspector, text) or any(
        e == entity and value in span for e, span in found(inspector, text)), found(inspector, text)


@pytest.mark.parametrize("text", NEGATIVE)
def test_look_alikes_are_not_sensitive(inspector, text):
    counted = [(e, s) for e, s in found(inspector, text) if e not in ("FR_SIRET", "FR_SIREN", "PUBLIC_NAME")]
    assert counted == []


def test_public_figures_are_public_names_and_private_people_persons(inspector):
    assert found(inspector, "What did Alan Turing contribute?") == [("PUBLIC_NAME", "Alan Turing")]
    assert ("PERSON", "Alan Neal") in found(inspector, "What did Alan Neal contribute?")


def test_allow_list_still_drops_a_name_whatever_the_context(default_settings):
    settings = DetectorSettings.make(**{**_fields(default_settings), "allow": ("Rachel Whitfield",)})
    inspector = Inspector(settings)
    assert found(inspector, "Draft the contract for Rachel Whitfield, our new hire.") == []


def test_long_text_is_chunked_and_offsets_stay_right(inspector):
    filler = "The quarterly numbers look fine and nothing here is personal. " * 120
    text = filler + "Call Rachel Whitfield on 06 12 34 56 78." + filler
    assert {("PERSON", "Rachel Whitfield"), ("PHONE_NUMBER", "06 12 34 56 78")} <= set(found(inspector, text))


def test_checksums():
    assert luhn_ok("4539148803436467") and not luhn_ok("4539148803436468")
    assert iban_ok("FR7610107001750001012345690") and not iban_ok("FR7630006000011234567890188")
    assert iban_ok("DE64370400440532014711") and not iban_ok("DE6437040044053201471")  # wrong length
    assert nir_ok("248017940038917") and not nir_ok("248017940038918")
    corsica = "185032A123456" + f"{97 - int('1850319123456') % 97:02d}"  # 2A counts as 19
    assert nir_ok(corsica)


def _fields(settings: DetectorSettings) -> dict:
    return {"languages": settings.languages, "allow": settings.allow, "markings": settings.markings,
            "custom": settings.custom}
