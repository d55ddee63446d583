"""What the Python tests share: the files docs/api.md tells an operator to make (certificates,
tokens, Python stubs), made by running the documented commands as they stand, so the docs cannot
drift from what works; and deploy/ configurations moved under a test's own directory."""

import os
import re
import subprocess

SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
API_DOC = os.path.join(SOURCE, "docs", "api.md")

# The files the documented certificates block makes, each with the mode it promises.
TLS_FILES = {"ca.pem": 0o644, "server.pem": 0o644, "client.pem": 0o644, "ca.key": 0o600,
             "server.key": 0o600, "client.key": 0o600, "admin.token": 0o600,
             "read-only.token": 0o600}


def documented_block(name, doc=API_DOC):
    """The fenced code block right after the marker `<!-- tested: NAME ... -->` in `doc`."""
    with open(doc, encoding="utf-8") as f:
        text = f.read()
    found = re.search(r"<!-- tested: " + re.escape(name) + r"\b[^>]*-->\n```\w*\n(.*?)\n```",
                      text, re.S)
    if not found:
        raise AssertionError(f"{doc} has no block marked 'tested: {name}'")
    return found.group(1) + "\n"


def run_documented_block(name, cwd):
    """Runs the block with bash in `cwd`, stopping at the first failing command."""
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", documented_block(name)], cwd=cwd,
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"docs/api.md's '{name}' commands failed in {cwd}:\n"
                             f"{result.stdout}{result.stderr}")


def make_tls_files(directory):
    """The CA, the agent's and a client's certificates and keys, and the admin and read-only
    tokens, made in `directory` by docs/api.md's commands (the server certificate names
    localhost and 127.0.0.1)."""
    run_documented_block("certificates", directory)


def relocated_config(text, root):
    """`text` (a pool.toml) with the host's absolute paths moved under `root`: the directories
    under /etc given the TLS files and tokens as docs/api.md makes them (each file the
    configuration names under /etc must be one of them), /srv made, the rest left to be
    created."""
    made = set()
    for path in sorted(set(re.findall(r'"(/(?:var|etc|run|srv)/[^"]+)"', text))):
        moved = root + path
        text = text.replace('"' + path + '"', '"' + moved + '"')
        if path.startswith("/etc/"):
            if os.path.dirname(moved) not in made:
                os.makedirs(os.path.dirname(moved))
                make_tls_files(os.path.dirname(moved))
                made.add(os.path.dirname(moved))
            if not os.path.exists(moved):
                raise AssertionError(f"{path} is not one of the files docs/api.md makes: "
                                     f"{', '.join(sorted(TLS_FILES))}")
        elif path.startswith("/srv/"):
            os.makedirs(moved, exist_ok=True)
    return text
