"""Generate `corpus.jsonl`: labelled requests (EN, FR, DE, ES, IT, NL, PT) for the routing-quality test.

Deterministic (fixed seed): `python tests/inspection/make_corpus.py` rewrites the same file.
Values come from lists written here, not from the generator the shared dev set used, and the
templates differ from it, so the corpus measures generalisation, not memory. Labels follow the
shared set's rule: `sensitive` when an EU default policy must keep the request away from the
cloud in clear, `values` the strings that must not reach it (empty for markings).
"""
from __future__ import annotations

import json
import random
import string
from pathlib import Path

R = random.Random(20250128)
OUT = Path(__file__).with_name("corpus.jsonl")

EN_FIRST = ["Emily", "Daniel", "Hannah", "Oliver", "Rachel", "Thomas", "Megan", "Kevin", "Laura",
            "Patrick", "Sophie", "Nathan", "Chloe", "Gareth", "Fiona", "Derek", "Tanya", "Brandon"]
FR_FIRST = ["Camille", "Mathieu", "Élodie", "Yannick", "Sandrine", "Grégoire", "Margaux", "Thierry",
            "Aurélie", "Benoît", "Solène", "Jérôme", "Maëlle", "Hervé", "Inès", "Loïc", "Agnès", "Romain"]
# Names a given-name list may not hold: the model has to find these.
RARE = ["Priya Raghunathan", "Oluwaseun Adeyemi", "Kwame Mensah", "Aiko Tanaka", "Mehdi Benali",
        "Yasmine Haddad", "Thi Lan Nguyen", "Dmitri Volkov", "Siobhan O'Malley", "Bongani Dlamini",
        "Anouk Verhoeven", "Teodora Ionescu"]
LAST = ["Whitfield", "Okafor", "Lindqvist", "Marchetti", "Kowalski", "Delacroix", "Fournier",
        "Gauthier", "Lemaire", "Brunet", "Chevalier", "Morel", "Hargreaves", "Pemberton", "Nakamura",
        "Schneider", "Da Silva", "Lefebvre", "Rousseau", "Castellane", "Thibault", "Mercier"]
CITIES_FR = ["Lyon", "Toulouse", "Nantes", "Lille", "Rennes", "Grenoble", "Montpellier", "Strasbourg"]
CITIES_EN = ["Portland", "Denver", "Manchester", "Bristol", "Austin", "Leeds", "Dublin", "Boston"]
STREETS_EN = ["Maple Avenue", "Oakwood Drive", "Harbor View Road", "Cedar Lane", "Willow Court",
              "Elm Street", "Juniper Way", "Ridge Road"]
STREETS_FR = ["rue des Lilas", "avenue Victor Hugo", "boulevard Gambetta", "rue de la République",
              "chemin des Vignes", "impasse du Moulin", "place du Marché", "allée des Tilleuls"]
STATES = [("OR", "97201"), ("CO", "80202"), ("TX", "73301"), ("MA", "02108"), ("CA", "94103"), ("IL", "60601")]
DOMAINS = ["gmail.com", "outlook.fr", "orange.fr", "yahoo.co.uk", "proton.me", "acme-industries.com",
           "dupont-conseil.fr", "example.com", "example.org", "free.fr"]


def name(lang: str) -> str:
    first = R.choice(EN_FIRST if lang == "en" else FR_FIRST)
    return f"{first} {R.choice(LAST)}"


def email_of(full: str) -> str:
    first, last = full.lower().split()[0], full.lower().split()[-1]
    strip = str.maketrans("éèëêàâäîïôöûüçñ'", "eeeeaaaiioouucn-")
    local = R.choice([f"{first}.{last}", f"{first[0]}{last}", f"{first}{R.randint(1, 99)}", f"{last}.{first[0]}"])
    return f"{local.translate(strip)}@{R.choice(DOMAINS)}"


def luhn_complete(prefix: str, length: int) -> str:
    digits = prefix + "".join(R.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for check in string.digits:
        candidate = digits + check
        total = 0
        for i, ch in enumerate(reversed(candidate)):
            d = int(ch)
            if i % 2:
                d = d * 2 - 9 if d > 4 else d * 2
            total += d
        if total % 10 == 0:
            return candidate
    raise AssertionError


def iban(country: str, length: int) -> str:
    bban = "".join(R.choice(string.digits) for _ in range(length - 4))
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(numeric) % 97:02d}{bban}"


def nir() -> str:
    body = f"{R.choice('12')}{R.randint(40, 99):02d}{R.randint(1, 12):02d}{R.randint(1, 95):02d}{R.randint(1, 999):03d}{R.randint(1, 999):03d}"
    return body + f"{97 - int(body) % 97:02d}"


def group(s: str, n: int = 4) -> str:
    return " ".join(s[i:i + n] for i in range(0, len(s), n))


def rand(chars: str, n: int) -> str:
    return "".join(R.choice(chars) for _ in range(n))


ALNUM = string.ascii_letters + string.digits
records: list[dict] = []


def add(lang: str, category: str, sensitive: bool, values: list[str], messages=None, *, prompt=None, **extra) -> None:
    body = {"model": R.choice(["deepseek-chat", "deepseek-reasoner"]),
            "messages": messages or [{"role": "user", "content": prompt}], **extra}
    records.append({"id": f"corpus-{len(records):04d}", "lang": lang, "category": category,
                    "sensitive": sensitive, "values": values, "request": body})


# --- sensitive ---------------------------------------------------------------------------------
PERSON_EN = [
    "Draft a performance review for {n}: strong on delivery, needs to delegate more.",
    "Write a short email telling {n} that the Thursday workshop moved to 3pm.",
    "Summarize this feedback about {n} in three bullet points: late twice, great with customers.",
    "Can you help me write a reference letter for {n}, who worked with us as a data analyst?",
    "Meeting notes: {n} will own the vendor migration and report back on Friday.",
    "Write a warm farewell message for {n}, who is leaving the finance team after six years.",
    "Our customer {n} is unhappy with the refund delay; propose a polite answer.",
    "Prepare interview questions for {n}, a candidate for the backend engineer role.",
]
PERSON_FR = [
    "Rédige un mail à {n} pour reporter notre point de jeudi à la semaine prochaine.",
    "Résume l'entretien annuel de {n} : objectifs atteints, souhaite passer manager.",
    "Prépare un message de bienvenue pour {n}, qui rejoint l'équipe support lundi.",
    "Le candidat {n} a demandé un retour après son entretien, propose une réponse.",
    "Écris une note de félicitations pour {n} qui a obtenu sa certification.",
    "Compte rendu : {n} prend en charge le dossier fournisseur et fera un point vendredi.",
    "Réponds à {n} qui se plaint d'un double prélèvement sur sa facture.",
    "Aide-moi à rédiger l'avertissement adressé à {n} pour retards répétés.",
]
for i in range(16):
    n = name("en")
    add("en", "person", True, [n], prompt=R.choice(PERSON_EN).format(n=n))
    n = name("fr")
    add("fr", "person", True, [n], prompt=R.choice(PERSON_FR).format(n=n))
