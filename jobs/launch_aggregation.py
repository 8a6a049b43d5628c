"""Run the packaged brickbox binary from a Databricks job.

No job task type runs an executable directly, so a serverless `spark_python_task` runs this file
with the binary's workspace path as its first parameter. It:

1. checks that the binary is a Linux executable for this machine's architecture;
2. copies it out of /Workspace (whose FUSE mount may not keep or honour the exec bit) into a
   temporary directory and makes the copy executable;
3. hands over the workspace credential (DATABRICKS_HOST + DATABRICKS_TOKEN, from the environment
   or from databricks-sdk's default authentication, which on job compute is the job's run-as
   identity) and the Lakebase settings (from the parameters below or the environment), filling in
   PGHOST from the Lakebase endpoint or instance and PGUSER from the identity when they are missing;
4. runs `brickbox job aggregate-metrics` (or the arguments given after `--`), streams its output
   line by line, forwards SIGTERM, and exits with its exit code.

Usage:
  launch_aggregation.py BINARY [--host URL] [--lakebase-endpoint PATH] [--lakebase-instance NAME]
                        [--pghost HOST] [--pgport PORT] [--pgdatabase DB] [--pguser USER]
                        [--pgsslmode MODE] [-- ARGS...]

Exit codes: the binary's own (0 ok, 1 database or configuration failure, 2 any other failure);
the launcher itself exits 1 when a Lakebase setting cannot be worked out, and 2 on bad arguments, a
missing or wrong-architecture binary, or a binary killed by a signal. Secrets are never printed.
"""

import json
import os
import platform
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_ARGS = ["job", "aggregate-metrics"]

# Launcher option → environment variable the binary reads.
OPTIONS = {
    "--host": "DATABRICKS_HOST",
    "--lakebase-endpoint": "LAKEBASE_ENDPOINT",
    "--lakebase-instance": "LAKEBASE_INSTANCE_NAME",
    "--pghost": "PGHOST",
    "--pgport": "PGPORT",
    "--pgdatabase": "PGDATABASE",
    "--pguser": "PGUSER",
    "--pgsslmode": "PGSSLMODE",
}

# ELF e_machine values (the ELF specification's EM_* constants) and platform.machine() spellings.
ELF_MACHINES = {0x3E: "x86_64", 0xB7: "aarch64"}
MACHINE_ALIASES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}

USAGE = __doc__[__doc__.index("Usage:"):__doc__.index("Exit codes:")].rstrip()


class LauncherError(Exception):
    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


def log(message):
    print(f"launcher: {message}", file=sys.stderr, flush=True)


def parse_args(argv):
    """-> (binary path, {ENV_NAME: value}, binary arguments)."""
    if "--" in argv:
        split = argv.index("--")
        own, binary_args = argv[:split], argv[split + 1:]
    else:
        own, binary_args = argv, list(DEFAULT_ARGS)
    settings = {}
    binary = None
    i = 0
    while i < len(own):
        arg = own[i]
        name, eq, value = arg.partition("=")
        if name in OPTIONS:
            if not eq:
                if i + 1 >= len(own):
                    raise LauncherError(f"{arg} needs a value\n{USAGE}", 2)
                i += 1
                value = own[i]
            settings[OPTIONS[name]] = value.strip()
        elif arg.startswith("-"):
            raise LauncherError(f"unknown option {arg!r}\n{USAGE}", 2)
        elif binary is None:
            binary = arg
        else:
            raise LauncherError(
                f"unexpected argument {arg!r}: the binary's own arguments go after `--`\n{USAGE}", 2
            )
        i += 1
    if binary is None:
        raise LauncherError(f"the first parameter must be the brickbox binary's path\n{USAGE}", 2)
    if not binary_args:
        raise LauncherError("nothing to run after `--`", 2)
    return binary, {k: v for k, v in settings.items() if v}, binary_args


def machine():
    raw = platform.machine()
    return MACHINE_ALIASES.get(raw.lower(), raw)


