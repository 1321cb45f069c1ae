"""The console, in headless Chromium: a whole handover given from the browser alone.

Chromium is Debian's (`make browser` installs it), driven by Playwright from PyPI; nothing is ever
downloaded (`playwright install` is never run). Without /usr/bin/chromium the test skips, except in
CI (CI=true), where it fails.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from google.protobuf import json_format
from playwright.async_api import Locator, Page, Response, async_playwright, expect
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route
from temporalio.contrib.pydantic import pydantic_data_converter

from endpoint.app import create_app
from handover.codec import EncryptionCodec
from sandbox.state import DEMO_SCENARIO, read_scenario_file
from tests.conftest import OBSERVER, TOKENS, token_store
from tests.humans import INCOMING, OUTGOING, inventory
from tests.serving import serving

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ID = "handover-alice@novalien.com"
INCIDENTS = ["Q1DISK7", "Q2API5X", "Q3CERT9"]
ROLLOUTS = {"RO-311": ("25", "0.4"), "RO-318": ("10", "1.2"), "RO-302": ("50", "3.1")}
WAIT = 20_000
"""Milliseconds any one thing may take to show: the workflow answers in well under a second."""


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing: `make browser` installs Debian's chromium package"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI never skips the console test")
    pytest.skip(reason)


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        tab = await context.new_page()
        crashes: list[str] = []
        tab.on("pageerror", lambda error: crashes.append(str(error)))
        yield tab
        await browser.close()
    assert crashes == [], f"the console's script failed: {crashes}"


async def start(endpoint, **body) -> None:
    async with endpoint.http("service:pipeline") as http:
        answer = await http.post("/handovers", json={"outgoing": OUTGOING, "incoming": INCOMING, **body})
    assert answer.status_code == 201, answer.text


async def sign_in(page: Page, who: str) -> None:
    """By keyboard: type the token, press Enter."""
    await page.get_by_label("Your token").fill(TOKENS[who])
    await page.get_by_label("Your token").press("Enter")
    await expect(page.get_by_test_id("actor")).to_have_text(who, timeout=WAIT)
    await expect(page.get_by_test_id("handover-title")).to_have_text(f"Handover {ID}", timeout=WAIT)


async def sign_out(page: Page) -> None:
    await page.get_by_test_id("sign-out").click()
    await expect(page.get_by_label("Your token")).to_be_focused()
    assert await page.evaluate("sessionStorage.length") == 0, "signing out forgets the token"


async def give(page: Page, form: Locator, says: str) -> None:
    """Submit a form; once accepted its card goes, and the answer stays in the answers log."""
    await form.get_by_test_id("submit").click()
    await expect(form).to_have_count(0, timeout=WAIT)
    await expect(page.get_by_test_id("answers")).to_contain_text(says)


def polled(response: Response) -> bool:
    return response.request.method == "GET" and response.url.endswith(
        "/handovers/handover-alice%40novalien.com"
    )


def forms(page: Page, kind: str) -> Locator:
    return page.locator(f"form[data-testid^='{kind}-form-']")


async def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    await page.screenshot(path=str(path), full_page=True)
    print(f"console screenshot: {path}")
    return path


async def test_a_whole_handover_from_the_console(page, endpoint, fresh_sandbox):
    await start(endpoint)
    await page.goto(endpoint.url + "/")

    # A token that is not known: a clear message, and nothing kept.
    await page.get_by_label("Your token").fill("not-a-token")
    await page.get_by_test_id("sign-in-submit").click()
    await expect(page.get_by_test_id("sign-in-status")).to_contain_text("not accepted (401)")
    assert await page.evaluate("sessionStorage.length") == 0

    # --- alice, outgoing: every status paragraph, the engineering issue, every annotation ---
    await sign_in(page, OUTGOING)
    await expect(page.get_by_test_id("phase")).to_have_text("handing over", timeout=WAIT)
    await expect(forms(page, "status")).to_have_count(3, timeout=WAIT)
    await expect(forms(page, "link")).to_have_count(1, timeout=WAIT)
    await expect(forms(page, "annotation")).to_have_count(3, timeout=WAIT)
    await expect(page.get_by_test_id("count-incidents")).to_have_text("0 of 3 handed over")
    await screenshot(page, "console-outgoing.png")

    # An answer the API refuses is shown next to the form, and nothing typed is lost.
    first = page.get_by_test_id(f"status-form-{INCIDENTS[0]}")
    await first.get_by_label("Current hypothesis").fill("?")
    await first.get_by_label("Last action").fill("freed 40 GB by moving old WAL to /mnt/scratch")
    await first.get_by_label("Next action").fill("fix the backup bucket key <b>today</b>")
    await first.get_by_test_id("submit").click()
    await expect(first.get_by_test_id("answer")).to_contain_text("Refused (422)", timeout=WAIT)
    await expect(first.get_by_test_id("answer")).to_contain_text("hypothesis")
    await expect(first.get_by_label("Last action")).to_have_value(
        "freed 40 GB by moving old WAL to /mnt/scratch"
    )
    async with page.expect_response(polled, timeout=WAIT):
        pass  # a poll goes by: the form is kept as it was
    await expect(first.get_by_label("Next action")).to_have_value("fix the backup bucket key <b>today</b>")

    for incident in INCIDENTS:
        form = page.get_by_test_id(f"status-form-{incident}")
        await form.get_by_label("Current hypothesis").fill(f"WAL archive stalled on {incident}")
        if incident != INCIDENTS[0]:
            await form.get_by_label("Last action").fill(f"last action on {incident}")
            await form.get_by_label("Next action").fill(f"next action on {incident}")
        await give(page, form, f"Status for {incident}: Accepted (200)")

    link = forms(page, "link")
    ticket = (await link.get_attribute("data-testid")).removeprefix("link-form-")
    assert ticket == "SUP-1051", "the one pinned ticket waiting on engineering with no issue"
    await link.get_by_label("Engineering issue").fill("ENG-4242")
    await give(page, link, f"Engineering issue for {ticket}: Accepted (200)")

    for rollout, (ramp, error_rate) in ROLLOUTS.items():
        form = page.get_by_test_id(f"annotation-form-{rollout}")
        await expect(form.get_by_label("Ramp %")).to_have_value(ramp)
        await expect(form.get_by_label("Error rate %")).to_have_value(error_rate)
        await form.get_by_label("Next planned ramp step").fill(
            f"+15% tomorrow for {rollout} if errors stay low"
        )
        await give(page, form, f"Annotation for {rollout}: Accepted (200)")

    await expect(page.get_by_test_id("todo-empty")).to_be_visible(timeout=WAIT)
    await sign_out(page)

    # --- bob, incoming: acknowledge (by keyboard), take ownership, acknowledge the summary ---
    await sign_in(page, INCOMING)
    acks = forms(page, "ack")
    await expect(acks).to_have_count(3, timeout=WAIT)
    await expect(page.get_by_test_id(f"ack-form-{INCIDENTS[0]}").locator("xpath=..")).to_contain_text(
        "fix the backup bucket key <b>today</b>"  # alice's words, as text
    )
    await expect(forms(page, "ownership")).to_have_count(3, timeout=WAIT)
    await screenshot(page, "console-mid-handover.png")

    await acks.first.get_by_test_id("submit").focus()
    for left in (2, 1, 0):
        await page.keyboard.press("Enter")
        await expect(acks).to_have_count(left, timeout=WAIT)
        if left:  # focus moved on to the next card's button, not lost
            await expect(acks.first.get_by_test_id("submit")).to_be_focused()
    for incident in INCIDENTS:
        await expect(page.get_by_test_id("answers")).to_contain_text(
            f"Acknowledged {incident}: Accepted (200)"
        )

    for rollout in ROLLOUTS:
        await give(
            page, page.get_by_test_id(f"ownership-form-{rollout}"), f"Took ownership of {rollout}: Accepted"
        )

    summary = page.get_by_test_id("summary-ack-form")
    await expect(summary).to_have_count(1, timeout=WAIT)
    card = summary.locator("xpath=..")
    await expect(card).to_contain_text("On-call: @Alice Moreau → @Bob Okafor as of")  # not <@U0ALICE>
    await expect(card).not_to_contain_text("<@")
    await give(page, summary, "Acknowledged the summary: Accepted (200)")

    # The overlap is 2 hours: everything is handed over, and the handover waits for it.
    await expect(page.get_by_test_id("phase")).to_have_text("waiting for overlap to end", timeout=WAIT)
    rows = page.locator("[data-testid=items-table] tbody tr")
    await expect(rows).to_have_count(3 + 5 + 3, timeout=WAIT)
    for row in await rows.all():
        await expect(row).to_have_attribute("data-outcome", "handed_over", timeout=WAIT)
        await expect(row.get_by_test_id("stage")).to_have_text("done")
    for step, total in (("incidents", 3), ("tickets", 5), ("rollouts", 3)):
        await expect(page.get_by_test_id(f"count-{step}")).to_have_text(f"{total} of {total} handed over")
    await expect(page.get_by_test_id("summary-state")).to_contain_text(f"acknowledged by {INCOMING}")
    overlap = page.get_by_test_id("overlap-left")
    await expect(overlap).to_have_text(re.compile(r"^1 h 5\d min \d+ s"))
    shown = await overlap.text_content()
    await expect(overlap).not_to_have_text(shown or "", timeout=3000)  # it counts down
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
        "no horizontal scrolling at 1280 px"
    )
    await expect(page.get_by_test_id("report")).to_be_hidden()

    # --- the report: an emergency handover, which can end in seconds ----------------------
    await endpoint.client.get_workflow_handle(ID).terminate("test")
    scenario = read_scenario_file(DEMO_SCENARIO)
    channel = scenario["slack"]["channels"][0]["messages"]
    channel[-1]["text"] = "#4215: see <https://status.novalien.com/42|the status page>, cc <@U0BOB>"
    fresh_sandbox.reset(scenario)
    await start(endpoint, variant="emergency", reason="incapacitated", overlap="PT3S")
    await page.reload()  # bob is still signed in (the tab's session storage), on the same handover
    await expect(page.get_by_test_id("actor")).to_have_text(INCOMING, timeout=WAIT)
    await expect(page.get_by_test_id("variant")).to_contain_text("emergency", timeout=WAIT)
    await expect(page.get_by_test_id("digest")).to_be_visible(timeout=WAIT)
    digest = page.get_by_test_id("digest")
    await expect(digest).to_contain_text("Alice Moreau (", timeout=WAIT)  # not U0ALICE
    await expect(digest).to_contain_text("see the status page, cc @Bob Okafor")  # Slack's mrkdwn, as read
    link = digest.locator("a", has_text="the status page")  # (in the closed details: not a role yet)
    await expect(link).to_have_attribute("href", "https://status.novalien.com/42")
    await expect(acks).to_have_count(3, timeout=WAIT)
    for incident in INCIDENTS:
        await give(page, page.get_by_test_id(f"ack-form-{incident}"), f"Acknowledged {incident}: Accepted")
    await expect(forms(page, "ownership")).to_have_count(3, timeout=WAIT)
    for rollout in ROLLOUTS:
        await give(
            page, page.get_by_test_id(f"ownership-form-{rollout}"), f"Took ownership of {rollout}: Accepted"
        )
    await expect(summary).to_have_count(1, timeout=WAIT)
    await give(page, summary, "Acknowledged the summary: Accepted")

    report = page.get_by_test_id("report")
    await expect(report).to_be_visible(timeout=WAIT)
    await expect(page.get_by_test_id("phase")).to_have_text("completed")
    await expect(report.get_by_test_id("report-phase")).to_have_attribute("data-phase", "completed")
    said = report.get_by_test_id("report-summary")
    await expect(said).to_contain_text("On-call: @Alice Moreau → @Bob Okafor")
    await expect(said).not_to_contain_text("<@")
    await expect(report.get_by_test_id("report-phase")).to_contain_text(re.compile(r"^Ended: completed at "))
    await expect(report.locator("table")).to_have_count(0)  # the items table below has every outcome
    await expect(page.locator("table")).to_have_count(1)
    await expect(rows).to_have_count(3 + 5 + 3)
    for row in await rows.all():
        await expect(row).to_have_attribute("data-outcome", "handed_over")
    await expect(report.get_by_test_id("report-download")).to_have_attribute("download", f"{ID}-report.json")
    await expect(page.get_by_test_id("cancel")).to_be_hidden()
    await screenshot(page, "console-report.png")


async def test_one_status_for_several_incidents_from_the_console(page, endpoint, fresh_sandbox):
    """Pick incidents, write one status for them; the status form's last action is a draft of
    PagerDuty's latest note."""
    await start(endpoint)
    await page.goto(endpoint.url + "/")
    await sign_in(page, OUTGOING)
    await expect(forms(page, "status")).to_have_count(3, timeout=WAIT)
    drafted = page.get_by_test_id(f"status-form-{INCIDENTS[0]}").get_by_label("Last action")
    await expect(drafted).to_have_value(re.compile(r"^WAL archiving stalled after the 02:00"), timeout=WAIT)
    several = page.get_by_test_id("group-status-form")
    card = several.locator("xpath=..")
    for incident in INCIDENTS[1:]:
        await card.get_by_label(re.compile(f"^{incident} ")).check()
    await several.get_by_label("Current hypothesis").fill("the edge WAF rule blocks both paths")
    await several.get_by_label("Last action").fill("rolled the WAF rule back on one edge")
    await several.get_by_label("Next action").fill("roll it back everywhere, then renew the cert")
    await give(page, several, "Status for several incidents: Accepted (200)")
    await expect(forms(page, "status")).to_have_count(1, timeout=WAIT)
    progress = await inventory(endpoint.client, ID)
    given = {i.incident.id: i.status_given for i in progress.incidents}
    assert given[INCIDENTS[0]] is None
    assert {given[i].via for i in INCIDENTS[1:]} == {"one status for 2 incidents"}


