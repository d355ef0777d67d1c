"""Packaging: `pip install --no-build-isolation --target DIR clients/python` (Debian's pip and
setuptools, no index: --no-deps, as redis comes from python3-redis) gives a package that finds
its Lua scripts inside itself (copied by the build step, never committed), and hello runs from it
against the real front."""

import os
import shutil
import subprocess
import tempfile
import textwrap

from fixtures import CLIENT_DIR, PYTHON, REPO_DIR, ClientCase, http, wait_workers


class InstallTest(ClientCase):
    def test_pip_install_target_then_run_hello(self):
        target = tempfile.mkdtemp(prefix="tempest-py-install-")
        self.addCleanup(shutil.rmtree, target, True)
        env = {k: v for k, v in os.environ.items() if k not in ("TEMPEST_SCRIPTS_DIR", "PYTHONPATH")}
        # pip builds a local directory in place: leave the tree as it was found
        for leftover in ("build", "tempest_worker.egg-info"):
            path = os.path.join(CLIENT_DIR, leftover)
            if not os.path.exists(path):
                self.addCleanup(shutil.rmtree, path, True)
        r = subprocess.run([PYTHON, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-deps",
                            "--no-index", "--target", target, CLIENT_DIR], env=env, capture_output=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        installed = os.path.join(target, "tempest", "scripts")
        self.assertEqual(sorted(os.listdir(installed)),
                         sorted(os.listdir(os.path.join(REPO_DIR, "src", "core", "queue", "scripts"))))
        for name in os.listdir(installed):
            with open(os.path.join(installed, name), "rb") as a, \
                    open(os.path.join(REPO_DIR, "src", "core", "queue", "scripts", name), "rb") as b:
                self.assertEqual(a.read(), b.read(), name)
        self.assertFalse(os.path.exists(os.path.join(CLIENT_DIR, "tempest", "scripts")),
                         "the build step copies into the build, never into the source tree")
        # hello, run from a directory outside the tree with only the target on the path
        hello = os.path.join(target, "hello_from_install.py")
        with open(hello, "w") as f:
            f.write(textwrap.dedent("""
                import sys, tempest, tempest.scripts
                assert tempest.__file__.startswith(sys.argv[1]), tempest.__file__
                assert tempest.scripts.scripts_dir().startswith(sys.argv[1]), tempest.scripts.scripts_dir()
                w = tempest.Worker(redis=sys.argv[2])
                w.on("url", lambda req: (200, {}, "Hello world!"))
                sys.exit(w.run())
            """))
        front = self.front()
        p = self.spawn("installed hello", [PYTHON, hello, target, self.redis.url], {"PYTHONPATH": target}, cwd=target)
        wait_workers(self.redis, 1, timeout=10)
        self.assertEqual(http(front, "GET", "/")[::2], (200, b"Hello world!"))
        self.assertEqual(p.stop(), 0)

    def test_pip_install_into_a_virtualenv_then_run_the_wsgi_script(self):
        """The issue's command, `pip install --no-build-isolation ./clients/python`, in a venv that
        sees Debian's packages (redis is then already satisfied); its tempest-wsgi script serves."""
        venv = tempfile.mkdtemp(prefix="tempest-py-venv-")
        self.addCleanup(shutil.rmtree, venv, True)
        for leftover in ("build", "tempest_worker.egg-info"):
            path = os.path.join(CLIENT_DIR, leftover)
            if not os.path.exists(path):
                self.addCleanup(shutil.rmtree, path, True)
        env = {k: v for k, v in os.environ.items() if k not in ("TEMPEST_SCRIPTS_DIR", "PYTHONPATH")}
        subprocess.run([PYTHON, "-m", "venv", "--system-site-packages", "--without-pip", venv], check=True,
                       timeout=60, env=env)
        python = os.path.join(venv, "bin", "python")
        r = subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-index", CLIENT_DIR],
                           env=env, capture_output=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        where = subprocess.run([python, "-c", "import tempest.scripts as s; print(s.scripts_dir())"], env=env,
                               cwd=venv, capture_output=True, timeout=30, check=True).stdout.decode().strip()
        self.assertTrue(where.startswith(venv), where)
        front = self.front("--queue", "web")
        p = self.spawn("tempest-wsgi", [os.path.join(venv, "bin", "tempest-wsgi"), "flask_app:app", "--queue", "web",
                                        "--redis", self.redis.url], cwd=os.path.dirname(os.path.abspath(__file__)))
        wait_workers(self.redis, 1, timeout=10)
        self.assertEqual(http(front, "GET", "/")[::2], (200, b"hello from flask"))
        self.assertEqual(p.stop(), 0)
