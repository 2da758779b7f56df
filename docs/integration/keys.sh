# The ID token signing key (RSA, PEM) and the issuer: your site's URL followed by /o.
# In production keep the key in your secret store; never commit it.
export OIDC_RSA_PRIVATE_KEY="$(openssl genrsa 2048 2>/dev/null)"
export OIDC_ISS_ENDPOINT="http://127.0.0.1:8000/o"
