"""The participant web app (/me/) over real HTTP on both databases, with the real face verifier
and a clock the test moves: sign-in with the program's code, language from Accept-Language and
from the participant's choice, check-in results in plain words, a late upload reviewed as
technical (the API and the page), alert responses, problem reports and "who read my data"."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from checkin_helpers import HOME, T0, Person, Stack, darkened

from openatd.checkins import service


def _code(stack: Stack, staff: dict[str, str], pid: int) -> str:
    r = stack.client.post(f"/api/participants/{pid}/app-code", headers=staff)
    assert r.status_code == 201, r.text
    return str(r.json()["code"])


def _phone(stack: Stack, lang: str = "es-MX,es;q=0.9,en;q=0.5") -> httpx.Client:
    """A phone's browser: its language, its cookies, and on every POST the Origin and the CSRF
    double-submit token that a browser's form or the app's script sends."""
    base = str(stack.client.base_url).rstrip("/")

    def same_site(request: httpx.Request) -> None:
        if request.method == "POST":
            request.headers["Origin"] = base
            request.headers["X-CSRF-Token"] = client.cookies.get("openatd_csrf") or ""

    client = httpx.Client(
        base_url=base,
        timeout=30,
        headers={"Accept-Language": lang},
        event_hooks={"request": [same_site]},
    )
    return client


def _sign_in(stack: Stack, phone: httpx.Client, pid: int, code: str) -> None:
    assert phone.get("/me/signin").status_code == 200  # the form first, as in a browser
    r = phone.post("/me/signin", data={"participant_id": str(pid), "code": code})
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/me/"
    cookie = r.headers["set-cookie"]
    assert "openatd_me=" in cookie and "HttpOnly" in cookie and "Path=/me" in cookie
    assert "samesite=lax" in cookie.lower()


def _check_in(phone: httpx.Client, photo: bytes, **extra: str) -> httpx.Response:
    return phone.post(
        "/me/checkin",
        files={"selfie": ("selfie.jpg", photo, "image/jpeg")},
        data={"latitude": str(HOME[0]), "longitude": str(HOME[1]), "accuracy_m": "9", **extra},
    )


def test_sign_in_language_and_check_in_results(stack: Stack, people: list[Person]) -> None:
    api = stack.api
    alice = api.login("alice")
    pid = api.participant(alice, "Rosa Ejemplo")
    assert api.enrol(alice, pid, people[0].enrol).status_code == 201
    api.adhoc(alice, pid, minutes=60, grace_s=300)
    code = _code(stack, alice, pid)

    with _phone(stack) as phone:
        # Not signed in: every page leads to the sign-in form, in Spanish by Accept-Language.
        r = phone.get("/me/")
        assert r.status_code == 303 and r.headers["location"] == "/me/signin"
        page = phone.get("/me/signin").text
        assert '<html lang="es">' in page
        assert 'name="code"' in page and "Código de acceso" in page
        r = phone.post("/me/signin", data={"participant_id": str(pid), "code": "AAAA-BBBB-CCCC"})
        assert r.status_code == 401 and "no coinciden" in r.text
        _sign_in(stack, phone, pid, code)

        home = phone.get("/me/").text
        assert "Hola, Rosa Ejemplo" in home
        # The ad-hoc window closes at 10:00 local + 5 min grace (T0 is 09:00 in Chicago).
        assert "abierto hasta las 10:05" in home
        assert 'href="/me/calendar.ics"' in home
        ics = phone.get("/me/calendar.ics")
        assert ics.status_code == 200 and b"BEGIN:VCALENDAR" in ics.content

        # A dark photo: please retake, with the reason in Spanish; then verified.
        stack.clock.set(T0 + timedelta(minutes=2))
        r = _check_in(phone, darkened(people[0].probe))
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["outcome"] == "retake_requested" and body["ok"] is True
        assert body["message"].startswith("Por favor, tome la foto otra vez: La foto está muy")
        assert "Le quedan 2 intentos" in body["message"]
        r = _check_in(phone, people[0].probe, attempted_at=(T0 + timedelta(minutes=3)).isoformat())
        assert r.json()["outcome"] == "verified", r.text
        assert r.json()["message"] == "Verificado. Gracias, su presentación está completa."
        # Another attempt is refused in plain words, and not to be retried.
        r = _check_in(phone, people[0].probe)
        assert r.status_code == 409
        assert r.json() == {
            "ok": False,
            "retry": False,
            "message": "Ya se presentó en este horario. Gracias.",
        }

        # The participant's choice wins over Accept-Language, and <html lang> follows it.
        r = phone.post("/me/language", data={"lang": "en", "back": "/me/checkin"})
        assert r.status_code == 303 and r.headers["location"] == "/me/checkin?notice=language"
        page = phone.get("/me/checkin?notice=language").text
        assert '<html lang="en">' in page and "Language changed." in page
        assert "You have already checked in for this window." in page

        # Installable: the manifest and the service worker's scope.
        manifest = phone.get("/me/manifest.webmanifest").json()
        assert manifest["start_url"] == "/me/" and manifest["display"] == "standalone"
        assert {i["sizes"] for i in manifest["icons"]} == {"192x192", "512x512"}
        sw = phone.get("/me/sw.js")
        assert sw.headers["content-type"].startswith("text/javascript")
        assert "/me/offline" in sw.text
        assert phone.get("/me/static/icon-192.png").content[:8] == b"\x89PNG\r\n\x1a\n"
        assert phone.get("/me/static/..%2Fi18n.py").status_code == 404

    # A new code revokes the phone's session at once.
    _code(stack, alice, pid)
    with _phone(stack) as other:
        other.cookies.set("openatd_me", "not-a-token", path="/me")
        assert other.get("/me/").status_code == 303


def test_late_upload_is_technical_never_missed(stack: Stack, people: list[Person]) -> None:
    """An attempt made inside the window that reaches the server after it closed (the phone kept
    it) is reviewed as technical; the missed-check-in alert already raised becomes technical."""
    api, clock = stack.api, stack.clock
    alice = api.login("alice")
    pid = api.participant(alice, "Late Upload")
    assert api.enrol(alice, pid, people[1].enrol).status_code == 201
    window = api.adhoc(alice, pid, minutes=30, grace_s=0)
    code = _code(stack, alice, pid)
    made_at = T0 + timedelta(minutes=20)

    # The window closes; the sweep raises a compliance alert (no attempt reached the server).
    clock.set(T0 + timedelta(minutes=45))
    with stack.container.uow() as uow:
        raised = service.sweep_missed_check_ins(uow, clock.now())
    assert [a.category for a in raised] == ["compliance"]
    alert_id = raised[0].id

    with _phone(stack, "en") as phone:
        _sign_in(stack, phone, pid, code)
        # An attempt time after the server's clock is refused.
        r = _check_in(
            phone, people[1].probe, attempted_at=(clock.now() + timedelta(hours=1)).isoformat()
        )
        assert r.status_code == 422 and "after the server's time" in r.json()["message"]
        # Without an attempt time there is no open window.
        r = _check_in(phone, people[1].probe)
        assert r.status_code == 409 and r.json()["retry"] is False
        r = _check_in(phone, people[1].probe, attempted_at=made_at.isoformat())
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["outcome"] == "needs_review" and body["late"] is True
        assert "recorded the attempt at 09:20, inside the window" in body["message"]
        assert "It is not a missed check-in." in body["message"]

        alerts_page = phone.get("/me/alerts").text
        assert "Technical: a problem with equipment or the service" in alerts_page
        assert "reclassified as a technical fault" in alerts_page

    with stack.container.uow() as uow:
        row = uow.checkins.get(body["checkin_id"])
        assert (row.review_status, row.review_kind, row.on_time) == ("open", "technical", False)
        assert row.schedule_id == window["id"]
        assert row.quality_report["late_upload"]["attempted_at"] == made_at.isoformat()
        assert row.selfie is not None  # kept for the person who reviews it
        alert = uow.alerts.get(alert_id)
        assert alert.category == "technical"
        assert alert.details["late_upload_checkin_id"] == row.id
        # The sweep never judges the window again.
        assert service.sweep_missed_check_ins(uow, clock.now() + timedelta(hours=1)) == []

    # Through the API too: an attempt older than 72 hours is not a late upload any more.
    clock.set(made_at + timedelta(hours=73))
    phone_api = api.phone(api.login("alice"), pid)
    r = stack.client.post(
        "/api/portal/checkins",
        headers=phone_api,
        files={"selfie": ("s.jpg", people[1].probe, "image/jpeg")},
        data={
            "latitude": HOME[0],
            "longitude": HOME[1],
            "accuracy_m": 9,
            "attempted_at": made_at.isoformat(),
        },
    )
    assert r.status_code == 409, r.text


def test_alert_response_problem_report_and_my_data(stack: Stack, people: list[Person]) -> None:
    api, clock = stack.api, stack.clock
    alice = api.login("alice")
    pid = api.participant(alice, "Data Reader")
    api.adhoc(alice, pid, minutes=30, grace_s=0)
    code = _code(stack, alice, pid)
    clock.set(T0 + timedelta(hours=1))
    with stack.container.uow() as uow:
        (missed,) = service.sweep_missed_check_ins(uow, clock.now())
    # Staff read check-ins with a reason: the participant sees who and why.
    r = stack.client.get(
        f"/api/participants/{pid}/checkins",
        headers=alice,
        params={"reason": "preparing the monthly review with Data"},
    )
    assert r.status_code == 200

    with _phone(stack) as phone:
        _sign_in(stack, phone, pid, code)
        page = phone.get("/me/alerts").text
        assert "Presentación perdida" in page and "Abierta: nadie la ha revisado" in page
        r = phone.post(f"/me/alerts/{missed.id}/respond", data={"text": "  "})
        assert r.status_code == 422 and "1 to 4000" in r.text
        r = phone.post(
            f"/me/alerts/{missed.id}/respond", data={"text": "Se me acabó la batería en el trabajo"}
        )
        assert r.status_code == 303 and r.headers["location"] == "/me/alerts?notice=responded"
        page = phone.get(r.headers["location"]).text
        assert "Su respuesta se envió" in page
        assert "Se me acabó la batería en el trabajo" in page
        # Someone else's alert reads as missing.
        assert phone.post("/me/alerts/999999/respond", data={"text": "x"}).status_code == 404

        r = phone.post("/me/report", data={"kind": "app", "text": ""})
        assert r.status_code == 422 and "qué no funciona" in r.text
        r = phone.post(
            "/me/report", data={"kind": "app", "text": "La cámara no abre desde esta mañana"}
        )
        assert r.status_code == 303
        assert "Su reporte quedó registrado" in phone.get(r.headers["location"]).text

        data = phone.get("/me/data").text
        assert "alice" in data and "consultó sus presentaciones" in data
        assert "preparing the monthly review with Data" in data
        exported = phone.get("/me/export")
        assert exported.headers["content-disposition"].startswith("attachment")
        assert exported.json()["profile"]["id"] == pid

    with stack.container.uow() as uow:
        alert = uow.alerts.get(missed.id)
        assert alert.participant_response == "Se me acabó la batería en el trabajo"
        reports = [
            a for a in uow.alerts.list(participant_ids=[pid]) if a.type == "participant_report"
        ]
        assert len(reports) == 1
        assert reports[0].category == "technical" and reports[0].at == clock.now()
        assert "La cámara no abre desde esta mañana" in reports[0].explanation
        actions = [e.action for e in uow.exports.audit_entries(pid)]
    assert "participant:problem_report" in actions and "alert:respond" in actions
    assert actions.count("participant:export") == 1


def test_every_page_is_translated(stack: Stack) -> None:
    """No English sentence leaks into the Spanish pages (words the app writes itself)."""
    api = stack.api
    alice = api.login("alice")
    pid = api.participant(alice, "Traducida")
    code = _code(stack, alice, pid)
    with _phone(stack, "es") as phone:
        _sign_in(stack, phone, pid, code)
        for path in ("/me/", "/me/checkin", "/me/alerts", "/me/report", "/me/data", "/me/offline"):
            html = phone.get(path).text
            text = re.sub(r"<script.*?</script>|<[^>]+>", " ", html, flags=re.S)
            for english in ("Check in", "Sign out", "Report a problem", "My data", "the ", "your "):
                assert english not in text, (path, english)


def test_portal_api_problem_report_and_access_log(stack: Stack) -> None:
    """The same services over the participant API: one audit entry per request."""
    api, client = stack.api, stack.client
    alice = api.login("alice")
    pid = api.participant(alice, "Api Reader")
    phone = api.phone(alice, pid)
    r = client.post("/api/portal/problems", headers=phone, json={"kind": "nope", "text": "x"})
    assert r.status_code == 422
    r = client.post(
        "/api/portal/problems",
        headers=phone,
        json={"kind": "device", "text": "the tracker will not charge"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["type"], body["category"], body["status"]) == (
        "participant_report",
        "technical",
        "open",
    )
    with stack.container.uow() as uow:
        before = len(uow.exports.audit_entries(pid))
    r = client.get("/api/portal/access-log", headers=phone)
    assert r.status_code == 200, r.text
    log = r.json()
    # Staff and system entries only, newest first: the app code, then the participant's creation.
    assert [e["action"] for e in log] == ["participant:app_code", "participant:create"]
    assert all(e["actor"] == "user:alice" for e in log)
    with stack.container.uow() as uow:
        entries = uow.exports.audit_entries(pid)
    assert len(entries) == before + 1
    assert (entries[-1].action, entries[-1].subject_type) == ("participant:read", "access_log")
    # Staff tokens are refused there.
    assert client.get("/api/portal/access-log", headers=alice).status_code == 401


def test_forms_and_uploads_need_the_csrf_token(stack: Stack) -> None:
    base = str(stack.client.base_url).rstrip("/")
    with httpx.Client(base_url=base, timeout=30) as bare:
        assert bare.get("/me/signin").status_code == 200
        r = bare.post(
            "/me/signin", data={"participant_id": "1", "code": "x"}, headers={"Origin": base}
        )
        assert r.status_code == 403
        r = bare.post(
            "/me/checkin",
            files={"selfie": ("s.jpg", b"x", "image/jpeg")},
            data={"latitude": "1", "longitude": "1", "accuracy_m": "1"},
            headers={"Origin": base},
        )
        assert r.status_code == 403


def test_court_dates_flagged_until_seen_and_quiet_hours(stack: Stack) -> None:
    """A new, changed or cancelled hearing is shown as such until the participant says they
    have seen it; no check-in prompt inside their quiet hours."""
    api, client, clock = stack.api, stack.client, stack.clock
    alice = api.login("alice")
    r = client.post(
        "/api/participants",
        headers=alice,
        json={
            "name": "Quiet Hours",
            "timezone": "America/Chicago",
            "supervision_level": "app",
            "quiet_start": "08:30",
            "quiet_end": "09:30",
        },
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    api.adhoc(alice, pid, minutes=120, grace_s=0)
    r = client.post(
        f"/api/participants/{pid}/obligations",
        headers=alice,
        json={
            "kind": "court_hearing",
            "title": "Hearing before Judge Ortiz",
            "start": "2026-03-20T10:00",
            "location": "50 W Washington St, Chicago",
        },
    )
    assert r.status_code == 201, r.text
    hearing = r.json()["id"]
    code = _code(stack, alice, pid)
    clock.set(T0 + timedelta(minutes=2))  # 09:02 local: quiet hours until 09:30

    def flagged(home: str) -> list[str]:
        return re.findall(r'<strong class="flag">([^<]+)</strong>', home)

    with _phone(stack) as phone:
        _sign_in(stack, phone, pid, code)
        home = phone.get("/me/").text
        assert "Horas de descanso hasta las 09:30" in home
        assert "Presentarme ahora" not in home
        assert "Audiencia en el tribunal, Hearing before Judge Ortiz" in home
        assert "viernes 20 marzo 2026, 10:00" in home
        assert flagged(home) == ["Nuevo"]
        r = phone.post(f"/me/obligations/{hearing}/seen")
        assert r.status_code == 303 and r.headers["location"] == "/me/?notice=seen"
        home = phone.get(r.headers["location"]).text
        assert flagged(home) == [] and "Quedó anotado que lo vio" in home

        # The court moves the hearing: changed, until seen again.
        r = client.patch(
            f"/api/obligations/{hearing}", headers=alice, json={"start": "2026-03-23T14:00"}
        )
        assert r.status_code == 200, r.text
        clock.set(T0 + timedelta(minutes=40))  # 09:40: quiet hours over, the prompt is back
        home = phone.get("/me/").text
        assert flagged(home) == ["Cambiado"] and "lunes 23 marzo 2026, 14:00" in home
        assert "Presentarme ahora" in home
        assert phone.post(f"/me/obligations/{hearing}/seen").status_code == 303

        # Cancelled: shown as cancelled until seen, then gone.
        assert client.delete(f"/api/obligations/{hearing}", headers=alice).status_code == 200
        home = phone.get("/me/").text
        assert flagged(home) == ["Cambiado", "Cancelado"]
        assert phone.post(f"/me/obligations/{hearing}/seen").status_code == 303
        assert "Hearing before Judge Ortiz" not in phone.get("/me/").text
        # Someone else's obligation reads as missing.
        assert phone.post("/me/obligations/999999/seen").status_code == 404

    with stack.container.uow() as uow:
        seen = [e for e in uow.exports.audit_entries(pid) if e.action == "obligation:acknowledge"]
    assert [e.details["version"] for e in seen] == [1, 2, 3]


def test_missed_check_in_names_the_participants_problem_report(stack: Stack) -> None:
    """A report made during the window is named in the missed-check-in alert, for the person
    who reviews it; one made long before the window is not."""
    api, client, clock = stack.api, stack.client, stack.clock
    alice = api.login("alice")
    pid = api.participant(alice, "Reported Early")
    phone = api.phone(alice, pid)
    clock.set(T0 - timedelta(hours=13))  # 13 h before the window: too early to be named
    r = client.post("/api/portal/problems", headers=phone, json={"text": "old trouble"})
    assert r.status_code == 201, r.text
    clock.set(T0)
    alice = api.login("alice")
    api.adhoc(alice, pid, minutes=30, grace_s=0)
    clock.set(T0 + timedelta(minutes=10))
    phone = api.phone(alice, pid)
    r = client.post(
        "/api/portal/problems",
        headers=phone,
        json={"kind": "app", "text": "the upload spins forever"},
    )
    assert r.status_code == 201, r.text
    report_id = r.json()["id"]
    clock.set(T0 + timedelta(minutes=31))
    with stack.container.uow() as uow:
        (missed,) = service.sweep_missed_check_ins(uow, clock.now())
        assert missed.explanation.endswith(
            "The participant reported a problem at 09:10: “the upload spins forever”."
        )
        assert "old trouble" not in missed.explanation
        assert missed.details["problem_report_ids"] == [report_id]
