"""Inspection beyond English and French, beyond capitals and beyond Latin script, one category
at a time: each case is a kind of text, not a memorised example."""
from __future__ import annotations

import pytest

from proxy.inspect.lang import detect_language
from proxy.inspect.languages import AVAILABLE, language

from .conftest import found

SEVEN = ["en", "fr", "de", "es", "it", "nl", "pt"]


def test_every_shipped_language_has_every_kind_of_knowledge():
    assert set(SEVEN) <= AVAILABLE
    for code in SEVEN:
        data = language(code)
        for field in ("titles", "person_cues", "openers", "months", "subjects", "verbs", "possessives",
                      "marking_labels", "form_labels", "clefts", "business_ties", "surnames", "determiners",
                      "prose_before"):
            assert getattr(data, field), (code, field)
        assert set(data.special) == {"HEALTH_DATA", "SPECIAL_CATEGORY"}


@pytest.mark.parametrize("lang,text", [
    ("en", "Please write to the team about the delayed release."),
    ("fr", "Peux-tu écrire à l'équipe au sujet du retard de la livraison ?"),
    ("de", "Kannst du bitte dem Team wegen der Verzögerung schreiben?"),
    ("es", "¿Puedes escribir al equipo sobre el retraso de la entrega?"),
    ("it", "Puoi scrivere al gruppo per il ritardo della consegna?"),
    ("nl", "Kun je het team mailen over de vertraging van de levering?"),
    ("pt", "Podes escrever à equipa sobre o atraso da entrega?"),
])
def test_language_is_detected_among_all_configured(lang, text):
    assert detect_language(text, SEVEN) == lang


@pytest.mark.parametrize("text,value", [
    ("STRENG VERTRAULICH – Quartalszahlen vor Veröffentlichung.", "STRENG VERTRAULICH"),
    ("Einstufung: intern\nBitte zusammenfassen.", "intern"),
    ("Clasificación: Confidencial. Resume el informe.", "Confidencial"),
    ("Documento riservato: stime di vendita.", "riservato"),
    ("RISERVATISSIMO – DESTINATARI NOMINATIVI\nIl Consiglio ha esaminato l'aumento di capitale.", "RISERVATISSIMO"),
    ("Documento SIGILOSO: proposta de aquisição.", "SIGILOSO"),
    ("Vertrouwelijk - kwartaalcijfers, maak een samenvatting.", "Vertrouwelijk"),
    ("Apenas para uso interno: tabela de preços.", "Apenas para uso interno"),
    ("Sensitivity: Internal\nQ3 plan", "Internal"),
    ("[C2 - Restricted] outage report", "Restricted"),
    # a marked document that also lists the scheme still carries its own header
    ("CONFIDENTIAL\nLevels: public, internal, confidential. This memo is the Q3 pricing.", "CONFIDENTIAL"),
    ('{"sensitivity": "Confidential", "body": "Q3 pricing for Acme"}', "Confidential"),  # quoted, but labelled
    # a notice's formula of privilege or secrecy
    ("Note interne, couverte par le secret professionnel : avis sur la clause.", "couverte par le secret professionnel"),
    ("The terms below are covered by the mutual NDA signed in May.", "covered by the mutual NDA"),
    ("Informação sujeita a acordo de confidencialidade (NDA). Proibida a divulgação.", "Proibida a divulgação"),
    ("Geschäftsgeheimnis im Sinne des GeschGehG – Weitergabe untersagt\nRezeptur Hausmarke", "Weitergabe untersagt"),
    ("Betriebs- und Geschäftsgeheimnis\nKalkulation 2025 für Los 3", "Betriebs- und Geschäftsgeheimnis"),
    ("Beste collega's, de vestiging sluit.\n\nDit document is vertrouwelijk en uitsluitend bestemd voor "
     "leidinggevenden.", "Dit document is vertrouwelijk"),  # a notice's sentence
])
def test_markings_and_classification_headers_in_every_language(inspector, text, value):
    assert ("CONFIDENTIAL_MARKING", value) in found(inspector, text)


