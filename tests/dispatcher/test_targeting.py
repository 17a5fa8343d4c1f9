"""Who an alert reaches: hierarchy, preferences, quiet hours, the top tier, cohorts by status."""
from datetime import datetime

import pytest

from tests.factories import CST, cap_json


async def _reached(api, doc) -> set[int]:
    status, body = await api.publish(doc, who="admin")
    assert status == 202, body
    await api.drain()
    _, page = await api.call("GET", f"/api/v1/alerts/{body['id']}/deliveries?state=sent&limit=1000")
    return {d["subscriber_id"] for d in page["deliveries"]}


@pytest.mark.parametrize("alert_code,subscriber_code,reached", [
    ("110105", "110105001001", True),    # a district reaches its villages
    ("110105", "110105001", True),       # and its streets
    ("110105", "110105", True),
    ("110105", "110106", False),         # not the next district
    ("1101", "110119", True),            # the city level reaches every district
    ("11", "110108002003", True),        # the province reaches everything under it
    ("110105001", "110105", False),      # a street alert does not reach the whole district
    ("110105001", "110105002001", False),
    ("110000", "110105001", True),       # a province written as six digits, GB/T 2260 style
    ("110100", "110119", True),          # and the city level
    ("110105000000", "110105001", True),
])
async def test_region_hierarchy(api, alert_code, subscriber_code, reached):
    sub = await api.register(regions=[subscriber_code])
    assert (sub["id"] in await _reached(api, cap_json(codes=[alert_code]))) is reached


async def test_several_regions_per_subscriber(api):
    sub = await api.register(regions=["110108", "110105001"])
    assert sub["id"] in await _reached(api, cap_json(codes=["110105"]))


TOP = dict(severity="Extreme", urgency="Immediate")


@pytest.mark.parametrize("prefs,alert,reached", [
    ({"categories": ["Geo", "Fire"]}, dict(category="Met"), False),        # declined the category
    ({"categories": ["Geo", "Met"]}, dict(category="Met"), True),
    ({"min_severity": "Severe"}, dict(severity="Moderate"), False),
    ({"min_severity": "Severe"}, dict(severity="Severe"), True),
    ({"min_severity": "Extreme"}, dict(severity="Severe"), False),
    ({"categories": ["Geo"], "min_severity": "Extreme"}, TOP, True),       # top tier ignores opt-outs
    ({"categories": ["Geo"]}, dict(severity="Extreme", urgency="Expected"), False),  # Extreme alone is not top tier
])
async def test_preferences_and_top_tier(api, prefs, alert, reached):
    sub = await api.register(regions=["110105"], preferences=prefs)
    status, body = await api.publish(cap_json(codes=["110105"], **alert))
    await api.drain()
    _, page = await api.call("GET", f"/api/v1/alerts/{body['id']}/deliveries?limit=10")
    states = {d["subscriber_id"]: d["state"] for d in page["deliveries"]}
    assert states[sub["id"]] == ("sent" if reached else "suppressed")


async def test_quiet_hours_suppress_all_but_the_top_tier(api):
    now = datetime.now(CST)
    start, end = now.replace(minute=0).strftime("%H:%M"), ((now.hour + 2) % 24)
    quiet = {"quiet_hours": {"start": start, "end": f"{end:02d}:00", "utc_offset": "+08:00"}}
    sub = await api.register(regions=["110105"], preferences=quiet)
    awake = await api.register(regions=["110105"])
    got = await _reached(api, cap_json(codes=["110105"], severity="Severe"))
    assert awake["id"] in got and sub["id"] not in got
    assert sub["id"] in await _reached(api, cap_json(codes=["110105"], **TOP))


@pytest.mark.parametrize("status,cohort,reaches_public,reaches_cohort", [
    ("Actual", None, True, True),
    ("Test", "test", False, True),
    ("Exercise", "exercise", False, True),
    ("Exercise", "test", False, False),
])
async def test_status_selects_the_cohort(api, status, cohort, reaches_public, reaches_cohort):
    public = await api.register(regions=["110105"])
    member = await api.register(regions=["110105"], cohorts=[cohort] if cohort else [])
    got = await _reached(api, cap_json(codes=["110105"], status=status))
    assert (public["id"] in got) is reaches_public
    assert (member["id"] in got) is reaches_cohort


@pytest.mark.parametrize("status", ["System", "Draft"])
async def test_system_and_draft_never_fan_out(api, status):
    await api.register(regions=["110105"], cohorts=["test", "exercise"])
    code, body = await api.publish(cap_json(codes=["110105"], status=status))
    assert code == 202 and body["lifecycle"] == "stored"
    await api.drain()
    _, alert = await api.call("GET", f"/api/v1/alerts/{body['id']}")
    assert alert["stats"]["targeted"] == 0 and alert["stats"]["totals"]["sent"] == 0


async def test_deleted_subscriber_is_no_longer_targeted(api):
    sub = await api.register(regions=["110105"])
    status, _ = await api.call("DELETE", f"/api/v1/subscribers/{sub['id']}", sub["token"])
    assert status == 204
    assert sub["id"] not in await _reached(api, cap_json(codes=["110105"]))


async def test_polygon_and_geocode_areas_union(api):
    located_in = await api.register(regions=["110119"], location={"lat": 39.95, "lon": 116.45})
    located_out = await api.register(regions=["110119"], location={"lat": 40.5, "lon": 116.0})
    by_code = await api.register(regions=["110108"])
    square = [(39.9, 116.4), (39.9, 116.5), (40.0, 116.5), (40.0, 116.4), (39.9, 116.4)]
    got = await _reached(api, cap_json(codes=["110108"], polygons=[square]))
    assert located_in["id"] in got and by_code["id"] in got and located_out["id"] not in got


async def test_moving_a_subscriber_moves_it_in_and_out_of_a_polygon_alert(api):
    square = [(39.9, 116.4), (39.9, 116.5), (40.0, 116.5), (40.0, 116.4), (39.9, 116.4)]
    sub = await api.register(regions=["110119"])                      # Yanqing, far from the square
    assert sub["id"] not in await _reached(api, cap_json(codes=(), polygons=[square]))
    status, moved = await api.call("PUT", f"/api/v1/subscribers/{sub['id']}/location", sub["token"],
                                   json={"lat": 39.95, "lon": 116.45})
    assert status == 200 and moved["location"] == {"lat": 39.95, "lon": 116.45}
    assert sub["id"] in await _reached(api, cap_json(codes=(), polygons=[square]))
    await api.call("PATCH", f"/api/v1/subscribers/{sub['id']}", sub["token"], json={"location": {"lat": 40.5, "lon": 116.0}})
    assert sub["id"] not in await _reached(api, cap_json(codes=(), polygons=[square]))
    status, err = await api.call("PUT", f"/api/v1/subscribers/{sub['id']}/location", sub["token"],
                                 json={"lat": 39.95, "lon": 190})
    assert status == 422 and err["errors"][0]["field"] == "location.lon"


async def test_region_names_are_shown(api):
    sub = await api.register(regions=["110105001", "110108"], language="en")
    assert sub["region_names"] == {"110105001": "Jianwai Subdistrict", "110108": "Haidian"}
    _, alert = await api.publish(cap_json(codes=["110105", "110108"]))
    assert [(r["code"], r["name"], r["name_en"]) for r in alert["regions"]] == [
        ("110105", "朝阳区", "Chaoyang"), ("110108", "海淀区", "Haidian")]
