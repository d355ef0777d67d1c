"""The ./run script itself: what a new user sees when a step fails.

Fake apt-get and dpkg-query programs first on PATH stand in for Debian's, so nothing is
installed and no network is used.
"""

import os
import shutil
import subprocess
import tempfile
import unittest

from support.harness import REPO_DIR

RUN_SCRIPT = os.path.join(REPO_DIR, "run")

# What a failing dpkg prints: the cause on stdout, one summary line on stderr.
FAKE_APT_GET = """#!/bin/sh
[ "$1" = update ] && { echo "Reading package lists..."; exit 0; }
echo "Setting up fake-package (1.0) ..."
echo "dpkg: error processing package fake-package (--configure): the-real-cause-42"
echo "E: Sub-process /usr/bin/dpkg returned an error code (1)" >&2
exit 100
"""
FAKE_DPKG_QUERY = "#!/bin/sh\nexit 1\n"  # every package is missing


class EnsurePackagesTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tempest-run-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        bin_dir = os.path.join(self.dir, "bin")
        os.mkdir(bin_dir)
        for name, text in (("apt-get", FAKE_APT_GET), ("dpkg-query", FAKE_DPKG_QUERY),
                           ("sudo", '#!/bin/sh\nexec "$@"\n')):
            path = os.path.join(bin_dir, name)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o755)
        self.env = dict(os.environ, PATH=bin_dir + ":" + os.environ.get("PATH", "/usr/bin:/bin"),
                        TMPDIR=self.dir, BUILD_DIR=os.path.join(self.dir, "build"))

    def test_a_failed_install_shows_the_tail_of_apts_log_and_keeps_it(self):
        """Issue 7 item 23: only dpkg's summary line used to reach the user."""
        result = subprocess.run(["/bin/bash", RUN_SCRIPT, "build"], capture_output=True, text=True,
                                timeout=60, env=self.env, stdin=subprocess.DEVNULL)
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("the-real-cause-42", result.stderr)
        self.assertIn("failed", result.stderr)
        logs = [n for n in os.listdir(self.dir) if n.startswith("tempest-apt.")]
        self.assertEqual(len(logs), 1, os.listdir(self.dir))
        with open(os.path.join(self.dir, logs[0])) as f:
            self.assertIn("the-real-cause-42", f.read())
        self.assertIn(logs[0], result.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "build")), "it went on building")


if __name__ == "__main__":
    unittest.main()
