"""Credentials: provider tokens with a recognisable shape, private keys, and values whose
place says they are credentials: assigned to a credential name in code, config or prose of
any configured language (`data/secrets.yaml`), passed to an SDK client, after `curl -u`, in
an `Authorization` header, inside a connection string. A value must also look like one: not a
placeholder, a variable, a lookup or a plain word."""
from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator
from urllib.parse import unquote

from ..context import alternation, lowered
from ..data_files import yaml_data
from ..hit import Hit

# Shapes documented by each provider, the prefix making them precise: (detector name, the
# literals one of which must stand in the text for the pattern to be worth running, or none
# where the pattern ignores case, pattern).
_TOKENS: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = tuple(
    (name, triggers, re.compile(rx)) for name, triggers, rx in (
    ("aws-access-key", ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "APKA"), r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}(?![A-Z0-9])"),
    ("aws-secret-key", (), r"(?i)aws.{0,20}?(?:secret|private).{0,20}?['\"=:\s]\s*['\"]?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])"),
    ("github-token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"), r"\b(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{60,255})\b"),
    ("gitlab-token", ("gl",), r"\bgl(?:pat|dt|rt|ptt|cbt|oas|ft|imt|agent|soat|ffct)-[A-Za-z0-9_\-]{20,64}"),
    ("slack-token", ("xox",), r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    ("slack-webhook", ("hooks.slack.com",), r"hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+"),
    ("discord-webhook", ("/api/webhooks/",), r"discord(?:app)?\.com/api/webhooks/\d{15,22}/[\w-]{40,100}"),
    ("teams-webhook", ("/IncomingWebhook/",), r"(?:\.webhook\.office\.com/webhookb2|outlook\.office(?:365)?\.com/webhook)/[\w@-]{20,}"
                      r"/IncomingWebhook/[0-9a-f]{32}/[\w-]{20,}"),
    ("stripe-key", ("_live_", "_test_"), r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"),
    ("openai-key", ("sk-",), r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}T3BlbkFJ[A-Za-z0-9_\-]{20,}|\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{20,}"),
    ("anthropic-key", ("sk-ant-",), r"\bsk-ant-[A-Za-z0-9_\-]{20,}"),
    ("generic-sk-key", ("sk-",), r"\bsk-[A-Za-z0-9]{32,}\b"),
    ("google-api-key", ("AIza",), r"\bAIza[0-9A-Za-z_\-]{35}"),
    ("sendgrid-key", ("SG.",), r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}"),
    ("twilio-key", ("SK",), r"\bSK[0-9a-f]{32}\b"),
    ("npm-token", ("npm_",), r"\bnpm_[A-Za-z0-9]{36}\b"),
    ("pypi-token", ("pypi-AgE",), r"\bpypi-AgE[A-Za-z0-9_\-]{50,}"),
    ("huggingface-token", ("hf_",), r"\bhf_[A-Za-z0-9]{30,}\b"),
    ("azure-storage-key", (), r"(?i)AccountKey=[A-Za-z0-9+/]{80,}={0,2}"),
    ("jwt", ("eyJ",), r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
    ("telegram-bot-token", (":AA",), r"\b\d{8,10}:AA[A-Za-z0-9_\-]{33}\b"),
    # A TOTP seed (base32, two digits at least, in groups of four or not) that its sentence
    # names: "the backup seed for the ops account is KV4G…", "otpauth seed JBSW Y3DP …".
    ("totp-seed", (), r"(?i:(?<!\w)(?:seed|semilla|semente|graine|seme|otpauth|t?otp|2fa|mfa|authenticator|two-factor|zwei-faktor)(?!\w))"
                      r"[^\n]{0,80}?(?<![\w-])(?P<value>(?=(?:[A-Z -]*[2-7]){2})(?:[A-Z2-7]{16,64}|(?:[A-Z2-7]{4}[ -]){3,15}[A-Z2-7]{4}))(?![\w-])"),
    # less common shapes
    ("deepl-key", (":fx",), r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:fx\b"),
    ("mailgun-key", ("key-",), r"\bkey-[0-9a-f]{32}\b"),
    ("mailchimp-key", ("-us",), r"\b[0-9a-f]{32}-us\d{1,2}\b"),
    ("shopify-token", ("shp",), r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b"),
    ("square-token", ("sq0",), r"\bsq0(?:atp|csp)-[A-Za-z0-9_\-]{22,}"),
    ("atlassian-token", ("ATATT3",), r"\bATATT3[A-Za-z0-9_\-=]{100,}"),
    ("digitalocean-token", ("_v1_",), r"\bdo[opr]_v1_[a-f0-9]{64}\b"),
    ("databricks-token", ("dapi",), r"\bdapi[0-9a-f]{32}(?:-\d)?\b"),
    ("postman-key", ("PMAK-",), r"\bPMAK-[0-9a-f]{24}-[0-9a-f]{34}\b"),
    ("notion-token", ("secret_", "ntn_"), r"\b(?:secret_[A-Za-z0-9]{43}|ntn_[A-Za-z0-9]{40,})\b"),
    ("linear-key", ("lin_api_",), r"\blin_api_[A-Za-z0-9]{40}\b"),
    ("grafana-token", ("glsa_", "glc_"), r"\b(?:glsa_[A-Za-z0-9]{32}_[0-9a-f]{8}|glc_[A-Za-z0-9+/]{32,}={0,2})"),
    ("vault-token", ("hvs.", "hvb."), r"\bhv[sb]\.[A-Za-z0-9_\-]{24,}"),
    ("newrelic-key", ("NRAK-",), r"\bNRAK-[A-Z0-9]{27}\b"),
    ("sentry-token", ("sntr",), r"\bsntr[ysu]_[A-Za-z0-9_=+/]{40,}"),
    ("google-oauth-token", ("ya29.",), r"\bya29\.[A-Za-z0-9_\-]{30,}"),
    ("docker-token", ("dckr_pat_",), r"\bdckr_pat_[A-Za-z0-9_\-]{20,}"),
    ("telegram-bot-token", (":AA",), r"(?<![\w:])(?:bot)?\d{8,10}:AA[A-Za-z0-9_\-]{33}(?![\w-])"),
    ("llm-provider-key", ("gsk_", "xai-", "pplx-", "r8_"), r"\b(?:gsk_[A-Za-z0-9]{48,}|xai-[A-Za-z0-9]{60,}|pplx-[A-Za-z0-9]{40,}|r8_[A-Za-z0-9]{37,})\b"),
))
# The whole block when it is complete, so that a later redaction removes the key body too.
_PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:[A-Za-z0-9+/=\s:,-]*?"
                          r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)?|PuTTY-User-Key-File-\d")
_VALUE = r"(?P<q>[\"'`]?)(?P<value>[^\s\"'`,;)}\]<>]{4,200})(?P=q)"
# Where the place says "credential": (detector name, what the lower-cased text must hold for
# the pattern to be worth running, pattern). The hit spans the `secret` group where there is
# one (a connection string's user, password and host), else the value.
_PLACES: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = tuple(
    (name, triggers, re.compile(rx)) for name, triggers, rx in (
    # scheme://user:password@host (postgres, mongodb+srv, redis://:pw@, amqp, JDBC's URL part)
    ("connection-string", ("://",), r"(?P<secret>\b[a-z][a-z0-9+.\-]{1,20}://[^\s:/@'\"]{0,64}:(?P<value>[^\s/'\"]{3,128})@[\w.\-]+)"),  # to the last "@"
    # Oracle's user/password@host
    ("connection-string", ("jdbc:oracle",), r"(?i)(?P<secret>\bjdbc:oracle:\w+:[^\s/@'\"]{1,64}/(?P<value>[^\s@'\"]{3,128})@[\w.\-]+)"),
    # mysql -pPASSWORD (the password joined to the flag; `-p` alone prompts for it)
    ("mysql-password", ("mysql", "mariadb"), r"(?:^|\s)-p(?P<q>[\"']?)(?P<value>[^\s\"']{3,128})(?P=q)(?=\s|$)"),
    # docker login -u user -p password, podman/helm registry login
    ("login-password", ("login",), r"\blogin\b[^\n]{0,160}?\s(?:-p|--password)(?:\s+|=)(?P<q>[\"']?)(?P<value>[^\s\"']{3,128})(?P=q)(?=\s|$)"),
    # sshpass -p 'password' (a space allowed: sshpass never prompts)
    ("sshpass-password", ("sshpass",), r"(?:^|\s)-p\s*(?P<q>[\"']?)(?P<value>[^\s\"']{3,128})(?P=q)(?=\s|$)"),
    # smbclient -U 'DOMAIN\user%password', rpcclient, net -U user%password
    ("smb-password", ("-u",), r"(?:^|\s)(?:-U|--user)(?:\s+|=)(?P<q>[\"']?)[^\s%\"']{1,64}%(?P<value>[^\s\"']{3,128})(?P=q)"),
    # new PDO($dsn, 'user', 'password'), mysqli_connect($host, 'user', 'password'), DriverManager.getConnection(url, "user", "password")
    ("database-call", ("pdo", "mysql", "getconnection"), r"(?i)(?:\bnew\s+PDO|\bmysqli(?:_connect)?|\bmysql_connect|\bgetConnection)\s*\(\s*[^,()\n]{1,200},\s*"
                      r"(?P<u>[\"'])[^\"'\n]{1,64}(?P=u)\s*,\s*(?P<q>[\"'])(?P<value>[^\"'\n]{3,128})(?P=q)"),
    # default credentials written "admin / password" (a device list, a handover note)
    ("admin-slash", ("admin", "root"), r"(?i)\b(?:admin|administrator|root)\s+/\s+(?P<q>)(?P<value>[^\s/]{6,64})(?=\s|$)"),
    # lftp -u user,password (lftp's own separator; `ps -u root,www-data` lists users)
    ("lftp-password", ("lftp",), r"\blftp\b[^\n]{0,80}?\s-u\s+(?P<q>[\"']?)[^\s,\"']{1,64},(?P<value>[^\s\"']{3,128})(?P=q)"),
    # curl -u user:password, --user=user:password (`--password=…` is an assignment)
    ("basic-auth-cli", ("-u", "--user"), r"(?:^|\s)(?:-u|--user)(?:\s+|=)(?P<q>[\"']?)[^\s:\"']{1,64}:(?P<value>[^\s\"']{3,128})(?P=q)"),
    ("bearer-token", ("bearer", "token"), r"(?i)\b(?:bearer|token)\s+(?P<value>[A-Za-z0-9_\-.=+/~]{16,})"),
    # requests' auth=("user", "password"), HTTPBasicAuth("user", "password"), login("user", "password")
    ("basic-auth-call", ("auth", "login"), r"(?i)(?:\bauth|basicauth|\blogin|authenticate)\s*(?:=\s*)?\(\s*(?P<u>[\"'])[^\"'\n]{1,64}(?P=u)\s*,\s*"
                        r"(?P<q>[\"'])(?P<value>[^\"'\n]{3,128})(?P=q)"),
    # echo 'password' | docker login --password-stdin, passwd --stdin, chpasswd
    ("stdin-password", ("stdin", "chpasswd"), r"\b(?:echo(?:\s+-n)?|printf(?:\s+(?P<f>[\"'])%s(?P=f))?)\s+(?P<q>[\"']?)(?P<value>[^\s\"'|]{3,128})(?P=q)"
                       r"\s*\|[^\n]{0,200}?(?:--password-stdin|\bpasswd\s+--stdin|\bchpasswd)"),
    # a ~/.pgpass line: host:port:database:user:password
    ("pgpass-line", ("pgpass",), r"(?m)^[ \t]*[\w.\-*]+:(?:\d+|\*):[^\s:]+:[^\s:]+:(?P<q>)(?P<value>\S{3,128})[ \t]*$"),
    # a session's cookie in a request's header (`Cookie: connect.sid=s%3A…`, `PHPSESSID=…`)
    ("session-cookie", ("cookie",), r"(?i)\bcookie:[^\n'\"]{0,200}?(?<![\w.])[\w.\-]*(?:sid|sess|session|auth|token)[\w.\-]*="
                       r"(?P<q>)(?P<value>[^;\s'\"]{16,})"),
    # the key that signs tokens, given as a literal: jwt.sign(payload, 'key'), createHmac('sha256', 'key'), hmac.new(b'key', …)
    ("signing-key", ("jwt.", "jws.", "jsonwebtoken.", "createhmac"), r"(?i)(?:\b(?:jwt|jws|jsonwebtoken)\.(?:sign|encode)|\bcreatehmac)\s*\([^\n]{0,200}?,\s*"
                    r"(?P<q>[\"'])(?P<value>[^\"'\n]{6,128})(?P=q)"),
    ("signing-key", ("hmac.new",), r"\bhmac\.new\(\s*b?(?P<q>[\"'])(?P<value>[^\"'\n]{6,128})(?P=q)"),
    # Java holds passwords as char arrays: ks.load(in, "…".toCharArray()), new PBEKeySpec("…".toCharArray())
    ("char-array", ("tochararray",), r"(?P<q>\")(?P<value>[^\"\n]{3,128})(?P=q)\.toCharArray\(\)"),
    # <password>…</password>, <wsse:Password Type="…">…</wsse:Password>
    ("xml-element", ("</",), r"(?i)<(?P<tag>[\w:.\-]*(?:pass|pwd|secret|token|key)[\w:.\-]*)(?:\s[^<>]*)?>(?P<value>[^<\s]{4,200})</(?P=tag)>"),
))
_BASIC = re.compile(r"(?i)\bbasic\s+(?P<value>[A-Za-z0-9+/]{8,}={0,2})(?![\w+/=])")
# A string given to a client: `Client("…")`, `Github(url, "…")`, `connect("…")`.
_CALL = re.compile(r"(?<![\w.])(?P<callee>[A-Za-z_][\w.]{0,60})\((?:[^()\n]{0,80}?,)?\s*(?P<q>[\"'])"
                   r"(?P<value>[A-Za-z0-9_\-.+/=:~]{16,200})(?P=q)")
# A password as people make one, when a credential word stands before it on the same line
# ("the VPN password, valid until Friday, is Zomer2024!Vpn"): upper and lower case and a digit.
_PASSWORD = re.compile(r"(?<![^\s\"'`(=:])(?=[^\s\"'`]*[a-z])(?=[^\s\"'`]*[A-Z])(?=[^\s\"'`]*\d)"
                       r"[^\s\"'`,;()<>\[\]{}]{8,64}")
_NEARBY = 80  # characters after the credential word
_EMAIL_LIKE = re.compile(r"@[\w-]+\.[a-z]")
_CLIENT = re.compile(r"(?i)client|api|sdk|auth|session|token|key|secret|credential|login|connect|bot|init|configure")
# Constructors that take an identifier or a digest, not a credential.
_NOT_CLIENT = re.compile(r"(?i)uuid|guid|id$|hash|sha|digest|commit|checksum|colou?r|version|decimal|path|url|date|time")
# A command that runs a script or a program by its path (after a shell prompt or cron's
# five fields, or in a sentence): `./deploy.sh prod eu-west-1 9b5a…`,
# `/opt/sync/bin/sync-crm --env prod c41f…`.
_COMMAND = re.compile(r"(?m)(?:^|(?<=[\s`]))[ \t]*(?:\$[ \t]+)?(?:[\d*/,\-]+[ \t]+){0,5}"
                      r"(?:(?:python3?|bash|sh|node|ruby|perl|php|pwsh)[ \t]+)?"
                      r"(?:\.{0,2}/|~/|[\w.\-]+\.(?:sh|py|rb|pl|js|ps1)(?![\w.]))[^\n]*")
# A token of 32 to 64 hex digits passed as an argument: a credential, unless the line is about a
# digest (a commit, a checksum).
_HEX_ARGUMENT = re.compile(r"(?<=[ \t=])(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{32,64}(?=[ \t]|$)", re.M)
_DIGEST_WORDS = re.compile(r"(?i)commit|sha|md5|checksum|hash|digest|bisect|checkout|revert|cherry|\brev\b|\bgit\b")
# `export DB_PASSWORD=…` or `DB_PASSWORD=…` alone on its line, unquoted: a .env file's line.
_ENV_LINE = re.compile(r"[ \t]*(?:export[ \t]+)?[A-Z][A-Z0-9_]*=[^\s\"'`]+[ \t]*(?:$|\n)", re.M)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z_.\-]*")
_SEGMENT = re.compile(r"[\-_.:/]")
_DIGIT_OR_SYMBOL = re.compile(r"[\d!@#$%^&*+=?~]")
_SNAKE = re.compile(r"_*[a-z][a-z0-9]*(?:_+[a-z0-9]+)+_*")  # sigv4_auth_cls
_DOTTED = re.compile(r"!?[A-Za-z_][\w\-]*(?:\??\.[A-Za-z_][\w\-]*)+")  # config.credentials_provider, !er.headers
_DIGIT_THEN_LOWER = re.compile(r"[A-Za-z]\d+[a-z]")
_CAMEL_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
# A lookup or a template, not a value: $VAR, ${VAR}, ${VAR:?message} (a shell's error when unset,
# not a default, which may be a password), {var!r}, %VAR%, <VAR>, os.environ[…], f(…),
# a mask ("****", "xx/xx"), an elided example ("eyJ2IjoiMSIs..."), a timestamp.
_REFERENCE = re.compile(r"^(?:\$\{?\w+(?::?\?[^}]*)?\}?|\{.*|%\w*%?|<.*|\[.*|[*•#xX./\-]+|.*(?:\.\.\.|…)|\d{4}-\d\d-\d\d[T ]?[\d:.]*Z?)$|environ|getenv|process\.env|[()\[\]]")


@dataclass(frozen=True, slots=True)
class _Words:
    """What data/secrets.yaml says, compiled."""

    # (a credential's name, searched in the lower-cased text; what joins it to its value, up
    # to the value, matched on the text itself): in code and config, then in prose.
    assignments: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...]
    code_name: re.Pattern[str]  # a credential fragment of code (`setPassword`), in the lower-cased text
    # a credential word of code or prose standing alone, in the lower-cased text: short ones
    # whole, long ones also closing a compound; two patterns, as one alternation costs twice more
    word: tuple[re.Pattern[str], re.Pattern[str]]
    example: re.Pattern[str]  # a word that makes what follows an example, in the lower-cased text
    suffixes: frozenset[str]
    placeholder: re.Pattern[str]


