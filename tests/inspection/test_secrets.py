"""Credentials found by where they stand and what they look like, not by a provider's prefix;
placeholders, lookups, hashes, UUIDs and commit ids left alone."""
from __future__ import annotations

import pytest

from .conftest import found

SECRETS = [
    # (text, the value that must be found, as written)
    # handed to an SDK client, positionally or by keyword
    ('client = Client("a8Kd93jfQ02mzP1xLw7vT4")', "a8Kd93jfQ02mzP1xLw7vT4"),
    ("gh = Github('7f3c9a1b2e4d5f60718293a4b5c6d7e8f9a0b1c2')", "7f3c9a1b2e4d5f60718293a4b5c6d7e8f9a0b1c2"),
    ("api = VendorApi(base_url, 'Zq81mX0pL2vB7nC4kR9s')", "Zq81mX0pL2vB7nC4kR9s"),
    ('client = OpenAI(api_key="kz93JfnQ02mPLx7vT4ab")', "kz93JfnQ02mPLx7vT4ab"),
    ("s = Session(token='uX7b2Qp9LmA4kW1z')", "uX7b2Qp9LmA4kW1z"),
    ("requests.get(url, auth=('bob', 'S3cure!pw'))", "S3cure!pw"),
    ("bot = Bot('123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1')", "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"),
    # a provider's documented shape, wherever it stands: DeepL's free keys are a UUID with ":fx"
    ('t = deepl.Translator("4c1e9a07-2b6d-4f3a-9e85-0d7b6c2a1f93:fx")', "4c1e9a07-2b6d-4f3a-9e85-0d7b6c2a1f93:fx"),
    ("export VAULT_TOKEN=hvs.CAESIJ8vQn2kqv0V3mZlR7yTgh5Wd1Qx9sLbPa", "hvs.CAESIJ8vQn2kqv0V3mZlR7yTgh5Wd1Qx9sLbPa"),
    ("the Shopify admin token is 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", "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"),
    # on the command line and in HTTP headers
    ("curl -u jmartin:Tr0ub4dor&3 https://api.acme.io/v2/orders", "Tr0ub4dor&3"),
    ('curl --user "deploy:9fK!x2Lq" https://ci.acme.io', "9fK!x2Lq"),
    ("sshpass -p 'Tejo2024!backup' rsync -avz /srv/ backup@10.8.0.5:/mnt/bk/", "Tejo2024!backup"),
    ("smbclient //nas01/scans -U 'LAGER\\scanuser%Herbst2023$Lager' -c 'ls'", "Herbst2023$Lager"),
    ("$pdo = new PDO('mysql:host=10.0.4.12;dbname=crm', 'crm_app', 'Bl3u-Marine!2024');", "Bl3u-Marine!2024"),
    ("Synology NAS at 192.168.1.20, admin / Tr0ub4dor&3x-NAS", "Tr0ub4dor&3x-NAS"),
    ("post to https://discord.com/api/webhooks/7249960451853945882/TCY4a7iJqx7uDSeHoE8orrWBZ8BJIPMk96x6ghRbC2lm",
     "discord.com/api/webhooks/7249960451853945882/TCY4a7iJqx7uDSeHoE8orrWBZ8BJIPMk96x6ghRbC2lm"),
    ("-Uri https://outlook.office.com/webhook/1c2d3e4f-5a6b-7c8d-9e0f-a1b2c3d4e5f6@0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
     "/IncomingWebhook/0f1e2d3c4b5a69788796a5b4c3d2e1f0/9a8b7c6d-5e4f-3a2b-1c0d-e9f8a7b6c5d4",  # Teams, the older address
     "outlook.office.com/webhook/1c2d3e4f-5a6b-7c8d-9e0f-a1b2c3d4e5f6@0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
     "/IncomingWebhook/0f1e2d3c4b5a69788796a5b4c3d2e1f0/9a8b7c6d-5e4f-3a2b-1c0d-e9f8a7b6c5d4"),
    ("Authorization: Basic am1hcnRpbjpUcjB1YjRkb3ImMw==", "am1hcnRpbjpUcjB1YjRkb3ImMw=="),
    # svc_reporting:nP0mvd9Pzleebo, a random password that camel case would take for a name in code
    ('curl -H "Authorization: Basic c3ZjX3JlcG9ydGluZzpuUDBtdmQ5UHpsZWVibw==" https://jira.acme.io',
     "c3ZjX3JlcG9ydGluZzpuUDBtdmQ5UHpsZWVibw=="),
    ("Authorization: Bearer 8f7a6s5d4f3g2h1j0kLmNoPq", "8f7a6s5d4f3g2h1j0kLmNoPq"),
    ("-H 'Authorization: Token 4b1c9e7f2a6d8e0b3c5f'", "4b1c9e7f2a6d8e0b3c5f"),
    # code and config, keywords of every language
    ("das Passwort lautet Sonnenblume!42", "Sonnenblume!42"),
    ("la contraseña es Gato2024#, cámbiala", "Gato2024#"),
    ("wachtwoord: Fiets-123", "Fiets-123"),
    ("senha = 'Lisboa#99'", "Lisboa#99"),
    ("la password è Roma_2024!", "Roma_2024!"),
    ("Le mot de passe du wifi est Bretagne*56", "Bretagne*56"),
    ('{"db": {"passwort": "K8s!cluster"}}', "K8s!cluster"),
    ("DB_PASSWORD=Xk29fjQ0pLm\nDB_HOST=db", "Xk29fjQ0pLm"),
    ("DB_USERNAME=gest_user\nDB_PASSWORD=hPdlGlKCDeoFlo\n", "hPdlGlKCDeoFlo"),  # a .env line: letters only
    ("export SMTP_PASSWORD=Waldmeister\n", "Waldmeister"),
    ("[mysql]\nuser = app\npassword = q7W!e9Rt", "q7W!e9Rt"),
    ("smtp:\n  secret_key: 9f8a7b6c5d4e3f2a1b0c9d8e", "9f8a7b6c5d4e3f2a1b0c9d8e"),
    ("<password>Hunter2!x</password>", "Hunter2!x"),
    ('SECRET_KEY = "h7$k2!pQz9@xW4m"', "h7$k2!pQz9@xW4m"),
    ("authtoken: 2Qx7bLm9KpZ3vN8cR1sT4wY6uA0", "2Qx7bLm9KpZ3vN8cR1sT4wY6uA0"),  # a word inside a word, a random value
    # a password as people make one, a few words after a credential word of any language
    ("Het wachtwoord voor de VPN is tijdelijk Zomer2024!Vpn tot vrijdag", "Zomer2024!Vpn"),
    ("Das WLAN-Passwort hab ich geändert, das neue ist Kaffee&Kuchen77 ok?", "Kaffee&Kuchen77"),
    ("Mi contraseña del portal de nóminas ahora es Barcelona.2024! por si acaso", "Barcelona.2024!"),
    ("the router's admin pw is Gr33n&Tea-router, should I change it?", "Gr33n&Tea-router"),  # chat's abbreviation
    ("mysql -u admin -p'Prod!Pass2024' -h db.internal shop", "Prod!Pass2024"),
    ('conn.setPassword("Pa_S9ss_Word_2024");', "Pa_S9ss_Word_2024"),
    # tokens whose long random part outweighs their snake_case or dotted shape
    ('headers={"x-api-token": "a9x7bqe_kd8fm21zqwerty4xy88"}', "a9x7bqe_kd8fm21zqwerty4xy88"),
    ("Authorization: Bearer abCdeFgh12JkLmn34OpqRs.tuVwx56YzAbc78DefGhi90.jKlMn12OpQrS34",
     "abCdeFgh12JkLmn34OpqRs.tuVwx56YzAbc78DefGhi90.jKlMn12OpQrS34"),
    # a hex token passed to a script or a program on its command line, also from cron
    ("run as ./scripts/release.sh prod eu-west-1 4e1f0836a5c2b9e9f2c7e4a1b8d03f6e5c2a9b7d --dry-run",
     "4e1f0836a5c2b9e9f2c7e4a1b8d03f6e5c2a9b7d"),
    ("30 3 * * 1 /usr/local/bin/export-ledger --env prod 0a5e7c3b9d1f24e6a8c0b2d4f6e8a1c3 >> /var/log/x",
     "0a5e7c3b9d1f24e6a8c0b2d4f6e8a1c3"),
    # connection strings
    ("mongodb+srv://admin:R9x!pQ2z@cluster0.mongodb.net/shop", "mongodb+srv://admin:R9x!pQ2z@cluster0.mongodb.net"),
    ("REDIS_URL=redis://:S3cretPw9@cache:6379/0", "redis://:S3cretPw9@cache"),
    ("jdbc:oracle:thin:scott/T1ger99x@db.acme.fr:1521:orcl", "jdbc:oracle:thin:scott/T1ger99x@db.acme.fr"),
    ("jdbc:sqlserver://db;user=sa;password=Pa55w0rd!;encrypt=true", "Pa55w0rd!"),
    ("Driver={ODBC Driver 18};Server=db;Uid=sa;Pwd=Str0ng!Pass;", "Str0ng!Pass"),
]

