"""The build step of the tempest package (the metadata is in pyproject.toml): build_py copies
the repo's Lua scripts (src/core/queue/scripts/*.lua, or $TEMPEST_SCRIPTS_DIR) into the built
package as tempest/scripts/, where tempest/scripts.py finds them once installed. The copy is
made at build time only, never into the source tree. A build outside the repository fails here
with one clear line instead of producing a package without its scripts."""

import glob
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def scripts_source():
    env = os.environ.get("TEMPEST_SCRIPTS_DIR")
    for d in ([env] if env else []) + [os.path.join(HERE, "..", "..", "src", "core", "queue", "scripts"),
                                       os.path.join(HERE, "tempest", "scripts")]:
        if os.path.isfile(os.path.join(d, "take.lua")):
            return d
    raise SystemExit("tempest: the Lua scripts (take.lua ...) are not found: build from the Tempest repository "
                     "(clients/python) or set TEMPEST_SCRIPTS_DIR to src/core/queue/scripts")


class build_py_with_scripts(build_py):
    def run(self):
        super().run()
        src = scripts_source()
        dest = os.path.join(self.build_lib, "tempest", "scripts")
        os.makedirs(dest, exist_ok=True)
        for f in sorted(glob.glob(os.path.join(src, "*.lua"))):
            shutil.copy2(f, dest)


setup(cmdclass={"build_py": build_py_with_scripts})