@pytest.mark.parametrize("text", [
    "Internal tools we use are Jira and Confluence; compare them.",
    "Intern nutzen wir Jira: welche Alternativen gibt es?",
    "How do I mark a SharePoint folder as confidential?",
    "Qual è la differenza tra audit interno ed esterno?",
    # the levels of a scheme, listed together or heading their definitions: a text about the scheme
    "Rédige une charte de classification des documents (public, interne, confidentiel, secret).",
    "Suggest labels (Public, Internal, Confidential, Restricted) with a definition for each.",
    "Stel een classificatie op (openbaar, intern, vertrouwelijk, geheim) voor een gemeente.",
    "Niveaux :\n- Interne : à usage des collaborateurs.\n- Confidentiel : divulgation préjudiciable.\n"
    "Les données RH relèvent au minimum du niveau Confidentiel.",
    # a marking in quotation marks inside a sentence is mentioned, not applied
    "Wir wollen Dokumente künftig mit „VERTRAULICH“ oder „Streng vertraulich“ kennzeichnen.",
    "¿Qué diferencia hay entre marcar un documento como «Confidencial» y como «Uso interno»?",
    'Hoe labelen andere bedrijven documenten als "Vertrouwelijk" of "Intern gebruik" in SharePoint?',
    "Como rotulo documentos como 'Confidencial' ou 'Uso interno' no Microsoft 365?",  # single quotes
    # a label without its colon names the quotation talked about
    "Que signifie la mention « Diffusion Restreinte » dans l'IGI 1300 ?",
    "Was bedeutet die Einstufung „VS – Nur für den Dienstgebrauch“ bei Behörden?",
    "Qu'est-ce que le secret professionnel d'un avocat couvre exactement ?",  # the notion, not a notice
])
def test_talk_about_confidentiality_is_no_marking(inspector, text):
    assert not [f for f in found(inspector, text) if f[0] == "CONFIDENTIAL_MARKING"]


