"""Flask extensions, created once here and bound to the app in the factory.

authlib's ``OAuth`` registry is not here: it caches each registered client with its
settings, so every app (and every test app) gets its own, made in the factory. It is made
without ``cache=``, so the login state stays bound to the browser's session.
"""

from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

login_manager = LoginManager()
csrf = CSRFProtect()
