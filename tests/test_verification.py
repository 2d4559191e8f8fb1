"""The verification workflow over the API, on SQLite and PostgreSQL: every transition and role.

A1 (an enterprise of park P1 in region R1) submits its 2025 inventory; the regulator of R1
assigns the verifier organisation V1; ``auditor`` (a member of V1) raises a finding, returns
the case, closes the finding once answered, and verifies; A1's admin publishes. ``conflicted``
is a member of V1 who also enters A1's data: it may not sign A1's statement.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from shuangtan.adapters.db.audit import adopt, content_hash
from shuangtan.adapters.db.audit import verify as verify_audit
from shuangtan.adapters.db.models import Inventory
from shuangtan.adapters.db.repositories import SYSTEM, Accounts, Store
from shuangtan.errors import ConflictError
from shuangtan.services.verification import check_independent
from tests.platform_fixtures import Database
from tests.world import World, build_world


def _err(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert {"code", "field", "message"} <= set(body), body
    return body


@pytest.fixture
def setup(db: Database, tmp_path: Path) -> World:
    world = build_world(db.engine)
    with Session(db.engine) as session:
        store = Store(session, SYSTEM)
        accounts = Accounts(session)
        for username, grants in {
            "auditor": [("verifier", world.org["V1"])],
            "conflicted": [("verifier", world.org["V1"]), ("data_entry", world.org["A1"])],
        }.items():
            user = store.create_user(username, "correct horse battery staple", grants=grants)
            world.user[username] = user.id
            world.token[username] = accounts.issue_token(user, kind="api", name="rw")[1]
        # The world is written straight to the tables; take it into the trail as found.
        adopt(session, store.trail)
        session.commit()
    return world


@pytest.fixture
def api(db: Database, tmp_path: Path) -> Any:
    from shuangtan.adapters.settings import Settings
    from shuangtan.web.app import create_app

    app = create_app(Settings(database_url=db.url, key_file=tmp_path / "keys" / "kek"))
    with TestClient(app) as client:
        yield client
    app.state.shuangtan.engine.dispose()


def _post(api: TestClient, world: World, who: str, path: str, body: Any = None) -> Any:
    return api.post(f"/api/v1{path}", json=body or {}, headers=world.auth(who))


def _get(api: TestClient, world: World, who: str, path: str) -> Any:
    return api.get(f"/api/v1{path}", headers=world.auth(who))


def test_the_whole_workflow_every_transition_and_role(
    api: TestClient, setup: World, db: Database
) -> None:
    w = setup
    a1 = w.org["A1"]
    submit = {"org_id": a1, "period": "2025"}
    # Only the organisation's own side submits.
    assert _post(api, w, "viewer", "/verifications", submit).status_code == 403
    assert _post(api, w, "dataentry", "/verifications", submit).status_code == 403
    assert _post(api, w, "foreign", "/verifications", submit).status_code == 404
    assert _post(api, w, "auditor", "/verifications", submit).status_code == 404
    created = _post(api, w, "orgadmin", "/verifications", submit)
    assert created.status_code == 201, created.text
    case = created.json()
    assert case["state"] == "submitted"
    cid = case["id"]
    again = _post(api, w, "orgadmin", "/verifications", submit)
    assert again.status_code == 409
    assert _err(again)["field"] == "state"

    # Nobody of V1 sees the case before it is assigned to V1.
    assert _get(api, w, "auditor", f"/verifications/{cid}").status_code == 404
    assert _get(api, w, "auditor", f"/organizations/{a1}").status_code == 404
    # Assigning: the regulator (or an org admin above); not data entry, not the verifier.
    v1 = {"verifier_org_id": w.org["V1"]}
    assert _post(api, w, "dataentry", f"/verifications/{cid}/assign", v1).status_code == 403
    assert _post(api, w, "auditor", f"/verifications/{cid}/assign", v1).status_code == 404
    not_a_body = _post(
        api, w, "regulator", f"/verifications/{cid}/assign", {"verifier_org_id": w.org["B1"]}
    )
    assert not_a_body.status_code == 422
    assert _err(not_a_body)["field"] == "verifier_org_id"
    assigned = _post(api, w, "regulator", f"/verifications/{cid}/assign", v1)
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["state"] == "in_verification"
    assert assigned.json()["verifier_code"] == "V1"
    assert _post(api, w, "regulator", f"/verifications/{cid}/assign", v1).status_code == 409

    # The assigned verifier sees the case, its queue, the lineage and the organisation.
    queue = _get(api, w, "auditor", "/verifications?queue=true").json()
    assert [c["id"] for c in queue["items"]] == [cid]
    lineage = _get(api, w, "auditor", f"/verifications/{cid}/lineage")
    assert lineage.status_code == 200
    items = lineage.json()["items"]
    assert {i["source_code"] for i in items} == {"A1-S-EL", "A1-S-GAS"}
    assert all(i["factors"] and i["activity"] for i in items)
    assert _get(api, w, "auditor", f"/organizations/{a1}").status_code == 200
    assert _get(api, w, "auditor", f"/organizations/{w.org['C1']}").status_code == 404
    # … but cannot change anything of A1.
    patch = api.patch(
        f"/api/v1/activity/{w.activity['A1-S-EL/03']}",
        json={"amount": 1.0},
        headers=w.auth("auditor"),
    )
    assert patch.status_code == 403

    # Findings: raised by the verifier only, while in verification.
    finding_in = {
        "severity": "major",
        "title": "三月电量与发票不符",
        "subject": {"source_code": "A1-S-EL"},
    }
    assert (
        _post(api, w, "orgadmin", f"/verifications/{cid}/findings", finding_in).status_code == 403
    )
    raised = _post(api, w, "auditor", f"/verifications/{cid}/findings", finding_in)
    assert raised.status_code == 201, raised.text
    fid = raised.json()["id"]
    assert raised.json()["number"] == 1
    bad = _post(
        api, w, "auditor", f"/verifications/{cid}/findings", {**finding_in, "severity": "grave"}
    )
    assert bad.status_code == 422
    # Verifying with a finding open is refused; returning without one would be too.
    refused = _post(api, w, "auditor", f"/verifications/{cid}/verify", {"opinion": "合格"})
    assert refused.status_code == 409
    assert _err(refused)["field"] == "findings"
    assert _post(api, w, "orgadmin", f"/verifications/{cid}/return", {}).status_code == 403
    returned = _post(api, w, "auditor", f"/verifications/{cid}/return", {"note": "请更正"})
    assert returned.json()["state"] == "returned"

    # The organisation answers and corrects, then resubmits to the same verifier.
    answer = _post(api, w, "dataentry", f"/findings/{fid}/comments", {"body": "已按发票更正"})
    assert answer.status_code == 201
    assert answer.json()["side"] == "organization"
    findings = _get(api, w, "orgadmin", f"/verifications/{cid}/findings").json()
    assert findings[0]["status"] == "answered"
    corrected = api.patch(
        f"/api/v1/activity/{w.activity['A1-S-EL/03']}",
        json={"amount": 990.0},
        headers=w.auth("orgadmin"),
    )
    assert corrected.status_code == 200, corrected.text
    assert _post(api, w, "auditor", f"/findings/{fid}/close").status_code == 409  # returned
    resubmitted = _post(api, w, "orgadmin", "/verifications", submit)
    assert resubmitted.status_code == 201, resubmitted.text
    assert resubmitted.json()["id"] == cid
    assert resubmitted.json()["state"] == "in_verification"
    version = _get(api, w, "orgadmin", f"/organizations/{a1}/inventory/versions?period=2025").json()
    # The correction recomputed A1's inventory; the case now reviews the new version.
    assert version[0]["status"] == "current"
    assert version[0]["version"] == 2
    assert resubmitted.json()["inventory_id"] == version[0]["inventory_id"]
    assert resubmitted.json()["inventory_id"] != case["inventory_id"]

    reply = _post(api, w, "auditor", f"/findings/{fid}/comments", {"body": "已核对"})
    assert reply.json()["side"] == "verifier"
    closed = _post(api, w, "auditor", f"/findings/{fid}/close")
    assert closed.status_code == 200
    assert closed.json()["status"] == "closed"
    assert [c["side"] for c in closed.json()["comments"]] == ["organization", "verifier"]

    # A member who also enters A1's data is not independent; the verifier signs.
    conflicted = _post(api, w, "conflicted", f"/verifications/{cid}/verify", {"opinion": "合格"})
    assert conflicted.status_code == 403
    assert "data_entry" in _err(conflicted)["message"]
    signed = _post(
        api, w, "auditor", f"/verifications/{cid}/verify", {"opinion": "排放报告真实、准确、完整"}
    )
    assert signed.status_code == 200, signed.text
    body = signed.json()
    assert body["state"] == "verified"
    statement = api.get(
        f"/api/v1/verifications/{cid}/statement", headers=w.auth("regulator")
    ).json()
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(statement["public_key"]))
    public.verify(base64.b64decode(statement["signature"]), statement["statement"].encode())
    signed_doc = orjson.loads(statement["statement"])
    assert signed_doc["organization"]["code"] == "A1"
    assert signed_doc["verifier"]["code"] == "V1"
    assert signed_doc["findings"][0]["status"] == "closed"

    # Frozen: a recomputation adds a version beside the verified one, which does not change.
    inventory_id = body["inventory_id"]
    with Session(db.engine) as session:
        frozen = session.get(Inventory, inventory_id)
        assert frozen is not None
        assert content_hash(frozen) == signed_doc["inventory"]["content_sha256"]
    recomputed = _post(
        api, w, "orgadmin", f"/organizations/{a1}/inventory/recompute", {"period": "2025"}
    )
    assert recomputed.status_code == 200, recomputed.text
    assert recomputed.json()["inventory"]["version"] > signed_doc["inventory"]["version"]
    with Session(db.engine) as session:
        frozen = session.get(Inventory, inventory_id)
        assert frozen is not None
        assert frozen.status == "superseded"
        assert content_hash(frozen) == signed_doc["inventory"]["content_sha256"]
    # A source in a verified result cannot be deleted (its items would change).
    deleted = api.delete(f"/api/v1/sources/{w.source['A1-S-GAS']}", headers=w.auth("orgadmin"))
    assert deleted.status_code == 409

    # Publishing: the organisation, once verified.
    assert _post(api, w, "auditor", f"/verifications/{cid}/publish").status_code == 403
    published = _post(api, w, "orgadmin", f"/verifications/{cid}/publish")
    assert published.json()["state"] == "published"
    assert _post(api, w, "orgadmin", f"/verifications/{cid}/publish").status_code == 409
    # The new version can go through verification on its own.
    second = _post(api, w, "orgadmin", "/verifications", submit)
    assert second.status_code == 201
    assert second.json()["id"] != cid

    # The history shows every step, in A1's scope only; the chain checks out.
    history = _get(api, w, "orgadmin", f"/audit?org_id={a1}&entity=verification&limit=100").json()
    actions = [r["action"] for r in reversed(history["items"])]
    assert actions == [
        "verification.submit",
        "verification.assign",
        "verification.return",
        "verification.resubmit",
        "verification.verify",
        "verification.publish",
        "verification.submit",
    ]
    foreign = _get(api, w, "foreign", "/audit?entity=verification").json()
    assert foreign["total"] == 0
    assert _post(api, w, "orgadmin", "/audit/verify").status_code == 403
    report = _post(api, w, "regulator", "/audit/verify").json()
    assert report["ok"], report["problems"]
    assert report["signatures"] == 1


def test_evidence_files_are_hashed_listed_and_signed(
    api: TestClient, setup: World, db: Database
) -> None:
    w = setup
    act = w.activity["A1-S-GAS/01"]
    pdf = b"%PDF-1.4 invoice 2025-01 natural gas 12.5 1e4Nm3"
    up = api.post(
        f"/api/v1/activity/{act}/evidence",
        files={"file": ("发票-2025-01.pdf", pdf, "application/pdf")},
        data={"note": "燃气发票"},
        headers=w.auth("dataentry"),
    )
    assert up.status_code == 201, up.text
    eid = up.json()["id"]
    assert up.json()["sha256"] == hashlib.sha256(pdf).hexdigest()
    exe = api.post(
        f"/api/v1/activity/{act}/evidence",
        files={"file": ("x.exe", b"MZ", "application/x-msdownload")},
        headers=w.auth("dataentry"),
    )
    assert exe.status_code == 422
    assert _err(exe)["field"] == "file"
    assert (
        api.post(
            f"/api/v1/activity/{act}/evidence",
            files={"file": ("a.pdf", pdf, "application/pdf")},
            headers=w.auth("viewer"),
        ).status_code
        == 403
    )
    listed = _get(api, w, "viewer", f"/activity/{act}/evidence").json()
    assert [e["id"] for e in listed] == [eid]
    got = _get(api, w, "viewer", f"/evidence/{eid}")
    assert got.content == pdf
    assert _get(api, w, "foreign", f"/evidence/{eid}").status_code == 404
    # Through a verified case: the statement names the file's hash, and it cannot go.
    cid = _post(
        api, w, "orgadmin", "/verifications", {"org_id": w.org["A1"], "period": "2025"}
    ).json()["id"]
    _post(api, w, "regulator", f"/verifications/{cid}/assign", {"verifier_org_id": w.org["V1"]})
    lineage = _get(api, w, "auditor", f"/verifications/{cid}/lineage").json()
    files = [e for i in lineage["items"] for a in i["activity"] for e in a["evidence"]]
    assert [f["id"] for f in files] == [eid]
    assert _get(api, w, "auditor", f"/evidence/{eid}").content == pdf
    _post(api, w, "auditor", f"/verifications/{cid}/verify", {"opinion": "合格"})
    case = _get(api, w, "orgadmin", f"/verifications/{cid}").json()
    assert case["statement"]["evidence"] == [
        {
            "id": eid,
            "activity_id": act,
            "filename": "发票-2025-01.pdf",
            "sha256": up.json()["sha256"],
        }
    ]
    gone = api.delete(f"/api/v1/evidence/{eid}", headers=w.auth("orgadmin"))
    assert gone.status_code == 409
    with Session(db.engine) as session:
        assert verify_audit(session).ok


def test_a_verifier_body_cannot_verify_its_own_organisation() -> None:
    check_independent("/1/2/", "/7/", "V1")
    with pytest.raises(ConflictError, match="own organisation"):
        check_independent("/7/9/", "/7/", "V7")
    with pytest.raises(ConflictError, match="own organisation"):
        check_independent("/7/", "/7/", "V7")


def test_whole_floats_in_json_columns_hash_alike_on_both_backends(
    api: TestClient, setup: World, db: Database
) -> None:
    """PostgreSQL's JSONB gives 1e17 back as an integer; the audit state must not see a change."""
    w = setup
    cid = _post(api, w, "orgadmin", "/verifications", {"org_id": w.org["A1"], "period": "2025"})
    cid = cid.json()["id"]
    _post(api, w, "regulator", f"/verifications/{cid}/assign", {"verifier_org_id": w.org["V1"]})
    subject = {"amount": 1e20, "share": 1e17, "months": 3, "source_code": "A1-S-EL"}
    raised = _post(
        api,
        w,
        "auditor",
        f"/verifications/{cid}/findings",
        {"severity": "minor", "title": "数量级核对", "subject": subject},
    )
    assert raised.status_code == 201, raised.text
    report = _post(api, w, "regulator", "/audit/verify")
    assert report.status_code == 200, report.text
    assert report.json()["ok"], report.json()["problems"]
