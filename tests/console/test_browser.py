"""The console in a real browser (Debian's chromium driven by Playwright), page by page, as
compliance staff use it; a screenshot of each page is kept in tests/console/screenshots/."""
from __future__ import annotations

import re
from pathlib import Path

import httpx
import openai
import pytest

from proxy import ledger
from proxy.db import Database
from tests.console.conftest import shoot

SENSITIVE = "Please write to beatrice.martin@example.fr and tell Marie Dupont that her contract is ready."
HARMLESS = "Explain the difference between a list and a tuple in Python."


def sign_in(page, console, key: str | None = None) -> None:
    page.goto(f"{console.url}/signin")
    page.fill("input[name=key]", key or console.admin_key)
    page.click("button[type=submit]")


def test_sign_in_refuses_a_wrong_key_then_admits_the_admin(page, console):
    sign_in(page, console, "sk-r1g-000000000000-" + "0" * 48)
    assert page.locator("[role=alert]").inner_text() == "This key is not valid, or it has been revoked."
    shoot(page, "signin-refused")
    sign_in(page, console, console.gw.key)  # an ordinary key of team-a
    assert "not an admin key" in page.locator("[role=alert]").inner_text()
    sign_in(page, console)
    assert page.url.endswith("/console/playground")
    cookie = next(c for c in page.context.cookies() if c["name"] == "r1gate_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.click("text=Français")
    assert page.locator("h1").inner_text() == "Bac à sable"
    page.click("text=Se déconnecter")
    assert page.url.endswith("/console/signin")
    page.goto(f"{console.url}/keys")
    assert page.url.endswith("/console/signin")


def test_a_forged_form_from_another_page_is_refused(page, console):
    sign_in(page, console)
    # A page elsewhere (here: a blank page with no token) posts the key form with the session cookie around.
    page.set_content(f'<form method="post" action="{console.url}/keys"><input name="do" value="create">'
                     '<input name="team" value="mallory"><button>go</button></form>')
    with page.expect_navigation():
        page.click("button")
    assert page.url.endswith("/console/keys") and "mallory" not in page.content()
    shoot(page, "csrf-refused")
    db = Database(console.gw.settings.database_url)
    assert "mallory" not in {r[0] for r in db.fetchall("SELECT team FROM api_keys")}
    db.close()


def test_playground_marks_findings_and_runs_the_policy_tests(page, console):
    sign_in(page, console)
    page.fill("textarea[name=text]", SENSITIVE)
    page.click("button[value=explain]")
    assert page.locator("#route").inner_text() == "onprem"
    marks = page.locator("mark.finding")
    assert {marks.nth(i).inner_text().split("\n")[0].removesuffix("EMAIL_ADDRESS").removesuffix("PERSON").strip()
            for i in range(marks.count())} >= {"beatrice.martin@example.fr", "Marie Dupont"}
    rows = page.locator("#findings tr").all_inner_texts()
    assert any(r.startswith("EMAIL_ADDRESS") for r in rows) and any(r.startswith("PERSON") for r in rows)
    assert "personal-data" in page.locator("#decision").inner_text()
    shoot(page, "playground-sensitive")

    page.fill("textarea[name=text]", HARMLESS)
    page.click("button[value=explain]")
    assert page.locator("#route").inner_text() == "cloud" and page.locator("mark.finding").count() == 0
    shoot(page, "playground-harmless")

    page.click("button[value=tests]")
    heading = page.locator("#tests h2").inner_text()
    assert re.search(r": \d+ passed, 0 failed", heading), heading
    shoot(page, "playground-tests")


def test_playground_shows_what_the_cloud_receives_for_redact(page, make_gateway, cloud, onprem, tmp_path):
    policy = Path(__file__).resolve().parents[2] / "policies" / "default.yaml"
    redact = tmp_path / "redact.yaml"
    redact.write_text(policy.read_text().replace("    action: onprem\n", "    action: redact\n", 1))
    from tests.console.conftest import Console
    from proxy.keys import KeyStore

    gw = make_gateway(policy=str(redact))
    admin = KeyStore(Database(gw.settings.database_url)).create("compliance", admin=True)
    console = Console(gw, admin)
    sign_in(page, console)
    page.fill("textarea[name=text]", SENSITIVE)
    page.click("button[value=explain]")
    assert page.locator("#route").inner_text() == "cloud"
    sent = page.locator("#cloud-request").inner_text()
    assert "beatrice.martin@example.fr" not in sent and "Marie Dupont" not in sent and "[EMAIL_ADDRESS_" in sent
    shoot(page, "playground-redact")


def test_editor_shows_lint_errors_at_their_line_and_saves_only_passing_policies(page, make_gateway, cloud, onprem,
                                                                                tmp_path):
    from proxy.keys import KeyStore
    from tests.console.conftest import Console

    source = Path(__file__).resolve().parents[2] / "policies"
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "tests").mkdir()
    policy = tmp_path / "policies" / "default.yaml"
    policy.write_text((source / "default.yaml").read_text())
    (tmp_path / "policies" / "tests" / "default.yaml").write_text((source / "tests" / "default.yaml").read_text())
    gw = make_gateway(policy=str(policy))
    console = Console(gw, KeyStore(Database(gw.settings.database_url)).create("compliance", admin=True))
    sign_in(page, console)
    page.goto(f"{console.url}/policy")
    original = page.locator("textarea[name=text]").input_value()
    lines = original.splitlines()
    at = lines.index("  - id: identity-numbers") + 1  # 1-based line of this rule
    broken = original.replace("  - id: identity-numbers\n", "  - id: identity-numbers\n    colour: blue\n", 1)
    page.fill("textarea[name=text]", broken)
    page.click("button[value=check]")
    problem = page.locator("li.problem").first
    assert problem.get_attribute("data-line") == str(at + 1) and "unknown field" in problem.inner_text()
    assert page.locator(f"#line-{at + 1}").inner_text().strip() == "colour: blue"
    shoot(page, "editor-lint-error")

    # A change that fails a test case (personal data no longer kept on-prem) is not saved.
    failing = original.replace("    action: onprem\n", "    action: cloud\n", 1)
    page.fill("textarea[name=text]", failing)
    page.click("button[value=save]")
    assert page.locator("#not-saved").is_visible() and "FAIL" in page.locator("#tests").inner_text()
    assert "personal-data" in page.locator("#diff").inner_text()
    assert policy.read_text() == original
    shoot(page, "editor-not-saved")

    # A change every test case passes is saved, the old file kept, the change audited.
    passing = original.replace("Names, contact details", "Names, e-mail and contact details", 1)
    page.fill("textarea[name=text]", passing)
    page.click("button[value=save]")
    assert page.locator("#saved").is_visible()
    assert policy.read_text() == passing
    kept = list((tmp_path / "policies" / "previous").glob("default.*.yaml"))
    assert len(kept) == 1 and kept[0].read_text() == original
    new_version = page.locator("#lint-ok code").inner_text()
    shoot(page, "editor-saved")
    gw.stop()
    change = ledger.audit(Database(gw.settings.database_url), action="policy_change")
    assert [(c["policy_version"], c["key_id"]) for c in change] == [(new_version, console.admin_key.split("-")[2])]


