"""Words that are names, markings or numbers in one place and ordinary words in another: each
case stands for a kind of text (coding agents' tool descriptions, identifiers, prose), and its
counterpart shows the sensitive reading still holds."""
from __future__ import annotations

import pytest

from .conftest import found


@pytest.mark.parametrize("text", [
    "Job ID returned by CronCreate.",  # a given name before an acronym: a term
    "Mark ID 4 as done before the release.",
    "By default the job lives only in this session.",  # an article before two lower-case words
    "Otherwise the edit fails and nothing is written.",
    "You don't need to know the shape of the data.",  # a marking phrase after a subject: talk
    "I need to know the deadline for the Q3 report.",
    "Retry rh-calm-sensitive-2 and internal_api_v2 after the deploy.",  # marking words inside identifiers
    "Propose un plan marketing pour Lefèvre, une PME de Cohen.",  # a given name after "de": a place
    "Decorate the view with @app.route and the test with @pytest.fixture.",  # mentions of code
    'Case study: "Mr. A, a 54-year-old lorry driver, presents with chest pain."',  # an anonymised patient
    "Cas clinique : « Mme X, 67 ans, consulte pour une dyspnée ».",
    # lower-case words that are also given names, and public names written in lower case
    "Pourquoi mon useEffect s'exécute deux fois en dev avec React 18 ?",
    "How do you say thank you in Japanese: ありがとう?",  # a word of another script, not running text
    "Support_Bot",  # a program's name field
    "Sei un avvocato d'impresa esperto di contratti IT.",  # a profession, not a form of address
    "Flag items that customers might miss buys on, and retry after 100 ms backoff.",  # English words
    "Van Amsterdam Centraal naar Schiphol, welke trein is het snelst?",  # a station after a person cue
    "Planeia uma campanha para a Black Friday com descontos de 30%.",  # a first word that is a word
    "the bill says we owe 40 euros, is that right?",  # an article before a word that is also a name
    'assert user.display_name() == "Alice E."',  # a given name and an initial: a fixture's display name
    "We need a Plan B. Also take Vitamin D. daily.",
    'Our README shows `export STRIPE_KEY=sk_test_xxxxxxxxxxxxxxxx`: is that safe to publish?',  # a filler key
    "Is this .env.sample ok?\nAPP_SECRET=change-me\nDEBUG=false",  # a documentation default
    "Why is 4000 0000 0000 0002 declined in the sandbox?",  # a documented test card: one digit over and over
    "En el entorno de pruebas de Redsys uso la tarjeta 4548 8120 4940 0004, ¿hay otra de test?",  # a PSP's test card
    '{"nom": "Dupont", "prenom": "Jean", "email": "jean.dupont@exemple.fr"}',  # a placeholder's mailbox
    "sshd[812]: session opened for user=www-data; owner: svc_backup; account=deploy-bot",  # system accounts
    "Tom and Jerry is the cartoon my kids watch.",  # a listed pair
    "sku|qty|price\n4471|2|19.90",  # a table without a name or person-number column
    "Dame tres ideas para un eslogan sobre la vida sana y la luz natural.",
    "il prezzo massimo è 40 euro, la porta è verde",
    "se la fede torna a contare nella politica italiana",  # a short form that is a word: after an article, the word
    "I don't know why it's failing, it won't start.",  # contractions are no possessives
    "messi or ronaldo, who scored more in 2024?",
    "the user juan.perez logs in twice",
    # capitalised nouns of a language the NER model is borrowed for
    "Bestellung Nr 4471: bitte um Verständnis für die Verzögerung.",
    "Vielen Dank für Ihr Verständnis und Ihr Vertrauen.",
    # dummy numbers and documentation mailboxes, in code fixtures
    'crear_usuario(email="pruebas@example.com", telefono="600 000 000")',
    "assert normalise('kunde_001@example.org') == 'kunde_001@example.org'",
    "Mock-up du formulaire : test@exemple.fr, 01 02 03 04 05",
    "validate_nif('123456789') should return True",
    'cliente_teste = {\n  nome: "Cliente Exemplo",\n  telefone: "+351 900 000 000",\n}',  # after a country code
    'usuario = {"nombre": "Usuario Prueba", "telefono": "+34 600 000 000"}',
    "const user = { nombre: 'Usuario Prueba', email: 'prueba@example.com' };",  # in single quotes
    # capitalised words opening a sentence: a word that is also a given name, products
    "Rose is a flower that grows in May.",
    "GitLab Runner fails on the second job.",
    "Kafka Streams uses RocksDB under the hood.",
    # English terms borrowed by another language, a vendor's product, an organisation's ending
    "Bosch, Siemens und Continental: wer ist bei Software-defined Vehicle am besten aufgestellt?",
    "¿Cómo etiquetamos documentos con las etiquetas de sensibilidad de Microsoft Purview?",
    "Vergelijk Jumbo en Lidl Nederland op marktaandeel en prijsstrategie.",
    "Wie unterscheiden sich Aldi Nord, Aldi Süd und Lidl in der Eigentümerstruktur?",
    "Wie unterscheidet sich die Governance von Würth von der anderer Familienunternehmen?",
    "Lohnt sich der Porsche Cayman GTS 4.0 als Dienstwagen?",  # a name holds no digit
    "09:30 Marktumfeld DACH\n10:30 Pause",  # a word of no dictionary, then an acronym
    "Analisi SWOT di Ferrero nel mercato nordamericano.",  # an acronym after the noun opening the phrase
    "Vergleiche die Geschäftsmodelle von Bosch und Continental.",
    "Reads Jupyter notebooks (.ipynb) as cells with their outputs.",  # a verb's -s form, then a product
    # a given name that is also a conjunction, an article after it
    "Im Geschäft gilt: solange die Ware reicht, gibt es Rabatt.",
    "En cas d'urgence, appelez le 112.",  # a word that is also a given name, then no surname
    "max_tokens",  # a parameter's name: a given name and a word's plural
    "Pour la note de service interne :\nLes bureaux ferment à 18 h.",  # a marking word ending a sentence
    "London is expensive this time of year.",  # a surname the model reads as a place
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: api-keys",  # a marking word as a key's value in code
    "How do UNCLASSIFIED, SECRET and TOP SECRET differ in the US?",  # a scheme's levels, listed
    "db:\n  environment:\n    POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set it in .env}",  # a shell's error if unset
    # a German compound, no name ("Zwetschgenkuchen" ends in "Kuchen")
    "Badischer Zwetschgenkuchen braucht reife Früchte und viel Zimt, oder kann man auch gefrorene Zwetschgen nehmen?",
    "¿Qué servicios ofrece un centro de salud de atención primaria?",  # a given name that is a frequent word
    "Weiß jemand, wie man das Formular ausfüllt?",  # a verb opening a question, though a surname too
    "SUMMER PARTY!!! friday from 4pm on the roof terrace, bring your family.",  # a heading in capitals
    ".env.example:\nSECRET_KEY=bitte-lokal-setzen\nDEBUG=1",  # an instruction as the value
    "Why was 078-05-1120 printed on sample wallet cards in 1938?",  # the Woolworth sample SSN
    "use @app.get and @pytest.mark.parametrize in the handler tests",  # decorators, not mentions
])
def test_ordinary_words_are_not_findings(inspector, text):
    assert found(inspector, text) == []


