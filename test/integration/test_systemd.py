"""contrib/systemd/quipud@.service.in: the unit (with ExecStart set as
`make install` sets it) parses cleanly with `systemd-analyze verify` (no
warnings at all), its instance name round-trips
a vault path through systemd-escape, and its hardening keeps the exposure
score of `systemd-analyze security` low. Skips, saying why, when systemd's
tools are absent."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

SOURCE_DIR = os.environ.get(
    "QP_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
UNIT = os.path.join(SOURCE_DIR, "contrib", "systemd", "quipud@.service.in")
# What `make install` replaces with the installed quipud (cmake/QpInstall.cmake);
# test_install.py verifies the unit it really installs.
EXEC_TEMPLATE = "@QP_PREFIX@/@QP_BINDIR@/quipud"
ANALYZE = shutil.which("systemd-analyze")
ESCAPE = shutil.which("systemd-escape")


def unit_text():
    with open(UNIT, encoding="utf-8") as f:
        return f.read()


def instance_copy(tmp, vault, text=None):
    """Writes the unit as the instance for `vault`, with ExecStart pointing
    at the quipud under test (verify insists that the binary exists)."""
    name = subprocess.run([ESCAPE, "--path", "--template=quipud@.service", vault],
                          check=True, capture_output=True, text=True).stdout.strip()
    binary = os.environ.get("QUIPUD") or "/bin/true"
    text = (text or unit_text()).replace(EXEC_TEMPLATE, binary)
    path = os.path.join(tmp, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return name, path


def analyze(tmp, *args):
    runtime = os.path.join(tmp, "runtime")
    os.makedirs(runtime, mode=0o700, exist_ok=True)
    env = dict(os.environ, XDG_RUNTIME_DIR=runtime)
    return subprocess.run([ANALYZE, *args], capture_output=True, text=True, env=env, cwd=tmp)


def test_unit_fields():
    text = unit_text()
    keys = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if m:
            keys.setdefault(m.group(1), []).append(m.group(2))
    assert keys["ExecStart"] == [EXEC_TEMPLATE + " %I"], keys["ExecStart"]
    assert keys["Restart"] == ["on-failure"]
    assert keys["RuntimeDirectory"] == ["quipu"]
    assert keys["RuntimeDirectoryMode"] == ["0700"]
    assert keys["RuntimeDirectoryPreserve"] == ["yes"]
    assert keys["CacheDirectory"] == ["quipu"]
    assert keys["ProtectHome"] == ["read-only"]
    assert keys["ProtectSystem"] == ["strict"]
    assert keys["WantedBy"] == ["default.target"]


def test_instance_name_round_trips_vault_path():
    vault = "/home/mara/Notes/Work Vault"
    with tempfile.TemporaryDirectory() as tmp:
        name, _ = instance_copy(tmp, vault)
        assert name == "quipud@home-mara-Notes-Work\\x20Vault.service", name
        inst = name[len("quipud@"):-len(".service")]
        back = subprocess.run([ESCAPE, "--unescape", "--path", inst],
                              check=True, capture_output=True, text=True).stdout.strip()
        assert back == vault, back


def test_verify_is_clean():
    with tempfile.TemporaryDirectory() as tmp:
        vault = os.path.join(tmp, "vault")
        os.mkdir(vault)
        name, _ = instance_copy(tmp, vault)
        r = analyze(tmp, "verify", "--man=no", "--user", name)
        out = (r.stdout + r.stderr).strip()
        print("systemd-analyze verify %s: rc=%d %s" % (name, r.returncode, out or "(no output)"))
        assert r.returncode == 0, out
        assert out == "", out


def test_verify_catches_a_broken_unit():
    # The check above must be able to fail: a bad value is reported.
    with tempfile.TemporaryDirectory() as tmp:
        broken = unit_text().replace("Restart=on-failure", "Restart=sometimes")
        name, _ = instance_copy(tmp, os.path.join(tmp, "vault"), broken)
        r = analyze(tmp, "verify", "--man=no", "--user", name)
        assert "restart specifier" in r.stdout + r.stderr, r.stdout + r.stderr


def test_security_exposure():
    with tempfile.TemporaryDirectory() as tmp:
        name, _ = instance_copy(tmp, os.path.join(tmp, "vault"))
        r = analyze(tmp, "security", "--offline=yes", "--user", "--no-pager", name)
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
        if not m:
            print("systemd-analyze security --offline not supported here; not checked")
            return
        score = float(m.group(1))
        print("systemd-analyze security exposure: %.1f" % score)
        assert score <= 2.0, r.stdout


if __name__ == "__main__":
    if not ANALYZE or not ESCAPE:
        print("SKIP: systemd-analyze or systemd-escape not found; the unit was not verified")
        sys.exit(0)
    tests = [v for k, v in sorted(globals().items()) if k.startswith("test_")]
    for t in tests:
        t()
        print("ok   %s" % t.__name__)
    print("%d passed" % len(tests))
