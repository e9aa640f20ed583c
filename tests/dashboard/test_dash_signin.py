"""Signing in and out, sessions, API tokens and CSRF, against the real dashboard process."""

from __future__ import annotations

import httpx
from dash_support import *  # noqa: F403
from dash_support import PASSWORD, Estate, axe_check, http_page, screenshot, sign_in


def test_pages_need_a_session(estate: Estate) -> None:
    response = httpx.get(estate.url + "/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=/"


def test_wrong_password_is_refused_with_the_same_words(estate: Estate) -> None:
    with httpx.Client(base_url=estate.url) as client:
        known = client.post(
            "/sign-in", data={"email": estate.accounts["officer"].email, "password": "nope"}
        )
        unknown = client.post("/sign-in", data={"email": "nobody@example.org", "password": "nope"})
        assert known.status_code == unknown.status_code == 400
        assert "The email address or password is not right" in known.text
        assert "The email address or password is not right" in unknown.text
        assert "hof_session" not in client.cookies


def test_sign_in_sets_a_safe_cookie_and_sign_out_ends_it(estate: Estate) -> None:
    with http_page(estate, "officer") as client:
        cookie = next(c for c in client.cookies.jar if c.name == "hof_session")
        assert cookie.has_nonstandard_attr("HttpOnly")
        start = client.get("/")
        assert start.status_code == 303
        assert start.headers["location"] == "/estate"
        # Sign-out needs the session's form token: a forged cross-site form cannot end it.
        assert client.post("/sign-out", data={"csrf": "forged"}).status_code == 403
        assert client.get("/").status_code == 303


def test_api_needs_a_token_and_refuses_a_wrong_one(estate: Estate) -> None:
    assert httpx.get(estate.url + "/api/openapi.json").status_code == 200
    bad = httpx.get(estate.url + "/api/v1/me", headers={"Authorization": "Bearer hof_not-a-token"})
    assert bad.status_code == 401
    assert bad.json()["detail"] == "the API token is unknown or revoked"


def test_next_is_only_followed_on_this_site(estate: Estate) -> None:
    response = httpx.post(
        estate.url + "/sign-in",
        data={
            "email": estate.accounts["admin"].email,
            "password": PASSWORD,
            "next": "//evil.example/",
        },
    )
    assert response.status_code == 303
    assert not response.headers["location"].startswith("//")


def test_sign_in_page_in_a_browser(estate: Estate, browser: object) -> None:
    context = browser.new_context(base_url=estate.url)  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto("/sign-in")
    axe_check(page)
    screenshot(page, "sign-in")
    page.get_by_label("Email address").fill(estate.accounts["officer"].email)
    page.get_by_label("Password").fill("wrong password here")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").is_visible()
    axe_check(page)
    screenshot(page, "sign-in-error")
    context.close()
    signed = sign_in(browser, estate, "officer")
    signed.goto("/api/v1/me")
    assert "housing_officer" in signed.content()
    signed.context.close()


def test_a_token_acts_as_its_account(estate: Estate) -> None:
    with estate.api("officer") as api:
        me = api.get("/api/v1/me").json()
    assert me["role"] == "housing_officer"
    assert me["patches"] == ["North"]
    assert me["sees_health_data"] is False
