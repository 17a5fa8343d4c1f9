def test_embedded_redis_is_durable_and_keeps_intsets(redis_sync):
    assert redis_sync.config_get("appendonly")["appendonly"] == "yes"
    redis_sync.sadd("k", *range(20_000))
    assert redis_sync.object("encoding", "k") == b"intset"
