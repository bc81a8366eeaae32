"""Partners: partner apps (the seed's `portals`) and the OAuth 2 / OpenID Connect grants members give them.

Every face calls these functions; none of them commits. Invariants in models.py.

Apps:      create_app, update_app, rotate_secret, get_app, get_app_by_public_id, find_client, apps_query,
           connected_member_counts, secret_matches
Codes:     issue_code, claim_code, nonce_seen, grant_member
Tokens:    issue_token, find_token, authenticate_access_token, usable_refresh_token, rotate_refresh_token,
           revoke_token, revoke_family, revoke_tokens_of_code, revoke_app_tokens
Consents:  consent_covers, record_consent, connections, disconnect_app
Scopes:    SCOPES, scope_list, scope_string, sees_email
"""
from .apps import (apps_query, check_redirect_url, check_scopes, connected_member_counts, create_app, find_client,
                   get_app, get_app_by_public_id, rotate_secret, secret_matches, update_app)
from .grants import (AppOfAnotherOrganisation, Connection, authenticate_access_token, claim_code, connections,
                     consent_covers, disconnect_app, find_token, grant_member, issue_code, issue_token,
                     nonce_seen, record_consent, revoke_app_tokens, revoke_family, revoke_token, revoke_tokens_of_code,
                     rotate_refresh_token, usable_refresh_token)
from .models import (ACCESS_TOKEN_LIFETIME, CLIENT_CREDENTIALS_GRANT, CLIENT_TYPES, CODE_GRANT, CODE_LIFETIME,
                     CONFIDENTIAL, ID_TOKEN_LIFETIME, PUBLIC, REFRESH_GRANT, REFRESH_TOKEN_LIFETIME, OAuthCode,
                     OAuthConsent, OAuthToken, PartnerApp, digest)
from .scopes import (COUPONS_READ, COUPONS_WRITE, EMAIL, OPENID, PROFILE, SCOPES, WALLET_READ, scope_list,
                     scope_string, sees_email)

__all__ = [name for name in dir() if not name.startswith("_")]