HARMLESS = [
    # a flag without its password, a slash that joins words
    "mysql -u app -p crm < dump.sql",
    "log in as admin / password reset is on the next page",
    # placeholders and lookups
    "password: <API_KEY>",
    "api_key = 'xxx'",
    "token: changeme",
    "passwort: ${DB_PASS}",
    "senha = os.environ['SENHA']",
    "DB_PASSWORD=${DB_PASS}\nAPI_TOKEN=changeme\n",  # a .env file's lookups and placeholders
    "la contraseña es tu_contraseña",
    "api_key='your_api_key_here'",
    "curl -u $USER:$PASS https://example.com",
    "curl -u elastic:changeme http://localhost:9200",
    "Authorization: Basic dXNlcjpwYXNzd29yZA==",  # user:password
    "Authorization: Bearer YOUR_ACCESS_TOKEN_GOES_HERE",
    "postgres://user:password@localhost/db",
    "DATABASE_URL=postgres://postgres:postgres@localhost:5432/test",
    "client = OpenAI(api_key=os.getenv('OPENAI_API_KEY'))",
    # hashes, ids and names that look random but are not credentials
    '"integrity": "sha512-abcDEF123+/xyzQRS456ghiJKL789mnoPQR012stuVWX345yzaBCD678efgHIJ901klm=="',
    'hash = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"',
    "git checkout 3f9c2a1b7e4d5f60718293a4b5c6d7e8f9a0b1c2",
    "c = repo.commit('3f9c2a1b7e4d5f60718293a4b5c6d7e8f9a0b1c2')",
    'u = uuid.UUID("018f3e1c-7d2a-7b4e-9c1a-2b3c4d5e6f70")',
    "request_id = '018f3e1c-7d2a-7b4e-9c1a-2b3c4d5e6f70'",
    "x = ObjectId('507f1f77bcf86cd799439011')",
    "p = Product('SKU-2024-BLUE-XL-0042')",
    "font = Font('Helvetica-Bold-12345678')",
    'model = AutoModel.from_pretrained("bert-base-multilingual-cased")',
    "path = Path('src/proxy/inspect/detectors/secrets.py')",
    "Use the token: it expires in 10 minutes.",
    "The password must be at least 12 characters long.",
    "Das Passwort ist zu kurz.",
    "the pw is too short and the pwd field is empty",
    # digests on a command line: a commit, a checksum
    "git checkout 4e1f0836a5c2b9e9f2c7e4a1b8d03f6e5c2a9b7d",
    "./verify.sh --sha256 0a5e7c3b9d1f24e6a8c0b2d4f6e8a1c30a5e7c3b9d1f24e6a8c0b2d4f6e8a1c3 image.iso",
    "./scripts/bisect-run.sh 4e1f0836a5c2b9e9f2c7e4a1b8d03f6e5c2a9b7d",
    "The password must contain at least one digit, e.g. Abcdefg1 is too weak",
    "Reset your password at https://Accounts.example.com/Reset2024",
    "password_hash = bcrypt.hashpw(UserInput1, salt)",
    "docker run -p 3306:3306 -e MYSQL_ROOT_PASSWORD mysql:8",
    "Set token = request.headers['X-Token']",
    # code: names, types, templates and expressions after a credential-like key
    "    credentials_provider: AwsCredentialsProvider | None = None",
    "        self._sigv4_auth_cls = sigv4_auth_cls",
    '        auth_str = f", auth={auth!r}" if auth else ""',
    "const passthroughBufferConcat = desc?.writable === true",
    "        const auth = !er.headers || !er.headers['www-authenticate']",
    '{token:"comment.line.double-dash.source.rust",regex:"//.*$"}',
    "    if pass_arg is _PassArg.context:",
    # keys about something else than the credential, masks, elided examples, resource paths
    '"PasswordLastUsed": "2016-09-08T21:47:36Z",',
    '"LastAuthenticatedTime": "2019-05-25T16:29:52Z",',
    '"GlobalEndpointTokenVersion": "v2Token"',
    '{"secret_date": "****/**/**"}',
    '"PurchaseToken": "eyJ2IjoiMSIsInMiOjEsImMiOi...",',
    "--authorizer-token-secret-version=projects/my-project/secrets/my-oauth-token/versions/1",
    '"author": "bdehamer@github.com",',
]


@pytest.mark.parametrize("text,value", SECRETS, ids=[f"secret-{i}" for i in range(len(SECRETS))])
def test_credentials_are_found_by_place_and_shape(inspector, text, value):
    assert ("SECRET", value) in found(inspector, text), found(inspector, text)


@pytest.mark.parametrize("text", HARMLESS)
def test_placeholders_hashes_and_ids_are_no_secret(inspector, text):
    assert [f for f in found(inspector, text) if f[0] == "SECRET"] == []
