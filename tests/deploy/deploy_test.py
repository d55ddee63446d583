#!/usr/bin/python3
"""Checks the files in deploy/ against the binaries they run: the systemd unit passes
systemd-analyze verify, the Kubernetes manifests parse and name the right binary, ports and
paths, the container file installs what the binaries load, and every example configuration is
valid for `llorch-pool dev check-config`.

Usage: deploy_test.py SOURCE_DIR INSTALL_BIN_DIR (the binaries installed by the e2e fixture)."""

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import unittest

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from documented_files import relocated_config  # noqa: E402  (after the path it needs)

SOURCE = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
BIN = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else ".")
DEPLOY = os.path.join(SOURCE, "deploy")
INSTALLED_AGENT = "/usr/local/bin/pool-agent"  # cmake --install's default prefix, bin/
SYSTEM_SOCKET = "/run/llorch/pool-agent.sock"  # what llorch-pool tries by default as root


def read(*parts):
    with open(os.path.join(DEPLOY, *parts), encoding="utf-8") as f:
        return f.read()


def unit_settings(text):
    """The unit's Key=Value lines, each key with all its values in order."""
    settings = {}
    for line in text.splitlines():
        if line.startswith(("#", "[")) or "=" not in line:
            continue
        key, value = line.split("=", 1)
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def check_config(config_file, *extra):
    """`llorch-pool dev check-config -o json` on one file: (exit code, its problems)."""
    with tempfile.TemporaryDirectory() as home:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home,
               "XDG_CONFIG_HOME": home, "LLORCH_STATE_DIR": os.path.join(home, "state")}
        result = subprocess.run(
            [os.path.join(BIN, "llorch-pool"), "--standalone", "--config", config_file, *extra,
             "-o", "json", "dev", "check-config"],
            capture_output=True, text=True, env=env, cwd=home, check=False)
    report = json.loads(result.stdout) if result.stdout.strip() else {}
    problems = report.get("problems", [])
    for layer in report.get("files", []):
        problems += layer.get("problems", [])
    return result.returncode, problems, result.stderr


class SystemdUnitTest(unittest.TestCase):
    def setUp(self):
        self.text = read("systemd", "pool-agent.service")
        self.settings = unit_settings(self.text)

    def verify(self, text):
        """systemd-analyze verify's complaints about `text` run with the built agent."""
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "pool-agent.service")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text.replace(INSTALLED_AGENT, os.path.join(BIN, "pool-agent")))
            result = subprocess.run(["systemd-analyze", "verify", "--man=no", path],
                                    capture_output=True, text=True, check=False)
            return result.returncode, (result.stdout + result.stderr).replace(path, "unit")

    def test_systemd_analyze_verify_finds_nothing(self):
        code, complaints = self.verify(self.text)
        self.assertEqual((code, complaints), (0, ""))

    def test_verify_would_catch_a_bad_directive(self):
        # systemd-analyze exits 0 on a bad value and only prints it: the check above must read
        # the output, which this proves it sees.
        _, complaints = self.verify(self.text.replace("KillMode=process", "KillMode=bogus"))
        self.assertIn("bogus", complaints)

    def test_starts_the_installed_agent_on_the_socket_operators_find(self):
        argv = shlex.split(self.settings["ExecStart"][0])
        self.assertEqual(argv[0], INSTALLED_AGENT)
        self.assertEqual(argv[1:], ["--listen", "unix:" + SYSTEM_SOCKET])
        self.assertEqual(self.settings["RuntimeDirectory"], [os.path.basename(
            os.path.dirname(SYSTEM_SOCKET))])
        help_text = subprocess.run([os.path.join(BIN, "pool-agent"), "--help"],
                                   capture_output=True, text=True, check=True).stdout
        for flag in argv[1:]:
            if flag.startswith("--"):
                self.assertIn(flag, help_text)

    def test_workers_survive_an_agent_restart_and_gpus_stay_reachable(self):
        self.assertEqual(self.settings["KillMode"], ["process"])
        self.assertEqual(self.settings["DevicePolicy"], ["closed"])
        self.assertIn("char-nvidia* rw", self.settings["DeviceAllow"])
        self.assertEqual(self.settings["ProtectSystem"], ["strict"])
        self.assertEqual(self.settings["StateDirectory"], ["llorch"])
        self.assertNotIn("ProtectProc", self.settings)  # the agent reads every worker's /proc
        self.assertNotIn("MemoryDenyWriteExecute", self.settings)  # CUDA's JIT needs W+X


