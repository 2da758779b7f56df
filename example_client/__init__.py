"""An example client site (relying party): mozilla-django-oidc signs users in at the example identity
provider, and the client-site kit ``django_idp_logout.rp`` hears about logouts that happen elsewhere.

One project, configured by environment variables, so that ``scripts/demo`` can run two instances of it
("Shop" on port 8001, "Wiki" on 8002) next to the identity provider on port 8000.
"""
