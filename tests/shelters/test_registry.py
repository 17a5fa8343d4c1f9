"""The shelter registry: import (CSV, GeoJSON) with errors per line, CRUD and bulk open/close over the API."""
from pathlib import Path

import orjson
import pytest

from dispatcher import shelter_import
from tests.factories import cap_json

SAMPLE = Path(__file__).resolve().parents[2] / "dispatcher" / "samples" / "shelters_beijing_synthetic.csv"
HEADER = "name,address,district,lat,lon,capacity,kinds,status\n"


def test_the_synthetic_set_has_72_shelters_over_16_districts_and_says_it_is_synthetic():
    text = SAMPLE.read_text(encoding="utf-8")
    assert "SYNTHETIC" in text.splitlines()[0]
    parsed = shelter_import.parse(SAMPLE.read_bytes(), "csv")
    assert parsed.errors == []
    assert len(parsed.shelters) == 72
    assert len({s.district for s in parsed.shelters}) == 16
    assert all("合成" in s.name and "synthetic" in s.name_en for s in parsed.shelters)


def test_csv_errors_name_the_line_and_the_field():
    data = (HEADER + "A,addr,110105,39.9,116.4,100,flood,open\n"
            "B,addr,999999,39.9,116.4,100,flood,open\n"
            "C,addr,110105,91,116.4,-5,lava,maybe\n"
            "D,addr,110105\n").encode()
    parsed = shelter_import.parse(data, "csv")
    got = {(line, field) for line, field, _ in parsed.errors}
    assert got == {("3", "district"), ("4", "lat"), ("4", "capacity"), ("4", "kinds"), ("4", "status"), ("5", "line")}
    assert [s.name for s in parsed.shelters] == ["A"]


def test_geojson_reads_points_and_names_bad_features():
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [116.4, 39.9]},
         "properties": {"name": "A", "address": "a", "district": "110105", "capacity": 10, "kinds": ["fire"]}},
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[1, 2], [3, 4]]}, "properties": {}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [116.4, 39.9]},
         "properties": {"address": "a", "district": "110105", "capacity": 10, "kinds": ["fire"]}}]}
    parsed = shelter_import.parse(orjson.dumps(doc), "geojson")
    assert [(s.name, s.lat, s.lon, s.kinds) for s in parsed.shelters] == [("A", 39.9, 116.4, ["fire"])]
    assert {(w, f) for w, f, _ in parsed.errors} == {("feature 2", "geometry"), ("feature 3", "name")}


async def test_import_is_all_or_nothing_and_repeatable(api):
    code, out = await api.call("POST", "/api/v1/shelters:import", "operator", data=SAMPLE.read_bytes(),
                               headers={"Content-Type": "text/csv"})
    assert code == 200 and out == {"imported": 72, "created": 72, "updated": 0}
    code, out = await api.call("POST", "/api/v1/shelters:import", "operator", data=SAMPLE.read_bytes(),
                               headers={"Content-Type": "text/csv"})
    assert out == {"imported": 72, "created": 0, "updated": 72}
    bad = (HEADER + "A,addr,110105,39.9,116.4,100,flood,open\nB,addr,110105,39.9,abc,100,flood,open\n").encode()
    code, out = await api.call("POST", "/api/v1/shelters:import", "operator", data=bad,
                               headers={"Content-Type": "text/csv"})
    assert code == 422 and out["errors"] == [{"line": "3", "field": "lon", "message": "must be a number, got 'abc'"}]
    _, listing = await api.call("GET", "/api/v1/shelters", "operator")
    assert listing["count"] == 72
    code, _ = await api.call("POST", "/api/v1/shelters:import", "issuer", data=bad, headers={"Content-Type": "text/csv"})
    assert code == 403