class KubernetesTest(unittest.TestCase):
    def setUp(self):
        self.docs = list(yaml.safe_load_all(read("kubernetes", "pool-agent.yaml")))
        self.by_kind = {doc["kind"]: doc for doc in self.docs}

    def test_the_manifest_holds_a_namespace_config_and_daemonset_in_one_namespace(self):
        self.assertEqual(set(self.by_kind), {"Namespace", "ConfigMap", "DaemonSet"})
        namespace = self.by_kind["Namespace"]["metadata"]["name"]
        for kind in ("ConfigMap", "DaemonSet"):
            self.assertEqual(self.by_kind[kind]["metadata"]["namespace"], namespace)

    def pod(self):
        return self.by_kind["DaemonSet"]["spec"]["template"]["spec"]

    def agent_config(self):
        return self.by_kind["ConfigMap"]["data"]["pool.toml"]

    def test_the_container_runs_the_agent_on_the_mounted_config(self):
        container = self.pod()["containers"][0]
        self.assertEqual(container["command"], [INSTALLED_AGENT])
        config_path = container["args"][container["args"].index("--config") + 1]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volume = mounts[os.path.dirname(config_path)]
        source = next(v for v in self.pod()["volumes"] if v["name"] == volume)
        self.assertEqual(source["configMap"]["name"], self.by_kind["ConfigMap"]["metadata"]["name"])
        self.assertEqual(os.path.basename(config_path), "pool.toml")

    def test_the_port_and_probe_match_the_agents_listeners(self):
        listen = [a.strip(' "') for a in
                  re.search(r'listen = \[(.*)\]', self.agent_config()).group(1).split(",")]
        tcp = [a for a in listen if not a.startswith("unix:")]
        self.assertEqual(len(tcp), 1)
        container = self.pod()["containers"][0]
        self.assertEqual([p["containerPort"] for p in container["ports"]],
                         [int(tcp[0].rsplit(":", 1)[1])])
        # The probe asks the installed CLI over the agent's socket (TCP would need a token).
        probe = container["readinessProbe"]["exec"]["command"]
        self.assertEqual(probe[0], "/usr/local/bin/llorch-pool")
        socket = probe[probe.index("--agent") + 1]
        self.assertIn(socket, listen)
        # The probe, run against a real agent on a socket of the test's own: exit 0 = ready.
        with tempfile.TemporaryDirectory() as tmp:
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp,
                   "XDG_CONFIG_HOME": tmp, "LLORCH_STATE_DIR": os.path.join(tmp, "state"),
                   "LLORCH_MODELS_DIR": os.path.join(tmp, "models")}
            own = "unix:" + os.path.join(tmp, "agent.sock")
            agent = subprocess.Popen([os.path.join(BIN, "pool-agent"), "--listen", own],
                                     env=env, cwd=tmp, stderr=subprocess.PIPE, text=True)
            try:
                argv = [os.path.join(BIN, "llorch-pool")] + [own if a == socket else a
                                                             for a in probe[1:]]
                for _ in range(100):  # the agent needs a moment to listen
                    ready = subprocess.run(argv, env=env, cwd=tmp, capture_output=True,
                                           text=True, check=False)
                    if ready.returncode == 0 or agent.poll() is not None:
                        break
                    time.sleep(0.05)
                self.assertEqual(ready.returncode, 0, ready.stderr)
            finally:
                agent.terminate()
                agent.wait(timeout=10)
            agent.stderr.close()
        # And a probe fails when nothing answers.
        gone = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        self.assertNotEqual(gone.returncode, 0)

    def test_models_and_state_live_on_the_node(self):
        container = self.pod()["containers"][0]
        host_paths = {v["name"]: v["hostPath"]["path"] for v in self.pod()["volumes"]
                      if "hostPath" in v}
        mounted = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        for key in ("models_dir", "state_dir"):
            path = re.search(key + r' = "([^"]+)"', self.agent_config()).group(1)
            covering = [d for d in mounted if path.startswith(d + "/") and mounted[d] in host_paths]
            self.assertTrue(covering, key + " " + path + " is not on a hostPath volume")

    def test_the_agents_config_is_valid(self):
        with tempfile.TemporaryDirectory() as tmp:
            config = os.path.join(tmp, "pool.toml")
            with open(config, "w", encoding="utf-8") as f:
                f.write(relocated_config(self.agent_config(), tmp))  # the node's paths, here
            code, problems, err = check_config(config)
            errors = [p for p in problems if p.get("severity") == "CONFIG_SEVERITY_ERROR"]
            self.assertEqual(errors, [], err)
            self.assertEqual(code, 0, err)