@pytest.mark.parametrize("text,entity", [
    ("Please write to Anna WU about the invoice.", "PERSON"),  # a surname in capitals stays a name
    ("Send the contract to Jean DUPONT today.", "PERSON"),
    ("omg sarah whitfield just replied-all to the whole company", "PERSON"),
    # a given name alone in lower case: chat about a colleague, in any language
    ("on fait une carte pour les 40 ans de mathilde (compta) vendredi", "PERSON"),
    ("[09:14] jannik: der hotfix ist auf staging, aber die migration hängt", "PERSON"),
    ("venerdì giulia va in pensione dopo 31 anni in amministrazione", "PERSON"),
    ("my teammate Liam came out at the offsite and people are making jokes", "PERSON"),  # after a word for a colleague
    ("name|vaccine|due\nOluwaseun Adeyemi|HepB booster|2024-06-21", "PERSON"),  # a table's name column
    ("n_func | mes | motivo\n10482 | 2024-03 | depressão", "EMPLOYEE_ID"),  # a table's staff-number column
    ("Willemijn_Dekker", "PERSON"),  # a message's `name` field
    ("2025-03-02T11:04:09Z sshd: invalid password user=t.lindqvist src=10.9.4.12", "PERSON"),  # an account field
    ("cp: cannot stat '../../home/gmarchetti/.npmrc': No such file", "PERSON"),  # a relative home path
    ("Card for my colleague יונתן לוי: can you suggest a line in Hebrew?", "PERSON"),  # any script, after a cue
    ("La Sra. Ibarrondo ha pedido un reembolso.", "PERSON"),  # an article, then a title, opening the text
    ("Karim, du service paie, m'a demandé un rendez-vous.", "PERSON"),  # a given name and its team, apposed
    ("kurze frage: uwe hat schon wieder das daily verpasst", "PERSON"),  # a chat name (also a word) before its verb
    ("mevrouw van dijk van kamer 4 is vannacht gevallen", "PERSON"),  # a form of address, a particle, a surname
    ("Éloise Brennan starts on Monday in accounts payable.", "PERSON"),  # a given name written with its accent
    (r"Access denied: \\fs02\payroll$\2025\Anna_Lindqvist\payslip.pdf", "PERSON"),  # a folder named after someone
    ("Traduz para o processo: «Олена Коваленко має досвід роботи бухгалтером вісім років.»", "FOREIGN_TEXT"),
    ("Birthday wish for my teammate प्रिया शर्मा, friendly but short", "PERSON"),
    ("Rota: Mon Adebayo, K. / Tue Van der Heijden, P. / Wed Lindqvist S.", "PERSON"),  # surname, initial
    ("kurze frage, frau kowalczyk aus der buchhaltung braucht die belege", "PERSON"),  # a title in lower case
    ("escreve uma msg curta pro sr. abílio da manutenção", "PERSON"),
    ("una gotera en el piso de Calle de Alcalá 214, 3º B, 28028 Madrid.", "STREET_ADDRESS"),  # floor and door
    ("NEED TO KNOW: salary bands for 2027", "CONFIDENTIAL_MARKING"),
    ("Please keep this on a need to know basis: the merger with Acme.", "CONFIDENTIAL_MARKING"),
    ("[C3 - Restricted] board minutes", "CONFIDENTIAL_MARKING"),
    ('{"cabecalho": "Classificação: Restrito", "texto": "Exfiltração de 2 GB"}', "CONFIDENTIAL_MARKING"),  # labelled inside quotes
    ("COMMERCIAL IN CONFIDENCE\n\nSection 4.2 – Pricing", "CONFIDENTIAL_MARKING"),
    ("Llámale al 612 489 307 antes de las cinco", "PHONE_NUMBER"),
    ("Pregunta por Lola en el 622 31 47 80, es la del presupuesto.", "PHONE_NUMBER"),  # Spain's 3-2-2-2
    ("Manda uma SMS para o 936 210 447 a confirmar a entrega.", "PHONE_NUMBER"),  # a Portuguese mobile
    ("Wie schreibe ich den Namen Ольга Смирнова für den Vertrag?", "PERSON"),  # after a capitalised Latin word
    ("Translate this note: 陈伟下周一开始休假，有问题请联系我。", "FOREIGN_TEXT"),  # a name inside running text
    ("Traduci: 'नमस्ते, मैं अनन्या शर्मा हूँ, मैंने आवेदन किया है।'", "FOREIGN_TEXT"),  # a number, not a pattern
    ("crear_usuario(email=\"lucia.ferrandiz@example.com\")", "EMAIL_ADDRESS"),  # someone's mailbox, even there
    ("Virement sur FR76/1010/7001/7500/0101/2345/690 demain", "IBAN_CODE"),  # slashes as separators
    ("Send the contract to our customer Max Mustermann, Hauptstraße 5, 10115 Berlin.", "STREET_ADDRESS"),
    ("Morgen habe ich einen Termin bei Sevda Arslan wegen der Abrechnung.", "PERSON"),  # no English words
    ("Buongiorno, mi chiamo Ion Ciobanu e lavoro come saldatore.", "PERSON"),  # a short English word, a given name
    # a clinical note's shorthand: the record number's label abbreviated, dots inside the sentence
    ("Pat.-Nr. 3381-C, w, 52 J.: Diabetes mellitus Typ 2", "HEALTH_DATA"),
    ("Befund: Patient 7742, HIV-positiv seit 2019.", "HEALTH_DATA"),  # a term opening a compound
    ("This memo is shared under the mutual NDA and must not be disclosed.", "CONFIDENTIAL_MARKING"),
    ("Overdracht: PID 4410923, man, 61 jaar, opgenomen met een longontsteking.", "HEALTH_DATA"),
    ("Project X\n- status: CONFIDENTIAL", "CONFIDENTIAL_MARKING"),  # in capitals, a marking even as a value
    ("sensitivity_label: Confidential\nbody: Q3 numbers", "CONFIDENTIAL_MARKING"),  # a key naming a label
    ("environment:\n  JWT_SECRET: ${JWT_SECRET:-Xk29!pqLm77}", "SECRET"),  # a default is a value
    # a patient's record named by two labels, the health data in the sentences after it
    ("Paziente cartella 2023/11877, F, 58 aa. Carcinoma mammario in follow-up.", "PATIENT_ID"),
    ("Patient dossier 2022-04410, 71 ans. Insuffisance rénale chronique.", "PATIENT_ID"),
    ("emp_id;badge;enrolled\nEMP 4410;blue;2024-02-01", "EMPLOYEE_ID"),  # letters, a space, digits
    ("Document soumis à un accord de non-divulgation. Tarifs 2025 : 4,20 € l'unité.", "CONFIDENTIAL_MARKING"),
    # a marking phrase's last word agreeing with what it qualifies
    ("Les annexes ci-jointes restent strictement confidentielles jusqu'à la signature.", "CONFIDENTIAL_MARKING"),
    ("Gli allegati sono strettamente riservati: non inoltrarli.", "CONFIDENTIAL_MARKING"),
    ("The figures below are shared under the non-disclosure agreement of March 3.", "CONFIDENTIAL_MARKING"),
    # religion by a record's number; a credential with "@" in it; a registry login's password
    ("Team member 5520 asks to leave early on Fridays during Ramadan.", "SPECIAL_CATEGORY"),
    ("Member 4410-118-03 was refused cover for a wheelchair; draft the appeal.", "HEALTH_DATA"),
    ("engine = create_engine('postgresql://report:Kx7@Lm2q@10.0.4.12/dwh')", "SECRET"),
    ("podman login quay.example.org -u builder -p Tr0mb0ne!77 fails in CI", "SECRET"),
    ("export TOKEN=dckr_pat_Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9", "SECRET"),
    ('BOT = "https://api.telegram.org/bot6123459870:AAF4kT9xQw2ErT6yUi8oPa1sDf3gHj5kLzX/getMe"', "SECRET"),
    ("The team's 2FA seed is KRSXG5CTMVRXEZLUKN2XAZLS, how do I add it to our password manager?", "SECRET"),
    ("Ces annexes sont couvertes par l'accord de confidentialité du 3 mars.", "CONFIDENTIAL_MARKING"),
    # a record heading a clinical note: the note's later sentences are about that person
    ("Nota di dimissione\nPratica n. 55-2031 – uomo, 61 anni. Ricoverato per infarto miocardico.", "HEALTH_DATA"),
])
def test_the_sensitive_reading_still_holds(inspector, text, entity):
    assert entity in {e for e, _ in found(inspector, text)}


