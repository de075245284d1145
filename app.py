"""The Chalice app: wiring only. Behaviour lives in chalicelib."""

from chalice import Chalice

from chalicelib.api import health

app = Chalice(app_name="depistage")
app.register_blueprint(health.blueprint)