@pytest.mark.parametrize("text,value", [
    # titles and honorifics of each language, also lower case
    ("Bitte antworte Frau Lindemann wegen der Rechnung.", "Frau Lindemann"),
    ("Recuerda a la Sra. Echeverría la reunión.", "Sra. Echeverría"),
    ("Stuur meneer Verbruggen de planning.", "meneer Verbruggen"),
    ("La Sig.ra Ferraresi del magazzino chiede le ferie.", "Sig.ra Ferraresi"),  # abbreviated inside the word
    ("Ho parlato con la Dott.ssa Bellandi del reparto.", "Dott.ssa Bellandi"),
    # form fields
    ("Nachname: Reuter\nVorname: Henrike", "Reuter"),
    ("Cognome: Bellandi\nNome: Chiara", "Bellandi"),
    ("Apelido: Valadares", "Valadares"),
    ("Achternaam: Kuipers", "Kuipers"),
    ("cognome e nome: Ferraresi Giulio\nresidente in Lecce", "Ferraresi Giulio"),  # both in one label
    ("Apellidos y nombre: Quintana Ruiz, Elena", "Quintana Ruiz"),
    # clefts
    ("c'est Gauthier qui a validé la commande", "Gauthier"),
    ("fue Quintana quien aprobó el gasto", "Quintana"),
    ("het was Timmermans die de offerte tekende", "Timmermans"),
    # chat-style lower case
    ("lol kevin okafor replied-all again", "kevin okafor"),
    ("tu peux relancer sophie mercier stp", "sophie mercier"),
    ("hintergrund: uwe kessler hat seit gestern corona und fällt aus", "uwe kessler"),  # the long list, where no dictionary tells
    # a given name that is no word of any language, alone after a person cue, in any case
    ("Can you ask Marta to send the Q3 numbers?", "Marta"),
    ("btw ping giulia about the invoice", "giulia"),
    ("ik heb met sanne gebeld over het contract", "sanne"),
    # a short form or a given name that is a word too, right after a word of addressing
    ("come rispondo a simo che mi chiede di nuovo il turno?", "simo"),
    ("cómo le digo a paco que su informe llega tarde", "paco"),
    ("demande à gégé s'il a les clés du local serveur", "gégé"),
    ("como é que digo ao quim que não pode faltar", "quim"),
    # two of them paired in lower case, as a clause's subject
    ("ma gigi e lele hanno litigato di nuovo in riunione", "lele"),
    ("hilfe, jens und susi streiten sich seit tagen um die schicht", "jens"),
    ("matt from payroll says he can't see the new grid", "matt"),  # before its clause's verb
    ("elisa del marketing mi ha detto che è lesbica", "elisa"),  # before its department
    ("moni aus dem einkauf hat mir erzählt dass sie krank ist", "moni"),
    # a short form after the article everyday speech puts before names, or marked possessive
    ("o zé ainda n respondeu ao mail do cliente, ta de baixa??", "zé"),
    ("ho visto la bea stamattina, dice che il badge non va", "bea"),
    ("kannst du schauen warum jens' PR seit gestern rot ist?", "jens"),
    ("can you check tom's laptop before friday", "tom"),
    ("hey @dmitri.volkov can you review?", "dmitri.volkov"),  # a chat mention made of a name
    ("Please send the revised contract to K. Janssen before Friday.", "K. Janssen"),  # an initial and a surname
    ("Call Maria J. Kowalczyk tomorrow about the lease.", "Maria J. Kowalczyk"),  # with the given name before it
    # a given name the lists lack, then a surname of the long list, wherever they stand
    ("Marloes Verbeek, FNV-kaderlid bij ons op de vestiging, wil vergaderen.", "Marloes Verbeek"),
    ("Summary. Darnell Okafor-Price (declared on his application) is on the shortlist.", "Darnell Okafor-Price"),
    ("Herschrijf: 'Marloes de Jong zit thuis, haar projecten worden verdeeld.'", "Marloes de Jong"),  # with its particle
    ("haha jan de vries heeft de hele afdeling uitgenodigd", "jan de vries"),
    ("nguyen_thi_lan", "nguyen_thi_lan"),  # a handle that puts the surname first
    ("Jin Park sent the revised budget this morning.", "Jin Park"),  # a surname that is a place's word too
    ("Please close the Maria Lopez ticket today.", "Maria Lopez"),  # "the" before a name still names her
    # a common surname alone, opening a clause that goes on in lower case
    ("Marchetti dice che il preventivo è sbagliato, come gli rispondo?", "Marchetti"),
    ("Lemaire m'a encore relancé pour le devis.", "Lemaire"),
    ("Villalobos dice que no firma el acta.", "Villalobos"),
    ("Van den Bosch heeft de factuur nog steeds niet betaald.", "Van den Bosch"),  # with its particle
    # home directories, also after JSON escaping ate a backslash
    ('File "/home/jbrunet/app/main.py", line 3', "jbrunet"),
    ("open C:\\Users\\rmarchetti\\Desktop\\x.csv failed", "rmarchetti"),
    ("PermissionError: '/Users/sandrine.morel/Library/x'", "sandrine.morel"),
    # a message's name field is inspected alone
    ("chloe_pemberton", "chloe_pemberton"),
    ("valentina.orlando", "valentina.orlando"),  # a surname of the long list, joined to a given name
    ("priscilla_tan", "priscilla_tan"),  # a romanised Chinese surname
    ("SELECT id FROM admissions\nWHERE surname = 'Oyelowo-Bankole ' AND ward = 'B2';", "Oyelowo-Bankole"),  # SQL's labels
    ('c = Cliente(nome="Giulia", cognome="Ferrandi", reparto="acquisti")', "Giulia"),  # a keyword argument
    ("Rivka Goldberg on my team asked to leave early on Fridays.", "Rivka Goldberg"),
    ("Write a note to this candidate: https://www.linkedin.com/in/sven-oskarsson-4b8213a/", "sven-oskarsson-4b8213a"),
])
def test_names_found_by_where_they_stand(inspector, text, value):
    assert any(e == "PERSON" and value in span for e, span in found(inspector, text)), found(inspector, text)


@pytest.mark.parametrize("text,value", [
    ("Forward the minutes to 刘洋 before Friday.", "刘洋"),
    ("Call 中村さん about the delivery.", "中村"),
    ("Remind 이서연 about the review.", "이서연"),
    ("Send it to Наталья Кузнецова today.", "Наталья Кузнецова"),
    ("Write to أحمد منصور about the invoice.", "أحمد منصور"),
    # listed Hebrew and Devanagari names, Greek surname endings, a Thai given name and surname
    ("יעל לוין starts on the night shift next week.", "יעל לוין"),
    ("Ajoute अनिल जोशी à la liste des nouveaux arrivants.", "अनिल जोशी"),
    ("Neue Kollegin: Ελένη Γεωργιάδου aus Thessaloniki.", "Ελένη Γεωργιάδου"),
    ("Add สมศักดิ์ รุ่งเรือง to the vendor contacts.", "สมศักดิ์ รุ่งเรือง"),
])
def test_names_in_other_scripts(inspector, text, value):
    assert ("PERSON", value) in found(inspector, text), found(inspector, text)