def check_binary(path):
    """The binary exists, is a 64-bit little-endian ELF file, and matches this machine."""
    try:
        with open(path, "rb") as f:
            header = f.read(20)
    except OSError as e:
        raise LauncherError(
            f"cannot read the binary {path}: {e.strerror}. Run `scripts/package` and "
            "`databricks bundle deploy`, and check the job's first parameter.",
            2,
        )
    if len(header) < 20 or header[:4] != b"\x7fELF":
        raise LauncherError(
            f"{path} is not a Linux (ELF) executable: package it with `scripts/package`", 2
        )
    if header[4] != 2 or header[5] != 1:
        raise LauncherError(f"{path} is not a 64-bit little-endian ELF executable", 2)
    code = int.from_bytes(header[18:20], "little")
    built_for = ELF_MACHINES.get(code, f"ELF machine {code:#x}")
    here = machine()
    if built_for != here:
        raise LauncherError(
            f"{path} is built for {built_for}, but this machine is {here}: build the package "
            f"for {here} or run the job on {built_for} compute",
            2,
        )
    return built_for


def copy_executable(path, directory):
    """Copy to `directory` and make the copy executable; the source is left as it is."""
    target = os.path.join(directory, os.path.basename(path) or "brickbox")
    shutil.copyfile(path, target)
    os.chmod(target, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    return target


def normalize_host(host):
    host = host.strip().rstrip("/")
    if not host.startswith(("http://", "https://")):
        host = "https://" + host
    return host


def sdk_credential():
    """(host, token) from databricks-sdk's default authentication, or (None, reason)."""
    try:
        from databricks.sdk import WorkspaceClient  # type: ignore
    except ImportError:
        return None, "databricks-sdk is not installed"
    try:
        client = WorkspaceClient()
        headers = client.config.authenticate()
        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return None, "databricks-sdk's credential is not a bearer token"
        return (client.config.host, auth[len("Bearer "):]), None
    except Exception as e:  # noqa: BLE001 - any auth failure means "no credential from the SDK"
        return None, f"databricks-sdk default auth failed ({type(e).__name__})"


def workspace_credential(env):
    """Make sure `env` has DATABRICKS_HOST and a credential; return where it came from."""
    if env.get("DATABRICKS_TOKEN"):
        return "DATABRICKS_TOKEN from the environment"
    if env.get("DATABRICKS_CLIENT_ID") and env.get("DATABRICKS_CLIENT_SECRET"):
        return "DATABRICKS_CLIENT_ID/SECRET from the environment (OAuth M2M in the binary)"
    found, reason = sdk_credential()
    if found is None:
        return f"none ({reason}; set DATABRICKS_HOST and DATABRICKS_TOKEN)"
    host, token = found
    if host and not env.get("DATABRICKS_HOST"):
        env["DATABRICKS_HOST"] = host
    env["DATABRICKS_TOKEN"] = token
    return "databricks-sdk default auth (the job's run-as identity)"


def api_get(env, path):
    """GET a workspace REST path with the handed-over token; JSON or LauncherError(code 1)."""
    host, token = env.get("DATABRICKS_HOST"), env.get("DATABRICKS_TOKEN")
    if not host or not token:
        raise LauncherError(
            f"cannot call {path}: no workspace credential (DATABRICKS_HOST and DATABRICKS_TOKEN, "
            "or databricks-sdk default auth)",
            1,
        )
    request = urllib.request.Request(
        normalize_host(host) + path,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as e:
        try:
            message = str(json.load(e).get("message", ""))[:300]
        except Exception:  # noqa: BLE001 - the body is only for the message
            message = ""
        raise LauncherError(f"GET {path} answered {e.code} {message}".rstrip(), 1)
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise LauncherError(f"GET {path} failed: {getattr(e, 'reason', e)}", 1)


def fill_lakebase(env):
    """PGHOST from the endpoint or instance, PGUSER from the identity, PGSSLMODE=require."""
    if env.get("DATABASE_URL"):
        return
    lakebase = env.get("LAKEBASE_ENDPOINT") or env.get("LAKEBASE_INSTANCE_NAME")
    if not env.get("PGHOST"):
        if env.get("LAKEBASE_ENDPOINT"):
            endpoint = env["LAKEBASE_ENDPOINT"]
            body = api_get(env, "/api/2.0/postgres/" + urllib.parse.quote(endpoint, safe="/"))
            host = ((body.get("status") or {}).get("hosts") or {}).get("host")
            if not host:
                raise LauncherError(f"endpoint {endpoint} has no host yet (is it running?)", 1)
            env["PGHOST"] = host
        elif env.get("LAKEBASE_INSTANCE_NAME"):
            name = env["LAKEBASE_INSTANCE_NAME"]
            body = api_get(env, "/api/2.0/database/instances/" + urllib.parse.quote(name, safe=""))
            if not body.get("read_write_dns"):
                raise LauncherError(f"instance {name} has no read_write_dns (state "
                                    f"{body.get('state', 'unknown')})", 1)
            env["PGHOST"] = body["read_write_dns"]
    if env.get("PGHOST") and not env.get("PGUSER") and not env.get("DATABRICKS_CLIENT_ID"):
        # The Postgres role of an identity is its user name: an e-mail, or a service
        # principal's application id.
        me = api_get(env, "/api/2.0/preview/scim/v2/Me")
        if not me.get("userName"):
            raise LauncherError("the SCIM Me answer has no userName to use as PGUSER", 1)
        env["PGUSER"] = me["userName"]
    if lakebase and env.get("PGHOST") and not env.get("PGSSLMODE"):
        env["PGSSLMODE"] = "require"


def describe(env):
    keys = ["DATABRICKS_HOST", "PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSSLMODE",
            "LAKEBASE_ENDPOINT", "LAKEBASE_INSTANCE_NAME"]
    shown = [f"{k}={env[k]}" for k in keys if env.get(k)]
    if env.get("DATABASE_URL"):
        shown.append("DATABASE_URL=(set)")
    return ", ".join(shown) or "none"


def pump(source, sink):
    """Copy lines as they come. Job compute may replace sys.stdout with an object that has no
    binary buffer, so text is written there; it is what the run's output page shows."""
    binary = getattr(sink, "buffer", None)
    for line in iter(source.readline, b""):
        if binary is not None:
            binary.write(line)
        else:
            sink.write(line.decode(errors="replace"))
        sink.flush()
    source.close()


def run(executable, args, env):
    try:
        process = subprocess.Popen(
            [executable] + args, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
    except OSError as e:
        raise LauncherError(
            f"cannot execute {executable}: {e.strerror}; if the temporary directory is mounted "
            "noexec, point TMPDIR at one that is not",
            2,
        )

    def forward(signum, _frame):
        if process.poll() is None:
            process.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    pumps = [threading.Thread(target=pump, args=(process.stdout, sys.stdout), daemon=True),
             threading.Thread(target=pump, args=(process.stderr, sys.stderr), daemon=True)]
    for t in pumps:
        t.start()
    code = process.wait()
    for t in pumps:
        t.join()
    return code


def main(argv):
    binary, settings, binary_args = parse_args(argv)
    arch = check_binary(binary)
    env = dict(os.environ)
    env.update(settings)
    credential = workspace_credential(env)
    fill_lakebase(env)
    log(f"binary {binary} ({arch}); workspace credential: {credential}; settings: {describe(env)}")
    directory = tempfile.mkdtemp(prefix="brickbox-")
    try:
        executable = copy_executable(binary, directory)
        log(f"running {os.path.basename(executable)} {' '.join(binary_args)}")
        code = run(executable, binary_args, env)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    if code < 0:
        raise LauncherError(f"brickbox was killed by signal {-code}", 2)
    log(f"brickbox exited with {code}")
    return code


if __name__ == "__main__":
    try:
        exit_code = main(sys.argv[1:])
    except LauncherError as error:
        log(str(error))
        exit_code = error.code
    # Only a failure raises SystemExit: a job task treats a clean return as success.
    if exit_code != 0:
        sys.exit(exit_code)
