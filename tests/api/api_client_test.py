#!/usr/bin/python3
"""docs/api.md's orchestrator, done as the docs say: their openssl commands make the CA,
certificates and tokens, their protoc command the Python stubs, and
docs/examples/orchestrator_client.py calls a real pool-agent run with
deploy/examples/fleet-mtls.toml (on a loopback port) over mutual TLS: with the read-only token,
the admin token, a client certificate alone, and without a client certificate. The model comes
from the fake Hub. What is checked is what the orchestrator gets: host facts, codes, the
ErrorHint, progress events, the result, and the file on disk.

Usage: api_client_test.py BIN_DIR FAKE_HUB_SERVER WORK_DIR (the stubs are generated there)."""

import hashlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
from documented_files import (  # noqa: E402  (after the path it needs)
    API_DOC, SOURCE, TLS_FILES, relocated_config, run_documented_block)

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
FAKE_HUB = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else "fake_hub_server")
WORK = os.path.abspath(sys.argv[3] if len(sys.argv) > 3 else ".")
EXAMPLE = os.path.join(SOURCE, "docs", "examples", "orchestrator_client.py")
SIZE = 3 * 1024 * 1024 + 17  # the model's bytes: several reads, not a round number


def generate_stubs():
    """docs/api.md's stubs commands, run in WORK with the checkout's proto/: the gen directory."""
    os.makedirs(WORK, exist_ok=True)
    proto = os.path.join(WORK, "proto")
    if not os.path.islink(proto):
        os.symlink(os.path.join(SOURCE, "proto"), proto)
    run_documented_block("stubs", WORK)
    return os.path.join(WORK, "gen")


