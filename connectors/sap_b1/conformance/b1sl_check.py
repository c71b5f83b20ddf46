"""Drives the Switchyard SAP B1 simulator with b1sl-python, an independent Service Layer
client from PyPI, used unchanged: login, paged reads, filters, UDF discovery, a create,
a $batch change set, a second company database and a bad login.

Usage: python3 b1sl_check.py BASE_URL   (BASE_URL like http://127.0.0.1:5000)
Prints one JSON object with what it observed; exits 1 when a check fails.
"""

import json
import sys
import traceback

try:
    from b1sl.b1sl import B1Client, B1Config, ODataQuery
    from b1sl.b1sl import entities as en
    from b1sl.b1sl.exceptions.exceptions import B1AuthError, B1Exception
except ImportError as exc:  # CI must install conformance/requirements.txt
    print(f"b1sl-python is not installed: {exc}; run pip install -r conformance/requirements.txt")
    sys.exit(2)

BASE = sys.argv[1].rstrip("/")
observed = {}
failures = []


def check(name, cond, detail=""):
    if not cond:
        failures.append(f"{name}: {detail}")


def client(version, db="SBODEMOUS", user="manager", password="1234"):
    cfg = B1Config(
        base_url=f"{BASE}/b1s/{version}",
        username=user,
        password=password,
        company_db=db,
        ssl_verify=True,
    )
    return B1Client(cfg, version=version)


try:
    for version in ("v2", "v1"):
        with client(version) as b1:
            # Paged read of every business partner, 7 per server page.
            bps = list(b1.business_partners.stream(page_size=7))
            codes = [bp.card_code for bp in bps]
            total = b1.business_partners.count()
            observed[f"{version}_bp_count"] = len(codes)
            observed[f"{version}_bp_server_count"] = total
            check(f"{version} paged read", len(codes) == total and len(set(codes)) == len(codes),
                  f"{len(codes)} read, {len(set(codes))} distinct, server says {total}")
            regions = sorted({bp.udfs["U_Region"] for bp in bps})
            observed[f"{version}_bp_regions"] = regions
            check(f"{version} UDF on entity", regions == ["AP", "EU", "NA"], str(regions))

            # A filtered, ordered read across pages.
            q = ODataQuery(filter="DocTotal ge 40", orderby="DocTotal desc,DocEntry")
            page = b1.orders.list(q, page_size=5)
            totals = [o.doc_total for o in page]
            observed[f"{version}_orders_first_page"] = totals
            check(f"{version} filter+orderby", totals == sorted(totals, reverse=True) and all(t >= 40 for t in totals)
                  and len(totals) == 5 and page.next_params is not None, str(totals))
            streamed = [o.doc_total for o in b1.orders.filter("DocTotal ge 40").orderby("DocTotal", desc=True).stream(page_size=4)]
            expected = b1.orders.filter("DocTotal ge 40").count()
            observed[f"{version}_orders_filtered"] = len(streamed)
            check(f"{version} filtered stream", len(streamed) == expected and expected > 5
                  and streamed == sorted(streamed, reverse=True), f"{len(streamed)} vs {expected}")

            # UDF discovery through UserFieldsMD.
            schema = b1.orders.get_udf_schema()
            observed[f"{version}_orders_udfs"] = sorted(f.name for f in schema.fields) if hasattr(schema, "fields") else str(schema)
            check(f"{version} UDF schema", "U_ProjectCode" in schema, str(schema))

        # A create, read back by key.
        with client(version) as b1:
            created = b1.orders.create(en.Document(
                card_code="C00002",
                num_at_card=f"PY-{version}-1",
                document_lines=[en.DocumentLine(item_code="A00003", quantity=3, unit_price=7.5)],
                udfs={"U_ProjectCode": "PRJ-42"},
            ))
            observed[f"{version}_created_doc_entry"] = created.doc_entry
            check(f"{version} create", created.doc_entry is not None and created.doc_total == 22.5,
                  f"{created.doc_entry} {created.doc_total}")
            again = b1.orders.get(created.doc_entry)
            check(f"{version} read back", again.num_at_card == f"PY-{version}-1"
                  and again.udfs["U_ProjectCode"] == "PRJ-42", str(again.num_at_card))

    # A $batch: one read plus a change set whose second create fails -> rolled back.
    with client("v2") as b1:
        with b1.batch() as batch:
            batch.items.top(1).execute()
            with batch.changeset() as cs:
                cs.items.create(en.Item(item_code="PYB-1", item_name="From the batch"))
                cs.items.create(en.Item(item_code="A00001", item_name="Duplicate"))
            results = batch.execute()
        outcomes = [r.outcome.value if hasattr(r.outcome, "value") else str(r.outcome) for r in results]
        observed["batch_outcomes"] = outcomes
        observed["batch_errors"] = [r.error for r in results if r.error]
        check("batch read applied", results[0].ok, str(outcomes))
        check("batch change set rolled back", not results[1].ok and not results[2].ok, str(outcomes))
        check("batch error text", any("already exists" in (r.error or "") for r in results), str(observed["batch_errors"]))
        check("rollback leaves nothing", not b1.items.exists("PYB-1"), "PYB-1 exists after rollback")

        with b1.batch() as batch:
            with batch.changeset() as cs:
                cs.items.create(en.Item(item_code="PYB-2", item_name="Committed"))
            results = batch.execute()
        check("batch commit", results.all_ok and b1.items.exists("PYB-2"), str([r.error for r in results]))

    # Another company database, with its own users and its own UDF names.
    with client("v2", db="SBODEMODE", password="geheim") as b1:
        schema = b1.orders.get_udf_schema()
        check("second company UDF", "U_ProjCode" in schema and "U_ProjectCode" not in schema, str(schema))
        observed["de_bp_count"] = b1.business_partners.count()

    # A bad password is refused at Login.
    try:
        with client("v2", password="wrong") as b1:
            b1.items.count()
        check("bad login refused", False, "no error raised")
    except B1AuthError as exc:
        observed["bad_login"] = str(exc)[:120]
    except B1Exception as exc:
        observed["bad_login"] = str(exc)[:120]
        check("bad login is an auth error", "401" in str(exc) or "Login" in str(exc), str(exc))
except Exception as exc:  # report, do not hide
    failures.append(f"exception: {exc!r}\n{traceback.format_exc()}")

observed["failures"] = failures
print(json.dumps(observed, default=str))
sys.exit(1 if failures else 0)