@pytest.mark.parametrize("text", [
    "Use Max Mustermann as the sample customer in the form mock-up.",  # a placeholder in a business form
    "test('mail', () => { const user = { email: 'jane.doe@example.com', name: 'Jane Doe' }; })",  # in quotes
    "Mario Rossi è il nome di esempio nel modulo di iscrizione.",  # a placeholder real people share: framed
    "Write a test fixture with a user named Jan Jansen.",
    "Was genau meint man mit 'Otto Normalverbraucher' und woher kommt der Ausdruck?",  # in quotation marks
    "Gibt es bessere Beispielnamen als Erika Mustermann für das Formular?",  # a cue opening a compound
    "In onze handleiding staat overal 'Jan Jansen' als voorbeeld.",  # "our manual": no person tie
    "Polish forms use Jan Kowalski as the sample name.",  # a placeholder many real people bear: framed
    # the business words of the sample itself, in the sentence that frames it
    "For example, Marie Dupont signs the contract in the demo.",
    "Crea un esempio di fattura per il cliente Mario Rossi, via Roma 1, 00100 Roma.",
    "Maak voorbeelddata: Jan Jansen als huurder, met een contract van twee jaar.",
    # the dot of "etc.)" or of a domain ends no sentence: the frame holds for the mailboxes after it
    "Génère 20 clients fictifs pour des tests (Jean Dupont, Marie Martin, etc.), des emails en @exemple.fr "
    "et des téléphones en 01 99 00 xx xx.",
    # a name in the placeholder's sentence that frames both as examples
    "Un contrato con datos de ejemplo (Juan Pérez como arrendador, María López como arrendataria).",
    # a placeholder over two fields; its record's labels and its mailbox at a documentation domain tie no one
    'Dati di test:\nconst utenteDemo = {\n  nome: "Mario", cognome: "Rossi",   // dati fittizi\n'
    '  email: "mario.rossi@example.com",\n};',
    # a unit test's code frames its values as samples
    'def test_nome():\n    assert nome_completo("Mario", "Rossi") == "Mario Rossi"',
    'class KlantTest {\n  @Test void naam() { assertEquals("Jan Jansen", new Klant("Jan", "Jansen").naam()); }\n}',
    # its record's mailbox at a documentation domain frames it as the sample, with no cue word
    "Notre FAQ montre « Jean Dupont, 12 rue des Lilas, jean.dupont@exemple.fr » dans le formulaire d'inscription.",
    # the sample record of a placeholder spans its object literal's lines
    'Is this fixture fine?\nconst sample = {\n  fullName: "Jane Doe",\n  street: "10 Station Road, Anytown AN1 2BC",\n};',
])
def test_placeholder_names_are_nobodys(inspector, text):
    assert "PERSON" not in {e for e, _ in found(inspector, text)}


@pytest.mark.parametrize("text", [
    "¿Qué une a Frida Kahlo y Diego Rivera en su pintura?",  # listed names joined in one run
    "Write a short intro about the Taylor Swift Eras Tour economics.",  # a name and what is named after it
    "Welche Bedeutung hatte Konrad Adenauers Rolle bei der Westbindung?",  # a genitive
    "summarise ada lovelace's Note G in plain english",  # a possessive, in lower case
    "Lohnt sich der Zauberberg von Thomas Mann heute noch?",  # "lohnt sich" is no wage ("Lohn")
    # a listed name private people share too, beside another listed public figure
    "Compare Robbie Keane and Wayne Rooney as strikers.",
    "Summarise Keir Starmer's fiscal rules and how they differ from Jeremy Hunt's.",  # the listed one unreported
    # a possessive's tie in another sentence is about someone else
    "What did Satya Nadella change about Microsoft's culture? My manager keeps quoting his book.",
    # names of the lists' 2026.12.2 sweep
    "Explain the memorandum of Otto Frisch and Rudolf Peierls on the bomb.",
    "Welke rol speelde Aletta Jacobs in de vrouwenbeweging?",
    "Modernismo: Antoni Gaudí, Lluís Domènech i Montaner y Josep Puig i Cadafalch.",  # Catalan surnames joined by "i"
    "Maak 4 quizvragen over Tom Poes en Olivier B. Bommel voor een pubquiz.",  # a given name before the initial
    "Perché Renzo e Lucia non riescono a sposarsi all'inizio dei Promessi Sposi?",  # a pair named together
    "Geef een korte bio van Annie M.G. Schmidt voor een schoolpresentatie.",  # initials inside the name
    "recommend 3 chimamanda ngozi adichie books like Half of a Yellow Sun",  # a listed name in lower case
    "¿Qué tiempo hace en marzo en Santiago de Compostela y en Santiago de Chile?",  # cities named after someone
    "Escríbeme un chiste de Pepito Pérez en el colegio apto para niños.",  # a joke's stock character
    "When did Abraham Lincoln deliver the Gettysburg Address?",  # a speech's title is no postal address
    "Décris le rôle de Simone Veil en 1974. 300 mots maximum.",  # a year and a number are no phone number
    "thoughts on tony soprano: hero or villain?",  # a listed name in lower case, punctuation after it
    "war angela merkel eigentlich wirklich physikerin?",
    "Explain what Ernest Rutherford and Niels Henrik David Bohr disagreed about.",  # middle names the list omits
])
def test_listed_names_are_public(inspector, text):
    assert "PERSON" not in {e for e, _ in found(inspector, text)}


@pytest.mark.parametrize("text", [
    # a name no list holds, asked about as a life or a legacy
    "Wer war Ottilie Brenneisen und was hat sie erfunden?",
    "Quem foi Amaro Teixeira Lobo e porque é lembrado em Coimbra?",
    "Resume la vida de Casilda Urrutia en un párrafo para clase.",
    "Wie was Gerrit Hoogwerf en waarom is hij belangrijk voor de Nederlandse schilderkunst?",
    "Schreib ein Gedicht im Stil von Ottilie Brenneisen über den Herbst.",  # a style named after someone
    "Is Paget's disease named after Augustin Paget-Lormier?",  # the person an eponym is named after
    "How does Mr Darcy change between the two proposals?",  # a listed character, written without the dot
    "In the novel, why does Hermione Granger trust Ottokar Brenneisen?",  # beside a listed character of a work named
    "who was rené goscinny and why is astérix still popular",  # a listed name in lower case
    # one unlisted name among listed public figures
    "Le club est fondé par Octave Brissac ; plus tard y jouent Zinedine Zidane et Thierry Henry.",
    # …also beside one made public that way (a name private people share, beside a listed one)
    "How were Rosalind Franklin, Maurice Wilkins and Ottokar Brenneisen credited for Photo 51?",
    # places named after someone
    "¿Cómo llego en metro al Hospital Ramón Villalba desde el centro?",
    "Hoe kom ik bij het Johanna Verbeek ziekenhuis met de bus?",
    "Wir treffen uns vor dem Stadion Kurt Brenneisen um 18 Uhr.",
    # the place's noun inside the run of capitalised words, or closing a compound
    "Da Termini al Policlinico Umberto Ferraresi ci vuole molto in autobus?",
    "Wie weit ist es vom Bahnhof zum Elsa Brenneisen Kinderkrankenhaus?",
    "Die Ambulanz liegt am Campus Walter Degener-Klinikum, Haus 4.",
    # laws and prizes named after someone
    "O que estabelece a Lei Maria da Penha no Brasil e porque tem esse nome?",
    "¿Qué cambió la Ley Ana Belén Sáez en los contratos de alquiler?",
    # an acronym before a word in lower case, though it is a given name too
    "Retrace la carrière de Céline Dion jusqu'aux JO de Paris 2024.",
    "Meet me at the café on Aldwyn Road after the workshop.",  # closing the run
    "¿Cuántas camas tiene el Ramón Villalba tras la ampliación?",  # Spanish "el" before a full name: the hospital
    # a surname alone opening a clause: a term named after someone, a word, an imperative
    "Explique le principe de Peter et la loi de Parkinson.",  # a principle named after someone
    "Dijkstra vs Bellman-Ford: which one handles negative edges?",
    "Kort overzicht graag van de risico's voor Philips.",
    "Wat doet Heineken in Afrika? Denk aan de valuta.",
    # made public where the text writes it again; after the article speech puts before names
    "Ricetta della torta alla Gennaro Sposito e chi era il Gennaro Sposito che le diede il nome?",
    # a regnal number, a title of nobility after the name
    "Pourquoi Grégoire XVI s'opposait-il aux chemins de fer ?",
    "Explain how Edward Harley, 2nd Earl of Oxford, built his library.",
    "Como se faz o bife à Casimiro Lobato, e quem era afinal o Casimiro Lobato?",  # a word and the article after the cue
    "Translate the short story 'Hester Crane' into German, keeping the tone.",  # a work's title in quotation marks
    "Nel Visconte dimezzato di Calvino, cosa rappresentano le due metà?",  # an article-preposition opening the sentence
    "Traduz a segunda estrofe de «Tabacaria», de Álvaro de Campos.",  # a poem's title after its part
    "¿Cuántas Copas de Europa ganó el Madrid de Di Stéfano? El Madrid gana las cinco primeras.",  # a club, not a surname
])
def test_unlisted_public_names_and_places_named_after_people_are_nobodys(inspector, text):
    assert "PERSON" not in {e for e, _ in found(inspector, text)}