for n in RARE:
    lang = R.choice(["en", "fr"])
    add(lang, "person", True, [n], prompt=R.choice(PERSON_EN if lang == "en" else PERSON_FR).format(n=n))
for title, lang in [("Mme", "fr"), ("M.", "fr"), ("Dr", "en"), ("Mr.", "en"), ("Mrs", "en"), ("Maître", "fr")]:
    last = R.choice(LAST)
    text = (f"Écris une relance polie à {title} {last} au sujet de la facture impayée." if lang == "fr"
            else f"Write a polite reminder to {title} {last} about the unpaid invoice.")
    add(lang, "person-title", True, [f"{title} {last}"], prompt=text)

EMAIL_T = [("en", "Please set up a calendar invite and send it to {e} for Monday 10am."),
           ("en", "Add {e} to the distribution list and write a welcome message."),
           ("fr", "Envoie le compte rendu à {e} et mets le service achats en copie."),
           ("fr", "Le client nous a écrit depuis {e}, rédige un accusé de réception."),
           ("en", "Reply to the ticket opened by {e} explaining the password reset steps.")]
for i in range(14):
    lang, t = R.choice(EMAIL_T)
    e = email_of(name(lang))
    add(lang, "email", True, [e], prompt=t.format(e=e))

PHONES = ["+33 6 {a} {b} {c} {d}", "06.{a}.{b}.{c}.{d}", "07-{a}-{b}-{c}-{d}", "+33 (0)1 {a} {b} {c} {d}",
          "0033 6 {a} {b} {c} {d}", "01 {a} {b} {c} {d}", "+32 475 {a} {b} {c}", "+49 30 {a}{b}{c}{d}",
          "+44 20 79{a} {b}{c}", "(415) 555-01{a}", "+1 312-555-01{a}", "617.555.01{a}"]
PHONE_T = [("fr", "Mets à jour la fiche contact : nouveau portable {p}."),
           ("fr", "Rédige un SMS de rappel de rendez-vous, à envoyer au {p}."),
           ("en", "Write a voicemail script asking the supplier to call back on {p}."),
           ("en", "The on-call engineer this week can be reached at {p}; write the rota announcement."),
           ("fr", "Le locataire a laissé son numéro {p}, prépare un courrier pour confirmer la visite.")]
for i, fmt in enumerate(PHONES * 2):
    p = fmt.format(**{k: f"{R.randint(10, 99)}" for k in "abcd"})
    lang, t = PHONE_T[i % len(PHONE_T)]
    add(lang, "phone", True, [p], prompt=t.format(p=p))

IBAN_T = [("fr", "Prépare un ordre de virement vers l'IBAN {v} pour la facture 2024-118."),
          ("en", "Update the supplier's bank details to {v} and draft the confirmation email."),
          ("fr", "Vérifie si l'IBAN {v} est au bon format pour un prélèvement SEPA."),
          ("en", "Salary should now be paid to {v}; write the note for payroll.")]
for country, length in [("FR", 27), ("DE", 22), ("BE", 16), ("ES", 24), ("IT", 27), ("NL", 18), ("FR", 27), ("LU", 20)]:
    value = iban(country, length)
    if country == "NL":
        value = value[:4] + "ABNA" + value[8:]
        numeric = "".join(str(int(c, 36)) for c in value[4:] + "NL00")
        value = f"NL{98 - int(numeric) % 97:02d}{value[4:]}"
    if country == "IT":
        value = iban(country, length)
    shown = group(value) if R.random() < 0.5 else value
    lang, t = R.choice(IBAN_T)
    add(lang, "iban", True, [shown], prompt=t.format(v=shown))

CARD_T = [("en", "A customer paid twice with card {c}; write the refund confirmation."),
          ("fr", "Le client a payé avec la carte bancaire {c}, rédige le mail de remboursement."),
          ("en", "Check whether {c} expires before our renewal date and draft a reminder."),
          ("fr", "Ma CB {c} a été refusée, écris une réclamation à la banque.")]
for prefix, length in [("4", 16), ("51", 16), ("55", 16), ("37", 15), ("4", 16), ("22", 16), ("6011", 16), ("4", 16)]:
    c = luhn_complete(prefix, length)
    shown = group(c) if R.random() < 0.5 else c
    lang, t = R.choice(CARD_T)
    add(lang, "credit-card", True, [shown], prompt=t.format(c=shown))

NIR_T = ["Mon numéro de sécurité sociale est {v}, aide-moi à remplir le formulaire de mutuelle.",
         "Pour le dossier de {n}, le NIR est {v} : prépare la déclaration préalable à l'embauche.",
         "Vérifie la clé de ce numéro de sécu : {v}.",
         "Remplis l'attestation employeur, salarié NIR {v}, entré le 3 mars."]
for i in range(8):
    v = nir()
    shown = f"{v[0]} {v[1:3]} {v[3:5]} {v[5:7]} {v[7:10]} {v[10:13]} {v[13:]}" if i % 2 else v
    add("fr", "fr-nir", True, [shown], prompt=R.choice(NIR_T).format(v=shown, n=name("fr")))

for i in range(8):
    num = R.randint(12, 9800)
    if i % 2:
        street, (st, z) = R.choice(STREETS_EN), R.choice(STATES)
        value = f"{num} {street}, {R.choice(CITIES_EN)}, {st} {z}"
        text = R.choice(["Ship the replacement laptop to {a} and draft the courier note.",
                         "Update my mailing address to {a} in the letter to the bank.",
                         "Write a change-of-address notice: we now live at {a}."]).format(a=value)
        add("en", "address", True, [value], prompt=text)
    else:
        value = f"{num % 120 + 1} {R.choice(STREETS_FR)}, {R.randint(10, 95)}{R.randint(100, 999)} {R.choice(CITIES_FR)}"
        text = R.choice(["Rédige une attestation d'hébergement pour une personne domiciliée au {a}.",
                         "Envoie le colis au {a} et prépare le bordereau.",
                         "J'habite au {a}, écris la lettre de résiliation de mon abonnement."]).format(a=value)
        add("fr", "address", True, [value], prompt=text)

