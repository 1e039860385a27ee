# Read by `flask run` (python-dotenv): the site on the embedded AWS, no account needed.
# Flask calls local.create_app, which starts (or reuses) the embedded AWS first.
FLASK_APP=local