async def test_a_draft_read_after_the_status_form_is_drawn_fills_it_unless_written_in(
    page, endpoint, fresh_sandbox
):
    """PagerDuty's notes are read beside the forms: a slow read (6 s) reaches a form already on screen,
    and never overwrites what the person wrote."""
    slow_notes = {"kind": "slow", "api": "pagerduty", "method": "GET", "path": "/incidents/*/notes"}
    with fresh_sandbox.faults({**slow_notes, "rate": 1, "delay": 6}):  # (the form is drawn well before)
        await start(endpoint)
        await page.goto(endpoint.url + "/")
        await sign_in(page, OUTGOING)
        await expect(forms(page, "status")).to_have_count(3, timeout=WAIT)
        blank = page.get_by_test_id(f"status-form-{INCIDENTS[0]}").get_by_label("Last action")
        written = page.get_by_test_id(f"status-form-{INCIDENTS[2]}")
        await expect(blank).to_have_value("")
        await written.get_by_label("Last action").fill("asked the edge team for the renewal logs")
        await written.get_by_label("Next action").focus()
        await expect(blank).to_have_value(re.compile(r"^WAL archiving stalled after the 02:00"), timeout=WAIT)
        await expect(page.get_by_test_id(f"status-form-{INCIDENTS[0]}")).to_contain_text(
            "Draft: the incident's latest note in PagerDuty"
        )
        await expect(written.get_by_label("Last action")).to_have_value(
            "asked the edge team for the renewal logs"
        )