@lru_cache(maxsize=1)
def _words() -> _Words:
    data = yaml_data("secrets.yaml")
    langs = {k: v for k, v in data.items() if k not in ("placeholders", "name_suffixes")}

    def words(key: str) -> str:
        return alternation(t.lower() for lang in langs.values() for t in lang[key])

    # Code and config: `password = "…"`, `"senha": "…"`, `DB_PASSWORD=…`, the value on the same
    # line. Prose: `das Passwort lautet …`, `my password is …`, "our 2FA seed for the shared ops
    # account is …" (up to six words between). Names are searched in the
    # lower-cased text (see ..context), code and prose apart: joined, the two alternations
    # cost several times more.
    assignments = (
        (re.compile(rf"(?P<word>{words('code')})(?!port)[\w.\-]*"),
         re.compile(rf"[\"']?[ \t]*(?:[:=]{{1,2}}|=>)[ \t]*{_VALUE}")),
        (re.compile(rf"(?<!\w)(?P<word>{words('prose')})"),
         re.compile(rf"(?i)[\"']?(?:[ \t]*(?:[:=]{{1,2}}|=>)|(?:\s+[\w'’-]+){{0,6}}?\s+(?:{words('verbs')}|:)(?!\w))"
                    rf"\s*{_VALUE}")))
    fillers = "|".join(map(re.escape, data["placeholders"]))
    # Whole forms anchored; filler words anywhere are searched apart (`.*word.*$` is quadratic).
    placeholder = re.compile(
        rf"(?i)^(?:(?:{words('owners')})(?:[\W_].*)?|(?:{fillers})|(.)\1+|(?:{fillers})[\W_]?\d{{0,3}})$"
        rf"|example|sample|placeholder|dummy|change[-_]?(?:me|it)|redacted|[-_]here|xxx"
        # an instruction in the value's place: "bitte-lokal-setzen", "à-changer", "cambiar-esto"
        rf"|(?:^|[-_])(?:setzen|ändern|changer|définir|cambiar|cambiame|cambiami|modificare|wijzigen|invullen|alterar|mudar)(?:$|[-_])")
    # Words of six letters or more may end a compound ("WLAN-Passwort", "Datenbankpasswort").
    names = [t.lower() for lang in langs.values() for key in ("code", "prose") for t in lang[key]]
    word = (re.compile(rf"(?<!\w)(?:{alternation(n for n in names if len(n) < 6)})(?!\w)"),
            re.compile(rf"(?:{alternation(n for n in names if len(n) >= 6)})(?!\w)"))
    example = re.compile(rf"(?<!\w)(?:{words('examples')})(?!\w)")
    return _Words(assignments, assignments[0][0], word, example, frozenset(data["name_suffixes"]), placeholder)