@pytest.mark.parametrize("text", [
    # German, Italian… have no spaCy pipeline: the borrowed English model takes capitalised
    # common words for a person, which the language's common words tell apart
    "Bitte eine kurze Übersicht: Marktanteile von Siemens im Bereich Gebäudetechnik.",
    "Was bedeutet die Fusion von Vonovia und Deutsche Wohnen für Mieter? Allgemeine Einschätzung bitte.",
    "Riassumi il capitolo dei Promessi Sposi in cui compare l'Innominato.",
    # an adjective made of a name, before the law or the formula ("Ohmsches Gesetz")
    "Unterschied zwischen Ohmschem Gesetz und Kirchhoffschen Regeln, mit Rechenbeispiel",
    "Erklär mir die Gaußsche Summenformel anschaulich.",
    # an imperative opening the prompt, a company's national branch
    "Analizza Campari dopo l'acquisizione di Courvoisier: sinergie e rischi.",
    "Analiza a Iberdrola frente a Endesa España en renovables.",
    # a given name and a surname closed by an organisation's or a product's word
    "Marta Ferrer Studio launches a new line of lamps; write the press note.",
    # a German compound of two words, an imperative opening the request
    "Wochenplan KW 12 als Tabelle: Mo Nudeln, Di Reis, Mi Suppe",
    "Wozu dient die Härteskala Mohs in der Mineralogie?",
    "Formuliere Absätze über den Klimawandel für die Schülerzeitung.",
])
def test_capitalised_common_words_are_no_name_where_the_model_is_borrowed(inspector, text):
    assert "PERSON" not in {e for e, _ in found(inspector, text)}


def test_a_classification_label_may_qualify_its_level(inspector):
    text = "Deze e-mail is bestemd voor de geadresseerde. Rubricering: Departementaal Vertrouwelijk."
    assert ("CONFIDENTIAL_MARKING", "Vertrouwelijk") in found(inspector, text)


@pytest.mark.parametrize("text", [
    "Who is Marek Zieliński? Draft a reply to his email.",  # "who is": someone the writer deals with
    "Wer war Sabine Kürzinger? Sie hat mir drei Mails geschickt.",  # asked about, but tied to the business
    "Our new hire Lena Vogt met Angela Merkel and Emmanuel Macron at the summit.",
    "Please ask Jane Whitfield at the hospital about the forms.",  # the place comes after the sentence's name
    "Bitte schreib Ngozi Vogel eine kurze Antwort.",  # a surname that is a word, after an unlisted given name
    "Fehler in der Meldung. Sachbearbeiterin Dilara Öztürk, Eintritt zum 01.04.",  # a role noun the model took in
    "ping wanjiru about the invoice, she has the numbers",  # a Kenyan given name in lower case
    "ok, axel zegt dat de build weer rood is",  # a given name that is also a word, before its clause's verb
    "ugh. Karim and Leila are arguing again in the team channel",  # two given names paired
    "Ich habe gestern mit Folake Adebayo telefoniert.",
    "Please send the signed contract to Mario Rossi by Friday.",
    "Compara a Frida Kahlo y Marta Pérez para la exposición.",  # someone unlisted beside a listed name  # the same name, not framed as an example
    "Our colleague Lionel Messi in accounting needs the payroll file.",  # a famous name tied to the business
    "Schick Thomas Mann die Lohnabrechnung für März.",
    "Please send Robbie Keane the contract.",  # a listed name private people share, alone
    "lionel.messi",  # an account's name (a message's `name`) is its holder's, however famous
    "Write to b.martin@example.fr and tell Marie Dupont her contract is ready.",  # "example" in an address frames nothing
    # a shared placeholder framed as an example, tied to the business in another sentence
    "Use Mario Rossi as the example name. Mario Rossi is also my colleague and his contract expires.",
    "Usa datos de ejemplo como Juan Pérez. Mi compañera María López firma el contrato mañana.",  # another sentence
    # placeholders that are common real names, not framed as examples
    "Our employee Jan Kowalski asked for his payslip.",
    "Il cliente giapponese firma le mail come 山田太郎: come scrivo il suo nome?",
    # names no list or model knows, opening a sentence whose clause goes on
    "Oluwaseun Adeyemi heeft gisteren ontslag genomen.",
    "Chidinma Nwachukwu has missed three deadlines in a row.",
    "Marta dice que el informe no está listo.",
    "Write a birthday card for Anna Schmidt, a huge fan of Hermione Granger.",  # a character, but no work named
    # a message's `name` field, in lower case with a particle or a surname no dictionary holds
    "ines_van_der_berg",
    "tunde_bakare",
    "Kun je dit nog even checken? Groet, Femke",  # a signature on the closing's line
    "Dempsey called in sick again on Monday.",  # a surname WordNet lists, opening a sentence
    "el nacho de logística dice que hoy no viene",  # the article everyday Spanish puts before a name
    "Según el Nacho, la furgoneta no arranca.",  # a short form that is a word too, capitalised
    "o Tó disse que a impressora do armazém voltou a encravar, não sei o que fazer",
    "weiß jemand ob der schneider aus dem einkauf heute da ist?",  # a surname after the article speech puts there
    "Weiß jemand, ob der Schneider aus dem Einkauf heute da ist?",
    "Please send Lionel Messi's address to the courier.",  # a famous name tied by its postal address
    "verbale:\n- Graziella: consegna rinviata a giugno\n- il cliente chiede uno sconto",  # a speaker in minutes
    "note\n- Ottavio assente, ricoverato da lunedì",  # a list item opened by a name
    "la madre de pablo me ha vuelto a escribir por el grupo del cole",  # a name another language's tables hold
    "Send the invoice to Edward Harley, 2nd Earl of Oxford, at edward@harley-estates.co.uk",  # a peer tied
    "code review:\n- @jkowalski please add tests before merging",  # a mention in one word: an initial, a surname
    "Notes:\n- Tobias, this query scans the whole table",  # a given name called at a list item's start
    "Franchement, la Bertrand a encore annulé le point d'équipe sans prévenir.",  # the article French speech puts there
    "Olha, o Carvalho esqueceu-se outra vez da chave do armazém.",  # a surname, then a verb no dictionary lists
    "can you help me answer @marta_p on teams? she wants the slides by noon",  # a given name and a tag
    "anouk.v",  # a message's `name`: a given name and an initial
    "k.wojcikowska",  # …an initial and a surname
    "in magazzino Ludovica ha detto che il muletto è fermo",  # a given name before its verb, no comma
    "a rosa disse que o camião chegou vazio outra vez",  # a given name that is a word, after the article speech puts there
    "« bon, Gwenaëlle sera absente mardi, donc on décale »",  # a clause opened after a comma
    "Le locataire du lot 14, Kylian Mbappé, signale une panne de chauffage.",  # a famous name as a tenant
    "Asistentes: Ana Belén Soto, Rui Tavares Lobo\n- Ana Belén Soto pide presupuesto",  # a listed name and a surname
    "A Keila Monteiro está de baixa desde segunda.",  # after the article that opens the sentence
    "de Visser heeft de sleutels van het magazijn weer meegenomen",  # Dutch speech's article before a surname
    "pkowalski",  # a message's `name`: an initial joined to a surname
    "oye, la Chelo dice que mañana no abre la tienda",  # a short form no list holds, after the article, before its verb
    "La Ferraro ha detto che il fornitore non consegna prima di venerdì.",  # the article capitalised, opening it
    "Der Hofmann hat schon wieder die Tür offen gelassen.",
    "O Leandro contou-me que vai ser operado à anca.",
    '[{"user_name": "ines.m", "text": "hoy no llego"}]',  # an account of a given name and an initial
    "oye, el Ortega ha vuelto a dejar la furgoneta sin gasolina",  # a surname, then "did it again"
    "Jonas P. aus der Buchhaltung hat sich krankgemeldet.",  # a given name and an initial, its clause going on
])
def test_a_real_persons_name_stays_personal(inspector, text):
    assert "PERSON" in {e for e, _ in found(inspector, text)}