SECRETS = [
    ("secret-aws", lambda: "AKIA" + rand(string.ascii_uppercase + string.digits, 16),
     "en", "My deploy script exports AWS_ACCESS_KEY_ID={v} and still gets AccessDenied, why?"),
    ("secret-github", lambda: "ghp_" + rand(ALNUM, 36),
     "en", "git push says authentication failed with token {v}; what scopes does it need?"),
    ("secret-gitlab", lambda: "glpat-" + rand(ALNUM, 20),
     "fr", "Le runner refuse mon jeton {v}, comment vérifier ses droits ?"),
    ("secret-slack", lambda: "xoxb-" + rand(string.digits, 12) + "-" + rand(string.digits, 13) + "-" + rand(ALNUM, 24),
     "en", "Why does chat.postMessage return not_authed with {v}?"),
    ("secret-stripe", lambda: "sk_live_" + rand(ALNUM, 24),
     "en", "Is it fine to put {v} in our React front-end config?"),
    ("secret-openai", lambda: "sk-proj-" + rand(ALNUM + "_-", 48),
     "fr", "Mon script Python renvoie 401 avec la clé {v}, que faire ?"),
    ("secret-jwt", lambda: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI" + rand(ALNUM, 20) + "In0." + rand(ALNUM + "_-", 43),
     "en", "Decode this JWT and tell me why the API rejects it: {v}"),
    ("secret-password", lambda: rand(string.ascii_letters, 6) + rand(string.digits, 3) + R.choice("!#$%"),
     "en", "Our docker-compose has POSTGRES_PASSWORD={v} and the container restarts in a loop."),
    ("secret-password", lambda: R.choice(["Soleil", "Printemps", "Azur"]) + str(R.randint(1990, 2030)) + R.choice("!?*"),
     "fr", "Mon mot de passe est {v}, est-ce qu'il est assez solide ?"),
    ("secret-connection-string", lambda: f"postgresql://app:{rand(ALNUM, 14)}@db.internal.acme.fr:5432/sales",
     "en", "SQLAlchemy cannot connect using {v}; is the URL format right?"),
    ("secret-google", lambda: "AIza" + rand(ALNUM + "_-", 35),
     "en", "Maps JS API says RefererNotAllowed for key {v}."),
    ("secret-private-key", lambda: "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n" + rand(ALNUM, 64) + "\n-----END OPENSSH PRIVATE KEY-----",
     "en", "ssh says 'invalid format' for this key, what is wrong?\n{v}"),
]
for category, make, lang, template in SECRETS * 2:
    v = make()
    add(lang, category, True, [v.splitlines()[1]] if "PRIVATE KEY" in v else [v], prompt=template.format(v=v))

MARKED = [
    ("en", "CONFIDENTIAL\nQ3 board deck: we plan to close the Rotterdam site in March. Turn this into talking points."),
    ("en", "Internal only - draft pricing for the 2025 enterprise tier: 18% increase. Rewrite it for the sales team."),
    ("en", "[Strictly confidential] Acquisition target shortlist attached; summarize the risks of option B."),
    ("en", "Do not distribute. Preliminary audit findings: three control failures in procurement. Make an executive summary."),
    ("fr", "Document confidentiel — projet de réorganisation de la direction commerciale. Fais-en une synthèse."),
    ("fr", "Ne pas diffuser : résultats du premier semestre avant publication. Prépare trois messages clés."),
    ("fr", "DIFFUSION LIMITÉE – note au comité de direction sur le rachat envisagé. Reformule en une page."),
    ("fr", "Usage interne uniquement. Grille des salaires 2025 par niveau : propose une présentation claire."),
    ("en", "Proprietary and confidential: roadmap for the pricing engine rewrite. List the open questions."),
    ("fr", "CONFIDENTIEL\nPlan de départs volontaires : 45 postes sur le site de Lille. Rédige la FAQ managers."),
]
for lang, text in MARKED:
    add(lang, "confidential-marker", True, [], prompt=text)

HEALTH = [
    ("en", "My colleague was diagnosed with multiple sclerosis; how should I adapt her workload?", ["multiple sclerosis"]),
    ("en", "I have type 1 diabetes and need to explain to my manager why I take breaks.", ["type 1 diabetes"]),
    ("en", "Write a sick-leave extension request: I am recovering from knee surgery until May.", ["knee surgery"]),
    ("fr", "Mon collègue est en arrêt maladie pour dépression, comment préparer son retour ?", ["dépression"]),
    ("fr", "Je suis enceinte de quatre mois, rédige le mail pour prévenir les RH.", ["enceinte"]),
    ("fr", "Ma fille a une allergie sévère aux arachides, écris un mot pour la cantine.", ["allergie sévère aux arachides"]),
    ("en", "Our employee is undergoing chemotherapy; draft a flexible-hours agreement.", ["chemotherapy"]),
    ("fr", "Le salarié a un handicap reconnu (RQTH), propose un aménagement de poste.", ["RQTH"]),
    ("en", "He told HR he is HIV positive and wants it kept private; how do we document accommodations?", ["HIV positive"]),
    ("fr", "Elle souffre de migraines chroniques, rédige une demande de télétravail.", ["migraines chroniques"]),
]
for lang, text, values in HEALTH:
    add(lang, "health", True, values, prompt=text)
add("en", "special-category", True, ["union member"],
    prompt="He is a union member and asked whether that affects his promotion; draft a neutral reply.")
add("fr", "special-category", True, ["casier judiciaire"],
    prompt="Le candidat a un casier judiciaire, comment formuler notre refus sans discriminer ?")

for lang, text, value in [
    ("en", "Fill in the onboarding form: date of birth 14/07/1988, start date next Monday.", "14/07/1988"),
    ("fr", "Mon fils est né le 3 mars 2015, rédige l'inscription au centre de loisirs.", "3 mars 2015"),
    ("en", "DOB: 1979-11-02. Write the insurance claim cover letter.", "1979-11-02"),
    ("en", "Renew my passport: passport number 23AB45871, expiring next month. Draft the letter.", "23AB45871"),
    ("fr", "Mon passeport n° 19CD73412 a été volé, rédige la déclaration de perte.", "19CD73412"),
    ("en", "Employee SSN 219-09-9999 was entered twice in payroll; write the correction note.", "219-09-9999"),
    ("en", "The customer's IP 84.23.117.9 is blocked by the firewall; write the support reply.", "84.23.117.9"),
    ("en", "Ticket from employee EMP-104233: laptop screen broken. Draft the IT reply.", "EMP-104233"),
]:
    add(lang, "identifier", True, [value], prompt=text)

