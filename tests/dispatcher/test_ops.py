"""Operator and public endpoints."""
from xml.etree import ElementTree as ET

from tests.factories import cap_json


async def test_feed_lists_active_public_alerts_with_links_to_cap(api):
    _, public = await api.publish(cap_json())
    _, restricted = await api.publish(cap_json(scope="Restricted"))
    status, body = await api.call("GET", "/cap/feed.atom", None)
    assert status == 200
    root = ET.fromstring(body)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    links = [e.find("a:link", ns).get("href") for e in root.findall("a:entry", ns)]
    assert len(links) == 1 and links[0].endswith(f"/cap/alerts/{public['id']}.xml")
    status, xml = await api.call("GET", links[0].split(api.url)[-1] if api.url in links[0] else
                                 f"/cap/alerts/{public['id']}.xml", None)
    assert status == 200 and public["identifier"].encode() in xml
    status, _ = await api.call("GET", f"/cap/alerts/{restricted['id']}.xml", None)
    assert status == 404


async def test_alert_xml_round_trips(api):
    _, alert = await api.publish(cap_json())
    status, xml = await api.call("GET", f"/api/v1/alerts/{alert['id']}.xml", "issuer")
    assert status == 200
    from dispatcher import cap
    assert cap.parse_xml(xml).identifier == alert["identifier"]


async def test_metrics_and_stats_count_deliveries(api):
    await api.register(regions=["110105"])
    await api.register(regions=["110105"])
    await api.publish(cap_json(codes=["110105"]))
    await api.drain()
    status, text = await api.call("GET", "/metrics", "operator")
    assert status == 200
    assert b'warncast_transitions_total{channel="inapp",state="sent"} 2.0' in text
    assert b"warncast_subscribers 2.0" in text
    _, stats = await api.call("GET", "/api/v1/stats", "operator")
    assert stats["subscribers"] == 2 and stats["totals"]["inapp"]["sent"] == 2


async def test_health_dashboard_openapi_are_served(api):
    assert (await api.call("GET", "/healthz", None))[0] == 200
    status, ready = await api.call("GET", "/readyz", None)
    assert status == 200 and ready["redis"] == "ok"
    status, doc = await api.call("GET", "/api/v1/openapi.json", None)
    assert status == 200 and doc["openapi"].startswith("3.")
    routes = {r.resource.canonical for r in api.app.router.routes()}
    for path in doc["paths"]:
        assert path.replace("{id}.xml", "{id}.xml") in routes or path.startswith("/callbacks"), path


async def test_alert_events_stream_progress_until_done(api):
    await api.register(regions=["110105"])
    _, alert = await api.publish(cap_json(codes=["110105"]))
    async with api.session.get(f"{api.url}/api/v1/alerts/{alert['id']}/events",
                               headers=api.headers("issuer")) as resp:
        text = (await resp.read()).decode()
    assert "event: progress" in text and text.rstrip().endswith('data: {"lifecycle":"done"}')


async def test_open_circuits_show_in_stats_and_metrics(api, redis_aio):
    from dispatcher.circuit import Circuits
    await Circuits(redis_aio).record("hms", 0, 50)
    _, stats = await api.call("GET", "/api/v1/stats", "operator")
    assert stats["providers"]["hms"]["state"] == "open" and stats["providers"]["hms"]["opened"] == 1
    _, text = await api.call("GET", "/metrics", "operator")
    assert b'warncast_circuit_open{provider="hms"} 1.0' in text


async def _record_outcomes(redis, alert_id: int) -> None:
    """What the engine and the receipt path count for ten people: six sent by FCM, four failing over to
    SMS, three of those SMS reported undeliverable, one delivered."""
    from dispatcher.delivery import State, count
    pipe = redis.pipeline(transaction=False)
    count(pipe, alert_id, "all", State.TARGETED, 10)
    count(pipe, alert_id, "fcm", State.SENT, 6, 120.0)
    count(pipe, alert_id, "fcm", State.FAILOVER, 4)
    count(pipe, alert_id, "sms", State.SENT, 4, 2_400.0)
    count(pipe, alert_id, "sms", State.FAILED, 3, 9_000.0)
    count(pipe, alert_id, "sms", State.DELIVERED, 1, 7_000.0)
    await pipe.execute()


async def test_the_all_row_counts_every_state_not_only_targeted(api, redis_aio):
    await _record_outcomes(redis_aio, 77)
    _, stats = await api.call("GET", "/api/v1/stats", "operator")
    everyone = stats["totals"]["all"]
    assert (everyone["targeted"], everyone["sent"], everyone["failover"], everyone["failed"],
            everyone["delivered"]) == (10, 10, 4, 3, 1)
    status, text = await api.call("GET", "/metrics", "operator")
    assert status == 200
    assert b'warncast_transitions_total{channel="all",state="failed"} 3.0' in text
    assert b'warncast_transitions_total{channel="all",state="sent"} 10.0' in text


async def test_send_and_delivery_latency_are_prometheus_histograms_per_channel(api, redis_aio):
    await _record_outcomes(redis_aio, 78)
    _, text = await api.call("GET", "/metrics", "operator")
    lines = text.decode().splitlines()
    assert 'warncast_send_latency_seconds_bucket{channel="fcm",le="0.1"} 0.0' in lines
    assert 'warncast_send_latency_seconds_bucket{channel="fcm",le="0.25"} 6.0' in lines
    assert 'warncast_send_latency_seconds_bucket{channel="sms",le="2.5"} 4.0' in lines
    assert 'warncast_send_latency_seconds_count{channel="sms"} 4.0' in lines
    assert 'warncast_delivery_latency_seconds_bucket{channel="sms",le="5.0"} 0.0' in lines
    assert 'warncast_delivery_latency_seconds_bucket{channel="sms",le="10.0"} 1.0' in lines
    [fcm_sum] = [ln for ln in lines if ln.startswith('warncast_send_latency_seconds_sum{channel="fcm"}')]
    assert abs(float(fcm_sum.split()[-1]) - 6 * 0.120) <= 0.05 * 6 * 0.120


async def test_process_metrics_cover_http_routes_providers_and_the_queue(api):
    await api.register(regions=["110105"])
    await api.publish(cap_json(codes=["110105"]))
    await api.drain()
    assert (await api.call("GET", "/healthz", None))[0] == 200
    assert (await api.call("GET", "/api/v1/alerts/99999", "issuer"))[0] == 404
    _, text = await api.call("GET", "/metrics", "operator")
    body = text.decode()
    assert 'warncast_http_request_seconds_count{method="GET",route="/healthz",status="200"}' in body
    assert 'route="/api/v1/alerts/{id}",status="404"' in body
    assert 'warncast_provider_request_seconds_count{answer="accepted",channel="inapp"}' in body
    for lane in ("immediate", "high", "normal"):
        assert f'warncast_queue_depth{{lane="{lane}"}} 0.0' in body
    assert "warncast_shard_jobs_in_flight 0.0" in body
