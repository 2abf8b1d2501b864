"""Loaded by peers run from the bench (PYTHONPATH). The test distribution of Elasticsearch has no
`GET /` (rest-root module), which the Python clients ping before their first request: answer that
ping from `GET /_nodes/_local` instead. Nothing else a peer sends is touched."""

import json
import os
import urllib.request


def _info():
    url = os.environ["PGSEARCH_BENCH_ES_URL"].rstrip("/") + "/_nodes/_local?filter_path=nodes.*.version"
    with urllib.request.urlopen(url) as response:
        nodes = json.load(response)["nodes"]
    version = next(iter(nodes.values()))["version"]
    return {"name": "bench", "cluster_name": "bench", "tagline": "You Know, for Search",
            "version": {"number": version, "build_flavor": "default"}}


try:
    import elasticsearch
    import elasticsearch.transport

    def _verified(self, headers, timeout):
        self._verified_elasticsearch = True

    elasticsearch.transport.Transport._do_verify_elasticsearch = _verified
    elasticsearch.Elasticsearch.info = lambda self, *args, **kwargs: _info()
except Exception:  # another client version: leave it alone
    pass
