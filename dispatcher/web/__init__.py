"""The subscriber app: a progressive web app served at /app (views.py); its pages in templates/web/,
its ES modules, stylesheet and service worker in static/."""
