#!/usr/bin/env python3
"""Push two files as an artifact with the ORAS Python SDK (`oras` on PyPI), pull them back into
another directory, and compare the bytes; with the token backend also pull anonymously (the SDK
can ask for an anonymous token; its basic backend cannot go without credentials).

    push_pull.py HOST:PORT USER PASSWORD {basic,token} WORKDIR [--repository PROJECT/NAME]

Used the way its users call it: `OrasClient(hostname=..., insecure=True, auth_backend=...)`,
`login`, `push`, `pull`. The credentials go to a Docker config file in WORKDIR, not to
~/.docker/config.json; the SDK also reads ~/.docker/config.json, so run it with HOME=WORKDIR
to keep other credentials out. Exits non-zero with the reason and the last HTTP exchanges
(method, path, auth scheme, status, challenge; never a credential) when a step fails.
"""

import argparse
import os
import sys

try:
    import oras.client
    import oras.version
except ImportError:
    sys.exit("the oras package is missing: use the python of a venv with `pip install oras`")

# How many HTTP exchanges a failure report shows.
SHOWN = 20


class Trace:
    """Records each HTTP exchange of a client's session, for the failure report."""

    def __init__(self):
        self.lines = []

    def hook(self, response, *args, **kwargs):
        request = response.request
        auth = request.headers.get("Authorization", "")
        scheme = auth.split(" ", 1)[0] if auth else "-"
        path = request.url.split("://", 1)[-1]
        path = path[path.find("/"):] if "/" in path else path
        challenge = response.headers.get("WWW-Authenticate", "")
        line = f"{request.method} {path} auth={scheme} -> {response.status_code} {challenge}"
        self.lines.append(line.rstrip())
        return response

    def attach(self, client):
        client.session.hooks["response"].append(self.hook)

    def tail(self):
        return "\n".join("  " + line for line in self.lines[-SHOWN:])


def fail(step, error, trace):
    sys.exit(
        f"oras {oras.version.__version__}: {step} failed: {type(error).__name__}: {error}\n"
        f"last HTTP exchanges:\n{trace.tail()}"
    )


def compare(expected, pulled, step, trace):
    """Every expected file came back byte for byte, and nothing else came back."""
    names = sorted(os.path.basename(p) for p in pulled)
    if names != sorted(expected):
        fail(step, ValueError(f"pulled {names}, expected {sorted(expected)}"), trace)
    for path in pulled:
        with open(path, "rb") as f:
            if f.read() != expected[os.path.basename(path)]:
                fail(step, ValueError(f"{path} differs from what was pushed"), trace)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("registry", help="HOST:PORT of the registry (plain HTTP)")
    parser.add_argument("username")
    parser.add_argument("password")
    parser.add_argument("backend", choices=["basic", "token"], help="the SDK's auth backend")
    parser.add_argument("workdir", help="an empty directory to work in")
    parser.add_argument(
        "--repository", help="PROJECT/NAME to push to (default library/oras-BACKEND)"
    )
    args = parser.parse_args()
    repository = args.repository or f"library/oras-{args.backend}"
    target = f"{args.registry}/{repository}:v1"

    work = os.path.abspath(args.workdir)
    source = os.path.join(work, "source")
    os.makedirs(source, exist_ok=True)
    files = {
        "readme.txt": b"pushed by the oras Python SDK\n",
        "data.bin": os.urandom(70_000),
    }
    for name, content in files.items():
        with open(os.path.join(source, name), "wb") as f:
            f.write(content)
    auth_file = os.path.join(work, "oras-auth.json")

    trace = Trace()
    client = oras.client.OrasClient(
        hostname=args.registry, insecure=True, auth_backend=args.backend
    )
    trace.attach(client)
    try:
        client.login(
            username=args.username,
            password=args.password,
            hostname=args.registry,
            config_path=auth_file,
        )
    except Exception as e:
        fail("login", e, trace)

    # The SDK takes files relative to the working directory (it refuses others by default).
    os.chdir(source)
    try:
        response = client.push(
            target=target, files=sorted(files), config_path=auth_file, quiet=True
        )
    except Exception as e:
        fail(f"push to {target}", e, trace)
    if response.status_code not in (200, 201):
        answer = ValueError(f"the manifest upload answered {response.status_code}")
        fail(f"push to {target}", answer, trace)

    pulled_dir = os.path.join(work, "pulled")
    try:
        pulled = client.pull(target=target, outdir=pulled_dir, config_path=auth_file)
    except Exception as e:
        fail(f"pull of {target}", e, trace)
    compare(files, pulled, f"pull of {target}", trace)

    # `library` is public: anyone may pull from it.
    if args.backend == "token" and repository.startswith("library/"):
        anonymous = oras.client.OrasClient(
            hostname=args.registry, insecure=True, auth_backend="token"
        )
        trace.attach(anonymous)
        anon_dir = os.path.join(work, "anonymous")
        try:
            pulled = anonymous.pull(target=target, outdir=anon_dir)
        except Exception as e:
            fail(f"anonymous pull of {target}", e, trace)
        compare(files, pulled, f"anonymous pull of {target}", trace)

    print(f"oras {oras.version.__version__} ({args.backend}): pushed and pulled {target}")


if __name__ == "__main__":
    main()
