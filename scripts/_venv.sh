# Sourced by scripts/demo and scripts/test: a project-local virtualenv with the extras asked for.
# Reinstalls only when setup.cfg or the extras change.
set -euo pipefail
PYTHON="${PYTHON:-python3}"
extras="$1"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(cat setup.cfg pyproject.toml | sha256sum | cut -c1-16)-${extras//,/-}"
if [ ! -f "$stamp" ]; then
  echo "==> installing django-idp-logout[$extras] into .venv"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[$extras]"
  touch "$stamp"
fi