@pytest.mark.parametrize("text", [
    "Arthur Ashe announced he had AIDS in 1992. How did that shape the debate on privacy?",
    "Jacques Brel a annoncé publiquement son cancer en 1977. Écris un texte pour la radio.",
    "How did Dostoevsky's epilepsy shape the character of Prince Myshkin?",  # listed by one word
])
def test_a_public_figures_health_is_history(inspector, text):
    assert not {"HEALTH_DATA", "SPECIAL_CATEGORY", "PERSON"} & {e for e, _ in found(inspector, text)}


@pytest.mark.parametrize("text", [
    "Meine Oma hat Alzheimer und liebt Helene Fischer.",  # someone of the writer's life beside the star
    "Mein Kollege hat Krebs, er ist ein Fan von Helene Fischer.",  # a colleague
    "Arthur Ashe had AIDS; our patient 88231 asks about the same therapy.",  # a record's number
])
def test_health_beside_a_public_figure_stays_someones(inspector, text):
    assert {"HEALTH_DATA", "SPECIAL_CATEGORY"} & {e for e, _ in found(inspector, text)}


@pytest.mark.parametrize("text", [
    # values documentation publishes as examples are nobody's, however they are written
    "The SEPA docs use DE89 3704 0044 0532 0130 00 as the sample IBAN: what do its parts mean?",
    "Pour le test du formulaire, saisis FR76 3000 6000 0112 3456 7890 189.",
    "Stripe test card 4242 4242 4242 4242 with any future date",
    "Why does the AWS CLI reject AKIAIOSFODNN7EXAMPLE?",
    # the words that frame it anywhere in the text: a question, then the code under it
    "¿Por qué falla el test con el IBAN de ejemplo de la documentación?\n\n" + "    assert validar(x)\n" * 6
    + "    cuenta.iban = 'ES91 2100 0418 4502 0005 1332'",
    # a phone number of a range kept for fiction, in a fixture; an address on an example street
    'fixture:\n  customer = {"phone": "+1-202-555-0186",\n              "address": "77 Example Avenue"}',
    # ARCEP's range for fiction; a mailbox that says it is made up; a bank's and a register's samples
    'Jeu de test : {"email": "jean.exemple@example.fr", "tel": "01 99 00 00 01"}',
    'VALID_TEST_BSN = ["111222333"]   # bekende test-BSN uit documentatie',
    'assert is_valid("bob+newsletter@example.org") and is_valid("dave@sub.example.co.uk")',  # a tag, a two-label TLD
    'VALID_EXAMPLES = ["DE02 1203 0000 0000 2020 51"]   # Beispiel der DKB-Doku',
    "Auf dem Muster-Personalausweis steht die Nummer T220001293: wie wird die Prüfziffer berechnet?",  # a specimen
    "Warum steht DE89 3704 0044 0532 0130 00 in jedem Tutorial?",  # documentation frames it
    # a part of a published token: the jwt.io sample's header
    "Decode the example token from jwt.io: eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
])
def test_published_examples_are_nobodys(inspector, text):
    assert found(inspector, text) == []


def test_a_published_example_given_as_someones_counts(inspector):
    assert ("IBAN_CODE", "DE89 3704 0044 0532 0130 00") in found(inspector, "Überweise an DE89 3704 0044 0532 0130 00.")
    assert ("PHONE_NUMBER", "(415) 555-0130") in found(inspector, "Rappelle le locataire au (415) 555-0130 demain.")


@pytest.mark.parametrize("text", [
    "Propose des données fictives : Jean Dupont, né le 01/01/1970, 1 rue de l'Exemple, 75000 Paris.",
    "Bitte Datensätze im Stil von Max Mustermann, Musterstraße 1, 12345 Musterstadt – fiktiv.",
    # a placeholder real people share, with a mailbox at a documentation domain: the sample,
    # though the code calls it a client
    "Test PHPUnit :\n$client = new Client('Jean Dupont', 'jean.dupont@example.fr');",
    'seed data for tests: {"klant": "Jan Jansen", "email": "jansen@example.nl"}',
    # a placeholder real people share, written out with one more surname
    "En los ejemplos del formulario ponemos 'Juan Pérez Sandoval' como titular.",
    # a cue closing a compound; a blank form's labels tie the sample to no one
    "Füll das Formular mit Max Mustermann, Musterstraße 1, 12345 Musterstadt als Ausfüllbeispiel aus.",
    "Complète ce modèle avec un exemple fictif (Jean Dupont, 1 rue de la Paix, 75002 Paris) :\n\n"
    "Nom / Prénom : ____\nAdresse : ____\nSignature : ____",
])
def test_a_placeholders_sample_record_is_nobodys(inspector, text):
    assert {e for e, _ in found(inspector, text)} == {"PUBLIC_NAME"}


@pytest.mark.parametrize("text,person", [
    ("Explain a man-in-the-middle attack with Alice, Bob and Mallory.", False),  # the protocol's cast
    ("Alice and Bob from finance need a new contract.", True),  # colleagues, tied to the business
    ("Alice asked me about encrypting her laptop.", True),  # alone, a person
])
def test_alice_and_bob_together_are_a_protocols_cast(inspector, text, person):
    assert ("PERSON" in {e for e, _ in found(inspector, text)}) == person, found(inspector, text)


@pytest.mark.parametrize("text, finding", [
    # a given name another configured language's dictionary holds ("marisa" is in French tables)
    ("Marisa dice que mañana no viene a la cena de empresa", ("PERSON", "Marisa")),
    # a given name's diminutive is a short form of the language's
    ("o joãozinho não veio hoje, está doente", ("PERSON", "joãozinho")),
    # a notice's opening participle agrees ("protegido" listed), a German verb in the plural
    ("Estos informes están protegidos por el secreto profesional. Resúmelos.",
     ("CONFIDENTIAL_MARKING", "protegidos por el secreto profesional")),
    ("Die Anlagen unterliegen der Geheimhaltungsvereinbarung. Fasse sie zusammen.",
     ("CONFIDENTIAL_MARKING", "unterliegen der Geheimhaltungsvereinbarung")),
    # sensory disabilities, and a staff number's feminine label
    ("Unser Kollege Tom ist gehörlos, wie gestalten wir Meetings?", ("HEALTH_DATA", "gehörlos")),
    ("Mitarbeiterin Nr. 5521 ist schwerhörig und braucht ein Headset.", ("EMPLOYEE_ID", "5521")),
    # a credential's name, then six words, then its verb and value
    ("the TOTP seed for our shared billing account is KRSXG5CTMVRXEZLU", ("SECRET", "KRSXG5CTMVRXEZLU")),
])
def test_round_23_sensitive_categories(inspector, text, finding):
    assert finding in found(inspector, text)


@pytest.mark.parametrize("text", [
    "Per i moduli di esempio si usa 'Mario Rossi'. Perché proprio lui?",  # a placeholder in quotes
    "Write a short bio of Chimamanda Ngozi Adichie for the book club",  # a listed name the span cut short
    "la pizza margherita prende il nome dalla regina Margherita, vero?",  # a title before a name
    "Qual é o papel do Bentinho em Dom Casmurro?",  # a listed character that is a diminutive
    "la mattina arrivo sempre tardi",  # a word that ends like a diminutive
])
def test_round_23_harmless_categories(inspector, text):
    assert "PERSON" not in {e for e, _ in found(inspector, text)}, found(inspector, text)


