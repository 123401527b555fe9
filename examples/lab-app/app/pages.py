"""The HTML pages. Element ids are a contract with the lab's HTTPS client and the browser
test (see README.md): change them only together with those.

Every string that came from a user (names, form values) goes through ``esc`` before it is
put in a page; nothing here reads requests or files.
"""

import html
import platform

TABS = (
    ("history", "History"),
    ("requests", "Requests"),
    ("receive", "Receive"),
    ("send", "Send"),
    ("sign", "Sign"),
    ("wallet", "Wallet"),
)
DEFAULT_TAB = "wallet"

_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 46em; color: #222; }
nav a { margin-right: 1em; }
nav a.active { font-weight: bold; }
#error { color: #b00; }
code { background: #eee; padding: 0.1em 0.3em; }
"""


def esc(value):
    """``value`` escaped for HTML text and double- or single-quoted attributes."""
    return html.escape(str(value), quote=True)


def title():
    """The page title, after the machine the wallet runs on."""
    return f"Bitcoin Wallet on {platform.machine()} Linux"


def _page(heading, body):
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{esc(heading)}</title><style>{_STYLE}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


def _credentials_form(kind, action_label, username, error):
    error_html = f'<p id="error">{esc(error)}</p>\n' if error else ""
    return (
        f"{error_html}"
        f'<form id="{kind}-form" method="post" action="/electrum/{kind}">\n'
        f'<p><label for="username">User name</label> '
        f'<input id="username" name="username" value="{esc(username)}" '
        'autocomplete="username" required maxlength="32"></p>\n'
        f'<p><label for="password">Password</label> '
        f'<input id="password" name="password" type="password" required '
        f'autocomplete="{"new-password" if kind == "register" else "current-password"}"></p>\n'
        f'<p><button id="{kind}-submit" type="submit">{action_label}</button></p>\n'
        "</form>"
    )


def login(username="", error=None):
    """The login page, with a link to registration."""
    body = (
        f"<h1>{esc(title())}</h1>\n<h2>Log in</h2>\n"
        + _credentials_form("login", "Log in", username, error)
        + '\n<p>No account yet? <a id="register-link" href="/electrum/register">Register</a></p>'
    )
    return _page("Log in", body)


def register(username="", error=None):
    """The registration page."""
    body = (
        f"<h1>{esc(title())}</h1>\n<h2>Register</h2>\n"
        + _credentials_form("register", "Register", username, error)
        + '\n<p>Have an account? <a id="login-link" href="/electrum/login">Log in</a></p>'
    )
    return _page("Register", body)


def _offline_note():
    return (
        '<p id="offline-note">This wallet is on Bitcoin testnet and has no network '
        "connection: nothing can be broadcast from here.</p>"
    )


def _tab_body(tab, wallet):
    if wallet is None and tab != "wallet":
        return '<p id="no-wallet">No wallet yet: create one on the Wallet tab.</p>'
    if tab == "wallet":
        if wallet is None:
            return (
                "<p>You have no wallet yet.</p>\n"
                '<form id="create-wallet-form" method="post" action="/electrum/wallet">'
                '<button id="create-wallet" type="submit">Create wallet</button></form>'
            )
        return (
            f'<p>Wallet file: <code id="wallet-file">{esc(wallet["file"])}</code></p>\n'
            f"<p>Network: testnet, one P2WPKH key.</p>\n{_offline_note()}"
        )
    if tab == "receive":
        return (
            "<p>Receive address:</p>\n"
            f'<p><code id="receive-address">{esc(wallet["address"])}</code></p>\n'
            f"{_offline_note()}"
        )
    if tab == "history":
        return f'<p id="empty-history">No transactions.</p>\n{_offline_note()}'
    if tab == "requests":
        return f'<p id="empty-requests">No payment requests.</p>\n{_offline_note()}'
    if tab == "send":
        return (
            '<p id="send-unavailable">Sending is not possible here: a transaction could not '
            f"be broadcast without a network.</p>\n{_offline_note()}"
        )
    return (
        '<p id="sign-unavailable">Signing is not offered here: a signed transaction could '
        f"not be broadcast without a network.</p>\n{_offline_note()}"
    )


def wallet_page(user, tab, wallet):
    """The wallet page of ``user`` on ``tab``; ``wallet`` is None or a dict with ``file``
    (its file name) and ``address``."""
    nav = "\n".join(
        f'<a id="tab-{name}" href="/electrum?tab={name}"'
        + (' class="active" aria-current="page"' if name == tab else "")
        + f">{label}</a>"
        for name, label in TABS
    )
    body = (
        f'<h1 id="title">{esc(title())}</h1>\n'
        f'<p>Logged in as <span id="user">{esc(user)}</span></p>\n'
        '<form id="logout-form" method="post" action="/electrum/logout">'
        '<button id="logout" type="submit">Log out</button></form>\n'
        f"<nav>\n{nav}\n</nav>\n"
        f'<section id="tab-{tab}-panel">\n{_tab_body(tab, wallet)}\n</section>'
    )
    return _page(title(), body)


def not_found():
    """The 404 page."""
    return _page("Not found", '<h1>Not found</h1>\n<p><a href="/electrum">Wallet</a></p>')