def _entropy(s: str) -> float:
    counts = Counter(s)
    return -sum(c / len(s) * math.log2(c / len(s)) for c in counts.values())


# A key whose random part is one character over and over: a placeholder in a README.
_FILLER = re.compile(r"([xX*0.•])\1{7,}$|^.{0,12}?([xX*0])\2{7,}")


class SecretDetector:
    name = "secrets"
    entities = frozenset({"SECRET", "PRIVATE_KEY"})

    def detect(self, text: str, lang: str) -> Iterator[Hit]:
        for m in _PRIVATE_KEY.finditer(text):
            yield Hit("PRIVATE_KEY", m.start(), m.end(), 1.0, "secrets.private-key")
        for name, triggers, pattern in _TOKENS:
            if triggers and not any(t in text for t in triggers):
                continue
            group = "value" if "value" in pattern.groupindex else 0  # the token, not the words naming it
            for m in pattern.finditer(text):
                if "EXAMPLE" in m.group(group).upper() or _FILLER.search(m.group(group)):
                    continue  # vendors' documented samples (AKIA…EXAMPLE), `sk_test_xxxxxxxx`
                yield Hit("SECRET", m.start(group), m.end(group), 0.95, f"secrets.{name}")
        words = _words()
        low = lowered(text)
        for names, joined in words.assignments:
            done = 0  # a name inside the value just read is part of that value
            for name in names.finditer(low):
                m = joined.match(text, name.end()) if name.start() >= done else None
                if not m:
                    continue
                done = m.end()
                named = _names_a_credential(text, *name.span("word"), name.end(), words.suffixes)
                if named and _ENV_LINE.match(text, _line_start(text, name.start()), m.end()):
                    looks = _literal  # a .env file holds values, never a variable's name
                else:
                    looks = _looks_secret if named else _looks_random
                value = m.group("value")
                if not m.group("q") and value[-1] in "?.,:" and value[-2:-1].isalnum():
                    value = value[:-1]  # the sentence's own punctuation: "…if the token is signed?"
                if looks(value):
                    yield Hit("SECRET", m.start("value"), m.start("value") + len(value), 0.85, "secrets.assignment")
        yield from _passwords_nearby(text, low, words)
        for name, triggers, pattern in _PLACES:
            if not any(t in low for t in triggers):
                continue
            group = "secret" if "secret" in pattern.groupindex else "value"
            for m in pattern.finditer(text):
                if _looks_secret(unquote(m.group("value"))):  # URLs carry "a%20secret"
                    yield Hit("SECRET", m.start(group), m.end(group), 0.85, f"secrets.{name}")
        for m in _BASIC.finditer(text) if "basic" in low else ():
            user, _, password = _decoded(m.group("value")).partition(":")
            if user and _literal(password):  # whatever its shape: the header says it is a password
                yield Hit("SECRET", m.start("value"), m.end("value"), 0.9, "secrets.basic-auth")
        for m in _CALL.finditer(text):
            callee = m.group("callee").rsplit(".", 1)[-1]
            constructor = callee[:1].isupper() and not _NOT_CLIENT.search(callee)
            if words.code_name.search(callee.lower()):  # set_password("…"), withToken("…")
                looks = _looks_secret
            elif constructor or _CLIENT.search(callee):
                looks = _looks_random
            else:
                continue
            if looks(m.group("value")):
                yield Hit("SECRET", m.start("value"), m.end("value"), 0.8, "secrets.client-argument")
        for line in _COMMAND.finditer(text) if "/" in text or "." in text else ():
            for m in _HEX_ARGUMENT.finditer(text, line.start(), line.end()):
                if not _DIGEST_WORDS.search(text, line.start(), m.start()):
                    yield Hit("SECRET", m.start(), m.end(), 0.8, "secrets.command-argument")


