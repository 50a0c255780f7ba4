"""Drives the operator console in headless Chromium (Playwright, pointed at the system's Chromium).

Environment: CONSOLE_URL (…/tw), CONSOLE_TOKEN, RUN_ID (a run waiting for two approvals), CHROMIUM, ARTIFACTS
(where each page's screenshot is saved). Signs in, opens the runs list and the waiting run (kept open in a second
tab), approves the first waiting call and denies the other with a reason in the inbox, and waits for the run's page
to show the run finished without being reloaded. Exits non-zero (with the reason) on anything unexpected: a dialog
(a hostile text that ran), a missing element, a page that does not update.
"""
import os
import sys

from playwright.sync_api import expect, sync_playwright

url, token, run_id = os.environ["CONSOLE_URL"], os.environ["CONSOLE_TOKEN"], os.environ["RUN_ID"]
artifacts = os.environ["ARTIFACTS"]
dialogs = []


def shot(page, name):
    page.screenshot(path=os.path.join(artifacts, name + ".png"), full_page=True)


with sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path=os.environ["CHROMIUM"], headless=True, args=["--no-sandbox"])
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.on("page", lambda page: page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss())))
    page = context.new_page()
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    response = page.goto(url + "/runs")
    assert response.status == 401, f"unauthenticated: {response.status}"
    shot(page, "login")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url("**/tw/runs")
    expect(page.locator("main table")).to_contain_text(run_id)
    shot(page, "runs")

    run_page = context.new_page()
    run_page.goto(url + "/runs/" + run_id)
    expect(run_page.locator("#live")).to_be_visible()
    expect(run_page.locator("main")).to_contain_text("Waiting for a decision")
    shot(run_page, "run-waiting")

    page.goto(url + "/approvals")
    approvals = page.locator(".approval")
    expect(approvals).to_have_count(2)
    expect(approvals.nth(0)).to_contain_text("<script>alert('x')</script>")  # shown as text, never run
    shot(page, "approvals")
    approvals.nth(0).locator("button.approve").click()
    page.wait_for_url("**/tw/approvals?notice=*")
    remaining = page.locator(".approval")
    expect(remaining).to_have_count(1)
    remaining.locator("form:has(button.deny) input[name=reason]").fill("not this one")
    remaining.locator("button.deny").click()
    page.wait_for_url("**/tw/approvals?notice=*")
    expect(page.locator(".approval")).to_have_count(0)

    # The run's tab, never reloaded by hand, follows the run to its end.
    run_page.wait_for_selector("body[data-ended='1']", timeout=60_000)
    expect(run_page.locator("main")).to_contain_text("completed")
    expect(run_page.locator("main")).to_contain_text("approval_denied")
    shot(run_page, "run-finished")

    page.goto(url + "/queue")
    expect(page.locator("main")).to_contain_text("Jobs")
    shot(page, "queue")
    page.goto(url + "/usage")
    expect(page.locator("main h1")).to_have_text("Usage")
    shot(page, "usage")

    assert not dialogs, f"a dialog opened (hostile text ran): {dialogs}"
    assert run_page.title() != "pwned" and page.title() != "pwned", "a hostile script ran"
    browser.close()
print("console browser test passed")