class ContainerTest(unittest.TestCase):
    def setUp(self):
        self.text = read("container", "Containerfile")

    def test_the_image_runs_the_installed_agent_on_a_socket_in_a_volume(self):
        entrypoint = json.loads(re.search(r"^ENTRYPOINT (.*)$", self.text, re.M).group(1))
        self.assertEqual(entrypoint, [INSTALLED_AGENT])
        cmd = json.loads(re.search(r"^CMD (.*)$", self.text, re.M).group(1))
        self.assertEqual(cmd, ["--listen", "unix:" + SYSTEM_SOCKET])
        volumes = json.loads(re.search(r"^VOLUME (.*)$", self.text, re.M).group(1))
        self.assertIn(os.path.dirname(SYSTEM_SOCKET), volumes)
        self.assertIn("/var/lib/llorch", volumes)
        for source in re.findall(r"^COPY (deploy/\S+)", self.text, re.M):
            self.assertTrue(os.path.exists(os.path.join(SOURCE, source)), source)

    def test_the_runtime_packages_are_those_holding_the_binaries_libraries(self):
        result = subprocess.run(
            [os.path.join(DEPLOY, "container", "runtime-packages.sh"),
             os.path.join(BIN, "pool-agent"), os.path.join(BIN, "llorch-pool")],
            capture_output=True, text=True, check=False)
        self.assertEqual(result.returncode, 0, result.stderr)
        packages = result.stdout.split()
        self.assertIn("libc6", packages)
        self.assertIn("libstdc++6", packages)
        self.assertFalse([p for p in packages if p.endswith("-dev")], packages)
        for package in packages:
            status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package],
                                    capture_output=True, text=True, check=False).stdout
            self.assertEqual(status, "install ok installed", package)

    def test_runtime_packages_refuses_a_binary_it_cannot_read(self):
        result = subprocess.run(
            [os.path.join(DEPLOY, "container", "runtime-packages.sh"), "/nonexistent"],
            capture_output=True, text=True, check=False)
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stdout, "")


class ExampleConfigTest(unittest.TestCase):
    def test_every_example_is_a_valid_configuration(self):
        examples = sorted(f for f in os.listdir(os.path.join(DEPLOY, "examples"))
                          if f.endswith(".toml"))
        self.assertGreaterEqual(len(examples), 2)
        for name in examples:
            with self.subTest(example=name), tempfile.TemporaryDirectory() as tmp:
                config = os.path.join(tmp, "pool.toml")
                with open(config, "w", encoding="utf-8") as f:
                    f.write(relocated_config(read("examples", name), tmp))
                code, problems, err = check_config(config)
                errors = [p for p in problems if p.get("severity") == "CONFIG_SEVERITY_ERROR"]
                self.assertEqual(errors, [], err)
                self.assertEqual(code, 0, err)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
