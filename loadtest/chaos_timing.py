async def cancel_at_30pct(out, n, **kw): raise NotImplementedError
async def red_during_blue(out, n, **kw): raise NotImplementedError
