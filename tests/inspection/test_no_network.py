"""Invariant 7: building the detectors and inspecting texts opens no connection (no model
download, no public-suffix-list fetch, no telemetry)."""
from __future__ import annotations

import subprocess
import sys

from .conftest import DEFAULT_POLICY, ROOT

SCRIPT = f"""
import sys
events = []
def hook(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "urllib.Request"):
        events.append(event)
sys.addaudithook(hook)  # before anything is imported: model and library loading are watched too

from proxy.inspect import Inspector
from proxy.policy import load_policy
from proxy.policy.rules import CompiledPolicy

loaded = load_policy({str(DEFAULT_POLICY)!r})
inspector = Inspector(CompiledPolicy.build(loaded.policy, loaded.version).settings)
inspector.warm_up()
for text in ["Mail jean.dupont@orange.fr or see https://docs.python.org/3/ and www.example.co.uk",
             "Écris à Camille Fournier, 12 rue des Lilas, 69003 Lyon, tél 06 12 34 56 78",
             "Ticket from EMP-104233 about ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
             "Please send the report to Wei Zhang before Friday."]:
    assert inspector.inspect(text), text
print("EVENTS", events)
"""


def test_inspection_opens_no_connection():
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "EVENTS []" in out.stdout, out.stdout
