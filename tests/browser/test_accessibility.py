"""The login and the main navigation with the keyboard alone (SPEC §7: labels, keyboard, works without
JavaScript). axe-core on every page of every role: tests/browser/test_every_page.py."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, login


def test_login_and_navigation_work_with_the_keyboard_alone(page: Page, person):
    user = person("coordinator")
    page.goto("/anmelden")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Zum Inhalt springen")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")  # from the main landmark into the form
    while not page.get_by_label("E-Mail-Adresse").evaluate("el => el === document.activeElement"):
        page.keyboard.press("Tab")
    page.keyboard.type(user.email)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Passwort")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/programm(#inhalt)?$"))  # the skip link's fragment stays

    # Every link of the main navigation is reached with Tab, and the focus is visible (outline or shadow).
    nav_links = (
        page.get_by_role("navigation", name="Hauptnavigation").locator("ul.navbar-nav a").all_inner_texts()
    )
    reached: dict[str, str] = {}
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => { const el = document.activeElement;
                       return [el.closest('ul.navbar-nav') ? el.textContent.trim() : '',
                               getComputedStyle(el).outlineStyle + ' / ' + getComputedStyle(el).boxShadow]; }"""
        )
        if focused[0]:
            reached[focused[0]] = focused[1]
        if len(reached) == len(nav_links):
            break
    assert sorted(reached) == sorted(text.strip() for text in nav_links)
    assert all(style != "none / none" for style in reached.values()), reached


def test_on_a_phone_the_menu_folds_and_opens_without_javascript(browser, live_url, person):
    """At 390 px the navigation is behind "Menü" (a <details>), which opens with the keyboard even with
    JavaScript switched off; from 992 px up the links show and there is no "Menü"."""
    user = person("coordinator")
    phone = browser.new_context(
        base_url=live_url, locale="de-DE", viewport={"width": 390, "height": 800}, java_script_enabled=False
    )
    page = phone.new_page()
    login(page, user.email)
    nav = page.get_by_role("navigation", name="Hauptnavigation")
    menu = nav.locator("details.nav-menu > summary")
    expect(menu).to_have_text(re.compile("Menü"))
    expect(nav.get_by_role("link", name="Bewerbungen")).to_be_hidden()
    expect(nav.get_by_role("button", name="Abmelden")).to_be_hidden()
    menu.focus()
    page.keyboard.press("Enter")
    expect(nav.get_by_role("link", name="Bewerbungen")).to_be_visible()
    expect(nav.get_by_role("button", name="Abmelden")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    nav.get_by_role("link", name="Bewerbungen").click()
    expect(page).to_have_url(re.compile(r"/programm/bewerbungen$"))
    phone.close()

    desk = browser.new_context(base_url=live_url, locale="de-DE", viewport={"width": 1024, "height": 800})
    page = desk.new_page()
    login(page, user.email)
    nav = page.get_by_role("navigation", name="Hauptnavigation")
    expect(nav.locator("details.nav-menu > summary")).to_be_hidden()
    expect(nav.get_by_role("link", name="Bewerbungen")).to_be_visible()
    expect(nav.get_by_role("button", name="Abmelden")).to_be_visible()
    desk.close()
