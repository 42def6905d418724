"""make install, make uninstall and the Debian package (cmake/QpInstall.cmake).

From the build tree under test: `cmake --install --prefix` into a temporary
prefix gives every file the README promises, a quipu.pc that compiles and
links a program against the shared libquipu (its soname libquipu.so.0), and
a systemd unit whose ExecStart names the installed quipud, so that
`systemd-analyze verify` passes on the unit exactly as installed. The
manifest-driven uninstall removes every file again. DESTDIR staging keeps
the final paths inside the files. CPack's .deb holds the same files under
/usr, depends on the libraries dpkg-shlibdeps found, and lintian reports no
error on it.
"""

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qp_harness import quipud_path, run_tests  # noqa: E402

BUILD = None

# Relative to the prefix; lib/ as GNUInstallDirs chooses for /usr/local.
EXPECTED = [
    "bin/quipud",
    "bin/quipu",
    "include/quipu/quipu.h",
    "include/quipu/store.h",
    "include/quipu/version.h",
    "share/man/man1/quipu.1.gz",
    "share/man/man1/quipud.1.gz",
    "lib/systemd/user/quipud@.service",
    "share/bash-completion/completions/quipu",
    "share/quipu/nvim/plugin/quipu.lua",
    "share/quipu/nvim/lua/quipu/init.lua",
    "share/quipu/nvim/doc/quipu.txt",
    "share/doc/quipu/copyright",
    "share/doc/quipu/changelog.gz",
]


