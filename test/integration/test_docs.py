"""The examples of the docs run against examples/vault and give the answers
the docs say.

Extracted, not copied: every `quipu ...` line of a sh block of README.md,
every `quipu ...` line of an .EX example of docs/quipu.1 and docs/quipud.1,
the names the --help texts give as examples, and every request/response
pair of docs/protocol.md. Each command runs against a quipud on a copy of
examples/vault and must exit 0 with a non-empty answer: no "0 tasks", no
empty section. Some answers are also checked against values worked out by
hand from the vault (EXPECT below). A protocol example's response must
match the real one, where `…` in the doc stands for "more of the same" and
`vault` is the machine's path.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qp_harness import Daemon, quipu_path, run_tests  # noqa: E402

SOURCE = os.environ.get("QP_SOURCE_DIR",
                        os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
EXAMPLE_VAULT = os.path.join(SOURCE, "examples", "vault")

# Substrings the answer of a documented command must contain, by a regular
# expression on the command line; written from the vault's notes by hand.
EXPECT = [
    (r"backlinks \"Mara Lindqvist\" --unlinked",
     ["Linked mentions (7)", "Unlinked mentions (2)",
      "Meetings/2025/2025-09-04 Northwind kickoff.md:7:"]),
    (r"mentions \"Mara Lindqvist\"", ["Mentioned in (", "2025-11-14"]),
    (r"blocks \"People/Mara Lindqvist.md\"",
     ["People/Mara Lindqvist.md:37:", "Mara Lindqvist to share the storage cost calculator"]),
    (r"tasks .*description includes Mara",
     ["- [ ] Mara Lindqvist to nominate a platform contact 📅 2025-09-12 🔼"]),
    (r"^quipu status", ["state       ready", "8 person, 12 meeting"]),
    (r"resolve \"mara lindqvist\"", ["People/Mara Lindqvist.md"]),
]

_daemon = None
_tmp = None


def fresh_daemon(name):
    """A quipud on a new copy of examples/vault (generation 1, no
    subscriptions yet: what the protocol examples were taken from)."""
    global _tmp
    if _tmp is None:
        _tmp = tempfile.mkdtemp(prefix="qp-docs-")
    vault = os.path.join(_tmp, name, "vault")
    shutil.copytree(EXAMPLE_VAULT, vault)
    return Daemon(vault=vault)


def daemon():
    global _daemon
    if _daemon is None:
        _daemon = fresh_daemon("cli")
    return _daemon


def read(rel):
    with open(os.path.join(SOURCE, rel), encoding="utf-8") as f:
        return f.read()


# ---- extracting the examples -----------------------------------------------------

def strip_comment(line):
    """The command of a sh line without its trailing `# comment` (outside quotes)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
    return line.rstrip()


def split_commands(line):
    """`a; b` is two commands (never inside quotes in our docs)."""
    return [c.strip() for c in line.split(";") if c.strip()]


def readme_commands():
    out = []
    for block in re.findall(r"```sh\n(.*?)```", read("README.md"), re.S):
        for line in block.splitlines():
            cmd = strip_comment(line.strip())
            cmd = re.sub(r"^(\.\./\.\./)?build/quipu ", "quipu ", cmd)
            for c in split_commands(cmd):
                if c.startswith("quipu "):
                    out.append(c)
    return out


def roff_to_text(s):
    s = re.sub(r"\\\[u([0-9A-F]{4,5})\]", lambda m: chr(int(m.group(1), 16)), s)
    s = s.replace("\\(aq", "'").replace("\\(dq", '"').replace("\\-", "-").replace("\\e", "\\")
    return s.replace("\\\\", "\\")


def man_commands(page):
    """The commands of the page's .EX examples: (command, expected output
    lines or None). A "$ quipu ..." line is followed by the output it must
    print, up to a blank line before the next "$" or the end; a plain
    "quipu ..." line has no output given."""
    out = []
    for block in re.findall(r"^\.EX\n(.*?)^\.EE", read(page), re.S | re.M):
        lines = [roff_to_text(l) for l in block.splitlines()]
        i = 0
        while i < len(lines):
            line = lines[i].strip()
            i += 1
            if line.startswith("$ quipu "):
                want = []
                while i < len(lines) and not lines[i].startswith("$ "):
                    want.append(lines[i].rstrip())
                    i += 1
                while want and want[-1] == "":
                    want.pop()
                out.append((line[2:], want))
            elif line.startswith("quipu "):
                out.extend((c, None) for c in split_commands(strip_comment(line))
                           if c.startswith("quipu "))
    return out


def run_cli(cmd, timeout=30):
    """Runs one documented command line with `quipu` the binary under test,
    inside the vault copy, talking to the test daemon."""
    d = daemon()
    argv = shlex.split(cmd)
    argv[0] = QUIPU
    env = dict(os.environ, QUIPU_SOCKET=d.socket, NO_COLOR="1")
    return subprocess.run(argv, cwd=d.vault, env=env, capture_output=True, text=True,
                          timeout=timeout)


def check_command(cmd, where, want=None):
    if " watch " in " %s " % cmd:
        return check_watch(cmd, where)
    if "eval-tasks" in cmd:
        return  # needs an input file; test/cases runs it on 1,867 cases
    p = run_cli(cmd)
    what = "%s: `%s`" % (where, cmd)
    assert p.returncode == 0, "%s: exit %d\n%s%s" % (what, p.returncode, p.stdout, p.stderr)
    out = p.stdout
    assert out.strip(), "%s: no output" % what
    for line in out.splitlines():
        assert line.strip() != "0 tasks", "%s: 0 tasks\n%s" % (what, out)
        assert not re.match(r"^[A-Z][a-z ]+ \(0\)$", line), "%s: empty section\n%s" % (what, out)
    if want is not None:
        got = [l.rstrip() for l in out.splitlines()]
        assert got == want, "%s: the page shows\n%s\nbut quipu prints\n%s" % (
            what, "\n".join(want), "\n".join(got))
    for pattern, wants in EXPECT:
        if re.search(pattern, cmd):
            for w in wants:
                assert w in out, "%s: %r not in the answer:\n%s" % (what, w, out)