async def test_mid_shift_mitigated_then_cancelled_from_the_console(page, endpoint, fresh_sandbox):
    await start(endpoint, variant="mid-shift", senior=INCOMING, major_incident="Q2API5X")
    await page.goto(endpoint.url + "/")
    await sign_in(page, OUTGOING)
    await expect(page.get_by_test_id("phase")).to_have_text(
        "waiting for the outage to be mitigated", timeout=WAIT
    )
    mitigated = page.get_by_test_id("mitigated-form")
    await mitigated.get_by_label("Note (optional)").fill("failed over to the replica")
    await give(page, mitigated, "Declared the outage mitigated: Accepted (200)")
    await expect(page.get_by_test_id("phase")).not_to_have_text(re.compile("outage"), timeout=WAIT)
    await expect(page.get_by_test_id("notes")).to_contain_text("failed over to the replica")

    # Cancel is tucked away; a refusal keeps the reason as typed.
    cancel = page.get_by_test_id("cancel-form")
    await expect(cancel).to_be_hidden()
    await page.get_by_text("Cancel this handover").click()
    await cancel.get_by_label("Reason").fill("no")
    await cancel.get_by_test_id("submit").click()
    await expect(cancel.get_by_test_id("answer")).to_contain_text("Refused (422)", timeout=WAIT)
    await expect(cancel.get_by_label("Reason")).to_have_value("no")
    await cancel.get_by_label("Reason").fill("wrong incoming admin")
    await cancel.get_by_test_id("submit").click()
    await expect(cancel.get_by_test_id("answer")).to_contain_text("Accepted (200)", timeout=WAIT)

    report = page.get_by_test_id("report")
    await expect(report).to_be_visible(timeout=WAIT)
    await expect(page.get_by_test_id("phase")).to_have_text("cancelled")
    await expect(report.get_by_test_id("report-phase")).to_have_text(
        re.compile(r"^Ended: cancelled at .+ by alice@novalien\.com: wrong incoming admin$")
    )
    left = page.locator("[data-testid=items-table] [data-outcome=not_handed_over]")
    await expect(left.first).to_be_visible()
    await expect(page.get_by_test_id("cancel")).to_be_hidden()
    await expect(page.get_by_test_id("todo-empty")).to_contain_text("has ended")

    # Ended, it stays in the list, marked and after any running one: its report can be opened later.
    picked = page.get_by_test_id(f"pick-{ID}")
    await expect(picked).to_have_attribute("data-ended", "true", timeout=WAIT)
    await expect(picked).to_contain_text("ended: cancelled")
    await sign_out(page)
    await page.get_by_label("Your token").fill(TOKENS[INCOMING])
    await page.get_by_label("Your token").press("Enter")
    # (Other tests' handovers on the session's dev server may have ended too: at least this one.)
    await expect(page.get_by_test_id("picker-status")).to_contain_text(
        re.compile(r"\b[1-9]\d* ended"), timeout=WAIT
    )
    await page.get_by_test_id(f"pick-{ID}").click()
    await expect(page.get_by_test_id("report")).to_be_visible(timeout=WAIT)
    await expect(page.get_by_test_id("report-phase")).to_contain_text("cancelled at")


