"""A stand-in for the Secure Bitcoin Wallet of the HPVS secure build lab: HTTPS on port 443,
a login, one testnet key per user, and the Electrum web front end's tabs.

Why a stand-in: the lab needs a workload that behaves like the real one at the points the
lab looks at (a self-signed HTTPS endpoint at /electrum, register and log in, create a
wallet, see a tb1 address, data kept in /data across restarts) and that builds from a
Debian base with python3 alone, with no network at build or run time.

Configuration needs no environment. For tests only, these override the defaults:
WALLET_PORT (443), WALLET_BIND (0.0.0.0), WALLET_DATA_DIR (/data),
WALLET_CERT (/run/wallet/cert.pem), WALLET_KEY (/run/wallet/key.pem).
"""

import http.cookies
import http.server
import os
import ssl
import sys
import urllib.parse

import pages
import store

MAX_BODY = 16 * 1024
HANDSHAKE_TIMEOUT = 30


class Handler(http.server.BaseHTTPRequestHandler):
    """One request: routes /electrum and its subpaths."""

    server_version = "lab-wallet"
    protocol_version = "HTTP/1.1"
    timeout = HANDSHAKE_TIMEOUT

    # --- plumbing -------------------------------------------------------------------

    def version_string(self):
        """The Server header: the app's name, without Python's version."""
        return self.server_version

    def _send(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'",
        )
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _html(self, status, text, headers=()):
        self._send(
            status,
            text.encode("utf-8"),
            [("Content-Type", "text/html; charset=utf-8"), *headers],
        )

    def _redirect(self, location, headers=()):
        self._send(303, b"", [("Location", location), *headers])

    def _token(self):
        cookie = http.cookies.SimpleCookie()
        try:
            cookie.load(self.headers.get("Cookie", ""))
        except http.cookies.CookieError:
            return None
        morsel = cookie.get("session")
        return morsel.value if morsel else None

    def _user(self):
        return self.server.store.session_user(self._token())

    def _form(self):
        """The url-encoded form of a POST body (at most MAX_BODY bytes), or None."""
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            return None
        if length < 0 or length > MAX_BODY:
            return None
        raw = self.rfile.read(length).decode("utf-8", errors="replace")
        fields = urllib.parse.parse_qs(raw, keep_blank_values=True, max_num_fields=16)
        return {key: values[0] for key, values in fields.items()}

    def _session_cookie(self, token):
        return ("Set-Cookie", f"session={token}; HttpOnly; Secure; SameSite=Strict; Path=/")

    # --- routes ---------------------------------------------------------------------

    def do_GET(self):
        """GET /, /electrum, /electrum/login, /electrum/register."""
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/":
            return self._redirect("/electrum")
        if url.path == "/electrum/login":
            return self._html(200, pages.login())
        if url.path == "/electrum/register":
            return self._html(200, pages.register())
        if url.path != "/electrum":
            return self._html(404, pages.not_found())
        user = self._user()
        if user is None:
            return self._redirect("/electrum/login")
        tab = urllib.parse.parse_qs(url.query).get("tab", [pages.DEFAULT_TAB])[0]
        if tab not in dict(pages.TABS):
            tab = pages.DEFAULT_TAB
        record = self.server.store.wallet(user)
        wallet = None
        if record is not None:
            wallet = {"file": os.path.basename(self.server.store.wallet_path(user)),
                      "address": record["address"]}
        return self._html(200, pages.wallet_page(user, tab, wallet))

    def do_HEAD(self):
        """HEAD as GET without a body."""
        return self.do_GET()

    def do_POST(self):
        """POST /electrum/register, /electrum/login, /electrum/logout, /electrum/wallet."""
        path = urllib.parse.urlsplit(self.path).path
        form = self._form()
        if form is None:
            return self._send(413 if self.headers.get("Content-Length") else 400)
        if path in ("/electrum/register", "/electrum/login"):
            return self._credentials(path.rsplit("/", 1)[1], form)
        if path == "/electrum/logout":
            self.server.store.end_session(self._token())
            expired = ("Set-Cookie", "session=; HttpOnly; Secure; SameSite=Strict; Path=/; "
                       "Max-Age=0")
            return self._redirect("/electrum/login", [expired])
        if path == "/electrum/wallet":
            user = self._user()
            if user is None:
                return self._redirect("/electrum/login")
            self.server.store.create_wallet(user)
            return self._redirect("/electrum?tab=receive")
        return self._html(404, pages.not_found())

    def _credentials(self, kind, form):
        """Register or log in; on success a new session and 303 to /electrum."""
        page = pages.register if kind == "register" else pages.login
        name = form.get("username", "")
        password = form.get("password", "")
        if not name or not password:
            return self._html(400, page(name, "User name and password are required."))
        if not store.valid_username(name):
            return self._html(
                400, page(name, "A user name is 1 to 32 letters, digits, '_', '.' or '-'.")
            )
        if kind == "register":
            try:
                self.server.store.register(name, password)
            except store.UserExists:
                return self._html(409, page(name, "That user name is taken."))
        elif not self.server.store.check_password(name, password):
            return self._html(401, page(name, "Wrong user name or password."))
        token = self.server.store.new_session(name)
        return self._redirect("/electrum", [self._session_cookie(token)])


class WalletServer(http.server.ThreadingHTTPServer):
    """A threading HTTP server whose connections are wrapped in TLS in their own thread,
    so that a client stalling in the handshake does not block others."""

    daemon_threads = True

    def __init__(self, address, context, wallet_store):
        self.context = context
        self.store = wallet_store
        super().__init__(address, Handler)

    def finish_request(self, request, client_address):
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            connection = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        super().finish_request(connection, client_address)


def tls_context(cert, key):
    """A server TLS context (TLS 1.2 or later) with ``cert`` and ``key`` (PEM files)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def main():
    """Starts the server with the defaults or the WALLET_* overrides."""
    port = int(os.environ.get("WALLET_PORT", "443"))
    bind = os.environ.get("WALLET_BIND", "0.0.0.0")
    data_dir = os.environ.get("WALLET_DATA_DIR", "/data")
    cert = os.environ.get("WALLET_CERT", "/run/wallet/cert.pem")
    key = os.environ.get("WALLET_KEY", "/run/wallet/key.pem")
    server = WalletServer((bind, port), tls_context(cert, key), store.Store(data_dir))
    print(f"wallet: serving https on {bind}:{server.server_address[1]}, data in {data_dir}",
          file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