def test_editor_shows_the_yaml_to_review_when_saving_is_off(page, make_gateway, cloud, onprem):
    from proxy.keys import KeyStore
    from tests.console.conftest import Console

    gw = make_gateway(console_policy_saving=False)
    console = Console(gw, KeyStore(Database(gw.settings.database_url)).create("compliance", admin=True))
    sign_in(page, console)
    page.goto(f"{console.url}/policy")
    assert page.locator("button[value=save]").count() == 0
    page.click("button[value=check]")
    assert "Submit this YAML for review" in page.locator("#review").inner_text()
    shoot(page, "editor-review")


def test_decisions_spend_and_keys_after_traffic(page, console):
    client = console.gw.client()
    client.chat.completions.create(model="deepseek-chat", messages=[{"role": "user", "content": SENSITIVE}])
    for _ in range(2):
        client.chat.completions.create(model="deepseek-chat", messages=[{"role": "user", "content": HARMLESS}])
    with pytest.raises(openai.PermissionDeniedError):  # a secret: blocked
        client.chat.completions.create(model="deepseek-chat", messages=[
            {"role": "user", "content": "My config has aws_access_key_id = AKIAQ3EGRT5YH7UJ9KLP, why does it fail?"}])
    db = Database(console.gw.settings.database_url)
    ledger.set_team_budget(db, "team-a", 5.0)
    sign_in(page, console)
    page.goto(f"{console.url}/keys")  # lets the ledger's writer catch up while the browser works
    console.gw.stop()  # the gateway's shutdown flushes the ledger...
    from proxy.app import create_app
    from tests.servers import ServerThread

    with ServerThread(create_app(console.gw.settings)) as server:  # ...and the same database is served again
        base = f"{server.url}/console"
        sign_in(page, type("C", (), {"url": base, "admin_key": console.admin_key})())
        page.goto(f"{base}/decisions")
        rows = page.locator("#decisions tr")
        assert rows.count() == 1 + 4
        assert page.locator("svg .column rect[data-series=onprem]").count() == 1
        assert page.locator("svg .bar[data-label=personal-data]").get_attribute("data-value") == "1"
        html = page.content()
        assert "beatrice" not in html and "Dupont" not in html and "AKIA" not in html
        shoot(page, "decisions")
        page.goto(f"{base}/decisions?route=blocked")
        assert page.locator("#decisions tr").count() == 2
        page.locator("#decisions a").first.click()
        assert "secrets" in page.locator("#record").inner_text()
        assert len(page.locator("text=/^[0-9a-f]{64}$/").first.inner_text()) == 64
        shoot(page, "decision-record")

        page.goto(f"{base}/spend")
        spent = {r["team"]: r for r in ledger.spend(db, by="team")}
        bar = page.locator("#cost-chart .bar[data-label=team-a]")
        assert float(bar.get_attribute("data-value")) == pytest.approx(spent["team-a"]["cost_usd"])
        assert spent["team-a"]["cost_usd"] > 0
        assert f"{spent['team-a']['all_cloud_usd'] - spent['team-a']['cost_usd']:.6f}" in page.locator(
            "#savings").inner_text()
        assert "team-a" in page.locator("#budgets").inner_text()
        page.goto(f"{base}/spend?by=route")
        routes = {r["route"]: r["cost_usd"] for r in ledger.spend(db, by="route")}
        for route, cost in routes.items():
            assert float(page.locator(f"#cost-chart .bar[data-label={route}]").get_attribute("data-value")) == \
                pytest.approx(cost)
        shoot(page, "spend")

        page.goto(f"{base}/report")
        assert "No request with a finding of a protected type reached the cloud in clear" in \
            page.locator("#statement").inner_text()
        shoot(page, "report")

        page.goto(f"{base}/keys")
        page.fill("form:has(button[value=create]) input[name=team]", "team-new")
        page.click("button[value=create]")
        key = page.locator("#new-key").inner_text().strip()
        assert key.startswith("sk-r1g-")
        shoot(page, "keys-created")
        assert httpx.get(f"{server.url}/v1/models", headers={"authorization": f"Bearer {key}"}).status_code == 200
        page.goto(f"{base}/keys")
        assert page.locator("#new-key").count() == 0 and key not in page.content()  # shown only once
        key_id = key.split("-")[2]
        page.click(f"tr[data-key='{key_id}'] button[value=revoke]")
        assert page.locator(f"tr[data-key='{key_id}'] td").nth(5).inner_text() != ""
        assert httpx.get(f"{server.url}/v1/models", headers={"authorization": f"Bearer {key}"}).status_code == 401
        page.fill("form:has(button[value=budget]) input[name=team]", "team-new")
        page.fill("form:has(button[value=budget]) input[name=usd]", "12.5")
        page.click("button[value=budget]")
        assert "team-new" in page.locator("#team-budgets").inner_text()
        assert ledger.team_budgets(db)["team-new"] == 12.5
        shoot(page, "keys")
    db.close()


