"""The seam to django-oauth-toolkit: the only package that knows DOT's internals."""