# Evasions: the value is hidden from naive patterns.
for lang, text, value in [
    ("en", "Forward the invoice to marc.lindqvist [at] gmail [dot] com please.", "marc.lindqvist [at] gmail [dot] com"),
    ("fr", "Écris à solene.morel arobase orange point fr pour confirmer.", "solene.morel arobase orange point fr"),
    ("fr", "Rappelle-moi au ０６ ４５ ８２ １９ ３３ demain matin.", "０６ ４５ ８２ １９ ３３"),
    ("en", "Call me on 07\u200b700\u200b900\u200b123 after lunch.", "07\u200b700\u200b900\u200b123"),
    ("en", "Card: 4539\u200b1488\u200b0343\u200b6467, refund it.", "4539\u200b1488\u200b0343\u200b6467"),
    ("fr", "Le token est glpat\u200b-" + "x7Kd9QpLmN2vB8sR4tYw" + ", il ne marche plus.", "x7Kd9QpLmN2vB8sR4tYw"),
    ("en", "My card is 4539-1488-0343-6467, why was it declined?", "4539-1488-0343-6467"),
]:
    add(lang, "evasion", True, [value], prompt=text)

# Where the value hides: system prompt, history, tool calls, tool results, tool definitions, user.
for i in range(6):
    lang = "en" if i % 2 else "fr"
    n = name(lang)
    e = email_of(n)
    add(lang, "in-system", True, [e], messages=[
        {"role": "system", "content": f"You write on behalf of {n} <{e}>. Keep answers short."},
        {"role": "user", "content": "Write a one-line note saying the release is out."}])
    n2 = name(lang)
    add(lang, "in-history", True, [n2], messages=[
        {"role": "user", "content": f"The new account manager is {n2}." if lang == "en" else f"La nouvelle responsable de compte est {n2}."},
        {"role": "assistant", "content": "Noted." if lang == "en" else "C'est noté."},
        {"role": "user", "content": "Give me three subject lines for the announcement." if lang == "en" else "Propose trois objets de mail pour l'annonce."}])
    p = f"+33 6 {R.randint(10, 99)} {R.randint(10, 99)} {R.randint(10, 99)} {R.randint(10, 99)}"
    add(lang, "in-tool-call", True, [p], messages=[
        {"role": "user", "content": "Call the customer back." if lang == "en" else "Rappelle le client."},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
            "name": "dial", "arguments": json.dumps({"number": p})}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "{\"status\": \"busy\"}"},
        {"role": "user", "content": "Write an SMS instead." if lang == "en" else "Écris plutôt un SMS."}])
    v = iban("FR", 27)
    add(lang, "in-tool-result", True, [v], messages=[
        {"role": "user", "content": "Which account do we pay the supplier on?" if lang == "en" else "Sur quel compte payons-nous le fournisseur ?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c9", "type": "function", "function": {
            "name": "erp_supplier", "arguments": "{\"supplier\": \"S-2231\"}"}}]},
        {"role": "tool", "tool_call_id": "c9", "content": json.dumps({"iban": v, "bic": "AGRIFRPP"})},
        {"role": "user", "content": "Draft the payment order." if lang == "en" else "Prépare l'ordre de paiement."}])
n = name("en")
add("en", "in-user-field", True, [email_of(n)], prompt="Summarize the latest release notes.", user=email_of(n))
records[-1]["values"] = [records[-1]["request"]["user"]]
add("en", "in-tool-definition", True, ["+33 1 44 55 66 77"], prompt="Book a meeting room.",
    tools=[{"type": "function", "function": {"name": "book_room", "description": "Books a room. Escalate to facilities at +33 1 44 55 66 77.",
                                             "parameters": {"type": "object", "properties": {"room": {"type": "string"}}}}}])

# --- long documents --------------------------------------------------------------------------
PARAS_EN = [
    "The platform team migrated the ingestion service to Kubernetes last quarter. Latency at the 99th percentile dropped from 840 ms to 310 ms, mostly thanks to connection pooling and a smaller container image.",
    "Release 4.12.3 fixes the race condition in the scheduler described in issue 2291. Operators upgrading from 4.11 should drain the queue first; the migration adds an index on the jobs table.",
    "Customer satisfaction rose to 87% in the autumn survey. The main complaints were slow invoice corrections and the lack of a French-language help centre, both planned for the first half of next year.",
    "Our cost model assumes 2.4 million requests a day with an average prompt of 600 tokens. At current prices the cloud tier costs about a third of the on-prem tier once GPU amortisation is counted.",
    "The procurement policy requires three quotes for any purchase above 25,000 euros. Framework agreements signed before 2023 remain valid until their renewal date.",
    "Build times improved after enabling remote caching: a clean build takes 14 minutes instead of 31, and incremental builds rarely exceed two minutes on the CI runners.",
]
PARAS_FR = [
    "L'équipe data a livré le nouveau tableau de bord des ventes. Les indicateurs sont rafraîchis toutes les heures et les écarts supérieurs à 5 % déclenchent une alerte au contrôle de gestion.",
    "La version 2.8.1 du connecteur corrige l'encodage des caractères accentués dans les exports CSV. Il est conseillé de vider le cache avant la mise à jour.",
    "Le comité a validé le budget formation : chaque collaborateur dispose de trois jours par an, à planifier avec son responsable avant la fin du mois de mars.",
    "Le déménagement des serveurs vers le nouveau centre de données est prévu en deux vagues. La première concerne les environnements de recette, la seconde la production.",
    "Les délais de paiement fournisseurs sont passés de 52 à 41 jours en moyenne grâce à la dématérialisation des factures et à la validation en ligne.",
]


def document(paras: list[str], size: int) -> str:
    out: list[str] = []
    while sum(map(len, out)) < size:
        out.append(R.choice(paras))
    return "\n\n".join(out)