GEN = generate_stubs()
sys.path.insert(0, GEN)
sys.path.insert(0, os.path.dirname(EXAMPLE))
import orchestrator_client as client  # noqa: E402  (needs the stubs)
from llorch.pool.v1 import model_pb2, operation_pb2  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OrchestratorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        root = cls.tmp.name
        cls.hub = subprocess.Popen([FAKE_HUB, "--ready", os.path.join(root, "hub.ready"),
                                    "--model", "test/tiny", "tiny.gguf", str(SIZE)])
        for _ in range(200):
            if os.path.exists(os.path.join(root, "hub.ready")):
                break
            time.sleep(0.05)
        with open(os.path.join(root, "hub.ready"), encoding="utf-8") as f:
            endpoint = f.read().strip()
        catalog = os.path.join(root, "catalog.toml")
        with open(catalog, "w", encoding="utf-8") as f:
            f.write('[[models]]\nid = "tiny"\nname = "Tiny"\nrepo = "test/tiny"\n'
                    f'file = "tiny.gguf"\ndir = "tiny"\nsize_bytes = {SIZE}\nverified = true\n')

        # The fleet example as it stands, its paths moved here and its TCP port a free one.
        with open(os.path.join(SOURCE, "deploy", "examples", "fleet-mtls.toml"),
                  encoding="utf-8") as f:
            fleet = f.read()
        cls.address = f"127.0.0.1:{free_port()}"
        listeners = {'"0.0.0.0:9200"': f'"{cls.address}"',  # the host's socket is not ours
                     '"unix:/run/llorch/pool-agent.sock"': f'"unix:{root}/pool-agent.sock"'}
        for example, here in listeners.items():
            assert example in fleet, "the fleet example no longer listens on " + example
            fleet = fleet.replace(example, here)
        config = relocated_config(fleet, root)
        cls.models_dir = re.search(r'models_dir = "([^"]+)"', config).group(1)
        cls.tls = os.path.join(root, "etc", "llorch", "tls")
        config_file = os.path.join(root, "pool.toml")
        with open(config_file, "w", encoding="utf-8") as f:
            f.write(config)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": root,
               "XDG_CONFIG_HOME": os.path.join(root, "config"),
               "XDG_RUNTIME_DIR": os.path.join(root, "run"), "LLORCH_CATALOG": catalog,
               "HF_ENDPOINT": endpoint, "LLORCH_NVML_LIBRARY": "none"}
        cls.agent_log = open(os.path.join(root, "agent.log"), "w+", encoding="utf-8")
        cls.agent = subprocess.Popen([os.path.join(BIN, "pool-agent"), "--config", config_file],
                                     env=env, cwd=root, stdout=cls.agent_log,
                                     stderr=subprocess.STDOUT)
        # Ready when a call gets through (the agent needs a moment to listen).
        probe = cls.connect(token="read-only.token")
        try:
            for _ in range(200):
                if cls.agent.poll() is not None:
                    break
                try:
                    probe.host_info()
                    break
                except client.AgentError as error:
                    if error.code != grpc.StatusCode.UNAVAILABLE:
                        raise
                    time.sleep(0.05)
        finally:
            probe.close()
        if cls.agent.poll() is not None:
            cls.agent_log.seek(0)
            raise AssertionError("pool-agent did not start:\n" + cls.agent_log.read())

    @classmethod
    def tearDownClass(cls):
        cls.agent.terminate()
        cls.agent.wait(timeout=30)
        cls.hub.terminate()
        cls.hub.wait(timeout=30)
        cls.agent_log.close()
        cls.tmp.cleanup()

    @classmethod
    def connect(cls, token=None, cert=True):
        """A client as an orchestrator makes one: the files docs/api.md made, `token` the name
        of a token file there (None: no token), `cert` whether to present client.pem."""
        def read(name):
            with open(os.path.join(cls.tls, name), "rb") as f:
                return f.read()
        return client.PoolAgent(cls.address, read("ca.pem"), read("client.pem") if cert else None,
                                read("client.key") if cert else None,
                                read(token).decode().strip() if token else None, timeout=30)

    def call(self, method, *args, **kwargs):
        """`method` of a client made by connect(**kwargs)... with `args`, the client closed after."""
        agent = self.connect(**kwargs)
        try:
            return getattr(agent, method)(*args)
        finally:
            agent.close()

    def refusal(self, method, *args, **kwargs):
        """The AgentError `method` raises."""
        with self.assertRaises(client.AgentError) as caught:
            self.call(method, *args, **kwargs)
        return caught.exception

    def run_example(self, *args, token="admin.token"):
        """The example as a command, as docs/api.md runs it."""
        tls = self.tls
        return subprocess.run(
            [sys.executable, EXAMPLE, "--agent", self.address, "--ca", f"{tls}/ca.pem",
             "--cert", f"{tls}/client.pem", "--key", f"{tls}/client.key",
             "--token-file", f"{tls}/{token}", *args],
            env={**os.environ, "PYTHONPATH": GEN}, capture_output=True, text=True, check=False)

    def model_file(self):
        return os.path.join(self.models_dir, "tiny", "tiny.gguf")

    def test_the_documented_commands_made_every_file_with_its_mode(self):
        for name, mode in TLS_FILES.items():
            self.assertEqual(os.stat(os.path.join(self.tls, name)).st_mode & 0o777, mode, name)

    def test_the_read_only_token_reads_the_host_facts(self):
        info = self.call("host_info", token="read-only.token")
        self.assertEqual(info.hostname, socket.gethostname())
        self.assertEqual(info.api_version, "llorch.pool.v1")
        version = subprocess.run([os.path.join(BIN, "pool-agent"), "--version"],
                                 capture_output=True, text=True, check=True).stdout
        self.assertIn(info.agent_version, version)
        self.assertIn(self.address, info.listen_addresses)
        self.assertEqual(info.pid, self.agent.pid)
        self.assertEqual(info.models_dir, self.models_dir)
        self.assertFalse(info.insecure)
        self.assertFalse(info.in_process)
        self.assertGreater(info.models_disk.total_bytes, 0)
        entries = self.call("catalog", token="read-only.token")
        self.assertEqual([e.model.id for e in entries], ["tiny"])
        self.assertEqual(entries[0].model.repo, "test/tiny")

    def test_a_client_certificate_alone_has_the_read_only_role(self):
        self.assertEqual(self.call("host_info").api_version, "llorch.pool.v1")
        denied = self.refusal("download", ["tiny"])
        self.assertEqual(denied.code, grpc.StatusCode.PERMISSION_DENIED)

    def test_without_a_client_certificate_nothing_gets_through(self):
        refused = self.refusal("host_info", token="admin.token", cert=False)
        self.assertEqual(refused.code, grpc.StatusCode.UNAVAILABLE)

    def test_a_token_the_agent_does_not_know_is_unauthenticated(self):
        with open(os.path.join(self.tmp.name, "other.token"), "w", encoding="utf-8") as f:
            f.write("0123456789abcdef0123456789abcdef\n")
        refused = self.refusal("host_info", token=os.path.join(self.tmp.name, "other.token"))
        self.assertEqual(refused.code, grpc.StatusCode.UNAUTHENTICATED)
        self.assertIn("not one this agent accepts", refused.message)

    def test_an_unknown_model_says_why_in_the_error_hint(self):
        refused = self.refusal("model_info", "tinny", token="read-only.token")
        self.assertEqual(refused.code, grpc.StatusCode.NOT_FOUND)
        self.assertEqual(refused.reason, "MODEL_NOT_FOUND")
        self.assertEqual(refused.metadata["model"], "tinny")
        self.assertEqual(refused.metadata["suggestions"], "tiny")
        self.assertIn("tiny", refused.message)
        self.assertNotEqual(refused.hint, "")

    def test_read_only_may_not_download_and_admin_downloads_with_progress(self):
        denied = self.refusal("download", ["tiny"], token="read-only.token")
        self.assertEqual(denied.code, grpc.StatusCode.PERMISSION_DENIED)
        self.assertIn("admin role", denied.message)
        self.assertFalse(os.path.exists(os.path.join(self.models_dir, "tiny")))

        events = []
        result = self.call("download", ["tiny"], "orchestrator-test-1", events.append,
                           token="admin.token")
        self.assertEqual(len(result.models), 1)
        downloaded = result.models[0]
        self.assertEqual(downloaded.id, "tiny")
        self.assertEqual(downloaded.local_path, self.model_file())
        self.assertEqual(downloaded.bytes_fetched, SIZE)
        with open(self.model_file(), "rb") as f:
            self.assertEqual(downloaded.manifest.sha256, hashlib.sha256(f.read()).hexdigest())
        # One operation; its events numbered 1, 2, ...; the last is final and SUCCEEDED.
        self.assertEqual({e.operation_id for e in events}, {events[0].operation_id})
        self.assertEqual([e.sequence for e in events], list(range(1, len(events) + 1)))
        self.assertTrue(events[-1].final)
        self.assertEqual(events[-1].state, operation_pb2.OPERATION_STATE_SUCCEEDED)
        progress = [e.progress for e in events
                    if e.HasField("progress") and e.progress.phase == "download"]
        self.assertTrue(progress, [str(e) for e in events])
        self.assertEqual((progress[-1].done, progress[-1].total), (SIZE, SIZE))
        self.assertEqual(progress[-1].unit, operation_pb2.PROGRESS_UNIT_BYTES)
        self.assertEqual(progress[-1].current_item, "tiny.gguf")

        # What every reader sees afterwards.
        entries = self.call("catalog", ["tiny"], token="read-only.token")
        self.assertEqual(entries[0].state, model_pb2.DOWNLOAD_STATE_DOWNLOADED)
        info = self.call("host_info", token="read-only.token")
        on_host = {m.id: m.bytes for m in info.models}
        self.assertEqual(list(on_host), ["tiny"])
        self.assertGreaterEqual(on_host["tiny"], SIZE)  # the file and its manifest

    def test_the_example_as_a_command(self):
        info = self.run_example("info", token="read-only.token")
        self.assertEqual(info.returncode, 0, info.stderr)
        self.assertIn(socket.gethostname() + ": pool-agent ", info.stdout)
        catalog = self.run_example("catalog", token="read-only.token")
        self.assertEqual(catalog.returncode, 0, catalog.stderr)
        self.assertRegex(catalog.stdout, r"^tiny DOWNLOAD_STATE_\w+\n$")
        denied = self.run_example("download", "tiny", token="read-only.token")
        self.assertEqual(denied.returncode, 1)
        self.assertIn("error: PERMISSION_DENIED: this method changes the host", denied.stderr)
        unknown = self.run_example("download", "tinny")
        self.assertEqual(unknown.returncode, 1)
        self.assertIn("error: NOT_FOUND: ", unknown.stderr)
        self.assertIn("reason: MODEL_NOT_FOUND {", unknown.stderr)
        self.assertIn("'suggestions': 'tiny'", unknown.stderr)
        self.assertIn("\nhint: ", unknown.stderr)

    def test_the_code_docs_api_md_shows_is_the_examples(self):
        with open(API_DOC, encoding="utf-8") as f:
            doc = f.read()
        with open(EXAMPLE, encoding="utf-8") as f:
            example = f.read()
        section = re.search(r"<!-- from: docs/examples/orchestrator_client\.py[^>]*-->(.*?)"
                            r"<!-- end from -->", doc, re.S).group(1)
        blocks = re.findall(r"```python\n(.*?)```", section, re.S)
        self.assertGreaterEqual(len(blocks), 3)
        for block in blocks:
            self.assertIn(block, example)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
