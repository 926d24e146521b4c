#!/usr/bin/env python3
"""Exit 0 if the Ironic-compatible endpoint in argv[1] answers and lists a
live conductor (the point from which it accepts nodes), else 1."""

import sys

import requests


def main(url):
    try:
        resp = requests.get(url.rstrip('/') + '/v1/conductors', timeout=2,
                            headers={'X-OpenStack-Ironic-API-Version':
                                     'latest'})
        return resp.status_code == 200 and any(
            c.get('alive') for c in resp.json().get('conductors', []))
    except Exception:
        return False


if __name__ == '__main__':
    sys.exit(0 if main(sys.argv[1]) else 1)
