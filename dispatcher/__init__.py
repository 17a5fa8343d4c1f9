"""warncast dispatcher: the engine that takes CAP alerts to every subscriber concerned."""
