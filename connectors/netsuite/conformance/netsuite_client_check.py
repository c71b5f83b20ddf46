"""Runs the independent `netsuite` client library (jacobsvante/netsuite, from PyPI; not
written here) unchanged against the simulator: TBA-signed REST record calls, the metadata
catalog and SuiteQL, on production and sandbox accounts.

The library builds https://<account-slug>.suitetalk.api.netsuite.com URLs itself and signs
them with authlib. Only the network is redirected, in this script: httpx clients get a
transport that sends the already-signed request to 127.0.0.1:PORT, keeping the Host header,
so the simulator routes by host name exactly as NetSuite's hosts are derived.

usage: PORT ACCOUNT CK CS TK TS [BAD_TS]
"""
import asyncio
import json
import sys

import httpx
from netsuite import Config, NetSuite, TokenAuth
from netsuite.exceptions import NetsuiteAPIRequestError

PORT = int(sys.argv[1])


class ToSimulator(httpx.AsyncBaseTransport):
    def __init__(self):
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request):
        assert request.url.host.endswith(".suitetalk.api.netsuite.com"), request.url
        body = await request.aread()
        url = request.url.copy_with(scheme="http", host="127.0.0.1", port=PORT)
        forwarded = httpx.Request(request.method, url, headers=request.headers, content=body)
        return await self.inner.handle_async_request(forwarded)


_init = httpx.AsyncClient.__init__


def _patched(self, *args, **kwargs):
    kwargs.setdefault("transport", ToSimulator())
    _init(self, *args, **kwargs)


httpx.AsyncClient.__init__ = _patched


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


async def main(account, ck, cs, tk, ts, bad_ts):
    ns = NetSuite(Config(account=account, auth=TokenAuth(consumer_key=ck, consumer_secret=cs, token_id=tk, token_secret=ts)))
    rest = ns.rest_api
    out = {"hostname": rest.hostname}

    rec = await rest.get("/record/v1/customer/2")
    if rec["id"] != "2" or "links" not in rec:
        fail(f"record: {rec}")
    out["customer_2_company"] = rec.get("companyName")

    page = await rest.get("/record/v1/customer", params={"limit": 4, "offset": 8})
    rels = sorted(l["rel"] for l in page["links"])
    if page["count"] != 4 or page["offset"] != 8 or not page["hasMore"] or rels != ["first", "last", "next", "prev", "self"]:
        fail(f"page: {page}")
    out["list_total"] = page["totalResults"]

    q = await rest.suiteql("SELECT id, companyname FROM customer WHERE id BETWEEN 3 AND 30 ORDER BY id", limit=5, offset=5)
    ids = [it["id"] for it in q["items"]]
    if ids != ["8", "9", "10", "11", "12"] or q["totalResults"] != 28:
        fail(f"suiteql: {q}")
    out["suiteql_ids"] = ids

    schema = await rest.jsonschema("customer")
    custom = sorted(k for k, v in schema["properties"].items() if v.get("x-ns-custom-field"))
    out["custom_fields"] = custom

    created = await rest.post("/record/v1/customer", json={"entityId": "PY-1", "companyName": "Made by the netsuite package", "externalId": "py-ext-1"})
    if created is not None:
        fail(f"create should answer 204, got {created}")
    back = await rest.get("/record/v1/customer/eid:py-ext-1")
    out["created_id"] = back["id"]

    bad = NetSuite(Config(account=account, auth=TokenAuth(consumer_key=ck, consumer_secret=cs, token_id=tk, token_secret=bad_ts)))
    try:
        await bad.rest_api.get("/record/v1/customer/2")
        fail("wrong token secret was accepted")
    except NetsuiteAPIRequestError as e:
        body = json.loads(e.response_text)
        if e.status_code != 401 or body["o:errorDetails"][0]["o:errorCode"] != "INVALID_LOGIN":
            fail(f"bad credentials answered {e.status_code} {e.response_text}")
    out["bad_credentials"] = 401
    print(json.dumps(out))


asyncio.run(main(*sys.argv[2:7], sys.argv[7] if len(sys.argv) > 7 else "wrong-secret"))