def check_watch(cmd, where):
    d = daemon()
    argv = shlex.split(cmd)
    argv[0] = QUIPU
    env = dict(os.environ, QUIPU_SOCKET=d.socket, NO_COLOR="1")
    p = subprocess.Popen(argv, cwd=d.vault, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=3)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    else:
        raise AssertionError("%s: `%s` ended (exit %d): %s" % (where, cmd, p.returncode, err))
    assert "──" in out and len(out.splitlines()) > 2, "%s: `%s` drew nothing: %r %s" % (
        where, cmd, out, err)


# ---- the tests -------------------------------------------------------------------

def test_readme_examples():
    cmds = readme_commands()
    assert len(cmds) >= 10, cmds
    for c in cmds:
        check_command(c, "README.md")


def test_man_page_examples():
    cmds = man_commands("docs/quipu.1")
    assert len([c for c, w in cmds if w]) >= 4, cmds
    for c, want in cmds:
        check_command(c, "docs/quipu.1", want)


def test_help_names_exist():
    # Every name the help texts give as an example is a note of the vault.
    texts = [subprocess.run([QUIPU, "help"], capture_output=True, text=True).stdout]
    cmds = re.findall(r"^  ([a-z][a-z-]*) ", texts[0], re.M)
    assert "backlinks" in cmds, texts[0]
    for c in cmds:
        texts.append(subprocess.run([QUIPU, c, "--help"], capture_output=True, text=True).stdout)
    names = set()
    for t in texts:
        names.update(re.findall(r"(?:e\.g\. |\()\"([A-Z][^\"]+)\"", t))
    assert names, "no example names found in the help texts"
    for n in sorted(names):
        p = run_cli("quipu resolve %s" % shlex.quote(n))
        assert p.returncode == 0, "help names %r, which is not a note: %s" % (n, p.stderr)


ELLIPSIS = "\u2026"


def parse_doc_json(text):
    """A doc's JSON line, where `…` (an element, a member or a value) means
    "and more": it becomes the string ELLIPSIS so that json can read it."""
    e = json.dumps(ELLIPSIS)
    text = re.sub(r'(?<=[,{])…(?=})', lambda m: e + ":" + e, text)  # a member
    text = re.sub(r'(?<=[\[,:])…(?=[\],}])', lambda m: e, text)   # an element or a value
    return json.loads(text)


def matches(doc, real, path="result"):
    """Does the real value agree with the doc's, `…` standing for more?"""
    if doc == ELLIPSIS:
        return None
    if isinstance(doc, dict):
        if not isinstance(real, dict):
            return "%s: %r is not an object" % (path, real)
        for k, v in doc.items():
            if v == ELLIPSIS and k not in real:
                continue
            if k == ELLIPSIS:
                continue
            if k not in real:
                return "%s: no %r in %r" % (path, k, real)
            if k == "vault":
                continue  # the machine's own path
            bad = matches(v, real[k], "%s.%s" % (path, k))
            if bad:
                return bad
        return None
    if isinstance(doc, list):
        if not isinstance(real, list):
            return "%s: %r is not an array" % (path, real)
        more = bool(doc) and doc[-1] == ELLIPSIS
        items = doc[:-1] if more else doc
        if (len(real) < len(items)) if more else (len(real) != len(items)):
            return "%s: %d elements, the doc shows %d%s" % (path, len(real), len(items),
                                                           " and more" if more else "")
        for i, v in enumerate(items):
            bad = matches(v, real[i], "%s[%d]" % (path, i))
            if bad:
                return bad
        return None
    if doc != real:
        return "%s: %r, the doc says %r" % (path, real, doc)
    return None


def test_protocol_examples():
    doc = read("docs/protocol.md")
    pairs = []
    for block in re.findall(r"```json\n(.*?)```", doc, re.S):
        req = None
        for line in block.splitlines():
            if line.startswith("→ "):
                req = parse_doc_json(line[2:])
            elif line.startswith("← ") and req is not None:
                pairs.append((req, parse_doc_json(line[2:])))
                req = None
    assert len(pairs) >= 10, "only %d request/response pairs in docs/protocol.md" % len(pairs)
    d = fresh_daemon("protocol")
    try:
        c = d.client()
        check_pairs(c, pairs)
    finally:
        d.cleanup()


def check_pairs(c, pairs):
    for req, want in pairs:
        c.send_raw(json.dumps(req) + "\n")
        got = c.response(req["id"], timeout=30)
        bad = matches(want, got, "response")
        assert not bad, "docs/protocol.md: %s\n  request %s\n  real    %s" % (
            bad, json.dumps(req, ensure_ascii=False), json.dumps(got, ensure_ascii=False))


def test_matcher_can_fail():
    # The comparison above must be able to fail.
    assert matches({"a": [1, ELLIPSIS]}, {"a": [1, 2, 3]}) is None
    assert matches({"a": [1, 2]}, {"a": [1, 2, 3]})
    assert matches({"a": {"b": 1}}, {"a": {"b": 2}})
    assert matches({"a": 1, ELLIPSIS: ELLIPSIS}, {"a": 1, "c": 2}) is None


if __name__ == "__main__":
    QUIPU = os.path.abspath(quipu_path())
    try:
        run_tests(globals())
    finally:
        if _daemon is not None:
            _daemon.cleanup()
        if _tmp:
            shutil.rmtree(_tmp, ignore_errors=True)