@pytest.mark.parametrize("text", [
    'How do you say "thank you" in Japanese? ありがとう',
    "Translate 你好世界 into French.",
    "The word Москва means Moscow.",
    "What does مرحبا mean?",
    "What does שלום mean in Hebrew?",
    "How do you say thank you in Thai: ขอบคุณ ครับ?",
    "Δημοκρατία is the Greek word behind democracy.",
    "name: nginx-deployment",
    "ls /home/runner/work and /Users/Shared",
    "mark_done",
    "max pooling and dropout layers in a CNN",
])
def test_look_alikes_in_other_scripts_and_shapes(inspector, text):
    assert [f for f in found(inspector, text) if f[0] == "PERSON"] == []


@pytest.mark.parametrize("text,kind", [
    ("Summarise the economics of John Maynard Keynes.", "public-name.scientists_and_inventors"),
    ("Résume la vie de Victor Hugo.", "public-name.writers_and_philosophers"),
    ("Im Beispielformular heißt der Nutzer Max Mustermann.", "public-name.placeholders"),
    ("Write an essay on Hermione Granger as a role model.", "public-name.fictional"),
    # a life's years are no phone number that ties the name to someone's contact details
    ("Thomas Mann (1875-1955) schrieb die Buddenbrooks; fasse das Buch zusammen.", "public-name.writers_and_philosophers"),
    # who the text is written for is no tie ("our book club"), nor a place's name ("Notre-Dame")
    ("Schreib einen kurzen Text über Thomas Mann für unsere Schülerzeitung.", "public-name.writers_and_philosophers"),
    ("Write a profile of Simone de Beauvoir for our company newsletter.", "public-name.writers_and_philosophers"),
    ("Quand Victor Hugo décrit Notre-Dame, que veut-il sauver ?", "public-name.writers_and_philosophers"),
])
def test_public_names_are_not_persons_and_say_which_list(inspector, text, kind):
    hits = [h for h in inspector.inspect(text) if h.score >= 0.5]
    assert [h.entity for h in hits] == ["PUBLIC_NAME"] and hits[0].detector == kind


@pytest.mark.parametrize("text", [
    "Our new hire Simone de Beauvoir starts Monday; draft her contract.",
    "Mail the invoice to Victor Hugo at v.hugo@proton.me",
    "Mein Kollege Thomas Mann hat nach seiner Gehaltsabrechnung gefragt.",
    "Rückruf an Thomas Mann, 030 2847 1190, heute noch.",
    "Victor Hugo still has two unpaid invoices, remind him politely.",  # a tie in the plural
    "Can you ask my manager Satya Nadella to approve the budget?",  # a possessive's tie, in the same sentence
])
def test_a_public_name_tied_to_the_business_stays_a_person(inspector, text):
    hits = [h for h in inspector.inspect(text) if h.entity == "PERSON"]
    assert hits and hits[0].detector == "public-name.tied-to-business"


@pytest.mark.parametrize("text,name", [
    # among listed public figures, but someone of the writer's private life, or addressed
    ("Plan a party for my daughter Emma Lopez, she loves Taylor Swift and Billie Eilish.", "Emma Lopez"),
    ("Ma voisine Claire Fontanel adore Édith Piaf et Charles Aznavour, que lui offrir ?", "Claire Fontanel"),
    ("Schreib Lena Brenner eine Karte, sie liebt Helene Fischer und Udo Lindenberg.", "Lena Brenner"),
    # beside one listed public figure only
    ("Write a birthday card for Anna Schmidt, a huge fan of Taylor Swift.", "Anna Schmidt"),
])
def test_a_private_person_beside_a_public_figure_stays_a_person(inspector, text, name):
    assert ("PERSON", name) in found(inspector, text), found(inspector, text)


