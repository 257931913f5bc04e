"""Schemathesis hooks for .ci/run: the rules of the kv-store API that its
OpenAPI document states in prose, because JSON Schema cannot relate one
part of a request to another. The fuzzer is taught them here, so that the
requests it calls valid are valid; everything else it learns from the
document.
"""

import json

import schemathesis

# `--max-txn-ops`, as .ci/run starts the server (the default).
MAX_TXN_OPS = 128


def _key_changes(operations):
    for operation in operations if isinstance(operations, list) else []:
        if not isinstance(operation, dict):
            continue
        for kind in ("put", "delete"):
            body = operation.get(kind)
            if isinstance(body, dict) and "key" in body:
                yield body["key"]


@schemathesis.hook("filter_case").apply_to(method="POST", path="/v1/txn")
def txn_within_its_prose_rules(context, case):
    """TxnRequest: each branch changes a key at most once; at most
    --max-txn-ops comparisons and operations in all."""
    body = case.body
    if not isinstance(body, dict):
        return True
    for branch in ("success", "failure"):
        keys = list(_key_changes(body.get(branch)))
        if len(keys) != len(set(map(repr, keys))):
            return False
    count = sum(len(body.get(part)) for part in ("compare", "success", "failure") if isinstance(body.get(part), list))
    return count <= MAX_TXN_OPS


@schemathesis.hook("filter_case").apply_to(method="PUT", path="/v1/kv/{key}")
def one_condition_and_one_expiry(context, case):
    """If-Match or If-None-Match, not both; ttl or expires_at, not both."""
    headers = {name.lower() for name in (case.headers or {})}
    return not {"if-match", "if-none-match"} <= headers and not {"ttl", "expires_at"} <= set(case.query or {})


@schemathesis.hook("filter_case").apply_to(method="DELETE", path="/v1/kv")
def everything_only_on_purpose(context, case):
    """An empty or missing prefix removes every key, and needs all=true."""
    query = case.query or {}
    return bool(query.get("prefix")) or query.get("all") in (True, "true")


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    """POST /v1/import's body: the document describes its records as an
    array; on the wire they are NDJSON, one record per line."""
    if isinstance(value, bytes):
        return value
    records = value if isinstance(value, list) else [value]
    return "".join(json.dumps(record) + "\n" for record in records).encode("utf-8")
