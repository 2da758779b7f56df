# A client (relying party) using the code flow, with its logout return address. Prints its secret once.
python manage.py createapplication confidential authorization-code --algorithm RS256 \
  --name "Example RP" --client-id example-rp \
  --redirect-uris "https://rp.example.com/callback" \
  --post-logout-redirect-uris "https://rp.example.com/signed-out"