async def test_an_unknown_error_rate_is_shown_and_sent_as_unknown(page, endpoint, fresh_sandbox):
    scenario = read_scenario_file(DEMO_SCENARIO)
    for rollout in scenario["platform"]["rollouts"]:
        if rollout["id"] == "RO-302":
            rollout["error_rate"] = None  # the console has no figure
    fresh_sandbox.reset(scenario)
    await start(endpoint)
    await page.goto(endpoint.url + "/")
    await sign_in(page, OUTGOING)

    unknown = page.get_by_test_id("annotation-form-RO-302")
    await expect(unknown.get_by_label("Error rate %")).to_have_value("unknown", timeout=WAIT)  # not 0
    await expect(unknown.locator("xpath=..")).to_contain_text("error rate unknown")
    await unknown.get_by_label("Next planned ramp step").fill("hold at 50% until the error rate is known")
    async with page.expect_request(lambda r: r.url.endswith("/rollouts/RO-302/annotation")) as sent:
        await unknown.get_by_test_id("submit").click()
    assert (await sent.value).post_data_json["error_rate"] is None

    known = page.get_by_test_id("annotation-form-RO-311")
    await expect(known.get_by_label("Error rate %")).to_have_value("0.4")
    await known.get_by_label("Error rate %").fill("")  # left blank: unknown too
    await known.get_by_label("Next planned ramp step").fill("+15% tomorrow if errors stay low")
    async with page.expect_request(lambda r: r.url.endswith("/rollouts/RO-311/annotation")) as sent:
        await known.get_by_test_id("submit").click()
    assert (await sent.value).post_data_json["error_rate"] is None
    # (Whether the endpoint takes null is the model's: RolloutAnnotation.error_rate: float | None.)