def _passwords_nearby(text: str, low: str, words: _Words) -> Iterator[Hit]:
    """Password-shaped values within `_NEARBY` characters after a credential word, on its line,
    unless the words between make it an example."""
    done = 0
    for name in _credential_words(low, words.word):
        start = max(name.end(), done)
        line_end = text.find("\n", start)
        end = min(name.end() + _NEARBY, len(text) if line_end < 0 else line_end)
        for m in _PASSWORD.finditer(text, start, end):
            value = m.group()
            if value.endswith(("...", "…")):  # an elided example
                continue
            value = value[:-1] if value[-1] in ".,:;" else value  # the sentence's own punctuation
            if ("://" not in value and not _EMAIL_LIKE.search(value) and _looks_secret(value)
                    and not words.example.search(low, name.end(), m.start())):
                yield Hit("SECRET", m.start(), m.start() + len(value), 0.8, "secrets.password-nearby")
            done = m.end()


def _credential_words(low: str, patterns: tuple[re.Pattern[str], ...]) -> Iterator[re.Match[str]]:
    """The matches of `patterns` in `low`, leftmost first and none overlapping, as one
    alternation of them would find them (the first pattern first where two start together)."""
    end = 0
    found = sorted((m for p in patterns for m in p.finditer(low)), key=lambda m: m.start())  # stable: order kept at ties
    for m in found:
        if m.start() >= end:
            end = m.end()
            yield m


