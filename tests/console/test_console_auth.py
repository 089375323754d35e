"""Sign-in, sessions and CSRF of the console; the machine-facing endpoints untouched by it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from seedbed import limits
from seedbed.admin_password import AdminPassword

from .conftest import CONSOLE_PASSWORD, Console

PAGES = ["/", "/?state=failed", "/?part=live", "/console/machines/gpu01",
         "/console/machines/gpu01?part=live", "/console/cluster", "/console/cluster?part=live",
         "/console/discovered/52:54:00:99:00:01", "/console/static/htmx-2.0.11.min.js",
         "/console/static/console.js", "/console"]


@pytest.mark.parametrize("path", PAGES)
def test_no_page_or_fragment_without_a_session(console: Console, path: str) -> None:
    page = console.get(path)
    assert (page.status_code, page.headers.get("Location"), page.data) == (303, "/console/login", b"")
    fragment = console.get(path, headers={"HX-Request": "true"})
    assert (fragment.status_code, fragment.headers.get("HX-Redirect")) == (401, "/console/login")


def test_only_the_style_sheet_is_public(console: Console) -> None:
    assert console.get("/console/static/console.css").status_code == 200
    assert console.get("/console/static/htmx-LICENSE.txt").status_code == 303


def test_the_live_stream_needs_a_session(console: Console) -> None:
    answer = console.get("/console/live", headers={"Accept": "text/event-stream"})
    assert answer.status_code == 401 and answer.mimetype == "text/plain"


def test_root_shows_the_sign_in_and_tells_a_first_user_how_to_set_the_password(console: Console) -> None:
    AdminPassword(console.service.settings.state_dir).path.unlink()
    assert console.get("/").headers["Location"] == "/console/login"
    page = console.get("/console/login").get_data(as_text=True)
    assert "No admin password is set yet" in page
    assert f"seedbed admin password --state {console.service.settings.state_dir}" in page
    assert console.sign_in("anything-at-all").status_code == 401  # no password: nothing matches


def test_sign_in_sets_a_signed_httponly_samesite_strict_cookie(console: Console) -> None:
    answer = console.sign_in()
    assert (answer.status_code, answer.headers["Location"]) == (303, "/")
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert console.get("/").status_code == 200
    events = [e.message for e in console.service.store.events(None)]
    assert any(m.startswith("console sign-in by admin from") for m in events), events


def test_a_tampered_cookie_is_no_session(console: Console) -> None:
    console.sign_in()
    value = console.client.get_cookie("seedbed_console").value
    forged = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    console.client.set_cookie("seedbed_console", forged)
    assert console.get("/").status_code == 303


def test_a_wrong_password_is_refused_and_recorded(console: Console) -> None:
    answer = console.sign_in("not-the-password")
    assert answer.status_code == 401 and "not the admin password" in answer.get_data(as_text=True)
    assert console.get("/").status_code == 303
    assert any("sign-in refused" in e.message for e in console.service.store.events(None))


def test_an_admin_api_token_signs_in_too(console: Console) -> None:
    answer = console.sign_in(console.api_token)
    assert answer.status_code == 303
    assert "token:console-tests" in console.get("/").get_data(as_text=True)


def test_failed_sign_ins_are_limited_per_address(console: Console) -> None:
    for _ in range(limits.CONSOLE_LOGIN_FAILURES):
        assert console.sign_in("wrong-guess-123").status_code == 401
    blocked = console.sign_in()  # even the right password waits now
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
    assert console.get("/").status_code == 303
    other = console.client.post("/console/login", data={"password": CONSOLE_PASSWORD,
                                                        "csrf": console.csrf()},
                                environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other.status_code == 303, "another address is not blocked"


def test_a_new_password_ends_the_sessions_signed_with_the_old(signed_in: Console) -> None:
    assert signed_in.get("/").status_code == 200
    AdminPassword(signed_in.service.settings.state_dir).set("a-brand-new-password")
    assert signed_in.get("/").status_code == 303


def test_posts_without_the_csrf_token_are_refused_and_change_nothing(signed_in: Console) -> None:
    form = {"minutes": "30", "confirm": "yes"}
    for data in (form, {**form, "csrf": "forged-token"}):
        answer = signed_in.post("/console/machines/gpu02/reinstall", data=data)
        assert answer.status_code == 403 and "CSRF" in answer.get_data(as_text=True)
    assert signed_in.service.store.node("gpu02").state == "new"
    assert signed_in.post("/console/logout", data={}).status_code == 403
    assert signed_in.post("/console/login", data={"password": CONSOLE_PASSWORD}).status_code == 403


def test_a_post_with_csrf_but_no_session_is_sent_to_sign_in(console: Console) -> None:
    csrf = console.csrf()  # an anonymous visitor's token from the sign-in page
    answer = console.post("/console/machines/gpu02/reinstall",
                          data={"minutes": "30", "confirm": "yes", "csrf": csrf})
    assert answer.status_code == 303 and answer.headers["Location"] == "/console/login"
    assert console.service.store.node("gpu02").state == "new"


def test_sign_out_ends_the_session(signed_in: Console) -> None:
    csrf = signed_in.csrf("/")
    assert signed_in.post("/console/logout", data={"csrf": csrf}).status_code == 303
    assert signed_in.get("/").status_code == 303
    assert any(e.message == "console sign-out by admin" for e in signed_in.service.store.events(None))


def test_machine_endpoints_answer_as_before_and_set_no_cookie(signed_in: Console) -> None:
    client = signed_in.client
    client.delete_cookie("seedbed_console")
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json["status"] == "ok"
    assert "Set-Cookie" not in health.headers
    unknown = client.get("/no-such-path")
    assert unknown.status_code == 404 and unknown.json == {"error": unknown.json["error"]}
    assert client.get("/api/v1/nodes").status_code == 401
    script = client.get("/ipxe?mac=52:54:00:00:00:02")
    assert script.status_code == 200 and "Set-Cookie" not in script.headers


def test_secret_key_and_password_files_are_private(console: Console) -> None:
    state = console.service.settings.state_dir
    for name in ("console-secret", "admin-password"):
        assert stat.S_IMODE(os.stat(state / name).st_mode) == 0o600, name
    assert (state / "admin-password").read_text().startswith("scrypt$32768$8$1$")


def _cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seedbed.cli", *args], input=stdin, text=True,
                          capture_output=True, timeout=60)


def test_seedbed_admin_password_reads_stdin_never_argv(tmp_path) -> None:  # noqa: ANN001
    state = tmp_path / "state"
    done = _cli("admin", "password", "--state", str(state), stdin="typed-on-stdin-1\n")
    assert done.returncode == 0, done.stderr
    assert AdminPassword(state).check("typed-on-stdin-1")
    assert stat.S_IMODE(os.stat(state / "admin-password").st_mode) == 0o600
    assert "typed-on-stdin-1" not in done.stdout + done.stderr
    refused = _cli("admin", "password", "given-as-argument", "--state", str(state))
    assert refused.returncode == 2, "a password on the command line must not be accepted"
    short = _cli("admin", "password", "--state", str(state), stdin="short\n")
    assert short.returncode == 1 and "at least" in short.stderr
    assert AdminPassword(state).check("typed-on-stdin-1"), "a refused password changed the file"
