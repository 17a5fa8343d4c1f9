"""Jinja2 message templates: one folder per channel kind (inapp, push, sms), one file per language,
each with a ``title`` and a ``body`` block. Rendered once per (alert, kind, language)."""