async def test_every_input_and_item_works_from_its_declaration_alone(page, endpoint, fresh_sandbox):
    """`?plain`: the console as a kind or an input added later sees it, with no hand-made card
    or row: each form is made from the input's declaration (GET /console/declarations), sends
    what the endpoint takes, and the items table lists every kind."""
    await start(endpoint)
    listed = await inventory(endpoint.client, ID)
    await page.goto(endpoint.url + "/?plain")
    await sign_in(page, OUTGOING)
    await expect(page.get_by_test_id("phase")).to_have_text("handing over", timeout=WAIT)
    status = page.get_by_test_id(f"submit_status-form-{INCIDENTS[0]}")
    await expect(status.locator("xpath=..")).to_contain_text("Outgoing: status paragraph", timeout=WAIT)
    await expect(page.get_by_test_id("status-form-" + INCIDENTS[0])).to_have_count(0)  # none hand-made
    await screenshot(page, "console-plain.png")
    await status.get_by_label("Hypothesis").fill("WAL archive stalled")
    await status.get_by_label("Last action").fill("freed 40 GB of old WAL")
    await status.get_by_label("Next action").fill("fix the backup bucket key")
    await give(page, status, f"Outgoing: status paragraph {INCIDENTS[0]}: Accepted (200)")

    annotation = page.get_by_test_id("annotate_rollout-form-RO-302")
    await annotation.get_by_label("Ramp percent").fill("50")
    await annotation.get_by_label("Next step").fill("hold at 50% until the error rate is known")
    async with page.expect_request(lambda r: r.url.endswith("/rollouts/RO-302/annotation")) as sent:
        await give(page, annotation, "Outgoing: annotation RO-302: Accepted (200)")
    assert (await sent.value).post_data_json == {
        "ramp_percent": 50,
        "error_rate": None,  # left blank, and the field may be null
        "next_step": "hold at 50% until the error rate is known",
    }
    rows = page.locator("[data-testid=items-table] tbody tr")
    await expect(rows).to_have_count(len(listed.all_items()), timeout=WAIT)
    await expect(page.get_by_test_id(f"item-{INCIDENTS[0]}")).to_contain_text("Incident")
    await expect(page.get_by_test_id("count-rollouts")).to_have_text("0 of 3 handed over")

    async with endpoint.http(OUTGOING) as http:
        answer = await http.get("/console/declarations")
    kinds = [kind["field"] for kind in answer.json()["kinds"]]
    assert kinds == ["incidents", "tickets", "rollouts"]


