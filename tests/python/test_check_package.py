"""scripts/check-package refuses what Databricks Apps (Ubuntu 22.04, 10 MiB per file) cannot run.

The accepting path is the real package: scripts/test runs scripts/package, which ends with
scripts/check-package. These tests build small C programs with the machine's compiler (the one
cargo links with) to show each check can fail.
"""

import os
import shutil
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECK = os.path.join(ROOT, "scripts", "check-package")

OLD_GLIBC_ONLY = "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n"
# arc4random arrived in glibc 2.36; Ubuntu 22.04 has 2.35.
NEEDS_GLIBC_2_36 = (
    "#include <stdlib.h>\n#include <stdio.h>\n"
    "int main(void) { printf(\"%u\\n\", arc4random()); return 0; }\n"
)


class CheckPackage(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="check-package-")
        self.app = os.path.join(self.dir, "app")
        os.makedirs(os.path.join(self.app, "static"))
        shutil.copy(os.path.join(ROOT, "app.yaml"), self.app)
        shutil.copy(os.path.join(ROOT, "static", "index.html"), os.path.join(self.app, "static"))

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def compile(self, source, *flags):
        c_file = os.path.join(self.dir, "main.c")
        with open(c_file, "w") as f:
            f.write(source)
        subprocess.run(["cc", "-O2", *flags, "-o", os.path.join(self.app, "brickbox"), c_file],
                       check=True, capture_output=True)

    def check(self):
        result = subprocess.run([CHECK, self.app], capture_output=True, text=True, timeout=60)
        return result.returncode, result.stdout + result.stderr

    def test_glibc_symbols_newer_than_2_35_fail(self):
        self.compile(NEEDS_GLIBC_2_36, "-s")
        code, out = self.check()
        self.assertEqual(code, 1, out)
        self.assertIn("arc4random", out)
        self.assertIn("needs GLIBC_2.36 but Ubuntu 22.04 has glibc 2.35", out)

    def test_an_unstripped_binary_fails(self):
        self.compile(OLD_GLIBC_ONLY)
        code, out = self.check()
        self.assertEqual(code, 1, out)
        self.assertIn("is not stripped", out)

    def test_a_file_over_10_mib_fails(self):
        self.compile(OLD_GLIBC_ONLY, "-s")
        with open(os.path.join(self.app, "static", "big.bin"), "wb") as f:
            f.truncate(10485761)
        code, out = self.check()
        self.assertEqual(code, 1, out)
        self.assertIn("big.bin is 10485761 bytes; Databricks Apps refuses files above 10485760", out)

    def test_another_architecture_fails(self):
        header = bytearray(64)
        header[:8] = b"\x7fELF\x02\x01\x01\x00"
        header[16:18] = (2).to_bytes(2, "little")
        header[18:20] = (0xB7).to_bytes(2, "little")  # aarch64
        with open(os.path.join(self.app, "brickbox"), "wb") as f:
            f.write(header)
        code, out = self.check()
        self.assertEqual(code, 1, out)
        self.assertIn("is not an x86-64 ELF executable", out)

    def test_a_binary_that_does_not_serve_fails(self):
        # Passes the static checks, but app.yaml's command then runs something with no /health.
        self.compile(OLD_GLIBC_ONLY, "-s")
        code, out = self.check()
        self.assertEqual(code, 1, out)
        self.assertIn("glibc: newest symbol version", out)
        self.assertIn("the server exited before answering /health", out)

    def test_a_missing_folder_says_to_package(self):
        code, out = self.check_missing()
        self.assertEqual(code, 1, out)
        self.assertIn("run scripts/package first", out)

    def check_missing(self):
        result = subprocess.run([CHECK, os.path.join(self.dir, "nope")], capture_output=True,
                                text=True, timeout=60)
        return result.returncode, result.stdout + result.stderr


if __name__ == "__main__":
    unittest.main()
