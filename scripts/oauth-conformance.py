#!/usr/bin/env python3
# Drives the broker with Authlib, an independent standards-following OAuth 2.0 client, the way Alexa does:
# both client-authentication schemes, with and without PKCE, refresh (and the old refresh token within the
# grace period), and error cases. Run it against ./scripts/run-local:  pip install authlib requests && python3 scripts/oauth-conformance.py
import requests, secrets
from urllib.parse import urlparse, parse_qs
from authlib.integrations.requests_client import OAuth2Session
from authlib.common.security import generate_token

B = "http://127.0.0.1:8080"
REDIR = "http://127.0.0.1:8089/alexa-redirect"

def link(method, pkce):
    s = OAuth2Session("alexa-local", "alexa-local-secret", redirect_uri=REDIR, token_endpoint_auth_method=method,
                      code_challenge_method="S256" if pkce else None)
    verifier = generate_token(48) if pkce else None
    url, state = s.create_authorization_url(B + "/oauth/authorize", code_verifier=verifier)
    browser = requests.Session()  # one browser: the broker's linking cookie must come back on the callback
    r = browser.get(url, allow_redirects=False); a = r.headers["location"]
    r = browser.get(a, allow_redirects=False); b = r.headers["location"]
    r = browser.get(b, allow_redirects=False); c = r.headers["location"]
    tok = s.fetch_token(B + "/oauth/token", authorization_response=c, code_verifier=verifier, state=state)
    assert tok["access_token"].startswith("bat_") and tok["expires_in"] >= 360, tok
    new = s.refresh_token(B + "/oauth/token", refresh_token=tok["refresh_token"])
    assert new["access_token"] != tok["access_token"]
    again = s.refresh_token(B + "/oauth/token", refresh_token=tok["refresh_token"])  # old one within grace
    print(method, "pkce" if pkce else "no-pkce", "ok")
    return s, c

for m in ["client_secret_basic", "client_secret_post"]:
    for p in [False, True]:
        link(m, p)

# error cases
s, c = link("client_secret_basic", False)
code = parse_qs(urlparse(c).query)["code"][0]
from authlib.integrations.base_client.errors import OAuthError
try:
    s.fetch_token(B + "/oauth/token", code=code)
except OAuthError as e:
    print("reused code ->", e.error)
bad = OAuth2Session("alexa-local", "wrong", redirect_uri=REDIR)
try:
    bad.fetch_token(B + "/oauth/token", code="bac_x")
except OAuthError as e:
    print("wrong secret ->", e.error)
try:
    s.refresh_token(B + "/oauth/token", refresh_token="brt_unknown")
except OAuthError as e:
    print("unknown refresh ->", e.error)
r = requests.post(B + "/oauth/token", data={"grant_type": "password"}, auth=("alexa-local", "alexa-local-secret"))
print("password grant ->", r.status_code, r.json(), r.headers.get("cache-control"))
