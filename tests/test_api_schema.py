"""schemathesis over the OpenAPI schema: no 5xx, every response conforms to the schema.

Requests are generated from the schema itself (valid and invalid bodies, parameters at their
bounds) and sent in-process to the app, on a database with the small test world, as the
platform admin (so authorisation does not hide the handlers; the matrix test covers roles).

Every built-in check runs except "schema-valid data is accepted": business rules a schema
cannot state (a facility sits under an enterprise, a source's params fit its method, a datum
covers whole months) rightly refuse some schema-valid bodies with 422 and the field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy.orm import Session

from shuangtan.adapters.db.engine import make_engine
from shuangtan.adapters.db.migrate import upgrade
from shuangtan.adapters.db.models import User
from shuangtan.adapters.db.repositories import Accounts
from shuangtan.adapters.settings import Settings
from shuangtan.web.app import create_app
from tests.platform_fixtures import BACKENDS, new_database
from tests.world import build_world

#: Ids of things that exist, per path parameter, so that half the cases reach real data.
REAL: dict[str, list[int]] = {}
#: Makes a fresh admin token, for operations that revoke the token they are called with.
THROWAWAY: list[Callable[[], dict[str, str]]] = []
EXAMPLES = 25
#: Operations that hash a password (argon2id, deliberately slow) get fewer examples.
SLOW = {("POST", "/api/v1/auth/token"), ("POST", "/api/v1/auth/session"), ("POST", "/api/v1/users")}


@pytest.fixture(scope="module", params=BACKENDS)
def api_schema(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    url, drop = new_database(request.param, tmp_path_factory.mktemp("schema"))
    upgrade(url)
    engine = make_engine(url)
    world = build_world(engine)

    def throwaway() -> dict[str, str]:
        with Session(engine) as session:
            user = session.get(User, world.user["admin"])
            assert user is not None
            secret = Accounts(session).issue_token(user, kind="api", name="throwaway")[1]
            session.commit()
        return {"Authorization": f"Bearer {secret}"}

    THROWAWAY.append(throwaway)
    REAL.update(
        org_id=sorted(world.org.values()),
        source_id=sorted(world.source.values()),
        meter_id=sorted(world.meter.values()),
        activity_id=sorted(world.activity.values()),
        user_id=sorted(world.user.values()),
    )
    app = create_app(Settings(database_url=url))
    yield schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    app.state.shuangtan.engine.dispose()
    engine.dispose()
    THROWAWAY.clear()
    drop()


def _realistic(cases: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly point path parameters at existing things and ask for a real period."""

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        case = draw(cases)
        if draw(st.integers(0, 3)):
            for name in list(case.path_parameters or {}):
                if name in REAL:
                    case.path_parameters[name] = draw(st.sampled_from(REAL[name]))
            if case.query is not None and "period" in case.query:
                case.query["period"] = draw(st.sampled_from(["2025", "2025", "2025-Q1", "2024"]))
                case.query.pop("version", None)
        return case

    return build()


def test_api_conforms_to_its_schema(api_schema: Any) -> None:
    """Every operation, ``EXAMPLES`` generated cases each; failures are collected, then shown."""
    failures: list[str] = []
    unauthenticated: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 30

    for operation in operations:

        @given(case=_realistic(operation.as_strategy()))
        @settings(
            max_examples=5 if (operation.method.upper(), operation.path) in SLOW else EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            # A fresh token per case: signing out or revoking a token (valid cases here) must
            # not sign the next cases out.
            response = case.call_and_validate(
                headers=THROWAWAY[0](), excluded_checks=[positive_data_acceptance]
            )
            if response.status_code == 401 and not case.path.startswith("/api/v1/auth/"):
                unauthenticated.append(f"{case.method} {case.path}")

        try:
            check()
        except Exception as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
    # Every case was signed in: the run tested the handlers, not the 401 path.
    assert not unauthenticated
