"""Channel adapters: one per provider protocol, behind one interface (channels.base.Channel)."""
