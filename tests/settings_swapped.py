"""Test settings of a project that swaps every swappable DOT model for its own subclass.

``.ci/run`` runs the main flows with these (tests/test_swapped_models.py and the files it names):
``DJANGO_SETTINGS_MODULE=tests.settings_swapped``. The swapped app (tests/swapped) has its own
migrations, which DOT's and ours depend on through ``swappable_dependency``.
"""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.swapped"]

OAUTH2_PROVIDER_APPLICATION_MODEL = "swapped.TenantApplication"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "swapped.TenantAccessToken"
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "swapped.TenantRefreshToken"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "swapped.TenantIDToken"
OAUTH2_PROVIDER_GRANT_MODEL = "swapped.TenantGrant"
OAUTH2_PROVIDER_DEVICE_GRANT_MODEL = "swapped.TenantDeviceGrant"