@pytest.mark.parametrize("text, finding", [
    # common given names the census lists lacked
    ("Sylvain Durieux est malade depuis lundi, qui reprend ses dossiers ?", ("PERSON", "Sylvain Durieux")),
    ("Kees Vermolen van de planning is lid geworden van de vakbond", ("SPECIAL_CATEGORY", "vakbond")),
    # a relation of the writer's before a given name that is also a word
    ("my flatmate Toby told me he's being treated for depression", ("PERSON", "Toby")),
    ("ma collègue Clémence est en arrêt maladie jusqu'à vendredi", ("PERSON", "Clémence")),
    # lftp's user,password; a WireGuard private key in its config
    ("lftp -u backup,Tr0mb0ne!88 -e 'mirror /data /bak' ftp.example-host.fr", ("SECRET", "Tr0mb0ne!88")),
    ("[Interface]\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\nListenPort = 51820",
     ("SECRET", "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=")),
])
def test_round_24_sensitive_categories(inspector, text, finding):
    assert finding in found(inspector, text)


@pytest.mark.parametrize("text", [
    "Marie Curie won two Nobel prizes; and her daughter Irène?",  # a public figure's family: history
    "ps -u root,www-data -o pid,cmd",  # a list of users, no password
])
def test_round_24_harmless_categories(inspector, text):
    assert not [e for e, _ in found(inspector, text) if e in ("PERSON", "SECRET")], found(inspector, text)


@pytest.mark.parametrize("text, name", [
    # a given name that is also a word, right after a verb of addressing someone
    ("Ask Grace whether the March invoice went out to the client", "Grace"),
    ("tu peux dire à marine que la réunion est décalée à 15h ?", "marine"),
])
def test_round_25_a_word_that_names_whoever_is_addressed(inspector, text, name):
    assert ("PERSON", name) in found(inspector, text)


def test_round_25_a_month_after_a_verb_of_addressing_is_no_one(inspector):
    assert "PERSON" not in {e for e, _ in found(inspector, "remind me in june to renew the certificate")}


@pytest.mark.parametrize("text, finding", [
    # capitalised after the article speech puts before names, also a given name that is a word
    ("Hoje a Marta e a Joana chegaram atrasadas outra vez.", ("PERSON", "Joana")),
    ("A Luz trocou o turno comigo sem avisar o chefe.", ("PERSON", "Luz")),
    # a given name that is a word, then its verb
    ("Pierre m'a dit qu'il cherche un autre poste.", ("PERSON", "Pierre")),
    ("Grace said she can't make the offsite because of her surgery", ("PERSON", "Grace")),
    # a TOTP seed its sentence names, with no verb between, or in groups of four
    ("restoring 2FA on a new laptop, recovery seed MZXW6YTBOI2DKNRXGE4TAMZT, which app?",
     ("SECRET", "MZXW6YTBOI2DKNRXGE4TAMZT")),
    ("Authenticator-Schlüssel: GEZD GNBV GY3T QOJQ GE2D", ("SECRET", "GEZD GNBV GY3T QOJQ GE2D")),
])
def test_round_26_sensitive_categories(inspector, text, finding):
    assert finding in found(inspector, text)


@pytest.mark.parametrize("text", [
    "Der Kunde sagt, die Lieferung sei unvollständig. Antwort bitte höflich.",  # a German noun after its article
    "laut Anleitung meint der Hersteller, das Gerät sei wasserdicht",
    "Renzo e Lucia sono i protagonisti: riassumi il capitolo tre",  # a listed pair opening the sentence
    "Rose gold or silver for the new product line?",  # a given name that is a word, no verb of a person's
    "il contratto di fornitura per la Fiat è scaduto",  # an article before a brand
    "Come giocava il Milan nel 1989? E quante combinazioni ha la Primitiva spagnola?",  # colloquial articles: clubs, lotteries
])
def test_round_26_harmless_categories(inspector, text):
    assert "PERSON" not in {e for e, _ in found(inspector, text)}, found(inspector, text)


@pytest.mark.parametrize("text", [
    "Rechnungsnummer 4729105367 ist doppelt im Export, welche Buchung stimmt?",  # a reference number's label
    "factuur 7304918265 staat twee keer in de export",
    "the seed for the random generator is 42 and the test id is ABCDEFGHIJKLMNOP",  # no base32 digits
])
def test_round_26_labelled_references_and_seeds_are_no_personal_data(inspector, text):
    assert not [e for e, _ in found(inspector, text) if e in ("PHONE_NUMBER", "SECRET")], found(inspector, text)


@pytest.mark.parametrize("text, name", [
    # a word for a family before its surname
    ("Die Familie Brandhorst aus dem Erdgeschoss lässt den Hund nachts bellen.", "Brandhorst"),
    ("la famille Pelletier du troisième refuse de payer sa part des travaux", "Pelletier"),
    # a known surname right after a verb of addressing, an article between or not
    ("Llama a Echeverría mañana, que sigue de baja por la operación.", "Echeverría"),
    ("Liga ao Figueiredo amanhã, ele ainda está de baixa.", "Figueiredo"),
])
def test_round_27_families_and_addressed_surnames(inspector, text, name):
    assert ("PERSON", name) in found(inspector, text)


@pytest.mark.parametrize("text, finding", [
    # a student number is a record about someone, like a patient's or an employee's
    ("Student 4471902 has been diagnosed with epilepsy; adjust the exam seating.", ("HEALTH_DATA", "epilepsy")),
    # "pw" names a password in code
    ('smtp_pw = "Marmelade!Zug77"', ("SECRET", "Marmelade!Zug77")),
])
def test_round_27_sensitive_categories(inspector, text, finding):
    assert finding in found(inspector, text)


def test_round_27_a_documented_totp_seed_framed_as_an_example_is_no_secret(inspector):
    text = "Most tutorials use JBSWY3DPEHPK3PXP as the example secret for TOTP codes."
    assert "SECRET" not in {e for e, _ in found(inspector, text)}, found(inspector, text)


@pytest.mark.parametrize("text, name", [
    # a known surname at someone's, or after a verb of addressing though it is a word of the language
    ("Hier soir chez Gauthier pour l'état des lieux, il refuse de rendre la caution.", "Gauthier"),
    ("Ik sprak vanochtend met Bakker over zijn loonbeslag.", "Bakker"),
    ("Relance Lefebvre pour son arrêt maladie, stp.", "Lefebvre"),
    # a chat export's speaker after its timestamp
    ("[12-05-25 08:02] Sanne: ik ben ziek vandaag", "Sanne"),
    # a Vietnamese name, family name first
    ("Onze nieuwe kok Nguyễn Thị Lan begint maandag.", "Nguyễn Thị Lan"),
    # a Japanese family name in kanji and a given name in kana
    ("O inquilino 田中ゆうき pediu a rescisão do contrato.", "田中ゆうき"),
])
def test_round_29_names(inspector, text, name):
    assert ("PERSON", name) in found(inspector, text)


@pytest.mark.parametrize("text", [
    "Compare les garanties chez Boulanger et chez Darty pour une télé.",  # chains named after their founders
    "We bouwen de pipeline met Docker en Jenkins.",  # English words after "met": software
])
def test_round_29_chains_and_tools_are_no_one(inspector, text):
    assert "PERSON" not in {e for e, _ in found(inspector, text)}, found(inspector, text)


def test_round_29_german_legal_privilege_notice(inspector):
    text = "Anwaltlich privilegiert\n\nEntwurf der Klageerwiderung, bitte kürzen."
    assert ("CONFIDENTIAL_MARKING", "Anwaltlich privilegiert") in found(inspector, text)


def test_round_29_two_levels_set_against_each_other_are_talk_about_the_scheme(inspector):
    text = "When should a team label a file RESTRICTED versus CONFIDENTIAL? Give one example each."
    assert [s for e, s in found(inspector, text) if e == "CONFIDENTIAL_MARKING"] == []


def test_round_29_morbus_and_a_surname_is_a_disease(inspector):
    assert "PERSON" not in {e for e, _ in found(inspector, "Wie behandelt man Morbus Scheuermann bei Jugendlichen?")}


@pytest.mark.parametrize("text, person", [
    # a minimum wage is policy, not the company's pay: no tie to its business
    ("Qual è la linea di Elly Schlein sul salario minimo?", False),
    ("¿Qué propone Yolanda Díaz sobre el salario mínimo?", False),
    # a salary is
    ("Calcula el salario neto de Yolanda Díaz en nuestra nómina de marzo.", True),
])
def test_round_29_minimum_wage_is_no_business_tie(inspector, text, person):
    assert ("PERSON" in {e for e, _ in found(inspector, text)}) == person, found(inspector, text)


