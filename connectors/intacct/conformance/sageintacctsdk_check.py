"""Drives fylein's sageintacctsdk (an independent Sage Intacct client from PyPI) against the
Switchyard simulator and prints what it saw as JSON for the Rust test to check.

The SDK hard-codes https://api.intacct.com; the only change made here is a test-only patch
of that URL on each API object after construction. The library itself is not edited.
"""
import json
import sys

url = sys.argv[1]
sender_id, sender_pw, company, user, user_pw = sys.argv[2:7]

from sageintacctsdk.apis import api_base  # noqa: E402

_orig_init = api_base.ApiBase.__init__


def _patched_init(self, *args, **kwargs):
    _orig_init(self, *args, **kwargs)
    # Name-mangled private attribute holding the gateway URL.
    self._ApiBase__api_url = url


api_base.ApiBase.__init__ = _patched_init

from sageintacctsdk import SageIntacctSDK  # noqa: E402
from sageintacctsdk.exceptions import SageIntacctSDKError  # noqa: E402

out = {}

# 1. Session: the SDK logs in with sender + user credentials and calls getAPISession.
sdk = SageIntacctSDK(sender_id=sender_id, sender_password=sender_pw, user_id=user,
                     company_id=company, user_password=user_pw)
out["session_id"] = sdk.api_base._ApiBase__session_id
out["session_endpoint"] = sdk.api_base._ApiBase__api_url

# 2. query: count (query with pagesize 1 and totalcount) then offset paging with the SDK's
#    default VENDOR field list.
out["vendor_count"] = sdk.vendors.count(None)
vendors = sdk.vendors.get_all()
out["vendor_ids"] = [v["VENDORID"] for v in vendors]
out["active_count"] = sdk.vendors.count()  # equalto STATUS 'active' (display value)

# 3. readByQuery with a raw-code filter: STATUS = 'T' means active.
rbq = sdk.customers.get(field="STATUS", value="T")
out["rbq_count"] = int(rbq["@count"])
out["rbq_totalcount"] = int(rbq["@totalcount"])
out["rbq_first"] = rbq["customer"][0]["CUSTOMERID"] if isinstance(rbq["customer"], list) else rbq["customer"]["CUSTOMERID"]

# 4. create through the generic create function.
created = sdk.vendors.post({
    "VENDORID": "PYV0001",
    "NAME": "Python SDK Vendor",
    "DISPLAYCONTACT": {"PRINTAS": "Python SDK Vendor", "EMAIL1": "py@vendor.example"},
})
out["created"] = created["data"]["vendor"]

# 5. A duplicate create fails with the SDK's own error type carrying Intacct's error list.
try:
    sdk.vendors.post({"VENDORID": "PYV0001", "NAME": "Dup", "DISPLAYCONTACT": {"PRINTAS": "Dup"}})
    out["duplicate_error"] = None
except SageIntacctSDKError as e:
    errs = e.response["error"]
    out["duplicate_error"] = [x["errorno"] for x in errs]

# 6. Schema and dimensions.
lookup = sdk.vendors.get_lookup()
out["lookup_fields"] = [f["ID"] for f in lookup["Type"]["Fields"]["Field"]]
dims = sdk.dimensions.get_all()
out["dimensions"] = [(d["objectName"], d["userDefinedDimension"]) for d in dims]

# 7. A wrong sender password is refused at the control level.
try:
    SageIntacctSDK(sender_id=sender_id, sender_password="wrong", user_id=user,
                   company_id=company, user_password=user_pw)
    out["bad_sender"] = None
except SageIntacctSDKError as e:
    out["bad_sender"] = e.response["error"][0]["description2"]

print(json.dumps(out))