def test_shadow_policy_divergences_after_traffic(page, make_gateway, cloud, onprem, tmp_path):
    from proxy.keys import KeyStore
    from tests.console.conftest import Console

    source = (Path(__file__).resolve().parents[2] / "policies" / "default.yaml").read_text()
    candidate = tmp_path / "candidate.yaml"  # e-mail addresses alone no longer kept on-prem
    candidate.write_text(source.replace("type: [PERSON, EMAIL_ADDRESS, PHONE_NUMBER,", "type: [PERSON, PHONE_NUMBER,", 1))
    gw = make_gateway(shadow_policy=str(candidate))
    console = Console(gw, KeyStore(Database(gw.settings.database_url)).create("compliance", admin=True))
    client = gw.client()
    for text in ["Send the invoice to billing@hargreaves-metals.co.uk please.", "Mail accounts@brightline-logistics.de the report.",
                 HARMLESS]:
        answer = client.chat.completions.with_raw_response.create(
            model="deepseek-chat", messages=[{"role": "user", "content": text}])
        assert answer.headers["x-r1gate-route"] == ("cloud" if text == HARMLESS else "onprem")  # shadow never routes
    assert len(cloud.bodies) == 1  # only the harmless request reached the cloud

    sign_in(page, console)
    page.goto(f"{console.url}/policy")  # the recent traffic re-decided with the edited policy
    page.fill("textarea[name=text]", candidate.read_text())
    page.click("button[value=check]")
    assert "3 recent requests" in page.locator("#diff").inner_text()
    gw.stop()  # flushes the audit records
    from proxy.app import create_app
    from tests.servers import ServerThread

    db = Database(gw.settings.database_url)
    rows = db.fetchall("SELECT route, shadow_route, shadow_rules FROM audit ORDER BY ts")
    assert [(r[0], r[1]) for r in rows] == [("onprem", "cloud"), ("onprem", "cloud"), ("cloud", "cloud")]
    from proxy import audit

    assert audit.verify(db).intact
    with ServerThread(create_app(gw.settings)) as server:
        base = f"{server.url}/console"
        sign_in(page, type("C", (), {"url": base, "admin_key": console.admin_key})())
        page.goto(f"{base}/shadow")
        assert page.locator("#decided").inner_text() == "3"
        row = page.locator("#shadow .divergences tr").nth(1).inner_text().split("\t")
        assert row[:4] == ["2", "onprem", "cloud", "personal-data"]
        shoot(page, "shadow")
        page.click("button[value=stop]")
        assert page.locator("#no-shadow").is_visible()
        # A candidate from the editor becomes the shadow policy.
        page.goto(f"{base}/policy")
        page.fill("textarea[name=text]", candidate.read_text())
        page.click("button[value=shadow]")
        assert page.locator("#shadowed").is_visible()
        edited = page.locator("#lint-ok code").inner_text()
        page.goto(f"{base}/shadow")
        assert page.locator("#shadow-version").inner_text() == edited
    db.close()