@pytest.mark.parametrize("text, email", [
    ("At what point should a cough that lasts three weeks be seen by a doctor?", False),  # "point": prose
    ("and at what point do we move the meeting, before or after lunch?", False),
    ("write to lena dot fischer at posteo dot de about the invoice", True),  # spelt out, a real domain ending
])
def test_round_29_a_spelt_out_address_ends_with_a_top_level_domain(inspector, text, email):
    assert ("EMAIL_ADDRESS" in {e for e, _ in found(inspector, text)}) == email, found(inspector, text)


@pytest.mark.parametrize("text, finding", [
    # a provider's key prefix with a shorter body than its documented length
    ("j'ai collé ma clé sk-proj-Qw83nLrT5yUm8KpA1xVd4zJe0gHf2bRc dans un notebook partagé", "SECRET"),
    # "key" alone names a credential before its verb, in any language's sentence
    ("der neue key für prod ist qX7-vmR2k9TpZ4wLs8NdB3cY, wie rotiere ich ihn?", "SECRET"),
    # a chat export's speaker by handle
    ("[09:12] lukas.brandtner: der Deploy ist wieder rot\n[09:13] mara.oswald: schau ich mir an", "PERSON"),
])
def test_round_30_sensitive_categories(inspector, text, finding):
    assert finding in {e for e, _ in found(inspector, text)}, found(inspector, text)


@pytest.mark.parametrize("text", [
    "The key is to keep the release small and reversible.",  # "key" in prose, no credential after it
    "Fill in the sample form: Employee ID 00000, name John Doe.",  # a form's blank number
    "log.level: debug\napp.name: shop",  # config keys, not a chat's speakers
])
def test_round_30_harmless_categories(inspector, text):
    assert not [e for e, _ in found(inspector, text) if e in ("SECRET", "EMPLOYEE_ID", "PERSON")], found(inspector, text)


@pytest.mark.parametrize("text", [
    "Precious Okonkwo sent her sick note this morning, can you log it?",  # a given name that is a word too
    "Florin Ionescu ha chiesto due giorni di ferie per motivi familiari.",
    "ping rachel winterbourne about the deck before friday",  # a given name the dictionary lists as a name
    "mario rossi del magazzino ha di nuovo saltato il turno",  # a listed name private people share, lower case
    "ask jeff dean from our platform team to review the design doc",  # the same, tied to the business
])
def test_round_31_names(inspector, text):
    assert "PERSON" in {e for e, _ in found(inspector, text)}, found(inspector, text)


@pytest.mark.parametrize("text", [
    "Baker McKenzie advised both sides on the merger.",  # a given name that is a surname too: a firm
    "What were the contributions of Ottilie Brenneisen to early radio?",  # a contribution asked about
    "Welche Vermutung wurde formuliert von Anselm Hartwegger, und ist sie bewiesen?",
    "Qual foi a contribuição de Amália Seixoso para a astronomia portuguesa?",
    "Wat was de bijdrage van Antoni van Leeuwenhoek aan de biologie?",  # a spelling of a listed name
    "playlist pour ce soir : Stromae, Zaz, Clémentine Varenne et Christine and the Queens",  # beside listed mononyms
    "nico williams or lamine yamal, who had the better euros?",  # listed names in lower case, among others
])
def test_round_31_public_names(inspector, text):
    assert "PERSON" not in {e for e, _ in found(inspector, text)}, found(inspector, text)


@pytest.mark.parametrize("text", [
    "Self-Hosted Runners vs Cloud Runners: which is cheaper for a small team?",  # words joined by hyphens
    "Multi-tenant Dockerfiles, best practices?",
    "Lohnt sich die Zugreise von Köln nach Paris im Winter?",  # a compound of a short and a long word
    "Urlaub im Allgäuer Land: welche Hütten sind im Oktober offen?",  # closed by a common noun
    'Write a pydantic model for {"name": "Erika Mustermann", "email": "erika@example.com", "iban": "DE89370400440532013000"}',
    "Die Stripe-Doku nennt sk_test_4eC39HqLyjWDarjtT1zdp7dc als Beispielschlüssel: darf ich ihn ins Tutorial schreiben?",
    "The poster says CONFIDENTIAL files must not leave the building. Make it catchier.",  # a handling rule
    "Le règlement dit : les documents CONFIDENTIEL ne doivent pas sortir du bureau.",
])
def test_round_31_harmless_categories(inspector, text):
    assert not [e for e, _ in found(inspector, text) if e != "PUBLIC_NAME"], found(inspector, text)


@pytest.mark.parametrize("text, finding", [
    ("CONFIDENTIAL files attached: the Q3 price list.", "CONFIDENTIAL_MARKING"),  # applied, no rule's verb
    ("stripe.api_key = 'sk_test_4eC39HqLyjWDarjtT1zdp7dc'  # prod checkout", "SECRET"),  # unframed, someone's
    ('{"name": "Erika Brandauer", "email": "erika@example.com"}', "EMAIL_ADDRESS"),  # no placeholder: someone's
])
def test_round_31_still_sensitive(inspector, text, finding):
    assert finding in {e for e, _ in found(inspector, text)}, found(inspector, text)


@pytest.mark.parametrize("text, finding", [
    ("echo 'Tr0ub4dor&3x' | podman login quay.example.org -u ci --password-stdin", "SECRET"),  # piped to a login
    ("my ~/.pgpass:\nreports.db.local:5432:*:analyst:Pfl4ume#Saft\nand psql still prompts", "SECRET"),  # a .pgpass line
    ("curl -H 'Cookie: PHPSESSID=9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c' https://shop.example.it/cart", "SECRET"),  # a session cookie
    ("token = jwt.encode(payload, 'Bergamotto!2023', algorithm='HS256')", "SECRET"),  # a signing key as a literal
    ("MA-Nr. 55120 hat eine Schwerbehinderung angezeigt.", "EMPLOYEE_ID"),  # a staff number's abbreviated label
    ("n_historia;diagnostico\nHC-7712044;diabetes tipo 2\nHC-7712045;asma", "PATIENT_ID"),  # a clinical-record column
    ("Bitte kürzen:\n\nDiese E-Mail enthält vertrauliche Informationen und ist nur für den Empfänger bestimmt.",
     "CONFIDENTIAL_MARKING"),  # an e-mail's confidentiality notice
    ("Anna Kowalski is known for missing deadlines, write her a warning", "PERSON"),  # "known for", not asked
    ("Who is Anna Kowalski? She sent us an invoice.", "PERSON"),  # "who is", tied to the business
])
def test_round_32_sensitive_categories(inspector, text, finding):
    assert finding in {e for e, _ in found(inspector, text)}, found(inspector, text)


@pytest.mark.parametrize("text", [
    "Is a footer like 'Ce message est confidentiel et destiné à son seul destinataire' binding in France?",  # quoted
    "¿Quién es Irene Villacorta y qué papel tuvo en la Transición?",  # a role asked about
    "What is Doreen Kallaway best known for?",
    "Chi interpreta Ornella Sartori nella serie?",  # a character's actor asked about
    "Compara la estrategia de Mercadona y Lidl en Portugal.",  # two companies joined by "y"
    "Warum nutzen QR-Codes Reed-Solomon statt Hamming?",  # an acronym's compound is no given name
    "scrivi una query che conti i clienti per città",  # a function word is no given name
    "Quando l'aeroporto è stato intitolato a Falcone e Borsellino?",  # a participle in a cleft
    "Generate fake demo rows using Star Wars characters (Luke Skywalker, Leia Organa, Dorvin Castellane).",
])
def test_round_32_harmless_categories(inspector, text):
    assert not [e for e, _ in found(inspector, text) if e != "PUBLIC_NAME"], found(inspector, text)