def _decoded(value: str) -> str:
    try:
        return base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        return ""


def _looks_secret(value: str) -> bool:
    """A credential as people write them: a human password or a random string, not a name."""
    if _REFERENCE.search(value) or _words().placeholder.search(value) or (value.isdigit() and len(value) < 10) \
            or _is_code_name(value):
        return False  # max_tokens = 100000
    if _IDENTIFIER.fullmatch(value):  # a variable or constant name: a reference, not the secret
        return _entropy(value) >= 3.5 and len(value) >= 16 and not value.isupper()
    # A human password ("hunter2", "Soleil2024!") has digits or symbols; a random one, entropy.
    return (len(value) >= 6 and bool(_DIGIT_OR_SYMBOL.search(value))) or (_entropy(value) >= 3.5 and len(value) >= 12)


def _literal(value: str) -> bool:
    """A value in a place that only holds credentials (a `.env` line, a Basic header): any
    word but a placeholder or a lookup."""
    return len(value) >= 6 and not (_REFERENCE.search(value) or _words().placeholder.search(value))


def _line_start(text: str, i: int) -> int:
    return text.rfind("\n", 0, i) + 1


def _names_a_credential(text: str, start: int, end: int, key_end: int, suffixes: frozenset[str]) -> bool:
    """Whether the credential word text[start:end] is what its key names: not part of a
    longer word ("passthrough", "minipass", "LastAuthenticated"; words of six letters or more,
    "password", "wachtwoord", count anywhere) and followed by no other word than `suffixes`
    (`SECRET_KEY`, not `PasswordLastUsed`). Otherwise only a random value is a credential
    (ngrok's `authtoken: …`)."""
    before, after = text[start - 1:start], text[end:end + 1]
    if end - start < 6 and (before.isalpha() and not (before.islower() and text[start].isupper())
                            or after.isalpha() and not (after.isupper() and text[end - 1].islower())):
        return False
    return all(w.lower() in suffixes for w in _CAMEL_WORD.findall(text[end:key_end]) if not w.isdigit())