async def test_a_press_is_not_lost_when_the_page_redraws_under_it(page, endpoint, fresh_sandbox):
    """The browser clicks only where a press both began and ended, so a card going from above a
    button between the two would swallow the press without a word. The console holds its redraws
    while a button is down and draws them once it is up."""
    await start(endpoint)
    await page.set_viewport_size({"width": 1280, "height": 4000})  # no scrolling to soften the move
    await page.goto(endpoint.url + "/")
    await sign_in(page, OUTGOING)
    await expect(forms(page, "annotation")).to_have_count(3, timeout=WAIT)
    above = page.get_by_test_id(f"status-form-{INCIDENTS[0]}")
    form = page.get_by_test_id("annotation-form-RO-302")
    await form.get_by_label("Next planned ramp step").fill("+15% tomorrow if errors stay low")
    button = await form.get_by_test_id("submit").bounding_box()
    assert (await above.bounding_box())["y"] < button["y"], "the card that goes is above the button"

    await page.mouse.move(button["x"] + button["width"] / 2, button["y"] + button["height"] / 2)
    await page.mouse.down()
    async with endpoint.http(OUTGOING) as alice:  # given elsewhere meanwhile: that card is done
        given = await alice.post(
            f"/handovers/{ID}/incidents/{INCIDENTS[0]}/status",
            json={
                "hypothesis": "WAL archive stalled",
                "last_action": "freed space",
                "next_action": "watch the disk",
            },
        )
    assert given.status_code == 200, given.text
    for _ in range(2):  # the second poll began after it was given
        async with page.expect_response(polled, timeout=WAIT):
            pass
    await expect(above).to_have_count(1)  # held while the button is down
    await page.mouse.up()

    await expect(page.get_by_test_id("answers")).to_contain_text(
        "Annotation for RO-302: Accepted (200)", timeout=WAIT
    )
    await expect(above).to_have_count(0, timeout=WAIT)  # drawn once it is up