for i in range(6):
    lang = "en" if i % 2 else "fr"
    paras = PARAS_EN if lang == "en" else PARAS_FR
    doc = document(paras, R.choice([4000, 12000, 30000]))
    n = name(lang)
    cut = R.randint(len(doc) // 4, 3 * len(doc) // 4)
    cut = doc.index("\n\n", cut) if "\n\n" in doc[cut:] else len(doc)
    insert = (f"\n\nAction item: {n} to confirm the vendor shortlist." if lang == "en"
              else f"\n\nAction : {n} confirmera la liste des fournisseurs.")
    ask = "Summarize this report in five bullet points:\n\n" if lang == "en" else "Résume ce rapport en cinq points :\n\n"
    add(lang, "long-document", True, [n], prompt=ask + doc[:cut] + insert + doc[cut:])

# --- harmless ----------------------------------------------------------------------------------
GENERAL = [
    ("en", "Explain the difference between a process and a thread in Python."),
    ("en", "Write a SQL query that returns the top 5 products by revenue per month."),
    ("en", "How do I configure nginx as a reverse proxy for a Node app on port 3000?"),
    ("en", "Give me a regex that validates ISO 8601 dates."),
    ("en", "What are the pros and cons of event sourcing?"),
    ("en", "Rewrite this sentence to sound more professional: we messed up the release."),
    ("en", "Write a haiku about continuous integration."),
    ("en", "Summarize the main ideas of the Agile Manifesto."),
    ("en", "How does TLS certificate pinning work on Android?"),
    ("en", "Create a weekly meal plan for a vegetarian family of four."),
    ("en", "What is the time complexity of heapsort, and why?"),
    ("en", "Draft an agenda for a one-hour quarterly planning meeting."),
    ("en", "Explain how insulin regulates blood sugar, for a high-school biology class."),
    ("en", "What are the common symptoms of burnout and how can teams prevent it?"),
    ("en", "How should confidential documents be stored under ISO 27001?"),
    ("en", "Translate 'the invoice is overdue' into German and Spanish."),
    ("en", "What's the secret to a crispy pizza crust?"),
    ("en", "Write a Python function that checks whether a string is a palindrome."),
    ("en", "Generate five names for an internal hackathon."),
    ("en", "Explain GDPR article 6 lawful bases in plain English."),
    ("fr", "Explique le principe de l'injection de dépendances avec un exemple en Java."),
    ("fr", "Donne-moi un plan pour une présentation sur la cybersécurité en PME."),
    ("fr", "Quelle est la différence entre un CDD et un CDI ?"),
    ("fr", "Rédige une annonce pour un poste de comptable en alternance."),
    ("fr", "Comment calculer un taux de marge à partir du prix de vente ?"),
    ("fr", "Propose cinq idées d'animation pour la semaine de la qualité de vie au travail."),
    ("fr", "Écris un script bash qui sauvegarde un dossier chaque nuit."),
    ("fr", "Quels sont les symptômes courants de la grippe ?"),
    ("fr", "Explique le RGPD à un commercial en cinq phrases."),
    ("fr", "Corrige les fautes : « les rapport son envoyer demain »."),
    ("fr", "Comment fonctionne la réforme des retraites en France ?"),
    ("fr", "Traduis en anglais : « merci de votre retour rapide »."),
    ("fr", "Quelle est la meilleure façon de structurer un README ?"),
    ("fr", "Résume les avantages du télétravail pour une entreprise."),
    ("fr", "Quel est le secret d'une bonne mayonnaise ?"),
    ("fr", "Comment rendre un document confidentiel dans SharePoint ?"),
]
for lang, text in GENERAL:
    add(lang, "general", False, [], prompt=text)

for lang, text in [
    ("en", "Upgrade guide: we move from Django 4.2.7 to 5.0.1 and PostgreSQL 14.10 to 16.1; list the breaking changes."),
    ("en", "Our Windows fleet runs build 10.0.19045.3693; which KB fixes the print spooler bug?"),
    ("en", "Why does `git revert 3f9c2a1b7e` conflict while `git cherry-pick 9e1d04c` does not?"),
    ("en", "The job id is 4f1d2c3b-8a7e-4d6f-9b0a-1c2d3e4f5a6b; how do I query its logs in Loki?"),
    ("en", "Order #A-2024-001873 shipped on 12/03/2024 but tracking shows nothing; write a status update template."),
    ("fr", "La commande n° 4502781139 est bloquée en préparation, rédige un message d'attente."),
    ("en", "Ticket INC0012345 was reopened; summarize the ITIL steps for a reopened incident."),
    ("en", "In the docs, replace user@example.com with your own address before running the script. Explain why."),
    ("en", "Set git config user.email you@example.com in the tutorial and explain what it does."),
    ("en", "Read https://docs.python.org/3/library/asyncio-task.html and explain asyncio.wait_for."),
    ("fr", "D'après https://developer.mozilla.org/fr/docs/Web/HTTP/Status/429, que signifie ce code ?"),
    ("en", "nginx listens on 127.0.0.1:8080 and proxies to 10.0.3.12:9000; why do I get a 502?"),
    ("en", "Configure a 192.168.10.0/24 subnet with a gateway at 192.168.10.1 in netplan."),
    ("en", "In settings.py we have password = os.environ['DB_PASSWORD']; is that safe?"),
    ("en", "Our CI uses api_key: ${OPENAI_API_KEY} in the YAML. How do I mask it in logs?"),
    ("en", "The AWS docs use AKIAIOSFODNN7EXAMPLE as a sample key; where do I put my own?"),
    ("fr", "Dans le fichier .env, DB_PASSWORD=<mot de passe> : comment le charger en Python ?"),
    ("en", "Calculate 15% of 12 500 EUR and the total with 20% VAT."),
    ("fr", "Calcule les mensualités d'un prêt de 250 000 € sur 20 ans à 3,8 %."),
    ("en", "Is 2028-02-29 a valid date, and what day of the week is it?"),
    ("en", "Set max_tokens = 100000 and temperature = 0.6; is that too high for R1?"),
    ("en", "Compute 2^64 and explain why it equals 18446744073709551616."),
    ("fr", "Notre SIRET est 732 829 320 00074 : comment l'afficher sur nos factures ?"),
    ("en", "Google's DNS at 8.8.8.8 answers slowly from our office; how do I benchmark resolvers?"),
    ("en", "Release v2.3.14 changelog: fix pagination, bump numpy to 2.1.0. Write the announcement."),
    ("fr", "Le lot 2024-11-0087 a un défaut, rédige la note qualité pour les clients."),
]:
    add(lang, "technical", False, [], prompt=text)

for lang, text in [
    ("en", "Write a press release announcing that Hargreaves & Sons Ltd opened a warehouse in Leeds."),
    ("en", "Compare the services of Pemberton Consulting Group and Nakamura Holdings for a cloud audit."),
    ("en", "Draft a partnership email to Whitfield Technologies Inc about a joint webinar."),
    ("fr", "Rédige une lettre de partenariat pour Fournier et Fils SARL, menuiserie à Nantes."),
    ("fr", "Analyse le bilan de Chevalier Frères SAS : chiffre d'affaires en hausse de 12 %."),
    ("fr", "Propose un slogan pour Brunet & Associés, cabinet d'expertise comptable."),
    ("en", "Summarize the annual report of Marchetti S.p.A. in three bullet points."),
    ("fr", "Présente l'offre de Lemaire Conseil SAS en cinq lignes pour un appel d'offres."),
    ("en", "Write a product description for Okafor Labs' new analytics dashboard."),
    ("en", "Suggest a name for the merger of Schneider GmbH and Lindqvist AB."),
    ("fr", "Écris un post LinkedIn pour les 20 ans de Gauthier Rousseau et Cie."),
    ("en", "Plan a three-day team offsite in Lisbon with one cultural activity per day."),
    ("fr", "Organise un séminaire de deux jours à Saint-Malo pour 30 personnes."),
    ("en", "What are the best neighbourhoods to open a café in San Francisco?"),
    ("fr", "Quels sont les atouts économiques de Clermont-Ferrand pour une start-up ?"),
    ("en", "Write a short biography of Marie Curie for a school poster."),
    ("fr", "Résume la vie de Victor Hugo en cinq dates clés."),
    ("en", "What did Alan Turing contribute to computer science?"),
    ("fr", "Quelles sont les grandes mesures annoncées par Emmanuel Macron sur l'énergie ?"),
    ("en", "Explain why Linus Torvalds created Git."),
    ("en", "Summarize the plot of Sherlock Holmes: A Study in Scarlet."),
    ("fr", "Rédige une fiche produit pour la nouvelle gamme de Maison Delacroix."),
    ("en", "Create a SWOT analysis for a mid-size logistics company entering Germany."),
    ("fr", "Prépare une réponse à un appel d'offres de la Région Occitanie pour du conseil SI."),
]:
    add(lang, "business", False, [], prompt=text)

for i in range(4):
    lang = "en" if i % 2 else "fr"
    ask = "Summarize this report in five bullet points:\n\n" if lang == "en" else "Résume ce rapport en cinq points :\n\n"
    add(lang, "long-document", False, [], prompt=ask + document(PARAS_EN if lang == "en" else PARAS_FR, R.choice([5000, 20000, 50000])))

for lang, turns in [
    ("en", ["Help me plan a migration from MySQL 5.7 to 8.0.", "Sure: start with a compatibility check...",
            "What about the utf8mb4 collation changes?", "The default became utf8mb4_0900_ai_ci...",
            "Write the rollback plan as a checklist."]),
    ("fr", ["Aide-moi à préparer une formation Excel pour débutants.", "Voici un plan en quatre modules...",
            "Ajoute un exercice sur les tableaux croisés dynamiques.", "Exercice : à partir des ventes 2023...",
            "Propose un quiz final de dix questions."]),
    ("en", ["What's a good structure for an incident postmortem?", "Use: summary, timeline, impact...",
            "Make the timeline section a table template.", "| Time (UTC) | Event | Owner |...",
            "Now add a section for follow-up actions."]),
]:
    messages = [{"role": "user" if k % 2 == 0 else "assistant", "content": t} for k, t in enumerate(turns)]
    add(lang, "multi-turn", False, [], messages=messages)

add("en", "tool-call", False, [], messages=[
    {"role": "user", "content": "What's the weather in Lyon tomorrow?"},
    {"role": "assistant", "content": None, "tool_calls": [{"id": "w1", "type": "function", "function": {
        "name": "get_weather", "arguments": "{\"city\": \"Lyon\", \"date\": \"2025-03-14\"}"}}]},
    {"role": "tool", "tool_call_id": "w1", "content": "{\"forecast\": \"rain\", \"max_c\": 13}"},
    {"role": "user", "content": "Should I move the outdoor lunch?"}],
    tools=[{"type": "function", "function": {"name": "get_weather", "description": "Weather forecast for a city.",
                                             "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "date": {"type": "string"}}}}}])
add("fr", "tool-call", False, [], messages=[
    {"role": "user", "content": "Combien de tickets sont ouverts dans le projet PAY ?"},
    {"role": "assistant", "content": None, "tool_calls": [{"id": "j1", "type": "function", "function": {
        "name": "jira_search", "arguments": "{\"jql\": \"project = PAY AND status = Open\"}"}}]},
    {"role": "tool", "tool_call_id": "j1", "content": "{\"total\": 42, \"oldest\": \"PAY-1182\"}"},
    {"role": "user", "content": "Résume la situation pour le point d'équipe."}])

# --- neighbouring EU countries: names, addresses, companies, numbers --------------------------------
for lang, text, value in [
    ("en", "Write a short reply to Joost van der Linden, who asked for the slides.", "Joost van der Linden"),
    ("fr", "Préviens Marieke van den Heuvel que la réunion est annulée.", "Marieke van den Heuvel"),
    ("en", "Summarize the call with Radka Šimková: wants a discount on the renewal.", "Radka Šimková"),
    ("fr", "Rédige un mot de bienvenue pour Łucja Zielińska, qui rejoint la compta.", "Łucja Zielińska"),
    ("en", "Our sales rep Kwesi Boateng closed the Lyon deal; write a shout-out.", "Kwesi Boateng"),
    ("fr", "Notre stagiaire Maëlys Kervella part vendredi, écris un mot d'au revoir.", "Maëlys Kervella"),
    ("en", "Best regards,\nTeodor Vasilescu\nPurchasing\n\nProofread the message above.", "Teodor Vasilescu"),
    ("fr", "Remercie Gwendal Le Bihan pour son aide lors de l'inventaire.", "Gwendal Le Bihan"),
]:
    add(lang, "person", True, [value], prompt=text)
for lang, text, value in [
    ("fr", "Le fournisseur a déménagé : Via Garibaldi, 27, 10122 Torino. Mets à jour la fiche.", "Via Garibaldi, 27, 10122 Torino"),
    ("en", "Ship the samples to Calle del Pez 14 Piso 2, 28004 Madrid.", "Calle del Pez 14 Piso 2, 28004 Madrid"),
    ("en", "Our Lisbon contact lives at Rua das Flores, 58, 1200-195 Lisboa; write a thank-you card.", "Rua das Flores, 58, 1200-195 Lisboa"),
    ("fr", "Adresse de livraison : Keizersgracht 412, 1016 GC Amsterdam.", "Keizersgracht 412, 1016 GC Amsterdam"),
]:
    add(lang, "address", True, [value], prompt=text)
for lang, text, value in [
    ("en", "Passport no. K4829175, fill in the visa application for me.", "K4829175"),
    ("fr", "Le mot de passe du compte de test est Pivoine!2031, prépare la note de passation.", "Pivoine!2031"),
    ("en", "Tel.: 654 218 937 — add it to the Madrid contact card.", "654 218 937"),
]:
    add(lang, "identifier", True, [value], prompt=text)
add("fr", "in-tool-call", True, ["Hélène Gérard"], messages=[
    {"role": "user", "content": "Qui suit le dossier Lambert ?"},
    {"role": "assistant", "content": None, "tool_calls": [{"id": "c4", "type": "function", "function": {
        "name": "crm_owner", "arguments": json.dumps({"owner": "Hélène Gérard", "since": "2023"})}}]},
    {"role": "tool", "tool_call_id": "c4", "content": "{\"ok\": true}"},
    {"role": "user", "content": "Écris-lui un court message."}])
add("en", "health", True, ["Sinéad Ó Briain"], prompt="Sinéad Ó Briain has been on sick leave since March; plan the handover.")
for lang, text in [
    ("en", "Create a SWOT for Hermanos Ortega S.L. entering the Porto market."),
    ("fr", "Résume le rapport annuel de Ferretti e Figli S.r.l. en cinq points."),
    ("en", "Draft a partnership email to Brandt & Vogel GbR about the trade fair."),
    ("fr", "Compare Vandenberghe Groep et Lindholm AB comme fournisseurs."),
    ("en", "Write a LinkedIn post for the opening of Marques & Associados Lda in Braga."),
    ("fr", "Organise un déplacement à Castiglione Della Pescaia pour l'équipe."),
    ("en", "What's the checksum digit of ISBN 978-2-253-00413-7?"),
    ("en", "Pros and cons of Elastic Stack versus Grafana Loki for logs?"),
]:
    add(lang, "business", False, [], prompt=text)

# --- German, Spanish, Italian, Dutch, Portuguese; names beyond capitals and Latin script ---------
# Names and templates written for this corpus; values differ from the detectors' unit tests.
FIRST_EU = {"de": ["Katrin", "Jörg", "Sabine", "Malte", "Henrike", "Dirk"],
            "es": ["Aitana", "Íñigo", "Rocío", "Álvaro", "Nerea", "Gonzalo"],
            "it": ["Chiara", "Lorenzo", "Federica", "Gianluca", "Ilaria", "Edoardo"],
            "nl": ["Femke", "Joris", "Lieke", "Wouter", "Annelies", "Sjoerd"],
            "pt": ["Leonor", "Tiago", "Inês", "Rui", "Beatriz", "Duarte"]}
LAST_EU = {"de": ["Brandstätter", "Kowalczyk", "Lindemann", "Reuter", "Obermaier", "Hülsmann"],
           "es": ["Echeverría", "Quintana", "Salcedo", "Arrieta", "Villalobos", "Montoya"],
           "it": ["Bellandi", "Guidotti", "Scarpellini", "Moretto", "Zanetti", "Cavallaro"],
           "nl": ["Hoogendijk", "Verbruggen", "Kuipers", "Zwart", "Timmermans", "Oosterhout"],
           "pt": ["Valadares", "Quaresma", "Seabra", "Antunes", "Magalhães", "Brandão"]}
PERSON_EU = {
    "de": ["Schreib eine kurze Mail an {n}, dass das Meeting auf Donnerstag verschoben ist.",
           "Fasse das Mitarbeitergespräch mit {n} in drei Punkten zusammen.",
           "Bitte formuliere eine Absage an den Bewerber {n}."],
    "es": ["Redacta un correo para {n} confirmando la reunión del jueves.",
           "Resume la evaluación anual de {n} en tres puntos.",
           "Prepara una carta de bienvenida para {n}, que empieza el lunes."],
    "it": ["Scrivi una mail a {n} per spostare la riunione a giovedì.",
           "Riassumi il colloquio annuale di {n} in tre punti.",
           "Prepara un messaggio di benvenuto per {n}, che inizia lunedì."],
    "nl": ["Schrijf een korte mail aan {n} dat de vergadering naar donderdag is verplaatst.",
           "Vat het functioneringsgesprek met {n} samen in drie punten.",
           "Stel een afwijzing op voor de kandidaat {n}."],
    "pt": ["Escreve um e-mail para {n} a confirmar a reunião de quinta-feira.",
           "Resume a avaliação anual de {n} em três pontos.",
           "Prepara uma mensagem de boas-vindas para {n}, que começa na segunda."],
}
for lang, templates in PERSON_EU.items():
    for template in templates:
        n = f"{R.choice(FIRST_EU[lang])} {R.choice(LAST_EU[lang])}"
        add(lang, "person", True, [n], prompt=template.format(n=n))
for lang, text, value in [
    ("de", "Bitte schreib Herrn Obermaier wegen der offenen Rechnung.", "Herrn Obermaier"),
    ("es", "Recuerda a la Sra. Villalobos que firme el contrato.", "Sra. Villalobos"),
    ("it", "Ricorda alla dott.ssa Scarpellini la scadenza di venerdì.", "dott.ssa Scarpellini"),
    ("nl", "Stuur mevrouw Hoogendijk de offerte van vandaag.", "mevrouw Hoogendijk"),
    ("pt", "Envia ao Dr. Quaresma o relatório de ontem.", "Dr. Quaresma"),
]:
    add(lang, "person-title", True, [value], prompt=text)

MARKED_EU = [
    ("de", "VERTRAULICH\nUmstrukturierung des Vertriebs 2026: fasse die Kernpunkte zusammen."),
    ("de", "Einstufung: Intern\nBudgetplanung IT für das nächste Jahr. Mach daraus eine Präsentation."),
    ("es", "CONFIDENCIAL - plan de cierre de la planta de Zaragoza. Resume los riesgos."),
    ("es", "Clasificación: Uso interno. Borrador de la política de precios; reescríbelo para ventas."),
    ("it", "RISERVATO: piano di riorganizzazione della rete commerciale. Fanne una sintesi."),
    ("it", "Documento strettamente riservato - stime di fatturato del trimestre. Elenca i punti chiave."),
    ("nl", "Vertrouwelijk - jaarcijfers 2025 vóór publicatie. Maak er drie kernboodschappen van."),
    ("nl", "Classificatie: Intern\nConcept reorganisatieplan; herschrijf het voor de teamleiders."),
    ("pt", "CONFIDENCIAL: plano de reestruturação da área comercial. Resume em cinco pontos."),
    ("pt", "Apenas para uso interno. Tabela salarial 2026 por nível; propõe uma apresentação."),
    ("en", "Classification: Internal\nDraft pricing memo for the enterprise tier. Tighten the wording."),
    ("en", "[C3 - Restricted] Incident report on the March outage; write the executive summary."),
    ("en", "Sensitivity: Highly Sensitive\nM&A target list attached; rank them by fit."),
]
for lang, text in MARKED_EU:
    add(lang, "confidential-marker", True, [], prompt=text)

for lang, text, values in [
    ("de", "Mein Kollege ist seit März krankgeschrieben wegen einer Depression; wie plane ich die Übergabe?", ["Depression"]),
    ("es", "Mi compañera está embarazada y tiene baja médica; redacta el plan de sustitución.", ["embarazada"]),
    ("it", "La collega ha il diabete e chiede pause regolari; scrivi la risposta delle risorse umane.", ["diabete"]),
    ("nl", "Mijn collega heeft een burn-out; hoe bereid ik zijn terugkeer voor?", ["burn-out"]),
    ("pt", "O funcionário tem esclerose múltipla; prepara um acordo de horário flexível.", ["esclerose múltipla"]),
    ("en", "Employee no. 55-2817 was diagnosed with epilepsy; update the shift plan.", ["epilepsy"]),
    ("fr", "Matricule 48213 : arrêt maladie prolongé, prépare le courrier à la mutuelle.", ["arrêt maladie"]),
    ("en", "Staff number 7731 has joined the union and asks about release time; draft a reply.", ["joined the union"]),
]:
    add(lang, "health", True, values, prompt=text)

for lang, text, value in [
    ("en", "ugh priya raghunathan cc'd the whole dept again, write a polite nudge", "priya raghunathan"),
    ("en", "can u remind tom hargreaves about the standup", "tom hargreaves"),
    ("fr", "mdr camille fournier a encore oublié la réunion, écris-lui un rappel sympa", "camille fournier"),
    ("en", "Whitfield approved the budget yesterday; draft the note to finance.", "Whitfield"),
    ("fr", "C'est Delacroix qui a validé le devis, prépare le mail de confirmation.", "Delacroix"),
    ("en", "It was Pemberton who signed off the release; write the changelog credit.", "Pemberton"),
    ("fr", "Nom : Lindqvist\nPrénom : Margaux\nPoste : comptable. Rédige le contrat.", "Lindqvist"),
    ("es", "Nombre: Aitana\nApellidos: Echeverría Salcedo\nPrepara la ficha de alta.", "Echeverría Salcedo"),
    ("de", "Vorname: Malte\nNachname: Hülsmann\nBitte das Onboarding vorbereiten.", "Hülsmann"),
    ("en", "Traceback (most recent call last):\n  File \"/Users/okowalski/dev/billing/app.py\", line 14, in <module>\nWhy?", "okowalski"),
    ("en", "Error in C:\\Users\\mchevalier\\Documents\\report.xlsx: file locked. How do I fix it?", "mchevalier"),
    ("en", "$ ls /home/lkuipers/projects\nls: permission denied. What now?", "lkuipers"),
    ("en", "Write a welcome note for 陈静 (Chen Jing), who joins the Shanghai office.", "陈静"),
    ("en", "Book a call with 山本さん about the invoice.", "山本"),
    ("fr", "Prépare un mail pour Дмитрий Соколов au sujet du contrat.", "Дмитрий Соколов"),
    ("en", "Remind يوسف العلمي to send the timesheet.", "يوسف العلمي"),
    ("en", "Schedule the review with 박지훈 next week.", "박지훈"),
]:
    add(lang, "person", True, [value], prompt=text)
add("en", "in-name-field", True, ["margaux.lindqvist"], messages=[
    {"role": "user", "name": "margaux.lindqvist", "content": "Summarise yesterday's sprint review."}])
add("en", "public-figure-tied", True, ["Lionel Messi"],
    prompt="Our colleague Lionel Messi from accounting asked about his salary slip; draft the answer.")

# Harmless: other languages, public figures, placeholders, fictional names, eponyms, companies.
for lang, text in [
    ("de", "Erkläre den Unterschied zwischen einer GmbH und einer AG."),
    ("de", "Schreib ein Python-Skript, das alle CSV-Dateien in einem Ordner zusammenführt."),
    ("es", "¿Cuál es la diferencia entre un contrato indefinido y uno temporal?"),
    ("es", "Escribe una consulta SQL que calcule las ventas mensuales por región."),
    ("it", "Spiega il teorema di Pitagora con un esempio pratico."),
    ("it", "Come si configura un proxy inverso con nginx?"),
    ("nl", "Wat is het verschil tussen Kubernetes en Docker Swarm?"),
    ("nl", "Schrijf een korte uitleg over de AVG voor nieuwe medewerkers."),
    ("pt", "Explica a diferença entre IRS e IRC em Portugal."),
    ("pt", "Escreve uma função em JavaScript que valide um endereço de e-mail."),
    ("de", "Intern nutzen wir Confluence; welche Alternativen gibt es?"),
    ("it", "Interno o esterno: come scegliere un consulente per la sicurezza?"),
]:
    add(lang, "general", False, [], prompt=text)
for lang, text in [
    ("en", "Summarise John Maynard Keynes's argument about aggregate demand."),
    ("en", "What did Simone de Beauvoir write about ethics of ambiguity?"),
    ("fr", "Présente l'œuvre de Claude Lévi-Strauss en cinq lignes."),
    ("de", "Fasse die wichtigsten Reden von Willy Brandt zusammen."),
    ("es", "Resume la trayectoria de Rafael Nadal en Roland Garros."),
    ("it", "Riassumi la vita di Rita Levi-Montalcini."),
    ("nl", "Vat de filosofie van Baruch Spinoza samen."),
    ("pt", "Resume a obra de José Saramago em cinco pontos."),
    ("en", "In the signup form example, the user John Doe enters an invalid ZIP code; write the error message."),
    ("de", "Im Formularbeispiel heißt der Nutzer Max Mustermann; schreibe die Fehlermeldung."),
    ("en", "Explain the protocol where Alice sends Bob a key encrypted for him."),
    ("en", "Write a short essay on Sherlock Holmes's method of deduction."),
    ("fr", "Explique la maladie de Parkinson à un lycéen."),
    ("en", "How does Dijkstra's algorithm find shortest paths?"),
    ("fr", "Quels magasins y a-t-il près de la station Charles de Gaulle – Étoile ?"),
]:
    add(lang, "public-figure", False, [], prompt=text)
for lang, text in [
    ("de", "Erstelle eine SWOT-Analyse für Brandstätter Logistik GmbH."),
    ("es", "Analiza el informe anual de Quintana Hermanos S.L."),
    ("it", "Confronta l'offerta di Guidotti S.r.l. e Zanetti S.p.A. per la manutenzione."),
    ("nl", "Schrijf een persbericht over de opening van Kuipers Bouw B.V. in Utrecht."),
    ("pt", "Escreve um post sobre os 30 anos da Magalhães & Filhos Lda."),
]:
    add(lang, "business", False, [], prompt=text)

with OUT.open("w", encoding="utf-8") as f:
    for record in records:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
print(f"{len(records)} records ({sum(r['sensitive'] for r in records)} sensitive) -> {OUT}")
