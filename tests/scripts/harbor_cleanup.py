#!/usr/bin/env python3
"""The classic Harbor cleanup job: keep the newest N artifacts of every repository, delete the rest.

Written the way Harbor users write it (standard library only, Basic auth, Harbor's v2.0 paths,
page/page_size paging, nested repository names double-encoded), so that running it against
Berth shows such scripts work unchanged.

    harbor_cleanup.py --url https://registry.example.com --user admin --password ... --keep 10 [--dry-run]
"""

import argparse
import base64
import json
import sys
import urllib.parse
import urllib.request

PAGE_SIZE = 50


class Harbor:
    def __init__(self, url, user, password):
        self.base = url.rstrip("/") + "/api/v2.0"
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}

    def request(self, method, path):
        req = urllib.request.Request(self.base + path, method=method, headers=self.headers)
        with urllib.request.urlopen(req) as resp:
            body = resp.read()
            return json.loads(body) if body else None, resp.headers

    def paged(self, path):
        """Every item of a listing, following page numbers until X-Total-Count is reached."""
        page, seen = 1, 0
        sep = "&" if "?" in path else "?"
        while True:
            items, headers = self.request("GET", f"{path}{sep}page={page}&page_size={PAGE_SIZE}")
            total = int(headers.get("X-Total-Count", "0"))
            for item in items:
                yield item
            seen += len(items)
            if not items or seen >= total:
                return
            page += 1


def repo_path(full_name):
    project, _, repo = full_name.partition("/")
    # Harbor wants the repository name URL-encoded twice where it holds a slash.
    return project, urllib.parse.quote(urllib.parse.quote(repo, safe=""), safe="")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--keep", type=int, required=True)
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()
    harbor = Harbor(args.url, args.user, args.password)
    deleted = 0
    for project in harbor.paged("/projects"):
        for repo in harbor.paged(f"/projects/{project['name']}/repositories"):
            project_name, encoded = repo_path(repo["name"])
            base = f"/projects/{project_name}/repositories/{encoded}/artifacts"
            artifacts = list(harbor.paged(f"{base}?with_tag=true&sort=-push_time"))
            for artifact in artifacts[args.keep:]:
                tags = ",".join(t["name"] for t in (artifact.get("tags") or []))
                print(f"{'would delete' if args.dry_run else 'deleting'} {repo['name']}@{artifact['digest']} [{tags}]")
                if not args.dry_run:
                    harbor.request("DELETE", f"{base}/{artifact['digest']}")
                deleted += 1
    print(f"{'would delete' if args.dry_run else 'deleted'} {deleted} artifacts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