async def test_what_people_typed_is_shown_as_text_never_as_markup(page, endpoint, fresh_sandbox):
    """A status paragraph with markup in it, as incoming sees it: the characters, no element made,
    no script run (the console writes text, and its Content-Security-Policy forbids inline script)."""
    markup = '<img src=x onerror="window.__pwned=1"> and <b>bold claims</b>'
    await start(endpoint)
    await inventory(endpoint.client, ID)
    async with endpoint.http(OUTGOING) as alice:
        given = await alice.post(
            f"/handovers/{ID}/incidents/Q1DISK7/status",
            json={
                "hypothesis": markup,
                "last_action": "restarted the pool",
                "next_action": "watch p99 latency",
            },
        )
    assert given.status_code == 200, given.text

    await page.goto(endpoint.url)
    await page.get_by_label("Your token").fill(TOKENS[INCOMING])
    await page.get_by_label("Your token").press("Enter")
    await expect(page.get_by_text(markup).first).to_be_visible(timeout=WAIT)
    assert await page.locator("img[src='x'], b:text('bold claims')").count() == 0
    assert await page.evaluate("window.__pwned") is None


async def test_the_temporal_ui_decodes_with_the_cookie_signing_in_gave_this_browser(
    page, dev_server_env, settings
):
    """`make run`'s set-up with payload encryption on, in Chromium: signing in to the console gives
    the browser its codec cookie; a page on the Temporal UI's origin (a stand-in on another port of
    the same host) then decodes with it when it includes credentials, and not without; signing out
    takes it away."""
    key = os.urandom(32)
    [plain] = pydantic_data_converter.payload_converter.to_payloads([{"hypothesis": "the vault key leaked"}])
    sealed = EncryptionCodec({"k": key}).encrypt(plain)
    body = json.dumps({"payloads": [json_format.MessageToDict(sealed)]})
    stand_in = Starlette(
        routes=[Route("/", lambda request: HTMLResponse("<!doctype html><title>UI</title>"))]
    )
    async with serving(stand_in) as ui:
        endpoint_settings = settings.model_copy(
            update={
                "payload_keys": SecretStr(f"k={base64.b64encode(key).decode()}"),
                "codec_cors_origins": [ui],
                "observers": [OBSERVER],
            }
        )
        app = create_app(endpoint_settings, client=dev_server_env.client, tokens=token_store())
        async with serving(app) as url:
            await page.goto(url)
            await page.get_by_label("Your token").fill(TOKENS[OBSERVER])
            await page.get_by_label("Your token").press("Enter")
            await expect(page.get_by_test_id("actor")).to_have_text(OBSERVER, timeout=WAIT)
            for _ in range(50):
                cookies = {c["name"]: c for c in await page.context.cookies()}
                if "handover_codec" in cookies:
                    break
                await page.wait_for_timeout(100)
            assert cookies["handover_codec"]["httpOnly"] and cookies["handover_codec"]["path"] == "/codec"

            decode = """async ([url, body, credentials]) => {
                const answer = await fetch(url + "/codec/decode", {method: "POST", credentials,
                    headers: {"content-type": "application/json"}, body});
                return [answer.status, await answer.text()];
            }"""
            await page.goto(ui)
            with_cookie = await page.evaluate(decode, [url, body, "include"])
            without = await page.evaluate(decode, [url, body, "omit"])
            await page.goto(url)
            await page.get_by_test_id("sign-out").click()
            await expect(page.get_by_label("Your token")).to_be_focused()
            for _ in range(50):
                if "handover_codec" not in {c["name"] for c in await page.context.cookies()}:
                    break
                await page.wait_for_timeout(100)
            left = {c["name"] for c in await page.context.cookies()}

    assert with_cookie[0] == 200, with_cookie
    [decoded] = json.loads(with_cookie[1])["payloads"]
    assert b"the vault key leaked" in base64.b64decode(decoded["data"])
    assert without[0] == 401, without
    assert "handover_codec" not in left, "signing out takes the cookie away"