@pytest.mark.parametrize("text, finding", [
    ("oathtool --totp -b NB2HI4DTHIXS6Z3PN5TWYZJOMNXW2LZA", "SECRET"),  # a seed after a flag that names it
    ('Vonage.init("a7c3e9f1b2d4068e5f1a9c7b3d2e8f40", "c1f9e4a7d3b8c260e3c9a1f47b2d6085")', "SECRET"),  # an SDK's init
    ('DriverManager.getConnection(jdbcUrl, "report_ro", "Lampone#77x")', "SECRET"),  # JDBC's user and password
    ("utente n.º 318 604 275, consulta de psiquiatria marcada", "PATIENT_ID"),  # a number in groups of three
    ("Giulia Fabbri guadagna 31.000 €, Tiziano Moretti 34.500 €.", "PERSON"),  # a listed one-word name before a surname
])
def test_round_33_sensitive_categories(inspector, text, finding):
    assert finding in {e for e, _ in found(inspector, text)}, found(inspector, text)


@pytest.mark.parametrize("text", [
    "Who was Sir Hugh Myddelton and why is a London square named after him?",  # a title, then a biography's cue
    "Come mai il viale porta il nome di Armando Diaz?",  # where a place takes its name from
    "what was eleanor whitcombe actually known for?",
    "Prepara una plantilla con [NOMBRE DEL EMPLEADO] y [FECHA DE ALTA].",  # a template's slots in capitals
    "Is it risky to rely on a JWT being signed? Signed means tamper-proof.",  # a word, then the sentence's "?"
    "Our seed creates one demo user, 'Tom Placeholder', tom@example.org.",  # a name that says it is a sample
    "How did Franklin D. Roosevelt hide his illness?",  # a middle initial read as a title
    "Compara la estrategia de Inditex y de Mango en Francia.",  # "y de": a list, not a double surname
    "In veel testomgevingen wordt BSN 111222333 gebruikt; klopt de elfproef?",  # a documented test number
])
def test_round_33_harmless_categories(inspector, text):
    assert not [e for e, _ in found(inspector, text) if e != "PUBLIC_NAME"], found(inspector, text)


@pytest.mark.parametrize("text, name", [
    ("ho sentito che paola de santis ha dato le dimissioni", "paola de santis"),  # an Italian surname with its particle
    ("sanne van der berg zit ziek thuis, wie neemt haar dienst over?", "sanne van der berg"),  # two particles
])
def test_round_33_lower_case_names_take_their_particles(inspector, text, name):
    assert ("PERSON", name) in found(inspector, text), found(inspector, text)


@pytest.mark.parametrize("text, finding", [
    ("Draft a note: employee (OH ref 731-04-552) has epilepsy and cannot drive forklifts.", "PATIENT_ID"),  # an OH reference
    ("tom b from it came in hungover again, 2nd time this week", "PERSON"),  # a given name and an initial, then its verb
    ('<ns:Password Type="PasswordText">Kirsch!Torte9</ns:Password>', "SECRET"),  # an element with attributes
    ("[C2 – Restreint] Note interne sur les marges", "CONFIDENTIAL_MARKING"),  # a French level in brackets
    ("The night shift worker is really called Rafael Nadal; his badge NX-5521 opened the store at 3 am.",
     "PERSON"),  # a famous name tied by a worker's badge
])
def test_round_34_sensitive_categories(inspector, text, finding):
    assert finding in {e for e, _ in found(inspector, text)}, found(inspector, text)


@pytest.mark.parametrize("text", [
    "How exposed are the German OEMs to Chinese EV makers?",  # an acronym's plural is no surname
    "Kann man mit ELIZA heute noch chatten?",  # a given name in capitals after "mit": a program's name
])
def test_round_34_harmless_categories(inspector, text):
    assert "PERSON" not in {e for e, _ in found(inspector, text)}, found(inspector, text)


@pytest.mark.parametrize("text, finding", [
    ("Envía la factura a calle Alcalá 42, 2º A, 28014 Madrid, a nombre de la inquilina.",
     "STREET_ADDRESS"),  # a street type in lower case, a floor and a door
    ("Mañana viene el Sr. Fuentes a firmar el contrato.", "PERSON"),  # a title after "el": no venue
    ('self.cle_meteo = "9f3b2a7c1d4e5f60a7b8c9d0e1f2a3b4"', "SECRET"),  # "key" in French code
    ('api_chave = "Zq8!vR2#pL5m7"', "SECRET"),  # in Portuguese code
    ('ks.load(in, "Pr0d!Pass#44".toCharArray());', "SECRET"),  # Java's password as a char array
    ("Peux-tu écrire à Kylian Mbappé au sujet de nos contrats ?", "PERSON"),  # French "nos" still ties
    ("Write a birthday card for Anna Schmidt, who loves Breaking Bad.", "PERSON"),  # a work named, not one she is in
])
def test_round_35_sensitive_categories(inspector, text, finding):
    assert finding in {e for e, _ in found(inspector, text)}, found(inspector, text)


@pytest.mark.parametrize("text", [
    "Ernest Hemingway sofria de depressão; como é que isso aparece nos romances dele?",  # Portuguese "nos": no tie
    "Improve this form:\nName: [e.g. John Smith]\nPhone: [+33 1 00 00 00 00]",  # no network issues that number
    "Genera datos de ejemplo: Juan Pérez, calle Falsa 123, 28001 Madrid, y Rafael Nadal como segundo cliente.",
    "Why is HMAC(key, msg) better than sha256(secret + msg)?",  # an argument in a call, not a marking
    "Speelde de Rotterdamse haven een rol in de crisis?",  # an inflected verb opening the question
    "Para el formulario de ejemplo, ¿vale «Fulano de Tal, Calle Mayor 5, 28013 Madrid»?",  # a placeholder's record
    "Wie machte Gottlieb Daimler Mercedes zur Weltmarke?",  # a listed name and the word the span took along
    "Comment la tuberculose a-t-elle pesé sur Armand Vaudrécourt, selon ses biographes ?",
    "Which actress played Hanne Vestergaard in the series?",
    "In Breaking Bad, at what point does Walter White stop being sympathetic?",  # a listed work's character
    "Nell'Amica geniale, Lila e Stefano si sposano troppo presto?",  # a preposition with its article merged
    "Adyen lists 4988 4388 4388 4305 as a Visa test card; why is it declined in live mode?",  # a documented test card
])
def test_round_35_harmless_categories(inspector, text):
    assert not [e for e, _ in found(inspector, text) if e != "PUBLIC_NAME"], found(inspector, text)


@pytest.mark.parametrize("text, person", [
    ("Turno de noche:\n- Ana Belén Iriarte, jefa de turno, L-V\n- Gheorghe Hagi, carretillero, L-J\n"
     "- Iker Zabala, preparador, M-S", "Iker Zabala"),  # a listed name's short form is not a second public figure
    ("Quick edit of the incident log? 'Wojciech tripped over a pallet jack and hit his head'", "Wojciech"),  # a quotation opens
    ("Le colis est resté chez Mercier, le voisin.", "Mercier"),  # a brand holds the surname, but not here
    ("Mañana hablo con Martínez sobre la baja.", "Martínez"),
    ("Wojciech slipped on the wrap near the baler, Nowak drove him home.", "Nowak"),  # after a comma, its verb
    ("mrs pennington at the till says her card keeps getting declined", "mrs pennington"),  # a title without its dot
])
def test_round_36_names_stay_someones(inspector, text, person):
    assert ("PERSON", person) in found(inspector, text), found(inspector, text)


@pytest.mark.parametrize("text", [
    "In the series Borgen, why does Kasper Juul hide his past?",  # an ambiguous title after the work's kind
    "how many goals did pedro gomes score for the club?",  # a sports record asked about
    "Cosa pensi della posizione di Vittoria Assicurazioni?",  # an insurer's name closed by its trade
    "Compute Monte Carlo VaR with numpy",  # a term in mixed case, no surname
    "„Frisch aus dem Ofen“ – übersetz das bitte.",  # a German adjective opening a quotation
    "Which was better, Vertigo or Citizen Kane?",  # a listed title the model reads as a name
    "carlos alcaraz ha ganado ya roland garros?",  # an eponym in lower case
    "De dónde vienen apellidos como Herrero, Molina o Pereira?",  # surnames listed after a comma
])
def test_round_36_harmless_categories(inspector, text):
    assert "PERSON" not in {e for e, _ in found(inspector, text)}, found(inspector, text)


def test_round_36_an_elided_word_is_no_surname(inspector):
    text = "angèle c'est la chanteuse ou l'actrice ?"
    assert not [value for _, value in found(inspector, text) if "c'est" in value], found(inspector, text)