@pytest.mark.parametrize("text,entity", [
    ("IPP 594726692 : la biopsie est revenue positive.", "HEALTH_DATA"),
    ("Dossier n° 2025-004512 — diabète gestationnel, revoir le traitement.", "HEALTH_DATA"),  # "n°" after the label
    ("Resumo: utente n.º 193847562, asma grave, renovar a medicação.", "PATIENT_ID"),  # "n.º"
    ("Staff no. 02-4098 has joined Unite; update the union dues.", "SPECIAL_CATEGORY"),
    ("La collega ha il diabete e chiede pause regolari.", "HEALTH_DATA"),
    ("Mijn collega heeft een burn-out.", "HEALTH_DATA"),
    # a record number written "n.º" (read "n.o"), an adjective of the condition
    ("Certifico que o trabalhador com o n.º mecanográfico 7712 está em episódio depressivo.", "HEALTH_DATA"),
    ("Certifico que o trabalhador com o n.º mecanográfico 7712 está em episódio depressivo.", "EMPLOYEE_ID"),
    ("Mi compañero está muy depresivo desde marzo.", "HEALTH_DATA"),
    # criminal convictions (art. 10), also of someone known by a reference
    ("Applicant ref 2024/VT/0912 disclosed a 2020 conviction for theft.", "SPECIAL_CATEGORY"),
    ("Der Bewerber hat eine Verurteilung wegen Betrugs.", "SPECIAL_CATEGORY"),
    ("Mi colega tiene una condena penal por conducir ebrio.", "SPECIAL_CATEGORY"),
    ("Onze medewerker heeft een veroordeling voor fraude.", "SPECIAL_CATEGORY"),
    ("El informe del candidato Villalobos tiene una condena de 2019 por estafa.", "SPECIAL_CATEGORY"),
    # a case file's or a worker's number in every language; "n." before it
    ("Processo 4410/2023: trabalhador com asma grave, rever o posto.", "HEALTH_DATA"),
    ("Cartella n. 2023/11820: uomo di 64 anni ricoverato per ictus.", "HEALTH_DATA"),
    ("Werknemer 55102 is herstellende van een depressie.", "HEALTH_DATA"),
    # a register's acronym between label and number; a clinical specialty as the health term
    ("Pedido: utente n.º SNS 284719305, dor torácica atípica, consulta de cardiologia.", "HEALTH_DATA"),
    ("Mi padre tiene cita en cardiología el lunes, ¿me cambias el turno?", "HEALTH_DATA"),
    ("O Cristiano Ronaldo tem ressonância ao joelho marcada para amanhã às 7h.", "HEALTH_DATA"),  # an exam
    ("Our client had an MRI of the knee last week, draft the follow-up.", "HEALTH_DATA"),
    ("my report Liam came out as gay at the offsite, what should i say?", "SPECIAL_CATEGORY"),
    ("Redige a referenciação: utente nº 284 913 677, perturbação de pânico com agorafobia.", "HEALTH_DATA"),
    ("il candidato n. 0387 ha dichiarato un'invalidità civile del 67%", "HEALTH_DATA"),
    ("Kandidaat 2023-118 (sollicitatie medewerker) heeft geen VOG gekregen.", "SPECIAL_CATEGORY"),
    ("Patient 48213 was referred to neurology after the second seizure.", "HEALTH_DATA"),
    # a term closing a German or Dutch compound
    ("Unsere Mitarbeiterin hat Lungenkrebs, wie planen wir die Vertretung?", "HEALTH_DATA"),
    ("Mijn collega heeft een gokverslaving.", "HEALTH_DATA"),
])
def test_special_categories_about_someone_in_every_language(inspector, text, entity):
    assert entity in {e for e, _ in found(inspector, text)}, found(inspector, text)


@pytest.mark.parametrize("text", [
    "Wir haben den Fehler untersucht und die Ursache gefunden.",  # "untersucht" holds "sucht"
    "Welche Vorsorgeuntersuchungen gegen Brustkrebs zahlt die Kasse?",  # health in general
    "Hoe voorkom je een gokverslaving bij jongeren? Tips voor een voorlichtingsles.",
    # a patient's age is no record number, a short word no register's acronym
    "Come si calcola il CHA2DS2-VASc per un paziente di 72 anni con ipertensione e diabete?",
    "Our company is launching a mental health first aider programme: write the announcement.",  # no one's
])
def test_health_in_general_is_nobodys(inspector, text):
    assert not {e for e, _ in found(inspector, text)} & {"HEALTH_DATA", "SPECIAL_CATEGORY"}, found(inspector, text)
