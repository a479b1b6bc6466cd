"""The web console's logins (httpd_auth), at the HTTP level, against real circushttpd and circusd."""

import http.client
import ssl
import subprocess
import sys

import pytest
from test_web_http import Session, console, start_circusd  # noqa: F401  (console: the fixture)

from helpers import REPO_ROOT, until

PASSWORD = "correct horse battery"


def hash_password(password):
    result = subprocess.run([sys.executable, "-c", "from circus.web import circushttpd; circushttpd.main()",
                             "--hash-password"], input=password + "\n", capture_output=True, text=True,
                            env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def users(tmp_path):
    path = tmp_path / "users"
    path.write_text("# the console's users\nalice:%s\n" % hash_password(PASSWORD))
    return path


def login(session, password=PASSWORD, user="alice", next_page="/"):
    session.get("/login")  # the _xsrf cookie
    return session.post("/login", {"username": user, "password": password, "next": next_page})


def get_with_cookie(port, path, cookie):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Cookie": cookie})
        return connection.getresponse().status
    finally:
        connection.close()


def session_cookie(headers):
    return next(value for key, value in headers.items() if key == "Set-Cookie" and "circus_session=" in value)


def test_hash_password_gives_an_scrypt_line_that_differs_each_time():
    first, second = hash_password("pw"), hash_password("pw")
    assert first.startswith("scrypt$16384$8$1$") and first.count("$") == 5 and first != second


def test_pages_need_a_login_and_a_login_opens_them(circusd, console, users, tmp_path):
    daemon = start_circusd(circusd, tmp_path)
    web = console("--endpoint", daemon.endpoint, "--auth", users)
    session = Session(web.url)
    status, headers, _ = session.get("/watchers/sleeper")
    assert status == 302 and headers["Location"] == "/login?next=%2Fwatchers%2Fsleeper"
    status, _, body = session.get("/login")
    assert status == 200 and 'name="password"' in body and 'name="_xsrf"' in body
    # An action without a session is refused, even with the token.
    assert session.post("/watchers/sleeper/incr")[0] == 403
    status, headers, _ = login(session, next_page="/watchers/sleeper")
    assert status == 302 and headers["Location"] == "/watchers/sleeper"
    cookie = session_cookie(headers)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=28800" in cookie
    assert "Secure" not in cookie  # plain HTTP
    status, _, body = session.get("/watchers/sleeper")
    assert status == 200 and "sleeper" in body and 'id="logout"' in body
    # Logging out ends the session: the same cookie, kept elsewhere, no longer opens pages.
    token = cookie.split(";")[0]
    assert get_with_cookie(web.port, "/", token) == 200
    assert session.post("/logout")[0] == 302
    assert session.get("/")[0] == 302
    assert get_with_cookie(web.port, "/", token) == 302


def test_wrong_password_and_unknown_user_are_refused_and_throttled(console, users):
    web = console("--auth", users)
    session = Session(web.url)
    for user, password in (("alice", "wrong"), ("mallory", PASSWORD)):
        status, headers, body = login(session, password, user)
        assert status == 200 and "wrong user name or password" in body
        assert "circus_session" not in headers.get("Set-Cookie", "")
    for _ in range(3):
        assert "wrong user name or password" in login(session, "wrong")[2]
    # The sixth failure within a minute: refused without checking, even the right password.
    status, _, body = login(session)
    assert status == 429 and "too many failed logins" in body
    assert "failed login for 'mallory'" in web.log()


def test_a_session_expires(console, users):
    web = console("--auth", users, "--session-timeout", "1")
    session = Session(web.url)
    assert login(session)[0] == 302
    assert session.get("/")[0] == 200
    until(lambda: session.get("/")[0] == 302, 10, what="the session to expire")


def test_forms_need_the_csrf_token(console, users):
    web = console("--auth", users)
    session = Session(web.url)
    session.get("/login")
    status, headers, _ = session.post("/login", {"username": "alice", "password": PASSWORD}, xsrf=False)
    assert status == 403 and "circus_session" not in headers.get("Set-Cookie", "")
    assert login(session)[0] == 302
    assert session.post("/disconnect", xsrf=False)[0] == 403
    assert session.post("/logout", xsrf=False)[0] == 403
    assert session.get("/")[0] == 200  # still logged in


def test_the_websocket_needs_a_session(console, users):
    web = console("--auth", users)
    connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
    connection.request("GET", "/socket", headers={
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Origin": web.url})
    assert connection.getresponse().status == 403
    connection.close()


def test_tls_and_a_secure_cookie(console, users, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                    "-keyout", key, "-out", cert, "-days", "1"], check=True, capture_output=True, timeout=60)
    web = console("--auth", users, "--certfile", cert, "--keyfile", key)
    assert "listening on https://" in web.log()
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    connection = http.client.HTTPSConnection("127.0.0.1", web.port, timeout=10, context=context)
    connection.request("GET", "/login")
    response = connection.getresponse()
    body = response.read().decode()
    assert response.status == 200
    xsrf = next(v for k, v in response.getheaders() if k == "Set-Cookie" and v.startswith("_xsrf="))
    token = xsrf.split(";")[0].split("=", 1)[1]
    form = "username=alice&password=%s&_xsrf=%s" % (PASSWORD.replace(" ", "+"), token)
    connection.request("POST", "/login", body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": "_xsrf=%s" % token})
    response = connection.getresponse()
    response.read()
    assert response.status == 302 and 'name="password"' in body
    assert "Secure" in session_cookie(response.headers)
    connection.close()


def test_circusd_hands_the_console_its_auth_and_refuses_a_bad_file(circusd, users, tmp_path):
    bad = tmp_path / "bad-users"
    bad.write_text("alice:plaintext\n")
    daemon = circusd()
    daemon.write_ini("[watcher:w]\ncmd = sleep 100\n", circus={"httpd": "true", "httpd_port": 0,
                                                              "httpd_auth": bad})
    rc, _out, err = daemon.run()
    assert rc == 1 and "httpd_auth file %s, line 1" % bad in err and len(err.strip().splitlines()) == 1


def test_circusd_runs_the_console_with_its_login(circusd, users, tmp_path):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    daemon = circusd()
    daemon.write_ini("[watcher:w]\ncmd = sleep 100\n", circus={
        "httpd": "true", "httpd_host": "127.0.0.1", "httpd_port": port, "httpd_auth": users,
        "httpd_session_timeout": 60})
    daemon.start()
    session = Session("http://127.0.0.1:%d" % port)

    def answers():
        try:
            return session.get("/")[0]
        except OSError:
            return None

    assert until(answers, 20, what="the console circusd runs") == 302
    status, headers, _ = login(session)
    assert status == 302 and "Max-Age=60" in session_cookie(headers)
    assert session.get("/")[0] == 200
