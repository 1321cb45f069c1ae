"""The Slack app manifest a team pastes to create the app (slack-app-manifest.yaml): every scope
the service asks for at step 0, the events and the interactivity it serves, at routes the endpoint
has. A scope added to the code and not to the manifest fails here, not on a team's first handover."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import yaml

from activities.slack import required_scopes
from endpoint.app import create_app

MANIFEST = yaml.safe_load((Path(__file__).resolve().parent.parent / "slack-app-manifest.yaml").read_text())


def test_the_manifest_grants_every_scope_step_0_asks_for():
    granted = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    for private in (False, True):
        needed = set(required_scopes(private=private, watch_reactions=True))
        assert needed <= granted, f"add {sorted(needed - granted)} to the manifest's bot scopes"
    assert "users:read" in granted, "users:read.email is granted only with users:read"


def test_the_events_and_interactivity_go_to_routes_the_endpoint_serves(settings):
    schema = create_app(settings, client=object()).openapi()
    routes = set(schema["paths"])
    events = MANIFEST["settings"]["event_subscriptions"]
    interactivity = MANIFEST["settings"]["interactivity"]
    assert "reaction_added" in events["bot_events"]
    assert interactivity["is_enabled"] is True
    for url in (events["request_url"], interactivity["request_url"]):
        assert urlparse(url).scheme == "https" and urlparse(url).path in routes, url
