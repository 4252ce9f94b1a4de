"""Lost updates, with and without If-Match: many clients editing the same incident at the same moment.

Against a running API: signs in, creates one incident, then `--clients` clients (asyncio tasks, one HTTP connection
each) all at once GET it, append their own marker line to its description and PATCH it back

- with If-Match (the ETag they read); on 412 they take the `current` incident from the answer, append their line
  to that and try again, until their PATCH is accepted;
- without If-Match (each PATCH applies: the last writer's description replaces the others').

Then it reads the incident and counts how many of the markers its description holds. Prints one JSON line per
round and a summary. The password comes from BENCH_PASSWORD (the account needs the responder role or above):

    BENCH_PASSWORD=... python bench/conflicts.py http://127.0.0.1:8000 --email admin@example.com
"""

import argparse
import asyncio
import json
import os
import sys
import time

import httpx


def marker(client: int) -> str:
    return f"edit by client {client:03d}"


def appended(description: str | None, line: str) -> str:
    return f"{description}\n{line}" if description else line


async def edit(http: httpx.AsyncClient, path: str, client: int, start: asyncio.Event, if_match: bool) -> dict:
    """One client's edit: read, append, save; with If-Match, again on each 412. Its attempts and its time."""
    await start.wait()
    began = time.perf_counter()
    response = await http.get(path)
    response.raise_for_status()
    incident, etag = response.json(), response.headers["ETag"]
    attempts = 0
    while True:
        attempts += 1
        headers = {"If-Match": etag} if if_match else {}
        body = {"description": appended(incident["description"], marker(client))}
        response = await http.patch(path, json=body, headers=headers)
        if response.status_code == 412 and if_match:
            incident, etag = response.json()["current"], response.headers["ETag"]
            continue
        response.raise_for_status()
        return {"attempts": attempts, "seconds": time.perf_counter() - began}


async def round_of(base_url: str, token: str, clients: int, if_match: bool) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=120) as http:
        created = await http.post(
            "/api/incidents/",
            json={"title": "Conflict benchmark", "service": "bench", "severity": "SEV4", "description": "start"},
        )
        created.raise_for_status()
        path = f"/api/incidents/{created.json()['id']}"
    start = asyncio.Event()
    # One connection per client, as separate people's browsers would have.
    sessions = [httpx.AsyncClient(base_url=base_url, headers=headers, timeout=120) for _ in range(clients)]
    try:
        tasks = [asyncio.create_task(edit(s, path, n, start, if_match)) for n, s in enumerate(sessions)]
        await asyncio.sleep(0.1)
        began = time.perf_counter()
        start.set()
        results = await asyncio.gather(*tasks)
        wall = time.perf_counter() - began
        final = (await sessions[0].get(path)).json()
    finally:
        await asyncio.gather(*(s.aclose() for s in sessions))
    kept = sum(marker(n) in (final["description"] or "").split("\n") for n in range(clients))
    attempts = [result["attempts"] for result in results]
    return {
        "if_match": if_match,
        "clients": clients,
        "edits_kept": kept,
        "edits_lost": clients - kept,
        "final_version": final["version"],
        "patches_sent": sum(attempts),
        "max_attempts_of_one_client": max(attempts),
        "seconds": round(wall, 2),
    }


def sign_in(base_url: str, email: str, password: str) -> str:
    response = httpx.post(f"{base_url}/api/auth/token", data={"username": email, "password": password}, timeout=60)
    response.raise_for_status()
    return response.json()["access_token"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base_url", help="the API, e.g. http://127.0.0.1:8000")
    parser.add_argument("--email", required=True, help="an account with the responder role or above")
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()
    password = os.environ.get("BENCH_PASSWORD")
    if not password:
        parser.error("set BENCH_PASSWORD to the account's password")
    base_url = args.base_url.rstrip("/")
    token = sign_in(base_url, args.email, password)
    rounds = [asyncio.run(round_of(base_url, token, args.clients, if_match)) for if_match in (True, False)]
    for result in rounds:
        print(json.dumps(result))
    with_tags, without = rounds
    print(
        f"with If-Match: {with_tags['edits_kept']} of {args.clients} edits kept "
        f"({with_tags['patches_sent']} PATCHes, {with_tags['patches_sent'] - args.clients} of them retries after 412); "
        f"without If-Match: {without['edits_kept']} of {args.clients} kept, {without['edits_lost']} lost"
    )
    return 0 if with_tags["edits_kept"] == args.clients else 1


if __name__ == "__main__":
    sys.exit(main())
