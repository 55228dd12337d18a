"""Flask extensions, created once here and bound to the app in the factory.

The OpenID provider is not here: each app gets its own ``portal.auth.oidc.OidcLogin``
(with its own discovery cache), made in the factory by ``portal.auth.install``.
"""

from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

login_manager = LoginManager()
csrf = CSRFProtect()