async def test_crud_and_field_errors(api):
    body = {"name": "朝阳公园", "address": "朝阳公园南路1号", "district": "110105", "lat": 39.94, "lon": 116.47,
            "capacity": 5000, "kinds": ["flood", "earthquake"]}
    code, made = await api.call("POST", "/api/v1/shelters", "operator", json=body)
    assert code == 201 and made["status"] == "open" and made["district_name"] == "朝阳区"
    code, out = await api.call("PATCH", f"/api/v1/shelters/{made['id']}", "operator", json={"capacity": -1})
    assert code == 400 and out["errors"][0]["field"] == "capacity"
    code, out = await api.call("PATCH", f"/api/v1/shelters/{made['id']}", "operator", json={"status": "closed"})
    assert code == 200 and out["status"] == "closed" and out["capacity"] == 5000
    code, out = await api.call("POST", "/api/v1/shelters", "operator", json={**body, "lat": "north", "colour": 1})
    assert code == 400 and {e["field"] for e in out["errors"]} == {"lat", "colour"}
    assert (await api.call("GET", f"/api/v1/shelters/{made['id']}", "issuer"))[0] == 403
    assert (await api.call("GET", f"/api/v1/shelters/{made['id']}", None))[0] == 401
    assert (await api.call("DELETE", f"/api/v1/shelters/{made['id']}", "operator"))[0] == 204
    assert (await api.call("GET", f"/api/v1/shelters/{made['id']}", "operator"))[0] == 404


async def test_open_and_close_in_bulk_for_an_alerts_area(api):
    await api.call("POST", "/api/v1/shelters:import", "operator", data=SAMPLE.read_bytes(),
                   headers={"Content-Type": "text/csv"})
    _, alert = await api.publish(cap_json(codes=["110105", "110108"]))
    code, out = await api.call("POST", "/api/v1/shelters:status", "operator",
                               json={"status": "open", "alert_id": alert["id"]})
    assert code == 200 and out["count"] == 10
    _, listing = await api.call("GET", "/api/v1/shelters?status=open", "operator")
    opened = {s["id"] for s in listing["shelters"] if s["district"] in ("110105", "110108")}
    assert set(out["changed"]) == opened
    code, out = await api.call("POST", "/api/v1/shelters:status", "operator", json={"status": "closed", "ids": [1, 2]})
    assert out["changed"] == [1, 2]
    code, out = await api.call("POST", "/api/v1/shelters:status", "operator", json={"status": "closed", "ids": [9999]})
    assert code == 404
    code, out = await api.call("POST", "/api/v1/shelters:status", "operator", json={"status": "shut", "ids": [1]})
    assert code == 400 and out["errors"][0]["field"] == "status"


async def test_a_subscriber_sees_its_nearest_open_shelters(api):
    await api.call("POST", "/api/v1/shelters:import", "operator", data=SAMPLE.read_bytes(),
                   headers={"Content-Type": "text/csv"})
    located = await api.register(regions=["110105"], location={"lat": 39.92, "lon": 116.44})
    by_district = await api.register(regions=["110108"])
    code, out = await api.call("GET", "/api/v1/shelters/nearest?n=3", located["token"])
    assert code == 200 and out["from"]["source"] == "location" and len(out["shelters"]) == 3
    dist = [s["distance_km"] for s in out["shelters"]]
    assert dist == sorted(dist) and all(s["status"] == "open" for s in out["shelters"])
    code, out = await api.call("GET", "/api/v1/shelters/nearest?kind=fire", by_district["token"])
    assert out["from"] == {"lat": 39.96, "lon": 116.3, "source": "district"}
    assert all(set(s["kinds"]) & {"fire", "general"} for s in out["shelters"])
    assert (await api.call("GET", "/api/v1/shelters/nearest?kind=lava", located["token"]))[0] == 400


@pytest.mark.parametrize("data", [b"name,address\nx\ry,z\n", b"name\n\"open quote\n", b"\x00\r\n\r\"", b"#only a comment\n"])
def test_odd_csv_is_an_error_list_not_an_exception(data):
    parsed = shelter_import.parse(data, "csv")
    assert parsed.shelters == [] and parsed.errors
    assert all(isinstance(line, str) and field and message for line, field, message in parsed.errors)


async def test_numbers_out_of_any_range_are_field_errors(api):
    from dispatcher.shelters import validate
    from dispatcher.errors import BadRequest
    with pytest.raises(BadRequest) as exc:
        validate({"name": "x", "address": "y", "district": "110105", "lat": 10**400, "lon": "1e999",
                  "capacity": 10**400, "kinds": ["fire"]})
    assert {e["field"] for e in exc.value.errors} == {"lat", "lon", "capacity"}
    code, out = await api.call("GET", "/api/v1/shelters/nearest?lat=95&lon=nan", "operator")
    assert code == 400 and out["errors"][0]["field"] == "lat"
