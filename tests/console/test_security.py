"""The console's guard rails over plain HTTP: nothing answers without an admin session, only
admin keys sign in, forms need their CSRF token, and decisions pages hold no detected value."""
from __future__ import annotations

import re

import httpx
import pytest

from proxy.db import Database
from proxy.keys import KeyStore

PAGES = ["/", "/playground", "/decisions", "/decisions/anything", "/spend", "/keys", "/report"]
POSTS = ["/playground", "/keys", "/signout"]


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


def signed_in(console, key: str | None = None) -> httpx.Client:
    client = httpx.Client(base_url=console.url, follow_redirects=False)
    token = csrf_of(client.get("/signin").text)
    answer = client.post("/signin", data={"csrf": token, "key": key or console.admin_key})
    assert answer.status_code == 303 and answer.headers["location"] == "/console/playground", answer.text
    return client


def test_nothing_answers_without_an_admin_session(console):
    anonymous = httpx.Client(base_url=console.url, follow_redirects=False)
    for path in PAGES:
        answer = anonymous.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == "/console/signin", path
        assert answer.text == ""
    for path in POSTS:
        answer = anonymous.post(path, data={"do": "create", "team": "x"})
        assert answer.status_code == 403, path
    # A made-up or tampered session cookie is no session.
    forged = httpx.Client(base_url=console.url, follow_redirects=False,
                          cookies={"r1gate_console": "abc.9999999999.00.00"})
    assert forged.get("/keys").status_code == 303
    session = signed_in(console).cookies["r1gate_console"]
    key_id, expiry, nonce, signature = session.split(".")
    longer = httpx.Client(base_url=console.url, follow_redirects=False,
                          cookies={"r1gate_console": f"{key_id}.{int(expiry) + 86400}.{nonce}.{signature}"})
    assert longer.get("/keys").status_code == 303


def test_wrong_key_and_non_admin_key_cannot_sign_in(console):
    client = httpx.Client(base_url=console.url, follow_redirects=False)
    token = csrf_of(client.get("/signin").text)
    wrong = client.post("/signin", data={"csrf": token, "key": "sk-r1g-000000000000-" + "0" * 48})
    assert wrong.status_code == 401 and "not valid" in wrong.text and "r1gate_console=" not in str(wrong.headers)
    plain = client.post("/signin", data={"csrf": token, "key": console.gw.key})  # team-a's ordinary key
    assert plain.status_code == 403 and "not an admin key" in plain.text
    assert client.get("/keys").status_code == 303
    # Without the sign-in form's token (a page elsewhere posting a stolen key), nothing happens.
    bare = httpx.Client(base_url=console.url, follow_redirects=False)
    assert bare.post("/signin", data={"key": console.admin_key}).status_code == 403


def test_forged_posts_are_refused_and_change_nothing(console):
    client = signed_in(console)
    assert client.post("/keys", data={"do": "create", "team": "mallory"}).status_code == 403
    assert client.post("/keys", data={"do": "create", "team": "mallory", "csrf": "0" * 64}).status_code == 403
    db = Database(console.gw.settings.database_url)
    assert "mallory" not in {k.team for k in KeyStore(db).list()}
    # The token of one session does not work for another.
    other = signed_in(console)
    token = csrf_of(other.get("/keys").text)
    assert client.post("/keys", data={"do": "create", "team": "mallory", "csrf": token}).status_code == 403
    assert client.post("/keys", data={"do": "create", "team": "ok", "csrf": csrf_of(client.get("/keys").text)}
                       ).status_code == 200
    assert "ok" in {k.team for k in KeyStore(db).list()}
    db.close()


def test_headers_cookie_flags_and_revocation(console):
    client = httpx.Client(base_url=console.url, follow_redirects=False)
    page = client.get("/signin")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'none'" in csp
    assert "<script" not in page.text
    answer = client.post("/signin", data={"csrf": csrf_of(page.text), "key": console.admin_key},
                         headers={"x-forwarded-proto": "https"})
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie and "path=/console" in cookie
    session = signed_in(console)
    assert session.get("/keys").status_code == 200
    db = Database(console.gw.settings.database_url)
    KeyStore(db).revoke(console.admin_key.split("-")[2])  # the admin key is revoked: its sessions end
    db.close()
    assert session.get("/keys").status_code == 303


def test_decisions_pages_hold_no_detected_value(console):
    client = console.gw.client()
    values = ["beatrice.martin@example.fr", "Marie Dupont", "+33 6 12 34 56 78"]
    client.chat.completions.create(model="deepseek-chat", messages=[
        {"role": "user", "content": f"Write to {values[0]}: {values[1]} will call {values[2]}."}])
    client.chat.completions.create(model="deepseek-chat", messages=[{"role": "user", "content": "Name a prime."}])
    console.gw.stop()  # flushes the ledger
    db = Database(console.gw.settings.database_url)
    record_id = db.fetchone("SELECT id FROM audit WHERE route = 'onprem'")[0]
    db.close()
    # The same database, served again, so the console reads what the first gateway wrote.
    from proxy.app import create_app
    from tests.servers import ServerThread

    with ServerThread(create_app(console.gw.settings)) as server:
        console.gw.url = server.url
        session = signed_in(console)
        html = "".join(session.get(p).text for p in
                       ["/decisions", f"/decisions/{record_id}", "/decisions?entity=EMAIL_ADDRESS", "/report"])
        assert "EMAIL_ADDRESS" in html and "personal-data" in html
        for value in values + ["beatrice", "Dupont", "12 34 56"]:
            assert value not in html
        for page in ("/decisions?since=yesterday", "/spend?since=yesterday", "/report?since=yesterday"):
            bad = session.get(page)
            assert bad.status_code == 400 and "since" in bad.text, page


@pytest.mark.parametrize("lang, word", [("fr", "Bac à sable"), ("en", "Playground")])
def test_labels_in_french_and_english(console, lang, word):
    session = signed_in(console)
    assert word in session.get(f"/playground?lang={lang}").text
    assert word in session.get("/playground").text  # remembered
    from proxy.console.app import LABELS

    assert set(LABELS["fr"]) == set(LABELS["en"])