def sh(args, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    p = subprocess.run(args, **kw)
    assert p.returncode == 0, "%s: exit %d\n%s%s" % (args, p.returncode, p.stdout, p.stderr)
    return p


def libdir_of(root):
    """The directory holding libquipu.so.0 under root (lib or lib/<multiarch>)."""
    for d, _, files in os.walk(root):
        if "libquipu.so.0" in files:
            return d
    raise AssertionError("no libquipu.so.0 under %s" % root)


def installed_files(root):
    out = set()
    for d, _, files in os.walk(root):
        for f in files:
            out.add(os.path.relpath(os.path.join(d, f), root))
    return out


def install(prefix, destdir=None):
    env = dict(os.environ)
    env.pop("DESTDIR", None)
    if destdir:
        env["DESTDIR"] = destdir
    sh(["cmake", "--install", BUILD, "--prefix", prefix], env=env)


def sanitizer_flags(lib):
    """A test build's libquipu needs the sanitizer runtimes at link time."""
    needed = sh(["readelf", "-d", lib]).stdout
    flags = []
    if "libasan" in needed:
        flags.append("-fsanitize=address")
    if "libubsan" in needed:
        flags.append("-fsanitize=undefined")
    return flags


CONSUMER = r"""
#include <stdio.h>
#include <string.h>
#include <quipu/quipu.h>

int main(void)
{
    qp_error err = QP_ERROR_INIT;
    printf("%s %s\n", QP_VERSION_STRING, qp_rc_name(QP_ENOTFOUND));
    return strcmp(err.msg, "") != 0;
}
"""


def test_install_prefix_and_uninstall():
    tmp = tempfile.mkdtemp(prefix="qp-install-")
    try:
        prefix = os.path.join(tmp, "prefix")
        install(prefix)
        files = installed_files(prefix)
        for f in EXPECTED:
            assert f in files, "%s not installed; got %s" % (f, sorted(files))
        lib = libdir_of(prefix)
        assert os.path.isfile(os.path.join(lib, "libquipu.a")), "static library"
        assert os.path.islink(os.path.join(lib, "libquipu.so")), "development symlink"
        soname = sh(["readelf", "-d", os.path.join(lib, "libquipu.so.0")]).stdout
        assert "Library soname: [libquipu.so.0]" in soname, soname
        # Its ABI is the public qp_ API: no qp__ internals, nothing else.
        dyn = sh(["nm", "-D", "--defined-only", os.path.join(lib, "libquipu.so.0")]).stdout
        names = [ln.split()[-1].split("@")[0] for ln in dyn.splitlines() if ln.strip()]
        names = [n for n in names if n != "QUIPU_0"]  # the version node
        assert "qp_store_open" in names and "qp_note_aliases" in names, names
        assert [n for n in names if n.startswith("qp__") or not n.startswith("qp_")] == [], names

        # The programs run from where they were installed.
        out = sh([os.path.join(prefix, "bin", "quipu"), "--version"]).stdout
        assert out.startswith("quipu 0."), out

        # The plugin loads from where it was installed, with its help tags.
        nvim = shutil.which("nvim")
        if nvim:
            plug = os.path.join(prefix, "share", "quipu", "nvim")
            assert os.path.isfile(os.path.join(plug, "doc", "tags")), "help tags"
            r = subprocess.run(
                [nvim, "--headless", "-u", "NONE", "-i", "NONE", "--cmd", "set rtp^=" + plug,
                 "--cmd", "runtime! plugin/quipu.lua",
                 "-c", "if exists(':QuipuBacklinks') == 2 | qa! | else | cq | endif"],
                capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, "plugin not loaded from %s: %s" % (plug, r.stderr)

        # The unit names the installed quipud, and verifies as it is.
        unit = os.path.join(prefix, "lib", "systemd", "user", "quipud@.service")
        with open(unit, encoding="utf-8") as f:
            text = f.read()
        assert "ExecStart=%s/bin/quipud %%I\n" % prefix in text, text
        assert "@" + "QP_" not in text, "unsubstituted template variable"
        analyze = shutil.which("systemd-analyze")
        escape = shutil.which("systemd-escape")
        if analyze and escape:
            vault = os.path.join(tmp, "vault")
            os.mkdir(vault)
            name = sh([escape, "--path", "--template=quipud@.service", vault]).stdout.strip()
            units = os.path.join(tmp, "units")
            os.mkdir(units)
            shutil.copy(unit, os.path.join(units, name))
            runtime = os.path.join(tmp, "runtime")
            os.makedirs(runtime, mode=0o700)
            r = subprocess.run([analyze, "verify", "--man=no", "--user", name], cwd=units,
                               capture_output=True, text=True,
                               env=dict(os.environ, XDG_RUNTIME_DIR=runtime))
            out = (r.stdout + r.stderr).strip()
            assert r.returncode == 0 and out == "", "verify of the installed unit: %s" % out
        else:
            print("systemd-analyze not found: the installed unit was not verified")

        # quipu.pc builds and links a program against the shared library.
        pc_dir = os.path.join(lib, "pkgconfig")
        env = dict(os.environ, PKG_CONFIG_PATH=pc_dir)
        cflags = sh(["pkg-config", "--cflags", "quipu"], env=env).stdout.split()
        libs = sh(["pkg-config", "--libs", "quipu"], env=env).stdout.split()
        assert "-I%s/include" % prefix in cflags, cflags
        src = os.path.join(tmp, "consumer.c")
        with open(src, "w") as f:
            f.write(CONSUMER)
        exe = os.path.join(tmp, "consumer")
        cc = os.environ.get("CC", "cc")
        sh([cc, "-std=c11", src, "-o", exe] + cflags + libs +
           sanitizer_flags(os.path.join(lib, "libquipu.so.0")))
        run_env = dict(os.environ, LD_LIBRARY_PATH=lib, ASAN_OPTIONS="detect_leaks=0")
        out = sh([exe], env=run_env).stdout.split()
        assert out[1] == "QP_ENOTFOUND", out
        ldd = sh(["ldd", exe], env=run_env).stdout
        assert "libquipu.so.0 => %s/libquipu.so.0" % lib in ldd, ldd

        # Uninstall removes every file the install wrote.
        sh(["cmake", "-DMANIFEST=%s" % os.path.join(BUILD, "install_manifest.txt"),
            "-P", os.path.join(os.environ["QP_SOURCE_DIR"], "cmake", "QpUninstall.cmake")])
        left = installed_files(prefix)
        assert not left, "left after uninstall: %s" % sorted(left)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_destdir_keeps_final_paths():
    tmp = tempfile.mkdtemp(prefix="qp-install-")
    try:
        stage = os.path.join(tmp, "stage")
        install("/usr", destdir=stage)
        files = installed_files(os.path.join(stage, "usr"))
        for f in EXPECTED:
            assert f in files, "%s not staged" % f
        with open(os.path.join(stage, "usr/lib/systemd/user/quipud@.service")) as f:
            assert "ExecStart=/usr/bin/quipud %I\n" in f.read()
        pcs = [f for f in files if f.endswith("pkgconfig/quipu.pc")]
        assert len(pcs) == 1, pcs
        with open(os.path.join(stage, "usr", pcs[0])) as f:
            pc = f.read()
        assert "prefix=/usr\n" in pc and stage not in pc, pc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_debian_package():
    if not shutil.which("dpkg-deb") or not shutil.which("cpack"):
        print("SKIP: dpkg-deb or cpack not found; no package built")
        return
    tmp = tempfile.mkdtemp(prefix="qp-deb-")
    try:
        sh(["cpack", "-G", "DEB", "--config", os.path.join(BUILD, "CPackConfig.cmake"),
            "-B", tmp], cwd=BUILD)
        debs = [f for f in os.listdir(tmp) if f.endswith(".deb")]
        assert len(debs) == 1 and debs[0].startswith("quipu_0."), debs
        deb = os.path.join(tmp, debs[0])

        listing = sh(["dpkg-deb", "-c", deb]).stdout
        paths = {line.split()[5].lstrip(".") for line in listing.splitlines()}
        for f in EXPECTED:
            assert "/usr/" + f in paths, "%s not in the package:\n%s" % (f, listing)
        assert any(p.endswith("/libquipu.so.0") for p in paths), listing
        assert any(p.endswith("/pkgconfig/quipu.pc") for p in paths), listing

        depends = sh(["dpkg-deb", "-f", deb, "Depends"]).stdout
        for lib in ("libuv1", "libsqlite3-0", "libjansson4", "libcmark-gfm"):
            assert lib in depends, "Depends lacks %s (shlibdeps): %s" % (lib, depends)
        assert sh(["dpkg-deb", "-f", deb, "Package"]).stdout.strip() == "quipu"

        # The unit inside the package names /usr/bin/quipud.
        data = os.path.join(tmp, "data")
        sh(["dpkg-deb", "-x", deb, data])
        with open(os.path.join(data, "usr/lib/systemd/user/quipud@.service")) as f:
            assert "ExecStart=/usr/bin/quipud %I\n" in f.read()

        lintian = shutil.which("lintian")
        if not lintian:
            print("SKIP: lintian not found (contrib/install-deps test installs it)")
            return
        r = subprocess.run([lintian, "--tag-display-limit", "0", deb], capture_output=True,
                           text=True)
        report = r.stdout + r.stderr
        print(report.strip() or "lintian: no tags")
        errors = [l for l in report.splitlines() if l.startswith("E: ")]
        assert not errors, "lintian errors:\n" + "\n".join(errors)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    BUILD = os.path.dirname(os.path.abspath(quipud_path()))
    run_tests(globals())
