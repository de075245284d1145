"""The Chalice app: wiring only. Behaviour lives in chalicelib."""

from chalice import Chalice

from chalicelib.api import (
    admin,
    alerts,
    health,
    identity_events,
    import_files,
    imports,
    journal,
    middleware,
    openapi,
    patients,
    psc,
    records,
    schedules,
    session,
    stats,
    streams,
)
from chalicelib.bootstrap import get_container

app = Chalice(app_name="depistage")
middleware.install(app, get_container)
app.register_blueprint(health.blueprint)
app.register_blueprint(openapi.blueprint)
app.register_blueprint(records.blueprint)
app.register_blueprint(journal.blueprint)
app.register_blueprint(admin.blueprint)
app.register_blueprint(session.blueprint)
app.register_blueprint(patients.blueprint)
app.register_blueprint(stats.blueprint)
app.register_blueprint(psc.blueprint)
app.register_blueprint(alerts.blueprint)
app.register_blueprint(schedules.blueprint)
app.register_blueprint(streams.blueprint)
app.register_blueprint(identity_events.blueprint)
app.register_blueprint(imports.blueprint)
app.register_blueprint(import_files.blueprint)
# A spreadsheet's bytes reach the function as sent (API Gateway would otherwise read a
# Windows-1252 file as UTF-8 text): payloads/csv_rows.py detects the encoding itself.
app.api.binary_types.append("text/csv")