def _is_code_name(value: str) -> bool:
    """A name in code: a variable (`sigv4_auth_cls`), an attribute (`config.api_token`), a
    type (`AwsCredentialsProvider`, `_V1ValidatorType`); not "Xk29fjQ0pLm" or "Summer2024"."""
    if (_SNAKE.fullmatch(value) or _DOTTED.fullmatch(value) or value.count("/") >= 2) and not _random_stretch(value):
        return True  # a resource path ("projects/my-project/secrets/my-token/versions/1") too; a
        # long random part makes a token of it ("ghx_9f8e7d6c5b4a3928f7e6", "eyJ….eyJ….sig")
    core = value.strip("_")
    if _DIGIT_THEN_LOWER.search(core):  # "nP0mvd9Pzleebo"; code goes on in upper case ("base64Encode")
        return False
    words = _CAMEL_WORD.findall(core)
    named = [w for w in words if not w.isdigit() and not w.isupper()]  # kEnumerableProperty's "k" aside
    return "".join(words) == core and len(named) >= 2 and all(len(w) >= 3 for w in named[1:])


def _looks_random(value: str) -> bool:
    """A generated token, not a path, a URL, a placeholder or a name."""
    return "://" not in value and not value.startswith("/") and _random_stretch(value) and _looks_secret(value)


def _random_stretch(value: str) -> bool:
    """A long stretch where letters and digits mix at random: not a code made of words and
    numbers ("SKU-2024-BLUE-XL", "IMG_20240101_1234")."""
    return any(len(part) >= 12 and _entropy(part) >= 3.0 and any(c.isdigit() for c in part)
               and any(c.isalpha() for c in part) for part in _SEGMENT.split(value))
