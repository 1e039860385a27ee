# Read by `flask run` (python-dotenv): the site on the embedded AWS, no account needed.
# Flask calls embedded_aws.create_app, which starts (or reuses) the embedded AWS first.
FLASK_APP=embedded_aws
