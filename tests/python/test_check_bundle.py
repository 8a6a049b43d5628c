"""scripts/check-bundle: the repository's bundle is valid, and broken bundles are reported by path.

Run by scripts/test: python3 -m unittest discover -s tests/python
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECK = os.path.join(ROOT, "scripts", "check-bundle")
SCHEMA = os.environ.get(
    "BUNDLE_SCHEMA", os.path.join(ROOT, "schema", "bundle-schema.json")
)

APP_YAML = """command: ["sh", "-c", "exec ./brickbox serve"]
env:
  - name: DATABRICKS_WAREHOUSE_ID
    valueFrom: sql-warehouse
"""

VALID = """bundle:
  name: t
variables:
  warehouse_id:
    description: w
  timeout:
    default: 600
resources:
  apps:
    web:
      name: web
      source_code_path: ./app
      resources:
        - name: sql-warehouse
          sql_warehouse:
            id: ${var.warehouse_id}
            permission: CAN_USE
  jobs:
    nightly:
      name: nightly
      timeout_seconds: ${var.timeout}
      max_concurrent_runs: 1
      schedule:
        quartz_cron_expression: "0 0 2 * * ?"
        timezone_id: UTC
      tasks:
        - task_key: run
          environment_key: default
          spark_python_task:
            python_file: ./launch.py
      environments:
        - environment_key: default
          spec:
            environment_version: "4"
"""


def run(*args):
    result = subprocess.run(
        [sys.executable, CHECK, *args, "--schema", SCHEMA],
        capture_output=True, text=True, timeout=120,
    )
    return result.returncode, result.stdout + result.stderr


class CheckBundle(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="check-bundle-")
        os.makedirs(os.path.join(self.dir, "app"))
        self.write("app/app.yaml", APP_YAML)
        self.write("launch.py", "print('hi')\n")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def test_the_repository_bundle_is_valid(self):
        code, out = run(os.path.join(ROOT, "databricks.yml"))
        self.assertEqual(code, 0, out)
        self.assertIn("is valid", out)

    def test_a_valid_bundle_with_references_passes(self):
        code, out = run(self.write("databricks.yml", VALID))
        self.assertEqual(code, 0, out)

    def test_schema_errors_name_the_path_and_the_problem(self):
        bad = (VALID.replace("permission: CAN_USE", "permission: CAN_READ")
               .replace("quartz_cron_expression", "quartz_cron_expresion")
               .replace("max_concurrent_runs: 1", "max_concurrent_runs: one"))
        code, out = run(self.write("databricks.yml", bad))
        self.assertEqual(code, 1, out)
        self.assertIn("resources.apps.web.resources[0].sql_warehouse.permission: 'CAN_READ' is not "
                      "one of ['CAN_MANAGE', 'CAN_USE', 'IS_OWNER']", out)
        self.assertIn("resources.jobs.nightly.schedule: 'quartz_cron_expression' is a required "
                      "property", out)
        self.assertIn("resources.jobs.nightly.max_concurrent_runs: 'one' is not of type integer",
                      out)
        # The ${…} alternative of each union is not reported as a separate problem.
        self.assertNotIn("does not match", out)

    def test_cross_file_problems_are_reported(self):
        self.write("app/app.yaml", APP_YAML + "  - name: LAKEBASE_ENDPOINT\n    valueFrom: postgres\n")
        bad = VALID.replace("environment_key: default\n          spark",
                            "environment_key: other\n          spark")
        bad = bad.replace("./launch.py", "./missing.py")
        code, out = run(self.write("databricks.yml", bad))
        self.assertEqual(code, 1, out)
        self.assertIn("valueFrom 'postgres', but app web has no resource of that name", out)
        self.assertIn("environment_key 'other' is not in the job's environments", out)
        self.assertIn("python_file ./missing.py does not exist", out)

    def test_missing_schema_is_a_usage_error(self):
        result = subprocess.run(
            [sys.executable, CHECK, os.path.join(ROOT, "databricks.yml"), "--schema",
             os.path.join(self.dir, "nope.json")],
            capture_output=True, text=True, timeout=60,
        )
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("cannot read the schema", result.stderr)


if __name__ == "__main__":
    unittest.main()
