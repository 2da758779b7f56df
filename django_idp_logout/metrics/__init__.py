"""Optional Prometheus metrics (``pip install 'django-idp-logout[metrics]'``).

Add ``"django_idp_logout.metrics"`` to ``INSTALLED_APPS`` and expose ``prometheus_client``'s registry
as you already do (e.g. django-prometheus, or ``prometheus_client.make_wsgi_app``). The metrics hang
off the app's signals only (``collectors.install``), so nothing else in the app knows about them.
"""
