from dispatcher.lru import BoundedCache


def test_the_least_recently_written_entries_go_first():
    cache = BoundedCache(3)
    for k in "abcd":
        cache[k] = k.upper()
    assert list(cache) == ["b", "c", "d"]
    cache["b"] = "again"                      # written again: now the newest
    cache["e"] = "E"
    assert list(cache) == ["d", "b", "e"] and cache["b"] == "again"
